import Glibc
import MetricsDecoding
import WorkerProtocol

/// One `extract` run, as stages whose values flow forward (Security/DURABILITY.md):
///
///     recover   finish what an earlier run left half done (Recovery.swift)
///     discover  list the runner directory                    -> `Discovered`
///     extract   a worker per runner, verdicts in batches       -> `[Pending]`
///     enrich    what the GitHub API says of their jobs, if on  -> `[runner: EnrichmentResult]`
///     commit    one batch: journal, metric lines, audit and quarantine -> what is durable
///     delete    the durable runners, on the janitor's threads (Janitor.swift)
///     finish    collect the deletions, fsync the directories, empty the journal
///
/// The only place that writes the metrics log, the audit log and the journal. Each stage
/// reports what became of its runners through `RunSummary.record`, the one place they are
/// counted.
public final class ExtractRun {
    let config: ExtractConfiguration
    let server: ForkServer
    let diagnostics: Diagnostics
    /// Asks the GitHub API about issued runners' jobs (nil: enrichment is off).
    let enricher: GitHubEnricher?
    let journal: Journal
    let metricsLog: AppendLog
    let auditLog: AppendLog
    var summary = RunSummary()
    /// Entries audited once and left in place (HeldRegistry.swift).
    var registry: HeldRegistry
    /// What the runner directory held when the run looked: discovery's listing, or before
    /// discovery (recovery) one of its own, made when first needed.
    var listing: RunnerListing?
    /// Records the next run's recovery still needs: intents whose lines may be out although
    /// their batch failed, and durable runners whose deletion could not be settled (audited)
    /// in this run because the journal failed.
    var outstanding: [Journal.Record] = []
    /// Audit lines appended that no fsync has covered yet.
    var auditUnsynced = false
    /// The journal or the metrics log failed to take a batch. No later batch is attempted:
    /// after a failed fsync the kernel may report the next fsync of the same file as a success
    /// although the failed batch's pages never reached the disk. The run stops starting
    /// workers and keeps every runner not yet durable.
    var durabilityFailed = false
    var uniqueCounter = 0
    /// Deletes on its own threads (Janitor.swift).
    let janitor = Janitor()

    /// The runner directory's device and the inode of each valid name in it: how a held
    /// entry is recognised (HeldRegistry.swift).
    struct RunnerListing {
        var device: UInt64?
        var inodes: [String: UInt64] = [:]

        init(device: UInt64?, entries: [DiscoveredEntry]) {
            self.device = device
            for entry in entries { if let name = entry.name { inodes[name] = entry.inode } }
        }
    }

    /// What discovery found: the open host directories, and the runners to extract in order.
    struct Discovered {
        let directories: HostDirectories
        let names: [String]
    }

    /// A runner with its verdict, waiting for its batch.
    struct Pending {
        var location: RunnerLocation
        var verdict: RunnerVerdict
        /// What was found when the runner went to its worker (nil: it never did).
        var facts: RunnerFacts? = nil
    }

    /// Runs one extraction. Nothing is touched when the state directory, the journal or a
    /// log cannot be opened: the run reports the error and exits 1.
    public static func perform(config: ExtractConfiguration, server: ForkServer, enricher: GitHubEnricher? = nil,
                               diagnostics: Diagnostics) -> RunSummary {
        let started = Sys.monotonicSeconds()
        var summary: RunSummary
        do throws(SystemError) {
            summary = try ExtractRun(config: config, server: server, enricher: enricher, diagnostics: diagnostics).runStages()
        } catch {
            summary = RunSummary()
            summary.errors += 1
            diagnostics.emit(.error, error.description)
        }
        summary.durationSeconds = Sys.monotonicSeconds() - started
        return summary
    }

    /// Opens what the run writes.
    init(config: ExtractConfiguration, server: ForkServer, enricher: GitHubEnricher?, diagnostics: Diagnostics) throws(SystemError) {
        self.config = config
        self.server = server
        self.enricher = enricher
        self.diagnostics = diagnostics
        try Sys.ensureDirectory(config.stateDir, mode: 0o700)
        journal = try Journal(stateDir: config.stateDir)
        metricsLog = try AppendLog(path: config.metricsLog, mode: 0o644)
        auditLog = try AppendLog(path: config.auditLog, mode: 0o600)
        registry = HeldRegistry(stateDir: config.stateDir)
    }

    private func runStages() -> RunSummary {
        recover()
        guard let discovered = discover() else { return summary }
        extract(discovered)
        finish()
        return summary
    }

