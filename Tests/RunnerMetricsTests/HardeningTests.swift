import Foundation
import Glibc
import Testing

// Tests of what ships in Security/ (systemd unit, cron entry, logrotate) and of the tool's
// process hygiene, run against the built `runner-metrics` binary and the real system tools.
// Every tool they need comes from a Debian package that .ci/run installs; a missing tool is a
// failure, never a skip.

/// Helpers shared by HardeningTests and TextfileTests.
enum HardeningSupport {
    /// The package root, from this file's path (Tests/RunnerMetricsTests/HardeningTests.swift).
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func security(_ relative: String) -> String { packageRoot + "/Security/" + relative }

    /// The built `runner-metrics`, next to the test executable in the build products directory
    /// (whatever the scratch path: .build in CI, .build-hardening here).
    static func binary() throws -> String {
        var directories: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            directories.append((exe as NSString).deletingLastPathComponent)
        }
        let argument0 = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        directories.append(argument0.deletingLastPathComponent().path)
        directories.append(Bundle.main.bundleURL.path)
        directories.append(Bundle.main.bundleURL.deletingLastPathComponent().path)
        for directory in directories {
            var current = directory
            // An .xctest bundle directory (macOS layout) sits in the products directory too.
            for _ in 0..<3 {
                let candidate = current + "/runner-metrics"
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
                   FileManager.default.isExecutableFile(atPath: candidate) {
                    return candidate
                }
                current = (current as NSString).deletingLastPathComponent
            }
        }
        throw Missing(what: "runner-metrics next to the test executable (looked in \(directories))")
    }

    struct Missing: Error, CustomStringConvertible {
        var what: String
        var description: String { "not found: \(what)" }
    }

    /// A system tool by absolute path; throws (the test fails) when its package is missing.
    static func tool(_ name: String, package: String) throws -> String {
        for directory in ["/usr/bin", "/usr/sbin", "/bin", "/sbin"] {
            let path = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw Missing(what: "\(name) (Debian package \(package); .ci/run installs it)")
    }

    struct Result {
        var status: Int32
        var out: String
        var err: String
    }

    /// Runs a program to completion, output to temporary files (no pipe deadlock).
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                    stdin: String? = nil) throws -> Result {
        let scratch = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        _ = FileManager.default.createFile(atPath: scratch + "/out", contents: nil)
        _ = FileManager.default.createFile(atPath: scratch + "/err", contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch + "/out"))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch + "/err"))
        process.standardOutput = out
        process.standardError = err
        if let stdin {
            _ = FileManager.default.createFile(atPath: scratch + "/in", contents: Data(stdin.utf8))
            process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: scratch + "/in"))
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        process.waitUntilExit()
        try out.close()
        try err.close()
        return Result(status: process.terminationStatus, out: read(scratch + "/out"), err: read(scratch + "/err"))
    }

    static func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/runner-metrics-hardening-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw Missing(what: "mkdtemp") }
        return String(cString: made)
    }

    static func write(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, mode)
    }

    static func mode(_ path: String) -> mode_t? {
        var status = stat()
        return lstat(path, &status) == 0 ? status.st_mode & 0o7777 : nil
    }

    static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    static let preJob = #"{"workflow": "CI", "repository": "octo/app", "event": "push", "timestamp": 1700000030, "workflow_run_id": "42"}"#
    static let duplicateKeyPreJob = #"{"workflow": "CI", "repository": "octo/app", "event": "push", "timestamp": 1700000030, "workflow_run_id": "42", "timestamp": 1}"#
    static func startLine(flavor: String) -> String {
        #"{"timestamp": 1700000030.0, "event": "runner_start", "flavor": ""# + flavor
            + #"", "workflow": "CI", "repo": "octo/app", "github_event": "push", "idle": 30.0}"#
    }

    /// A host layout under `root`: runner-fs/ with `honest` valid runners and `hostile`
    /// runners whose pre-job file repeats a key. Directories 0755, files 0644 (the worker reads
    /// as nobody).
    static func layTree(_ root: String, honest: [String], hostile: [String] = []) throws {
        for directory in [root + "/runner-fs", root + "/runner-fs-images"] {
            mkdir(directory, 0o755)
            chmod(directory, 0o755)
        }
        for name in honest + hostile {
            let directory = root + "/runner-fs/" + name
            mkdir(directory, 0o755)
            chmod(directory, 0o755)
            try write(directory + "/runner-installed.timestamp", "1700000000")
            try write(directory + "/pre-job-metrics.json", hostile.contains(name) ? duplicateKeyPreJob : preJob)
        }
    }

    /// The `extract` arguments that keep every path under `root`.
    static func extractArguments(_ root: String, flavor: String = "F") -> [String] {
        ["extract", "--flavor", flavor, "--runner-fs-dir", root + "/runner-fs", "--images-dir", root + "/runner-fs-images",
         "--quarantine-dir", root + "/runner-fs-quarantine", "--metrics-log", root + "/metrics.log",
         "--audit-log", root + "/audit.log", "--state-dir", root + "/state"]
    }

    /// The unit's directive values, in order (a directive may repeat).
    static func directives(_ name: String, in unitText: String) -> [String] {
        unitText.split(separator: "\n").compactMap { line in
            let text = String(line)
            return text.hasPrefix(name + "=") ? String(text.dropFirst(name.count + 1)) : nil
        }
    }
}

