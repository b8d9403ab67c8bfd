// What upstream Python's `json.dumps` writes for the values in an event line, byte for byte.
// Dashboards and alert rules parse these lines; a drop-in replacement must not change them.
//
// The writers append UTF-8 bytes to a buffer: the supervisor encodes a whole batch of lines
// into one buffer and writes it with one write(2), with no String built per value.

public enum PythonJSON {
    /// Python's `float.__repr__` as `json.dumps` uses it: the shortest digits that round-trip,
    /// fixed notation when the decimal exponent e is in -4 <= e < 16 (always with a
    /// fractional part, ".0" if need be), else "d.ddde+XX" with at least two exponent digits.
    /// Non-finite values are what json.dumps writes with its default allow_nan=True.
    static func appendFloat(_ x: Double, to out: inout [UInt8]) {
        if x.isNaN { append("NaN", to: &out); return }
        if x.isInfinite { append(x < 0 ? "-Infinity" : "Infinity", to: &out); return }
        if x.sign == .minus { out.append(UInt8(ascii: "-")) }
        // Swift's description yields the shortest round-trip digits (like Python's repr,
        // both pick the closest such digits); only its layout differs (it switches to
        // exponent form at 2^53, Python at 1e16), so re-layout from the digits.
        let (digits, pointPosition) = shortestDigits(x.magnitude)
        if digits.isEmpty { append("0.0", to: &out); return }
        let e = pointPosition - 1 // value = 0.d1d2... * 10^pointPosition = d1.d2... * 10^e
        if e >= -4 && e < 16 {
            if pointPosition <= 0 {
                append("0.", to: &out)
                out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: -pointPosition))
                out.append(contentsOf: digits)
            } else if pointPosition < digits.count {
                out.append(contentsOf: digits[..<pointPosition])
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: digits[pointPosition...])
            } else {
                out.append(contentsOf: digits)
                out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: pointPosition - digits.count))
                append(".0", to: &out)
            }
        } else {
            out.append(digits[0])
            if digits.count > 1 {
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: digits[1...])
            }
            append(e < 0 ? "e-" : "e+", to: &out)
            let magnitude = e < 0 ? -e : e
            if magnitude < 10 { out.append(UInt8(ascii: "0")) }
            appendDecimal(magnitude, to: &out)
        }
    }

    static func floatRepr(_ x: Double) -> String {
        var out: [UInt8] = []
        appendFloat(x, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Significant digits as ASCII bytes (no leading or trailing zeros; empty for zero) and
    /// the position of the decimal point relative to them, parsed from Swift's shortest
    /// `description` ("123.456", "1e-05", "1.5e+16", "9007199254740992.0", "5e-324").
    static func shortestDigits(_ x: Double) -> (digits: [UInt8], pointPosition: Int) {
        var digits: [UInt8] = []
        digits.reserveCapacity(24)
        var pointPosition = 0
        var seenPoint = false
        var exponent = 0
        var exponentSign = 1
        var inExponent = false
        for byte in x.description.utf8 {
            switch byte {
            case UInt8(ascii: "e"), UInt8(ascii: "E"): inExponent = true
            case UInt8(ascii: "."): seenPoint = true
            case UInt8(ascii: "-") where inExponent: exponentSign = -1
            case UInt8(ascii: "+"): break
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if inExponent {
                    exponent = exponent * 10 + Int(byte - UInt8(ascii: "0"))
                } else {
                    digits.append(byte)
                    if !seenPoint { pointPosition += 1 }
                }
            default: break
            }
        }
        pointPosition += exponentSign * exponent
        var leading = 0
        while leading < digits.count && digits[leading] == UInt8(ascii: "0") { leading += 1 }
        var end = digits.count
        while end > leading && digits[end - 1] == UInt8(ascii: "0") { end -= 1 }
        pointPosition -= leading
        return (Array(digits[leading..<end]), pointPosition)
    }

    /// A JSON string as `json.dumps(..., ensure_ascii=True)` writes it: printable ASCII
    /// 0x20...0x7E raw except `"` and `\`; the short escapes \" \\ \n \r \t \b \f; every
    /// other scalar (other controls, DEL 0x7F, all non-ASCII) as \uXXXX lowercase, astral
    /// scalars as a UTF-16 surrogate pair. (CPython's encoder escapes DEL too: its "safe"
    /// range is ' ' through '~'.)
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for scalar in s.unicodeScalars {
            let v = scalar.value
            switch v {
            case 0x22: append("\\\"", to: &out)
            case 0x5C: append("\\\\", to: &out)
            case 0x0A: append("\\n", to: &out)
            case 0x0D: append("\\r", to: &out)
            case 0x09: append("\\t", to: &out)
            case 0x08: append("\\b", to: &out)
            case 0x0C: append("\\f", to: &out)
            case 0x20...0x7E: out.append(UInt8(truncatingIfNeeded: v))
            case 0x10000...:
                let u = v - 0x10000
                appendHex4(0xD800 + (u >> 10), to: &out)
                appendHex4(0xDC00 + (u & 0x3FF), to: &out)
            default:
                appendHex4(v, to: &out)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    public static func string(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        appendString(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendHex4(_ v: UInt32, to out: inout [UInt8]) {
        append("\\u", to: &out)
        for shift in stride(from: 12, through: 0, by: -4) {
            let nibble = UInt8(truncatingIfNeeded: (v >> UInt32(shift)) & 0xF)
            out.append(nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10)
        }
    }

    /// A decimal integer as Python prints it (a "-" sign, no leading zeros).
    static func appendDecimal<T: BinaryInteger>(_ value: T, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        // Through the magnitude as UInt64: Int32.min has no positive Int32.
        var magnitude = UInt64(value.magnitude)
        var reversed: [UInt8] = []
        repeat {
            reversed.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        out.append(contentsOf: reversed.reversed())
    }

    /// The bytes of a literal.
    @inline(__always)
    static func append(_ literal: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }
}
