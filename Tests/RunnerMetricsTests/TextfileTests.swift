import Foundation
import Glibc
import Testing

// `extract --textfile-dir`: the file is valid for promtool and is served by Debian's real
// node_exporter (textfile collector, loopback only, running as the prometheus user as the
// Debian package runs it).

@Suite struct TextfileTests {
    /// Two honest runners and one with a duplicate key, extracted with --textfile-dir into a
    /// directory the tool creates.
    static func extractedTextfile() throws -> (root: String, directory: String) {
        let binary = try HardeningSupport.binary()
        let root = try HardeningSupport.temporaryDirectory()
        chmod(root, 0o755)  // node_exporter, as prometheus, must reach the directory inside
        try HardeningSupport.layTree(root, honest: ["honest-1", "honest-2"], hostile: ["hostile-1"])
        let directory = root + "/textfile"
        let result = try HardeningSupport.run(binary, HardeningSupport.extractArguments(root) + ["--textfile-dir", directory])
        #expect(result.status == 3, "extract: \(result.status) \(result.err)")
        return (root, directory)
    }

    @Test func promtoolAcceptsTheTextfile() throws {
        let promtool = try HardeningSupport.tool("promtool", package: "prometheus")
        let (root, directory) = try Self.extractedTextfile()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let text = HardeningSupport.read(directory + "/" + "runner-metrics.prom")
        #expect(text.contains("runner_metrics_events_issued_total{event=\"runner_start\"} 2\n"))
        // What the host runs, as `--version` says it.
        let version = try Tool.run(Tool.runnerMetrics, ["version"]).stdout
        let commit = String(version.split(separator: " ").last?.dropLast(2) ?? "")
        #expect(commit.count == 12, "\(version)")
        #expect(text.contains("runner_metrics_build_info{version=\"0.9.0\",commit=\"\(commit)\"} 1\n"))
        let result = try HardeningSupport.run(promtool, ["check", "metrics"], stdin: text)
        #expect(result.status == 0, "promtool: \(result.out)\(result.err)")
        #expect(result.out.isEmpty && result.err.isEmpty, "promtool lint: \(result.out)\(result.err)")
        // Readable by node_exporter's own user although the tool runs with umask 077.
        #expect(HardeningSupport.mode(directory) == 0o755)
        #expect(HardeningSupport.mode(directory + "/runner-metrics.prom") == 0o644)
        #expect(!HardeningSupport.exists(directory + "/runner-metrics.prom.tmp"))
    }

    @Test func nodeExporterServesTheSamples() throws {
        let exporter = try HardeningSupport.tool("prometheus-node-exporter", package: "prometheus-node-exporter")
        let setpriv = try HardeningSupport.tool("setpriv", package: "util-linux")
        let curl = try HardeningSupport.tool("curl", package: "curl")
        let (root, directory) = try Self.extractedTextfile()
        defer { try? FileManager.default.removeItem(atPath: root) }

        var scraped: String?
        var log = ""
        // A random high port; if it turns out taken, the exporter exits and another is tried.
        for _ in 0..<5 where scraped == nil {
            let port = Int.random(in: 20000...60000)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: setpriv)
            process.arguments = ["--reuid=prometheus", "--regid=prometheus", "--init-groups", "--inh-caps=-all",
                                 exporter, "--web.listen-address=127.0.0.1:\(port)",
                                 "--collector.disable-defaults", "--collector.textfile",
                                 "--collector.textfile.directory=" + directory]
            let logPath = root + "/exporter.log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            process.standardOutput = logHandle
            process.standardError = logHandle
            process.standardInput = FileHandle.nullDevice
            try process.run()
            defer {
                if process.isRunning { process.terminate() }
                process.waitUntilExit()
                try? logHandle.close()
            }
            let deadline = Date().addingTimeInterval(15)
            while process.isRunning && Date() < deadline {
                let result = try HardeningSupport.run(curl, ["-sS", "--max-time", "2", "http://127.0.0.1:\(port)/metrics"])
                if result.status == 0 && result.out.contains("node_textfile_scrape_error") {
                    scraped = result.out
                    break
                }
                usleep(100_000)
            }
            log = HardeningSupport.read(logPath)
        }
        let metrics = try #require(scraped, "node_exporter never answered: \(log)")
        let samples = Set(metrics.split(separator: "\n").map(String.init))
        for expected in [
            #"runner_metrics_events_issued_total{event="runner_start"} 2"#,
            #"runner_metrics_events_issued_total{event="runner_stop"} 0"#,
            #"runner_metrics_events_issued_total{event="runner_installed"} 0"#,
            #"runner_metrics_runners_quarantined_total{reason="duplicate-key"} 1"#,
            #"runner_metrics_runners_quarantined_total{reason="invalid-json"} 0"#,
            "runner_metrics_runners_deleted_total 2",
            "runner_metrics_runs_total 1",
            "runner_metrics_last_run_exit_status 3",
            "runner_metrics_worker_duration_seconds_count 3",
            #"runner_metrics_worker_duration_seconds_bucket{le="+Inf"} 3"#,
            "node_textfile_scrape_error 0",
        ] {
            let found = samples.contains(expected)
            #expect(found, "missing sample: \(expected); served: \(samples.filter { $0.hasPrefix("runner_metrics") || $0.hasPrefix("node_textfile") }.sorted())")
        }
        #expect(metrics.contains(#"node_textfile_mtime_seconds{file="#), "the textfile collector did not read the file")
        #expect(metrics.contains("runner-metrics.prom"))
    }

    /// A textfile directory that cannot be written (here: a path under a regular file, so
    /// mkdir fails with ENOTDIR for root too) is reported and changes nothing else: the events
    /// are issued, the runners deleted and quarantined, and the run exits with its own status.
    @Test func anUnwritableTextfileDirectoryIsReportedWithoutFailingTheRun() throws {
        let binary = try HardeningSupport.binary()
        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try HardeningSupport.layTree(root, honest: ["honest-1"], hostile: ["hostile-1"])
        try HardeningSupport.write(root + "/not-a-directory", "")
        let result = try HardeningSupport.run(binary, HardeningSupport.extractArguments(root)
            + ["--textfile-dir", root + "/not-a-directory/textfile"])
        #expect(result.status == 3, "\(result.status) \(result.err)")
        #expect(result.err.contains("textfile: ") && result.err.contains("the run's own outcome stands"), "\(result.err)")
        #expect(HardeningSupport.read(root + "/metrics.log") == HardeningSupport.startLine(flavor: "F") + "\n")
        #expect(!HardeningSupport.exists(root + "/runner-fs/honest-1"))
        #expect(!HardeningSupport.exists(root + "/runner-fs/hostile-1"))
        #expect(HardeningSupport.read(root + "/audit.log").contains(#""runner": "hostile-1""#))
    }
}