    /// Adds the wall time since `start` to a phase of `summary.phaseSeconds`.
    func account(_ phase: String, since start: Double) {
        summary.phaseSeconds[phase, default: 0] += Sys.monotonicSeconds() - start
    }

    func fail(_ message: String, runner: String? = nil) {
        summary.errors += 1
        diagnostics.emit(.error, message, runner: runner)
    }

    func location(_ name: String) -> RunnerLocation {
        RunnerLocation(name: name, runnerFSDir: config.runnerFSDir, imagesDir: config.imagesDir)
    }

    // MARK: Discovery

    /// Opens the host directories and lists the runners to extract: not those audited by an
    /// earlier run (held), invalid names (audited once here, then held) or ignored ones.
    func discover() -> Discovered? {
        let directories: HostDirectories
        let entries: [DiscoveredEntry]
        do throws(SystemError) {
            guard let opened = try HostDirectories(runnerFSDir: config.runnerFSDir, imagesDir: config.imagesDir) else {
                diagnostics.emit(.info, "\(config.runnerFSDir) does not exist: nothing to do")
                return nil
            }
            directories = opened
            entries = try Discovery.list(descriptor: opened.runnerFS, config.runnerFSDir)
        } catch {
            fail(error.description)
            return nil
        }
        listing = RunnerListing(device: directories.runnerFSDevice, entries: entries)
        checkQuarantineLayout(directories)
        registry.keepOnly(Set(entries.map(\.rawName)))
        // fsck's directory at the root of a filesystem: the runner-fs directory is a mount of
        // its own, and lost+found is the filesystem's, not a runner.
        let filesystemRoot = directories.runnerFSIdentity?.isMountRoot == true
        var names: [String] = []
        var invalid: [(entry: AuditEntry, held: HeldRegistry.Entry)] = []
        for entry in entries {
            if filesystemRoot && entry.rawName == Self.lostAndFound { continue }
            if registry.match(entry.rawName, device: directories.runnerFSDevice, inode: entry.inode) != nil {
                // Audited by an earlier run and still the same inode: counted, not touched.
                summary.record(.heldEarlier)
                continue
            }
            guard let name = entry.name else {
                summary.record(.invalidName)
                invalid.append((AuditEntry(
                    timestamp: Sys.wallSeconds(), runner: entry.displayName, flavor: config.flavor,
                    reason: .invalidRunnerName, detail: "name outside [A-Za-z0-9._-]{1,128}; not touched"),
                    .init(rawName: entry.rawName, device: directories.runnerFSDevice, inode: entry.inode,
                          reason: ReasonCode.invalidRunnerName.rawValue)))
                continue
            }
            if config.ignore.contains(name) {
                summary.record(.ignored)
                continue
            }
            names.append(name)
        }
        for item in invalid {
            do throws(SystemError) {
                try auditLog.append(item.entry.jsonLine)
                auditUnsynced = true
                // Held only once its line is out: a line that failed is tried again next run.
                registry.hold(item.held)
            } catch { fail("audit log: \(error)") }
        }
        return Discovered(directories: directories, names: names)
    }

    static let lostAndFound = Array("lost+found".utf8)

    // MARK: Workers

