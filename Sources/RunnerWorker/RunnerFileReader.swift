import Glibc
import MetricsDecoding

/// Reads the runner's files through the runner directory descriptor, refusing anything that
/// is not a plain regular file of this directory. Runs inside the sandbox.
///
/// A FIFO, device, socket, directory or symlink is identified by lstat and never opened, so no
/// FIFO writer ever sees a reader and no device driver's open runs. The open itself carries
/// O_NOFOLLOW|O_NONBLOCK and the opened inode is checked against the lstat, so a swap between
/// the two calls is caught; the seccomp policy refuses any open without those flags.
public struct RunnerFileReader {
    let directory: Int32

    public init(directory: Int32) { self.directory = directory }

    /// Opens `file` for reading, or nil if it does not exist. Runs before the seccomp filter
    /// (which allows no open at all); reads nothing.
    public func open(_ file: RunnerFile) throws(Rejection) -> Int32? {
        var before = stat()
        if fstatat(directory, file.rawValue, &before, AT_SYMLINK_NOFOLLOW) != 0 {
            if errno == ENOENT { return nil }
            throw rejection(forErrno: errno, file, "lstat")
        }
        try checkPlainFile(before, file)
        if before.st_size > off_t(runnerFileSizeLimit) {
            throw Rejection(.fileTooLarge, file: file, "size \(before.st_size) exceeds \(runnerFileSizeLimit) bytes")
        }
        let fd = openat(directory, file.rawValue, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { throw rejection(forErrno: errno, file, "open") }
        var after = stat()
        guard fstat(fd, &after) == 0 else {
            let code = errno
            close(fd)
            throw rejection(forErrno: code, file, "fstat")
        }
        do throws(Rejection) { try checkPlainFile(after, file) } catch { close(fd); throw error }
        guard after.st_dev == before.st_dev, after.st_ino == before.st_ino else {
            close(fd)
            throw Rejection(.notRegularFile, file: file, "file was replaced between lstat and open")
        }
        return fd
    }

    /// Reads an opened runner file into `buffer` (at least runnerFileSizeLimit + 1 bytes) and
    /// closes it. The limit is enforced on the bytes read, not on st_size: one byte more than
    /// the limit is asked for, so a file that grew after the stat is still caught.
    public static func read(_ fd: Int32, _ file: RunnerFile, into buffer: UnsafeMutableRawBufferPointer) throws(Rejection) -> Int {
        defer { close(fd) }
        let capacity = min(buffer.count, runnerFileSizeLimit + 1)
        guard let base = buffer.baseAddress else { throw Rejection(.unreadableFile, file: file, "no buffer") }
        var total = 0
        while total < capacity {
            let n = Glibc.read(fd, base + total, capacity - total)
            if n < 0 {
                if errno == EINTR { continue }
                throw Rejection(.unreadableFile, file: file, "read: errno \(errno)")
            }
            if n == 0 { break }
            total += n
        }
        if total > runnerFileSizeLimit {
            throw Rejection(.fileTooLarge, file: file, "more than \(runnerFileSizeLimit) bytes read")
        }
        return total
    }

    /// open then read, for callers without a sandbox in between (tests, fuzzing).
    public func read(_ file: RunnerFile, into buffer: UnsafeMutableRawBufferPointer) throws(Rejection) -> Int? {
        guard let fd = try open(file) else { return nil }
        return try Self.read(fd, file, into: buffer)
    }

    private func checkPlainFile(_ status: stat, _ file: RunnerFile) throws(Rejection) {
        let type = status.st_mode & S_IFMT
        guard type == S_IFREG else {
            throw Rejection(.notRegularFile, file: file, "not a regular file (\(Self.describe(type)))")
        }
        // A second name for the same inode is how a plain-directory runner would point us at
        // a file outside its directory; an honest runner file has exactly one.
        guard status.st_nlink == 1 else {
            throw Rejection(.notRegularFile, file: file, "regular file with \(status.st_nlink) hard links")
        }
    }

    private func rejection(forErrno code: Int32, _ file: RunnerFile, _ call: String) -> Rejection {
        switch code {
        case ELOOP: return Rejection(.notRegularFile, file: file, "\(call): symbolic link")
        case ENXIO, ENODEV, ENOTDIR, EISDIR: return Rejection(.notRegularFile, file: file, "\(call): errno \(code)")
        default: return Rejection(.unreadableFile, file: file, "\(call): errno \(code)")
        }
    }

    static func describe(_ type: mode_t) -> String {
        switch type {
        case S_IFLNK: return "symlink"
        case S_IFDIR: return "directory"
        case S_IFIFO: return "fifo"
        case S_IFCHR: return "character device"
        case S_IFBLK: return "block device"
        case S_IFSOCK: return "socket"
        default: return "type \(type)"
        }
    }
}
