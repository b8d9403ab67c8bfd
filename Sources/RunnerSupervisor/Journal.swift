import Glibc

/// The intent journal that makes issuance exactly-once across crashes (Security/DURABILITY.md).
///
/// Records, one per line, fields separated by spaces, strings hex-encoded:
///   I <name> <dev> <ino> <offset> <lines-hex>   about to append these lines at this offset
///   W <name>                                     those lines are in the log and fsynced
///   Q <name> <evidence-hex> <audit-line-hex>     about to quarantine into evidence
///   A <name>                                     the audit line for that quarantine is fsynced
///   D <name>                                     the runner's filesystem is gone
/// The journal is fsynced before any of the steps it announces. At the end of a run whose
/// every step finished, it is truncated.
public final class Journal {
    public enum Record: Equatable, Sendable {
        case intent(name: String, dev: UInt64, ino: UInt64, offset: Int64, lines: String)
        case written(name: String)
        case quarantine(name: String, evidence: String, auditLine: String)
        case audited(name: String)
        case done(name: String)
    }

    let path: String
    var fd: Int32

    public init(stateDir: String) throws(SystemError) {
        path = stateDir + "/journal"
        fd = try Sys.open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600)
    }

    deinit { close(fd) }

    public func append(_ records: [Record]) throws(SystemError) {
        guard !records.isEmpty else { return }
        try Sys.writeAll(fd, records.map(Self.encode).joined())
    }

    public func sync() throws(SystemError) { try Sys.fsync(fd, path) }

    /// Replaces the journal by `records` once everything else it announced is finished and
    /// durable: empty means truncate; otherwise a new file is written, fsynced and renamed over
    /// the old one, so a crash leaves either journal whole.
    public func replace(with records: [Record]) throws(SystemError) {
        if records.isEmpty {
            guard ftruncate(fd, 0) == 0 else { throw SystemError("ftruncate \(path)") }
            try sync()
            return
        }
        let temporary = path + ".new"
        let new = try Sys.open(temporary, O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o600)
        do throws(SystemError) {
            try Sys.writeAll(new, records.map(Self.encode).joined())
            try Sys.fsync(new, temporary)
            guard rename(temporary, path) == 0 else { throw SystemError("rename \(temporary)") }
            try Sys.fsyncDirectory(String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]))
        } catch {
            close(new)
            throw error
        }
        close(fd)
        fd = new
    }

    /// Every well-formed record; a torn last line (a crash mid-append) is ignored, which is
    /// safe because a record is only acted on after its own fsync.
    public func load() throws(SystemError) -> [Record] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if n < 0 { if errno == EINTR { continue }; throw SystemError("read \(path)") }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            offset += off_t(n)
        }
        return bytes.split(separator: 0x0a, omittingEmptySubsequences: true).compactMap { Self.decode(Array($0)) }
    }

    static func encode(_ record: Record) -> String {
        switch record {
        case let .intent(name, dev, ino, offset, lines): return "I \(name) \(dev) \(ino) \(offset) \(hex(lines))\n"
        case let .written(name): return "W \(name)\n"
        case let .quarantine(name, evidence, line): return "Q \(name) \(hex(evidence)) \(hex(line))\n"
        case let .audited(name): return "A \(name)\n"
        case let .done(name): return "D \(name)\n"
        }
    }

    static func decode(_ line: [UInt8]) -> Record? {
        let fields = line.split(separator: 0x20).map { String(decoding: $0, as: UTF8.self) }
        guard let kind = fields.first, fields.count >= 2, RunnerName.isValid(Array(fields[1].utf8)) else { return nil }
        let name = fields[1]
        switch (kind, fields.count) {
        case ("I", 6):
            guard let dev = UInt64(fields[2]), let ino = UInt64(fields[3]), let offset = Int64(fields[4]),
                  let lines = unhex(fields[5]) else { return nil }
            return .intent(name: name, dev: dev, ino: ino, offset: offset, lines: lines)
        case ("W", 2): return .written(name: name)
        case ("Q", 4):
            guard let evidence = unhex(fields[2]), let audit = unhex(fields[3]) else { return nil }
            return .quarantine(name: name, evidence: evidence, auditLine: audit)
        case ("A", 2): return .audited(name: name)
        case ("D", 2): return .done(name: name)
        default: return nil
        }
    }

    static func hex(_ text: String) -> String {
        let digits = Array("0123456789abcdef")
        var out = ""
        out.reserveCapacity(text.utf8.count * 2)
        for byte in text.utf8 {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return out.isEmpty ? "-" : out
    }

    static func unhex(_ text: String) -> String? {
        if text == "-" { return "" }
        let bytes = Array(text.utf8)
        guard bytes.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / 2)
        var index = 0
        while index < bytes.count {
            guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return String(validating: out, as: UTF8.self)
    }
}
