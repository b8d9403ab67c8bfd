import Glibc
import MetricsDecoding

/// rm -r of an untrusted tree: any depth and any width, never following a symlink, never
/// leaving the runner's own filesystem.
///
/// The walk holds two descriptors at most (the directory it is in and, while listing, that
/// directory's stream) and, per level, the identity of the directory and the names of its
/// subdirectories still to remove: memory grows with the tree the runner built (each level
/// costs it an inode), never descriptors or stack. It goes down by `openat(O_NOFOLLOW)` and
/// up by `openat("..")`, and each step up must arrive at the inode it left (device and inode
/// number), so a directory moved while it is walked stops the walk instead of taking it
/// somewhere else. A subdirectory on another device, or the root of a mount (a bind mount of
/// the same filesystem has the same device), is never entered: its mount was not made by the
/// runner and is not ours to empty. Everything else that can be removed is removed; the first
/// failure (an immutable or append-only inode, a mount, a tree that changed) is reported after
/// the rest is gone, so the caller quarantines what remains.
enum TreeRemoval {
    /// The names a runner leaves (`RunnerFile`), as C strings, unlinked before anything is
    /// listed: a finished runner holds just these, so the common case is one unlink each and
    /// an rmdir, with no directory read and no rmdir that fails on a non-empty directory
    /// (measured: those two were a third of the deletion's system time).
    static let runnerFileNames: [[CChar]] = RunnerFile.allCases.map { Array($0.rawValue.utf8CString) }

    static func remove(parent: String, name: String) throws(SystemError) {
        let parentFD = try Sys.open(parent, O_RDONLY | O_DIRECTORY)
        defer { close(parentFD) }
        guard let device = EntryIdentity.of(parentFD)?.device else { throw SystemError("statx \(parent)") }
        try remove(parentFD: parentFD, parent: parent, name: name, files: .all, device: device)
    }

