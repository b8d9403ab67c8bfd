import Glibc
import MetricsDecoding
import WorkerProtocol

/// One `extract` run: discover, run workers, make verdicts durable in batches, delete or
/// quarantine. The only place that writes the metrics log, the audit log and the journal.
public final class ExtractRun {
    let config: ExtractConfiguration
    let server: ForkServer
    let diagnostics: Diagnostics
    var summary = RunSummary()
    var uniqueCounter = 0
    /// Records the next run's recovery still needs: intents whose lines may be out although
    /// their batch failed, and durable runners whose deletion could not be settled (audited)
    /// in this run because the journal failed.
    var outstanding: [Journal.Record] = []
    /// Entries audited once and left in place (HeldRegistry.swift).
    var registry: HeldRegistry!
    /// d_ino of each valid runner-fs entry, from the run's listing (or recovery's own).
    var listedInodes: [String: UInt64] = [:]
    var runnerFSDevice: UInt64?
    /// Audit lines appended that no fsync has covered yet.
    var auditUnsynced = false
    /// Deletes on its own thread (Janitor.swift).
    let janitor = Janitor()
    /// The journal or the metrics log failed to take a batch. No later batch is attempted:
    /// after a failed fsync the kernel may report the next fsync of the same file as a success
    /// although the failed batch's pages never reached the disk. The run stops starting
    /// workers and keeps every runner not yet durable.
    var durabilityFailed = false

    var journal: Journal!
    var metricsLog: AppendLog!
    var auditLog: AppendLog!

    /// The run's host directories, opened at discovery.
    var directories: HostDirectories!

    struct Pending {
        var location: RunnerLocation
        var verdict: RunnerVerdict
        /// What was found when the runner went to its worker (nil: it never did).
        var facts: RunnerFacts? = nil
    }

    public init(config: ExtractConfiguration, server: ForkServer, diagnostics: Diagnostics) {
        self.config = config
        self.server = server
        self.diagnostics = diagnostics
    }

    public func run() -> RunSummary {
        let started = Sys.monotonicSeconds()
        runSteps()
        summary.durationSeconds = Sys.monotonicSeconds() - started
        return summary
    }

