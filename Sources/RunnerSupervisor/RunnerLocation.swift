import CSandboxShim
import Glibc
import MetricsDecoding

/// Where one runner's filesystem lives on the host and how to remove or quarantine it.
/// Every operation works by name relative to configured host directories, never follows a
/// symlink, and never reads a runner file.
public struct RunnerLocation: Sendable {
    public var name: String
    public var runnerFSDir: String
    public var imagesDir: String

    public var directoryPath: String { runnerFSDir + "/" + name }
    public var imagePath: String { imagesDir + "/" + name + ".img" }

    /// statx STATX_ATTR_MOUNT_ROOT on the entry; a directory on the same device as its parent
    /// is the fallback where the attribute is unsupported.
    public func isMounted() -> Bool {
        let answer = rm_is_mount_root(AT_FDCWD, directoryPath)
        if answer >= 0 { return answer == 1 }
        guard let here = try? Sys.lstat(directoryPath), let parent = try? Sys.lstat(runnerFSDir) else { return false }
        return here.st_dev != parent.st_dev
    }

    /// umount2(UMOUNT_NOFOLLOW) — no `umount` binary, no PATH. A busy mount is detached lazily
    /// rather than left behind; the loop device, set up with autoclear by `mount -o loop`, is
    /// released with the last reference.
    func unmount() throws(SystemError) {
        if rm_umount2(directoryPath, rm_umount_nofollow) == 0 { return }
        // Mounted when the run looked, not any more (someone unmounted it meanwhile): nothing
        // to undo, and the directory is removed as usual.
        if errno == EINVAL, !isMounted() { return }
        if errno == EBUSY, rm_umount2(directoryPath, rm_umount_nofollow | rm_mnt_detach) == 0 { return }
        throw SystemError("umount2 \(directoryPath)")
    }

    /// Deletes the runner: unmount if mounted, remove the image, remove the directory tree.
    /// Asks the filesystem about each (recovery, where nothing is known of the runner).
    public func delete() throws(SystemError) {
        if isMounted() { try unmount() }
        if unlink(imagePath) != 0 && errno != ENOENT { throw SystemError("unlink \(imagePath)") }
        try TreeRemoval.remove(parent: runnerFSDir, name: name)
    }

    /// Deletes the runner as `facts` describe it, relative to the run's open directories.
    public func delete(_ facts: RunnerFacts, in directories: HostDirectories) throws(SystemError) {
        if facts.mounted { try unmount() }
        if facts.hasImage, let images = directories.images,
           unlinkat(images, name + ".img", 0) != 0 && errno != ENOENT {
            throw SystemError("unlink \(imagePath)")
        }
        try TreeRemoval.remove(parentFD: directories.runnerFS, parent: runnerFSDir, name: name, files: facts.files)
    }

    /// Where the evidence will go: the image if there is one (a loop-mounted runner), else the
    /// directory entry itself.
    public func evidencePath(in quarantineDir: String, unique: String) -> String {
        let hasImage = (try? Sys.lstat(imagePath)).flatMap { $0 }.map { $0.st_mode & S_IFMT == S_IFREG } ?? false
        return quarantineDir + "/" + name + "." + unique + (hasImage ? ".img" : "")
    }

    /// Moves the evidence, unread, to `evidence` (from `evidencePath`): unmount if mounted,
    /// then rename the image or the directory entry. Root-owned, 0600 for an image, 0711 for a
    /// directory (search only, no listing: `inspect` hands the directory to a worker running
    /// unprivileged, which needs search permission; the quarantine directory itself is 0700, so
    /// no other user reaches the evidence by path); a symlink stays a symlink and is never
    /// followed.
    public func quarantine(to evidence: String) throws(SystemError) {
        let quarantineDir = String(evidence[..<(evidence.lastIndex(of: "/") ?? evidence.startIndex)])
        try Sys.ensureDirectory(quarantineDir, mode: 0o700)
        if isMounted() { try unmount() }
        if evidence.hasSuffix(".img") {
            guard rm_rename_noreplace(imagePath, evidence) == 0 else { throw SystemError("rename \(imagePath)") }
            _ = lchown(evidence, 0, 0)
            _ = chmod(evidence, 0o600)
            // The mount point left behind is empty; failing to remove it leaves only that.
            if rmdir(directoryPath) != 0 && errno != ENOENT { try TreeRemoval.remove(parent: runnerFSDir, name: name) }
            return
        }
        guard rm_rename_noreplace(directoryPath, evidence) == 0 else { throw SystemError("rename \(directoryPath)") }
        _ = lchown(evidence, 0, 0)
        if let status = try Sys.lstat(evidence), status.st_mode & S_IFMT == S_IFDIR { _ = chmod(evidence, 0o711) }
    }
}