    /// Runs a worker per runner, up to `jobs` at a time, and commits their verdicts in batches
    /// as they come in: a batch's runners are deleted while later workers still run.
    func extract(_ discovered: Discovered) {
        let names = discovered.names
        var batch: [Pending] = []
        var cursor = 0
        var inFlight: [Int32: (name: String, facts: RunnerFacts)] = [:]
        var completed = 0
        // Opens runners until one goes to a worker; one the supervisor decides alone (not a
        // directory, cannot be opened) joins the batch at once.
        func nextJob() -> WorkerPool.Job? {
            while cursor < names.count && !Interrupt.requested && !durabilityFailed {
                let name = names[cursor]
                cursor += 1
                switch open(name, in: discovered.directories) {
                case .worker(let source, let fd, let facts):
                    inFlight[Int32(cursor)] = (name, facts)
                    return (Int32(cursor), source, fd)
                case .verdict(let verdict):
                    batch.append(Pending(location: location(name), verdict: verdict))
                }
            }
            return nil
        }
        // The span from the first worker to the last verdict (commits included).
        let workersStart = Sys.monotonicSeconds()
        do throws(SystemError) {
            let pool = try WorkerPool(server: server, jobs: config.jobs, timeout: config.workerTimeout)
            while let finished = try pool.step(next: nextJob, stopping: { Interrupt.requested || durabilityFailed }) {
                for worker in finished {
                    guard let runner = inFlight.removeValue(forKey: worker.tag) else { continue }
                    summary.workerSeconds.append(worker.outcome.seconds)
                    summary.workerMaxRSSKiB = max(summary.workerMaxRSSKiB, worker.outcome.maxRSSKiB)
                    batch.append(Pending(location: location(runner.name), verdict: VerdictClassifier.classify(worker.outcome),
                                         facts: runner.facts))
                    completed += 1
                }
                if batch.count >= Self.batchLimit(config.batchSize, remaining: names.count - completed) {
                    commit(batch, in: discovered.directories)
                    batch.removeAll(keepingCapacity: true)
                }
            }
        } catch {
            fail("worker pool: \(error); the runners not finished are kept")
            summary.record(.kept(count: names.count - cursor + inFlight.count))
            cursor = names.count
        }
        summary.phaseSeconds["workers"] = Sys.monotonicSeconds() - workersStart
        commit(batch, in: discovered.directories)
        let notStarted = names.count - cursor
        if Interrupt.requested {
            summary.interrupted = true
            summary.record(.kept(count: notStarted))
            diagnostics.emit(.warning, "interrupted: \(notStarted) runners not started are kept")
        } else if durabilityFailed {
            summary.record(.kept(count: notStarted))
            diagnostics.emit(.warning, "stopped after the failure above: \(notStarted) runners not started are kept")
        }
    }

    /// How many verdicts make a batch with `remaining` runners still to finish. Deletion waits
    /// for its batch's fsync, so whatever the last batch holds is deleted after the last worker
    /// is done, with nothing left to overlap it: near the end, batches shrink to half of what
    /// remains (never under 32), so the final one is small. About five more batches per run
    /// (measured: with 256 to the end, that last deletion was a tenth of a 2,000-runner run).
    static func batchLimit(_ batchSize: Int, remaining: Int) -> Int {
        min(batchSize, max(min(32, batchSize), remaining / 2))
    }

    enum Opened {
        case worker(RunnerSource, Int32, RunnerFacts)
        case verdict(RunnerVerdict)
    }

