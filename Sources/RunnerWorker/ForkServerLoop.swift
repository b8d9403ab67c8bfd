import CSandboxShim

/// The fork server (sandbox2's forkserver, Chromium's zygote), the worker binary's main loop.
/// The supervisor execs the binary once at start-up, before any runner is discovered or any
/// log is opened; the server then does nothing but fork workers. Workers therefore start from
/// a small, clean, single-threaded image that has never held the supervisor's memory, another
/// runner's data or a descriptor it does not need, and cost a fork, not an exec.
///
/// Descriptors on entry: 0-2 /dev/null, 3 the control socket (SOCK_SEQPACKET), nothing else.
/// The protocol is `ForkServerMessage`; the first packet is the configuration.
/// The server reaps its children through pidfds, so a kill can never hit a recycled pid.
public struct ForkServerLoop {
    public typealias Body = (RunnerSource, Int32, WorkerSandboxes) -> Never

    struct Child {
        var tag: Int32
        var pid: pid_t
        var pidfd: Int32
    }

    /// The control socket's descriptor (0-2 are /dev/null).
    public static let controlDescriptor: Int32 = 3
    static let control = controlDescriptor

    /// The server's own mapped size plus this is each worker's RLIMIT_AS.
    static func sandboxes(_ configuration: ForkServerConfiguration) -> WorkerSandboxes {
        let addressSpace = mappedBytes() + configuration.addressSpaceHeadroom
        return WorkerSandboxes(
            directory: WorkerSandbox(filter: configuration.directoryFilter, cpuSeconds: configuration.cpuSeconds,
                                     addressSpaceBytes: addressSpace),
            image: WorkerSandbox(filter: configuration.imageFilter, cpuSeconds: configuration.cpuSeconds,
                                 addressSpaceBytes: addressSpace))
    }

    /// Runs the server; `body` runs in each worker child with descriptors 0 and 2 on /dev/null,
    /// 1 the result pipe and 3 the runner directory or image, and must never return.
    public static func serve(body: Body) -> Never {
        // The fork server refuses to run set-id (it has no reason to be).
        if getuid() != geteuid() || getgid() != getegid() { _exit(ForkServerExit.setID) }
        // Die with the supervisor; then the workers die with us (they set the same).
        _ = rm_set_parent_death_signal(SIGKILL)
        if getppid() == 1 { _exit(0) }
        _ = rm_close_from(UInt32(control + 1))
        // Dispositions set to "ignore" and the signal mask survive execve: whatever the
        // supervisor's own parent left must not reach the server. An ignored SIGCHLD in
        // particular would reap workers behind our back and lose their exit status.
        _ = rm_default_signal(SIGCHLD)
        _ = rm_unblock_all_signals()
        // A terminal's ^C or a service manager's SIGTERM goes to the whole process group; only
        // the supervisor acts on it (it kills workers itself). The server and, by inheritance,
        // every worker ignore them, so an interrupted run never mistakes a worker killed by
        // the operator for a hostile runner.
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] { _ = rm_ignore_signal(sig) }
        // SIGPIPE keeps (or gets back) its default action, which every worker inherits:
        // writing a frame nobody reads ends the worker. The server itself only ever sends
        // with MSG_NOSIGNAL, so a supervisor gone away is an EPIPE it handles, not a signal.
        _ = rm_default_signal(SIGPIPE)

        guard let configuration = receiveConfiguration() else { _exit(ForkServerExit.configuration) }
        let sandboxes = sandboxes(configuration)
        _ = Worker.fileBuffers.count  // allocated here, inherited by every worker
        // Hashing (the decoder's duplicate-key sets) seeds itself from getrandom on first
        // use; seeded here, every worker inherits the seed and the policy needs no getrandom.
        var hasher = Hasher()
        hasher.combine(0)
        _ = hasher.finalize()
        // From here on the server is confined too: only the capabilities it needs to make
        // workers (set ids) and to end them (kill), and its own policy, inherited by every
        // worker, which stacks its own on top. (Also cheaper: the kernel builds each worker
        // filter's allow cache only for the calls this one still allows.)
        guard WorkerSandbox.setSharedLimits() == nil else { _exit(ForkServerExit.limits) }
        guard rm_keep_fork_server_capabilities() == 0 else { _exit(ForkServerExit.capabilities) }
        guard rm_set_no_new_privs() == 0,
              configuration.serverFilter.withUnsafeBytes({ rm_install_seccomp_filter($0.baseAddress, $0.count) }) == 0
        else { _exit(ForkServerExit.seccomp) }
        send(ForkServerMessage(.started, tag: 0))

