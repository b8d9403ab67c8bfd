import Glibc

/// An append-only log file of the supervisor (metrics log, audit log): opened with
/// O_APPEND|O_NOFOLLOW, whole lines only, each append one write(2) (a batch's metric lines
/// go out together), fsync on demand. It notices when logrotate has replaced the file and reopens it, so no line
/// is ever written into a file that has been rotated away.
public final class AppendLog {
    public let path: String
    let mode: mode_t
    private(set) var fd: Int32 = -1
    private var identity: (dev_t, ino_t) = (0, 0)

    public init(path: String, mode: mode_t) throws(SystemError) {
        self.path = path
        self.mode = mode
        try reopen()
    }

    deinit { if fd >= 0 { close(fd) } }

    private func reopen() throws(SystemError) {
        // Created here: set the mode explicitly, since the process umask (077) would otherwise
        // make the metrics log unreadable to Promtail. An existing file keeps its mode (logrotate's
        // `create` or the operator chose it).
        var new = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        if new >= 0 {
            _ = fchmod(new, mode)
        } else if errno == EEXIST {
            new = try Sys.open(path, O_WRONLY | O_APPEND | O_NOFOLLOW)
        } else {
            throw SystemError("open \(path)")
        }
        let status: stat
        do throws(SystemError) { status = try Sys.fstat(new) } catch { close(new); throw error }
        guard status.st_mode & S_IFMT == S_IFREG else {
            close(new)
            throw SystemError("open \(path): not a regular file", EINVAL)
        }
        if fd >= 0 { close(fd) }
        fd = new
        identity = (status.st_dev, status.st_ino)
    }

    /// Reopens if the path now names another file (rotated) or nothing (rotated, not yet
    /// recreated). Returns the file's identity and size, where the next line will start.
    @discardableResult
    public func ensureCurrent() throws(SystemError) -> (dev: UInt64, ino: UInt64, size: Int64) {
        if let status = try Sys.lstat(path) {
            if status.st_dev != identity.0 || status.st_ino != identity.1 { try reopen() }
        } else {
            try reopen()
        }
        let status = try Sys.fstat(fd)
        return (UInt64(status.st_dev), UInt64(status.st_ino), Int64(status.st_size))
    }

    /// Appends one line.
    public func append(_ line: String) throws(SystemError) {
        try append(Array(line.utf8))
    }

    /// Appends whole lines (one, or a batch of them) with one write(2). If the write stops
    /// part-way (a full disk), the partial text must not be left for Promtail to ship: the file
    /// is cut back to where it began — but only if nobody else appended meanwhile (the charm may
    /// write the same log); otherwise the partial line is ended with a newline so it spoils no
    /// other line. Where the text began is learnt from the offset O_APPEND left after the first
    /// short write, so text written whole (always, short of a full disk) costs that one write
    /// and no stat.
    public func append(_ bytes: [UInt8]) throws(SystemError) {
        let failure: SystemError? = bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return nil }
            var written = 0
            // Where our first bytes landed; the file ends at start + written unless someone
            // else appended after them.
            var start: off_t?
            while written < buffer.count {
                let n = Glibc.write(fd, base + written, buffer.count - written)
                if n > 0 {
                    if start == nil && n < buffer.count { start = lseek(fd, 0, SEEK_CUR) - off_t(n) }
                    written += n
                    continue
                }
                if n < 0 && errno == EINTR { continue }
                let failure = SystemError("write \(path)", n == 0 ? EIO : errno)
                if let start {
                    if start >= 0, (try? Sys.fstat(fd))?.st_size == start + off_t(written) {
                        _ = ftruncate(fd, start)
                    } else {
                        var newline: UInt8 = 0x0a
                        _ = Glibc.write(fd, &newline, 1)
                    }
                }
                return failure
            }
            return nil
        }
        if let failure { throw failure }
    }

    public func sync() throws(SystemError) { try Sys.fsync(fd, path) }

    /// The path is still this file (for the after-fsync check against rotation).
    public func isCurrent() -> Bool {
        guard let status = try? Sys.lstat(path) else { return false }
        return status.st_dev == identity.0 && status.st_ino == identity.1
    }
}
