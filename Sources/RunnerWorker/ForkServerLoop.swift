import CSandboxShim
#if hasFeature(Embedded)
import WorkerProtocolEmbedded
#else
import WorkerProtocol
#endif

/// The fork server (sandbox2's forkserver, Chromium's zygote), the worker binary's main loop.
/// The supervisor execs the binary once at start-up, before any runner is discovered or any
/// log is opened; the server then does nothing but fork workers. Workers therefore start from
/// a small, clean, single-threaded image that has never held the supervisor's memory, another
/// runner's data or a descriptor it does not need, and cost a fork, not an exec.
///
/// Descriptors: 0-2 /dev/null, 3 the control socket (SOCK_SEQPACKET), 4 a signalfd for
/// SIGCHLD, and, for the moment between receiving a spawn request and forking, the two
/// descriptors it carried. The protocol is `ForkServerMessage`; the first packet is the
/// configuration.
///
/// One wake-up handles everything that is ready: every exited worker is reaped (wait4 with
/// WNOHANG until none is left), every queued request is read, and what that produced goes back
/// to the supervisor as one packet. The server is the only one that reaps its children, so an
/// unreaped worker's pid cannot be recycled and a kill by pid always reaches that worker.
public struct ForkServerLoop {
    public typealias Body = (RunnerSource, Int32, WorkerSandboxes) -> Never

    struct Child {
        var tag: Int32
        var pid: pid_t
    }

    static let control = ForkServerDescriptor.control
    /// The SIGCHLD signalfd: the first descriptor free after the control socket.
    static let childExits: Int32 = 4

    /// The two worker sandboxes: each worker's RLIMIT_AS is the server's own mapped size plus
    /// the configured headroom; they differ in their seccomp filter.
    static func sandboxes(_ configuration: ForkServerConfiguration) -> WorkerSandboxes {
        let addressSpace = mappedBytes() + configuration.addressSpaceHeadroom
        return WorkerSandboxes(
            directory: WorkerSandbox(filter: configuration.directoryFilter, cpuSeconds: configuration.cpuSeconds,
                                     addressSpaceBytes: addressSpace),
            image: WorkerSandbox(filter: configuration.imageFilter, cpuSeconds: configuration.cpuSeconds,
                                 addressSpaceBytes: addressSpace))
    }

    /// Heap every worker can use under the directory filter, which allows no brk or mmap. A
    /// directory worker decodes at most four 1,025-byte files, with nesting limited to 8
    /// levels: tens of KiB by a reading of the decoder (not measured per input; every hostile
    /// case of the end-to-end tests runs under that filter). The `heap` probe mode shows half
    /// of it usable after the filter is on. Untouched until a worker uses it, so it adds
    /// nothing to a fork; a worker that needs more is killed, and its runner quarantined.
    public static let workerHeapBytes = 4 << 20

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
        // SIGXCPU too: a worker past its soft CPU limit must end by SIGXCPU (a timeout), not
        // linger, ignoring it, until the hard limit's SIGKILL.
        _ = rm_default_signal(SIGXCPU)

        guard let configuration = receiveConfiguration() else { _exit(ForkServerExit.configuration) }
        guard rm_reserve_heap(workerHeapBytes) == 0 else { _exit(ForkServerExit.heap) }
        let sandboxes = sandboxes(configuration)
        _ = Worker.fileBuffers.count  // allocated here, inherited by every worker
        // A lazily initialised global a worker reads, initialised here: a worker that ran the
        // initialiser itself would write pages it shares with the server (a copy-on-write
        // fault per worker).
        _ = Worker.files.count
        // Hashing (the decoder's duplicate-key sets) seeds itself from getrandom on first
        // use; seeded here, every worker inherits the seed and the policy needs no getrandom.
        var hasher = Hasher()
        hasher.combine(0)
        _ = hasher.finalize()
        // Exits arrive as SIGCHLD on a signalfd (SIGCHLD blocked; workers inherit the blocked
        // mask, harmlessly: they have no children).
        guard rm_child_exit_descriptor() == childExits else { _exit(ForkServerExit.childSignals) }
        // From here on the server keeps only the capabilities it needs to make workers (set
        // ids) and to end them (kill), no_new_privs, and its own seccomp filter, all of which
        // every worker inherits and then narrows: its own filter stacks on the server's (the
        // kernel runs both and the stricter answer wins), the same whether or not a service
        // manager's filter is already on top of them all. The server reads nothing but the
        // supervisor's requests; the process that reads runner bytes is the worker, left five
        // system calls (Security/SECCOMP_POLICY.md).
        guard WorkerSandbox.setShared(addressSpaceBytes: sandboxes.directory.addressSpaceBytes) == nil else {
            _exit(ForkServerExit.limits)
        }
        guard rm_keep_fork_server_capabilities() == 0 else { _exit(ForkServerExit.capabilities) }
        guard rm_set_no_new_privs() == 0 else { _exit(ForkServerExit.seccomp) }
        guard configuration.serverFilter.withUnsafeBytes({ rm_install_seccomp_filter($0.baseAddress, $0.count) }) == 0
        else { _exit(ForkServerExit.seccomp) }
        var packet: [Int32] = []
        packet.reserveCapacity(4 * ForkServerMessage.reportsPerPacket)
        send([ForkServerMessage(.started, tag: 0)], using: &packet)

