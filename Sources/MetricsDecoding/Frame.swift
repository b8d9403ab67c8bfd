// The worker -> supervisor result frame: a fixed binary layout with exactly one spelling per
// verdict. The supervisor treats the frame as hostile (the worker may be compromised): it
// re-validates every field with the rules the worker's decoders applied to the runner files
// (`FieldRules`, `UTF8Validation`, the closed enums), and refuses everything else.
//
// Layout (integers big-endian; offsets from the start of the frame):
//
//   offset size  field
//   0      4     magic "RMF2" (52 4D 46 32)
//   4      4     payload length N (u32); the frame is exactly 8 + N bytes, at most `maxSize`
//   8      1     verdict: 0x01 valid, 0x02 rejected
//
//   valid:
//   9      1     presence: 0x01 installation_start, 0x02 installed, 0x04 pre_job,
//                0x08 post_job, 0x10 post_job's status_info (only with 0x08),
//                0x20 empty_files follows; 0x40, 0x80 reserved, must be 0
//   then each part whose bit is set, in this order:
//          1     empty_files           the 0-byte files, decided as absent: the bits 0x01-0x08
//                                      as in presence, at least one, none of them a present
//                                      file; 0xF0 must be 0
//          8     installation_start    f64
//          8     installed             f64
//                pre_job               workflow str, repository str, event str,
//                                      timestamp f64, workflow_run_id str
//                post_job              timestamp f64, status u8 (0x01 normal, 0x02 abnormal,
//                                      0x03 repo-policy-check-failure), then, with 0x10,
//                                      status_info.code i32 (two's complement, 4 bytes)
//   f64 = the 8 bytes of the IEEE-754 binary64 bit pattern; str = u16 byte count, then
//   that many bytes of UTF-8.
//
//   rejected:
//   9      1     reason: 0x01 file-too-large, 0x02 not-regular-file, 0x03 unreadable-file,
//                0x04 invalid-encoding, 0x05 invalid-json, 0x06 duplicate-key,
//                0x07 unknown-field, 0x08 missing-field, 0x09 invalid-value,
//                0x0A invalid-timestamp (the worker-reportable codes); 0x0B not-a-directory,
//                0x0C worker-crashed, 0x0D worker-sandbox-violation, 0x0E worker-timeout,
//                0x0F protocol-violation, 0x10 invalid-runner-name (encodable, never accepted)
//   10     1     file: 0x00 none, 0x01 runner-installation-start.timestamp,
//                0x02 runner-installed.timestamp, 0x03 pre-job-metrics.json,
//                0x04 post-job-metrics.json
//   11     2     detail length D (u16, at most 200)
//   13     D     detail: printable ASCII (0x20-0x7E)
//
// Nothing follows the last field. Every byte value not listed, and every value the runner
// files' rules refuse, is refused, so decode(f) succeeds only when encode(decode(f)) == f.

public enum WorkerVerdict: Equatable, Sendable {
    case valid(RunnerRecord)
    case rejected(Rejection)
}

public enum Frame {
    /// Whole frame, header included. A valid record from files of at most 1024 bytes each
    /// encodes in well under this: a decoded string is never longer than its JSON spelling,
    /// so the pre-job strings hold under 1024 bytes, and the rest is at most 55 bytes (an
    /// empty_files byte only comes in place of a part of 8 bytes or more).
    public static let maxSize = 8192

    // Constants are computed properties, not stored globals: nothing to initialize lazily in
    // a worker (a first use would write a page shared with the fork server).
    static var headerSize: Int { 8 }
    /// "RMF2"
    static var magic: UInt32 { 0x524D_4632 }

    static var validTag: UInt8 { 0x01 }
    static var rejectedTag: UInt8 { 0x02 }

    static var hasInstallationStart: UInt8 { 0x01 }
    static var hasInstalled: UInt8 { 0x02 }
    static var hasPreJob: UInt8 { 0x04 }
    static var hasPostJob: UInt8 { 0x08 }
    static var hasStatusInfo: UInt8 { 0x10 }
    static var hasEmptyFiles: UInt8 { 0x20 }
    static var reservedPresenceBits: UInt8 { 0xC0 }
    /// The presence bits of the four files, the same bits as `RunnerFileSet`'s.
    static var filePresenceBits: UInt8 { 0x0F }

    // MARK: encoding

