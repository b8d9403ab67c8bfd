import Foundation
import Glibc
import Testing

/// What an operator types: the version, and the argument checks that answer each bad value
/// with its own range and the subcommand's usage, exit status 2.
@Suite struct CommandLineTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// `--version` and `version` print one line naming the version and the commit the binary
    /// was built from (the checkout's HEAD: the tests run the binaries built from it). `swift
    /// test` alone does not run the BuildInfo prebuild command again, so after a commit it is
    /// `swift build && swift test`, as the README says, that records the new HEAD.
    @Test func versionNamesTheCommitItWasBuiltFrom() throws {
        let head = try Tool.run("/usr/bin/git", ["-C", Self.packageRoot, "rev-parse", "--short=12", "HEAD"])
        #expect(head.status == 0, "\(head.stderr)")
        let commit = head.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(commit.count == 12)
        let flag = try Tool.run(Tool.runnerMetrics, ["--version"])
        let command = try Tool.run(Tool.runnerMetrics, ["version"])
        #expect(flag.status == 0 && command.status == 0)
        #expect(flag.stdout == "runner-metrics 0.9.0 (commit \(commit))\n")
        #expect(command.stdout == flag.stdout)
    }

    /// Negative numbers are values out of range, not missing ones; the message names the range
    /// the help names, and the usage shown is extract's.
    @Test(arguments: [
        (["--jobs", "-1"], "--jobs -1 is out of range: 1 to 256"),
        (["--jobs", "1000"], "--jobs 1000 is out of range: 1 to 256"),
        (["--jobs", "0"], "--jobs 0 is out of range: 1 to 256"),
        (["--worker-timeout", "-3"], "--worker-timeout -3.0 is out of range: more than 0 and at most 60 seconds"),
        (["--worker-timeout", "61"], "--worker-timeout 61.0 is out of range: more than 0 and at most 60 seconds"),
        (["--wait", "-1"], "--wait -1.0 is out of range: 0 to 3600 seconds"),
        (["--github-timeout", "0"], "--github-timeout 0.0 is out of range: 0.1 to 120 seconds"),
        (["--github-timeout", "121"], "--github-timeout 121.0 is out of range: 0.1 to 120 seconds"),
        (["--github-budget", "-5"], "--github-budget -5.0 is out of range: 0.1 to 600 seconds"),
        (["--github-budget", "601"], "--github-budget 601.0 is out of range: 0.1 to 600 seconds"),
    ])
    func extractRefusesOutOfRangeNumbers(_ arguments: [String], _ message: String) throws {
        let result = try Tool.run(Tool.runnerMetrics, ["extract", "--flavor", "x"] + arguments)
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("Error: \(message)\n"), "\(result.stderr)")
        #expect(result.stderr.contains("Usage: runner-metrics extract "), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    /// The limits the help states are the ones enforced.
    @Test func extractHelpStatesTheEnforcedLimits() throws {
        let help = try Tool.run(Tool.runnerMetrics, ["extract", "--help"])
        let text = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(text.contains("Workers at once, 1 to 256 (default: four times the online CPUs, at most 64)."), "\(text)")
        #expect(text.contains("Seconds a worker may run, more than 0 and at most 60."), "\(text)")
        #expect(text.contains("Seconds to wait for another run's lock, 0 (the default: exit 75 at once) to 3600."), "\(text)")
    }

    /// The ignore file's names are left alone; a line that is no runner name is named in a
    /// warning (it protects nothing), not dropped in silence; comments and blank lines are
    /// skipped.
    @Test func ignoreFileLinesThatAreNoRunnerNameAreReported() throws {
        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try HardeningSupport.layTree(root, honest: ["active-1", "done-1"])
        try HardeningSupport.write(root + "/ignore", "# active runners\nactive-1\n\nactive 2\n../etc\n")
        let result = try Tool.run(Tool.runnerMetrics, HardeningSupport.extractArguments(root) + ["--ignore-file", root + "/ignore"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("line 4 is not a runner name, it protects nothing: active 2\n"), "\(result.stderr)")
        #expect(result.stderr.contains("line 5 is not a runner name, it protects nothing: ../etc\n"), "\(result.stderr)")
        #expect(!result.stderr.contains("line 1 ") && !result.stderr.contains("line 2 ") && !result.stderr.contains("line 3 "))
        #expect(HardeningSupport.exists(root + "/runner-fs/active-1/pre-job-metrics.json"), "ignored runner untouched")
        #expect(!HardeningSupport.exists(root + "/runner-fs/done-1"))
    }

    /// An ignore file that is a FIFO is refused at once (nothing writes it, so an open would
    /// block the run while it holds the lock): exit 1, nothing touched.
    @Test func anIgnoreFileThatIsAFIFOIsRefusedAtOnce() throws {
        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try HardeningSupport.layTree(root, honest: ["r1"])
        #expect(mkfifo(root + "/ignore", 0o600) == 0)
        let result = try Tool.run(Tool.runnerMetrics, HardeningSupport.extractArguments(root) + ["--ignore-file", root + "/ignore"],
                                  timeout: 20)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("not a regular file"), "\(result.stderr)")
        #expect(HardeningSupport.exists(root + "/runner-fs/r1/pre-job-metrics.json"))
    }

    /// `audit --since` takes a date that exists and a time of day that does, and says so
    /// with audit's own usage; the fraction the log's own timestamps carry is accepted.
    @Test(arguments: [("2026-02-30", false), ("2025-02-29", false), ("2024-02-29", true), ("garbage", false),
                      ("2026-11-25T24:00:00Z", false), ("2026-11-25T10:60:00Z", false), ("2026-11-25T10:00:00xyzZ", false),
                      ("2026-11-25T10:00:00Z", true), ("2026-11-25T10:00:00.353Z", true), ("2026-11-31", false)])
    func auditSinceTakesOnlyTimesThatExist(_ since: String, _ valid: Bool) throws {
        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try HardeningSupport.write(root + "/audit.log",
            #"{"timestamp": "2024-03-01T00:00:00.000Z", "runner": "r", "flavor": "f", "reason": "duplicate-key", "detail": "d", "evidence": null}"# + "\n")
        let result = try Tool.run(Tool.runnerMetrics, ["audit", "--audit-log", root + "/audit.log", "--since", since])
        if valid {
            #expect(result.status == 0, "\(result.stderr)")
        } else {
            #expect(result.status == 2)
            #expect(result.stderr.hasPrefix("Error: --since \(since) is not a UTC time"), "\(result.stderr)")
            #expect(result.stderr.contains("Usage: runner-metrics audit "), "\(result.stderr)")
        }
    }
}