@Suite struct HardeningTests {
    static var unitPath: String { HardeningSupport.security("systemd/runner-metrics.service") }
    static var timerPath: String { HardeningSupport.security("systemd/runner-metrics.timer") }

    // MARK: systemd unit

    /// Every directive that makes systemd build a mount namespace for the service. In one, the
    /// namespace keeps copies of each runner's loop mount (under the moved root, under a tmpfs
    /// on /home): umount2 removes the visible one and rmdir of the mount point fails with
    /// EBUSY, so the host's mount and loop device would never be released
    /// (Security/THREAT_MODEL.md). The real-systemd acceptance test shows the deletion.
    static let mountNamespaceDirectives = [
        "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateMounts", "PrivateIPC",
        "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths", "ExecPaths", "NoExecPaths", "BindPaths",
        "BindReadOnlyPaths", "TemporaryFileSystem", "ProtectKernelTunables", "ProtectKernelModules",
        "ProtectKernelLogs", "ProtectControlGroups", "ProtectProc", "ProcSubset", "MountFlags", "RootDirectory",
        "RootImage", "MountAPIVFS", "PrivateUsers", "LogsDirectory", "CacheDirectory", "RuntimeDirectory",
    ]

    /// The unit builds no mount namespace, and its exposure is what that leaves: 3.7, every
    /// point above 2.0 one of the namespace options above (systemd-analyze's table).
    @Test func unitBuildsNoMountNamespaceAndExposureIsAtMost3Point7() throws {
        let text = HardeningSupport.read(Self.unitPath)
        for directive in Self.mountNamespaceDirectives {
            #expect(HardeningSupport.directives(directive, in: text).isEmpty, "\(directive)= builds a mount namespace")
        }
        let analyze = try HardeningSupport.tool("systemd-analyze", package: "systemd")
        let result = try HardeningSupport.run(analyze, ["security", "--offline=true", "--no-pager", Self.unitPath])
        let output = result.out + result.err
        let line = try #require(output.split(separator: "\n").first { $0.contains("Overall exposure level for runner-metrics.service:") },
                                "no overall exposure line in: \(output)")
        let number = line.split(separator: ":").last?.split(separator: " ").first.map(String.init) ?? ""
        let exposure = try #require(Double(number), "cannot parse \(line)")
        #expect(exposure <= 3.7, "\(line)")
        // systemd rounds the printed value up; --threshold compares the exact one (tenths).
        let threshold = try HardeningSupport.run(analyze, ["security", "--offline=true", "--no-pager", "--threshold=37", Self.unitPath])
        #expect(threshold.status == 0, "exposure over 3.7: \(threshold.out.suffix(300))")
        // What it keeps without a namespace.
        for (directive, value) in [("NoNewPrivileges", "yes"), ("PrivateNetwork", "yes"), ("RestrictNamespaces", "yes"),
                                   ("MemoryDenyWriteExecute", "yes"), ("RestrictAddressFamilies", "none"),
                                   ("DevicePolicy", "closed"), ("SystemCallArchitectures", "native")] {
            #expect(HardeningSupport.directives(directive, in: text) == [value], "\(directive)")
        }
    }

    /// `systemd-analyze verify` on the shipped unit and timer, unchanged, in a temporary root
    /// holding systemd's own units, /bin/sh and the built binary at /usr/local/bin/runner-metrics.
    /// Without the binary, verify must fail: the check is live.
    @Test func unitVerifiesClean() throws {
        let analyze = try HardeningSupport.tool("systemd-analyze", package: "systemd")
        let binary = try HardeningSupport.binary()
        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/usr/lib/systemd", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/usr/bin", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/usr/local/bin", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/etc/systemd/system", withIntermediateDirectories: true)
        try fm.copyItem(atPath: "/usr/lib/systemd/system", toPath: root + "/usr/lib/systemd/system")
        try fm.createSymbolicLink(atPath: root + "/lib", withDestinationPath: "usr/lib")
        try fm.createSymbolicLink(atPath: root + "/bin", withDestinationPath: "usr/bin")
        // /bin/sh is a symlink (to dash): copy what it names, not the link.
        try fm.copyItem(atPath: URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path, toPath: root + "/usr/bin/sh")
        try fm.copyItem(atPath: Self.unitPath, toPath: root + "/etc/systemd/system/runner-metrics.service")
        try fm.copyItem(atPath: Self.timerPath, toPath: root + "/etc/systemd/system/runner-metrics.timer")
        let arguments = ["verify", "--no-pager", "--root=" + root, "runner-metrics.service", "runner-metrics.timer"]

        let missing = try HardeningSupport.run(analyze, arguments)
        #expect(missing.status != 0 && missing.err.contains("/usr/local/bin/runner-metrics"),
                "verify did not notice the missing binary: \(missing.err)")

        try fm.copyItem(atPath: binary, toPath: root + "/usr/local/bin/runner-metrics")
        let result = try HardeningSupport.run(analyze, arguments)
        #expect(result.status == 0, "verify failed: \(result.err)")
        #expect(result.out.isEmpty && result.err.isEmpty, "verify complained: \(result.out)\(result.err)")
    }

    /// Expands the unit's SystemCallFilter= lines the way systemd does (allow-list, minus the
    /// ~ lines), with systemd-analyze's own group tables.
    static func allowedSystemCalls(analyze: String, unitText: String) throws -> Set<String> {
        var cache: [String: Set<String>] = [:]
        func expand(_ group: String) throws -> Set<String> {
            if let known = cache[group] { return known }
            let listing = try HardeningSupport.run(analyze, ["syscall-filter", "--no-pager", group])
            var calls = Set<String>()
            for line in listing.out.split(separator: "\n").dropFirst() {
                let item = line.trimmingCharacters(in: .whitespaces)
                if item.isEmpty || item.hasPrefix("#") { continue }
                if item.hasPrefix("@") { calls.formUnion(try expand(item)) } else { calls.insert(item) }
            }
            #expect(!calls.isEmpty, "systemd-analyze knows no group \(group)")
            cache[group] = calls
            return calls
        }
        var allowed = Set<String>()
        var denied = Set<String>()
        for value in HardeningSupport.directives("SystemCallFilter", in: unitText) {
            let deny = value.hasPrefix("~")
            for token in value.drop(while: { $0 == "~" }).split(separator: " ").map(String.init) {
                let calls = token.hasPrefix("@") ? try expand(token) : [token]
                if deny { denied.formUnion(calls) } else { allowed.formUnion(calls) }
            }
        }
        return allowed.subtracting(denied)
    }

    /// Every system call the supervisor, the fork server and the workers make in a real run
    /// (strace -f) is allowed by the unit's SystemCallFilter=, which stacks on the workers' own
    /// filter. A refused call would not kill the tool (SystemCallErrorNumber=EPERM) but break
    /// it: libseccomp, for one, cannot build the workers' filter without seccomp(2).
    @Test func unitSystemCallFilterAllowsEveryCallTheToolMakes() throws {
        let analyze = try HardeningSupport.tool("systemd-analyze", package: "systemd")
        let strace = try HardeningSupport.tool("strace", package: "strace")
        let binary = try HardeningSupport.binary()
        let unitText = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
        let allowed = try Self.allowedSystemCalls(analyze: analyze, unitText: unitText)

        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try HardeningSupport.layTree(root, honest: ["honest-1", "honest-2"], hostile: ["hostile-1"])
        let trace = root + "/strace.out"
        let result = try HardeningSupport.run(strace, ["-f", "-qq", "-o", trace, binary]
            + HardeningSupport.extractArguments(root) + ["--textfile-dir", root + "/textfile"])
        #expect(result.status == 3, "extract under strace: \(result.status) \(result.err)")

        var used = Set<String>()
        for line in HardeningSupport.read(trace).split(separator: "\n") {
            // "<pid>  name(args..." ; "<pid>  <... name resumed>" repeats a name already seen.
            let body = line.drop(while: { $0.isNumber }).drop(while: { $0 == " " })
            let name = body.prefix(while: { $0.isLowercase || $0.isNumber || $0 == "_" })
            if !name.isEmpty, body.dropFirst(name.count).first == "(" { used.insert(String(name)) }
        }
        #expect(used.count > 30, "too few system calls parsed from strace: \(used.sorted())")
        // clone: the supervisor starting the fork server; fork: the fork server making workers.
        #expect(used.contains("seccomp") && used.contains("setresuid") && used.contains("clone") && used.contains("fork"))
        // Made only on paths this run does not take: unmounting a loop-mounted runner, killing a
        // worker past its timeout.
        used.formUnion(["umount2", "kill"])
        let refused = used.subtracting(allowed).sorted()
        #expect(refused.isEmpty, "SystemCallFilter= refuses calls the tool makes: \(refused)")
    }

    /// The run works with exactly the unit's CapabilityBoundingSet= and no_new_privs, on runner
    /// trees as the charm leaves them (owned by ubuntu), including a directory only
    /// CAP_DAC_OVERRIDE can enter and a sticky directory only CAP_FOWNER can empty; the
    /// quarantined evidence is chowned to root (CAP_CHOWN). Without DAC_OVERRIDE and FOWNER the
    /// same tree is not deleted: the tree really needs them.
    @Test func unitCapabilitiesSufficeForARun() throws {
        let setpriv = try HardeningSupport.tool("setpriv", package: "util-linux")
        let binary = try HardeningSupport.binary()
        let unitText = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
        let capabilities = HardeningSupport.directives("CapabilityBoundingSet", in: unitText)
            .flatMap { $0.split(separator: " ") }
            .map { $0.lowercased().replacingOccurrences(of: "cap_", with: "") }
        #expect(capabilities.contains("sys_admin") && capabilities.contains("kill"))

        func layOwnedTree(_ root: String) throws {
            try HardeningSupport.layTree(root, honest: ["honest-1"], hostile: ["hostile-1"])
            let runner = root + "/runner-fs/honest-1"
            mkdir(runner + "/private", 0o755)
            try HardeningSupport.write(runner + "/private/secret", "x")
            chmod(runner + "/private", 0o000)
            mkdir(runner + "/sticky", 0o755)
            chmod(runner + "/sticky", 0o1777)
            try HardeningSupport.write(runner + "/sticky/other-users-file", "x")
            lchown(runner + "/sticky/other-users-file", 1001, 1001)
            for path in [runner, runner + "/private", runner + "/private/secret", runner + "/sticky",
                         runner + "/runner-installed.timestamp", runner + "/pre-job-metrics.json",
                         root + "/runner-fs/hostile-1", root + "/runner-fs/hostile-1/runner-installed.timestamp",
                         root + "/runner-fs/hostile-1/pre-job-metrics.json"] {
                lchown(path, 1000, 1000)
            }
        }

        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try layOwnedTree(root)
        let bounding = "-all," + capabilities.map { "+" + $0 }.joined(separator: ",")
        let result = try HardeningSupport.run(setpriv, ["--bounding-set", bounding, "--inh-caps", "-all", "--no-new-privs", binary]
            + HardeningSupport.extractArguments(root))
        #expect(result.status == 3, "exit \(result.status): \(result.out) \(result.err)")
        #expect(result.out.contains("runners: 1 deleted, 1 quarantined"), "\(result.out)")
        #expect(!HardeningSupport.exists(root + "/runner-fs/honest-1"))
        let evidence = try FileManager.default.contentsOfDirectory(atPath: root + "/runner-fs-quarantine")
        #expect(evidence.count == 1 && evidence[0].hasPrefix("hostile-1."))
        var status = stat()
        #expect(lstat(root + "/runner-fs-quarantine/" + (evidence.first ?? "?"), &status) == 0 && status.st_uid == 0,
                "evidence not chowned to root")
        #expect(HardeningSupport.read(root + "/metrics.log") == HardeningSupport.startLine(flavor: "F") + "\n")

        let control = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: control) }
        try layOwnedTree(control)
        let fewer = "-all," + capabilities.filter { $0 != "dac_override" && $0 != "fowner" }.map { "+" + $0 }.joined(separator: ",")
        _ = try HardeningSupport.run(setpriv, ["--bounding-set", fewer, "--inh-caps", "-all", "--no-new-privs", binary]
            + HardeningSupport.extractArguments(control))
        #expect(HardeningSupport.exists(control + "/runner-fs/honest-1"),
                "the control run deleted the tree without CAP_DAC_OVERRIDE/CAP_FOWNER: the test proves nothing")
    }

    // MARK: logrotate

    /// The shipped audit-log config, with its paths moved into a temporary directory, run by
    /// real logrotate three times: history is kept (delaycompress: .1 plain, older .gz),
    /// the new file is 0600, nothing is lost.
    @Test func logrotateKeepsAuditHistory() throws {
        let logrotate = try HardeningSupport.tool("logrotate", package: "logrotate")
        _ = try HardeningSupport.tool("flock", package: "util-linux")
        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let shipped = try String(contentsOfFile: HardeningSupport.security("logrotate/runner-metrics-audit"), encoding: .utf8)
        #expect(shipped.contains("/var/log/github-runner-metrics-audit.log {") && shipped.contains("/var/lib/runner-metrics/lock"))
        let config = shipped
            .replacingOccurrences(of: "/var/log/github-runner-metrics-audit.log", with: root + "/audit.log")
            .replacingOccurrences(of: "/var/lib/runner-metrics", with: root + "/state")
        try HardeningSupport.write(root + "/audit.conf", config, mode: 0o644)
        mkdir(root + "/state", 0o700)
        let audit = root + "/audit.log"
        for round in 1...3 {
            try HardeningSupport.write(audit, "{\"round\": \(round)}\n", mode: 0o600)
            let result = try HardeningSupport.run(logrotate, ["-f", "-s", root + "/logrotate.state", root + "/audit.conf"])
            #expect(result.status == 0, "logrotate round \(round): \(result.err)")
        }
        #expect(HardeningSupport.read(audit).isEmpty, "a new, empty audit log")
        #expect(HardeningSupport.mode(audit) == 0o600)
        #expect(HardeningSupport.read(audit + ".1") == "{\"round\": 3}\n", "delaycompress: the newest old log is plain")
        #expect(HardeningSupport.exists(audit + ".2.gz") && HardeningSupport.exists(audit + ".3.gz"), "history kept, compressed")
        let gunzip = try HardeningSupport.tool("gzip", package: "gzip")
        let oldest = try HardeningSupport.run(gunzip, ["-dc", audit + ".3.gz"])
        #expect(oldest.out == "{\"round\": 1}\n")
        for file in [audit + ".1", audit + ".2.gz", audit + ".3.gz"] {
            #expect(HardeningSupport.mode(file).map { $0 & 0o077 } == 0, "\(file) readable by others")
        }
    }

    /// The prerotate waits for the tool's lock: while a run holds it, logrotate does not
    /// rotate; once released, it does.
    @Test func logrotateWaitsForARunInProgress() throws {
        let logrotate = try HardeningSupport.tool("logrotate", package: "logrotate")
        _ = try HardeningSupport.tool("flock", package: "util-linux")
        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let shipped = try String(contentsOfFile: HardeningSupport.security("logrotate/runner-metrics-audit"), encoding: .utf8)
        try HardeningSupport.write(root + "/audit.conf", shipped
            .replacingOccurrences(of: "/var/log/github-runner-metrics-audit.log", with: root + "/audit.log")
            .replacingOccurrences(of: "/var/lib/runner-metrics", with: root + "/state"))
        mkdir(root + "/state", 0o700)
        try HardeningSupport.write(root + "/audit.log", "{\"held\": true}\n", mode: 0o600)
        // Hold the lock the way the tool does: flock(LOCK_EX) on <state>/lock.
        let lock = open(root + "/state/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        #expect(lock >= 0 && flock(lock, LOCK_EX) == 0)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: logrotate)
        process.arguments = ["-f", "-s", root + "/logrotate.state", root + "/audit.conf"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        usleep(1_500_000)
        #expect(process.isRunning, "logrotate did not wait for the lock")
        #expect(!HardeningSupport.exists(root + "/audit.log.1"), "rotated while a run held the lock")
        close(lock)
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(HardeningSupport.read(root + "/audit.log.1") == "{\"held\": true}\n")
    }

    /// The suggested metrics-log config keeps no old copy (rotate 0), as the charm's does.
    @Test func logrotateMetricsSuggestionKeepsNoCopy() throws {
        let logrotate = try HardeningSupport.tool("logrotate", package: "logrotate")
        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let shipped = try String(contentsOfFile: HardeningSupport.security("logrotate/runner-metrics-metrics.suggested"), encoding: .utf8)
        try HardeningSupport.write(root + "/metrics.conf", shipped
            .replacingOccurrences(of: "/var/log/github-runner-metrics.log", with: root + "/metrics.log")
            .replacingOccurrences(of: "/var/lib/runner-metrics", with: root + "/state"))
        mkdir(root + "/state", 0o700)
        try HardeningSupport.write(root + "/metrics.log", HardeningSupport.startLine(flavor: "F") + "\n", mode: 0o644)
        let result = try HardeningSupport.run(logrotate, ["-f", "-s", root + "/logrotate.state", root + "/metrics.conf"])
        #expect(result.status == 0, "\(result.err)")
        let left = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.hasPrefix("metrics.log") }
        #expect(left == ["metrics.log"], "rotate 0 keeps no copy: \(left)")
        #expect(HardeningSupport.read(root + "/metrics.log").isEmpty)
        #expect(HardeningSupport.mode(root + "/metrics.log") == 0o644, "create keeps the old mode")
    }

    // MARK: cron

    /// The cron line, run by /bin/sh as cron would (its SHELL and PATH), with the binary and
    /// /etc/default file moved into a temporary directory. With a syslog socket (logger pointed
    /// at one the test reads, `logger -u`) the summary reaches syslog tagged runner-metrics;
    /// without one (logger would drop every line silently) it is appended to the fallback file.
    @Test(arguments: [true, false])
    func cronEntryRunsAndLogs(withSyslog: Bool) throws {
        _ = try HardeningSupport.tool("timeout", package: "coreutils")
        _ = try HardeningSupport.tool("logger", package: "bsdutils")
        let binary = try HardeningSupport.binary()
        let text = try String(contentsOfFile: HardeningSupport.security("cron/runner-metrics"), encoding: .utf8)
        let jobs = text.split(separator: "\n").filter { $0.first.map { $0 == "*" || $0.isNumber } ?? false }
        #expect(jobs.count == 1)
        let fields = try #require(jobs.first).split(separator: " ", maxSplits: 6)
        #expect(fields.count == 7 && fields[5] == "root", "m h dom mon dow user command")
        let command = String(fields[6])
        #expect(!command.contains("%"), "cron turns % into a newline")
        #expect(!command.contains("flock"), "the tool locks itself")
        let path = try #require(HardeningSupport.directives("PATH", in: text).first)
        let shell = try #require(HardeningSupport.directives("SHELL", in: text).first)

        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try HardeningSupport.layTree(root, honest: ["honest-1"])
        let defaults = try String(contentsOfFile: HardeningSupport.security("systemd/runner-metrics.default"), encoding: .utf8)
            .replacingOccurrences(of: "RUNNER_METRICS_FLAVOR=\"\"", with: "RUNNER_METRICS_FLAVOR=\"cron\"")
            .replacingOccurrences(of: "RUNNER_METRICS_ARGS=\"\"",
                                  with: "RUNNER_METRICS_ARGS=\"" + HardeningSupport.extractArguments(root).dropFirst(3).joined(separator: " ") + "\"")
        try HardeningSupport.write(root + "/default", defaults)
        let socketPath = root + "/log.sock"
        let fallback = root + "/cron.log"
        let receiver = try SyslogReceiver(path: socketPath)
        defer { receiver.close() }
        #expect(command.contains("/dev/log") && command.contains("/var/log/runner-metrics-cron.log"))
        let local = command
            .replacingOccurrences(of: "/usr/local/bin/runner-metrics", with: binary)
            .replacingOccurrences(of: "/etc/default/runner-metrics", with: root + "/default")
            .replacingOccurrences(of: "/dev/log", with: withSyslog ? socketPath : root + "/no-such-socket")
            .replacingOccurrences(of: "/var/log/runner-metrics-cron.log", with: fallback)
            .replacingOccurrences(of: "logger ", with: "logger -u " + socketPath + " ")
        func logged() -> [String] {
            withSyslog ? receiver.drain() : HardeningSupport.read(fallback).split(separator: "\n").map(String.init)
        }
        let result = try HardeningSupport.run(shell, ["-c", local], environment: ["PATH": path, "HOME": "/root", "LOGNAME": "root"])
        #expect(result.status == 0, "\(result.err)")
        let messages = logged()
        #expect(messages.contains { $0.contains("runner-metrics") && $0.contains("events: 0 runner_installed, 1 runner_start, 0 runner_stop") },
                "logged: \(messages)")
        #expect(!messages.contains { $0.contains("failed") }, "\(messages)")
        #expect(withSyslog == !HardeningSupport.exists(fallback), "the fallback file is used only without a syslog socket")
        #expect(HardeningSupport.read(root + "/metrics.log") == HardeningSupport.startLine(flavor: "cron") + "\n")

        // A broken setting is logged too: the tool's usage error and the failed status.
        try HardeningSupport.write(root + "/default", "RUNNER_METRICS_FLAVOR=\"\"\n")
        _ = try HardeningSupport.run(shell, ["-c", local], environment: ["PATH": path])
        let failure = withSyslog ? receiver.drain() : Array(logged().dropFirst(messages.count))
        #expect(failure.contains { $0.contains("--flavor must not be empty") }, "\(failure)")
        #expect(failure.contains { $0.contains("runner-metrics extract failed: exit status 2") }, "\(failure)")
    }

    // MARK: process hygiene

    /// The tool, started with an inherited descriptor 5 (no CLOEXEC: the write end of a pipe
    /// the test holds), umask 000 and a polluted environment, closes the descriptor and sets
    /// umask 077 before doing anything: observed while it waits for the lock the test holds
    /// (--wait), from /proc. The fork server and workers are forked after that, from the
    /// process that no longer has it. Then the run completes normally.
    @Test func inheritedDescriptorAndEnvironmentDoNotReachTheRun() throws {
        let binary = try HardeningSupport.binary()
        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try HardeningSupport.layTree(root, honest: ["honest-1"], hostile: ["hostile-1"])
        mkdir(root + "/state", 0o700)
        let lock = open(root + "/state/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        #expect(lock >= 0 && flock(lock, LOCK_EX) == 0)
        var released = false
        defer { if !released { close(lock) } }

        var pipeEnds: [Int32] = [-1, -1]
        #expect(pipe(&pipeEnds) == 0)
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        defer { close(pipeEnds[0]) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears FD_CLOEXEC on the copy: fd 5 is inherited across exec.
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 5)
        posix_spawn_file_actions_addopen(&actions, 1, root + "/stdout", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, root + "/stderr", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let arguments = ["/bin/sh", "-c", "umask 000; exec \"$0\" \"$@\"", binary]
            + HardeningSupport.extractArguments(root) + ["--wait", "20"]
        let environment = ["PATH=/nonexistent", "HOME=/nonexistent", "TMPDIR=/nonexistent", "LANG=xx_XX.BOGUS",
                           "LC_ALL=xx_XX.BOGUS", "IFS=/", "SHELL=/nonexistent", "TZ=Bogus/Zone"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        #expect(posix_spawn(&pid, "/bin/sh", &actions, nil, &argv, &envp) == 0)
        close(pipeEnds[1])

        // While it waits for the lock: the pipe has lost its last writer (fd 5 closed), and
        // the process is alive, blocked on our lock, with umask 077.
        var fds = pollfd(fd: pipeEnds[0], events: Int16(POLLIN), revents: 0)
        let polled = poll(&fds, 1, 10_000)
        #expect(polled == 1 && fds.revents & Int16(POLLHUP) != 0, "the inherited pipe end was never closed")
        let status = HardeningSupport.read("/proc/\(pid)/status")
        #expect(status.contains("Name:\trunner-metrics"), "not the tool: \(status.prefix(200))")
        #expect(!status.contains("State:\tZ"), "the tool exited instead of waiting for the lock: \(HardeningSupport.read(root + "/stderr"))")
        #expect(status.contains("Umask:\t0077"), "umask: \(status.split(separator: "\n").filter { $0.hasPrefix("Umask") })")
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        #expect(!open.isEmpty && !open.contains("5"), "descriptors of the waiting supervisor: \(open.sorted())")

        close(lock)
        released = true
        var waitStatus: Int32 = 0
        while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
        let exitStatus = (waitStatus >> 8) & 0xff
        #expect(waitStatus & 0x7f == 0 && exitStatus == 3,
                "exit \(exitStatus): \(HardeningSupport.read(root + "/stderr"))")
        #expect(HardeningSupport.read(root + "/metrics.log") == HardeningSupport.startLine(flavor: "F") + "\n")
        #expect(HardeningSupport.mode(root + "/audit.log") == 0o600)
        #expect(HardeningSupport.mode(root + "/state/journal") == 0o600)
        #expect(HardeningSupport.mode(root + "/runner-fs-quarantine") == 0o700)
        // Made by the tool itself under umask 000 in the parent: still 0700.
        let fresh = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: fresh) }
        try HardeningSupport.layTree(fresh, honest: ["honest-1"])
        let result = try HardeningSupport.run("/bin/sh", ["-c", "umask 000; exec \"$0\" \"$@\"", binary] + HardeningSupport.extractArguments(fresh),
                                              environment: ["PATH": "/nonexistent"])
        #expect(result.status == 0, "\(result.err)")
        #expect(HardeningSupport.mode(fresh + "/state") == 0o700)
        #expect(HardeningSupport.mode(fresh + "/state/lock") == 0o600)
        #expect(HardeningSupport.mode(fresh + "/audit.log") == 0o600)
        // The metrics log is made 0644 whatever the umask, as upstream has it: Promtail, running
        // as its own user, reads it.
        #expect(HardeningSupport.mode(fresh + "/metrics.log") == 0o644)
    }
}

/// A datagram socket standing in for /dev/log, for `logger -u`.
final class SyslogReceiver {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw HardeningSupport.Missing(what: "socket") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw HardeningSupport.Missing(what: "bind \(path)") }
    }

    func drain() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            messages.append(String(decoding: buffer[0..<n], as: UTF8.self))
        }
        return messages
    }

    func close() { Glibc.close(fd) }
}
