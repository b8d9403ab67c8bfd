import ArgumentParser
import RunnerSupervisor

struct RunnerMetrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runner-metrics",
        abstract: "Extract GitHub self-hosted runner metrics from untrusted runner filesystems, each read by a fresh seccomp-confined worker.",
        version: BuildInfo.description,
        subcommands: [Extract.self, Inspect.self, Audit.self, Prune.self, Demo.self, Version.self]
    )
}

/// `runner-metrics version`: the same line as `--version`.
struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version and the commit it was built from.")

    func run() { print(BuildInfo.description) }
}

/// Exit statuses (README, "Exit status").
enum Exit {
    static let ok: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 2
    static let rejected: Int32 = 3
    static let locked: Int32 = 75
}
