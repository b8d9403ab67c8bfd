import CSandboxShim
import Glibc
import RunnerWorker

/// The fork server (sandbox2's forkserver, Chromium's zygote): a process forked from the
/// supervisor at start-up, before any runner is discovered or any log is opened, that does
/// nothing but fork workers. Workers therefore start from a clean, single-threaded image that
/// has never held another runner's data or the supervisor's descriptors, and cost a fork, not
/// an exec.
///
/// Protocol on a SOCK_SEQPACKET pair, one fixed-size message per packet:
///   supervisor → server: spawn(tag, source) carrying [runner directory or image, result pipe write end];
///                         kill(tag)
///   server → supervisor: started(tag, pid); failed(tag, errno); exited(tag, wait status)
/// The server reaps its children through pidfds, so a kill can never hit a recycled pid.
public struct ForkServerMessage: Equatable, Sendable {
    public enum Kind: Int32, Sendable {
        case spawn = 1, kill = 2, started = 3, failed = 4, exited = 5
    }
    public var kind: Kind
    public var tag: Int32
    public var value: Int32
    /// exited: the worker's peak resident set in KiB (wait4's ru_maxrss).
    public var extra: Int32

    static let size = 16

    var bytes: [Int32] { [kind.rawValue, tag, value, extra] }

    init(_ kind: Kind, tag: Int32, value: Int32 = 0, extra: Int32 = 0) {
        self.kind = kind
        self.tag = tag
        self.value = value
        self.extra = extra
    }

    init?(_ words: [Int32]) {
        guard words.count == 4, let kind = Kind(rawValue: words[0]) else { return nil }
        self.init(kind, tag: words[1], value: words[2], extra: words[3])
    }
}

/// The supervisor's handle on the fork server.
public final class ForkServer {
    public let socket: Int32
    public let pid: pid_t

    /// Forks the server. `body` runs in each worker child with descriptors 0 and 2 on
    /// /dev/null, 1 the result pipe and 3 the runner directory or image, and must never return.
    /// `warmUp` runs once in the server before it forks anything (see `Worker.warmUp`).
    public static func start(warmUp: () -> Void = {}, body: @escaping (RunnerSource, Int32) -> Never) throws(SystemError) -> ForkServer {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw SystemError("socketpair")
        }
        let devNull = try Sys.open("/dev/null", O_RDWR)
        let pid = fork()
        guard pid >= 0 else { throw SystemError("fork") }
        if pid == 0 {
            close(pair[0])
            warmUp()
            ForkServerLoop(control: pair[1], devNull: devNull, body: body).run()
        }
        close(pair[1])
        close(devNull)
        return ForkServer(socket: pair[0], pid: pid)
    }

    init(socket: Int32, pid: pid_t) {
        self.socket = socket
        self.pid = pid
    }

    /// Asks for a worker on `directory`, answering on `resultPipe`. The descriptors are
    /// duplicated into the server by the kernel; the caller still owns and closes its copies.
    public func spawn(tag: Int32, source: RunnerSource, descriptor directory: Int32, resultPipe: Int32) throws(SystemError) {
        let words = ForkServerMessage(.spawn, tag: tag, value: source.rawValue).bytes
        let fds = [directory, resultPipe]
        let sent = words.withUnsafeBytes { buffer in
            rm_send_with_fds(socket, buffer.baseAddress, buffer.count, fds, 2)
        }
        guard sent == ForkServerMessage.size else { throw SystemError("sendmsg to fork server") }
    }

    public func kill(tag: Int32) throws(SystemError) {
        let words = ForkServerMessage(.kill, tag: tag).bytes
        let sent = words.withUnsafeBytes { buffer in rm_send_with_fds(socket, buffer.baseAddress, buffer.count, nil, 0) }
        guard sent == ForkServerMessage.size else { throw SystemError("sendmsg to fork server") }
    }

    /// Reads one message; nil when the server has gone away.
    public func receive() throws(SystemError) -> ForkServerMessage? {
        var words: [Int32] = [0, 0, 0, 0]
        var fds: [Int32] = [-1]
        var count: Int32 = 0
        let n = words.withUnsafeMutableBytes { buffer in
            rm_recv_with_fds(socket, buffer.baseAddress, buffer.count, &fds, 1, &count)
        }
        for index in 0..<Int(count) { close(fds[index]) }  // the server never sends descriptors
        if n == 0 { return nil }
        guard n == ForkServerMessage.size else { throw SystemError("recvmsg from fork server", n < 0 ? errno : EPROTO) }
        guard let message = ForkServerMessage(words) else { throw SystemError("fork server message", EPROTO) }
        return message
    }

    /// Closes the socket (the server then kills its children and exits) and reaps the server.
    public func shutdown() {
        close(socket)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}

