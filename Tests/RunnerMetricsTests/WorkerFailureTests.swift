import Foundation
import Glibc
import Testing

// Every way a worker can misbehave, through the real pipeline (runner-metrics-probe:
// the production supervisor, fork server and sandbox, with a worker body that misbehaves
// after the sandbox is applied). The probe's worker misbehaves for every runner, so each
// case runs two runners with honest content and asserts that both are handled the same way,
// that the supervisor finishes with exit 3 (not a crash), and that no process it started
// outlives it.

/// What the supervisor must make of one probe mode.
struct WorkerFailureCase: Sendable, CustomTestStringConvertible {
    enum Ending: Sendable, Equatable {
        case exitStatus(Int)
        case signal(Int)
        /// A timeout kill: SIGKILL from the supervisor, or SIGXCPU (24) if the CPU limit
        /// (also 1 s at --worker-timeout 1) fires first.
        case killedForTime
        /// The frame decides; how the worker ended is not part of the audit line.
        case none
    }

    var mode: String
    var reason: String?   // nil: issued
    var ending: Ending
    /// The audit detail, where it is the supervisor's reading of a frame.
    var detail: String? = nil
    var testDescription: String { mode }

    static let sigsys = 31

    static let all: [WorkerFailureCase] = [
        // Every call outside the directory worker's five (read, write to 1 or 2, exit,
        // exit_group, rt_sigreturn): SIGSYS from its seccomp filter.
        WorkerFailureCase(mode: "execve", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        WorkerFailureCase(mode: "socket", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        WorkerFailureCase(mode: "open-write", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        WorkerFailureCase(mode: "open-create", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        WorkerFailureCase(mode: "open-outside", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        WorkerFailureCase(mode: "open-read", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        WorkerFailureCase(mode: "clone", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        WorkerFailureCase(mode: "fork", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        WorkerFailureCase(mode: "ptrace", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        WorkerFailureCase(mode: "kill", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        WorkerFailureCase(mode: "mount", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        WorkerFailureCase(mode: "mprotect-exec", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        WorkerFailureCase(mode: "unlink", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        WorkerFailureCase(mode: "close", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        // exit_group is one of the five: ending with it and no frame is the worker's answer.
        WorkerFailureCase(mode: "exit-group", reason: "protocol-violation", ending: .exitStatus(0)),
        // A heap that must grow (brk) is a call the filter refuses; the reserve is not.
        WorkerFailureCase(mode: "heap-beyond", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        WorkerFailureCase(mode: "heap", reason: "worker-crashed", ending: .exitStatus(9)),
        // glibc's abort() blocks signals (rt_sigprocmask) before it raises SIGABRT: the worker
        // dies by the filter's SIGSYS first. Pinned; AUDIT.md says so.
        WorkerFailureCase(mode: "abort", reason: "worker-sandbox-violation", ending: .signal(sigsys)),
        WorkerFailureCase(mode: "exit-nonzero", reason: "worker-crashed", ending: .exitStatus(9)),
        // "Sandbox setup failed" after the confinement marker is a compromised worker, not a host problem.
        WorkerFailureCase(mode: "exit-71", reason: "worker-crashed", ending: .exitStatus(71)),
        WorkerFailureCase(mode: "loop", reason: "worker-timeout", ending: .killedForTime),
        WorkerFailureCase(mode: "flood", reason: "protocol-violation", ending: .signal(9)),
        WorkerFailureCase(mode: "malformed-frame", reason: "protocol-violation", ending: .exitStatus(0),
                          detail: "frame: bad magic"),
        WorkerFailureCase(mode: "invalid-record", reason: "protocol-violation", ending: .exitStatus(0),
                          detail: "frame: pre_job: invalid-value repository: does not match ^.+/.+$"),
        WorkerFailureCase(mode: "exit-without-frame", reason: "protocol-violation", ending: .exitStatus(0)),
        WorkerFailureCase(mode: "honest", reason: nil, ending: .none),
    ]
}

/// A run of the probe that also records every process descended from it while it runs
/// (the fork server and the workers), by polling /proc.
struct TrackedRun {
    var result: Tool.Result
    var seconds: Double
    var descendants: Set<pid_t>

    /// pid -> parent pid of every process now.
    static func parents() -> [pid_t: pid_t] {
        var out: [pid_t: pid_t] = [:]
        guard let dir = opendir("/proc") else { return out }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard let pid = pid_t(name) else { continue }
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let parent = pid_t(fields[1]) { out[pid] = parent }
        }
        return out
    }

    /// Live processes whose command line has `argument` (a zombie's command line is empty;
    /// zombies are covered by the descendant check).
    static func processes(withArgument argument: String) -> [pid_t] {
        var out: [pid_t] = []
        for pid in parents().keys where pid != getpid() {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            if data.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == argument }) { out.append(pid) }
        }
        return out
    }

    static func run(_ program: String, _ arguments: [String], timeout: Double) throws -> TrackedRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let start = Date()
        try process.run()
        let root = process.processIdentifier
        var seen = Set<pid_t>()
        let deadline = start.addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline {
            let parents = parents()
            var frontier: Set<pid_t> = [root]
            var found = Set<pid_t>()
            while !frontier.isEmpty {
                let next = Set(parents.filter { frontier.contains($0.value) }.map(\.key)).subtracting(found)
                found.formUnion(next)
                frontier = next
            }
            seen.formUnion(found)
            usleep(3_000)
        }
        if process.isRunning { kill(root, SIGKILL) }
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(start)
        // The probe prints one summary line; small enough for the pipe buffer.
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return TrackedRun(result: Tool.Result(status: process.terminationStatus, stdout: stdout, stderr: stderr),
                          seconds: seconds, descendants: seen)
    }
}

@Suite struct WorkerFailureTests {
    @Test(arguments: WorkerFailureCase.all)
    func workerFailureIsClassified(_ item: WorkerFailureCase) throws {
        let tree = try TestTree()
        let names = ["r1", "r2"]
        for name in names { try tree.runner(name, Sample.complete) }
        let run = try TrackedRun.run(Tool.probe, [item.mode, "small", tree.fs, tree.quarantine, tree.metricsLog, tree.auditLog, tree.state],
                                     timeout: 30)
        // Two runners, two workers at once, 1 s worker timeout: even "loop" ends in ~1 s.
        #expect(run.seconds < 10, "probe took \(run.seconds) s")
        if item.mode == "loop" {
            // Workers live a full second here: the tracking must have seen them.
            #expect(run.descendants.count >= 2, "fork server and workers not seen: \(run.descendants)")
        }
        // Nothing the probe started outlives it: no worker, no fork server, no zombie
        // (kill(pid, 0) succeeds on a zombie too).
        var lingering = run.descendants.filter { kill($0, 0) == 0 }
        var waited = 0
        while !lingering.isEmpty && waited < 100 {
            usleep(10_000); waited += 1
            lingering = lingering.filter { kill($0, 0) == 0 }
        }
        #expect(lingering.isEmpty, "processes left behind: \(lingering.sorted())")
        // The fork server and workers are forks of the probe, so their command line names
        // this tree; none may be alive after the probe (deterministic, unlike the polling).
        #expect(TrackedRun.processes(withArgument: tree.fs).isEmpty)
        let counts = summary(run.result)

        guard let reason = item.reason else {
            #expect(run.result.status == 0, "\(run.result.stderr)")
            #expect(tree.metricLines == Hostile.honestLines + Hostile.honestLines)
            #expect(tree.auditLines.isEmpty)
            #expect(counts["deleted"] == 2 && counts["quarantined"] == 0)
            for name in names { #expect(!tree.exists(tree.fs + "/" + name)) }
            return
        }
        #expect(run.result.status == 3, "status \(run.result.status): \(run.result.stderr)")
        #expect(counts["quarantined"] == names.count && counts["deleted"] == 0 && counts["errors"] == 0 && counts["kept"] == 0,
                "\(counts)")
        #expect(tree.metricLines.isEmpty)
        #expect(tree.reasons == Dictionary(uniqueKeysWithValues: names.map { ($0, reason) }))
        #expect(tree.auditLines.count == names.count)
        #expect(tree.quarantined().count == names.count)
        for entry in tree.auditEntries {
            #expect(entry["file"] == nil, "a worker failure names no runner file")
            if let detail = item.detail { #expect(entry["detail"] as? String == detail, "\(entry)") }
            let evidence = try #require(entry["evidence"] as? String)
            #expect(tree.exists(evidence + "/pre-job-metrics.json"), "evidence moved intact")
            let signal = entry["signal"] as? Int, status = entry["exit_status"] as? Int
            switch item.ending {
            case .exitStatus(let expected): #expect(status == expected && signal == nil, "\(entry)")
            case .signal(let expected): #expect(signal == expected && status == nil, "\(entry)")
            case .killedForTime: #expect([9, 24].contains(signal ?? -1) && status == nil, "\(entry)")
            case .none: #expect(signal == nil && status == nil, "\(entry)")
            }
        }
        for name in names { #expect(!tree.exists(tree.fs + "/" + name)) }
    }

    /// A place's result pipe serves one worker after another. A worker that fills it (64 KiB,
    /// then blocks until it is killed at its deadline) must leave nothing behind for the next:
    /// the runners after it, on the same pipe, are issued exactly.
    @Test func aFloodedPipeIsEmptiedBeforeTheNextWorkerUsesIt() throws {
        let tree = try TestTree()
        try tree.runner("a-flood", Sample.complete.merging(["flood": ""]) { $1 })
        for name in ["b", "c"] { try tree.runner(name, Sample.complete) }
        let run = try TrackedRun.run(Tool.probe, ["flood-marker", "small", tree.fs, tree.quarantine, tree.metricsLog,
                                                  tree.auditLog, tree.state], timeout: 30)
        #expect(run.result.status == 3, "\(run.result.stderr)")
        #expect(tree.reasons == ["a-flood": "protocol-violation"])
        #expect(tree.metricLines == Hostile.honestLines + Hostile.honestLines)
        let counts = summary(run.result)
        #expect(counts["deleted"] == 2 && counts["quarantined"] == 1 && counts["errors"] == 0, "\(counts)")
    }
}
