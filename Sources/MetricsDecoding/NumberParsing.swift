// Number grammar (RFC 8259 section 6) and conversion to Double.
//
// The grammar is checked byte by byte here; only a lexeme that passed it reaches the
// stdlib `Double(_:)` (which would otherwise also accept "inf", "nan", hex, "+1", ...).
// The stdlib conversion is correctly rounded; it returns +-infinity on overflow and
// zero on underflow, which we turn into rejections: a value we cannot hold exactly
// enough to be non-zero/finite has no single reading.

enum NumberParsing {
    struct Scan {
        /// Offset just past the lexeme.
        let end: Int
        /// No fraction and no exponent.
        let isInteger: Bool
        /// Some digit of the integer or fraction part is 1-9 (so a zero result is underflow).
        let mantissaNonZero: Bool
    }

    enum Conversion {
        case value(Double)
        case overflow
        case underflow
    }

    @inline(__always)
    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    /// Scans `-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?` starting at `start`.
    /// Stops at the first byte that cannot continue the number; the caller's grammar
    /// decides whether that byte is allowed there.
    static func scanJSONNumber(_ bytes: UnsafeRawBufferPointer, at start: Int) throws(Rejection) -> Scan {
        let n = bytes.count
        var i = start
        var nonZero = false
        if i < n && bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < n, isDigit(bytes[i]) else {
            throw Rejection(.invalidJSON, "number without integer digits at offset \(i)")
        }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if i < n && isDigit(bytes[i]) {
                throw Rejection(.invalidJSON, "leading zero in number at offset \(i - 1)")
            }
        } else {
            while i < n && isDigit(bytes[i]) { nonZero = true; i += 1 }
        }
        var isInteger = true
        if i < n && bytes[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard i < n, isDigit(bytes[i]) else {
                throw Rejection(.invalidJSON, "number without fraction digits at offset \(i)")
            }
            while i < n && isDigit(bytes[i]) {
                if bytes[i] != UInt8(ascii: "0") { nonZero = true }
                i += 1
            }
        }
        if i < n && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            isInteger = false
            i += 1
            if i < n && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
            guard i < n, isDigit(bytes[i]) else {
                throw Rejection(.invalidJSON, "number without exponent digits at offset \(i)")
            }
            while i < n && isDigit(bytes[i]) { i += 1 }
        }
        return Scan(end: i, isInteger: isInteger, mantissaNonZero: nonZero)
    }

    /// Converts a grammar-checked ASCII lexeme. `mantissaNonZero` tells underflow
    /// (non-zero digits rounding to zero) apart from a genuine zero such as "0e5".
    static func convert(_ lexeme: String, mantissaNonZero: Bool) -> Conversion {
        // The lexeme is grammar-checked, so a nil here cannot come from input we accept;
        // treat it as overflow rather than trapping.
        guard let value = Double(lexeme) else { return .overflow }
        if !value.isFinite { return .overflow }
        if value == 0 && mantissaNonZero { return .underflow }
        return .value(value)
    }
}
