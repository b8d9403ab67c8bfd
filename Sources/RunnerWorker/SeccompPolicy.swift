import CSandboxShim
import Glibc

/// A system call the worker may make, with the argument conditions that must all hold.
/// Several rules for one call are alternatives (any may match).
public struct SyscallRule: Sendable, Equatable {
    public enum Condition: Sendable, Equatable {
        /// `args[index] == value`
        case equals(index: UInt32, value: UInt64)
        /// `args[index] & mask == value`
        case maskedEquals(index: UInt32, mask: UInt64, value: UInt64)
    }

    public var name: String
    public var conditions: [Condition]
    /// Why the worker needs it; `Security/SECCOMP_POLICY.md` carries the same text.
    public var reason: String

    public init(_ name: String, _ conditions: [Condition] = [], reason: String) {
        self.name = name
        self.conditions = conditions
        self.reason = reason
    }
}

/// The worker's seccomp policy as data: default deny (kill the whole process), then an
/// allowlist. Anything not listed here — execve, fork/clone, socket, ptrace, kill, mount,
/// unlink, open for writing or creating — kills the worker with SIGSYS.
public struct SeccompPolicy: Sendable, Equatable {
    public var rules: [SyscallRule]

    /// Descriptors the worker is handed by the fork server; the policy pins them.
    public enum Descriptor {
        /// The write end of the result pipe.
        public static let result: Int32 = 1
        /// /dev/null, so a runtime fatal-error message goes nowhere instead of into the host's logs.
        public static let diagnostics: Int32 = 2
        /// The runner's directory (O_DIRECTORY|O_NOFOLLOW) or its image (O_RDONLY|O_NOFOLLOW),
        /// opened by the supervisor.
        public static let runnerDirectory: Int32 = 3
        /// RLIMIT_NOFILE: descriptors 0...7 exist at most, so "fd < 8" is a cheap mask test.
        public static let limit: Int32 = 8
    }

    /// What every worker needs once its runner data is in reach: answer, end, memory.
    static let common: [SyscallRule] = [
        SyscallRule("write", [.equals(index: 0, value: UInt64(Descriptor.result))],
                    reason: "write the result frame to the pipe on descriptor 1"),
        SyscallRule("write", [.equals(index: 0, value: UInt64(Descriptor.diagnostics))],
                    reason: "the Swift runtime writes a fatal-error message to descriptor 2 (/dev/null) before trapping, so a decoder bug is reported as a crash, not a sandbox violation"),
        SyscallRule("exit_group", reason: "end the worker"),
        SyscallRule("exit", reason: "end the worker thread (the runtime may use it instead of exit_group)"),
        // Memory for the decoder; never executable.
        SyscallRule("brk", reason: "malloc grows the heap"),
        SyscallRule("mmap", [.maskedEquals(index: 2, mask: UInt64(PROT_EXEC), value: 0)],
                    reason: "malloc maps large blocks; PROT_EXEC is refused so no new code can be mapped"),
        SyscallRule("munmap", reason: "free maps back"),
        SyscallRule("mremap", reason: "realloc of a large block"),
        SyscallRule("madvise", reason: "malloc trims freed memory"),
        SyscallRule("mprotect", [.maskedEquals(index: 2, mask: UInt64(PROT_EXEC), value: 0)],
                    reason: "malloc adjusts arena protection; making memory executable is refused"),
        // Runtime plumbing.
        SyscallRule("futex", reason: "uncontended Swift runtime and glibc locks may still wake or wait"),
        SyscallRule("rt_sigprocmask", reason: "glibc's abort() and the runtime's crash path block signals before raising"),
        SyscallRule("rt_sigreturn", reason: "return from a signal handler, if the runtime installed one"),
    ]

    /// A worker on a mounted (or plain) runner directory. It opened its four files before the
    /// filter went on (by fixed name under descriptor 3, lstat first, O_NOFOLLOW|O_NONBLOCK,
    /// unprivileged): from here on it can only read descriptors it already holds. No open at all
    /// is allowed — a filter cannot see an openat path, and an absolute path would ignore the
    /// directory descriptor.
    public static let directoryWorker = SeccompPolicy(rules: [
        SyscallRule("read", reason: "read at most 1025 bytes of each runner file opened before the filter"),
        SyscallRule("close", reason: "close a runner file after reading it"),
    ] + common)

    /// A worker on an unmounted image (after a reboot): libext2fs reads the image, which the
    /// supervisor opened read-only onto descriptor 3, block by block.
    public static let imageWorker = SeccompPolicy(rules: [
        SyscallRule("pread64", [.equals(index: 0, value: UInt64(Descriptor.runnerDirectory))],
                    reason: "libext2fs reads blocks of the runner's image at explicit offsets, on descriptor 3 only"),
        SyscallRule("fstat", [.equals(index: 0, value: UInt64(Descriptor.runnerDirectory))],
                    reason: "fstat the image on descriptor 3 for its size and type (the fstat system call, which takes no path, unlike newfstatat)"),
    ] + common)
}
