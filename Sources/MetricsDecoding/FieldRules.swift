// The rules a record's values obey, each written once. The runner-file decoders apply them
// to values parsed from JSON (through `Schema`, `PreJobMetrics(json:)`,
// `PostJobMetrics(json:)`), and `Frame.decode` applies them to the same values read from a
// worker's binary frame, so the supervisor accepts exactly what an honest worker can send.
// UTF-8 well-formedness is the other shared rule: `UTF8Validation` (the parser runs it over a
// whole file, the frame decoder over each string). Details name the field, never its value.

enum FieldRules {
    /// A record string may not contain U+0000 (C consumers and log pipelines would truncate
    /// or split on it, giving two readings). `utf8` is the string's UTF-8 bytes.
    static func recordString<Bytes: Sequence<UInt8>>(_ utf8: Bytes, field: String) throws(Rejection) {
        var offset = 0
        for b in utf8 {
            if b == 0 {
                throw Rejection(.invalidValue, "\(field): NUL at byte \(offset) of the value")
            }
            offset += 1
        }
    }

    /// A record string read as raw bytes (the frame): well-formed UTF-8, then the rule above.
    static func recordString(bytes: UnsafeRawBufferPointer, field: String) throws(Rejection) -> String {
        if let bad = UTF8Validation.firstError(in: bytes) {
            throw Rejection(.invalidEncoding, "\(field): \(bad.detail) of the value")
        }
        try recordString(bytes, field: field)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The most UTF-8 bytes the four strings of a pre-job record hold together: its file is at
    /// most `runnerFileSizeLimit` bytes, the shortest spelling of everything else,
    /// `{"workflow":"","repository":"","event":"","timestamp":0,"workflow_run_id":""}`, takes
    /// 77, and a decoded string is never longer than its JSON spelling (an escape stands for
    /// fewer bytes than it is written with). A record over it did not come from a runner file.
    static var preJobStringBytes: Int { runnerFileSizeLimit - 77 }

    /// The four pre-job strings fit in one runner file (`preJobStringBytes`).
    static func preJobStrings(_ strings: String...) throws(Rejection) {
        var total = 0
        for string in strings { total += string.utf8.count }
        guard total <= preJobStringBytes else {
            throw Rejection(.invalidValue, "strings: \(total) bytes, more than a \(runnerFileSizeLimit)-byte file holds (\(preJobStringBytes))")
        }
    }

    /// `repository` matches `^.+/.+$` (`PreJobMetrics.isOwnerSlashRepo`).
    static func repository(_ s: String) throws(Rejection) {
        guard PreJobMetrics.isOwnerSlashRepo(s) else {
            throw Rejection(.invalidValue, "repository: does not match ^.+/.+$")
        }
    }

    /// A timestamp (pydantic NonNegativeFloat upstream): finite, and no minus sign, even on
    /// zero. `signed` is whether its spelling carries one: a JSON lexeme starting with "-"
    /// (refused even for "-0": a sign has no place in a timestamp, and -0.0 would print as
    /// "-0.0" in the event lines), or the IEEE-754 sign bit of a frame's Double. A finite
    /// Double with a clear sign bit is >= 0 and never -0.0.
    static func timestamp(_ value: Double, signed: Bool, field: String) throws(Rejection) -> Double {
        guard value.isFinite else {
            throw Rejection(.invalidValue, "\(field): not a finite number")
        }
        guard !signed, value.sign == .plus else {
            throw Rejection(.invalidValue, "\(field): negative timestamp")
        }
        return value
    }
}
