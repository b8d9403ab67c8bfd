// Reason codes, the runner files they can name, and the Rejection error itself.
// These are the only vocabulary the worker may use to tell the supervisor why
// a runner's files were refused, so they are closed enums with stable raw values.

/// Upstream checks each file with stat before reading and refuses anything larger.
public let runnerFileSizeLimit = 1024

public enum ReasonCode: String, Sendable, CaseIterable, Hashable {
    // produced by decoding / the worker's reader
    case fileTooLarge = "file-too-large"
    case notRegularFile = "not-regular-file"
    case unreadableFile = "unreadable-file"
    case invalidEncoding = "invalid-encoding"
    case invalidJSON = "invalid-json"
    case duplicateKey = "duplicate-key"
    case unknownField = "unknown-field"
    case missingField = "missing-field"
    case invalidValue = "invalid-value"
    case invalidTimestamp = "invalid-timestamp"
    // produced only by the supervisor (a worker frame claiming one of these is a protocol violation)
    case notADirectory = "not-a-directory"
    case workerCrashed = "worker-crashed"
    case workerSandboxViolation = "worker-sandbox-violation"
    case workerTimeout = "worker-timeout"
    case protocolViolation = "protocol-violation"
    case invalidRunnerName = "invalid-runner-name"

    /// Whether a (possibly compromised) worker may claim this code. The others describe
    /// facts only the supervisor can observe; a worker claiming them is lying.
    public var isWorkerReportable: Bool {
        switch self {
        case .fileTooLarge, .notRegularFile, .unreadableFile, .invalidEncoding, .invalidJSON,
             .duplicateKey, .unknownField, .missingField, .invalidValue, .invalidTimestamp:
            return true
        case .notADirectory, .workerCrashed, .workerSandboxViolation, .workerTimeout,
             .protocolViolation, .invalidRunnerName:
            return false
        }
    }
}

public enum RunnerFile: String, Sendable, CaseIterable, Hashable {
    case installationStart = "runner-installation-start.timestamp"
    case installed = "runner-installed.timestamp"
    case preJob = "pre-job-metrics.json"
    case postJob = "post-job-metrics.json"
}

public struct Rejection: Error, Equatable, Sendable {
    /// Details end up in logs read by operators and in the worker frame; they must never
    /// carry attacker bytes verbatim, so the init enforces the envelope whatever the caller passes.
    public static let maxDetailBytes = 200

    public var code: ReasonCode
    public var file: RunnerFile?
    public var detail: String

    /// `detail` is sanitized: every byte outside printable ASCII (0x20...0x7E) becomes `?`,
    /// and it is cut to `maxDetailBytes` bytes. Our own details are already in that shape.
    public init(_ code: ReasonCode, file: RunnerFile? = nil, _ detail: String) {
        self.code = code
        self.file = file
        self.detail = Rejection.sanitize(detail)
    }

    /// Printable ASCII only, at most `maxDetailBytes` bytes; non-ASCII scalars become one `?` each.
    static func sanitize(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(min(text.utf8.count, maxDetailBytes))
        appendSanitized(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `sanitize(text)`'s bytes to `out` (the frame encoder writes them in place);
    /// returns how many. The one implementation of the envelope.
    @discardableResult
    static func appendSanitized(_ text: String, to out: inout [UInt8]) -> Int {
        var n = 0
        for scalar in text.unicodeScalars {
            if n == maxDetailBytes { break }
            let v = scalar.value
            out.append(v >= 0x20 && v <= 0x7E ? UInt8(v) : UInt8(ascii: "?"))
            n += 1
        }
        return n
    }

    /// True when a detail's UTF-8 bytes already satisfy the envelope (used by the frame
    /// decoder, which must refuse, not repair, a bad detail sent by the worker).
    static func isCleanDetail<Bytes: Sequence<UInt8>>(_ utf8: Bytes) -> Bool {
        var n = 0
        for b in utf8 {
            guard b >= 0x20 && b <= 0x7E else { return false }
            n += 1
        }
        return n <= maxDetailBytes
    }

    static func isCleanDetail(_ text: String) -> Bool { isCleanDetail(text.utf8) }

    /// The same rejection attributed to a runner file (decoders add it; schema checks do not know it).
    func attributed(to file: RunnerFile) -> Rejection {
        var copy = self
        copy.file = file
        return copy
    }
}

/// Renders a byte for details: "0x7b". Never the byte itself, so details stay ASCII.
@inline(__always)
func hexByte(_ b: UInt8) -> String {
    let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
    return "0x" + String(digits[Int(b >> 4)]) + String(digits[Int(b & 0x0F)])
}
