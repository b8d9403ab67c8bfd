import Testing
@testable import MetricsDecoding

/// The event encoder writes bytes into a batch buffer. This is the String-based encoder it
/// replaced, kept verbatim as a reference: for random records, flavors and doubles the two
/// must agree byte for byte (the CPython-derived cases in EventLineTests pin both).
enum ReferenceEncoder {
    static func floatRepr(_ x: Double) -> String {
        if x.isNaN { return "NaN" }
        if x.isInfinite { return x < 0 ? "-Infinity" : "Infinity" }
        let sign = x.sign == .minus ? "-" : ""
        let (digits, pointPosition) = shortestDigits(x.magnitude)
        if digits.isEmpty { return sign + "0.0" }
        let e = pointPosition - 1
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

    static func string(_ s: String) -> String {
        var out = "\""
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
        return out + "\""
    }

    static func hex4(_ v: UInt32) -> String {
        let digits = Array("0123456789abcdef")
        var s = "\\u"
        for shift in stride(from: 12, through: 0, by: -4) { s.append(digits[Int((v >> UInt32(shift)) & 0xF)]) }
        return s
    }

    /// A clamped value is a Python float upstream (a `NonNegativeFloat` field): `0.0`, never `0`.
    static func clamped(_ c: Clamped) -> String { floatRepr(c.value) }

    static func line(_ event: MetricEvent, flavor: String) -> String {
        func job(_ t: Double, _ w: String, _ r: String, _ e: String) -> [(String, String)] {
            [("timestamp", floatRepr(t)), ("event", string(event.name)), ("flavor", string(flavor)),
             ("workflow", string(w)), ("repo", string(r)), ("github_event", string(e))]
        }
        var members: [(String, String)]
        switch event {
        case let .runnerInstalled(t, d):
            members = [("timestamp", floatRepr(t)), ("event", string(event.name)), ("flavor", string(flavor)),
                       ("duration", clamped(d))]
        case let .runnerStart(t, w, r, e, idle, _):
            members = job(t, w, r, e) + [("idle", clamped(idle))]
        case let .runnerStop(t, w, r, e, status, code, duration, _):
            members = job(t, w, r, e) + [("status", string(status.rawValue))]
            if let code { members.append(("status_info", "{\"code\": \(code)}")) }
            members.append(("job_duration", clamped(duration)))
        }
        return "{" + members.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}\n"
    }
}

@Suite("Event encoder against the reference")
struct EventEncoderReferenceTests {
    @Test("random doubles: the same repr")
    func doubles() {
        var rng = SplitMix64(seed: 0x5EED_0E0C)
        for _ in 0..<50000 {
            let x = Double(bitPattern: rng.next())
            #expect(PythonJSON.floatRepr(x) == ReferenceEncoder.floatRepr(x), "\(x.bitPattern)")
        }
        for x in [0.0, -0.0, 1e16, 9999999999999998.0, 1e-4, 0.0001234, 5e-324, .greatestFiniteMagnitude] {
            #expect(PythonJSON.floatRepr(x) == ReferenceEncoder.floatRepr(x), "\(x)")
        }
    }

    @Test("random records and flavors: the same lines, and one buffer holds a batch of them")
    func lines() {
        var gen = Gen(seed: 0x5EED_0E0D)
        for _ in 0..<5000 {
            let flavor = gen.string()
            let events = MetricEvent.events(for: gen.record())
            var batch: [UInt8] = [0x7B]  // the buffer need not start empty
            let expected = events.map { ReferenceEncoder.line($0, flavor: flavor) }
            for event in events {
                #expect(event.jsonLine(flavor: flavor) == ReferenceEncoder.line(event, flavor: flavor))
                event.appendLine(flavor: flavor, to: &batch)
            }
            #expect(String(decoding: batch.dropFirst(), as: UTF8.self) == expected.joined())
            #expect(PythonJSON.string(flavor) == ReferenceEncoder.string(flavor))
        }
    }
}