/// The server side; runs in the forked server process and never returns.
struct ForkServerLoop {
    let control: Int32
    let devNull: Int32
    let body: (RunnerSource, Int32) -> Never

    struct Child {
        var tag: Int32
        var pid: pid_t
        var pidfd: Int32
    }

    /// The server's fixed descriptors: 0-2 /dev/null, 3 the control socket.
    static let controlDescriptor: Int32 = 3

    func run() -> Never {
        // Die with the supervisor; then the workers die with us (they set the same).
        _ = rm_set_parent_death_signal(SIGKILL)
        if getppid() == 1 { _exit(0) }
        dup2(devNull, 0)
        dup2(devNull, 1)
        dup2(devNull, 2)
        dup2(control, Self.controlDescriptor)
        _ = rm_close_from(UInt32(Self.controlDescriptor + 1))
        let control = Self.controlDescriptor
        // A terminal's ^C or a service manager's SIGTERM goes to the whole process group; only
        // the supervisor acts on it (it kills workers itself). The server and, by inheritance,
        // every worker ignore them, so an interrupted run never mistakes a worker killed by
        // the operator for a hostile runner.
        for sig in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT] { signal(sig, SIG_IGN) }

        var children: [Child] = []
        var polls: [pollfd] = []
        while true {
            polls.removeAll(keepingCapacity: true)
            polls.append(pollfd(fd: control, events: Int16(POLLIN), revents: 0))
            for child in children { polls.append(pollfd(fd: child.pidfd, events: Int16(POLLIN), revents: 0)) }
            let ready = poll(&polls, nfds_t(polls.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                _exit(70)
            }
            // Reap first: an exit report must precede a kill for the same tag being ignored.
            var index = children.count - 1
            while index >= 0 {
                if polls[index + 1].revents != 0 {
                    let child = children[index]
                    var status: Int32 = 0
                    var usage = rusage()
                    while wait4(child.pid, &status, 0, &usage) < 0 && errno == EINTR {}
                    close(child.pidfd)
                    children.remove(at: index)
                    send(control, ForkServerMessage(.exited, tag: child.tag, value: status,
                                                    extra: Int32(clamping: usage.ru_maxrss)))
                }
                index -= 1
            }
            guard polls[0].revents != 0 else { continue }
            var words: [Int32] = [0, 0, 0, 0]
            var fds: [Int32] = [-1, -1]
            var count: Int32 = 0
            let n = words.withUnsafeMutableBytes { buffer in
                rm_recv_with_fds(control, buffer.baseAddress, buffer.count, &fds, 2, &count)
            }
            if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) {
                // The supervisor is gone: take every worker down with us.
                for child in children { kill(child.pid, SIGKILL) }
                _exit(0)
            }
            guard n == ForkServerMessage.size, let message = ForkServerMessage(words) else {
                for i in 0..<Int(count) { close(fds[i]) }
                continue
            }
            switch message.kind {
            case .spawn:
                guard count == 2, let source = RunnerSource(rawValue: message.value) else {
                    for i in 0..<Int(count) { close(fds[i]) }
                    send(control, ForkServerMessage(.failed, tag: message.tag, value: EBADMSG))
                    continue
                }
                let pid = fork()
                if pid == 0 {
                    // Worker: 1 = result pipe, 3 = runner directory, nothing else open.
                    dup2(fds[1], 1)
                    dup2(fds[0], 3)
                    _ = rm_close_from(4)
                    signal(SIGPIPE, SIG_DFL)  // writing a frame nobody reads ends the worker
                    body(source, message.tag)
                }
                let forkErrno = errno
                close(fds[0])
                close(fds[1])
                guard pid > 0 else {
                    send(control, ForkServerMessage(.failed, tag: message.tag, value: forkErrno))
                    continue
                }
                let pidfd = rm_pidfd_open(pid)
                guard pidfd >= 0 else {
                    kill(pid, SIGKILL)
                    var status: Int32 = 0
                    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                    send(control, ForkServerMessage(.failed, tag: message.tag, value: errno))
                    continue
                }
                children.append(Child(tag: message.tag, pid: pid, pidfd: pidfd))
                send(control, ForkServerMessage(.started, tag: message.tag, value: pid))
            case .kill:
                for i in 0..<Int(count) { close(fds[i]) }
                // Still unreaped, so the pid cannot have been recycled.
                if let child = children.first(where: { $0.tag == message.tag }) { kill(child.pid, SIGKILL) }
            case .started, .failed, .exited:
                for i in 0..<Int(count) { close(fds[i]) }
            }
        }
    }

    private func send(_ socket: Int32, _ message: ForkServerMessage) {
        let words = message.bytes
        let sent = words.withUnsafeBytes { rm_send_with_fds(socket, $0.baseAddress, $0.count, nil, 0) }
        if sent != ForkServerMessage.size { _exit(70) }
    }
}
