// What upstream Python's `json.dumps` writes for the values in an event line, byte for byte.
// Dashboards and alert rules parse these lines; a drop-in replacement must not change them.

public enum PythonJSON {
    /// Python's `float.__repr__` as `json.dumps` uses it: the shortest digits that round-trip,
    /// fixed notation when the decimal exponent e is in -4 <= e < 16 (always with a
    /// fractional part, ".0" if need be), else "d.ddde+XX" with at least two exponent digits.
    /// Non-finite values are what json.dumps writes with its default allow_nan=True.
    static func floatRepr(_ x: Double) -> String {
        if x.isNaN { return "NaN" }
        if x.isInfinite { return x < 0 ? "-Infinity" : "Infinity" }
        let sign = x.sign == .minus ? "-" : ""
        // Swift's description yields the shortest round-trip digits (like Python's repr,
        // both pick the closest such digits); only its layout differs (it switches to
        // exponent form at 2^53, Python at 1e16), so re-layout from the digits.
        let (digits, pointPosition) = shortestDigits(x.magnitude)
        if digits.isEmpty { return sign + "0.0" }
        let e = pointPosition - 1 // value = 0.d1d2... * 10^pointPosition = d1.d2... * 10^e
        var out = sign
        if e >= -4 && e < 16 {
            if pointPosition <= 0 {
                out += "0." + String(repeating: "0", count: -pointPosition) + String(digits)
            } else if pointPosition < digits.count {
                out += String(digits[..<pointPosition]) + "." + String(digits[pointPosition...])
            } else {
                out += String(digits) + String(repeating: "0", count: pointPosition - digits.count) + ".0"
            }
        } else {
            out.append(digits[0])
            if digits.count > 1 { out += "." + String(digits[1...]) }
            let magnitude = e < 0 ? -e : e
            out += (e < 0 ? "e-" : "e+") + (magnitude < 10 ? "0" : "") + String(magnitude)
        }
        return out
    }

    /// Significant digits (no leading or trailing zeros; empty for zero) and the position
    /// of the decimal point relative to them, parsed from Swift's shortest `description`
    /// ("123.456", "1e-05", "1.5e+16", "9007199254740992.0", "5e-324").
    static func shortestDigits(_ x: Double) -> (digits: [Character], pointPosition: Int) {
        let text = x.description
        var mantissa = Substring(text)
        var exponent = 0
        if let eIndex = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<eIndex]
            exponent = Int(text[text.index(after: eIndex)...]) ?? 0
        }
        var digits: [Character] = []
        var pointPosition = 0
        var seenPoint = false
        for c in mantissa {
            if c == "." { seenPoint = true; continue }
            digits.append(c)
            if !seenPoint { pointPosition += 1 }
        }
        pointPosition += exponent
        while let first = digits.first, first == "0" {
            digits.removeFirst()
            pointPosition -= 1
        }
        while let last = digits.last, last == "0" { digits.removeLast() }
        return (digits, pointPosition)
    }

    /// A JSON string as `json.dumps(..., ensure_ascii=True)` writes it: printable ASCII
    /// 0x20...0x7E raw except `"` and `\`; the short escapes \" \\ \n \r \t \b \f; every
    /// other scalar (other controls, DEL 0x7F, all non-ASCII) as \uXXXX lowercase, astral
    /// scalars as a UTF-16 surrogate pair. (CPython's encoder escapes DEL too: its "safe"
    /// range is ' ' through '~'.)
    public static func string(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            let v = scalar.value
            switch v {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20...0x7E: out.unicodeScalars.append(scalar)
            case 0x10000...:
                let u = v - 0x10000
                out += hex4(0xD800 + (u >> 10)) + hex4(0xDC00 + (u & 0x3FF))
            default:
                out += hex4(v)
            }
        }
        out += "\""
        return out
    }

    static func hex4(_ v: UInt32) -> String {
        let digits = Array("0123456789abcdef")
        var s = "\\u"
        for shift in stride(from: 12, through: 0, by: -4) {
            s.append(digits[Int((v >> UInt32(shift)) & 0xF)])
        }
        return s
    }
}
