import ArgumentParser
import RunnerSupervisor

/// `runner-metrics prune`: quarantine retention on its own (cron, or by hand); `extract
/// --quarantine-retention-days` does the same at the end of each run.
struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove quarantined evidence older than a number of days, auditing each removal.")

    static let daysRange = 1...3650

    @Option(parsing: .unconditional, help: "Remove evidence quarantined more than this many days ago (1 to 3650).")
    var olderThanDays: Int
    @Option(help: "Where rejected runners' evidence is.") var quarantineDir = "/home/ubuntu/runner-fs-quarantine"
    @Option(help: "One JSON line per removal (reason pruned).") var auditLog = "/var/log/github-runner-metrics-audit.log"
    @Option(help: "Lock (shared with extract, so no run moves evidence in meanwhile).") var stateDir = "/var/lib/runner-metrics"
    @Option(help: "Flavor written into the audit lines.") var flavor = ""
    @Option(parsing: .unconditional, help: "Seconds to wait for a run's lock, 0 (the default: exit 75 at once) to 3600.")
    var wait = 0.0

    func validate() throws {
        guard Self.daysRange.contains(olderThanDays) else {
            throw ValidationError("--older-than-days \(olderThanDays) is out of range: \(Self.daysRange.lowerBound) to \(Self.daysRange.upperBound)")
        }
        guard wait >= 0, wait <= Extract.maxWait else {
            throw ValidationError("--wait \(wait) is out of range: 0 to \(Int(Extract.maxWait)) seconds")
        }
    }

    func run() throws {
        let diagnostics = Diagnostics()
        let lock: RunLock
        switch RunLock.take(stateDir: stateDir, wait: wait, diagnostics: diagnostics) {
        case .success(let taken): lock = taken
        case .failure(let refusal): throw ExitCode(refusal.status)
        }
        let report: QuarantineRetention.Report
        do throws(SystemError) {
            report = try QuarantineRetention.pass(
                quarantineDir: quarantineDir, olderThan: Double(olderThanDays) * 86_400,
                auditLog: try AppendLog(path: auditLog, mode: 0o600), flavor: flavor, diagnostics: diagnostics)
        } catch {
            diagnostics.emit(.error, "prune: \(error)")
            throw ExitCode(Exit.failure)
        }
        withExtendedLifetime(lock) {}
        print("pruned: \(report.pruned) removed, \(report.failed) could not be removed, \(report.entries) kept")
        if report.failed > 0 { throw ExitCode(Exit.failure) }
    }
}
