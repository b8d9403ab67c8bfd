import Testing
@testable import MetricsDecoding

/// Deterministic RNG (SplitMix64) so property tests replay identically on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs a decoder over bytes and captures the outcome.
func outcome<T>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(Rejection) -> T) -> Result<T, Rejection> {
    bytes.withUnsafeBytes { (buf: UnsafeRawBufferPointer) -> Result<T, Rejection> in
        do throws(Rejection) {
            return .success(try body(buf))
        } catch {
            return .failure(error)
        }
    }
}

func rejection<T>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(Rejection) -> T) -> Rejection? {
    if case .failure(let r) = outcome(bytes, body) { return r }
    return nil
}

func parseJSON(_ text: String) -> Result<JSONValue, Rejection> {
    outcome(Array(text.utf8)) { (b) throws(Rejection) in try StrictJSON.parse(b) }
}

func parseJSON(bytes: [UInt8]) -> Result<JSONValue, Rejection> {
    outcome(bytes) { (b) throws(Rejection) in try StrictJSON.parse(b) }
}

/// The reason code of a parse, or nil when it was accepted.
func parseCode(_ text: String) -> ReasonCode? {
    if case .failure(let r) = parseJSON(text) { return r.code }
    return nil
}

func parseCode(bytes: [UInt8]) -> ReasonCode? {
    if case .failure(let r) = parseJSON(bytes: bytes) { return r.code }
    return nil
}

func preJobOutcome(_ text: String) -> Result<PreJobMetrics, Rejection> {
    outcome(Array(text.utf8)) { (b) throws(Rejection) in try RunnerFileDecoder.decodePreJob(b) }
}

func postJobOutcome(_ text: String) -> Result<PostJobMetrics, Rejection> {
    outcome(Array(text.utf8)) { (b) throws(Rejection) in try RunnerFileDecoder.decodePostJob(b) }
}

func timestampOutcome(_ bytes: [UInt8], file: RunnerFile = .installed) -> Result<Double, Rejection> {
    outcome(bytes) { (b) throws(Rejection) in try RunnerFileDecoder.decodeTimestamp(b, file: file) }
}

func code<T>(_ r: Result<T, Rejection>) -> ReasonCode? {
    if case .failure(let e) = r { return e.code }
    return nil
}

func value<T>(_ r: Result<T, Rejection>) -> T? {
    if case .success(let v) = r { return v }
    return nil
}

/// The envelope every detail must keep: printable ASCII, no newline, at most 200 bytes.
func detailIsClean(_ r: Rejection) -> Bool {
    r.detail.utf8.count <= 200 && r.detail.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
}

let validPreJobText =
    #"{"workflow":"CI 0","repository":"org/repo0","event":"push","timestamp":1700000030,"workflow_run_id":"123"}"#
let validPostJobText = #"{"timestamp":1700000090,"status":"abnormal","status_info":{"code":-1}}"#

/// Builds a pre-job JSON text from member texts, for one-change-at-a-time tests.
func preJobText(replacing key: String? = nil, with valueText: String? = nil, dropping drop: String? = nil,
                adding extra: String? = nil) -> String {
    var members: [(String, String)] = [
        ("workflow", #""CI 0""#), ("repository", #""org/repo0""#), ("event", #""push""#),
        ("timestamp", "1700000030"), ("workflow_run_id", #""123""#),
    ]
    if let key, let valueText {
        members = members.map { $0.0 == key ? ($0.0, valueText) : $0 }
    }
    if let drop { members.removeAll { $0.0 == drop } }
    var parts = members.map { "\"\($0.0)\":\($0.1)" }
    if let extra { parts.append(extra) }
    return "{" + parts.joined(separator: ",") + "}"
}
