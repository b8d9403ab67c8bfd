import Glibc
import MetricsDecoding
import WorkerProtocol

/// `inspect`: the same sandboxed worker on one runner directory or image file (live, or
/// quarantined evidence), read-only. Nothing is deleted, moved, mounted or issued.
public enum Inspection {
    public static func verdict(of path: String, server: ForkServer, timeout: Double) -> RunnerVerdict {
        var source = RunnerSource.directory
        var fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 && errno == ENOTDIR, let status = try? Sys.lstat(path), status.st_mode & S_IFMT == S_IFREG {
            // An image (e.g. quarantined evidence): read from userspace, never mounted.
            source = .image
            fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        }
        if fd < 0 {
            let code = errno
            if code == ELOOP || code == ENOTDIR {
                return .rejected(Rejection(.notADirectory, "\(path) is neither a directory nor an image file (errno \(code))"), termination: nil)
            }
            return .kept(SystemError("open \(path)", code).description)
        }
        var result: RunnerVerdict = .kept("worker did not report")
        var handed = false
        do throws(SystemError) {
            let pool = try WorkerPool(server: server, jobs: 1, timeout: timeout)
            try pool.run(
                next: {
                    guard !handed else { return nil }
                    handed = true
                    return (1, source, fd)
                },
                complete: { _, outcome in result = VerdictClassifier.classify(outcome) },
                shouldStop: { Interrupt.requested })
        } catch {
            if !handed { close(fd) }
            return .kept(error.description)
        }
        return result
    }

    /// The verdict as `inspect` prints it.
    public static func report(_ verdict: RunnerVerdict, flavor: String, json: Bool) -> String {
        switch verdict {
        case .valid(let record):
            let lines = MetricEvent.events(for: record).map { $0.jsonLine(flavor: flavor) }
            let state = lines.isEmpty ? "no-metrics" : "valid"
            if json {
                let events = lines.map { String($0.dropLast()) }.joined(separator: ", ")
                return JSONText.object([("verdict", JSONText.string(state)), ("record", recordJSON(record)),
                                        ("events", "[" + events + "]")]) + "\n"
            }
            var out = "verdict: \(state)\n" + "record: " + recordJSON(record) + "\n"
            if !lines.isEmpty { out += "events it would issue:\n" + lines.map { "  " + $0 }.joined() }
            return out
        case let .rejected(rejection, termination):
            var members = [("verdict", JSONText.string("rejected")), ("reason", JSONText.string(rejection.code.rawValue))]
            if let file = rejection.file { members.append(("file", JSONText.string(file.rawValue))) }
            members.append(("detail", JSONText.string(rejection.detail)))
            switch termination {
            case .exited(let status)?: members.append(("exit_status", String(status)))
            case .signaled(let signal)?: members.append(("signal", String(signal)))
            case nil: break
            }
            if json { return JSONText.object(members) + "\n" }
            return "verdict: rejected\nreason: \(rejection.code.rawValue)\n"
                + (rejection.file.map { "file: \($0.rawValue)\n" } ?? "")
                + "detail: \(JSONText.string(rejection.detail))\n"
        case .kept(let why):
            return json ? JSONText.object([("verdict", JSONText.string("error")), ("detail", JSONText.string(why))]) + "\n"
                : "verdict: error\ndetail: \(why)\n"
        }
    }

    static func recordJSON(_ record: RunnerRecord) -> String {
        func number(_ value: Double?) -> String { value.map { String($0) } ?? "null" }
        var members: [(String, String)] = [
            ("installation_start", number(record.installationStart)), ("installed", number(record.installed)),
        ]
        if let pre = record.preJob {
            members.append(("pre_job", JSONText.object([
                ("workflow", JSONText.string(pre.workflow)), ("repository", JSONText.string(pre.repository)),
                ("event", JSONText.string(pre.event)), ("timestamp", String(pre.timestamp)),
                ("workflow_run_id", JSONText.string(pre.workflowRunID)),
            ])))
        } else {
            members.append(("pre_job", "null"))
        }
        if let post = record.postJob {
            var fields = [("timestamp", String(post.timestamp)), ("status", JSONText.string(post.status.rawValue))]
            if let code = post.statusInfoCode { fields.append(("status_info", "{\"code\": \(code)}")) }
            members.append(("post_job", JSONText.object(fields)))
        } else {
            members.append(("post_job", "null"))
        }
        members.append(("empty_files", "[" + record.emptyFiles.files.map { JSONText.string($0.rawValue) }.joined(separator: ", ") + "]"))
        return JSONText.object(members)
    }
}
