import CSandboxShim
import Glibc
import Synchronization

/// Deletes runners whose events are durable on threads of their own, so that unmounting and
/// removing directory trees (measured: the largest part of the supervisor's time) overlaps the
/// workers instead of stalling them. The supervisor never forks after the fork server is
/// started, so a thread here cannot leave a lock copied into a child.
///
/// Jobs are handed over in order through a Mutex-guarded queue with a pipe as the wake-up
/// signal, one byte per thread per batch (not per runner: a wake-up per runner cost a pipe
/// write, a read and a context switch each); a thread drains the whole queue on each byte.
/// The last batch is made durable only when the last worker has finished, so its deletions
/// are the run's tail: `finish()` has the calling thread, idle by then, and `tailHelpers` more
/// threads take jobs from the same queue until it is empty (measured: the tail was a tenth of
/// a 2,000-runner run, one CPU idle). Results are read back once, after `finish()` joined them.
final class Janitor: @unchecked Sendable {
    struct Job: Sendable {
        var location: RunnerLocation
        /// The runner's issued lines, kept in the journal if its deletion fails.
        var lines: String
        /// What the run found of the runner, and the directories to delete it relative to; nil
        /// to ask the filesystem about everything.
        var known: (facts: RunnerFacts, directories: HostDirectories)? = nil
        /// Submission order, which `finish()` returns results in.
        var sequence = 0
    }

    struct Result: Sendable {
        var job: Job
        var error: SystemError?
        var seconds: Double
    }

    /// Jobs not yet taken are `jobs[next...]`: taken by index, since removeFirst moved the
    /// whole backlog on every job (measured in a profile of 2,000 runners: memmove under
    /// `drain`, with a backlog of hundreds of jobs behind each batch's fsync). The taken prefix
    /// is dropped once it is half the array, so a queue that never runs empty does not keep
    /// every deleted job's lines until the end of the run.
    private let queue = Mutex<(jobs: [Job], next: Int, results: [Result])>(([], 0, []))
    private var wake: (read: Int32, write: Int32) = (-1, -1)
    private var threads: [pthread_t] = []
    private var running: Bool { !threads.isEmpty }
    /// Jobs submitted so far; touched only by the submitting thread.
    private var submitted = 0

    /// How many threads delete while workers run. With four jobs per CPU one thread was busy
    /// for the whole run and its backlog became the tail; a second one took it (measured with
    /// Security/bench/ab.py, 2,000 runners, two runs of 21 rounds: wall -2.3 % and -2.4 %, CPU
    /// -4 % and -3.5 %).
    static let threadsDuringRun = 2

    /// Starts the threads; if none can be started, deletions run inline in `submit`.
    init() {
        var ends: [Int32] = [-1, -1]
        guard rm_pipe2(&ends, O_CLOEXEC) == 0 else { return }
        wake = (ends[0], ends[1])
        threads = startThreads(Self.threadsDuringRun) { raw in
            guard let raw else { return nil }
            Unmanaged<Janitor>.fromOpaque(raw).takeRetainedValue().loop()
            return nil
        }
        if threads.isEmpty {
            close(wake.read)
            close(wake.write)
        }
    }

    /// Queues a batch of deletions (in order) and wakes the thread once.
    func submit(_ jobs: [Job]) {
        guard !jobs.isEmpty else { return }
        var numbered = jobs
        for index in numbered.indices {
            submitted += 1
            numbered[index].sequence = submitted
        }
        guard running else {
            for job in numbered { queue.withLock { $0.results.append(Self.run(job)) } }
            return
        }
        queue.withLock { $0.jobs.append(contentsOf: numbered) }
        // A byte per thread: each wakes, drains, and sleeps again once the queue is empty.
        let bytes = [UInt8](repeating: 1, count: threads.count)
        while write(wake.write, bytes, bytes.count) < 0 && errno == EINTR {}
    }

    /// How many more threads drain the queue at the end, beside the deletion threads and the
    /// caller. Deleting a loop-mounted runner is mostly waiting (umount2 waits for RCU grace
    /// periods and the loop device's teardown, rmdir for a discard), not CPU, and by the end
    /// nothing else needs the CPUs. Measured on 200 loop-mounted runners (bench.py ext4, four
    /// runs each way): the tail 0.20-0.24 s -> 0.14-0.19 s, the run 0.25-0.29 s -> 0.19-0.24 s;
    /// four helpers did no better. Plain directories: no change (their tail is small).
    static let tailHelpers = 2

    /// Waits for every submitted deletion and returns the results in submission order.
    func finish() -> [Result] {
        if running {
            let helpers = startThreads(Self.tailHelpers) { raw in
                guard let raw else { return nil }
                let janitor = Unmanaged<Janitor>.fromOpaque(raw).takeRetainedValue()
                janitor.blockInterrupts()
                janitor.drain()
                return nil
            }
            drain()
            for helper in helpers { pthread_join(helper, nil) }
            close(wake.write)  // EOF ends the loops once the queue is empty
            for thread in threads { pthread_join(thread, nil) }
            close(wake.read)
            threads.removeAll()
        }
        let results = queue.withLock { state in
            defer { state.results.removeAll() }
            return state.results
        }
        // Two threads finish jobs out of order near the end.
        return results.sorted { $0.job.sequence < $1.job.sequence }
    }

    /// Runs queued jobs until the queue is empty (the threads' loop, and the caller at the end).
    private func drain() {
        while let job = queue.withLock({ state -> Job? in
            guard state.next < state.jobs.count else {
                state.jobs.removeAll(keepingCapacity: true)
                state.next = 0
                return nil
            }
            let job = state.jobs[state.next]
            state.next += 1
            if state.next >= 64 && 2 * state.next >= state.jobs.count {
                state.jobs.removeFirst(state.next)
                state.next = 0
            }
            return job
        }) {
            let result = Self.run(job)
            queue.withLock { $0.results.append(result) }
        }
    }

    /// Starts up to `count` threads running `entry`, each holding a reference to this janitor
    /// (`entry` takes it back); returns those that started.
    private func startThreads(
        _ count: Int, _ entry: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?
    ) -> [pthread_t] {
        var started: [pthread_t] = []
        for _ in 0..<count {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(self).toOpaque()
            if pthread_create(&thread, nil, entry, context) == 0 {
                started.append(thread)
            } else {
                Unmanaged<Janitor>.fromOpaque(context).release()
            }
        }
        return started
    }

    /// SIGTERM/SIGINT must interrupt the supervisor's poll, so no deleting thread takes them.
    private func blockInterrupts() {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        sigaddset(&blocked, SIGINT)
        pthread_sigmask(SIG_BLOCK, &blocked, nil)
    }

    private func loop() {
        blockInterrupts()
        var byte: UInt8 = 0
        while true {
            let n = read(wake.read, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            drain()
        }
    }

    private static func run(_ job: Job) -> Result {
        let start = Sys.monotonicSeconds()
        do throws(SystemError) {
            if let known = job.known {
                try job.location.delete(known.facts, in: known.directories)
            } else {
                try job.location.delete()
            }
            return Result(job: job, error: nil, seconds: Sys.monotonicSeconds() - start)
        } catch {
            return Result(job: job, error: error, seconds: Sys.monotonicSeconds() - start)
        }
    }
}

