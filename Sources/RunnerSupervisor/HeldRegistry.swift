import Glibc

/// `<state-dir>/held`: the runner-fs entries that were audited once and stay where they are
/// (an invalid name, evidence that could not be moved, a tree that could not be removed), so
/// that later runs neither extract nor audit them again while that same inode remains. An
/// entry is forgotten when its name is gone from runner-fs or names another inode (device and
/// inode number of the directory entry, as readdir reports it: for a mount point, the
/// directory under the mount, which does not change when something is mounted on it).
///
/// One line per entry, `<name as hex> <device> <inode> <reason>`: hex because an invalid name
/// may hold any bytes. Replaced as a whole (write, fsync, rename, fsync the directory), only
/// when it changed.
struct HeldRegistry {
    struct Entry: Equatable, Sendable {
        var rawName: [UInt8]
        var device: UInt64
        var inode: UInt64
        /// The reason code the entry was audited with.
        var reason: String
    }

    let path: String
    private(set) var entries: [[UInt8]: Entry] = [:]
    private(set) var changed = false

    init(stateDir: String) {
        path = stateDir + "/held"
        for entry in Self.load(path) { entries[entry.rawName] = entry }
    }

    /// The entry held under this name if it is still the same inode; a name that now names
    /// another inode is forgotten.
    mutating func match(_ rawName: [UInt8], device: UInt64, inode: UInt64) -> Entry? {
        guard let entry = entries[rawName] else { return nil }
        if entry.device == device && entry.inode == inode { return entry }
        forget(rawName)
        return nil
    }

    mutating func hold(_ entry: Entry) {
        guard entries[entry.rawName] != entry else { return }
        entries[entry.rawName] = entry
        changed = true
    }

    mutating func forget(_ rawName: [UInt8]) {
        if entries.removeValue(forKey: rawName) != nil { changed = true }
    }

    /// Forgets every entry whose name is not in `present` (the runner-fs listing).
    mutating func keepOnly(_ present: Set<[UInt8]>) {
        for name in entries.keys where !present.contains(name) { forget(name) }
    }

    /// Writes the registry if it changed (atomically, durably).
    mutating func save() throws(SystemError) {
        guard changed else { return }
        let text = entries.values.sorted { $0.rawName.lexicographicallyPrecedes($1.rawName) }
            .map { "\(Self.hex($0.rawName)) \($0.device) \($0.inode) \($0.reason)\n" }.joined()
        try Textfile.atomicWrite(path, text, mode: 0o600)
        changed = false
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xf)]] })
    }

    static func unhex(_ text: Substring.UTF8View) -> [UInt8]? {
        guard !text.isEmpty, text.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        var iterator = text.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            guard let h = nibble(high), let l = nibble(low) else { return nil }
            out.append(h << 4 | l)
        }
        return out
    }

    /// The entries of the file; a malformed line is dropped (its entry is then audited again,
    /// which is the safe side). O_NONBLOCK and a type check: a FIFO in its place never blocks.
    static func load(_ path: String) -> [Entry] {
        guard let fd = try? Sys.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else { return [] }
        defer { close(fd) }
        guard let status = try? Sys.fstat(fd), status.st_mode & S_IFMT == S_IFREG, status.st_uid == geteuid(),
              let bytes = try? Sys.readAll(fd, path) else { return [] }
        var entries: [Entry] = []
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 4, let name = unhex(fields[0].utf8), name.count <= 255,
                  let device = UInt64(fields[1]), let inode = UInt64(fields[2]) else { continue }
            entries.append(Entry(rawName: name, device: device, inode: inode, reason: String(fields[3])))
        }
        return entries
    }
}
