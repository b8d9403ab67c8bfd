import CSandboxShim
import Glibc
import WorkerProtocol

/// The supervisor's handle on the fork server.
public final class ForkServer {
    public let socket: Int32
    public let pid: pid_t

    /// Starts the server: forks, lays out descriptors 0-2 on /dev/null and 3 on the control
    /// socket, and execs `executable` (a descriptor, so the file checked is the file run) with
    /// `arguments` and `environment` and nothing else. Then sends `configuration` and waits
    /// for the server's "started": a server that cannot start fails the run here, not at the
    /// first runner.
    public static func start(executable: Int32, arguments: [String], environment: [String] = [],
                             configuration: ForkServerConfiguration) throws(SystemError) -> ForkServer {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw SystemError("socketpair")
        }
        let devNull: Int32
        do throws(SystemError) { devNull = try Sys.open("/dev/null", O_RDWR) } catch {
            close(pair[0]); close(pair[1])
            throw error
        }
        // 0-2 /dev/null, then the control socket (ForkServerDescriptor.control, 3).
        let pid: pid_t
        do throws(SystemError) {
            pid = try ChildProcess.spawn(executable: executable, arguments: arguments, environment: environment,
                                         descriptors: [devNull, devNull, devNull, pair[1]],
                                         failureStatus: ForkServerExit.execFailed)
        } catch {
            close(pair[0]); close(pair[1]); close(devNull)
            throw error
        }
        close(pair[1])
        close(devNull)
        let server = ForkServer(socket: pair[0], pid: pid)
        let packet = configuration.packet
        let sent = packet.withUnsafeBytes { rm_send_with_fds(server.socket, $0.baseAddress, $0.count, nil, 0) }
        if sent == packet.count, server.awaitStarted(seconds: startTimeout) { return server }
        throw SystemError("the fork server \(server.abandon())", EPROTO)
    }

    /// How long a fork server may take to exec, read its configuration and confine itself.
    static let startTimeout: Int32 = 10

    /// True once the server has said "started" within `seconds`.
    func awaitStarted(seconds: Int32) -> Bool {
        var ready = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        var n: Int32 = -1
        repeat { n = poll(&ready, 1, seconds * 1000) } while n < 0 && errno == EINTR
        guard n == 1, let reply = try? receive() else { return false }
        return reply == [ForkServerMessage(.started, tag: 0)]
    }

    /// Ends a server that did not start and says why, from its exit status.
    func abandon() -> String {
        close(socket)
        var status: Int32 = 0
        // Give an exiting server a moment to finish; a hung one is killed.
        for _ in 0..<100 {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid {
                switch Termination(waitStatus: status) {
                case .exited(let code): return ForkServerExit.describe(code)
                case .signaled(let signal): return "was killed by signal \(signal)"
                }
            }
            if reaped < 0 && errno != EINTR { return "could not be waited for" }
            usleep(10_000)
        }
        Glibc.kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return "did not start within \(Self.startTimeout) s and was killed"
    }

    init(socket: Int32, pid: pid_t) {
        self.socket = socket
        self.pid = pid
    }

    /// Asks for a worker on `directory`, answering on `resultPipe`. The descriptors are
    /// duplicated into the server by the kernel; the caller still owns and closes its copies.
    public func spawn(tag: Int32, source: RunnerSource, descriptor directory: Int32, resultPipe: Int32) throws(SystemError) {
        let words = ForkServerMessage(.spawn, tag: tag, value: source.rawValue).words
        let fds = [directory, resultPipe]
        let sent = words.withUnsafeBytes { buffer in
            rm_send_with_fds(socket, buffer.baseAddress, buffer.count, fds, 2)
        }
        guard sent == ForkServerMessage.size else { throw SystemError("sendmsg to fork server") }
    }

    public func kill(tag: Int32) throws(SystemError) {
        let words = ForkServerMessage(.kill, tag: tag).words
        let sent = words.withUnsafeBytes { buffer in rm_send_with_fds(socket, buffer.baseAddress, buffer.count, nil, 0) }
        guard sent == ForkServerMessage.size else { throw SystemError("sendmsg to fork server") }
    }

    /// Reads one packet of messages; nil when the server has gone away.
    public func receive() throws(SystemError) -> [ForkServerMessage]? {
        var fds: [Int32] = [-1]
        var count: Int32 = 0
        let n = receiveBuffer.withUnsafeMutableBytes { buffer in
            rm_recv_with_fds(socket, buffer.baseAddress, buffer.count, &fds, 1, &count, 0)
        }
        for index in 0..<Int(count) { close(fds[index]) }  // the server never sends descriptors
        if n == 0 { return nil }
        guard n > 0 else { throw SystemError("recvmsg from fork server", n == -1 ? errno : EPROTO) }
        guard let messages = receiveBuffer.withUnsafeBytes({ ForkServerMessage.batch(UnsafeRawBufferPointer(rebasing: $0[0..<n])) })
        else { throw SystemError("fork server message", EPROTO) }
        return messages
    }

    /// Room for the largest packet the server sends.
    private var receiveBuffer = [UInt8](repeating: 0, count: ForkServerMessage.size * ForkServerMessage.reportsPerPacket)

    /// Closes the socket (the server then kills its children and exits) and reaps the server.
    public func shutdown() {
        close(socket)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}
