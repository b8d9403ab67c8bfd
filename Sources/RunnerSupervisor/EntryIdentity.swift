import CSandboxShim
import Glibc

/// Which inode an entry is, and where: one statx (never following a symlink). Cleanup compares
/// identities instead of trusting a name twice: a directory it walks back up to, the evidence
/// it re-owns after the rename, the mount a directory is on.
struct EntryIdentity: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64
    /// STATX_MNT_ID; 0 where the kernel does not report it (before 5.8).
    var mountID: UInt64
    var mode: UInt32
    var links: UInt32
    /// STATX_ATTR_MOUNT_ROOT; nil where unsupported.
    var isMountRoot: Bool?

    var isDirectory: Bool { mode & UInt32(Glibc.S_IFMT) == UInt32(Glibc.S_IFDIR) }
    var isRegular: Bool { mode & UInt32(Glibc.S_IFMT) == UInt32(Glibc.S_IFREG) }

    /// The same inode on the same device.
    func isSameInode(as other: EntryIdentity) -> Bool { device == other.device && inode == other.inode }

    /// `name` under `directory` (an empty name: `directory` itself); nil with errno set.
    static func of(_ directory: Int32, _ name: String = "") -> EntryIdentity? {
        var raw = rm_identity()
        guard rm_identity_at(directory, name, &raw) == 0 else { return nil }
        return EntryIdentity(raw)
    }

    /// As `of`, for a raw NUL-terminated name from a directory listing.
    static func of(_ directory: Int32, raw name: UnsafePointer<CChar>) -> EntryIdentity? {
        var raw = rm_identity()
        guard rm_identity_at(directory, name, &raw) == 0 else { return nil }
        return EntryIdentity(raw)
    }

    /// A host path (the operator's directories), nil with errno set.
    static func of(path: String) -> EntryIdentity? { of(AT_FDCWD, path) }

    private init(_ raw: rm_identity) {
        device = raw.dev
        inode = raw.ino
        mountID = raw.mnt_id
        mode = raw.mode
        links = raw.nlink
        isMountRoot = raw.mount_root < 0 ? nil : raw.mount_root == 1
    }

    /// Whether `self` (a directory) is on the same mount as `other`: the mount ids where both
    /// are known (a bind mount of the same filesystem has the same device), else the devices.
    func isOnSameMount(as other: EntryIdentity) -> Bool {
        if mountID != 0 && other.mountID != 0 { return mountID == other.mountID }
        return device == other.device
    }
}
