import CSandboxShim
import Glibc
import WorkerProtocol

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

/// A seccomp filter policy as data: default deny (kill the whole process), then an allowlist;
/// anything not listed — execve, fork/clone, socket, ptrace, kill, mount, unlink, any open —
/// kills the worker with SIGSYS. Every worker installs one, stacked on the fork server's own
/// (`forkServer`), which every worker inherits; under systemd the unit's `SystemCallFilter=`
/// stacks above both. The kernel runs every filter and the strictest answer wins, so the
/// worker's allowlist is what it can do, wherever it runs.
public struct SeccompPolicy: Sendable, Equatable {
    public var rules: [SyscallRule]

    /// Descriptors the worker is handed by the fork server; the policy pins them.
    public typealias Descriptor = WorkerDescriptor

    /// What every worker needs once its runner data is in reach: answer and end.
    static let answerAndEnd: [SyscallRule] = [
        SyscallRule("write", [.equals(index: 0, value: UInt64(Descriptor.result))],
                    reason: "write the confinement marker and the result frame to the pipe on descriptor 1"),
        SyscallRule("write", [.equals(index: 0, value: UInt64(Descriptor.diagnostics))],
                    reason: "the Swift runtime or libc may write an error message to descriptor 2 (/dev/null) before ending the process, so a decoder bug is reported as a crash, not a sandbox violation"),
        SyscallRule("exit", reason: "end the worker with its status (it is single-threaded, so exit ends the process; `WorkerExit.end`)"),
        SyscallRule("exit_group", reason: "end the worker: what _exit calls, should libc or the runtime end it that way"),
        SyscallRule("rt_sigreturn", reason: "return from a signal handler (a worker installs none; listed so that one the runtime installs can never turn into a sandbox violation)"),
    ]

    /// A worker on a mounted (or plain) runner directory. It opened its four files before (by
    /// fixed name under descriptor 3, lstat first, O_NOFOLLOW|O_NONBLOCK, unprivileged) and
    /// decodes them in the heap the fork server reserved, so from here on it needs five calls:
    /// no open, no memory call, no signal sent.
    public static let directoryWorker = SeccompPolicy(rules: [
        SyscallRule("read", reason: "read at most 1025 bytes of each runner file opened before the filter"),
    ] + answerAndEnd)

    /// A worker on an unmounted image (after a reboot): libext2fs reads the image, which the
    /// supervisor opened read-only onto descriptor 3, block by block, and allocates as it goes.
    public static let imageWorker = SeccompPolicy(rules: [
        SyscallRule("pread64", [.equals(index: 0, value: UInt64(Descriptor.runnerDirectory))],
                    reason: "libext2fs reads blocks of the runner's image at explicit offsets, on descriptor 3 only"),
        SyscallRule("fstat", [.equals(index: 0, value: UInt64(Descriptor.runnerDirectory))],
                    reason: "fstat the image on descriptor 3 for its size and type (the fstat system call, which takes no path, unlike newfstatat)"),
        // Memory for libext2fs; never executable.
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
    ] + answerAndEnd)
}

/// prctl(2) options (linux/prctl.h, part of the kernel ABI), which Swift's Glibc does not import.
enum PrctlOption {
    static let setParentDeathSignal: UInt64 = 1  // PR_SET_PDEATHSIG
    static let setDumpable: UInt64 = 4  // PR_SET_DUMPABLE
    static let setSeccomp: UInt64 = 22  // PR_SET_SECCOMP
}

extension SeccompPolicy {
    static let openFlagsChecked = UInt64(O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_NONBLOCK) | UInt64(rm_o_tmpfile) | UInt64(rm_o_path)
    static let atSymlinkNoFollow = UInt64(AT_SYMLINK_NOFOLLOW)

