import ArgumentParser
import RunnerSupervisor

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List rejected runners from the audit log.")

    @Option(help: "The audit log: a regular file, a rotated `.gz` file, or `-` for standard input.") var auditLog = "/var/log/github-runner-metrics-audit.log"
    @Option(help: "Only entries at or after this UTC time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ).") var since: String?
    @Option(help: "Only this runner.") var runner: String?
    @Flag(help: "JSON lines (printable ASCII, as the log writes them) instead of a table.") var json = false

    /// Checked here, not in run(): a ValidationError from validate() is shown with this
    /// subcommand's usage, one from run() with the top-level usage.
    func validate() throws {
        if let since, AuditReader.parseTime(since) == nil {
            throw ValidationError("--since \(since) is not a UTC time: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, a date that exists")
        }
    }

    func run() throws {
        let sinceSeconds = since.flatMap(AuditReader.parseTime)
        let listing: AuditReader.Listing
        do throws(SystemError) { listing = try AuditReader.read(auditLog) } catch {
            Diagnostics().emit(.error, "\(error)")
            throw ExitCode(Exit.failure)
        }
        let selected = listing.entries.filter { entry in
            (runner == nil || entry.runner == runner) && (sinceSeconds.map { entry.seconds >= $0 } ?? true)
        }
        print(json ? selected.map(\.line).joined(separator: "\n") + (selected.isEmpty ? "" : "\n")
                   : AuditReader.table(selected), terminator: "")
        if listing.unreadableLines > 0 {
            Diagnostics().emit(.warning, "\(listing.unreadableLines) line(s) of \(auditLog) could not be read (a truncated last line is expected after a crash)")
        }
    }
}
