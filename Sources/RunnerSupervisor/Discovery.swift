import Glibc

/// One entry of the runner filesystem directory.
public struct DiscoveredEntry: Sendable, Equatable {
    /// The raw name bytes as the directory holds them.
    public var rawName: [UInt8]
    /// The name as a String, only when it is a valid runner name.
    public var name: String?
    /// d_ino: which inode the entry names (for a mount point, the directory under the mount).
    public var inode: UInt64 = 0

    /// A safe rendering for logs and the audit trail.
    public var displayName: String { name ?? JSONText.escapedBytes(rawName) }
}

/// Runner names are chosen by the charm, but the directory is on the host and a name is
/// used to build paths; anything outside `[A-Za-z0-9._-]{1,128}` (and "." or "..") is never
/// touched.
public enum RunnerName {
    public static func isValid(_ bytes: some Collection<UInt8>) -> Bool {
        guard (1...128).contains(bytes.count) else { return false }
        if bytes.allSatisfy({ $0 == UInt8(ascii: ".") }) && bytes.count <= 2 { return false }
        return bytes.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}

public enum Discovery {
    /// Lists `directory` (opendir/readdir); nil if it does not exist. Sorted by raw name so
    /// runs are deterministic.
    public static func list(_ directory: String) throws(SystemError) -> [DiscoveredEntry]? {
        guard let handle = opendir(directory) else {
            if errno == ENOENT { return nil }
            throw SystemError("opendir \(directory)")
        }
        defer { closedir(handle) }
        return try entries(of: handle, directory)
    }

    /// Lists the directory open as `fd` (`directory` names it in errors); `fd` stays open.
    public static func list(descriptor fd: Int32, _ directory: String) throws(SystemError) -> [DiscoveredEntry] {
        let handle = try stream(of: fd, "opendir \(directory)")
        defer { closedir(handle) }
        return try entries(of: handle, directory)
    }

    /// A directory stream of its own (closedir it) over the directory open as `fd`, which
    /// stays open; `call` names the failure.
    static func stream(of fd: Int32, _ call: String) throws(SystemError) -> OpaquePointer {
        let own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard own >= 0, let handle = fdopendir(own) else {
            let failure = SystemError(call)
            if own >= 0 { close(own) }
            throw failure
        }
        return handle
    }

    private static func entries(of handle: OpaquePointer, _ directory: String) throws(SystemError) -> [DiscoveredEntry] {
        var entries: [DiscoveredEntry] = []
        while true {
            errno = 0
            guard let entry = readdir(handle) else {
                if errno != 0 { throw SystemError("readdir \(directory)") }
                break
            }
            let raw = withUnsafeBytes(of: entry.pointee.d_name) { buffer in
                Array(buffer.prefix(while: { $0 != 0 }))
            }
            if raw == [0x2e] || raw == [0x2e, 0x2e] { continue }
            let name = RunnerName.isValid(raw) ? String(decoding: raw, as: UTF8.self) : nil
            entries.append(DiscoveredEntry(rawName: raw, name: name, inode: UInt64(entry.pointee.d_ino)))
        }
        entries.sort { $0.rawName.lexicographicallyPrecedes($1.rawName) }
        return entries
    }
}
