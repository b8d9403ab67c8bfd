import CSandboxShim
import Glibc
import MetricsDecoding
import WorkerProtocol

/// What the supervisor saw of one worker: the bytes it sent (bounded) and how it ended.
public struct WorkerOutcome: Sendable {
    public var frame: [UInt8] = []
    /// The worker sent more than `Frame.maxSize` bytes; the rest was discarded unread.
    public var overflowed = false
    /// The worker ran past its deadline and was killed.
    public var timedOut = false
    /// The run was interrupted (SIGTERM/SIGINT) and the worker killed; not the runner's doing.
    public var interrupted = false
    public var termination: Termination?
    /// The fork server could not start the worker; not the runner's doing.
    public var spawnFailure: SystemError?
    public var seconds: Double = 0
    /// Peak resident set of the worker, KiB.
    public var maxRSSKiB = 0
}

/// Runs workers through the fork server, up to `jobs` at a time, from one poll loop. Forks
/// happen only in the fork server, which was forked before the supervisor started any thread
/// (its deletion thread, Janitor.swift), so no child ever inherits a lock held mid-update.
///
/// The loop waits on the fork server's socket alone. A worker is finished when the server
/// reports its exit (the server reaps it, so by then every descriptor it had is closed); only
/// then is its result pipe read, in one go. Each of the `jobs` places has a result pipe of its
/// own for the whole run, handed to each of its workers in turn: the supervisor keeps the
/// write end (so the pipe never reports end of file) and reads the non-blocking read end until
/// it is empty, which leaves it empty for the next worker. One wake-up per batch of exit
/// reports and no pipe made, sized or closed per runner.
public final class WorkerPool {
    let server: ForkServer
    let jobs: Int
    let timeout: Double

    struct Slot {
        var tag: Int32
        /// Index into `pipes`.
        var place: Int
        var started: Double
        var deadline: Double
        var outcome = WorkerOutcome()
        var killRequested = false
        /// Once killed, when the exit report must have come (`reportTimeout`).
        var reportDeadline = Double.infinity

        var finished: Bool { outcome.termination != nil || outcome.spawnFailure != nil }
    }

    /// The confinement marker and the largest frame.
    static let pipeCapacityNeeded = Frame.maxSize + 1
    /// How long after a kill the fork server has to report the worker's end. A worker killed
    /// with SIGKILL is reaped in microseconds; a report this late means the server is broken,
    /// and the run stops (keeping the runners) rather than wait forever.
    static let reportTimeout = 10.0
    /// One result pipe per place (read end non-blocking), made once.
    private var pipes: [(read: Int32, write: Int32)] = []
    /// What `drain` reads into: one buffer for every worker, larger than any honest answer, so
    /// an honest worker's pipe is emptied by a single read.
    private var chunk = [UInt8](repeating: 0, count: 2 * (WorkerPool.pipeCapacityNeeded + 1))

    public init(server: ForkServer, jobs: Int, timeout: Double) throws(SystemError) {
        self.server = server
        self.jobs = max(1, jobs)
        self.timeout = timeout
        for _ in 0..<self.jobs {
            do throws(SystemError) { pipes.append(try Self.resultPipe()) } catch {
                closePipes()
                throw error
            }
        }
    }

    deinit { closePipes() }

    private func closePipes() {
        for pipe in pipes {
            close(pipe.read)
            close(pipe.write)
        }
        pipes.removeAll()
    }

