import Testing
@testable import MetricsDecoding

/// Random valid records, and random allowed JSON spellings of them, from a seeded RNG.
struct Gen {
    var rng: SplitMix64
    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }
    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }
    mutating func pick<T>(_ xs: [T]) -> T { xs[int(0...(xs.count - 1))] }

    /// Scalars that exercise every escaping path (quotes, backslash, slash, controls, DEL,
    /// 2/3/4-byte UTF-8, U+2028, BOM-as-content, combining marks). Never NUL (a record rule).
    static let scalars: [Unicode.Scalar] = [
        "a", "Z", "0", " ", "/", "\"", "\\", "\u{1}", "\u{1F}", "\n", "\r", "\t", "\u{8}", "\u{C}", "\u{7F}",
        "\u{E9}", "\u{4E2D}", "\u{2028}", "\u{1F600}", "\u{FEFF}", "\u{FFFF}", "\u{10FFFF}", "e", "\u{301}", "K",
        "\u{212A}",
    ]

    mutating func string(maxScalars: Int = 6, allowLF: Bool = true) -> String {
        var s = String.UnicodeScalarView()
        for _ in 0..<int(0...maxScalars) {
            var c = pick(Gen.scalars)
            while !allowLF && c == "\n" { c = pick(Gen.scalars) }
            s.append(c)
        }
        return String(s)
    }

    mutating func timestamp() -> Double {
        switch int(0...3) {
        case 0: return Double(int(0...2_000_000_000))
        case 1: return Double(int(0...2_000_000_000)) + Double(int(0...9999)) / 10000
        case 2: return Double(int(0...1_000_000)) / 1024
        default:
            // Any finite non-negative bit pattern, subnormals included.
            return Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF)
        }
    }

    mutating func preJob() -> PreJobMetrics {
        PreJobMetrics(workflow: string(), repository: string(allowLF: false) + "x/y" + string(allowLF: false),
                      event: string(), timestamp: timestamp(), workflowRunID: string())
    }

    mutating func postJob() -> PostJobMetrics {
        let code: Int32? = chance(50) ? nil : pick([0, 1, -1, 403, 500, Int32.max, Int32.min, Int32(truncatingIfNeeded: rng.next())])
        return PostJobMetrics(timestamp: timestamp(), status: pick(JobStatus.allCases), statusInfoCode: code)
    }

    mutating func record() -> RunnerRecord {
        var record = RunnerRecord(installationStart: chance(50) ? timestamp() : nil,
                                  installed: chance(70) ? timestamp() : nil,
                                  preJob: chance(60) ? preJob() : nil,
                                  postJob: chance(50) ? postJob() : nil)
        // Some absent files were there with 0 bytes.
        if record.installationStart == nil && chance(20) { record.emptyFiles.insert(.installationStart) }
        if record.installed == nil && chance(20) { record.emptyFiles.insert(.installed) }
        if record.preJob == nil && chance(20) { record.emptyFiles.insert(.preJob) }
        if record.postJob == nil && chance(20) { record.emptyFiles.insert(.postJob) }
        return record
    }

    // MARK: spellings

    mutating func ws() -> String { pick(["", "", " ", "\t", "\n", "\r\n", "  "]) }

    mutating func hex4(_ v: UInt32) -> String {
        let digits = Array(chance(50) ? "0123456789abcdef" : "0123456789ABCDEF")
        var s = "\\u"
        for shift in stride(from: 12, through: 0, by: -4) { s.append(digits[Int((v >> UInt32(shift)) & 0xF)]) }
        return s
    }

    mutating func uEscape(_ c: Unicode.Scalar) -> String {
        if c.value >= 0x10000 {
            let u = c.value - 0x10000
            return hex4(0xD800 + (u >> 10)) + hex4(0xDC00 + (u & 0x3FF))
        }
        return hex4(c.value)
    }

    /// A JSON string literal for `s`, each scalar spelled in one of its allowed ways.
    mutating func jsonString(_ s: String, escapeRate: Int = 30) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            let short: String? = switch c {
            case "\"": "\\\""
            case "\\": "\\\\"
            case "\n": "\\n"
            case "\r": "\\r"
            case "\t": "\\t"
            case "\u{8}": "\\b"
            case "\u{C}": "\\f"
            case "/": chance(50) ? "\\/" : nil
            default: nil
            }
            let mustEscape = c.value < 0x20 || c == "\"" || c == "\\"
            if mustEscape || chance(escapeRate) {
                if let short, chance(70) { out += short } else { out += uEscape(c) }
            } else {
                out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }

    /// Allowed JSON spellings of a finite non-negative Double that all read back to it.
    mutating func jsonNumber(_ x: Double) -> String {
        var options = [x.description, PythonJSON.floatRepr(x)]
        let (digitBytes, point) = PythonJSON.shortestDigits(x)
        let digits = String(decoding: digitBytes, as: UTF8.self)
        if !digits.isEmpty {
            options.append("0." + digits + "e" + String(point))
            let exponent = point - digitBytes.count
            options.append(digits + "E" + (exponent >= 0 ? "+" : "") + String(exponent))
        }
        if x == x.rounded(), x < 1e15 {
            let i = Int64(x)
            options += [String(i), "\(i).0", "\(i)e0", "\(i)E+00", "\(i)0e-1", "\(i).000"]
        }
        return pick(options)
    }

    mutating func object(_ members: [(String, String)]) -> String {
        var m = members
        m.shuffle(using: &rng)
        let parts = m.map { (key, value) -> String in
            ws() + jsonString(key, escapeRate: 5) + ws() + ":" + ws() + value + ws()
        }
        return ws() + "{" + (parts.isEmpty ? ws() : parts.joined(separator: ",")) + "}" + ws()
    }

    mutating func preJobJSON(_ p: PreJobMetrics) -> String {
        object([("workflow", jsonString(p.workflow)), ("repository", jsonString(p.repository)),
                ("event", jsonString(p.event)), ("timestamp", jsonNumber(p.timestamp)),
                ("workflow_run_id", jsonString(p.workflowRunID))])
    }

    mutating func postJobJSON(_ p: PostJobMetrics) -> String {
        var members = [("timestamp", jsonNumber(p.timestamp)), ("status", jsonString(p.status.rawValue))]
        if let code = p.statusInfoCode {
            members.append(("status_info", object([("code", code == 0 && chance(50) ? "-0" : String(code))])))
        }
        return object(members)
    }
}

/// Bit-exact record equality (== on Double would equate 0.0 and -0.0).
func bitIdentical(_ a: RunnerRecord, _ b: RunnerRecord) -> Bool {
    func same(_ x: Double?, _ y: Double?) -> Bool { x?.bitPattern == y?.bitPattern }
    return a == b && same(a.installationStart, b.installationStart) && same(a.installed, b.installed)
        && same(a.preJob?.timestamp, b.preJob?.timestamp) && same(a.postJob?.timestamp, b.postJob?.timestamp)
}