    /// Never fails. Only ever given verdicts decoded by this module, whose strings are far
    /// below 65 536 bytes; a longer one would be cut in its length field, but its frame would
    /// be over `maxSize`, which `decode` refuses before reading anything else.
    public static func encode(_ verdict: WorkerVerdict) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(headerSize + payloadCapacity(verdict))
        appendU32(magic, to: &out)
        appendU32(0, to: &out) // the payload length, filled in at the end
        switch verdict {
        case .valid(let record):
            out.append(validTag)
            var presence: UInt8 = 0
            if record.installationStart != nil { presence |= hasInstallationStart }
            if record.installed != nil { presence |= hasInstalled }
            if record.preJob != nil { presence |= hasPreJob }
            if let post = record.postJob {
                presence |= hasPostJob
                if post.statusInfoCode != nil { presence |= hasStatusInfo }
            }
            if !record.emptyFiles.isEmpty { presence |= hasEmptyFiles }
            out.append(presence)
            if !record.emptyFiles.isEmpty { out.append(record.emptyFiles.bits) }
            if let v = record.installationStart { appendU64(v.bitPattern, to: &out) }
            if let v = record.installed { appendU64(v.bitPattern, to: &out) }
            if let pre = record.preJob {
                appendString(pre.workflow, to: &out)
                appendString(pre.repository, to: &out)
                appendString(pre.event, to: &out)
                appendU64(pre.timestamp.bitPattern, to: &out)
                appendString(pre.workflowRunID, to: &out)
            }
            if let post = record.postJob {
                appendU64(post.timestamp.bitPattern, to: &out)
                out.append(post.status.frameByte)
                if let code = post.statusInfoCode { appendU32(UInt32(bitPattern: code), to: &out) }
            }
        case .rejected(let rejection):
            out.append(rejectedTag)
            out.append(rejection.code.frameByte)
            out.append(rejection.file.frameByte)
            let lengthAt = out.count
            appendU16(0, to: &out)
            // Re-sanitized: `detail` is a var and could have been changed after init.
            let n = Rejection.appendSanitized(rejection.detail, to: &out)
            out[lengthAt] = UInt8(truncatingIfNeeded: n >> 8)
            out[lengthAt + 1] = UInt8(truncatingIfNeeded: n)
        }
        let length = UInt32(truncatingIfNeeded: out.count - headerSize)
        out[4] = UInt8(truncatingIfNeeded: length >> 24)
        out[5] = UInt8(truncatingIfNeeded: length >> 16)
        out[6] = UInt8(truncatingIfNeeded: length >> 8)
        out[7] = UInt8(truncatingIfNeeded: length)
        return out
    }

    /// The payload's size for a record (exact), or its upper bound for a rejection (the
    /// sanitized detail is at most 200 bytes and never longer than the original).
    static func payloadCapacity(_ verdict: WorkerVerdict) -> Int {
        switch verdict {
        case .valid(let record):
            var n = 2
            if !record.emptyFiles.isEmpty { n += 1 }
            if record.installationStart != nil { n += 8 }
            if record.installed != nil { n += 8 }
            if let pre = record.preJob {
                n += 4 * 2 + pre.workflow.utf8.count + pre.repository.utf8.count + pre.event.utf8.count
                    + pre.workflowRunID.utf8.count + 8
            }
            if let post = record.postJob { n += 8 + 1 + (post.statusInfoCode == nil ? 0 : 4) }
            return n
        case .rejected(let rejection):
            return 5 + min(rejection.detail.utf8.count, Rejection.maxDetailBytes)
        }
    }

    @inline(__always)
    static func appendU16(_ v: UInt16, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: v >> 8))
        out.append(UInt8(truncatingIfNeeded: v))
    }

    @inline(__always)
    static func appendU32(_ v: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: v >> 24))
        out.append(UInt8(truncatingIfNeeded: v >> 16))
        out.append(UInt8(truncatingIfNeeded: v >> 8))
        out.append(UInt8(truncatingIfNeeded: v))
    }

    @inline(__always)
    static func appendU64(_ v: UInt64, to out: inout [UInt8]) {
        appendU32(UInt32(truncatingIfNeeded: v >> 32), to: &out)
        appendU32(UInt32(truncatingIfNeeded: v), to: &out)
    }

    static func appendString(_ s: String, to out: inout [UInt8]) {
        let utf8 = s.utf8
        appendU16(UInt16(truncatingIfNeeded: utf8.count), to: &out)
        out.append(contentsOf: utf8)
    }

    // MARK: decoding

    /// Every failure is `.protocolViolation` with a detail "frame: ..." naming the part and
    /// what was wrong: offsets, lengths, our own field names, the value of a bad tag byte;
    /// never string contents.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(Rejection) -> WorkerVerdict {
        let n = bytes.count
        guard n >= headerSize else {
            throw violation("\(n) bytes, shorter than the \(headerSize)-byte header")
        }
        guard n <= maxSize else {
            throw violation("\(n) bytes, over the \(maxSize)-byte limit")
        }
        var reader = FrameReader(bytes, at: 0)
        guard reader.uncheckedU32() == magic else {
            throw violation("bad magic")
        }
        let length = Int(reader.uncheckedU32())
        guard length == n - headerSize else {
            throw violation("header says \(length) payload bytes, frame has \(n - headerSize)")
        }
        do throws(Rejection) {
            let verdict: WorkerVerdict
            let tag = try reader.u8("verdict")
            if tag == validTag {
                verdict = .valid(try decodeValid(&reader))
            } else if tag == rejectedTag {
                verdict = .rejected(try decodeRejected(&reader))
            } else {
                throw Rejection(.protocolViolation, "verdict: unknown tag \(hexByte(tag))")
            }
            // One spelling: nothing may follow the last field.
            guard reader.remaining == 0 else {
                throw Rejection(.protocolViolation,
                                "trailing \(byteCount(reader.remaining)) after the verdict at offset \(reader.offset)")
            }
            return verdict
        } catch {
            throw violation(inner(error))
        }
    }

    static func violation(_ detail: String) -> Rejection {
        Rejection(.protocolViolation, "frame: " + detail)
    }

    /// An inner failure as a detail: a frame-structure failure (`.protocolViolation`) as it
    /// is, a broken record rule with its code ("invalid-value installed: negative timestamp").
    static func inner(_ error: Rejection) -> String {
        error.code == .protocolViolation ? error.detail : error.code.rawValue + " " + error.detail
    }

    static func decodeValid(_ reader: inout FrameReader) throws(Rejection) -> RunnerRecord {
        let presence = try reader.u8("presence")
        guard presence & reservedPresenceBits == 0 else {
            throw Rejection(.protocolViolation, "presence: reserved bits \(hexByte(presence & reservedPresenceBits)) set")
        }
        guard presence & hasStatusInfo == 0 || presence & hasPostJob != 0 else {
            throw Rejection(.protocolViolation, "presence: status_info bit without post_job")
        }
        var record = RunnerRecord()
        if presence & hasEmptyFiles != 0 {
            let bits = try reader.u8("empty_files")
            // One spelling: the presence bit is set exactly when some file was empty.
            guard bits != 0 else { throw Rejection(.protocolViolation, "empty_files: presence bit set, no file named") }
            guard let empty = RunnerFileSet(bits: bits) else {
                throw Rejection(.protocolViolation, "empty_files: reserved bits \(hexByte(bits & ~filePresenceBits)) set")
            }
            // A file is empty or present, never both.
            guard bits & presence & filePresenceBits == 0 else {
                throw Rejection(.protocolViolation, "empty_files: \(hexByte(bits & presence & filePresenceBits)) also present")
            }
            record.emptyFiles = empty
        }
        if presence & hasInstallationStart != 0 { record.installationStart = try reader.timestamp("installation_start") }
        if presence & hasInstalled != 0 { record.installed = try reader.timestamp("installed") }
        if presence & hasPreJob != 0 {
            do throws(Rejection) {
                let workflow = try reader.string("workflow")
                let repository = try reader.string("repository")
                try FieldRules.repository(repository)
                let event = try reader.string("event")
                let timestamp = try reader.timestamp("timestamp")
                let runID = try reader.string("workflow_run_id")
                try FieldRules.preJobStrings(workflow, repository, event, runID)
                record.preJob = PreJobMetrics(workflow: workflow, repository: repository, event: event,
                                              timestamp: timestamp, workflowRunID: runID)
            } catch {
                throw Rejection(.protocolViolation, "pre_job: " + inner(error))
            }
        }
        if presence & hasPostJob != 0 {
            do throws(Rejection) {
                let timestamp = try reader.timestamp("timestamp")
                let statusByte = try reader.u8("status")
                guard let status = JobStatus(frameByte: statusByte) else {
                    throw Rejection(.invalidValue, "status: unknown status byte \(hexByte(statusByte))")
                }
                var code: Int32?
                if presence & hasStatusInfo != 0 {
                    code = Int32(bitPattern: try reader.u32("status_info.code"))
                }
                record.postJob = PostJobMetrics(timestamp: timestamp, status: status, statusInfoCode: code)
            } catch {
                throw Rejection(.protocolViolation, "post_job: " + inner(error))
            }
        }
        return record
    }

    static func decodeRejected(_ reader: inout FrameReader) throws(Rejection) -> Rejection {
        let reasonByte = try reader.u8("reason")
        guard let reason = ReasonCode(frameByte: reasonByte) else {
            throw Rejection(.invalidValue, "reason: unknown reason byte \(hexByte(reasonByte))")
        }
        // The worker may only report what it can observe; supervisor-side codes
        // (timeouts, crashes, sandbox violations...) in a worker frame are a lie.
        guard reason.isWorkerReportable else {
            throw Rejection(.invalidValue, "reason: \(reason.rawValue) is not worker-reportable")
        }
        let fileByte = try reader.u8("file")
        guard let file = RunnerFile.fromFrameByte(fileByte) else {
            throw Rejection(.invalidValue, "file: unknown file byte \(hexByte(fileByte))")
        }
        let length = Int(try reader.u16("detail"))
        let detailBytes = try reader.take(length, "detail")
        guard Rejection.isCleanDetail(detailBytes) else {
            throw Rejection(.invalidValue, "detail: not a string of at most 200 printable ASCII bytes")
        }
        var rejection = Rejection(reason, file: file, "")
        rejection.detail = String(decoding: detailBytes, as: UTF8.self) // already clean: no second sanitizing pass
        return rejection
    }
}

