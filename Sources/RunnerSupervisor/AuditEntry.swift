import MetricsDecoding

/// The `reason` of an audit line: a rejection (a `ReasonCode`, shared with the worker's frame),
/// or what only cleanup sees, which no worker frame can carry.
public enum AuditReason: Hashable, Sendable {
    case rejected(ReasonCode)
    /// The runner's events were issued but its filesystem could not be removed.
    case undeletable
    /// Quarantined evidence removed by retention (`QuarantineRetention`).
    case pruned

    public var rawValue: String {
        switch self {
        case .rejected(let code): return code.rawValue
        case .undeletable: return "undeletable"
        case .pruned: return "pruned"
        }
    }
}

/// One line of the audit log (Security/AUDIT.md): why a runner was rejected and where its
/// evidence is. Every string is escaped by JSONText, so the line is ASCII and stays one line.
public struct AuditEntry: Equatable, Sendable {
    public var timestamp: Double
    public var runner: String
    public var flavor: String
    public var reason: AuditReason
    public var file: RunnerFile?
    public var detail: String
    public var evidence: String?
    public var termination: Termination?
    /// Set when the evidence could not be moved into the quarantine directory: why, and the
    /// failing call. `evidence` then names where it stays.
    public var notMoved: HoldReason? = nil
    public var notMovedDetail: String? = nil

    public init(timestamp: Double, runner: String, flavor: String, reason: AuditReason, file: RunnerFile? = nil,
                detail: String, evidence: String? = nil, termination: Termination? = nil) {
        self.timestamp = timestamp
        self.runner = runner
        self.flavor = flavor
        self.reason = reason
        self.file = file
        self.detail = detail
        self.evidence = evidence
        self.termination = termination
    }

    /// A rejection's line.
    public init(timestamp: Double, runner: String, flavor: String, reason: ReasonCode, file: RunnerFile? = nil,
                detail: String, evidence: String? = nil, termination: Termination? = nil) {
        self.init(timestamp: timestamp, runner: runner, flavor: flavor, reason: .rejected(reason), file: file,
                  detail: detail, evidence: evidence, termination: termination)
    }

    public var jsonLine: String {
        var members: [(String, String)] = [
            ("timestamp", JSONText.string(UTCTime.iso8601(timestamp))),
            ("runner", JSONText.string(runner)),
            ("flavor", JSONText.string(flavor)),
            ("reason", JSONText.string(reason.rawValue)),
        ]
        if let file { members.append(("file", JSONText.string(file.rawValue))) }
        members.append(("detail", JSONText.string(detail)))
        members.append(("evidence", evidence.map(JSONText.string) ?? "null"))
        if let notMoved {
            members.append(("not_moved", JSONText.string(notMoved.rawValue)))
            members.append(("not_moved_detail", JSONText.string(notMovedDetail ?? "")))
        }
        switch termination {
        case .exited(let status)?: members.append(("exit_status", String(status)))
        case .signaled(let signal)?: members.append(("signal", String(signal)))
        case nil: break
        }
        return JSONText.object(members) + "\n"
    }
}
