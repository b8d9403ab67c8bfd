// The two .timestamp files: UNIX time as text, written upstream with `str(int)` or
// `str(float)` (e.g. "1700000000", "1696427232.2253454"), maybe followed by one LF.
// Accepted grammar, exactly: ^(0|[1-9][0-9]*)(\.[0-9]+)?\n?$  (ASCII only).
// Everything else has no single obvious reading (whitespace, "+", exponents, "inf",
// leading zeros, CRLF...) and is refused as invalid-timestamp.

enum TimestampFile {
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(Rejection) -> Double {
        var end = bytes.count
        if end > 0 && bytes[end - 1] == 0x0A { end -= 1 }   // at most one trailing LF
        guard end > 0 else {
            throw Rejection(.invalidTimestamp, bytes.isEmpty ? "empty file" : "no digits before the newline")
        }
        var i = 0
        var nonZero = false
        func bad(_ at: Int, _ why: String) -> Rejection {
            Rejection(.invalidTimestamp, "\(why): byte \(hexByte(bytes[at])) at offset \(at)")
        }
        guard NumberParsing.isDigit(bytes[0]) else { throw bad(0, "expected a digit") }
        if bytes[0] == UInt8(ascii: "0") {
            i = 1
            if i < end && NumberParsing.isDigit(bytes[i]) { throw bad(0, "leading zero") }
        } else {
            while i < end && NumberParsing.isDigit(bytes[i]) { nonZero = true; i += 1 }
        }
        if i < end && bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard i < end else {
                throw Rejection(.invalidTimestamp, "no digits after the decimal point at offset \(i - 1)")
            }
            guard NumberParsing.isDigit(bytes[i]) else { throw bad(i, "expected a fraction digit") }
            while i < end && NumberParsing.isDigit(bytes[i]) {
                if bytes[i] != UInt8(ascii: "0") { nonZero = true }
                i += 1
            }
        }
        guard i == end else { throw bad(i, "unexpected byte") }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), as: UTF8.self)
        switch NumberParsing.convert(text, mantissaNonZero: nonZero) {
        case .value(let v):
            return v
        case .overflow:
            throw Rejection(.invalidTimestamp, "value overflows a Double")
        case .underflow:
            throw Rejection(.invalidTimestamp, "value underflows to zero")
        }
    }
}
