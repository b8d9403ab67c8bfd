import CSandboxShim
import Glibc

/// An errno value with the name of the call that produced it, for diagnostics.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    public var call: String
    public var code: Int32

    public init(_ call: String, _ code: Int32 = errno) {
        self.call = call
        self.code = code
    }

    public var description: String {
        guard let message = strerror(code) else { return "\(call): errno \(code)" }
        return "\(call): \(String(cString: message))"
    }
}

/// Thin, EINTR-safe wrappers over the calls the supervisor makes. Each names its C call.
enum Sys {
    /// open(2) of a host path the operator configured (never a runner path).
    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) throws(SystemError) -> Int32 {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError("open \(path)") }
        return fd
    }

    /// write(2) of the whole buffer, retrying short writes; a short write that ends in an
    /// error throws.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("write")
            }
            if n == 0 { throw SystemError("write", EIO) }
            offset += n
        }
    }

    static func writeAll(_ fd: Int32, _ text: String) throws(SystemError) {
        let bytes = Array(text.utf8)
        let failure: SystemError? = bytes.withUnsafeBytes { buffer in
            do throws(SystemError) { try writeAll(fd, buffer) } catch { return error }
            return nil
        }
        if let failure { throw failure }
    }

    /// pread(2) from offset 0 to end of file: a whole host file the supervisor owns (its own
    /// logs, journal, counters, the operator's ignore file) — never a runner file.
    static func readAll(_ fd: Int32, _ what: String) throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if n < 0 { if errno == EINTR { continue }; throw SystemError("read \(what)") }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
            offset += off_t(n)
        }
    }

    /// fsync(2).
    static func fsync(_ fd: Int32, _ what: String) throws(SystemError) {
        while Glibc.fsync(fd) != 0 {
            if errno == EINTR { continue }
            throw SystemError("fsync \(what)")
        }
    }

    /// fsync(2) of a directory by path, so renames and unlinks in it are durable.
    static func fsyncDirectory(_ path: String) throws(SystemError) {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path)
    }

    /// fstat(2).
    static func fstat(_ fd: Int32) throws(SystemError) -> stat {
        var status = stat()
        guard Glibc.fstat(fd, &status) == 0 else { throw SystemError("fstat") }
        return status
    }

    /// lstat(2); nil when the path does not exist.
    static func lstat(_ path: String) throws(SystemError) -> stat? {
        var status = stat()
        if Glibc.lstat(path, &status) == 0 { return status }
        if errno == ENOENT { return nil }
        throw SystemError("lstat \(path)")
    }

    /// mkdir(2) if missing, with the given mode; an existing directory is accepted as it is.
    static func ensureDirectory(_ path: String, mode: mode_t) throws(SystemError) {
        if Glibc.mkdir(path, mode) == 0 || errno == EEXIST { return }
        throw SystemError("mkdir \(path)")
    }

    /// CLOCK_MONOTONIC in seconds.
    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// CLOCK_REALTIME in seconds.
    static func wallSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

/// How a process ended, decoded from a wait(2) status without the C macros.
public enum Termination: Sendable, Equatable {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus status: Int32) {
        let signal = status & 0x7f
        self = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }
}