/// Reads fields front to back; a field that runs past the end is a protocol violation
/// naming it, its offset and what is left.
struct FrameReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int

    init(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    mutating func take(_ n: Int, _ field: String) throws(Rejection) -> UnsafeRawBufferPointer {
        let left = remaining
        guard n <= left else {
            throw Rejection(.protocolViolation,
                            "\(field): needs \(byteCount(n)) at offset \(offset), \(left) left")
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
        offset += n
        return slice
    }

    mutating func u8(_ field: String) throws(Rejection) -> UInt8 {
        try take(1, field)[0]
    }

    mutating func u16(_ field: String) throws(Rejection) -> UInt16 {
        let b = try take(2, field)
        return UInt16(b[0]) << 8 | UInt16(b[1])
    }

    mutating func u32(_ field: String) throws(Rejection) -> UInt32 {
        let b = try take(4, field)
        return UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
    }

    /// For the header, whose size the caller has checked.
    mutating func uncheckedU32() -> UInt32 {
        let b = bytes
        let o = offset
        offset += 4
        return UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3])
    }

    mutating func u64(_ field: String) throws(Rejection) -> UInt64 {
        let b = try take(8, field)
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(b[i]) }
        return v
    }

    /// An f64 obeying `FieldRules.timestamp`, the sign taken from the IEEE-754 sign bit.
    mutating func timestamp(_ field: String) throws(Rejection) -> Double {
        let value = Double(bitPattern: try u64(field))
        return try FieldRules.timestamp(value, signed: value.sign == .minus, field: field)
    }

    /// A str obeying `FieldRules.recordString` (well-formed UTF-8, no NUL).
    mutating func string(_ field: String) throws(Rejection) -> String {
        let length = Int(try u16(field))
        return try FieldRules.recordString(bytes: try take(length, field), field: field)
    }
}

