import Foundation
import Glibc
import MetricsDecoding
import RunnerWorker
import Testing

/// Runner files exactly as upstream's own writers leave them, through the real `extract`
/// binary: the exact bytes of the metric log and the decision. The expected lines are CPython's
/// `json.dumps` of upstream's event dicts for the same files.
enum Upstream {
    static let installationStartName = "runner-installation-start.timestamp"
    static let installedName = "runner-installed.timestamp"
    static let preJobName = "pre-job-metrics.json"
    static let postJobName = "post-job-metrics.json"
    static let names = [installationStartName, installedName, preJobName, postJobName]

    /// The charm's `str(time.time())` (no newline) and `date +%s` (a newline).
    static let installationStart = "1699999899.6112123"
    static let installed = "1700000000\n"
    /// `jq -n '{...}' > file`: two-space indent, a trailing newline.
    static let preJob = """
        {
          "workflow": "CI",
          "repository": "octo/app",
          "event": "push",
          "timestamp": 1700000030,
          "workflow_run_id": "42"
        }

        """
    static let postJob = """
        {
          "timestamp": 1700000330,
          "status": "abnormal",
          "status_info": {
            "code": 1
          }
        }

        """
    static let contents = [installationStart, installed, preJob, postJob]

    static let installedLine = #"{"timestamp": 1700000000.0, "event": "runner_installed", "flavor": "small", "duration": 100.38878774642944}"# + "\n"
    static let startLine = #"{"timestamp": 1700000030.0, "event": "runner_start", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "idle": 30.0}"# + "\n"
    static let stopLine = #"{"timestamp": 1700000330.0, "event": "runner_stop", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "status": "abnormal", "status_info": {"code": 1}, "job_duration": 300.0}"# + "\n"

    /// The files of `mask` (bit i: `names[i]`), each with its honest content.
    static func files(_ mask: Int) -> [String: String] {
        var out: [String: String] = [:]
        for (i, name) in names.enumerated() where mask & (1 << i) != 0 { out[name] = contents[i] }
        return out
    }

    /// Upstream's events for each mask: runner_installed with both timestamps, runner_start
    /// with installed and pre-job, runner_stop with post-job too.
    static let linesByMask: [String] = [
        "", "", "", installedLine,
        "", "", startLine, installedLine + startLine,
        "", "", "", installedLine,
        "", "", startLine + stopLine, installedLine + startLine + stopLine,
    ]
}

extension TestTree {
    /// The metric log's bytes as they are (no splitting, so a missing final newline shows).
    var metricLogText: String {
        String(decoding: FileManager.default.contents(atPath: metricsLog) ?? Data(), as: UTF8.self)
    }
}

@Suite struct UpstreamShapesTests {
    /// The warning the supervisor writes for an empty file: runner and file, nothing of the contents.
    static func warning(_ runner: String, _ file: String) -> String {
        "runner-metrics: warning: \"\(runner)\": \(file) is empty (0 bytes): decided as absent, as upstream does\n"
    }

    /// Each of the four files empty beside the other three honest ones: the events upstream
    /// issues for that file missing, exit 0, no audit line, the runner deleted, counted once.
    @Test(arguments: [
        (Upstream.installationStartName, Upstream.startLine + Upstream.stopLine),
        (Upstream.installedName, ""),
        (Upstream.preJobName, Upstream.installedLine),
        (Upstream.postJobName, Upstream.installedLine + Upstream.startLine),
    ])
    func emptyFileIsDecidedAsAbsent(file: String, expected: String) throws {
        let tree = try TestTree()
        var files = Upstream.files(0xF)
        files[file] = ""
        let dir = try tree.runner("r1", files)
        let textfile = tree.root + "/textfile"
        let result = try tree.extract(["--textfile-dir", textfile])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(tree.metricLogText == expected)
        #expect(!tree.exists(dir))
        #expect(!tree.exists(tree.auditLog) || tree.auditLines.isEmpty)
        #expect(tree.quarantined().isEmpty)
        let counts = summary(result)
        #expect(counts["empty_files"] == 1)
        #expect(counts["deleted"] == 1 && counts["quarantined"] == 0 && counts["errors"] == 0 && counts["kept"] == 0)
        #expect(result.stderr == Self.warning("r1", file))
        let prom = String(decoding: FileManager.default.contents(atPath: textfile + "/runner-metrics.prom") ?? Data(), as: UTF8.self)
        for name in Upstream.names {
            #expect(prom.contains("runner_metrics_empty_files_total{file=\"\(name)\"} \(name == file ? 1 : 0)\n"), "\(name)")
        }
    }

