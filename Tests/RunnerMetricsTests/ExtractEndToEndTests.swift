import Foundation
import MetricsDecoding
import Testing

/// `runner-metrics extract` end to end on plain directories: upstream's cases, exact lines.
@Suite struct ExtractEndToEndTests {
    @Test func allFilesPresentIssueThreeEventsAndDelete() throws {
        let tree = try TestTree()
        let dir = try tree.runner("r1", Sample.complete)
        let result = try tree.extract()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(tree.metricLines == [Sample.installedLine, Sample.startLine, Sample.stopLine])
        #expect(!tree.exists(dir))
        #expect(tree.auditLines.isEmpty)
        let counts = summary(result)
        #expect(counts["runner_installed"] == 1 && counts["runner_start"] == 1 && counts["runner_stop"] == 1)
        #expect(counts["deleted"] == 1 && counts["quarantined"] == 0 && counts["errors"] == 0)
    }

    @Test func preJobOnlyIssuesRunnerStart() throws {
        let tree = try TestTree()
        let dir = try tree.runner("r1", ["runner-installed.timestamp": Sample.installed, "pre-job-metrics.json": Sample.preJob])
        let result = try tree.extract()
        #expect(result.status == 0)
        #expect(tree.metricLines == [Sample.startLine])
        #expect(!tree.exists(dir))
    }

    @Test func installedTimestampOnlyIssuesNothingAndDeletes() throws {
        let tree = try TestTree()
        let dir = try tree.runner("r1", ["runner-installed.timestamp": Sample.installed])
        let result = try tree.extract()
        #expect(result.status == 0)
        #expect(tree.metricLines.isEmpty)
        #expect(!tree.exists(dir))
        #expect(summary(result)["deleted"] == 1)
    }

    @Test func noInstalledTimestampIssuesNothingAndDeletes() throws {
        let tree = try TestTree()
        let dir = try tree.runner("r1", ["pre-job-metrics.json": Sample.preJob, "post-job-metrics.json": Sample.postJob])
        let result = try tree.extract()
        #expect(result.status == 0)
        #expect(tree.metricLines.isEmpty)
        #expect(!tree.exists(dir))
    }

