import CSandboxShim

/// Which confinement step failed; the worker exits with `WorkerExit.sandboxSetupFailed`.
public enum SandboxStep: Sendable {
    case resourceLimits
    case groups
    case groupID
    case userID
    case dumpable
    case parentDeath
    case seccomp
}

/// The confinement a worker applies to itself right after fork, before it reads a byte of
/// runner data. Order matters: limits and credentials first (they need privileges), then
/// no_new_privs, then the seccomp filter last so that nothing after it needs a denied call.
public struct WorkerSandbox: Sendable {
    /// The seccomp BPF program, compiled once by the supervisor (libseccomp) and installed here
    /// with one prctl: no compiling, no allocation in the child.
    public var filter: [UInt8]
    /// CPU seconds before SIGXCPU (soft) and SIGKILL (hard).
    public var cpuSeconds: Int
    /// Address-space ceiling; set from the fork server's own size plus headroom.
    public var addressSpaceBytes: Int
    /// The unprivileged identity the worker reads as: a uid and gid of its own, from a range no
    /// account uses (`WorkerIdentity`), with no supplementary groups and so no capability. A
    /// mode-000 file, a root-only file reached through a hard link, or a file in a directory
    /// it cannot search is refused by the kernel, not by our code; and no other process —
    /// another worker, or some daemon running as nobody — shares its uid, so none can signal
    /// or ptrace it.
    public var userID: uid_t = WorkerIdentity.base
    public var groupID: gid_t = WorkerIdentity.base

    /// This sandbox for the worker in slot `slot` (the fork server's request tag).
    public func forSlot(_ slot: Int32) -> WorkerSandbox {
        var copy = self
        copy.userID = WorkerIdentity.id(forSlot: slot)
        copy.groupID = WorkerIdentity.id(forSlot: slot)
        return copy
    }

    public init(filter: [UInt8], cpuSeconds: Int, addressSpaceBytes: Int) {
        self.filter = filter
        self.cpuSeconds = cpuSeconds
        self.addressSpaceBytes = addressSpaceBytes
    }

    /// Every layer, in order (what the test probe uses before it misbehaves).
    public func apply() -> SandboxStep? {
        confine() ?? lockDown()
    }

    /// The limits that are zero for every worker and harmless to the fork server: no file
    /// written, no core, no locked memory, no message queue. Set once by the fork server on
    /// itself, before it forks anything, and inherited through fork (a worker, with no
    /// capability left after setresuid, cannot raise them). Not RLIMIT_NPROC: the kernel
    /// waives it only for the initial user namespace's root or a holder of CAP_SYS_RESOURCE,
    /// so in a user namespace a server with it at 0 could not fork at all; each worker sets
    /// it for itself.
    public static func setSharedLimits() -> SandboxStep? {
        for resource in [rm_rlimit_fsize, rm_rlimit_core, rm_rlimit_memlock, rm_rlimit_msgqueue] {
            guard rm_setrlimit(resource, 0, 0) == 0 else { return .resourceLimits }
        }
        return nil
    }

    /// Everything but the seccomp filter: the worker's own limits (on top of the shared ones),
    /// identity, not dumpable, parent-death signal. After this the worker is nobody with no capability; a directory
    /// worker opens its four files now.
    public func confine() -> SandboxStep? {
        let limits: [(Int32, UInt64, UInt64)] = [
            (rm_rlimit_cpu, UInt64(cpuSeconds), UInt64(cpuSeconds + 1)),
            (rm_rlimit_as, UInt64(addressSpaceBytes), UInt64(addressSpaceBytes)),
            (rm_rlimit_nproc, 0, 0),
            (rm_rlimit_nofile, UInt64(WorkerDescriptor.limit), UInt64(WorkerDescriptor.limit)),
        ]
        for (resource, soft, hard) in limits {
            guard rm_setrlimit(resource, soft, hard) == 0 else { return .resourceLimits }
        }
        guard setgroups(0, nil) == 0 else { return .groups }
        guard rm_setresgid(groupID) == 0 else { return .groupID }
        // Leaving uid 0 clears the permitted and effective capability sets.
        guard rm_setresuid(userID) == 0 else { return .userID }
        guard rm_set_not_dumpable() == 0 else { return .dumpable }
        guard rm_set_parent_death_signal(SIGKILL) == 0 else { return .parentDeath }
        // no_new_privs is inherited: the fork server set it before its own filter, which the
        // kernel refuses to install without it, and it can never be unset.
        return nil
    }

    /// The seccomp filter, last: nothing after it may need a denied call. Allocation-free (the
    /// program bytes were allocated before fork).
    public func lockDown() -> SandboxStep? {
        let installed = filter.withUnsafeBytes { rm_install_seccomp_filter($0.baseAddress, $0.count) }
        return installed == 0 ? nil : .seccomp
    }
}
