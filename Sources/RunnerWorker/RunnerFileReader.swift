import CSandboxShim
#if hasFeature(Embedded)
import MetricsDecodingEmbedded
#else
import MetricsDecoding
#endif

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
            let code = rm_errno()
            if code == ENOENT { return nil }
            throw rejection(forErrno: code, file, "lstat")
        }
        try checkPlainFile(before, file)
        if before.st_size > off_t(runnerFileSizeLimit) {
            throw Rejection(.fileTooLarge, file: file, "size \(before.st_size) exceeds \(runnerFileSizeLimit) bytes")
        }
        let fd = rm_openat(directory, file.rawValue, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { throw rejection(forErrno: rm_errno(), file, "open") }
        var after = stat()
        guard rm_fstat(fd, &after) == 0 else {
            let code = rm_errno()
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

    /// Reads an opened runner file into `buffer` (at least runnerFileSizeLimit + 1 bytes), and
    /// leaves it open: a worker's descriptors close when it exits, so the sandboxed worker
    /// needs no close call at all (its policy has none). The limit is enforced on the bytes
    /// read, not on st_size: one byte more than the limit is asked for, so a file that grew
    /// after the stat is still caught.
    public static func read(_ fd: Int32, _ file: RunnerFile, into buffer: UnsafeMutableRawBufferPointer) throws(Rejection) -> Int {
        let capacity = min(buffer.count, runnerFileSizeLimit + 1)
        guard let base = buffer.baseAddress else { throw Rejection(.unreadableFile, file: file, "no buffer") }
        var total = 0
        while total < capacity {
            let n = rm_read(fd, base + total, capacity - total)
            if n < 0 {
                let code = rm_errno()
                if code == EINTR { continue }
                throw Rejection(.unreadableFile, file: file, "read: errno \(code)")
            }
            if n == 0 { break }
            total += n
        }
        if total > runnerFileSizeLimit {
            throw Rejection(.fileTooLarge, file: file, "more than \(runnerFileSizeLimit) bytes read")
        }
        return total
    }

    /// open, read and close, for callers without a sandbox in between (tests, fuzzing, which
    /// read many runners in one process).
    public func read(_ file: RunnerFile, into buffer: UnsafeMutableRawBufferPointer) throws(Rejection) -> Int? {
        guard let fd = try open(file) else { return nil }
        defer { close(fd) }
        return try Self.read(fd, file, into: buffer)
    }

    private func checkPlainFile(_ status: stat, _ file: RunnerFile) throws(Rejection) {
        let type = status.st_mode & FileType.mask
        guard type == FileType.regular else {
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
        case FileType.symlink: return "symlink"
        case FileType.directory: return "directory"
        case FileType.fifo: return "fifo"
        case FileType.character: return "character device"
        case FileType.block: return "block device"
        case FileType.socket: return "socket"
        default: return "type \(type)"
        }
    }
}

/// The st_mode file types (S_IFMT and friends, which reach Swift as Int32 macros or, through
/// Glibc, as mode_t: spelled out once here so the code reads the same in both builds).
enum FileType {
    static let mask: mode_t = 0o170000
    static let socket: mode_t = 0o140000
    static let symlink: mode_t = 0o120000
    static let regular: mode_t = 0o100000
    static let block: mode_t = 0o060000
    static let directory: mode_t = 0o040000
    static let character: mode_t = 0o020000
    static let fifo: mode_t = 0o010000
}