    /// What the fork server itself does once configured, and what a worker does between fork
    /// and its own filter. Installed by the server on itself (with no_new_privs) right after
    /// its configuration arrives, before its first fork. Every worker inherits it and stacks
    /// its own policy on top.
    public static let forkServerOwn: [SyscallRule] = [
        // The server's loop.
        SyscallRule("poll", reason: "wait for the control socket and the SIGCHLD signalfd (descriptor 4, read under the workers' read rule)"),
        SyscallRule("recvmsg", [.equals(index: 0, value: UInt64(ForkServerDescriptor.control))],
                    reason: "receive spawn and kill requests (with descriptors) on the control socket, descriptor 3"),
        SyscallRule("sendmsg", [.equals(index: 0, value: UInt64(ForkServerDescriptor.control))],
                    reason: "report failed and exited workers on the control socket, descriptor 3"),
        SyscallRule("fork", reason: "fork a worker: the fork system call takes no flags, so never a thread, a shared address space or a namespace (clone and clone3 stay denied)"),
        SyscallRule("close", reason: "close the descriptors a spawn request brought once the worker holds them"),
        SyscallRule("wait4", reason: "reap every exited worker (WNOHANG, any child: the server has no other children) and read its peak RSS"),
        // glibc passes the pid sign-extended, so -1 and -pgid have the high bits set.
        SyscallRule("kill", [.maskedEquals(index: 0, mask: 0xFFFF_FFFF_8000_0000, value: 0),
                             .equals(index: 1, value: UInt64(SIGKILL))],
                    reason: "end a worker the supervisor timed out: SIGKILL to a single pid only (never -1, all processes, or a negative process group); only the server reaps its workers and it kills only unreaped ones, so the pid is still that worker's"),
        // A worker between fork and its own filter (no runner byte read yet).
        SyscallRule("dup2", reason: "lay out the worker's descriptors 1 (result pipe) and 3 (runner directory or image)"),
        SyscallRule("close_range", reason: "close every other descriptor in the worker"),
        SyscallRule("prlimit64", [.equals(index: 0, value: 0)], reason: "the worker's own resource limits (setrlimit)"),
        SyscallRule("setresgid", reason: "the worker's own gid"),
        SyscallRule("setresuid", reason: "the worker's own uid, which also drops every capability"),
        SyscallRule("prctl", [.equals(index: 0, value: PrctlOption.setDumpable)], reason: "not dumpable, not ptrace-able"),
        SyscallRule("prctl", [.equals(index: 0, value: PrctlOption.setParentDeathSignal)], reason: "die with the fork server"),
        SyscallRule("prctl", [.equals(index: 0, value: PrctlOption.setSeccomp)], reason: "install the worker's own filter on top of this one"),
        SyscallRule("newfstatat", [.equals(index: 0, value: UInt64(WorkerDescriptor.runnerDirectory)),
                                   .maskedEquals(index: 3, mask: atSymlinkNoFollow, value: atSymlinkNoFollow)],
                    reason: "lstat a runner file by name in the runner directory, descriptor 3, never following a symlink"),
        SyscallRule("fstat", reason: "fstat an opened runner file to re-check its inode (the fstat call, which takes no path)"),
        SyscallRule("openat", [.equals(index: 0, value: UInt64(WorkerDescriptor.runnerDirectory)),
                               .maskedEquals(index: 2, mask: openFlagsChecked, value: UInt64(O_RDONLY | O_NOFOLLOW | O_NONBLOCK))],
                    reason: "open a runner file under descriptor 3: read-only, no symlink, non-blocking; never create, truncate, append or O_PATH"),
    ]

    /// The fork server's policy: its own calls and every call either worker policy allows
    /// (stacked filters intersect, so the workers' allowlists must be inside this one).
    public static let forkServer = SeccompPolicy(
        rules: forkServerOwn + directoryWorker.rules + imageWorker.rules.filter { !directoryWorker.rules.contains($0) })
}

/// Socket constants for the GitHub process's argument checks (x86-64 Linux ABI, as the
/// policies are; Swift's Glibc imports SOCK_* as an enum).
enum SocketConstant {
    static let streamNonblockCloexec: UInt64 = 1 | 0o4000 | 0o2000000  // SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC
    static let solSocket: UInt64 = 1  // SOL_SOCKET
    static let soError: UInt64 = 4  // SO_ERROR
}

extension SeccompPolicy {
    /// The descriptors of runner-metrics-github: 0 the request pipe, 1 the answer pipe, 2 the
    /// inherited standard error, and 3 its one socket (RLIMIT_NOFILE is 4, so a socket can be
    /// nothing but 3).
    public enum GitHubClientDescriptor {
        public static let requests: Int32 = 0
        public static let answers: Int32 = 1
        public static let diagnostics: Int32 = 2
        public static let socket: Int32 = 3
    }

