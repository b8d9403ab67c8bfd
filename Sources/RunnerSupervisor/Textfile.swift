import Glibc
import MetricsDecoding

/// The Prometheus text file for node_exporter's textfile collector. Counters (`_total`) are
/// cumulative across runs, kept in `<textfile-dir>/runner-metrics.counters`; gauges describe
/// the last run. Written to a temporary file, fsynced and renamed, so the collector never
/// reads half a file.
public enum Textfile {
    public static let fileName = "runner-metrics.prom"
    static let counterFile = "runner-metrics.counters"
    /// Worker latency buckets, seconds.
    public static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

    public static func write(_ summary: RunSummary, flavor: String, to directory: String, now: Double? = nil) throws(SystemError) {
        let now = now ?? Sys.wallSeconds()
        var counters = loadCounters(directory + "/" + counterFile)
        func add(_ key: String, _ value: Double) { counters[key, default: 0] += value }
        add("events|runner_installed", Double(summary.runnerInstalled))
        add("events|runner_start", Double(summary.runnerStart))
        add("events|runner_stop", Double(summary.runnerStop))
        add("deleted", Double(summary.deleted))
        add("kept", Double(summary.kept))
        add("skipped", Double(summary.skipped))
        add("undeletable", Double(summary.undeletable))
        add("pruned", Double(summary.quarantine.pruned))
        add("errors", Double(summary.errors))
        add("runs", 1)
        add("github|enriched", Double(summary.githubEnriched))
        for failure in EnrichmentFailure.allCases { add("github_failed|\(failure.rawValue)", Double(summary.githubFailures[failure] ?? 0)) }
        for file in RunnerFile.allCases { add("empty|\(file.rawValue)", Double(summary.emptyFiles[file] ?? 0)) }
        for reason in ReasonCode.allCases { add("quarantined|\(reason.rawValue)", Double(summary.quarantinedByReason[reason] ?? 0)) }
        for bound in buckets { add("latency_bucket|\(bound)", Double(summary.workerSeconds.filter { $0 <= bound }.count)) }
        add("latency_bucket|+Inf", Double(summary.workerSeconds.count))
        add("latency_sum", summary.workerSeconds.reduce(0, +))
        add("latency_count", Double(summary.workerSeconds.count))
        if summary.exitStatus != 1 { counters["last_success", default: 0] = now }

        func value(_ key: String) -> String { format(counters[key] ?? 0) }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        family("runner_metrics_events_issued_total", "counter", "Metric events appended to the metrics log, by event type.")
        for event in ["runner_installed", "runner_start", "runner_stop"] {
            out += "runner_metrics_events_issued_total{event=\"\(event)\"} \(value("events|\(event)"))\n"
        }
        family("runner_metrics_runners_deleted_total", "counter", "Runner filesystems deleted after their events were durable.")
        out += "runner_metrics_runners_deleted_total \(value("deleted"))\n"
        family("runner_metrics_runners_quarantined_total", "counter", "Runner filesystems quarantined, by reason code.")
        // An invalid name is never quarantined (nothing of the entry is touched): it is counted
        // in skipped_total when audited and in the held gauge while it remains, not here as a 0.
        for reason in ReasonCode.allCases where reason != .invalidRunnerName {
            out += "runner_metrics_runners_quarantined_total{reason=\"\(reason.rawValue)\"} \(value("quarantined|\(reason.rawValue)"))\n"
        }
        family("runner_metrics_runners_kept_total", "counter", "Runners left in place for a later run by an operational failure.")
        out += "runner_metrics_runners_kept_total \(value("kept"))\n"
        family("runner_metrics_runners_skipped_total", "counter",
               "Runner-fs entries with invalid names, audited once as invalid-runner-name and never touched.")
        out += "runner_metrics_runners_skipped_total \(value("skipped"))\n"
        family("runner_metrics_empty_files_total", "counter", "0-byte runner files, decided as absent as upstream does, by file.")
        for file in RunnerFile.allCases {
            out += "runner_metrics_empty_files_total{file=\"\(file.rawValue)\"} \(value("empty|\(file.rawValue)"))\n"
        }
        family("runner_metrics_runners_held", "gauge",
               "Runner-fs entries audited once and still in place: evidence not moved, trees not removed, invalid names.")
        out += "runner_metrics_runners_held \(summary.held)\n"
        family("runner_metrics_runners_undeletable_total", "counter",
               "Runners issued whose filesystem could not be removed (audited undeletable, quarantined or held).")
        out += "runner_metrics_runners_undeletable_total \(value("undeletable"))\n"
        family("runner_metrics_runners_ignored", "gauge", "Runners left alone by the last run as active (--ignore, --ignore-file).")
        out += "runner_metrics_runners_ignored \(summary.ignored)\n"
        family("runner_metrics_quarantine_entries", "gauge", "Evidence entries in the quarantine directory after the run, by kind.")
        out += "runner_metrics_quarantine_entries{kind=\"image\"} \(summary.quarantine.entries - summary.quarantine.directories)\n"
        out += "runner_metrics_quarantine_entries{kind=\"directory\"} \(summary.quarantine.directories)\n"
        family("runner_metrics_quarantine_image_bytes", "gauge", "Bytes allocated to image evidence in the quarantine directory (directory evidence is not walked).")
        out += "runner_metrics_quarantine_image_bytes \(summary.quarantine.imageBytes)\n"
        family("runner_metrics_quarantine_pruned_total", "counter", "Evidence entries removed by quarantine retention (each audited as pruned).")
        out += "runner_metrics_quarantine_pruned_total \(value("pruned"))\n"
        family("runner_metrics_github_enriched_total", "counter",
               "Runners issued with the GitHub API's queue_duration and job_conclusion (--github-token-file).")
        out += "runner_metrics_github_enriched_total \(value("github|enriched"))\n"
        family("runner_metrics_github_unenriched_total", "counter",
               "Runners the GitHub API was asked about and issued without its fields, by why.")
        for failure in EnrichmentFailure.allCases {
            out += "runner_metrics_github_unenriched_total{kind=\"\(failure.rawValue)\"} \(value("github_failed|\(failure.rawValue)"))\n"
        }
        family("runner_metrics_errors_total", "counter", "Operational errors.")
        out += "runner_metrics_errors_total \(value("errors"))\n"
        family("runner_metrics_runs_total", "counter", "Completed extract runs.")
        out += "runner_metrics_runs_total \(value("runs"))\n"
        family("runner_metrics_last_run_duration_seconds", "gauge", "Wall time of the last run.")
        out += "runner_metrics_last_run_duration_seconds \(format(summary.durationSeconds))\n"
        family("runner_metrics_last_run_exit_status", "gauge", "Exit status of the last run (0 ok, 3 rejections, 1 failure).")
        out += "runner_metrics_last_run_exit_status \(summary.exitStatus)\n"
        family("runner_metrics_last_success_timestamp_seconds", "gauge", "UNIX time of the last run that exited 0 or 3.")
        out += "runner_metrics_last_success_timestamp_seconds \(value("last_success"))\n"
        family("runner_metrics_build_info", "gauge", "The running build: always 1, with its version and commit as labels.")
        out += "runner_metrics_build_info{version=\"\(BuildInfo.version)\",commit=\"\(BuildInfo.commit)\"} 1\n"
        family("runner_metrics_worker_duration_seconds", "histogram", "Wall time of one sandboxed worker, fork to verdict.")
        for bound in buckets {
            out += "runner_metrics_worker_duration_seconds_bucket{le=\"\(format(bound))\"} \(value("latency_bucket|\(bound)"))\n"
        }
        out += "runner_metrics_worker_duration_seconds_bucket{le=\"+Inf\"} \(value("latency_bucket|+Inf"))\n"
        out += "runner_metrics_worker_duration_seconds_sum \(value("latency_sum"))\n"
        out += "runner_metrics_worker_duration_seconds_count \(value("latency_count"))\n"
        _ = flavor

        let counterText = counters.sorted { $0.key < $1.key }.map { "\($0.key) \(format($0.value))\n" }.joined()
        // Made world-searchable on purpose: node_exporter reads it as its own user, and the
        // tool runs with umask 077, which would leave a new directory 0700.
        if mkdir(directory, 0o755) == 0 {
            _ = chmod(directory, 0o755)
        } else if errno != EEXIST {
            throw SystemError("mkdir \(directory)")
        }
        try atomicWrite(directory + "/" + counterFile, counterText, mode: 0o600)
        try atomicWrite(directory + "/" + fileName, out, mode: 0o644)
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    static func loadCounters(_ path: String) -> [String: Double] {
        // O_NONBLOCK and a type check: whoever can write the textfile directory (node_exporter's
        // user) must not be able to park root on a FIFO while it holds the run lock.
        guard let fd = try? Sys.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else { return [:] }
        defer { close(fd) }
        guard let status = try? Sys.fstat(fd), status.st_mode & S_IFMT == S_IFREG, status.st_uid == 0 else { return [:] }
        guard let bytes = try? Sys.readAll(fd, path) else { return [:] }
        var counters: [String: Double] = [:]
        for line in bytes.split(separator: 0x0a) {
            let parts = line.split(separator: 0x20)
            guard parts.count == 2, let value = Double(String(decoding: parts[1], as: UTF8.self)) else { continue }
            counters[String(decoding: parts[0], as: UTF8.self)] = value
        }
        return counters
    }

    /// write to `<path>.tmp`, fsync, rename, fsync the directory.
    static func atomicWrite(_ path: String, _ text: String, mode: mode_t) throws(SystemError) {
        let temporary = path + ".tmp"
        // A fresh file of our own, never one someone else left at that name (O_EXCL).
        if unlink(temporary) != 0 && errno != ENOENT { throw SystemError("unlink \(temporary)") }
        let fd = try Sys.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode)
        do throws(SystemError) {
            try Sys.writeAll(fd, text)
            _ = fchmod(fd, mode)
            try Sys.fsync(fd, temporary)
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else { throw SystemError("rename \(temporary)") }
        try Sys.fsyncDirectory(String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]))
    }
}