    /// The supervisor opens the runner directory itself (O_DIRECTORY|O_NOFOLLOW: a symlink,
    /// FIFO or device in its place is refused without being opened for I/O) and hands the
    /// descriptor to the worker. After a reboot the directory is an empty, unmounted mount
    /// point and the image holds the data: the worker then gets the image, read-only, and
    /// reads it from userspace — the attacker's filesystem is never mounted on the host.
    func open(_ name: String, in directories: HostDirectories) -> Opened {
        let fd = openat(directories.runnerFS, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 {
            let code = errno
            if code == ELOOP || code == ENOTDIR {
                return .verdict(.rejected(Rejection(.notADirectory, "runner entry is not a directory (errno \(code))"), termination: nil))
            }
            return .verdict(.kept(SystemError("open runner directory", code).description))
        }
        let (mounted, identity) = directories.look(fd)
        // The image is deleted with the runner whether or not it is read (a mounted runner's
        // image is the normal case); it is read only when nothing is mounted on the directory.
        let hasImage = directories.hasImage(name)
        var facts = RunnerFacts(mounted: mounted, hasImage: hasImage)
        if !mounted { facts.directory = identity }
        guard !mounted, hasImage, let images = directories.images else {
            return .worker(.directory, fd, facts)
        }
        guard let image = EntryIdentity.of(images, name + ".img"), image.isRegular else {
            return .worker(.directory, fd, facts)
        }
        close(fd)
        let imageFD = openat(images, name + ".img", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard imageFD >= 0 else { return .verdict(.kept(SystemError("open \(location(name).imagePath)").description)) }
        facts.image = image
        return .worker(.image, imageFD, facts)
    }

    // MARK: Making verdicts durable

    func uniqueSuffix() -> String {
        uniqueCounter += 1
        return "\(Int(Sys.wallSeconds()))-\(getpid())-\(uniqueCounter)"
    }

    /// Asks the GitHub API process about the job of each runner that gets a runner_start (the
    /// installed timestamp and pre-job metrics), as later upstream does. The process is bounded
    /// per request and per run (GitHubEnrichment.swift), so a slow or dead API delays this
    /// batch's deletions by at most the run's budget, and its runners are issued either way.
    func enrich(_ batch: [Pending]) -> [String: EnrichmentResult] {
        guard let enricher else { return [:] }
        var requests: [EnrichmentRequest] = []
        for item in batch {
            guard case .valid(let record) = item.verdict, record.installed != nil, let pre = record.preJob else { continue }
            requests.append(EnrichmentRequest(runner: item.location.name, repository: pre.repository,
                                              workflowRunID: pre.workflowRunID))
        }
        guard !requests.isEmpty else { return [:] }
        let start = Sys.monotonicSeconds()
        defer { account("github", since: start) }
        var results: [String: EnrichmentResult] = [:]
        for (request, result) in zip(requests, enricher.enrich(requests)) { results[request.runner] = result }
        for request in requests where results[request.runner] == nil { results[request.runner] = .failed(.processFailed) }
        return results
    }

    /// A runner of a batch whose events go out.
    struct Issue {
        var location: RunnerLocation
        var lines: String
        var events: [MetricEvent]
        var facts: RunnerFacts?
        /// What the GitHub API said (nil: not asked).
        var enrichment: EnrichmentResult?
    }

    /// What one batch will do, decided before anything is written: every line in one buffer,
    /// the journal records that announce them, the rejected runners to quarantine.
    struct BatchPlan {
        var issues: [Issue] = []
        var quarantines: [Settlement] = []
        var records: [Journal.Record] = []
        /// Every line of the batch, in order: written with one write(2).
        var text: [UInt8] = []
    }

    /// The per-batch protocol of Security/DURABILITY.md: plan, journal, lines, quarantine,
    /// then the durable runners go to the janitor.
    func commit(_ batch: [Pending], in directories: HostDirectories) {
        guard !batch.isEmpty else { return }
        guard !durabilityFailed else {
            summary.record(.kept(count: batch.count))
            return
        }
        guard let plan = plan(batch, jobs: enrich(batch)) else { return }
        guard let issued = makeDurable(plan) else { return }

        let quarantineStart = Sys.monotonicSeconds()
        settle(plan.quarantines, journaled: true)
        account("quarantine", since: quarantineStart)

        // Deleted on the janitor's threads, overlapping the next workers.
        janitor.submit(issued.map { issue in
            Janitor.Job(location: issue.location, lines: issue.lines, known: issue.facts.map { ($0, directories) })
        })
    }

    /// Turns a batch's verdicts into lines, journal records and quarantines. Workers finish
    /// in any order; lines go out in runner-name order within a batch, so a run's output does
    /// not depend on scheduling. The lines carry the enrichment, so the journal's intent holds
    /// exactly the bytes that go out: recovery finds them in the log or issues the runner
    /// afresh, never both with and without the API's fields. Nil when the metrics log cannot
    /// be opened (the batch is kept).
    func plan(_ unordered: [Pending], jobs: [String: EnrichmentResult]) -> BatchPlan? {
        let batch = unordered.sorted { $0.location.name < $1.location.name }
        let logState: (dev: UInt64, ino: UInt64, size: Int64)
        do throws(SystemError) { logState = try metricsLog.ensureCurrent() } catch {
            fail("metrics log: \(error)")
            summary.record(.kept(count: batch.count))
            durabilityFailed = true
            return nil
        }
        var plan = BatchPlan()
        var offset = logState.size
        for item in batch {
            let name = item.location.name
            switch item.verdict {
            case .kept(let why):
                summary.record(.kept(count: 1))
                diagnostics.emit(.warning, "kept: \(why)", runner: name)
            case .valid(let record):
                for file in record.emptyFiles.files {
                    summary.record(.emptyFile(file))
                    diagnostics.emit(.warning, "\(file.rawValue) is empty (0 bytes): decided as absent, as upstream does", runner: name)
                }
                let enrichment = jobs[name]
                let job: GitHubJob?
                switch enrichment {
                case let .enriched(queueDuration, conclusion)?: job = GitHubJob(queueDuration: queueDuration, conclusion: conclusion)
                case .failed?, nil: job = nil
                }
                let events = MetricEvent.events(for: record, job: job)
                let start = plan.text.count
                for event in events { event.appendLine(flavor: config.flavor, to: &plan.text) }
                let lines = String(decoding: plan.text[start...], as: UTF8.self)
                if !lines.isEmpty {
                    plan.records.append(.intent(name: name, dev: logState.dev, ino: logState.ino, offset: offset, lines: lines))
                    offset += Int64(plan.text.count - start)
                }
                var facts = item.facts
                facts?.files = RunnerFacts.Files(record)
                plan.issues.append(Issue(location: item.location, lines: lines, events: events, facts: facts,
                                         enrichment: enrichment))
            case let .rejected(rejection, termination):
                let evidence = item.location.evidencePath(in: config.quarantineDir, unique: uniqueSuffix())
                let entry = AuditEntry(timestamp: Sys.wallSeconds(), runner: name, flavor: config.flavor,
                                       reason: rejection.code, file: rejection.file, detail: rejection.detail,
                                       evidence: evidence, termination: termination)
                plan.records.append(.quarantine(name: name, evidence: evidence, auditLine: entry.jsonLine))
                plan.quarantines.append(Settlement(location: item.location, entry: entry, facts: item.facts))
            }
        }
        return plan
    }

    /// Journals the plan (one fsync), then appends its lines (one write, one fsync): a runner
    /// is deleted only after this. Returns the runners whose events are durable, or nil when
    /// the journal failed and nothing of the batch happened. When the lines fail, the run
    /// stops making batches durable, and its quarantines still go ahead (their records are
    /// journaled).
    func makeDurable(_ plan: BatchPlan) -> [Issue]? {
        let journalStart = Sys.monotonicSeconds()
        do throws(SystemError) {
            try journal.append(plan.records)
            try journal.sync()
            account("journal", since: journalStart)
        } catch {
            fail("journal: \(error); the batch is kept")
            durabilityFailed = true
            summary.record(.kept(count: plan.issues.count + plan.quarantines.count))
            return nil
        }
        let logStart = Sys.monotonicSeconds()
        defer { account("metrics_log", since: logStart) }
        do throws(SystemError) {
            if !plan.text.isEmpty {
                try metricsLog.append(plan.text)
                try metricsLog.sync()
                if !metricsLog.isCurrent() {
                    // Rotated between our check and the fsync: the lines went to the file
                    // logrotate took away. Write them again into the new file.
                    diagnostics.emit(.warning, "metrics log rotated during the write; writing the batch again")
                    try metricsLog.ensureCurrent()
                    try metricsLog.append(plan.text)
                    try metricsLog.sync()
                }
            }
        } catch {
            fail("metrics log: \(error); the batch's runners are kept for the next run")
            durabilityFailed = true
            summary.record(.kept(count: plan.issues.count))
            // The lines may already be readable in the page cache (and shipped) if the write
            // went through and the fsync failed: keep their intents, so the next run's
            // recovery looks for them in the log before extracting those runners again.
            for record in plan.records { if case .intent = record { outstanding.append(record) } }
            return []
        }
        for issue in plan.issues {
            summary.record(.issued(issue.events))
            if let enrichment = issue.enrichment { summary.record(.enrichment(enrichment)) }
        }
        try? journal.append(plan.issues.filter { !$0.lines.isEmpty }.map { .written(name: $0.location.name) })
        return plan.issues
    }

    /// Collects the janitor's deletions (all of them, after its thread ended). A tree that
    /// could not be removed is quarantined or held and audited once, and the run goes on.
    func collectDeletions() {
        var done: [Journal.Record] = []
        var failed: [(settlement: Settlement, lines: String)] = []
        for result in janitor.finish() {
            summary.phaseSeconds["delete", default: 0] += result.seconds
            let name = result.job.location.name
            if let error = result.error {
                failed.append((undeletable(result.job.location, error, facts: result.job.known?.facts), result.job.lines))
            } else {
                summary.record(.deleted)
                done.append(.done(name: name))
            }
        }
        try? journal.append(done)
        settleUndeletable(failed)
    }

    /// Makes the batch's renames and unlinks durable, then empties the journal (keeping only
    /// runners whose events are out but whose deletion failed).
    func finish() {
        let tailStart = Sys.monotonicSeconds()
        collectDeletions()
        // After the last batch was made durable: its deletions and whatever the deletion
        // thread had queued, which nothing overlaps any more.
        account("deletion_tail", since: tailStart)
        let start = Sys.monotonicSeconds()
        defer { account("directory_fsync_and_journal", since: start) }
        for directory in [config.runnerFSDir, config.imagesDir, config.quarantineDir] {
            do throws(SystemError) { try Sys.fsyncDirectory(directory) } catch {
                if error.code != ENOENT { fail("fsync \(directory): \(error)") }
            }
        }
        saveRegistry()
        do throws(SystemError) {
            try journal.replace(with: outstanding)
        } catch {
            fail("journal: \(error)")
        }
    }
}
