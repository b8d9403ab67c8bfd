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
        /// The runner's directory, opened by the supervisor with O_DIRECTORY|O_NOFOLLOW.
        public static let runnerDirectory: Int32 = 3
        /// RLIMIT_NOFILE: descriptors 0...7 exist at most, so "fd < 8" is a cheap mask test.
        public static let limit: Int32 = 8
    }

    /// Flags that must be exactly as listed for every openat: read-only, never follow a
    /// final symlink, never block on a FIFO, never create, truncate, append or open O_PATH.
    static let openFlagMask = UInt64(O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_DIRECTORY)
        | UInt64(rm_o_tmpfile) | UInt64(rm_o_path)
    static let openFlagRequired = UInt64(O_RDONLY | O_NOFOLLOW | O_NONBLOCK)

    public static let worker = SeccompPolicy(rules: [
        // Reading the runner's files.
        SyscallRule("openat", [
            .equals(index: 0, value: UInt64(Descriptor.runnerDirectory)),
            .maskedEquals(index: 2, mask: openFlagMask, value: openFlagRequired),
        ], reason: "open a runner file by name, relative to the runner directory only, read-only, O_NOFOLLOW|O_NONBLOCK, never creating"),
        SyscallRule("newfstatat", [
            .maskedEquals(index: 0, mask: ~UInt64(Descriptor.limit - 1), value: 0),
        ], reason: "lstat a runner file before opening it and fstat it after (glibc's fstat is newfstatat with AT_EMPTY_PATH); only on descriptors 0-7, never AT_FDCWD"),
        SyscallRule("read", reason: "read at most 1025 bytes of an opened runner file"),
        SyscallRule("close", reason: "close a runner file after reading it"),
        // Returning the result.
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
    ])
}