    /// runner-metrics-github once confined: it talks to the API host over TCP (TLS by OpenSSL in
    /// its memory) and to the supervisor over its two pipes, and does nothing else. Installed by
    /// the process on itself after it resolved the host, loaded the CA certificates and took its
    /// own uid; there is no open of any kind, no exec, no fork, no signal sent, no other socket
    /// family or type.
    public static let githubClient: SeccompPolicy = {
        let socket = UInt64(GitHubClientDescriptor.socket)
        return SeccompPolicy(rules: [
            SyscallRule("read", [.equals(index: 0, value: UInt64(GitHubClientDescriptor.requests))],
                        reason: "read the next request frame from the request pipe, descriptor 0"),
            SyscallRule("read", [.equals(index: 0, value: socket)],
                        reason: "read the API's response from the socket, descriptor 3 (OpenSSL's socket BIO reads with read)"),
            SyscallRule("write", [.equals(index: 0, value: UInt64(GitHubClientDescriptor.answers))],
                        reason: "write the ready frame and each answer frame to the answer pipe, descriptor 1"),
            SyscallRule("write", [.equals(index: 0, value: UInt64(GitHubClientDescriptor.diagnostics))],
                        reason: "the Swift runtime or libc may write an error message to the inherited standard error before ending the process, so a bug is reported as a crash, not a sandbox violation"),
            SyscallRule("write", [.equals(index: 0, value: socket)],
                        reason: "send the request (and the TLS handshake) on the socket, descriptor 3"),
            SyscallRule("socket", [.equals(index: 0, value: UInt64(AF_INET)), .equals(index: 1, value: SocketConstant.streamNonblockCloexec),
                                   .equals(index: 2, value: 0)],
                        reason: "open a TCP connection to the API host over IPv4: a non-blocking stream socket only, never a datagram, raw, netlink or UNIX socket"),
            SyscallRule("socket", [.equals(index: 0, value: UInt64(AF_INET6)), .equals(index: 1, value: SocketConstant.streamNonblockCloexec),
                                   .equals(index: 2, value: 0)],
                        reason: "the same over IPv6"),
            SyscallRule("connect", [.equals(index: 0, value: socket)],
                        reason: "connect the socket to an address resolved before the filter (the filter cannot see the address; the process connects to nothing else)"),
            SyscallRule("getsockopt", [.equals(index: 0, value: socket), .equals(index: 1, value: SocketConstant.solSocket),
                                       .equals(index: 2, value: SocketConstant.soError)],
                        reason: "read SO_ERROR once a non-blocking connect completes"),
            SyscallRule("poll", reason: "wait for the socket with the request's deadline as the timeout"),
            SyscallRule("close", [.equals(index: 0, value: socket)],
                        reason: "close the socket after an error, a refused response or a connection the server will not keep alive"),
            // Memory for the Swift runtime, the JSON parser and OpenSSL (single-threaded: glibc's
            // main arena grows by brk, large blocks are mapped); never executable. Not listed,
            // because never made: mprotect, madvise, futex (no other thread), exit.
            SyscallRule("brk", reason: "malloc grows the heap"),
            SyscallRule("mmap", [.maskedEquals(index: 2, mask: UInt64(PROT_EXEC), value: 0)],
                        reason: "malloc maps large blocks (a page's body, its parsed form); PROT_EXEC is refused so no new code can be mapped"),
            SyscallRule("munmap", reason: "free maps back"),
            SyscallRule("mremap", reason: "realloc of a large block (a growing body)"),
            SyscallRule("getpid", reason: "OpenSSL's random generator compares the pid with its own to notice a fork (there is none: the process cannot fork)"),
            SyscallRule("getrandom", reason: "OpenSSL's random generator reseeds itself (it was seeded before the filter)"),
            SyscallRule("clock_gettime", reason: "the request's deadline and the certificate check's time, where the clock source has no vDSO (some Xen hosts)"),
            SyscallRule("gettimeofday", reason: "the same for OpenSSL's time calls"),
            SyscallRule("rt_sigprocmask", reason: "glibc's abort() and the runtime's crash path block signals before raising"),
            SyscallRule("exit_group", reason: "end the process at the end of its request pipe, or on an error (_exit)"),
            SyscallRule("rt_sigreturn", reason: "return from a signal handler (the process installs none; listed so that one the runtime installs can never turn into a sandbox violation)"),
        ])
    }()
}
