import Foundation
import Testing

/// The built tool and probe, found next to the test executable (.build/<config>/).
enum Tool {
    static let productsDirectory: URL = {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        // An .xctest bundle directory (not the Linux case) sits one level deeper.
        while directory.path != "/" && !FileManager.default.fileExists(atPath: directory.appendingPathComponent("runner-metrics").path) {
            directory = directory.deletingLastPathComponent()
        }
        return directory
    }()

    static var runnerMetrics: String { productsDirectory.appendingPathComponent("runner-metrics").path }
    static var probe: String { productsDirectory.appendingPathComponent("runner-metrics-probe").path }
    /// The Embedded worker binaries the tool and the probe exec; built by `swift build`, not by
    /// `swift test` (see Package.swift).
    static let workerBinaries = ["runner-metrics-worker", "runner-metrics-probe-worker"]

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a program to completion with a bounded wait; kills it if it overruns. Output goes
    /// to temporary files, so a chatty child can never block on a full pipe.
    static func run(_ program: String, _ arguments: [String], timeout: Double = 120) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("rm-out-\(UUID().uuidString)")
        let outPath = base.path + ".out", errPath = base.path + ".err"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outPath); try? FileManager.default.removeItem(atPath: errPath) }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try out.close()
        try err.close()
        let stdout = FileManager.default.contents(atPath: outPath) ?? Data()
        let stderr = FileManager.default.contents(atPath: errPath) ?? Data()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Runs a shell command for test set-up (mkfs, mount, losetup); fails the test on error.
    @discardableResult
    static func sh(_ command: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try run("/bin/sh", ["-c", command])
        #expect(result.status == 0, "\(command): \(result.stderr)", sourceLocation: sourceLocation)
        return result.stdout
    }
}

/// A temporary host layout: runner-fs, images, quarantine, logs and state, all under one
/// directory that is removed afterwards.
final class TestTree {
    let root: String
    var fs: String { root + "/runner-fs" }
    var images: String { root + "/runner-fs-images" }
    var quarantine: String { root + "/runner-fs-quarantine" }
    var metricsLog: String { root + "/metrics.log" }
    var auditLog: String { root + "/audit.log" }
    var state: String { root + "/state" }

    init() throws {
        var template = Array("/tmp/rm-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        root = String(cString: made)
        chmod(root, 0o755)
        for dir in [fs, images] { try Self.directory(dir) }
    }

    deinit {
        _ = try? Tool.run("/bin/sh", ["-c", "grep -o ' \(root)[^ ]*' /proc/self/mountinfo | xargs -r -n1 umount -l; chattr -R -i \(root) 2>/dev/null; rm -rf \(root)"])
    }

    static func directory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, 0o755)
    }

    /// A runner directory with files (mode 0755 / 0644, as a runner leaves them).
    @discardableResult
    func runner(_ name: String, _ files: [String: String]) throws -> String {
        try runnerBytes(name, files.mapValues { Array($0.utf8) })
    }

    @discardableResult
    func runnerBytes(_ name: String, _ files: [String: [UInt8]]) throws -> String {
        let dir = fs + "/" + name
        try Self.directory(dir)
        for (file, bytes) in files {
            let path = dir + "/" + file
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            chmod(path, 0o644)
        }
        return dir
    }

    var standardArguments: [String] {
        ["--flavor", "small", "--runner-fs-dir", fs, "--images-dir", images, "--quarantine-dir", quarantine,
         "--metrics-log", metricsLog, "--audit-log", auditLog, "--state-dir", state]
    }

    func extract(_ extra: [String] = []) throws -> Tool.Result {
        try Tool.run(Tool.runnerMetrics, ["extract"] + standardArguments + ["--json"] + extra)
    }

    func probe(_ mode: String) throws -> Tool.Result {
        try Tool.run(Tool.probe, [mode, "small", fs, quarantine, metricsLog, auditLog, state])
    }

    var metricLines: [String] { lines(metricsLog) }
    var auditLines: [String] { lines(auditLog) }

    /// Audit entries as dictionaries (JSONSerialization is fine for our own, trusted output).
    var auditEntries: [[String: Any]] {
        auditLines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    var reasons: [String: String] {
        var out: [String: String] = [:]
        for entry in auditEntries { if let runner = entry["runner"] as? String { out[runner] = entry["reason"] as? String } }
        return out
    }

    func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    func quarantined() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: quarantine)) ?? []).sorted()
    }

    private func lines(_ path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

/// The summary object `extract --json` prints.
func summary(_ result: Tool.Result) -> [String: Int] {
    guard let line = result.stdout.split(separator: "\n").last,
          let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return [:] }
    return object.compactMapValues { $0 as? Int }
}

/// Upstream-shaped runner files and the exact lines upstream writes for them.
enum Sample {
    static let installationStart = "1699999900"
    static let installed = "1700000000"
    static let preJob = #"{"workflow": "CI", "repository": "octo/app", "event": "push", "timestamp": 1700000030, "workflow_run_id": "42"}"#
    static let postJob = #"{"timestamp": 1700000330, "status": "normal"}"#

    static let installedLine = #"{"timestamp": 1700000000.0, "event": "runner_installed", "flavor": "small", "duration": 100.0}"#
    static let startLine = #"{"timestamp": 1700000030.0, "event": "runner_start", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "idle": 30.0}"#
    static let stopLine = #"{"timestamp": 1700000330.0, "event": "runner_stop", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "status": "normal", "job_duration": 300.0}"#

    static var complete: [String: String] {
        ["runner-installation-start.timestamp": installationStart, "runner-installed.timestamp": installed,
         "pre-job-metrics.json": preJob, "post-job-metrics.json": postJob]
    }
}

extension TestTree {
    /// Whether some process holds a flock on `<state>/lock`, read from /proc/locks so that
    /// looking never takes the lock itself (which would make the tool exit 75).
    func lockHeld() -> Bool {
        var status = stat()
        guard lstat(state + "/lock", &status) == 0,
              let table = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return false }
        let suffix = ":\(status.st_ino)"
        return table.split(separator: "\n").contains { line in
            line.contains("FLOCK") && line.split(separator: " ").contains { $0.hasSuffix(suffix) }
        }
    }

    /// Polls until `condition` holds or about `seconds` pass.
    @discardableResult
    static func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(1_000)
        }
        return condition()
    }
}

extension TestTree {
    /// `extract` started in the background (output discarded), for tests that act during a run.
    func startExtract(_ extra: [String] = []) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tool.runnerMetrics)
        process.arguments = ["extract"] + standardArguments + extra
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}

/// Every end-to-end test needs the worker binaries beside the tool; say plainly when they are
/// missing instead of letting each test fail on its own.
@Test func workerBinariesAreBuilt() {
    for name in Tool.workerBinaries {
        #expect(FileManager.default.isExecutableFile(atPath: Tool.productsDirectory.appendingPathComponent(name).path),
                "\(name) is missing: run `swift build` before `swift test`")
    }
}