    /// A pipe whose read end does not block and which holds a whole answer: the pipe is read
    /// only once its worker is gone, so an honest worker must fit its marker and largest frame
    /// in it without blocking. A pipe is 64 KiB, but only 8 KiB when the user's pipe pages are
    /// over fs.pipe-user-pages-soft and the tool runs without CAP_SYS_RESOURCE, as the systemd
    /// unit does: then it is enlarged, or the run fails before any worker starts.
    static func resultPipe() throws(SystemError) -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        guard rm_pipe2(&ends, O_CLOEXEC) == 0 else { throw SystemError("pipe2") }
        if rm_set_nonblocking(ends[0]) != 0 {
            let failure = SystemError("result pipe: O_NONBLOCK")
            close(ends[0]); close(ends[1])
            throw failure
        }
        if rm_pipe_capacity(ends[0]) < pipeCapacityNeeded && rm_set_pipe_capacity(ends[0], 16_384) < pipeCapacityNeeded {
            let failure = SystemError("result pipe smaller than \(pipeCapacityNeeded) bytes", errno)
            close(ends[0]); close(ends[1])
            throw failure
        }
        return (ends[0], ends[1])
    }

    /// A job for a worker: its tag, what kind of source it is and an open descriptor on it
    /// (the pool closes it once the server holds its copy).
    public typealias Job = (tag: Int32, source: RunnerSource, descriptor: Int32)
    /// A worker that finished, with what the supervisor saw of it.
    public typealias Finished = (tag: Int32, outcome: WorkerOutcome)

    /// The workers running now. The pool is stepped by its caller (`step`), so whatever the
    /// caller does with a step's results (make a batch durable: two fsyncs) happens between
    /// steps, in its own code, while the workers started by that step keep running.
    private var slots: [Slot] = []
    /// Places (indices into `pipes`) with no worker.
    private lazy var free: [Int] = Array((0..<pipes.count).reversed())
    /// `next` said there is no more work.
    private var exhausted = false

    /// Runs until at least one worker has finished, then starts the next workers in the freed
    /// places and returns the finished ones (each tag exactly once over the pool's life).
    /// Returns nil once no worker is running and `next` has nothing more. With `stopping`,
    /// nothing new starts and every running worker is killed (its outcome is `interrupted`).
    public func step(next: () -> Job?, stopping: () -> Bool) throws(SystemError) -> [Finished]? {
        while true {
            let stop = stopping()
            if stop {
                for index in slots.indices where !slots[index].killRequested && !slots[index].finished {
                    try kill(&slots[index], Sys.monotonicSeconds())
                    slots[index].outcome.interrupted = true
                }
            } else {
                try refill(next)
            }
            if slots.isEmpty { return nil }

            if !slots.contains(where: \.finished) {
                let now = Sys.monotonicSeconds()
                var nearest = Double.infinity
                for slot in slots { nearest = min(nearest, slot.killRequested ? slot.reportDeadline : slot.deadline) }
                let wait = nearest.isFinite ? max(0, Int32(((nearest - now) * 1000).rounded(.up))) : -1
                try pollOnce(timeout: wait)
            }
            let after = Sys.monotonicSeconds()
            if slots.contains(where: { !$0.finished && after >= $0.reportDeadline }) {
                throw SystemError("the fork server did not report a killed worker within \(Int(Self.reportTimeout)) s", ETIMEDOUT)
            }
            if slots.contains(where: { !$0.killRequested && !$0.finished && after >= $0.deadline }) {
                // Before blaming a worker, take in every report already queued: a worker whose
                // exit report is waiting (say, while the caller was busy making a batch
                // durable) has finished, however late we look at it.
                while try pollOnce(timeout: 0) {}
                for index in slots.indices where !slots[index].killRequested && !slots[index].finished
                    && after >= slots[index].deadline {
                    try kill(&slots[index], after)
                    slots[index].outcome.timedOut = true
                }
            }
            var done: [Finished] = []
            var index = 0
            while index < slots.count {
                guard slots[index].finished else { index += 1; continue }
                var slot = slots.remove(at: index)
                // The worker is reaped, so nobody writes to its pipe any more.
                try drain(pipes[slot.place].read, into: &slot.outcome)
                slot.outcome.seconds = after - slot.started
                free.append(slot.place)
                done.append((slot.tag, slot.outcome))
            }
            guard !done.isEmpty else { continue }
            // The freed places get their next workers before the results are handed over, so
            // they run while the caller makes a batch durable instead of waiting for it.
            if !stopping() { try refill(next) }
            return done
        }
    }

    /// Every job `next` gives, to the end: `complete` once per tag.
    public func run(next: () -> Job?, complete: (Int32, WorkerOutcome) -> Void, shouldStop: () -> Bool) throws(SystemError) {
        while let finished = try step(next: next, stopping: shouldStop) {
            for worker in finished { complete(worker.tag, worker.outcome) }
        }
    }

    /// Starts workers in the free places until there is no more work.
    private func refill(_ next: () -> Job?) throws(SystemError) {
        while !exhausted, let place = free.last {
            guard let job = next() else { exhausted = true; break }
            free.removeLast()
            slots.append(try spawn(tag: job.tag, source: job.source, descriptor: job.descriptor, place: place))
        }
    }

    /// Asks the server to kill the slot's worker and starts waiting for its report.
    private func kill(_ slot: inout Slot, _ now: Double) throws(SystemError) {
        slot.killRequested = true
        slot.reportDeadline = now + Self.reportTimeout
        try server.kill(tag: slot.tag)
    }

    /// Waits up to `timeout` ms for the fork server and applies one packet of reports.
    /// Returns whether there was one.
    @discardableResult
    private func pollOnce(timeout: Int32) throws(SystemError) -> Bool {
        var ready = pollfd(fd: server.socket, events: Int16(POLLIN), revents: 0)
        let n = poll(&ready, 1, timeout)
        if n < 0 && errno != EINTR { throw SystemError("poll") }
        guard n > 0 else { return false }
        guard let messages = try server.receive() else { throw SystemError("fork server exited", EPIPE) }
        for message in messages { apply(message) }
        return true
    }

    private func spawn(tag: Int32, source: RunnerSource, descriptor: Int32, place: Int) throws(SystemError) -> Slot {
        defer { close(descriptor) }
        let now = Sys.monotonicSeconds()
        var slot = Slot(tag: tag, place: place, started: now, deadline: now + timeout)
        do throws(SystemError) {
            try server.spawn(tag: tag, source: source, descriptor: descriptor, resultPipe: pipes[place].write)
        } catch {
            slot.outcome.spawnFailure = error
        }
        return slot
    }

    /// Empties a finished worker's pipe, keeping at most one byte past the frame limit (the
    /// marker and the frame); anything beyond is read and dropped, so the pipe starts empty for
    /// the next worker. A read shorter than asked for found the pipe empty, and with the writer
    /// gone it stays empty.
    private func drain(_ pipe: Int32, into outcome: inout WorkerOutcome) throws(SystemError) {
        let limit = Self.pipeCapacityNeeded
        while true {
            let n = chunk.withUnsafeMutableBytes { read(pipe, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { return }
                throw SystemError("read from worker")
            }
            if n == 0 { return }
            if !outcome.overflowed {
                outcome.frame.append(contentsOf: chunk[0..<min(n, limit + 1 - outcome.frame.count)])
                if outcome.frame.count > limit {
                    outcome.overflowed = true
                    outcome.frame.removeAll()
                }
            }
            if n < chunk.count { return }
        }
    }

    private func apply(_ message: ForkServerMessage) {
        guard let index = slots.firstIndex(where: { $0.tag == message.tag }) else { return }
        switch message.kind {
        case .started:
            break
        case .failed:
            slots[index].outcome.spawnFailure = SystemError("fork server could not start a worker", message.value)
        case .exited:
            slots[index].outcome.termination = Termination(waitStatus: message.value)
            slots[index].outcome.maxRSSKiB = Int(message.extra)
        case .spawn, .kill, .configure:
            break
        }
    }
}
