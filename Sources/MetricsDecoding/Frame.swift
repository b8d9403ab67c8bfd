// The worker -> supervisor result frame. The supervisor treats the frame as hostile (the
// worker may be compromised) and decodes it with the same strict parser and schemas.
//
// Layout: "RMF1" | payload length (UInt32, big-endian) | payload (canonical JSON).
// The total size must be exactly 8 + length and at most `maxSize`.

public enum WorkerVerdict: Equatable, Sendable {
    case valid(RunnerRecord)
    case rejected(Rejection)
}

public enum Frame {
    /// Whole frame, header included. A valid record from files of at most 1024 bytes each
    /// re-encodes in well under this (escaped strings never grow past their source spelling).
    public static let maxSize = 8192
    static let magic: [UInt8] = Array("RMF1".utf8)
    static let headerSize = 8

    public static func encode(_ verdict: WorkerVerdict) -> [UInt8] {
        let payload = encodePayload(verdict)
        var frame = magic
        frame.reserveCapacity(headerSize + payload.count)
        let n = UInt32(truncatingIfNeeded: payload.count)
        frame.append(UInt8(truncatingIfNeeded: n >> 24))
        frame.append(UInt8(truncatingIfNeeded: n >> 16))
        frame.append(UInt8(truncatingIfNeeded: n >> 8))
        frame.append(UInt8(truncatingIfNeeded: n))
        frame.append(contentsOf: payload)
        return frame
    }

    static func encodePayload(_ verdict: WorkerVerdict) -> [UInt8] {
        var w = CanonicalJSONWriter()
        w.raw("{")
        w.key("verdict", first: true)
        switch verdict {
        case .valid(let record):
            w.string("valid")
            if let v = record.installationStart { w.key("installation_start"); w.double(v) }
            if let v = record.installed { w.key("installed"); w.double(v) }
            if let pre = record.preJob {
                w.key("pre_job")
                w.raw("{")
                w.key("workflow", first: true); w.string(pre.workflow)
                w.key("repository"); w.string(pre.repository)
                w.key("event"); w.string(pre.event)
                w.key("timestamp"); w.double(pre.timestamp)
                w.key("workflow_run_id"); w.string(pre.workflowRunID)
                w.raw("}")
            }
            if let post = record.postJob {
                w.key("post_job")
                w.raw("{")
                w.key("timestamp", first: true); w.double(post.timestamp)
                w.key("status"); w.string(post.status.rawValue)
                if let code = post.statusInfoCode {
                    w.key("status_info"); w.raw("{"); w.key("code", first: true); w.raw(String(code)); w.raw("}")
                }
                w.raw("}")
            }
        case .rejected(let rejection):
            w.string("rejected")
            w.key("reason"); w.string(rejection.code.rawValue)
            if let file = rejection.file { w.key("file"); w.string(file.rawValue) }
            // Re-sanitized: `detail` is a var and could have been changed after init.
            w.key("detail"); w.string(Rejection.sanitize(rejection.detail))
        }
        w.raw("}")
        return w.bytes
    }