/// What the supervisor found when it handed a runner to its worker: whether its directory was
/// a mount, whether it had an image, and which runner files its worker read. Deletion acts on
/// these instead of asking the filesystem again. The files are a hint, not a trust: a file
/// left out (or anything else in the directory) makes the rmdir fail, and the tree is walked.
public struct RunnerFacts: Sendable, Equatable {
    /// A set of `RunnerFile`s, by their index in `RunnerFile.allCases`.
    public struct Files: Sendable, Equatable {
        var bits: UInt8
        public static let all = Files(bits: 0x0f)
        public static let none = Files(bits: 0)
        func contains(_ index: Int) -> Bool { bits & (1 << UInt8(index)) != 0 }

        /// The files a valid record was decoded from, and its empty (0-byte) files.
        public init(_ record: RunnerRecord) {
            bits = (record.installationStart != nil ? 1 : 0) | (record.installed != nil ? 2 : 0)
                | (record.preJob != nil ? 4 : 0) | (record.postJob != nil ? 8 : 0) | record.emptyFiles.bits
        }

        init(bits: UInt8) { self.bits = bits }
    }

    public var mounted: Bool
    public var hasImage: Bool
    public var files: Files = .all

    public init(mounted: Bool, hasImage: Bool, files: Files = .all) {
        self.mounted = mounted
        self.hasImage = hasImage
        self.files = files
    }
}

/// The run's host directories, opened once: discovery, the workers' directories and images and
/// the deletion of directories, images and runner files are relative to these descriptors, so a
/// path is resolved once per run, not once per runner and step, and a host directory renamed or
/// replaced during the run cannot redirect those steps. (Unmounting, quarantining and the
/// directory fsyncs at the end still go by path: umount2 and renameat2 across directories
/// take paths, and they are a few per run.)
public final class HostDirectories: Sendable {
    public let runnerFS: Int32
    /// Nil when the images directory does not exist.
    public let images: Int32?
    /// The runners whose `<name>.img` the images directory held when the run listed it.
    let imageNames: Set<String>
    /// The runner directory's device, for the mount check where statx cannot tell.
    let runnerFSDevice: UInt64