        var children: [Child] = []
        var reports: [ForkServerMessage] = []
        reports.reserveCapacity(ForkServerMessage.reportsPerPacket)
        var polls = [pollfd(fd: control, events: Int16(POLLIN), revents: 0),
                     pollfd(fd: childExits, events: Int16(POLLIN), revents: 0)]
        var words: [Int32] = [0, 0, 0, 0]
        var fds: [Int32] = [-1, -1]
        while true {
            polls[0].revents = 0
            polls[1].revents = 0
            if poll(&polls, 2, -1) < 0 {
                if rm_errno() == EINTR { continue }
                _exit(70)
            }
            // Reap first: an exit report must precede a kill for the same tag being ignored.
            if polls[1].revents != 0 {
                // Drained before reaping: a worker exiting after the wait4 loop below raises
                // a fresh SIGCHLD, so its exit wakes the next poll.
                rm_drain_signals(childExits)
                reap(&children, into: &reports)
            }
            // Every queued request, not one per wake-up.
            while polls[0].revents != 0 {
                var count: Int32 = 0
                let n = words.withUnsafeMutableBytes { buffer in
                    rm_recv_with_fds(control, buffer.baseAddress, buffer.count, &fds, 2, &count, 1)
                }
                if n < 0 && (rm_errno() == EAGAIN || rm_errno() == EINTR) { break }
                guard n == ForkServerMessage.size, let message = ForkServerMessage(words) else {
                    // The supervisor is gone (end of file, an error), or sent what it never
                    // sends: a request cut short (-2, its descriptors already closed), of
                    // another size or kind. Dropping it would leave a runner waiting for a
                    // report that never comes, so fail at once: take every worker down with us,
                    // and the supervisor sees the server gone and keeps its runners.
                    closeAll(fds, count)
                    for child in children { kill(child.pid, SIGKILL) }
                    _exit(n == 0 ? 0 : 70)
                }
                handle(message, fds, count, &children, &reports, sandboxes: sandboxes, body: body)
            }
            send(reports, using: &packet)
            reports.removeAll(keepingCapacity: true)
        }
    }

    /// Reaps every worker that has exited and records its exit report.
    static func reap(_ children: inout [Child], into reports: inout [ForkServerMessage]) {
        while !children.isEmpty {
            var status: Int32 = 0
            var usage = rusage()
            let pid = wait4(-1, &status, WNOHANG, &usage)
            if pid < 0 && rm_errno() == EINTR { continue }
            guard pid > 0 else { return }
            guard let index = children.firstIndex(where: { $0.pid == pid }) else { continue }
            reports.append(ForkServerMessage(.exited, tag: children[index].tag, value: status,
                                             extra: Int32(clamping: usage.ru_maxrss)))
            children.remove(at: index)
        }
    }

    /// One request from the supervisor; `fds` are the `count` descriptors it carried.
    static func handle(_ message: ForkServerMessage, _ fds: [Int32], _ count: Int32, _ children: inout [Child],
                       _ reports: inout [ForkServerMessage], sandboxes: WorkerSandboxes, body: Body) {
        switch message.kind {
        case .spawn:
            guard count == 2, let source = RunnerSource(rawValue: message.value) else {
                closeAll(fds, count)
                reports.append(ForkServerMessage(.failed, tag: message.tag, value: EBADMSG))
                return
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
                reports.append(ForkServerMessage(.failed, tag: message.tag, value: forkErrno))
                return
            }
            children.append(Child(tag: message.tag, pid: pid))
        case .kill:
            closeAll(fds, count)
            // Still unreaped, so the pid cannot have been recycled.
            for child in children where child.tag == message.tag { kill(child.pid, SIGKILL) }
        case .started, .failed, .exited, .configure:
            closeAll(fds, count)
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
            n = rm_recv_with_fds(control, buffer.baseAddress, buffer.count, &fds, 1, &count, 0)
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

    /// Sends `messages` in packets of at most `ForkServerMessage.reportsPerPacket`, laid out in
    /// `packet` (kept by the caller, so the loop allocates nothing per wake-up: every page the
    /// server writes after a fork is a copy-on-write fault while the worker lives).
    static func send(_ messages: [ForkServerMessage], using packet: inout [Int32]) {
        var start = 0
        while start < messages.count {
            let end = min(messages.count, start + ForkServerMessage.reportsPerPacket)
            packet.removeAll(keepingCapacity: true)
            for message in messages[start..<end] {
                packet.append(message.kind.rawValue)
                packet.append(message.tag)
                packet.append(message.value)
                packet.append(message.extra)
            }
            let sent = packet.withUnsafeBytes { rm_send_with_fds(control, $0.baseAddress, $0.count, nil, 0) }
            if sent != (end - start) * ForkServerMessage.size { _exit(70) }
            start = end
        }
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