    private func runSteps() {
        do throws(SystemError) {
            try Sys.ensureDirectory(config.stateDir, mode: 0o700)
            journal = try Journal(stateDir: config.stateDir)
            metricsLog = try AppendLog(path: config.metricsLog, mode: 0o644)
            auditLog = try AppendLog(path: config.auditLog, mode: 0o600)
            registry = HeldRegistry(stateDir: config.stateDir)
        } catch {
            fail(error.description)
            return
        }
        recover()
        guard let entries = discover() else { return }
        process(entries)
        finish()
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

    func discover() -> [String]? {
        let entries: [DiscoveredEntry]
        do throws(SystemError) {
            guard let opened = try HostDirectories(runnerFSDir: config.runnerFSDir, imagesDir: config.imagesDir) else {
                diagnostics.emit(.info, "\(config.runnerFSDir) does not exist: nothing to do")
                return nil
            }
            directories = opened
            runnerFSDevice = opened.runnerFSDevice
            entries = try Discovery.list(descriptor: opened.runnerFS, config.runnerFSDir)
        } catch {
            fail(error.description)
            return nil
        }
        checkQuarantineLayout()
        registry.keepOnly(Set(entries.map(\.rawName)))
        // fsck's directory at the root of a filesystem: the runner-fs directory is a mount of
        // its own, and lost+found is the filesystem's, not a runner.
        let filesystemRoot = directories.runnerFSIdentity?.isMountRoot == true
        var names: [String] = []
        var invalid: [(entry: AuditEntry, held: HeldRegistry.Entry)] = []
        for entry in entries {
            if let name = entry.name { listedInodes[name] = entry.inode }
            if filesystemRoot && entry.rawName == Self.lostAndFound { continue }
            if registry.match(entry.rawName, device: directories.runnerFSDevice, inode: entry.inode) != nil {
                // Audited by an earlier run and still the same inode: counted, not touched.
                summary.held += 1
                continue
            }
            guard let name = entry.name else {
                summary.skipped += 1
                summary.held += 1
                invalid.append((AuditEntry(
                    timestamp: Sys.wallSeconds(), runner: entry.displayName, flavor: config.flavor,
                    reason: .invalidRunnerName, detail: "name outside [A-Za-z0-9._-]{1,128}; not touched"),
                    .init(rawName: entry.rawName, device: directories.runnerFSDevice, inode: entry.inode,
                          reason: ReasonCode.invalidRunnerName.rawValue)))
                continue
            }
            if config.ignore.contains(name) {
                summary.ignored += 1
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
        return names
    }

    static let lostAndFound = Array("lost+found".utf8)

    // MARK: Workers

    func process(_ names: [String]) {
        var pending: [Pending] = []
        var cursor = 0
        var inFlight: [Int32: (name: String, facts: RunnerFacts)] = [:]
        var completed = 0
        // The span from the first worker to the last verdict (flushes included).
        let workersStart = Sys.monotonicSeconds()
        var workersEnd = 0.0
        defer { summary.phaseSeconds["workers"] = workersEnd - workersStart }
        do throws(SystemError) {
            let pool = try WorkerPool(server: server, jobs: config.jobs, timeout: config.workerTimeout)
            try pool.run(
                next: {
                    while cursor < names.count && !Interrupt.requested && !durabilityFailed {
                        let name = names[cursor]
                        cursor += 1
                        switch open(name) {
                        case .worker(let source, let fd, let facts):
                            inFlight[Int32(cursor)] = (name, facts)
                            return (Int32(cursor), source, fd)
                        case .verdict(let verdict):
                            pending.append(Pending(location: location(name), verdict: verdict))
                        }
                    }
                    return nil
                },
                complete: { tag, outcome in
                    guard let runner = inFlight.removeValue(forKey: tag) else { return }
                    summary.workerSeconds.append(outcome.seconds)
                    summary.workerMaxRSSKiB = max(summary.workerMaxRSSKiB, outcome.maxRSSKiB)
                    pending.append(Pending(location: location(runner.name), verdict: VerdictClassifier.classify(outcome),
                                           facts: runner.facts))
                    completed += 1
                    if pending.count >= Self.batchLimit(config.batchSize, remaining: names.count - completed) {
                        flush(pending)
                        pending.removeAll(keepingCapacity: true)
                    }
                },
                shouldStop: { Interrupt.requested || durabilityFailed }
            )
            workersEnd = Sys.monotonicSeconds()
        } catch {
            workersEnd = Sys.monotonicSeconds()
            fail("worker pool: \(error); the runners not finished are kept")
            summary.kept += names.count - cursor + inFlight.count
            cursor = names.count
        }
        flush(pending)
        if Interrupt.requested {
            summary.interrupted = true
            summary.kept += names.count - cursor
            diagnostics.emit(.warning, "interrupted: \(names.count - cursor) runners not started are kept")
        } else if durabilityFailed {
            summary.kept += names.count - cursor
            diagnostics.emit(.warning, "stopped after the failure above: \(names.count - cursor) runners not started are kept")
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
    func open(_ name: String) -> Opened {
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

    /// The per-batch protocol of Security/DURABILITY.md.
    func flush(_ unordered: [Pending]) {
        guard !unordered.isEmpty else { return }
        if durabilityFailed {
            summary.kept += unordered.count
            return
        }
        // Workers finish in any order; lines go out in runner-name order within a batch so a
        // run's output does not depend on scheduling.
        let batch = unordered.sorted { $0.location.name < $1.location.name }
        struct Issue { var location: RunnerLocation; var lines: String; var events: [MetricEvent]; var facts: RunnerFacts? }
        var issues: [Issue] = []
        var quarantines: [Settlement] = []
        var records: [Journal.Record] = []

        let logState: (dev: UInt64, ino: UInt64, size: Int64)
        do throws(SystemError) { logState = try metricsLog.ensureCurrent() } catch {
            fail("metrics log: \(error)")
            summary.kept += batch.count
            durabilityFailed = true
            return
        }
        var offset = logState.size
        // Every line of the batch, in order: written with one write(2).
        var text: [UInt8] = []
        for item in batch {
            let name = item.location.name
            switch item.verdict {
            case .kept(let why):
                summary.kept += 1
                diagnostics.emit(.warning, "kept: \(why)", runner: name)
            case .valid(let record):
                for file in record.emptyFiles.files {
                    summary.emptyFiles[file, default: 0] += 1
                    diagnostics.emit(.warning, "\(file.rawValue) is empty (0 bytes): decided as absent, as upstream does", runner: name)
                }
                let events = MetricEvent.events(for: record)
                let start = text.count
                for event in events { event.appendLine(flavor: config.flavor, to: &text) }
                let lines = String(decoding: text[start...], as: UTF8.self)
                if !lines.isEmpty {
                    records.append(.intent(name: name, dev: logState.dev, ino: logState.ino, offset: offset, lines: lines))
                    offset += Int64(text.count - start)
                }
                var facts = item.facts
                facts?.files = RunnerFacts.Files(record)
                issues.append(Issue(location: item.location, lines: lines, events: events, facts: facts))
            case let .rejected(rejection, termination):
                let suffix = uniqueSuffix()
                let evidence = item.location.evidencePath(in: config.quarantineDir, unique: suffix)
                let entry = AuditEntry(timestamp: Sys.wallSeconds(), runner: name, flavor: config.flavor,
                                       reason: rejection.code, file: rejection.file, detail: rejection.detail,
                                       evidence: evidence, termination: termination)
                records.append(.quarantine(name: name, evidence: evidence, auditLine: entry.jsonLine))
                quarantines.append(Settlement(location: item.location, entry: entry, facts: item.facts))
            }
        }
        let journalStart = Sys.monotonicSeconds()
        do throws(SystemError) {
            try journal.append(records)
            try journal.sync()
            account("journal", since: journalStart)
        } catch {
            fail("journal: \(error); the batch is kept")
            durabilityFailed = true
            summary.kept += issues.count + quarantines.count
            return
        }

        // 1. The batch's lines in one write, then one fsync. A runner is deleted only after this.
        let logStart = Sys.monotonicSeconds()
        var issued: [Issue] = []
        var written: [Journal.Record] = []
        do throws(SystemError) {
            if !text.isEmpty {
                try metricsLog.append(text)
                try metricsLog.sync()
                if !metricsLog.isCurrent() {
                    // Rotated between our check and the fsync: the lines went to the file
                    // logrotate took away. Write them again into the new file.
                    diagnostics.emit(.warning, "metrics log rotated during the write; writing the batch again")
                    try metricsLog.ensureCurrent()
                    try metricsLog.append(text)
                    try metricsLog.sync()
                }
            }
            issued = issues
            for issue in issued {
                issue.events.forEach { summary.count($0) }
                if !issue.lines.isEmpty { written.append(.written(name: issue.location.name)) }
            }
        } catch {
            fail("metrics log: \(error); the batch's runners are kept for the next run")
            durabilityFailed = true
            summary.kept += issues.count
            // The lines may already be readable in the page cache (and shipped) if the write
            // went through and the fsync failed: keep their intents, so the next run's
            // recovery looks for them in the log before extracting those runners again.
            for record in records { if case .intent = record { outstanding.append(record) } }
        }
        try? journal.append(written)
        account("metrics_log", since: logStart)

        // 2. Quarantine: move the evidence, then audit it (Settlement.swift).
        let quarantineStart = Sys.monotonicSeconds()
        _ = settle(quarantines, journaled: true)
        account("quarantine", since: quarantineStart)

        // 3. Delete what is durable: on the janitor's thread, overlapping the next workers.
        janitor.submit(issued.map { issue in
            Janitor.Job(location: issue.location, lines: issue.lines,
                        known: issue.facts.map { ($0, directories) })
        })
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
                summary.deleted += 1
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
