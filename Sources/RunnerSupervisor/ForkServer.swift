import CSandboxShim
import Glibc
import RunnerWorker

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
        let devNull = try Sys.open("/dev/null", O_RDWR)
        // Everything the child needs is built before fork: between fork and exec it only
        // moves descriptors and calls execveat.
        let argv = CStringArray(arguments)
        let envp = CStringArray(environment)
        defer { argv.free(); envp.free() }
        let pid = fork()
        guard pid >= 0 else { throw SystemError("fork") }
        if pid == 0 {
            // Move the three descriptors above the ones being laid out, then lay them out.
            let program = fcntl(executable, F_DUPFD_CLOEXEC, 10)
            let socket = fcntl(pair[1], F_DUPFD_CLOEXEC, 10)
            let null = fcntl(devNull, F_DUPFD_CLOEXEC, 10)
            guard program >= 0, socket >= 0, null >= 0,
                  dup2(null, 0) == 0, dup2(null, 1) == 1, dup2(null, 2) == 2,
                  dup2(socket, ForkServerLoop.controlDescriptor) == ForkServerLoop.controlDescriptor,
                  rm_cloexec_from(UInt32(ForkServerLoop.controlDescriptor + 1)) == 0
            else { _exit(127) }
            _ = rm_execute_descriptor(program, argv.pointers, envp.pointers)
            _exit(127)
        }
        close(pair[1])
        close(devNull)
        let server = ForkServer(socket: pair[0], pid: pid)
        let packet = configuration.packet
        let sent = packet.withUnsafeBytes { rm_send_with_fds(server.socket, $0.baseAddress, $0.count, nil, 0) }
        guard sent == packet.count else {
            server.shutdown()
            throw SystemError("configuring the fork server")
        }
        guard let reply = try server.receive(), reply.kind == .started else {
            server.shutdown()
            throw SystemError("the fork server did not start", EPROTO)
        }
        return server
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

/// A NULL-terminated `char *[]` for execve, allocated before fork.
struct CStringArray {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointers = .allocate(capacity: strings.count + 1)
        for (index, string) in strings.enumerated() { pointers[index] = strdup(string) }
        pointers[strings.count] = nil
    }

    func free() {
        for index in 0..<count { Glibc.free(pointers[index]) }
        pointers.deallocate()
    }
}
