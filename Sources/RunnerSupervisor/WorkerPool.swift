import CSandboxShim
import Glibc
import MetricsDecoding
import RunnerWorker

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
public final class WorkerPool {
    let server: ForkServer
    let jobs: Int
    let timeout: Double

    struct Slot {
        var tag: Int32
        var pipe: Int32
        var started: Double
        var deadline: Double
        var outcome = WorkerOutcome()
        var eof = false
        var killRequested = false
    }

    /// The confinement marker and the largest frame.
    static let pipeCapacityNeeded = Frame.maxSize + 1
    /// What `drain` reads into, one chunk at a time; one buffer for every worker.
    private var chunk = [UInt8](repeating: 0, count: 4096)

    public init(server: ForkServer, jobs: Int, timeout: Double) {
        self.server = server
        self.jobs = max(1, jobs)
        self.timeout = timeout
    }

    /// `next` returns the next job's tag, what kind of source it is and an open descriptor on it
    /// (the pool closes it once the server holds its copy), or nil when there is no more work.
    /// `complete` is called once per tag. `shouldStop` is polled between steps.
    public func run(
        next: () -> (tag: Int32, source: RunnerSource, descriptor: Int32)?,
        complete: (Int32, WorkerOutcome) -> Void,
        shouldStop: () -> Bool
    ) throws(SystemError) {
        var slots: [Slot] = []
        var exhausted = false
        var polls: [pollfd] = []
        while true {
            let stopping = shouldStop()
            if stopping {
                for index in slots.indices where !slots[index].killRequested {
                    slots[index].killRequested = true
                    slots[index].outcome.interrupted = true
                    try server.kill(tag: slots[index].tag)
                }
            }
            // A worker that has closed its pipe is exiting: its exit report is still awaited,
            // but it no longer holds a place, so the next fork overlaps that round trip.
            // Bounded, so slow exit reports cannot let workers pile up.
            while !stopping && !exhausted && slots.filter({ !$0.eof }).count < jobs && slots.count < jobs * 4 {
                guard let job = next() else { exhausted = true; break }
                slots.append(try spawn(tag: job.tag, source: job.source, descriptor: job.descriptor))
            }
            if slots.isEmpty { return }

            let now = Sys.monotonicSeconds()
            let nearest = slots.filter { !$0.killRequested }.map(\.deadline).min()
            let wait = nearest.map { max(0, Int32((($0 - now) * 1000).rounded(.up))) } ?? -1
            try pollOnce(&slots, &polls, timeout: wait)
            let after = Sys.monotonicSeconds()
            if slots.contains(where: { !$0.killRequested && after >= $0.deadline && !($0.eof && $0.outcome.termination != nil) }) {
                // Before blaming a worker, take in everything already queued: a worker whose
                // frame or exit report is waiting (say, while the supervisor was busy making a
                // batch durable) has finished, however late we look at it.
                while try pollOnce(&slots, &polls, timeout: 0) {}
                for index in slots.indices where !slots[index].killRequested && after >= slots[index].deadline
                    && !(slots[index].eof && slots[index].outcome.termination != nil) {
                    slots[index].killRequested = true
                    slots[index].outcome.timedOut = true
                    try server.kill(tag: slots[index].tag)
                }
            }
            var index = 0
            while index < slots.count {
                let slot = slots[index]
                if slot.eof && slot.outcome.termination != nil || slot.outcome.spawnFailure != nil {
                    close(slot.pipe)
                    var outcome = slot.outcome
                    outcome.seconds = after - slot.started
                    slots.remove(at: index)
                    complete(slot.tag, outcome)
                } else {
                    index += 1
                }
            }
        }
    }

