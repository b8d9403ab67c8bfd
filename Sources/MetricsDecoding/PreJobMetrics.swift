// pre-job-metrics.json, written upstream by the runner's pre-job script with `jq -n`.

public struct PreJobMetrics: Equatable, Sendable {
    public var workflow: String
    public var repository: String
    public var event: String
    public var timestamp: Double
    public var workflowRunID: String

    public init(workflow: String, repository: String, event: String, timestamp: Double, workflowRunID: String) {
        self.workflow = workflow
        self.repository = repository
        self.event = event
        self.timestamp = timestamp
        self.workflowRunID = workflowRunID
    }

    static let fieldNames = ["workflow", "repository", "event", "timestamp", "workflow_run_id"]

    /// Schema check on a parsed value: exactly the five fields, strings without NUL,
    /// a non-negative timestamp, and `repository` matching `^.+/.+$`.
    /// Rejections carry `file == nil`; decoders attribute them.
    public init(json: JSONValue) throws(Rejection) {
        let f = try Schema.fields(of: json, what: "pre-job", names: PreJobMetrics.fieldNames,
                                  required: [true, true, true, true, true])
        // Slots are non-nil here: every field is required and `fields` checked presence.
        guard let workflow = f[0], let repository = f[1], let event = f[2], let ts = f[3], let runID = f[4] else {
            throw Rejection(.missingField, "pre-job field")
        }
        self.workflow = try Schema.recordString(workflow, field: "workflow")
        self.repository = try Schema.recordString(repository, field: "repository")
        self.event = try Schema.recordString(event, field: "event")
        self.timestamp = try Schema.timestamp(ts, field: "timestamp")
        self.workflowRunID = try Schema.recordString(runID, field: "workflow_run_id")
        try FieldRules.repository(self.repository)
    }

    /// `^.+/.+$` with regex semantics (`.` is any scalar but LF; `$` is the end): no LF,
    /// and some "/" with at least one scalar before and after it. "/" is ASCII, so byte
    /// positions are enough: not the first byte, not the last byte.
    static func isOwnerSlashRepo(_ s: String) -> Bool {
        let utf8 = s.utf8
        let n = utf8.count
        var found = false
        for (i, b) in utf8.enumerated() {
            if b == 0x0A { return false }
            if b == UInt8(ascii: "/") && i > 0 && i < n - 1 { found = true }
        }
        return found
    }

    /// Exact equality (strings byte for byte, see JSONValue.swift for why not `String ==`).
    public static func == (lhs: PreJobMetrics, rhs: PreJobMetrics) -> Bool {
        exactlyEqual(lhs.workflow, rhs.workflow)
            && exactlyEqual(lhs.repository, rhs.repository)
            && exactlyEqual(lhs.event, rhs.event)
            && lhs.timestamp == rhs.timestamp
            && exactlyEqual(lhs.workflowRunID, rhs.workflowRunID)
    }
}
