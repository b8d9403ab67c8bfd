import ArgumentParser

struct RunnerMetrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runner-metrics",
        abstract: "Extract GitHub self-hosted runner metrics from untrusted runner filesystems, each read by a fresh seccomp-confined worker.",
        subcommands: [Extract.self, Inspect.self, Audit.self, Demo.self]
    )
}

/// Exit statuses (README, "Exit status").
enum Exit {
    static let ok: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 2
    static let rejected: Int32 = 3
    static let locked: Int32 = 75
}