/// "1 byte", "2 bytes".
func byteCount(_ n: Int) -> String {
    n == 1 ? "1 byte" : "\(n) bytes"
}

// Wire values of the closed enums. Written out, not derived from case order, so that
// reordering a declaration cannot silently change the protocol.

/// A closed enum with a byte of its own on the wire (never 0x00).
protocol FrameByteCoded: CaseIterable {
    var frameByte: UInt8 { get }
}

extension FrameByteCoded {
    /// The case `frameByte` names: the type's table read backwards (supervisor side only).
    init?(frameByte: UInt8) {
        guard let value = Self.allCases.first(where: { $0.frameByte == frameByte }) else { return nil }
        self = value
    }
}

extension JobStatus: FrameByteCoded {
    var frameByte: UInt8 {
        switch self {
        case .normal: 0x01
        case .abnormal: 0x02
        case .repoPolicyCheckFailure: 0x03
        }
    }
}

extension ReasonCode: FrameByteCoded {
    var frameByte: UInt8 {
        switch self {
        case .fileTooLarge: 0x01
        case .notRegularFile: 0x02
        case .unreadableFile: 0x03
        case .invalidEncoding: 0x04
        case .invalidJSON: 0x05
        case .duplicateKey: 0x06
        case .unknownField: 0x07
        case .missingField: 0x08
        case .invalidValue: 0x09
        case .invalidTimestamp: 0x0A
        case .notADirectory: 0x0B
        case .workerCrashed: 0x0C
        case .workerSandboxViolation: 0x0D
        case .workerTimeout: 0x0E
        case .protocolViolation: 0x0F
        case .invalidRunnerName: 0x10
        }
    }
}

extension RunnerFile: FrameByteCoded {
    var frameByte: UInt8 {
        switch self {
        case .installationStart: 0x01
        case .installed: 0x02
        case .preJob: 0x03
        case .postJob: 0x04
        }
    }

    /// `.some(nil)` for 0x00 (no file), nil for a byte that names nothing.
    static func fromFrameByte(_ byte: UInt8) -> RunnerFile?? {
        if byte == 0x00 { return .some(nil) }
        return RunnerFile(frameByte: byte).map { .some($0) }
    }
}

extension Optional where Wrapped == RunnerFile {
    var frameByte: UInt8 { self?.frameByte ?? 0x00 }
}
