import CSandboxShim
#if hasFeature(Embedded)
import WorkerProtocolEmbedded
#else
import WorkerProtocol
#endif

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
/// seccomp last so that nothing after it needs a denied call.
public struct WorkerSandbox: Sendable {
    /// The worker's seccomp filter: a BPF program compiled once by the supervisor (libseccomp)
    /// from `SeccompPolicy`, copied by the fork server, installed by each worker with one prctl.
    /// Its default action kills the whole process with SIGSYS, which no one else sends a worker,
    /// so the supervisor tells a violation from any other ending by the signal alone.
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

    /// What every worker shares and the fork server can live with, set once on the server
    /// before it forks anything and inherited through fork (a worker, with no capability left
    /// after setresuid, can neither raise a limit nor regain a group): no file written, no core,
    /// no locked memory, no message queue, at most `WorkerDescriptor.limit` descriptors (the
    /// server holds 0-4 and, for a moment, the two a spawn request brings), the workers'
    /// address-space ceiling, and no supplementary group. Not RLIMIT_NPROC: the kernel waives
    /// it only for the initial user namespace's root or a holder of CAP_SYS_RESOURCE, so in a
    /// user namespace a server with it at 0 could not fork at all. Not RLIMIT_CPU: the server's
    /// own CPU time adds up over a run. Each worker sets those two for itself.
    public static func setShared(addressSpaceBytes: Int) -> SandboxStep? {
        for resource in [rm_rlimit_fsize, rm_rlimit_core, rm_rlimit_memlock, rm_rlimit_msgqueue] {
            guard rm_setrlimit(resource, 0, 0) == 0 else { return .resourceLimits }
        }
        let descriptors = UInt64(WorkerDescriptor.limit), addressSpace = UInt64(addressSpaceBytes)
        guard rm_setrlimit(rm_rlimit_nofile, descriptors, descriptors) == 0,
              rm_setrlimit(rm_rlimit_as, addressSpace, addressSpace) == 0
        else { return .resourceLimits }
        guard setgroups(0, nil) == 0 else { return .groups }
        return nil
    }

    /// Everything but the seccomp filter: the worker's own limits (on top of the shared ones),
    /// identity, not dumpable, parent-death signal. After this the worker is nobody with no
    /// capability; a directory worker opens its four files now. Allocates nothing (every page a
    /// worker writes is a copy-on-write fault).
    public func confine() -> SandboxStep? {
        guard rm_setrlimit(rm_rlimit_cpu, UInt64(cpuSeconds), UInt64(cpuSeconds + 1)) == 0,
              rm_setrlimit(rm_rlimit_nproc, 0, 0) == 0
        else { return .resourceLimits }
        guard rm_setresgid(groupID) == 0 else { return .groupID }
        // Leaving uid 0 clears the permitted and effective capability sets.
        guard rm_setresuid(userID) == 0 else { return .userID }
        guard rm_set_not_dumpable() == 0 else { return .dumpable }
        guard rm_set_parent_death_signal(SIGKILL) == 0 else { return .parentDeath }
        // no_new_privs is inherited: the fork server set it before forking (the kernel refuses
        // an unprivileged filter without it), and it can never be unset.
        return nil
    }

    /// Seccomp, last: nothing after it may need a denied call (a directory worker's filter has
    /// no brk or mmap: see `Worker.end` and `rm_reserve_heap`). Allocation-free (the filter's
    /// bytes were allocated before fork).
    public func lockDown() -> SandboxStep? {
        let installed = filter.withUnsafeBytes { rm_install_seccomp_filter($0.baseAddress, $0.count) }
        return installed == 0 ? nil : .seccomp
    }
}
