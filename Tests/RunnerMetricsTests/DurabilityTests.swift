import Foundation
import Testing

/// Nothing lost, nothing twice: the supervisor is killed at many points; after a final run every
/// expected line is in the metrics log exactly once and every handled runner is gone.
@Suite(.serialized) struct DurabilityTests {
    /// A tree shaped like the upstream's (bench/make_runner_fs.py): every runner's lines differ
    /// by timestamp, so a duplicate or a loss is visible line by line.
    func layTree(_ tree: TestTree, runners: Int, corruptEvery: Int) throws -> (lines: [String], corrupt: Set<String>) {
        var lines: [String] = []
        var corrupt = Set<String>()
        for index in 0..<runners {
            let name = String(format: "runner-%04d", index)
            let t = 1_700_000_000 + index
            var files = [
                "runner-installed.timestamp": "\(t)",
                "pre-job-metrics.json": #"{"workflow": "CI", "repository": "org/repo", "event": "push", "timestamp": \#(t + 30), "workflow_run_id": "\#(index)"}"#,
            ]
            if index % 4 != 3 { files["post-job-metrics.json"] = #"{"timestamp": \#(t + 300), "status": "normal"}"# }
            if index % corruptEvery == 0 {
                files["pre-job-metrics.json"] = "{\"workflow\": \"CI\",}"
                corrupt.insert(name)
            } else {
                lines.append(#"{"timestamp": \#(t + 30).0, "event": "runner_start", "flavor": "small", "workflow": "CI", "repo": "org/repo", "github_event": "push", "idle": 30.0}"#)
                if index % 4 != 3 {
                    lines.append(#"{"timestamp": \#(t + 300).0, "event": "runner_stop", "flavor": "small", "workflow": "CI", "repo": "org/repo", "github_event": "push", "status": "normal", "job_duration": 270.0}"#)
                }
            }
            try tree.runner(name, files)
        }
        return (lines, corrupt)
    }

    func assertExactlyOnce(_ tree: TestTree, _ expected: [String], _ corrupt: Set<String>) {
        let actual = tree.metricLines
        #expect(actual.count == expected.count)
        #expect(Set(actual) == Set(expected))
        #expect(Dictionary(actual.map { ($0, 1) }, uniquingKeysWith: +).values.allSatisfy { $0 == 1 }, "a line was issued twice")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: tree.fs)) ?? ["?"]).isEmpty)
        let audited = Set(tree.auditEntries.compactMap { $0["runner"] as? String })
        #expect(audited == corrupt)
        #expect(tree.auditEntries.allSatisfy { $0["reason"] as? String == "invalid-json" },
                "\(tree.auditLines.filter { !$0.contains("invalid-json") }.prefix(3))")
        #expect(tree.quarantined().count == corrupt.count)
    }

    /// SIGKILL injected by strace at the Nth call of the system calls each step of the
    /// protocol makes (journal and log writes, fsyncs, renames, unlinks, opens), then a final
    /// complete run.
    @Test(arguments: ["write", "fsync", "unlinkat", "renameat2", "openat"])
    func killAtTheNthSystemCall(call: String) throws {
        let tree = try TestTree()
        let (expected, corrupt) = try layTree(tree, runners: 120, corruptEvery: 10)
        var killed = 0
        var tried = 0
        for n in [1, 2, 3, 4, 5, 7, 9, 12, 16, 20, 25, 30, 40, 50, 65, 80, 100, 130, 160, 200, 260, 330] {
            tried += 1
            // Deletions run on the supervisor's deletion thread, which only -f follows; no
            // worker or fork server ever unlinks, so following them changes nothing else.
            let follow = call == "unlinkat" ? ["-f"] : []
            let result = try Tool.run("/usr/bin/strace", ["-qq"] + follow + ["-o", "/dev/null", "-e", "trace=\(call)",
                                                         "-e", "inject=\(call):signal=KILL:when=\(n)",
                                                         Tool.runnerMetrics, "extract"] + tree.standardArguments)
            // strace dies by the same signal as its tracee: status 9 with an uncaught signal.
            if result.status == SIGKILL { killed += 1 }
            #expect([0, 1, 3, SIGKILL].contains(result.status), "\(call)#\(n): \(result.status) \(result.stderr)")
        }
        let final = try tree.extract()
        #expect(final.status == 0 || final.status == 3, "\(final.stderr)")
        assertExactlyOnce(tree, expected, corrupt)
        print("kill points on \(call): \(tried) tried, \(killed) killed the supervisor")
        #expect(killed >= 3, "too few kill points landed on \(call)")
    }

    /// SIGKILL at spread-out moments of a larger run, as a cron timeout or the OOM killer would.
    /// A kill counts as landed only if the supervisor died of it with runners still left to
    /// handle, so the final run must finish an interrupted job.
    @Test func killAtRandomTimes() throws {
        let tree = try TestTree()
        let (expected, corrupt) = try layTree(tree, runners: 1000, corruptEvery: 10)
        var generator = SystemRandomNumberGenerator()
        var landed = 0
        for _ in 0..<25 {
            let process = try tree.startExtract()
            usleep(UInt32.random(in: 1_000...40_000, using: &generator))
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            let left = (try? FileManager.default.contentsOfDirectory(atPath: tree.fs))?.count ?? 0
            if process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL && left > 0 {
                landed += 1
            }
        }
        let final = try tree.extract()
        #expect(final.status == 0 || final.status == 3, "\(final.stderr)")
        assertExactlyOnce(tree, expected, corrupt)
        print("random kills: 25 tried, \(landed) killed the supervisor with runners left")
        #expect(landed >= 5, "too few kills landed mid-run")
    }

    /// SIGTERM mid-run: workers killed and reaped, no honest runner quarantined, exit 1, and
    /// the next run completes the job exactly once.
    @Test func sigtermStopsCleanlyAndTheNextRunFinishes() throws {
        let tree = try TestTree()
        let (expected, corrupt) = try layTree(tree, runners: 1000, corruptEvery: 10)
        try TestTree.directory(tree.state)  // so flock(1) below can open the lock file
        let process = try tree.startExtract(["--jobs", "1"])
        // Once the run holds its lock and has had a moment to start workers, interrupt it.
        #expect(TestTree.waitUntil(20) { tree.lockHeld() })
        usleep(100_000)
        // The fork server is its own binary (not a fork of `extract`), so it and its workers
        // are found as the run's descendants, not by command line.
        let server = ForkServerTests.children(process.processIdentifier)
        let descendants = server + server.flatMap { ForkServerTests.children($0) }
        #expect(!server.isEmpty, "no fork server found under the run")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 1)
        #expect(tree.metricLines.count < expected.count, "the run finished before the interrupt; the test proved nothing")
        // No worker or fork server outlives the run.
        let leftovers = try Tool.run("/bin/sh", ["-c", "pgrep -f '[r]unner-metrics extract.*\(tree.root)' || true"])
        #expect(leftovers.stdout.isEmpty)
        #expect(TestTree.waitUntil(5) {
            descendants.allSatisfy { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\($0)/exe"))?.contains("runner-metrics") != true }
        }, "a fork server or worker of the interrupted run is still alive")
        let audited = Set(tree.auditEntries.compactMap { $0["runner"] as? String })
        #expect(audited.isSubset(of: corrupt), "an honest runner was quarantined because of the interrupt")
        let final = try tree.extract()
        #expect(final.status == 0 || final.status == 3)
        assertExactlyOnce(tree, expected, corrupt)
    }

    /// Two overlapping invocations: one exits 75, no runner is handled twice.
    @Test func overlappingInvocationsHandleEachRunnerOnce() throws {
        let tree = try TestTree()
        let (expected, corrupt) = try layTree(tree, runners: 400, corruptEvery: 10)
        try TestTree.directory(tree.state)  // so flock(1) below can open the lock file
        let first = try tree.startExtract(["--jobs", "1"])
        // Start the second once the first holds the lock.
        #expect(TestTree.waitUntil(20) { tree.lockHeld() })
        #expect(first.isRunning, "the first run ended (\(first.isRunning ? -1 : first.terminationStatus)) before the second started; the test proved nothing")
        let second = try tree.extract()
        first.waitUntilExit()
        #expect(second.status == 75)
        #expect(first.terminationStatus == 3)
        assertExactlyOnce(tree, expected, corrupt)
    }
}

/// The metrics log rotated by Debian's real logrotate with the upstream stanza (`rotate 0`,
/// `missingok`, `notifempty`, `create`, plus the shipped wait for the run lock), between runs
/// and while a run is writing. Promtail is emulated by a prerotate line that ships the file's
/// content just before it is rotated away; shipped + current must hold every line once.
@Suite(.serialized) struct LogRotationTests {
    @Test func rotationBetweenAndDuringRunsLosesAndRepeatsNothing() throws {
        let tree = try TestTree()
        try TestTree.directory(tree.state)
        let shipped = tree.root + "/shipped-by-promtail.log"
        let suggested = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Security/logrotate/runner-metrics-metrics.suggested"), encoding: .utf8)
        let config = suggested
            .replacingOccurrences(of: "/var/log/github-runner-metrics.log", with: tree.metricsLog)
            .replacingOccurrences(of: "/var/lib/runner-metrics", with: tree.state)
            .replacingOccurrences(of: "    endscript", with: "        cat '\(tree.metricsLog)' >> '\(shipped)'\n    endscript")
        let configPath = tree.root + "/logrotate.conf"
        _ = FileManager.default.createFile(atPath: configPath, contents: Data(config.utf8))
        chmod(configPath, 0o644)
        func rotate() throws -> Tool.Result {
            try Tool.run("/usr/sbin/logrotate", ["-f", "-s", tree.root + "/logrotate.state", configPath])
        }

        var expected: [String] = []
        func addRunners(_ prefix: String, _ count: Int) throws {
            for index in 0..<count {
                let t = 1_700_000_000 + index
                try tree.runner("\(prefix)-\(index)", [
                    "runner-installed.timestamp": "\(t)",
                    "pre-job-metrics.json": #"{"workflow": "\#(prefix)", "repository": "org/repo", "event": "push", "timestamp": \#(t + 30), "workflow_run_id": "\#(index)"}"#,
                ])
                expected.append(#"{"timestamp": \#(t + 30).0, "event": "runner_start", "flavor": "small", "workflow": "\#(prefix)", "repo": "org/repo", "github_event": "push", "idle": 30.0}"#)
            }
        }

        // Between runs.
        for round in 0..<3 {
            try addRunners("between\(round)", 20)
            #expect(try tree.extract().status == 0)
            let rotated = try rotate()
            #expect(rotated.status == 0, "\(rotated.stderr)")
        }
        // During a run: logrotate starts while the run holds its lock and waits for it.
        try addRunners("during", 600)
        let run = try tree.startExtract(["--jobs", "1"])
        // Once its first batch is out (notifempty would skip an empty log), rotate.
        #expect(TestTree.waitUntil(20) { !tree.metricLines.isEmpty })
        #expect(run.isRunning, "the run ended before the rotation started; the test proved less")
        let rotated = try rotate()
        run.waitUntilExit()
        #expect(run.terminationStatus == 0)
        #expect(rotated.status == 0, "\(rotated.stderr)")
        // And a last run after that rotation writes into the new file.
        try addRunners("after", 20)
        #expect(try tree.extract().status == 0)

        let shippedLines = ((try? String(contentsOfFile: shipped, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        let all = shippedLines + tree.metricLines
        #expect(all.count == expected.count)
        #expect(Set(all) == Set(expected))
        #expect(tree.metricLines.count == 20, "the last run's lines are in the current file")
    }
}
