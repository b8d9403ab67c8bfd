// The metric events upstream issues for a runner, and their log lines.

/// `max(a - b, 0)` as upstream evaluates it, then stored in the event model's pydantic
/// `NonNegativeFloat` field. Python's `max` keeps the first argument unless a later one is
/// strictly greater, so a negative difference yields the int `0`; the float field turns it
/// into `0.0`. Every number field of an upstream event is a float: a clamped value prints
/// `0.0`, like an exact tie, never `0`.
public struct Clamped: Equatable, Sendable {
    /// Never negative for finite inputs; printed as a Python float.
    public let value: Double

    public static func difference(_ a: Double, _ b: Double) -> Clamped {
        let d = a - b
        // `0 > d` is Python's comparison in max(); false for NaN, which max() then keeps
        // (unreachable: decoded timestamps are finite).
        return Clamped(value: 0 > d ? 0.0 : d)
    }

    func append(to out: inout [UInt8]) {
        PythonJSON.appendFloat(value, to: &out)
    }
}

/// What the GitHub API told of a runner's job (later upstream's enrichment): `queue_duration`
/// on runner_start, `job_conclusion` on runner_stop when the API gave one.
public struct GitHubJob: Equatable, Sendable {
    /// `started_at - created_at`, clamped at 0.
    public var queueDuration: Clamped
    public var conclusion: JobConclusion?

    public init(queueDuration: Clamped, conclusion: JobConclusion?) {
        self.queueDuration = queueDuration
        self.conclusion = conclusion
    }
}

public enum MetricEvent: Equatable, Sendable {
    case runnerInstalled(timestamp: Double, duration: Clamped)
    case runnerStart(timestamp: Double, workflow: String, repo: String, githubEvent: String, idle: Clamped,
                     queueDuration: Clamped? = nil)
    case runnerStop(timestamp: Double, workflow: String, repo: String, githubEvent: String,
                    status: JobStatus, statusInfoCode: Int32?, jobDuration: Clamped, jobConclusion: JobConclusion? = nil)

    public var name: String {
        switch self {
        case .runnerInstalled: return "runner_installed"
        case .runnerStart: return "runner_start"
        case .runnerStop: return "runner_stop"
        }
    }

    /// Upstream's decisions: nothing without the installed timestamp; RunnerInstalled when
    /// the installation start is known too; RunnerStart with a pre-job file; RunnerStop
    /// with both pre-job and post-job files. Always in that order. `job`: what the GitHub API
    /// said of the runner's job, if it was asked and answered.
    public static func events(for record: RunnerRecord, job: GitHubJob? = nil) -> [MetricEvent] {
        guard let installed = record.installed else { return [] }
        var events: [MetricEvent] = []
        if let start = record.installationStart {
            events.append(.runnerInstalled(timestamp: installed, duration: .difference(installed, start)))
        }
        if let pre = record.preJob {
            events.append(.runnerStart(timestamp: pre.timestamp, workflow: pre.workflow, repo: pre.repository,
                                       githubEvent: pre.event, idle: .difference(pre.timestamp, installed),
                                       queueDuration: job?.queueDuration))
            if let post = record.postJob {
                events.append(.runnerStop(timestamp: post.timestamp, workflow: pre.workflow, repo: pre.repository,
                                          githubEvent: pre.event, status: post.status,
                                          statusInfoCode: post.statusInfoCode,
                                          jobDuration: .difference(post.timestamp, pre.timestamp),
                                          jobConclusion: job?.conclusion))
            }
        }
        return events
    }

    /// One line, ending in "\n", byte for byte what `json.dumps(event_dict)` writes
    /// upstream: separators ", " and ": ", keys in upstream's field order, `None` left out.
    public func jsonLine(flavor: String) -> String {
        var out: [UInt8] = []
        appendLine(flavor: flavor, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the bytes of `jsonLine(flavor:)` to `out`.
    public func appendLine(flavor: String, to out: inout [UInt8]) {
        switch self {
        case let .runnerInstalled(timestamp, duration):
            Self.appendHead(timestamp, name, flavor, to: &out)
            PythonJSON.append(", \"duration\": ", to: &out)
            duration.append(to: &out)
        case let .runnerStart(timestamp, workflow, repo, githubEvent, idle, queueDuration):
            Self.appendHead(timestamp, name, flavor, to: &out)
            Self.appendJob(workflow, repo, githubEvent, to: &out)
            PythonJSON.append(", \"idle\": ", to: &out)
            idle.append(to: &out)
            if let queueDuration {
                PythonJSON.append(", \"queue_duration\": ", to: &out)
                queueDuration.append(to: &out)
            }
        case let .runnerStop(timestamp, workflow, repo, githubEvent, status, statusInfoCode, jobDuration, jobConclusion):
            Self.appendHead(timestamp, name, flavor, to: &out)
            Self.appendJob(workflow, repo, githubEvent, to: &out)
            Self.appendMember(", \"status\": ", status.rawValue, to: &out)
            if let code = statusInfoCode {
                PythonJSON.append(", \"status_info\": {\"code\": ", to: &out)
                PythonJSON.appendDecimal(code, to: &out)
                out.append(UInt8(ascii: "}"))
            }
            PythonJSON.append(", \"job_duration\": ", to: &out)
            jobDuration.append(to: &out)
            if let jobConclusion { Self.appendMember(", \"job_conclusion\": ", jobConclusion.rawValue, to: &out) }
        }
        PythonJSON.append("}\n", to: &out)
    }

    /// The members every event starts with, in upstream's order.
    private static func appendHead(_ timestamp: Double, _ name: String, _ flavor: String, to out: inout [UInt8]) {
        PythonJSON.append("{\"timestamp\": ", to: &out)
        PythonJSON.appendFloat(timestamp, to: &out)
        appendMember(", \"event\": ", name, to: &out)
        appendMember(", \"flavor\": ", flavor, to: &out)
    }

    /// The members runner_start and runner_stop share after the head.
    private static func appendJob(_ workflow: String, _ repo: String, _ githubEvent: String, to out: inout [UInt8]) {
        appendMember(", \"workflow\": ", workflow, to: &out)
        appendMember(", \"repo\": ", repo, to: &out)
        appendMember(", \"github_event\": ", githubEvent, to: &out)
    }

    /// `separatorAndKey` (", \"key\": ") and a string value.
    private static func appendMember(_ separatorAndKey: StaticString, _ value: String, to out: inout [UInt8]) {
        PythonJSON.append(separatorAndKey, to: &out)
        PythonJSON.appendString(value, to: &out)
    }

    /// Exact equality (strings byte for byte, see JSONValue.swift).
    public static func == (lhs: MetricEvent, rhs: MetricEvent) -> Bool {
        switch (lhs, rhs) {
        case let (.runnerInstalled(t1, d1), .runnerInstalled(t2, d2)):
            return t1 == t2 && d1 == d2
        case let (.runnerStart(t1, w1, r1, e1, i1, q1), .runnerStart(t2, w2, r2, e2, i2, q2)):
            return t1 == t2 && exactlyEqual(w1, w2) && exactlyEqual(r1, r2) && exactlyEqual(e1, e2) && i1 == i2 && q1 == q2
        case let (.runnerStop(t1, w1, r1, e1, s1, c1, j1, k1), .runnerStop(t2, w2, r2, e2, s2, c2, j2, k2)):
            return t1 == t2 && exactlyEqual(w1, w2) && exactlyEqual(r1, r2) && exactlyEqual(e1, e2)
                && s1 == s2 && c1 == c2 && j1 == j2 && k1 == k2
        default:
            return false
        }
    }
}