    /// All 16 present/missing combinations in one run (lines go out in runner-name order), then
    /// the same 16 with every missing file present but empty: byte-identical log, 32 empty files.
    @Test func everyCombinationPresentMissingOrEmpty() throws {
        let expected = Upstream.linesByMask.joined()
        do {
            let tree = try TestTree()
            var dirs: [String] = []
            for mask in 0..<16 { dirs.append(try tree.runner("c\(mask < 10 ? "0" : "")\(mask)", Upstream.files(mask))) }
            let result = try tree.extract()
            #expect(result.status == 0, "\(result.stderr)")
            #expect(tree.metricLogText == expected)
            #expect(dirs.allSatisfy { !tree.exists($0) })
            #expect(summary(result)["deleted"] == 16 && summary(result)["empty_files"] == 0)
            #expect(result.stderr.isEmpty)
        }
        do {
            let tree = try TestTree()
            var dirs: [String] = []
            var warnings = ""
            for mask in 0..<16 {
                let name = "c\(mask < 10 ? "0" : "")\(mask)"
                var files = Upstream.files(mask)
                for (i, file) in Upstream.names.enumerated() where mask & (1 << i) == 0 {
                    files[file] = ""
                    warnings += Self.warning(name, file)
                }
                dirs.append(try tree.runner(name, files))
            }
            let result = try tree.extract()
            #expect(result.status == 0, "\(result.stderr)")
            #expect(tree.metricLogText == expected)
            #expect(dirs.allSatisfy { !tree.exists($0) })
            #expect(!tree.exists(tree.auditLog) || tree.auditLines.isEmpty)
            #expect(summary(result)["deleted"] == 16 && summary(result)["empty_files"] == 32 && summary(result)["quarantined"] == 0)
            #expect(result.stderr == warnings)
        }
    }

    /// Clamped idle and job_duration are written 0.0, as upstream's float fields write them.
    @Test func clampedValuesAreWrittenAsFloatZero() throws {
        let tree = try TestTree()
        try tree.runner("r1", [
            Upstream.installedName: "1700000100\n",
            Upstream.preJobName: Upstream.preJob,
            Upstream.postJobName: """
                {
                  "timestamp": 1700000000,
                  "status": "repo-policy-check-failure",
                  "status_info": {
                    "code": 403
                  }
                }

                """,
        ])
        let result = try tree.extract()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(tree.metricLogText == [
            #"{"timestamp": 1700000030.0, "event": "runner_start", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "idle": 0.0}"#,
            #"{"timestamp": 1700000000.0, "event": "runner_stop", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "status": "repo-policy-check-failure", "status_info": {"code": 403}, "job_duration": 0.0}"#,
        ].map { $0 + "\n" }.joined())
    }

    /// `inspect` names the empty files in the record it prints, and issues nothing.
    @Test func inspectNamesEmptyFiles() throws {
        let tree = try TestTree()
        var files = Upstream.files(0xF)
        files[Upstream.postJobName] = ""
        let dir = try tree.runner("r1", files)
        let result = try Tool.run(Tool.runnerMetrics, ["inspect", dir, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains(#""empty_files": ["post-job-metrics.json"]"#), "\(result.stdout)")
        #expect(result.stdout.hasPrefix(#"{"verdict": "valid""#))
        #expect(tree.exists(dir + "/" + Upstream.postJobName))
    }

    /// An image read from userspace (after a reboot, or quarantined evidence) decides an empty
    /// file as a directory does: the worker's image path, then the real binary's `inspect`.
    @Test(arguments: RunnerFile.allCases)
    func emptyFileInAnImage(_ file: RunnerFile) throws {
        var files = Upstream.files(0xF).mapValues { Array($0.utf8) }
        files[file.rawValue] = []
        let image = try ImageReaderTests.Image(files: files)
        var empty = RunnerFileSet()
        empty.insert(file)
        guard case .valid(let record) = try ImageReaderTests.verdict(ofImageAt: image.path) else {
            Issue.record("image with an empty \(file.rawValue) not valid")
            return
        }
        #expect(record.emptyFiles == empty)
        let expected = Upstream.linesByMask[0xF & ~(1 << RunnerFile.allCases.firstIndex(of: file)!)]
        var lines: [UInt8] = []
        for event in MetricEvent.events(for: record) { event.appendLine(flavor: "small", to: &lines) }
        #expect(String(decoding: lines, as: UTF8.self) == expected)
        let result = try Tool.run(Tool.runnerMetrics, ["inspect", image.path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains(#""empty_files": ["\#(file.rawValue)"]"#), "\(result.stdout)")
    }

    /// A symlinked metric file (upstream follows it as root) is refused unopened and the runner
    /// quarantined: a row of the differences table, checked on the real binary.
    @Test func symlinkedMetricFileIsQuarantined() throws {
        let tree = try TestTree()
        var files = Upstream.files(0xF)
        files[Upstream.preJobName] = nil
        let dir = try tree.runner("r1", files)
        symlink("/etc/hostname", dir + "/" + Upstream.preJobName)
        let result = try tree.extract()
        #expect(result.status == 3, "\(result.stderr)")
        #expect(tree.metricLogText == "")
        #expect(tree.reasons == ["r1": "not-regular-file"])
        #expect(tree.auditEntries.first?["detail"] as? String == "not a regular file (symlink)")
    }

    /// Invalid UTF-8 in a timestamp file quarantines that runner only (upstream's read_text
    /// raises out of extract() and stops handling every later runner).
    @Test func invalidUTF8TimestampQuarantinesOnlyThatRunner() throws {
        let tree = try TestTree()
        var bad = Upstream.files(0xF).mapValues { Array($0.utf8) }
        bad[Upstream.installedName] = [0x31, 0x37, 0xFF, 0x0A]
        try tree.runnerBytes("a-bad", bad)
        let good = try tree.runner("b-good", Upstream.files(0xF))
        let result = try tree.extract()
        #expect(result.status == 3, "\(result.stderr)")
        #expect(tree.metricLogText == Upstream.installedLine + Upstream.startLine + Upstream.stopLine)
        #expect(tree.reasons == ["a-bad": "invalid-timestamp"])
        #expect(!tree.exists(good))
    }
}
