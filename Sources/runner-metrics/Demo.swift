import ArgumentParser
import Glibc
import RunnerSupervisor

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Lay out honest and hostile sample runners in a temporary directory and run the real extract pipeline on them.")

    @Flag(help: "Leave the temporary directory in place for a look around.") var keep = false

    func run() throws {
        var template = Array("/tmp/runner-metrics-demo-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ValidationError("mkdtemp failed") }
        let root = String(cString: made)
        defer { if !keep { DemoTree.removeAll(root) } }
        try DemoTree.lay(root)
        print("Demo tree in \(root):")
        for line in DemoTree.description { print("  \(line)") }
        print("")
        var config = ExtractConfiguration(flavor: "demo")
        config.runnerFSDir = root + "/runner-fs"
        config.imagesDir = root + "/runner-fs-images"
        config.quarantineDir = root + "/runner-fs-quarantine"
        config.metricsLog = root + "/github-runner-metrics.log"
        config.auditLog = root + "/github-runner-metrics-audit.log"
        config.stateDir = root + "/state"
        config.jobs = 2
        print("$ runner-metrics extract --flavor demo (all paths under \(root))")
        let status = ExtractCommandRunner.run(config: config, textfileDir: nil, diagnostics: Diagnostics(quiet: true),
                                              printJSON: false)
        print("exit status: \(status)\n")
        print("Metric events (\(config.metricsLog)):")
        print(DemoTree.read(config.metricsLog), terminator: "")
        print("\nAudit log (\(config.auditLog)):")
        print(DemoTree.read(config.auditLog), terminator: "")
        print("\nQuarantine (\(config.quarantineDir)):")
        for name in DemoTree.list(config.quarantineDir) { print("  \(name)") }
        if keep { print("\nLeft in place: \(root)") }
    }
}

/// The sample runners: shapes the upstream writes, and attacks it would have parsed as root.
enum DemoTree {
    static let description = [
        "honest-complete   installation start, installed, pre-job, post-job (normal)",
        "honest-abnormal   installed, pre-job, post-job abnormal with exit code 1",
        "honest-pre-only   installed, pre-job: the job never finished",
        "honest-no-job     installed only: no events, deleted",
        "honest-jq-failed  installed, pre-job, empty post-job (jq failed): absent, as upstream; runner_start",
        "hostile-symlink   pre-job-metrics.json -> /etc/shadow",
        "hostile-dupkey    pre-job with \"timestamp\" twice (parsers disagree which wins)",
        "hostile-nan       post-job timestamp NaN (Python's json would accept it)",
        "hostile-large     runner-installed.timestamp of 1025 bytes",
        "hostile-fifo      post-job-metrics.json is a FIFO nobody writes",
        "bad\\nname        a directory name with a newline: never touched",
    ]

    static let pre = #"{"workflow": "CI", "repository": "octo/app", "event": "push", "timestamp": 1700000030, "workflow_run_id": "42"}"#

    static func lay(_ root: String) throws {
        let fs = root + "/runner-fs"
        // The tool runs with umask 077; runner directories are world-searchable as the charm
        // leaves them, so the unprivileged worker can read them.
        func directory(_ path: String) { mkdir(path, 0o755); chmod(path, 0o755) }
        for dir in [fs, root + "/runner-fs-images"] { directory(dir) }
        func runner(_ name: String, _ files: [(String, String)]) {
            directory(fs + "/" + name)
            for (file, body) in files { write(fs + "/" + name + "/" + file, body) }
        }
        runner("honest-complete", [("runner-installation-start.timestamp", "1699999900"), ("runner-installed.timestamp", "1700000000"),
                                   ("pre-job-metrics.json", pre),
                                   ("post-job-metrics.json", #"{"timestamp": 1700000330, "status": "normal"}"#)])
        runner("honest-abnormal", [("runner-installed.timestamp", "1696427232.2253454"), ("pre-job-metrics.json", pre),
                                   ("post-job-metrics.json", #"{"timestamp": 1700000090, "status": "abnormal", "status_info": {"code": 1}}"#)])
        runner("honest-pre-only", [("runner-installed.timestamp", "1700000000\n"), ("pre-job-metrics.json", pre)])
        runner("honest-no-job", [("runner-installed.timestamp", "1700000000")])
        runner("honest-jq-failed", [("runner-installed.timestamp", "1700000000\n"), ("pre-job-metrics.json", pre),
                                    ("post-job-metrics.json", "")])
        runner("hostile-symlink", [("runner-installed.timestamp", "1700000000")])
        symlink("/etc/shadow", fs + "/hostile-symlink/pre-job-metrics.json")
        runner("hostile-dupkey", [("runner-installed.timestamp", "1700000000"),
                                  ("pre-job-metrics.json", #"{"workflow": "CI", "repository": "octo/app", "event": "push", "timestamp": 1700000030, "workflow_run_id": "42", "timestamp": 1}"#)])
        runner("hostile-nan", [("runner-installed.timestamp", "1700000000"), ("pre-job-metrics.json", pre),
                               ("post-job-metrics.json", #"{"timestamp": NaN, "status": "normal"}"#)])
        runner("hostile-large", [("runner-installed.timestamp", String(repeating: "1", count: 1025))])
        runner("hostile-fifo", [("runner-installed.timestamp", "1700000000"), ("pre-job-metrics.json", pre)])
        mkfifo(fs + "/hostile-fifo/post-job-metrics.json", 0o644)
        directory(fs + "/bad\nname")
    }

    static func write(_ path: String, _ text: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        fchmod(fd, 0o644)
        close(fd)
    }

    static func read(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "(none)\n" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Removes the demo tree (ours, made moments ago) the simple way.
    static func removeAll(_ path: String) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        if status.st_mode & S_IFMT == S_IFDIR {
            for name in list(path) { removeAll(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}
