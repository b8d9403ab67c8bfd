import MetricsDecoding

/// JSON text for the supervisor's own output (audit lines, summaries, journal). Everything
/// outside printable ASCII is \u-escaped, so a line is pure ASCII and a runner-chosen string
/// can never end it, split it or smuggle a terminal escape into an operator's screen.
enum JSONText {
    /// The same encoding as the metric lines (`json.dumps(..., ensure_ascii=True)`): only
    /// printable ASCII stays raw, every other scalar is escaped.
    static func string(_ value: String) -> String { PythonJSON.string(value) }

    /// `{"k": v, ...}` from already-encoded values, in the given order.
    static func object(_ members: [(String, String)]) -> String {
        "{" + members.map { string($0.0) + ": " + $0.1 }.joined(separator: ", ") + "}"
    }

    /// Raw bytes of an untrusted name, shown safely: printable ASCII as is, the rest as \xNN.
    static func escapedBytes(_ bytes: [UInt8]) -> String {
        var out = ""
        let digits = Array("0123456789abcdef")
        for byte in bytes {
            if byte >= 0x20 && byte < 0x7f && byte != UInt8(ascii: "\\") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "\\x" + String([digits[Int(byte >> 4)], digits[Int(byte & 0xf)]])
            }
        }
        return out
    }
}

/// UTC time as ISO 8601 with milliseconds, without Foundation.
enum UTCTime {
    static func iso8601(_ seconds: Double) -> String {
        var whole = Int(seconds.rounded(.down))
        let millis = Int(((seconds - Double(whole)) * 1000).rounded(.down))
        let days = whole >= 0 ? whole / 86400 : (whole - 86399) / 86400
        whole -= days * 86400
        let (year, month, day) = civil(fromDays: days)
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(whole / 3600, 2)):\(pad(whole / 60 % 60, 2)):\(pad(whole % 60, 2)).\(pad(millis, 3))Z"
    }

    /// Howard Hinnant's days-to-civil algorithm.
    static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    /// Days in `month` (1 to 12) of `year`, Gregorian.
    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Inverse, for `audit --since`: "YYYY-MM-DDTHH:MM:SS[.fff]Z" or "YYYY-MM-DD" to seconds;
    /// nil for anything else, a date that does not exist (2026-02-30) or a time past 23:59:59.
    static func parse(_ text: String) -> Double? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard let y = number(0..<4), bytes.count >= 10, bytes[4] == 0x2d, let m = number(5..<7), bytes[7] == 0x2d,
              let d = number(8..<10), (1...12).contains(m), (1...daysIn(month: m, year: y)).contains(d) else { return nil }
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        var seconds = Double((era * 146097 + doe - 719468) * 86400)
        if bytes.count == 10 { return seconds }
        // THH:MM:SS, an optional fraction of 1 to 9 digits, Z: exactly that.
        guard bytes.count >= 20, bytes[10] == 0x54, let hh = number(11..<13), bytes[13] == 0x3a, let mm = number(14..<16),
              bytes[16] == 0x3a, let ss = number(17..<19), hh < 24, mm < 60, ss < 60, bytes.last == 0x5a else { return nil }
        var fraction = 0.0
        if bytes.count > 20 {
            guard bytes[19] == 0x2e, (1...9).contains(bytes.count - 21), let digits = number(20..<(bytes.count - 1)) else { return nil }
            fraction = Double(digits) / Double((0..<(bytes.count - 21)).reduce(1) { value, _ in value * 10 })
        }
        seconds += Double(hh * 3600 + mm * 60 + ss) + fraction
        return seconds
    }
}
