import ArgumentParser
import Glibc
import RunnerSupervisor

struct Extract: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Issue metric events for every finished runner, then delete or quarantine its filesystem.")

    @Option(help: "Runner flavor written into every event.") var flavor: String
    @Option(help: "Directory holding one mount point per runner.") var runnerFsDir = "/home/ubuntu/runner-fs"
    @Option(help: "Directory holding <runner>.img images.") var imagesDir = "/home/ubuntu/runner-fs-images"
    @Option(help: "Where rejected runners' evidence is moved, unread.") var quarantineDir = "/home/ubuntu/runner-fs-quarantine"
    @Option(help: "Metric events, one JSON line each (Promtail ships it).") var metricsLog = "/var/log/github-runner-metrics.log"
    @Option(help: "One JSON line per rejected runner.") var auditLog = "/var/log/github-runner-metrics-audit.log"
    @Option(help: "Lock and journal.") var stateDir = "/var/lib/runner-metrics"
    @Option(name: .customLong("ignore"), help: "A runner still active: never touched (repeatable).") var ignore: [String] = []
    @Option(help: "A file with one active runner name per line.") var ignoreFile: String?
    // The numbers are parsed unconditionally: a value starting with "-" is the option's value
    // (answered "out of range" below), not taken for another option ("Missing value").
    @Option(parsing: .unconditional, help: "Workers at once, \(Extract.jobsRange.lowerBound) to \(Extract.jobsRange.upperBound) (default: four times the online CPUs, at most 64).")
    var jobs: Int?
    @Option(parsing: .unconditional, help: "Seconds a worker may run, more than 0 and at most \(Int(Extract.maxWorkerTimeout)).")
    var workerTimeout = 2.0
    @Option(parsing: .unconditional, help: "Seconds to wait for another run's lock, 0 (the default: exit 75 at once) to \(Int(Extract.maxWait)).")
    var wait = 0.0
    @Option(help: "Write runner-metrics.prom here for node_exporter's textfile collector.") var textfileDir: String?
    @Option(parsing: .unconditional, help: "Remove quarantined evidence older than this many days at the end of each run, auditing each removal (default: keep it).")
    var quarantineRetentionDays: Int?
    @Option(help: ArgumentHelp("Enrich runner_start and runner_stop from the GitHub API with the token in this file (root's, mode 0600 or 0400).",
                               discussion: "Off without it. Adds queue_duration and job_conclusion as later upstream does; the HTTP and JSON work runs in its own confined process (Security/GITHUB_API.md)."))
    var githubTokenFile: String?
    @Option(help: "The GitHub API's base URL (GitHub Enterprise Server: https://HOST/api/v3).") var githubApiUrl = "https://api.github.com"
    @Option(help: "PEM file of the certificate authorities to trust for the API (default: the system's).") var githubCaFile: String?
    @Option(parsing: .unconditional, help: "Seconds one runner's API requests may take, \(Extract.minGitHubSeconds) to \(Int(Extract.maxGitHubTimeout)).")
    var githubTimeout = 10.0
    @Option(parsing: .unconditional, help: "Seconds all of a run's API requests may take, \(Extract.minGitHubSeconds) to \(Int(Extract.maxGitHubBudget)); after that, runners are issued without the API's fields.")
    var githubBudget = 60.0
    @Option(help: "Diagnostics on stderr: text or json.") var logFormat = "text"
    @Flag(help: "Print the run summary as one JSON object.") var json = false

    static let jobsRange = 1...256
    static let maxWorkerTimeout = 60.0
    static let maxWait = 3600.0
    static let minGitHubSeconds = 0.1
    static let maxGitHubTimeout = 120.0
    static let maxGitHubBudget = 600.0

    func validate() throws {
        guard workerTimeout > 0, workerTimeout <= Self.maxWorkerTimeout else {
            throw ValidationError("--worker-timeout \(workerTimeout) is out of range: more than 0 and at most \(Int(Self.maxWorkerTimeout)) seconds")
        }
        if let jobs, !Self.jobsRange.contains(jobs) {
            throw ValidationError("--jobs \(jobs) is out of range: \(Self.jobsRange.lowerBound) to \(Self.jobsRange.upperBound)")
        }
        if let days = quarantineRetentionDays, !Prune.daysRange.contains(days) {
            throw ValidationError("--quarantine-retention-days \(days) is out of range: \(Prune.daysRange.lowerBound) to \(Prune.daysRange.upperBound)")
        }
        guard wait >= 0, wait <= Self.maxWait else {
            throw ValidationError("--wait \(wait) is out of range: 0 to \(Int(Self.maxWait)) seconds")
        }
        guard githubTimeout >= Self.minGitHubSeconds, githubTimeout <= Self.maxGitHubTimeout else {
            throw ValidationError("--github-timeout \(githubTimeout) is out of range: \(Self.minGitHubSeconds) to \(Int(Self.maxGitHubTimeout)) seconds")
        }
        guard githubBudget >= Self.minGitHubSeconds, githubBudget <= Self.maxGitHubBudget else {
            throw ValidationError("--github-budget \(githubBudget) is out of range: \(Self.minGitHubSeconds) to \(Int(Self.maxGitHubBudget)) seconds")
        }
        guard Diagnostics.Format(rawValue: logFormat) != nil else { throw ValidationError("--log-format is text or json") }
        guard !flavor.isEmpty else { throw ValidationError("--flavor must not be empty") }
    }

    func run() throws {
        let diagnostics = Diagnostics(format: Diagnostics.Format(rawValue: logFormat) ?? .text)
        var config = ExtractConfiguration(flavor: flavor)
        config.runnerFSDir = runnerFsDir
        config.imagesDir = imagesDir
        config.quarantineDir = quarantineDir
        config.metricsLog = metricsLog
        config.auditLog = auditLog
        config.stateDir = stateDir
        config.ignore = Set(ignore)
        if let ignoreFile {
            do throws(SystemError) {
                let contents = try IgnoreFile.read(ignoreFile)
                config.ignore.formUnion(contents.names)
                for (line, text) in contents.invalidLines {
                    diagnostics.emit(.warning, "--ignore-file \(ignoreFile) line \(line) is not a runner name, it protects nothing: \(text)")
                }
            } catch {
                diagnostics.emit(.error, "--ignore-file: \(error)")
                throw ExitCode(Exit.failure)
            }
        }
        // Four times the CPUs: a worker spends most of its short life in the kernel — fork,
        // exit, cold inode and block reads on a real runner image — and the hand-offs between
        // it, the fork server and this loop leave a CPU idle unless another worker is ready;
        // with more workers at once, one wake-up of the server and of this loop also handles
        // more exits. Measured on 2 CPUs, 2,000 runners (Security/bench/ab.py, 21 rounds):
        // 0.349 s with 4 jobs, 0.341 s with 6, 0.333 s with 8, 0.329 s with 12; CPU time fell
        // with them (0.544 → 0.533 s). Earlier, with costlier workers, 2 jobs took 0.71 s and
        // 4 0.59 s, and more made no difference. At most 64 by default: an image worker may use
        // up to its address-space limit (the server's size + 64 MiB), and a big host should not
        // commit to 256 of them unasked (--jobs goes to 256).
        config.jobs = jobs ?? min(64, 4 * max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        config.workerTimeout = workerTimeout
        config.lockWait = wait
        config.quarantineRetentionSeconds = quarantineRetentionDays.map { Double($0) * 86_400 }
        if let githubTokenFile {
            config.github = GitHubSettings(apiURL: githubApiUrl, tokenFile: githubTokenFile, caFile: githubCaFile,
                                           requestTimeout: githubTimeout, runBudget: githubBudget)
        }
        let status = ExtractCommandRunner.run(config: config, textfileDir: textfileDir, diagnostics: diagnostics,
                                              printJSON: json)
        throw ExitCode(status)
    }
}