    /// One poll over the fork server's socket and every open result pipe; handles what is
    /// ready. Returns whether anything was.
    @discardableResult
    private func pollOnce(_ slots: inout [Slot], _ polls: inout [pollfd], timeout: Int32) throws(SystemError) -> Bool {
        polls.removeAll(keepingCapacity: true)
        polls.append(pollfd(fd: server.socket, events: Int16(POLLIN), revents: 0))
        // No POLLIN: a pipe wakes the loop once, with POLLHUP, when the worker's end is closed
        // (it exited, or gave up its pipe), and everything it wrote is read then in one go —
        // not a wake-up for the marker, another for the frame and a third for the end. The
        // frame limit is far below the pipe's capacity (64 KiB), so an honest worker never
        // blocks on a pipe nobody reads; one that floods it blocks until its deadline.
        for slot in slots { polls.append(pollfd(fd: slot.eof ? -1 : slot.pipe, events: 0, revents: 0)) }
        let ready = poll(&polls, nfds_t(polls.count), timeout)
        if ready < 0 && errno != EINTR { throw SystemError("poll") }
        guard ready > 0 else { return false }
        for index in slots.indices where polls[index + 1].revents != 0 {
            try drain(&slots[index])
        }
        if polls[0].revents != 0 {
            guard let message = try server.receive() else { throw SystemError("fork server exited", EPIPE) }
            apply(message, to: &slots)
        }
        return true
    }

    private func spawn(tag: Int32, source: RunnerSource, descriptor: Int32) throws(SystemError) -> Slot {
        defer { close(descriptor) }
        var ends: [Int32] = [-1, -1]
        guard rm_pipe2(&ends, O_CLOEXEC) == 0 else { throw SystemError("pipe2") }
        defer { close(ends[1]) }
        // The pipe is read only once the worker has closed it, so an honest worker must fit
        // its marker and largest frame in it without blocking. A pipe is 64 KiB, but only 8 KiB
        // when the user's pipe pages are over fs.pipe-user-pages-soft and the tool runs without
        // CAP_SYS_RESOURCE, as the systemd unit does: then it is enlarged, or the runner kept.
        if rm_pipe_capacity(ends[0]) < Self.pipeCapacityNeeded && rm_set_pipe_capacity(ends[0], 16_384) < Self.pipeCapacityNeeded {
            let failure = SystemError("result pipe smaller than \(Self.pipeCapacityNeeded) bytes", errno)
            close(ends[0])
            throw failure
        }
        let now = Sys.monotonicSeconds()
        var slot = Slot(tag: tag, pipe: ends[0], started: now, deadline: now + timeout)
        do throws(SystemError) {
            try server.spawn(tag: tag, source: source, descriptor: descriptor, resultPipe: ends[1])
        } catch {
            slot.outcome.spawnFailure = error
            slot.eof = true
        }
        return slot
    }

    /// Reads what the worker wrote, keeping at most one byte past the frame limit. Called
    /// once poll reported the worker's end of the pipe closed: every read returns what is
    /// left, then end of file, and none can block.
    private func drain(_ slot: inout Slot) throws(SystemError) {
        // The frame plus the one-byte confinement marker before it.
        let limit = Self.pipeCapacityNeeded
        while !slot.eof {
            let n = chunk.withUnsafeMutableBytes { read(slot.pipe, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("read from worker")
            }
            if n == 0 { slot.eof = true; break }
            slot.outcome.frame.append(contentsOf: chunk[0..<min(n, limit + 1 - slot.outcome.frame.count)])
            if slot.outcome.frame.count > limit {
                // The rest is never read: it goes with the pipe.
                slot.outcome.overflowed = true
                slot.outcome.frame.removeAll()
                slot.eof = true
            }
        }
    }

    private func apply(_ message: ForkServerMessage, to slots: inout [Slot]) {
        guard let index = slots.firstIndex(where: { $0.tag == message.tag }) else { return }
        switch message.kind {
        case .started:
            break
        case .failed:
            slots[index].outcome.spawnFailure = SystemError("fork server could not start a worker", message.value)
            slots[index].eof = true
        case .exited:
            slots[index].outcome.termination = Termination(waitStatus: message.value)
            slots[index].outcome.maxRSSKiB = Int(message.extra)
        case .spawn, .kill, .configure:
            break
        }
    }
}
