import ArgumentParser
import RunnerSupervisor

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List rejected runners from the audit log.")

    @Option(help: "The audit log: a regular file, a rotated `.gz` file, or `-` for standard input.") var auditLog = "/var/log/github-runner-metrics-audit.log"
    @Option(help: "Only entries at or after this UTC time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ).") var since: String?
    @Option(help: "Only this runner.") var runner: String?
    @Flag(help: "JSON lines (printable ASCII, as the log writes them) instead of a table.") var json = false

    func run() throws {
        var sinceSeconds: Double?
        if let since {
            guard let parsed = AuditReader.parseTime(since) else { throw ValidationError("--since: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ") }
            sinceSeconds = parsed
        }
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
