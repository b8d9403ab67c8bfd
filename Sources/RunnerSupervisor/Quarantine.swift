import CSandboxShim
import Glibc

/// Why evidence stayed where the runner left it (the audit line's `not_moved`): stable codes.
public enum HoldReason: String, Sendable, CaseIterable {
    /// rename(2) answered EXDEV: the quarantine directory is on another mount or filesystem
    /// than runner-fs or the images (see Security/AUDIT.md, "Where the quarantine can be").
    case crossDevice = "cross-device"
    /// A mount on the runner directory would not go, or rename answered EBUSY.
    case busy = "busy"
    /// EPERM or EACCES: an immutable or append-only entry, or a directory that refuses it.
    case notPermitted = "not-permitted"
    /// The image, or a runner-fs entry that is not a directory, has more than one link: it is
    /// also a file elsewhere, whose owner and mode quarantine must not change.
    case multiplyLinked = "multiply-linked"
    /// The entry is not the inode the run looked at.
    case entryChanged = "entry-changed"
    /// Any other error (the detail names the call and errno).
    case failed = "error"

    init(errno code: Int32) {
        switch code {
        case EXDEV: self = .crossDevice
        case EBUSY: self = .busy
        case EPERM, EACCES: self = .notPermitted
        default: self = .failed
        }
    }
}

public enum QuarantineOutcome: Equatable, Sendable {
    /// The evidence is at the planned path. `problem`: it could not be made root-owned with
    /// its mode (it is still in the quarantine directory, unread).
    case moved(problem: String?)
    /// The evidence stays at `place` (made inert: unmounted, nothing read).
    case held(place: String, reason: HoldReason, detail: String)
}

/// Moving evidence into the quarantine directory without reading it, and without changing any
/// inode that is not the runner's: the rename is refused for an image or entry with more
/// than one link, and the owner and mode are set through a descriptor of the renamed inode
/// after checking it is the one that was renamed (never by a path a runner could swap).
enum Quarantine {
    static func move(_ location: RunnerLocation, to evidence: String, expectedDirectory: EntryIdentity? = nil,
                     expectedImage: EntryIdentity? = nil) -> QuarantineOutcome {
        let quarantineDir = String(evidence[..<(evidence.lastIndex(of: "/") ?? evidence.startIndex)])
        let isImage = evidence.hasSuffix(".img")
        let place = isImage ? location.imagePath : location.directoryPath
        do throws(SystemError) {
            // Inert first: a mount on the runner directory goes whether or not the move works.
            try location.unmountAll()
        } catch {
            return .held(place: location.directoryPath, reason: .busy, detail: error.description)
        }
        do throws(SystemError) { try Sys.ensureDirectory(quarantineDir, mode: 0o700) } catch {
            return .held(place: place, reason: HoldReason(errno: error.code), detail: error.description)
        }
        guard let before = EntryIdentity.of(path: place) else {
            return .held(place: place, reason: .failed, detail: SystemError("statx \(place)").description)
        }
        if let expected = isImage ? expectedImage : expectedDirectory, !before.isSameInode(as: expected) {
            return .held(place: place, reason: .entryChanged, detail: "not the inode the run looked at")
        }
        if !before.isDirectory && before.links > 1 {
            return .held(place: place, reason: .multiplyLinked, detail: "\(before.links) links")
        }
        guard rm_rename_noreplace(place, evidence) == 0 else {
            let code = errno
            return .held(place: place, reason: HoldReason(errno: code),
                         detail: SystemError("rename into \(quarantineDir)", code).description)
        }
        let problem = reown(evidence, before, mode: isImage ? 0o600 : (before.isDirectory ? 0o711 : nil))
        if isImage {
            // The mount point left behind is empty; failing to remove it leaves only that.
            if rmdir(location.directoryPath) != 0 && errno != ENOENT { try? TreeRemoval.remove(parent: location.runnerFSDir, name: location.name) }
        }
        return .moved(problem: problem)
    }

    /// Root-owned, and `mode` for an image (0600) or a directory (0711: search only, so
    /// `inspect` can hand it to an unprivileged worker; the quarantine directory itself is
    /// 0700); a symlink stays a symlink, re-owned itself, never followed. Done through an
    /// O_PATH descriptor of the renamed entry, checked to be `renamed`. Returns what failed.
    static func reown(_ evidence: String, _ renamed: EntryIdentity, mode: mode_t?) -> String? {
        let fd = Glibc.open(evidence, Int32(rm_o_path) | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return SystemError("open \(evidence)").description }
        defer { close(fd) }
        guard let now = EntryIdentity.of(fd), now.isSameInode(as: renamed) else {
            return "\(evidence) is not the inode renamed; owner and mode left as they were"
        }
        if rm_fchown_empty_path(fd, 0, 0) != 0 { return SystemError("fchownat \(evidence)").description }
        guard let mode else { return nil }
        // fchmod does not take an O_PATH descriptor before Linux 6.6 (fchmodat2); the
        // descriptor's /proc link resolves to exactly its inode, not to the path again.
        if chmod("/proc/self/fd/\(fd)", mode) != 0 { return SystemError("chmod \(evidence)").description }
        return nil
    }
}
