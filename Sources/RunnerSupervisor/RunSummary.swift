import Glibc
import MetricsDecoding

/// What became of runners in a stage of a run (`RunSummary.record`).
enum RunnerOutcome {
    /// Not finished in this run (a failure, an interruption): left for the next one.
    case kept(count: Int)
    /// Named in the ignore file.
    case ignored
    /// A name outside the runner-name syntax: audited once, never touched.
    case invalidName
    /// Audited by an earlier run and still in place.
    case heldEarlier
    /// These events are in the metrics log, fsynced.
    case issued([MetricEvent])
    /// A 0-byte runner file, decided as absent.
    case emptyFile(RunnerFile)
    /// The runner's filesystem is gone.
    case deleted
    /// An audit line is out for the runner; `held`: its evidence stays where it was.
    case audited(AuditReason, held: Bool)
    /// The runner's events went out with what the GitHub API said, or without it and why.
    case enrichment(EnrichmentResult)
}

/// What a run did, for `--json`, the human summary, the textfile and the exit status.
public struct RunSummary: Sendable, Equatable {
    public var runnerInstalled = 0
    public var runnerStart = 0
    public var runnerStop = 0
    public var deleted = 0
    public var quarantined = 0
    public var ignored = 0
    public var skipped = 0
    public var kept = 0
    public var errors = 0
    /// Entries audited once and still where they are (held in `<state-dir>/held`): evidence
    /// that could not be moved, trees that could not be removed, invalid names. They do not
    /// change the exit status after the run that audited them.
    public var held = 0
    /// Runners issued whose filesystem could not be removed, audited as `undeletable` (and
    /// quarantined, or held where that was impossible).
    public var undeletable = 0
    public var quarantinedByReason: [ReasonCode: Int] = [:]
    /// 0-byte runner files, decided as absent (upstream's writers leave them when jq fails).
    public var emptyFiles: [RunnerFile: Int] = [:]
    /// Runners issued with the GitHub API's `queue_duration` (and `job_conclusion`).
    public var githubEnriched = 0
    /// Runners the API was asked about and issued without its fields, by why.
    public var githubFailures: [EnrichmentFailure: Int] = [:]
    public var githubUnenriched: Int { githubFailures.values.reduce(0, +) }
    public var workerSeconds: [Double] = []
    /// Peak resident set of any worker, KiB.
    public var workerMaxRSSKiB = 0
    /// Where the supervisor's time went, seconds (README, "Performance").
    public var phaseSeconds: [String: Double] = [:]
    public var durationSeconds = 0.0
    public var interrupted = false
    /// The quarantine after the run: what is there, and what retention removed.
    public var quarantine = QuarantineRetention.Report()

    public init() {}

    /// 0 all handled, none rejected; 3 completed with rejections; 1 operational failure,
    /// including any runner kept for a later run (someone should look).
    public var exitStatus: Int32 {
        if errors > 0 || interrupted || kept > 0 { return 1 }
        if quarantined > 0 || skipped > 0 || undeletable > 0 { return 3 }
        return 0
    }

    /// The one place a run's runners are counted: each stage reports what became of them.
    mutating func record(_ outcome: RunnerOutcome) {
        switch outcome {
        case .kept(let count):
            kept += count
        case .ignored:
            ignored += 1
        case .invalidName:
            skipped += 1
            held += 1
        case .heldEarlier:
            held += 1
        case .issued(let events):
            for event in events {
                switch event {
                case .runnerInstalled: runnerInstalled += 1
                case .runnerStart: runnerStart += 1
                case .runnerStop: runnerStop += 1
                }
            }
        case .emptyFile(let file):
            emptyFiles[file, default: 0] += 1
        case .deleted:
            deleted += 1
        case let .audited(reason, held):
            switch reason {
            case .rejected(let code):
                quarantined += 1
                quarantinedByReason[code, default: 0] += 1
            case .undeletable:
                undeletable += 1
            case .pruned:
                break  // retention's line (QuarantineRetention), never a runner's
            }
            if held { self.held += 1 }
        case .enrichment(.enriched):
            githubEnriched += 1
        case .enrichment(.failed(let failure)):
            githubFailures[failure, default: 0] += 1
        }
    }

    public var json: String {
        let fields: [(String, Int)] = [
            ("runner_installed", runnerInstalled), ("runner_start", runnerStart), ("runner_stop", runnerStop),
            ("deleted", deleted), ("quarantined", quarantined), ("ignored", ignored), ("skipped", skipped),
            ("kept", kept), ("errors", errors), ("empty_files", emptyFiles.values.reduce(0, +)),
            ("held", held), ("undeletable", undeletable), ("pruned", quarantine.pruned),
            ("quarantine_entries", quarantine.entries), ("github_enriched", githubEnriched),
            ("github_unenriched", githubUnenriched),
        ]
        var members = fields.map { ($0.0, String($0.1)) }
        let reasons = quarantinedByReason.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { (JSONText.string($0.key.rawValue), String($0.value)) }
        members.append(("quarantined_by_reason", "{" + reasons.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"))
        let failures = githubFailures.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { "\(JSONText.string($0.key.rawValue)): \($0.value)" }
        members.append(("github_failures_by_kind", "{" + failures.joined(separator: ", ") + "}"))
        members.append(("duration_seconds", String(durationSeconds)))
        members.append(("worker_p50_seconds", String(workerPercentile(0.50))))
        members.append(("worker_p99_seconds", String(workerPercentile(0.99))))
        members.append(("worker_max_rss_kib", String(workerMaxRSSKiB)))
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        members.append(("supervisor_max_rss_kib", String(usage.ru_maxrss)))
        let phases = phaseSeconds.sorted { $0.key < $1.key }.map { (JSONText.string($0.key), String($0.value)) }
        members.append(("phase_seconds", "{" + phases.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"))
        return JSONText.object(members)
    }

    /// Nearest-rank percentile of per-runner worker wall time (fork request to verdict).
    public func workerPercentile(_ p: Double) -> Double {
        guard !workerSeconds.isEmpty else { return 0 }
        let sorted = workerSeconds.sorted()
        let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    public var text: String {
        var out = "events: \(runnerInstalled) runner_installed, \(runnerStart) runner_start, \(runnerStop) runner_stop\n"
        out += "runners: \(deleted) deleted, \(quarantined) quarantined, \(ignored) ignored, \(skipped) skipped, \(kept) kept\n"
        out += "errors: \(errors)\n"
        let empty = emptyFiles.values.reduce(0, +)
        if empty > 0 { out += "empty files (decided as absent): \(empty)\n" }
        if undeletable > 0 { out += "undeletable: \(undeletable) (events issued; quarantined or held, audited)\n" }
        if githubEnriched + githubUnenriched > 0 {
            out += "github api: \(githubEnriched) enriched, \(githubUnenriched) without its fields"
            let kinds = githubFailures.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }
            out += kinds.isEmpty ? "\n" : " (" + kinds.joined(separator: ", ") + ")\n"
        }
        if held > 0 { out += "held: \(held) (audited earlier or now, left in place; see the audit log)\n" }
        if quarantine.pruned > 0 || quarantine.failed > 0 {
            out += "quarantine retention: \(quarantine.pruned) removed, \(quarantine.failed) could not be removed\n"
        }
        for (reason, count) in quarantinedByReason.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            out += "  quarantined \(reason.rawValue): \(count)\n"
        }
        return out
    }
}
