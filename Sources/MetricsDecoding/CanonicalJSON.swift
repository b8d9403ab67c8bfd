// The compact, canonical JSON the worker frame carries: no whitespace, strings as raw
// UTF-8 with only the escapes JSON makes mandatory, doubles as Swift's shortest
// round-trip `description`. One verdict has exactly one spelling, which lets the
// supervisor refuse any frame that is not byte-identical to its own re-encoding.

struct CanonicalJSONWriter {
    var bytes: [UInt8] = []

    mutating func raw(_ s: String) {
        bytes.append(contentsOf: s.utf8)
    }

    /// Only `"`, `\` and C0 controls are escaped (short forms where JSON has them).
    mutating func string(_ s: String) {
        bytes.append(0x22)
        for b in s.utf8 {
            switch b {
            case 0x22: raw("\\\"")
            case 0x5C: raw("\\\\")
            case 0x08: raw("\\b")
            case 0x0C: raw("\\f")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0x00..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                raw("\\u00")
                bytes.append(digits[Int(b >> 4)])
                bytes.append(digits[Int(b & 0xF)])
            default:
                bytes.append(b)
            }
        }
        bytes.append(0x22)
    }

    /// Swift's description is the shortest text that parses back to the same bits; for
    /// finite values it is valid JSON ("1700000000.0", "1e-05", "1.7e+20"). Non-finite
    /// values produce text the decoder refuses, which is the right outcome for them.
    mutating func double(_ d: Double) {
        raw(d.description)
    }

    /// `"key":` preceded by a comma unless it is the first member.
    mutating func key(_ k: String, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        string(k)
        bytes.append(UInt8(ascii: ":"))
    }
}
