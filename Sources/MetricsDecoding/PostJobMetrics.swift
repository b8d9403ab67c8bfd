// post-job-metrics.json, written upstream after the runner application exits.

public enum JobStatus: String, Sendable, CaseIterable {
    case normal
    case abnormal
    case repoPolicyCheckFailure = "repo-policy-check-failure"
}

public struct PostJobMetrics: Equatable, Sendable {
    public var timestamp: Double
    public var status: JobStatus
    public var statusInfoCode: Int32?

    public init(timestamp: Double, status: JobStatus, statusInfoCode: Int32? = nil) {
        self.timestamp = timestamp
        self.status = status
        self.statusInfoCode = statusInfoCode
    }

    /// Schema check: `timestamp`, `status`, optional `status_info` = {"code": <Int32 integer>}.
    /// `status_info: null` is a wrong type, not an absent member: absence has one spelling.
    public init(json: JSONValue) throws(Rejection) {
        let f = try Schema.fields(of: json, what: "post-job", names: ["timestamp", "status", "status_info"],
                                  required: [true, true, false])
        guard let ts = f[0], let statusValue = f[1] else {
            throw Rejection(.missingField, "post-job field")
        }
        self.timestamp = try Schema.timestamp(ts, field: "timestamp")
        guard case .string(let s) = statusValue else {
            throw Rejection(.invalidValue, "status: expected a string, got \(Schema.kindName(statusValue))")
        }
        guard let status = Schema.oneOf(s, JobStatus.allCases.map { ($0.rawValue, $0) }) else {
            throw Rejection(.invalidValue, "status: not normal, abnormal or repo-policy-check-failure")
        }
        self.status = status
        if let info = f[2] {
            self.statusInfoCode = try PostJobMetrics.statusInfoCode(info)
        } else {
            self.statusInfoCode = nil
        }
    }

    static func statusInfoCode(_ info: JSONValue) throws(Rejection) -> Int32 {
        let f = try Schema.fields(of: info, what: "status_info", names: ["code"], required: [true])
        guard let codeValue = f[0] else { throw Rejection(.missingField, "code") }
        guard case .number(let n) = codeValue else {
            throw Rejection(.invalidValue, "status_info.code: expected a number, got \(Schema.kindName(codeValue))")
        }
        // Read from the lexeme, not the Double: 2147483648 and 2147483647.0000000001 must
        // not be rounded into range, and "1.0"/"1e0" are not integer spellings.
        guard n.isInteger else {
            throw Rejection(.invalidValue, "status_info.code: not an integer lexeme")
        }
        guard let code = Int32(n.lexeme) else {
            throw Rejection(.invalidValue, "status_info.code: outside the Int32 range")
        }
        return code
    }
}