    /// Removes `name` under `parentFD` (`parent` names it in errors), unlinking `files` first.
    /// `device` is the parent's: the runner directory must be on it and not a mount root.
    static func remove(parentFD: Int32, parent: String, name: String, files: RunnerFacts.Files, device: UInt64) throws(SystemError) {
        let fd = openat(parentFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 {
            switch errno {
            case ENOENT: return
            case ENOTDIR, ELOOP:
                guard unlinkat(parentFD, name, 0) == 0 || errno == ENOENT else { throw SystemError("unlink \(parent)/\(name)") }
                return
            default: throw SystemError("open \(parent)/\(name)")
            }
        }
        guard let root = EntryIdentity.of(fd) else {
            let failure = SystemError("statx \(parent)/\(name)")
            close(fd)
            throw failure
        }
        // Still a mount after unmounting (a mount made since the run looked, or one that would
        // not go): its contents are another filesystem's.
        guard root.device == device, root.isMountRoot != true else {
            close(fd)
            throw SystemError("remove \(parent)/\(name): a mount is on it", EBUSY)
        }
        // Anything refused here (a directory of that name, say) is left for the full walk.
        for (index, file) in runnerFileNames.enumerated() where files.contains(index) {
            _ = file.withUnsafeBufferPointer { unlinkat(fd, $0.baseAddress!, 0) }
        }
        // The rmdir comes before the close: with the directory still open, the rmdir only
        // unhashes it, and the inode is freed by the close, after the runner-fs directory's
        // lock is released. Freeing frees the directory's block, and on a filesystem mounted
        // with `discard` and no journal the kernel waits for that discard right there: inside
        // the rmdir it held the lock of the directory every runner is in, so every deletion
        // and every lookup there waited in line behind one device round trip at a time.
        let removed = unlinkat(parentFD, name, AT_REMOVEDIR)
        let removeErrno = errno
        if removed == 0 || removeErrno == ENOENT {
            close(fd)
            return
        }
        guard removeErrno == ENOTEMPTY || removeErrno == EEXIST else {
            close(fd)
            throw SystemError("rmdir \(parent)/\(name)", removeErrno)
        }
        let failure = removeContents(of: fd, root)
        if let failure { throw failure }
        guard unlinkat(parentFD, name, AT_REMOVEDIR) == 0 else { throw SystemError("rmdir \(parent)/\(name)") }
    }

    /// One directory of the walk: who it is, its name in its parent, and its subdirectories
    /// not yet removed.
    private struct Level {
        var identity: EntryIdentity
        var name: [CChar]
        var subdirectories: [[CChar]]
    }

    /// Empties the directory open as `rootFD` (taken: closed before returning). Returns the
    /// first failure, after removing everything else it could.
    static func removeContents(of rootFD: Int32, _ root: EntryIdentity) -> SystemError? {
        var failure: SystemError?
        func note(_ error: SystemError) { if failure == nil { failure = error } }
        var current = rootFD
        var levels = [Level(identity: root, name: [], subdirectories: [])]
        if let error = scan(current, into: &levels[0].subdirectories) { note(error) }
        while true {
            if let child = levels[levels.count - 1].subdirectories.popLast() {
                let fd = child.withUnsafeBufferPointer {
                    openat(current, $0.baseAddress!, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
                }
                if fd < 0 {
                    switch errno {
                    case ENOENT: continue
                    case ENOTDIR, ELOOP:
                        // Replaced by a non-directory since the listing: unlink that instead.
                        if child.withUnsafeBufferPointer({ unlinkat(current, $0.baseAddress!, 0) }) != 0 && errno != ENOENT {
                            note(SystemError(unlinkCall(errno)))
                        }
                    default: note(SystemError("open directory in runner tree"))
                    }
                    continue
                }
                guard let identity = EntryIdentity.of(fd) else {
                    note(SystemError("statx directory in runner tree"))
                    close(fd)
                    continue
                }
                guard identity.device == root.device, identity.isMountRoot != true else {
                    note(SystemError("remove: a mount inside the runner tree; not crossed", EXDEV))
                    close(fd)
                    continue
                }
                close(current)
                current = fd
                levels.append(Level(identity: identity, name: child, subdirectories: []))
                if let error = scan(current, into: &levels[levels.count - 1].subdirectories) { note(error) }
                continue
            }
            // This directory holds nothing removable any more: up, then remove it.
            guard levels.count > 1 else { break }
            let done = levels.removeLast()
            let parent = openat(current, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(current)
            guard parent >= 0, let arrived = EntryIdentity.of(parent), arrived.isSameInode(as: levels[levels.count - 1].identity) else {
                if parent >= 0 { close(parent) }
                return SystemError("remove: the runner tree changed during removal", ESTALE)
            }
            current = parent
            if done.name.withUnsafeBufferPointer({ unlinkat(current, $0.baseAddress!, AT_REMOVEDIR) }) != 0 && errno != ENOENT {
                note(SystemError("rmdir in runner tree"))
            }
        }
        close(current)
        return failure
    }

    /// Unlinks every non-directory of the directory open as `fd` and appends its
    /// subdirectories' names. Names inside the tree are the runner's and may be any bytes:
    /// they are kept as raw, NUL-terminated C strings from readdir to unlinkat, never decoded.
    private static func scan(_ fd: Int32, into subdirectories: inout [[CChar]]) -> SystemError? {
        let handle: OpaquePointer
        do throws(SystemError) { handle = try Discovery.stream(of: fd, "open directory in runner tree") } catch { return error }
        defer { closedir(handle) }
        var failure: SystemError?
        while true {
            errno = 0
            guard let entry = readdir(handle) else {
                if errno != 0 { return failure ?? SystemError("readdir in runner tree") }
                return failure
            }
            var child = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                bytes.prefix(while: { $0 != 0 }).map { CChar(bitPattern: $0) }
            }
            if child == [0x2e] || child == [0x2e, 0x2e] { continue }
            child.append(0)
            // The type from the listing decides, not unlink's errno: EPERM is also what an
            // immutable or append-only file (or directory) answers, and is no sign of a
            // directory.
            let type = entry.pointee.d_type
            if type == UInt8(DT_DIR) {
                subdirectories.append(child)
                continue
            }
            if child.withUnsafeBufferPointer({ unlinkat(fd, $0.baseAddress!, 0) }) == 0 { continue }
            let code = errno
            switch code {
            case ENOENT: continue
            case EISDIR: subdirectories.append(child)
            default:
                if type == UInt8(DT_UNKNOWN),
                   let identity = child.withUnsafeBufferPointer({ EntryIdentity.of(fd, raw: $0.baseAddress!) }), identity.isDirectory {
                    subdirectories.append(child)
                } else if failure == nil {
                    failure = SystemError(unlinkCall(code), code)
                }
            }
        }
    }

    private static func unlinkCall(_ code: Int32) -> String {
        code == EPERM ? "unlinkat in runner tree (immutable or append-only)" : "unlinkat in runner tree"
    }
}
