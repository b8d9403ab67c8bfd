import ArgumentParser
import RunnerSupervisor

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the sandboxed worker on one runner directory, read-only, and print its verdict.")

    @Argument(help: "A runner directory (live or quarantined evidence).") var path: String
    @Option(help: "Flavor used to render the events it would issue.") var flavor = "inspect"
    @Option(help: "Seconds the worker may run.") var workerTimeout = 2.0
    @Flag(help: "Print the verdict as one JSON object.") var json = false

    func validate() throws {
        guard workerTimeout > 0, workerTimeout <= 60 else { throw ValidationError("--worker-timeout must be in (0, 60]") }
    }

    func run() throws {
        let server: ForkServer
        do { server = try WorkerLauncher.start(timeout: workerTimeout) } catch {
            Diagnostics().emit(.error, "cannot start the worker fork server: \(error)")
            throw ExitCode(Exit.failure)
        }
        let verdict = Inspection.verdict(of: path, server: server, timeout: workerTimeout)
        server.shutdown()
        print(Inspection.report(verdict, flavor: flavor, json: json), terminator: "")
        switch verdict {
        case .valid: throw ExitCode(Exit.ok)
        case .rejected: throw ExitCode(Exit.rejected)
        case .kept: throw ExitCode(Exit.failure)
        }
    }
}