        var children: [Child] = []
        var polls: [pollfd] = []
        var words: [Int32] = [0, 0, 0, 0]
        var fds: [Int32] = [-1, -1]
        while true {
            polls.removeAll(keepingCapacity: true)
            polls.append(pollfd(fd: control, events: Int16(POLLIN), revents: 0))
            for child in children { polls.append(pollfd(fd: child.pidfd, events: Int16(POLLIN), revents: 0)) }
            let ready = poll(&polls, nfds_t(polls.count), -1)
            if ready < 0 {
                if rm_errno() == EINTR { continue }
                _exit(70)
            }
            // Reap first: an exit report must precede a kill for the same tag being ignored.
            var index = children.count - 1
            while index >= 0 {
                if polls[index + 1].revents != 0 {
                    let child = children[index]
                    var status: Int32 = 0
                    var usage = rusage()
                    var reaped: pid_t = -1
                    repeat { reaped = wait4(child.pid, &status, 0, &usage) } while reaped < 0 && rm_errno() == EINTR
                    let waitErrno = rm_errno()
                    close(child.pidfd)
                    children.remove(at: index)
                    // A status we could not read is never reported as a clean exit.
                    send(reaped == child.pid
                         ? ForkServerMessage(.exited, tag: child.tag, value: status, extra: Int32(clamping: usage.ru_maxrss))
                         : ForkServerMessage(.failed, tag: child.tag, value: waitErrno))
                }
                index -= 1
            }
            guard polls[0].revents != 0 else { continue }
            var count: Int32 = 0
            let n = words.withUnsafeMutableBytes { buffer in
                rm_recv_with_fds(control, buffer.baseAddress, buffer.count, &fds, 2, &count)
            }
            if n == 0 || (n < 0 && rm_errno() != EINTR && rm_errno() != EAGAIN) {
                // The supervisor is gone: take every worker down with us.
                for child in children { kill(child.pid, SIGKILL) }
                _exit(0)
            }
            guard n == ForkServerMessage.size, let message = ForkServerMessage(words) else {
                closeAll(fds, count)
                continue
            }
            switch message.kind {
            case .spawn:
                guard count == 2, let source = RunnerSource(rawValue: message.value) else {
                    closeAll(fds, count)
                    send(ForkServerMessage(.failed, tag: message.tag, value: EBADMSG))
                    continue
                }
                let pid = rm_fork_single_threaded()  // the server has one thread
                if pid == 0 {
                    // Worker: 1 = result pipe, 3 = runner directory, nothing else open.
                    dup2(fds[1], WorkerDescriptor.result)
                    dup2(fds[0], WorkerDescriptor.runnerDirectory)
                    _ = rm_close_from(UInt32(WorkerDescriptor.runnerDirectory + 1))
                    body(source, message.tag, sandboxes)
                }
                let forkErrno = rm_errno()
                closeAll(fds, count)
                guard pid > 0 else {
                    send(ForkServerMessage(.failed, tag: message.tag, value: forkErrno))
                    continue
                }
                let pidfd = rm_pidfd_open(pid)
                guard pidfd >= 0 else {
                    let code = rm_errno()
                    kill(pid, SIGKILL)
                    var status: Int32 = 0
                    while waitpid(pid, &status, 0) < 0 && rm_errno() == EINTR {}
                    send(ForkServerMessage(.failed, tag: message.tag, value: code))
                    continue
                }
                children.append(Child(tag: message.tag, pid: pid, pidfd: pidfd))
            case .kill:
                closeAll(fds, count)
                // Still unreaped, so the pid cannot have been recycled.
                for child in children where child.tag == message.tag { kill(child.pid, SIGKILL) }
            case .started, .failed, .exited, .configure:
                closeAll(fds, count)
            }
        }
    }

    /// The first packet: nothing is forked before the server knows its sandbox.
    static func receiveConfiguration() -> ForkServerConfiguration? {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ForkServerConfiguration.maxPacket, alignment: 8)
        defer { buffer.deallocate() }
        var fds: [Int32] = [-1]
        var count: Int32 = 0
        var n = -1
        repeat {
            n = rm_recv_with_fds(control, buffer.baseAddress, buffer.count, &fds, 1, &count)
        } while n < 0 && rm_errno() == EINTR
        closeAll(fds, count)
        guard n > 0 else { return nil }
        let packet = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
        if ForkServerConfiguration.revision(of: packet) != ForkServerConfiguration.revision { _exit(ForkServerExit.revision) }
        return ForkServerConfiguration(packet: packet)
    }

    static func closeAll(_ fds: [Int32], _ count: Int32) {
        for index in 0..<Int(max(0, min(count, Int32(fds.count)))) { close(fds[index]) }
    }

    static func send(_ message: ForkServerMessage) {
        let words = message.words
        let sent = words.withUnsafeBytes { rm_send_with_fds(control, $0.baseAddress, $0.count, nil, 0) }
        if sent != ForkServerMessage.size { _exit(70) }
    }

    /// The mapped size, from /proc/self/statm (first field, in pages); 0 if unreadable.
    static func mappedBytes() -> Int {
        let fd = rm_open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { rm_read(fd, $0.baseAddress, $0.count) }
        var pages = 0
        for byte in buffer.prefix(max(0, n)) {
            guard byte >= 0x30 && byte <= 0x39 else { break }
            pages = pages * 10 + Int(byte - 0x30)
        }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