    @Test func abnormalStatusCarriesStatusInfoAndFloatTimestamps() throws {
        let tree = try TestTree()
        try tree.runner("r1", [
            "runner-installed.timestamp": "1696427232.2253454\n",
            "pre-job-metrics.json": Sample.preJob,
            "post-job-metrics.json": #"{"timestamp": 1700000010, "status": "abnormal", "status_info": {"code": 137}}"#,
        ])
        #expect(try tree.extract().status == 0)
        #expect(tree.metricLines == [
            #"{"timestamp": 1700000030.0, "event": "runner_start", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "idle": 3572797.774654627}"#,
            #"{"timestamp": 1700000010.0, "event": "runner_stop", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "status": "abnormal", "status_info": {"code": 137}, "job_duration": 0.0}"#,
        ])
    }

    /// The worker binary decodes with the Embedded build of the decoder, whose Double(String)
    /// runs on our C-locale strtod (Sources/CEmbeddedRuntime); the supervisor and this test use
    /// the full runtime's. Number spellings near the edges must read the same in both: each
    /// runner's lines must equal what the in-process decoder and encoder make of the same bytes.
    @Test(arguments: [
        "1700000030.1234567891234567891", "17e8", "1.7E9", "0.00000000000000000017e28", "1700000030.5e0",
        "4.9e-324", "2.2250738585072011e-308", "1.7976931348623157e308", "0." + String(repeating: "0", count: 314) + "1",
        "9007199254740993", "0.1", "123456789012345678901234567890",
    ])
    func workerNumbersReadAsTheHostDecoderReadsThem(timestamp: String) throws {
        let tree = try TestTree()
        let files = [
            "runner-installed.timestamp": "1600000000.25",
            "pre-job-metrics.json": Sample.preJob.replacingOccurrences(of: "1700000030", with: timestamp),
            "post-job-metrics.json": #"{"timestamp": \#(timestamp), "status": "normal"}"#,
        ]
        try tree.runner("r1", files)
        let result = try tree.extract()
        #expect(result.status == 0, "\(result.stderr)")
        let bytes = files.mapValues { Array($0.utf8) }
        let record = try bytes["runner-installed.timestamp"]!.withUnsafeBytes { installed in
            try bytes["pre-job-metrics.json"]!.withUnsafeBytes { pre in
                try bytes["post-job-metrics.json"]!.withUnsafeBytes { post in
                    try RunnerFileDecoder.decodeRecord(installationStart: nil, installed: installed, preJob: pre, postJob: post)
                }
            }
        }
        let expected = MetricEvent.events(for: record).map { String($0.jsonLine(flavor: "small").dropLast()) }  // without "\n"
        #expect(expected.count == 2 && tree.metricLines == expected)
    }

    /// A number that rounds to zero or to infinity is rejected by the worker binary exactly as
    /// by the host decoder.
    @Test(arguments: ["1e-400", "1e309", "0." + String(repeating: "0", count: 400) + "1"])
    func workerRejectsNumbersOutsideDoubleRange(timestamp: String) throws {
        let tree = try TestTree()
        try tree.runner("r1", ["runner-installed.timestamp": "1600000000", "pre-job-metrics.json": Sample.preJob.replacingOccurrences(of: "1700000030", with: timestamp)])
        let result = try tree.extract()
        #expect(result.status == 3)
        #expect(tree.metricLines.isEmpty)
        #expect(tree.auditLines.count == 1 && tree.auditLines.first?.contains(#""reason": "invalid-value""#) == true)
    }

    @Test func ignoredRunnersAreNotTouched() throws {
        let tree = try TestTree()
        let active = try tree.runner("active-1", Sample.complete)
        let listed = try tree.runner("active-2", ["pre-job-metrics.json": "not json"])
        let done = try tree.runner("done-1", Sample.complete)
        let ignoreFile = tree.root + "/ignore"
        _ = FileManager.default.createFile(atPath: ignoreFile, contents: Data("# active runners\nactive-2\n\n".utf8))
        let result = try tree.extract(["--ignore", "active-1", "--ignore-file", ignoreFile])
        #expect(result.status == 0)
        #expect(tree.exists(active + "/pre-job-metrics.json"))
        #expect(tree.exists(listed + "/pre-job-metrics.json"))
        #expect(!tree.exists(done))
        #expect(tree.metricLines == [Sample.installedLine, Sample.startLine, Sample.stopLine])
        #expect(summary(result)["ignored"] == 2)
    }

    /// Upstream's corrupt cases: each quarantined, no event, with its exact reason code.
    @Test(arguments: [
        ("pre-job-metrics.json", #"{"workflow": "CI", "repository": "octo/app", "event": "push", "timestamp": -1, "workflow_run_id": "42"}"#, "invalid-value"),
        ("post-job-metrics.json", "this is not json", "invalid-json"),
        ("pre-job-metrics.json", "[1, 2, 3]", "invalid-value"),
        ("runner-installed.timestamp", "yesterday", "invalid-timestamp"),
        ("runner-installation-start.timestamp", String(repeating: "1", count: 1025), "file-too-large"),
        ("runner-installed.timestamp", String(repeating: "1", count: 1025), "file-too-large"),
        ("pre-job-metrics.json", String(repeating: " ", count: 1025 - Sample.preJob.utf8.count) + Sample.preJob, "file-too-large"),
        ("post-job-metrics.json", String(repeating: " ", count: 1025 - Sample.postJob.utf8.count) + Sample.postJob, "file-too-large"),
    ])
    func corruptRunnerIsQuarantinedWithReason(file: String, body: String, reason: String) throws {
        let tree = try TestTree()
        var files = Sample.complete
        files[file] = body
        let dir = try tree.runner("bad", files)
        let honest = try tree.runner("good", Sample.complete)
        let result = try tree.extract()
        #expect(result.status == 3, "\(result.stderr)")
        #expect(tree.metricLines == [Sample.installedLine, Sample.startLine, Sample.stopLine])
        #expect(!tree.exists(dir) && !tree.exists(honest))
        #expect(tree.reasons == ["bad": reason])
        let entry = try #require(tree.auditEntries.first)
        #expect(entry["file"] as? String == file)
        let evidence = try #require(entry["evidence"] as? String)
        #expect(tree.exists(evidence + "/" + file))
        #expect(tree.quarantined().count == 1)
    }

    @Test func exactly1024BytesIsAccepted() throws {
        let tree = try TestTree()
        var files = Sample.complete
        files["pre-job-metrics.json"] = String(repeating: " ", count: 1024 - Sample.preJob.utf8.count) + Sample.preJob
        try tree.runner("r1", files)
        #expect(try tree.extract().status == 0)
        #expect(tree.metricLines == [Sample.installedLine, Sample.startLine, Sample.stopLine])
    }

    /// A 64 KiB tmpfs under the tree, filled up: where a metrics log can take nothing.
    static func fullVolume(_ tree: TestTree) throws -> String {
        let volume = tree.root + "/logvol"
        try TestTree.directory(volume)
        try Tool.sh("mount -t tmpfs -o size=64k tmpfs '\(volume)' && (dd if=/dev/zero of='\(volume)/filler' bs=4k 2>/dev/null; true)")
        return volume
    }

    /// The metrics log cannot be written: nothing is deleted, exit 1, and a later run with a
    /// writable log issues the events once.
    @Test func fullMetricsLogKeepsRunnersAndIssuesOnceLater() throws {
        let tree = try TestTree()
        let volume = try Self.fullVolume(tree)
        defer { _ = try? Tool.sh("umount -l '\(volume)'") }
        let log = volume + "/metrics.log"
        let dir = try tree.runner("r1", Sample.complete)
        let args = ["--metrics-log", log]
        let first = try Tool.run(Tool.runnerMetrics, ["extract"] + tree.standardArguments + ["--json"] + args)
        #expect(first.status == 1)
        #expect(first.stderr.contains("No space left on device"))
        #expect(tree.exists(dir + "/pre-job-metrics.json"))
        #expect((try? String(contentsOfFile: log, encoding: .utf8)) ?? "" == "")
        try Tool.sh("rm '\(volume)/filler'")
        let second = try Tool.run(Tool.runnerMetrics, ["extract"] + tree.standardArguments + ["--json"] + args)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try String(contentsOfFile: log, encoding: .utf8) == [Sample.installedLine, Sample.startLine, Sample.stopLine].joined(separator: "\n") + "\n")
        #expect(!tree.exists(dir))
    }

    /// After the first batch the metrics log refuses, the run attempts no other: it starts no
    /// more workers, keeps every runner (the failed batch, the workers killed, the runners never
    /// started) and says so once. A later fsync of the same file could report success for pages
    /// a failed one lost.
    @Test func aFailedBatchStopsTheRunAndKeepsEveryRunner() throws {
        let tree = try TestTree()
        let volume = try Self.fullVolume(tree)
        defer { _ = try? Tool.sh("umount -l '\(volume)'") }
        let names = (0..<100).map { String(format: "r%03d", $0) }
        for name in names { try tree.runner(name, Sample.complete) }
        let result = try Tool.run(Tool.runnerMetrics, ["extract"] + tree.standardArguments + ["--json", "--metrics-log", volume + "/metrics.log"])
        #expect(result.status == 1)
        let counts = summary(result)
        #expect(counts["kept"] == 100 && counts["deleted"] == 0 && counts["errors"] == 1, "\(counts)")
        #expect(result.stderr.components(separatedBy: "No space left on device").count == 2, "\(result.stderr)")
        #expect(result.stderr.contains("stopped after the failure above"))
        for name in names { #expect(tree.exists(tree.fs + "/" + name + "/pre-job-metrics.json")) }
        #expect((try? String(contentsOfFile: volume + "/metrics.log", encoding: .utf8)) ?? "" == "")
    }

    @Test func missingRunnerFSDirectoryIsNothingToDo() throws {
        let tree = try TestTree()
        let result = try Tool.run(Tool.runnerMetrics, ["extract"] + tree.standardArguments + ["--runner-fs-dir", tree.root + "/absent"])
        #expect(result.status == 0)
        #expect(tree.metricLines.isEmpty)
    }

    @Test func secondConcurrentRunExits75() throws {
        let tree = try TestTree()
        try tree.runner("r1", Sample.complete)
        // Hold the lock as another run would, with flock(1).
        try TestTree.directory(tree.state)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = [tree.state + "/lock", "sleep", "30"]
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        var waited = 0
        while waited < 200, (try? Tool.run("/usr/bin/flock", ["-n", tree.state + "/lock", "true"]).status) == 0 {
            usleep(10_000); waited += 1
        }
        let result = try tree.extract()
        #expect(result.status == 75)
        #expect(tree.metricLines.isEmpty)
        #expect(tree.exists(tree.fs + "/r1"))
    }

    @Test func invalidRunnerNamesAreSkippedAndAudited() throws {
        let tree = try TestTree()
        let weird = ["bad\nname", "dots..ok-but-\u{2215}slash", String(repeating: "x", count: 200)]
        for name in weird { try TestTree.directory(tree.fs + "/" + name) }
        try tree.runner("good", Sample.complete)
        let result = try tree.extract()
        #expect(result.status == 3)
        #expect(summary(result)["skipped"] == 3)
        for name in weird { #expect(tree.exists(tree.fs + "/" + name)) }
        #expect(tree.auditEntries.count == 3)
        #expect(tree.auditEntries.allSatisfy { $0["reason"] as? String == "invalid-runner-name" })
        #expect(tree.auditLines.count == 3)  // the newline stayed escaped: still one line each
        // The operator's table shows the name as audited (\x0a), escaped once, not twice.
        let table = try Tool.run(Tool.runnerMetrics, ["audit", "--audit-log", tree.auditLog])
        #expect(table.status == 0)
        #expect(table.stdout.contains(#" bad\x0aname "#))
        #expect(!table.stdout.contains(#"bad\\x0aname"#))
        let filtered = try Tool.run(Tool.runnerMetrics, ["audit", "--audit-log", tree.auditLog, "--runner", #"bad\x0aname"#, "--json"])
        #expect(filtered.stdout.split(separator: "\n").count == 1)
        #expect(tree.metricLines.count == 3)
    }
}
