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

    /// How many mounts stacked on one runner directory are taken off before giving up. Only
    /// the host can stack mounts; the bound keeps a mount that reappears from looping forever.
    static let maxStackedMounts = 8

    /// Unmounts until the directory is no longer a mount root: after each umount2 the
    /// directory is looked at again, since a second mount stacked under the first would
    /// otherwise have its files taken for the runner's.
    func unmountAll() throws(SystemError) {
        var count = 0
        while isMounted() {
            guard count < Self.maxStackedMounts else {
                throw SystemError("umount2 \(directoryPath): still a mount after \(count) unmounts", EBUSY)
            }
            try unmount()
            count += 1
        }
    }

    /// Deletes the runner: unmount if mounted, remove the image, remove the directory tree.
    /// Asks the filesystem about each (recovery, where nothing is known of the runner).
    public func delete() throws(SystemError) {
        try unmountAll()
        if unlink(imagePath) != 0 && errno != ENOENT { throw SystemError("unlink \(imagePath)") }
        try TreeRemoval.remove(parent: runnerFSDir, name: name)
    }

    /// Deletes the runner as `facts` describe it, relative to the run's open directories.
    public func delete(_ facts: RunnerFacts, in directories: HostDirectories) throws(SystemError) {
        if facts.mounted { try unmountAll() }
        if facts.hasImage, let images = directories.images,
           unlinkat(images, name + ".img", 0) != 0 && errno != ENOENT {
            throw SystemError("unlink \(imagePath)")
        }
        try TreeRemoval.remove(parentFD: directories.runnerFS, parent: runnerFSDir, name: name, files: facts.files,
                               device: directories.runnerFSDevice)
    }

    /// Where the evidence will go: the image if there is one (a loop-mounted runner), else the
    /// directory entry itself.
    public func evidencePath(in quarantineDir: String, unique: String) -> String {
        let hasImage = (try? Sys.lstat(imagePath)).flatMap { $0 }.map { $0.st_mode & S_IFMT == S_IFREG } ?? false
        return quarantineDir + "/" + name + "." + unique + (hasImage ? ".img" : "")
    }

    /// Moves the evidence, unread, to `evidence` (from `evidencePath`); Quarantine.swift.
    func quarantine(to evidence: String, expectedDirectory: EntryIdentity? = nil,
                    expectedImage: EntryIdentity? = nil) -> QuarantineOutcome {
        Quarantine.move(self, to: evidence, expectedDirectory: expectedDirectory, expectedImage: expectedImage)
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
    /// The directory the worker was handed (not mounted) or the image it read: quarantine
    /// refuses to move an entry that is no longer that inode.
    var directory: EntryIdentity? = nil
    var image: EntryIdentity? = nil

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
    /// The runner directory itself (is it a mount root; which mount).
    let runnerFSIdentity: EntryIdentity?

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
            runnerFSIdentity = EntryIdentity.of(fs)
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

    /// Whether `fd` (a runner directory) is the root of a mount, and which inode it is:
    /// statx STATX_ATTR_MOUNT_ROOT, or a device other than the runner directory's where the
    /// attribute is unsupported.
    func look(_ fd: Int32) -> (mounted: Bool, identity: EntryIdentity?) {
        guard let identity = EntryIdentity.of(fd) else { return (false, nil) }
        return (identity.isMountRoot ?? (identity.device != runnerFSDevice), identity)
    }
}