    /// Opens both directories; nil when the runner directory does not exist.
    public init?(runnerFSDir: String, imagesDir: String) throws(SystemError) {
        let fs = Glibc.open(runnerFSDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fs < 0 {
            if errno == ENOENT { return nil }
            throw SystemError("open \(runnerFSDir)")
        }
        let images = Glibc.open(imagesDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if images < 0 && errno != ENOENT {
            let failure = SystemError("open \(imagesDir)")
            close(fs)
            throw failure
        }
        do throws(SystemError) {
            runnerFSDevice = UInt64(try Sys.fstat(fs).st_dev)
            imageNames = images < 0 ? [] : Self.runnersWithImages(try Discovery.list(descriptor: images, imagesDir))
        } catch {
            close(fs)
            if images >= 0 { close(images) }
            throw error
        }
        runnerFS = fs
        self.images = images < 0 ? nil : images
    }

    deinit {
        close(runnerFS)
        if let images { close(images) }
    }

    /// Whether the images directory held `<name>.img` when the run started.
    func hasImage(_ name: String) -> Bool { imageNames.contains(name) }

    /// The runner names of `<name>.img` entries. The stem is judged as a runner name, not the
    /// whole entry: a valid name of 125 to 128 bytes makes an entry longer than any name.
    static func runnersWithImages(_ entries: [DiscoveredEntry]) -> Set<String> {
        let suffix = Array(".img".utf8)
        var names = Set<String>()
        for entry in entries where entry.rawName.count > suffix.count && entry.rawName.suffix(suffix.count).elementsEqual(suffix) {
            let stem = entry.rawName.dropLast(suffix.count)
            if RunnerName.isValid(stem) { names.insert(String(decoding: stem, as: UTF8.self)) }
        }
        return names
    }

    /// Whether `fd` (a runner directory) is the root of a mount: statx STATX_ATTR_MOUNT_ROOT,
    /// or a device other than the runner directory's where the attribute is unsupported.
    func isMountRoot(_ fd: Int32) -> Bool {
        let answer = rm_is_mount_root(fd, "")
        if answer >= 0 { return answer == 1 }
        guard let status = try? Sys.fstat(fd) else { return false }
        return UInt64(status.st_dev) != runnerFSDevice
    }
}

/// rm -r of an untrusted tree without following any symlink: every step is *at() relative to
/// a directory descriptor opened with O_NOFOLLOW, so a link inside the tree is unlinked, never
/// entered. Depth is bounded so a hostile nesting cannot exhaust descriptors.
enum TreeRemoval {
    static let maxDepth = 64

    /// The names a runner leaves (`RunnerFile`), as C strings, unlinked before anything is
    /// listed: a finished runner holds just these, so the common case is one unlink each and
    /// an rmdir, with no directory read and no rmdir that fails on a non-empty directory
    /// (measured: those two were a third of the deletion's system time).
    static let runnerFileNames: [[CChar]] = RunnerFile.allCases.map { Array($0.rawValue.utf8CString) }

    static func remove(parent: String, name: String) throws(SystemError) {
        let parentFD = try Sys.open(parent, O_RDONLY | O_DIRECTORY)
        defer { close(parentFD) }
        try remove(parentFD: parentFD, parent: parent, name: name, files: .all)
    }

    /// Removes `name` under `parentFD` (`parent` names it in errors), unlinking `files` first.
    static func remove(parentFD: Int32, parent: String, name: String, files: RunnerFacts.Files) throws(SystemError) {
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
        close(fd)
        if removed == 0 || removeErrno == ENOENT { return }
        guard removeErrno == ENOTEMPTY || removeErrno == EEXIST else {
            throw SystemError("rmdir \(parent)/\(name)", removeErrno)
        }
        try removeContents(of: parentFD, name, depth: 0)
        guard unlinkat(parentFD, name, AT_REMOVEDIR) == 0 else { throw SystemError("rmdir \(parent)/\(name)") }
    }

    private static func removeContents(of parentFD: Int32, _ name: String, depth: Int) throws(SystemError) {
        try removeContents(of: parentFD, Array(name.utf8CString), depth: depth)
    }

    /// Names inside the tree are the runner's and may be any bytes: they are kept as raw,
    /// NUL-terminated C strings from readdir to unlinkat, never decoded.
    private static func removeContents(of parentFD: Int32, _ name: [CChar], depth: Int) throws(SystemError) {
        guard depth < maxDepth else { throw SystemError("remove: deeper than \(maxDepth) levels", ELOOP) }
        let fd = name.withUnsafeBufferPointer { openat(parentFD, $0.baseAddress!, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0, let handle = fdopendir(fd) else {
            throw SystemError("open directory in runner tree")
        }
        defer { closedir(handle) }
        var subdirectories: [[CChar]] = []
        while true {
            errno = 0
            guard let entry = readdir(handle) else {
                if errno != 0 { throw SystemError("readdir") }
                break
            }
            var child = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                bytes.prefix(while: { $0 != 0 }).map { CChar(bitPattern: $0) }
            }
            if child == [0x2e] || child == [0x2e, 0x2e] { continue }
            child.append(0)
            if child.withUnsafeBufferPointer({ unlinkat(fd, $0.baseAddress!, 0) }) == 0 { continue }
            switch errno {
            case EISDIR, EPERM: subdirectories.append(child)
            case ENOENT: continue
            default: throw SystemError("unlinkat in runner tree")
            }
        }
        for child in subdirectories {
            try removeContents(of: fd, child, depth: depth + 1)
            guard child.withUnsafeBufferPointer({ unlinkat(fd, $0.baseAddress!, AT_REMOVEDIR) }) == 0 else {
                throw SystemError("rmdir in runner tree")
            }
        }
    }
}