    /// Every failure is `.protocolViolation`, with the inner reason kept in the detail.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(Rejection) -> WorkerVerdict {
        let n = bytes.count
        guard n >= headerSize else {
            throw violation("\(n) bytes, shorter than the \(headerSize)-byte header")
        }
        guard n <= maxSize else {
            throw violation("\(n) bytes, over the \(maxSize)-byte limit")
        }
        guard bytes[0] == magic[0], bytes[1] == magic[1], bytes[2] == magic[2], bytes[3] == magic[3] else {
            throw violation("bad magic")
        }
        let length = Int(bytes[4]) << 24 | Int(bytes[5]) << 16 | Int(bytes[6]) << 8 | Int(bytes[7])
        guard length == n - headerSize else {
            throw violation("header says \(length) payload bytes, frame has \(n - headerSize)")
        }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[headerSize...])
        let verdict: WorkerVerdict
        do {
            verdict = try decodePayload(try StrictJSON.parse(payload))
        } catch where error.code == .protocolViolation {
            throw violation(error.detail) // already says which part, e.g. "pre_job: missing-field workflow"
        } catch {
            throw violation("\(error.code.rawValue) \(error.detail)")
        }
        // One spelling per verdict: anything the worker wrote differently from our own
        // encoder (key order, escapes, number spelling, whitespace) is not our protocol.
        guard encodePayload(verdict).elementsEqual(payload) else {
            throw violation("payload is not in canonical form")
        }
        return verdict
    }

    static func violation(_ detail: String) -> Rejection {
        Rejection(.protocolViolation, "frame: " + detail)
    }

    /// Errors thrown here are re-wrapped by `decode` as "frame: <code> <detail>", except
    /// `.protocolViolation` ones, whose detail already names the part ("pre_job: ...").
    static func decodePayload(_ json: JSONValue) throws(Rejection) -> WorkerVerdict {
        guard case .object(let members) = json else {
            throw Rejection(.invalidValue, "payload: expected an object, got \(Schema.kindName(json))")
        }
        guard let verdictValue = members.first(where: { exactlyEqual($0.key, "verdict") })?.value else {
            throw Rejection(.missingField, "verdict")
        }
        guard case .string(let verdict) = verdictValue else {
            throw Rejection(.invalidValue, "verdict: expected a string, got \(Schema.kindName(verdictValue))")
        }
        if exactlyEqual(verdict, "valid") {
            return .valid(try decodeValid(json))
        }
        if exactlyEqual(verdict, "rejected") {
            return .rejected(try decodeRejected(json))
        }
        throw Rejection(.invalidValue, "verdict: not valid or rejected")
    }

    static func decodeValid(_ json: JSONValue) throws(Rejection) -> RunnerRecord {
        let f = try Schema.fields(
            of: json, what: "payload",
            names: ["verdict", "installation_start", "installed", "pre_job", "post_job"],
            required: [true, false, false, false, false])
        var record = RunnerRecord()
        if let v = f[1] { record.installationStart = try Schema.timestamp(v, field: "installation_start") }
        if let v = f[2] { record.installed = try Schema.timestamp(v, field: "installed") }
        if let v = f[3] {
            do {
                record.preJob = try PreJobMetrics(json: v)
            } catch {
                throw Rejection(.protocolViolation, "pre_job: \(error.code.rawValue) \(error.detail)")
            }
        }
        if let v = f[4] {
            do {
                record.postJob = try PostJobMetrics(json: v)
            } catch {
                throw Rejection(.protocolViolation, "post_job: \(error.code.rawValue) \(error.detail)")
            }
        }
        return record
    }

    static func decodeRejected(_ json: JSONValue) throws(Rejection) -> Rejection {
        let f = try Schema.fields(
            of: json, what: "payload", names: ["verdict", "reason", "file", "detail"],
            required: [true, true, false, true])
        guard let reasonValue = f[1], let detailValue = f[3] else {
            throw Rejection(.missingField, "reason or detail")
        }
        guard case .string(let reasonText) = reasonValue,
              let reason = Schema.oneOf(reasonText, ReasonCode.allCases.map { ($0.rawValue, $0) })
        else {
            throw Rejection(.invalidValue, "reason: not a reason code")
        }
        // The worker may only report what it can observe; supervisor-side codes
        // (timeouts, crashes, sandbox violations...) in a worker frame are a lie.
        guard reason.isWorkerReportable else {
            throw Rejection(.invalidValue, "reason: \(reason.rawValue) is not worker-reportable")
        }
        var file: RunnerFile?
        if let fileValue = f[2] {
            guard case .string(let fileText) = fileValue,
                  let named = Schema.oneOf(fileText, RunnerFile.allCases.map { ($0.rawValue, $0) })
            else {
                throw Rejection(.invalidValue, "file: not a runner file name")
            }
            file = named
        }
        guard case .string(let detail) = detailValue, Rejection.isCleanDetail(detail) else {
            throw Rejection(.invalidValue, "detail: not a string of at most 200 printable ASCII bytes")
        }
        return Rejection(reason, file: file, detail)
    }
}
