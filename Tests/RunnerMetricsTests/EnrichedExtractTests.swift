import Foundation
import Glibc
import Testing

// `extract --github-token-file` end to end: the real tool, its GitHub process and the fake API
// (Tests/Support/fake_github.py, HTTPS with a CA made per test). The fake's scenario is the
// repository's name; the runner names below are the ones its job lists name.

/// One runner as upstream's writers leave it, naming `repository`; `stop`: a post-job file too.
private func runnerFiles(_ repository: String, stop: Bool = true) -> [String: String] {
    var files = [
        "runner-installed.timestamp": "1700000000",
        "pre-job-metrics.json": #"{"workflow": "CI", "repository": "\#(repository)", "event": "push", "timestamp": 1700000030, "workflow_run_id": "1"}"#,
    ]
    if stop { files["post-job-metrics.json"] = #"{"timestamp": 1700000330, "status": "abnormal", "status_info": {"code": 1}}"# }
    return files
}

private func startLine(_ repository: String, _ github: String = "") -> String {
    #"{"timestamp": 1700000030.0, "event": "runner_start", "flavor": "small", "workflow": "CI", "repo": "\#(repository)", "github_event": "push", "idle": 30.0\#(github)}"#
}

private func stopLine(_ repository: String, _ github: String = "") -> String {
    #"{"timestamp": 1700000330.0, "event": "runner_stop", "flavor": "small", "workflow": "CI", "repo": "\#(repository)", "github_event": "push", "status": "abnormal", "status_info": {"code": 1}, "job_duration": 300.0\#(github)}"#
}

private func gitHubArguments(_ fake: FakeGitHub, url: String? = nil, timeout: String = "5", budget: String = "60") -> [String] {
    ["--github-token-file", fake.tokenFile, "--github-api-url", url ?? fake.url, "--github-ca-file", fake.caFile,
     "--github-timeout", timeout, "--github-budget", budget]
}

/// The `--json` summary's `github_failures_by_kind`.
private func failuresByKind(_ result: Tool.Result) -> [String: Int] {
    guard let line = result.stdout.split(separator: "\n").last,
          let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
          let kinds = object["github_failures_by_kind"] as? [String: Any] else { return [:] }
    return kinds.compactMapValues { $0 as? Int }
}

@Suite(.serialized) struct EnrichedExtractTests {
    /// Every outcome in one run: the lines are upstream's with the API's fields exactly where
    /// it answered, and today's lines where it did not; the summary and the textfile count both.
    @Test func linesCarryTheAPIsFieldsWhereItAnswered() throws {
        let fake = try FakeGitHub()
        let tree = try TestTree()
        let runners: [(name: String, repository: String, stop: Bool)] = [
            ("runner-0", "octo/nomatch", true),           // no job names the runner
            ("runner-1", "octo/single", true),            // 12.5 s, success
            ("runner-i", "octo/single", false),           // pre-job only; no job names it either
            ("runner-inv", "octo/a b", true),             // not GitHub's syntax: never sent
            ("runner-n", "octo/nullconclusion", true),    // 12.5 s, conclusion null
            ("runner-neg", "octo/negative", true),        // started before created: 0.0
            ("runner-p", "octo/pages", true),             // page 3 of 3, offsets and fractions
            ("runner-t", "octo/twice", true),             // named twice: refused
            ("runner-x", "octo/s401", true),              // 401
        ]
        for runner in runners { try tree.runner(runner.name, runnerFiles(runner.repository, stop: runner.stop)) }
        try tree.runner("runner-z", ["runner-installed.timestamp": "1700000000"])  // no job: never asked
        let textfile = tree.root + "/textfile"
        let result = try tree.extract(gitHubArguments(fake) + ["--textfile-dir", textfile])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(tree.metricLines == [
            startLine("octo/nomatch"), stopLine("octo/nomatch"),
            startLine("octo/single", #", "queue_duration": 12.5"#), stopLine("octo/single", #", "job_conclusion": "success""#),
            startLine("octo/single"),
            startLine("octo/a b"), stopLine("octo/a b"),
            startLine("octo/nullconclusion", #", "queue_duration": 12.5"#), stopLine("octo/nullconclusion"),
            startLine("octo/negative", #", "queue_duration": 0.0"#), stopLine("octo/negative", #", "job_conclusion": "success""#),
            startLine("octo/pages", #", "queue_duration": 1.750001"#), stopLine("octo/pages", #", "job_conclusion": "failure""#),
            startLine("octo/twice"), stopLine("octo/twice"),
            startLine("octo/s401"), stopLine("octo/s401"),
        ])
        let counts = summary(result)
        #expect(counts["github_enriched"] == 4)
        #expect(counts["github_unenriched"] == 5)
        #expect(failuresByKind(result) == ["not-found": 2, "invalid-request": 1, "ambiguous": 1, "http-401": 1])
        #expect(counts["deleted"] == 10)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: tree.fs)) ?? ["?"]).isEmpty)
        // The token went as a bearer token; the pages asked are exactly the three there are.
        let requests = fake.requests()
        #expect(!requests.isEmpty && requests.allSatisfy { $0.headers["Authorization"] == "Bearer \(FakeGitHub.token)" })
        #expect(fake.pages(of: "octo/pages") == ["per_page=100&page=1", "per_page=100&page=2", "per_page=100&page=3"])
        #expect(!requests.contains { $0.path.contains("a%20b") || $0.path.contains("a b") }, "an invalid repository was sent")
        let prom = HardeningSupport.read(textfile + "/runner-metrics.prom")
        #expect(prom.contains("runner_metrics_github_enriched_total 4\n"))
        #expect(prom.contains("runner_metrics_github_unenriched_total{kind=\"not-found\"} 2\n"))
        #expect(prom.contains("runner_metrics_github_unenriched_total{kind=\"http-401\"} 1\n"))
        #expect(prom.contains("runner_metrics_github_unenriched_total{kind=\"process-failed\"} 0\n"))
    }

    /// A crash after the enriched lines are out leaves them out once: the next run, with the API
    /// gone, issues neither them again nor the runner without the fields. A crash before the
    /// lines leaves nothing out: the next run issues the runner once, as it then can. Both
    /// orders are proven to have happened.
    @Test func aKilledRunNeverIssuesARunnerWithAndWithoutTheFields() throws {
        let fake = try FakeGitHub()
        var keptEnriched = 0
        var issuedAfresh = 0
        for (call, n) in [("unlinkat", 1), ("unlinkat", 3), ("fsync", 1), ("fsync", 2), ("fsync", 3)] {
            let tree = try TestTree()
            try tree.runner("runner-1", runnerFiles("octo/single"))
            try tree.runner("runner-neg", runnerFiles("octo/negative"))
            try tree.runner("runner-0", runnerFiles("octo/nomatch"))
            let follow = call == "unlinkat" ? ["-f"] : []
            let killed = try Tool.run("/usr/bin/strace", ["-qq"] + follow + [
                "-o", "/dev/null", "-e", "trace=\(call)", "-e", "inject=\(call):signal=KILL:when=\(n)",
                Tool.runnerMetrics, "extract"] + tree.standardArguments + gitHubArguments(fake))
            #expect(killed.status == SIGKILL, "\(call)#\(n) did not kill the run: \(killed.status) \(killed.stderr)")
            // The API is gone for the next run: nothing listens on port 1.
            let final = try tree.extract(gitHubArguments(fake, url: "https://127.0.0.1:1"))
            #expect(final.status == 0, "\(final.stderr)")
            let lines = tree.metricLines
            #expect(lines.count == 6, "\(call)#\(n): \(lines)")
            for repository in ["octo/single", "octo/negative", "octo/nomatch"] {
                #expect(lines.filter { $0.contains(#""event": "runner_start""#) && $0.contains(#""repo": "\#(repository)""#) }.count == 1,
                        "\(call)#\(n): \(repository) issued other than once: \(lines)")
            }
            if lines.contains(startLine("octo/single", #", "queue_duration": 12.5"#)) {
                keptEnriched += 1
                #expect(!lines.contains(startLine("octo/single")))
                #expect(lines.contains(stopLine("octo/single", #", "job_conclusion": "success""#)))
            } else if lines.contains(startLine("octo/single")) {
                issuedAfresh += 1
                #expect(failuresByKind(final)["connect-failed"] == 3, "\(final.stdout)")
            }
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: tree.fs)) ?? ["?"]).isEmpty)
        }
        print("kills with enrichment on: \(keptEnriched) after the enriched lines were out, \(issuedAfresh) before")
        #expect(keptEnriched >= 1, "no kill landed after the enriched lines were out")
        #expect(issuedAfresh >= 1, "no kill landed before the lines were out")
    }

    /// A token file anyone may read is refused: the run still issues every runner, without the
    /// API's fields, asks nothing, and exits 1 so that someone looks.
    @Test func aTokenFileOthersCanReadIsRefusedAndTheRunGoesOn() throws {
        let fake = try FakeGitHub()
        let tree = try TestTree()
        try tree.runner("runner-1", runnerFiles("octo/single"))
        chmod(fake.tokenFile, 0o644)
        let result = try tree.extract(gitHubArguments(fake))
        #expect(result.status == 1)
        #expect(result.stderr.contains("GitHub API:"), "\(result.stderr)")
        #expect(tree.metricLines == [startLine("octo/single"), stopLine("octo/single")])
        #expect(summary(result)["errors"] == 1)
        #expect(summary(result)["github_unenriched"] == 0)
        #expect(fake.requests().isEmpty)
        #expect(!tree.exists(tree.fs + "/runner-1"))
    }

    /// SIGTERM while the run waits on an API that never answers ends the wait at once: the
    /// batch is issued without the fields (`interrupted`), deleted, and the run exits 1. Were
    /// the signal ignored, each runner would wait out its 60 s timeout and the run would not
    /// end within the 120 s this test gives it.
    @Test func sigtermEndsTheWaitOnTheAPI() throws {
        let fake = try FakeGitHub()
        let tree = try TestTree()
        let names = ["runner-h1", "runner-h2", "runner-h3"]
        for name in names { try tree.runner(name, runnerFiles("octo/hang")) }
        let output = tree.root + "/summary.json"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tool.runnerMetrics)
        process.arguments = ["extract"] + tree.standardArguments + ["--json"] + gitHubArguments(fake, timeout: "60", budget: "600")
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.standardError = FileHandle.nullDevice
        try process.run()
        #expect(TestTree.waitUntil(30) { !fake.requests().isEmpty }, "the API was never asked")
        kill(process.processIdentifier, SIGTERM)
        let ended = TestTree.waitUntil(120) { !process.isRunning }
        if !ended { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        #expect(ended, "SIGTERM did not end the wait on the API")
        #expect(process.terminationStatus == 1)
        let result = Tool.Result(status: process.terminationStatus, stdout: HardeningSupport.read(output), stderr: "")
        #expect(failuresByKind(result) == ["interrupted": names.count], "\(result.stdout)")
        #expect(tree.metricLines == names.flatMap { _ in [startLine("octo/hang"), stopLine("octo/hang")] })
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: tree.fs)) ?? ["?"]).isEmpty)
    }

    /// An API that never answers costs the run its budget, not its runners: each is issued
    /// without the fields (the first timing out, the rest once the budget is spent) and deleted.
    @Test func anAPIThatNeverAnswersCostsTheBudgetAndNoRunner() throws {
        let fake = try FakeGitHub()
        let tree = try TestTree()
        let names = (1...6).map { "runner-h\($0)" }
        for name in names { try tree.runner(name, runnerFiles("octo/hang")) }
        let result = try tree.extract(gitHubArguments(fake, timeout: "1", budget: "2.5"))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(tree.metricLines == names.flatMap { _ in [startLine("octo/hang"), stopLine("octo/hang")] })
        let kinds = failuresByKind(result)
        #expect(Set(kinds.keys).isSubset(of: ["timeout", "budget"]), "\(kinds)")
        #expect((kinds["budget"] ?? 0) >= 1, "\(kinds)")
        #expect(kinds.values.reduce(0, +) == names.count)
        #expect(result.stderr.contains("run budget"), "\(result.stderr)")
        #expect(summary(result)["deleted"] == names.count)
    }
}
