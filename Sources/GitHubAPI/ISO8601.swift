// The timestamps of GitHub's REST API: RFC 3339 date-times, `2024-01-02T03:04:05Z`, also with
// a `+HH:MM` / `-HH:MM` offset and 1 to 6 fraction digits (GitHub Enterprise Server and other
// endpoints send both). Parsed to integer Unix microseconds, so a difference of two is exact,
// as Python's `timedelta.total_seconds()` computes it from integer microseconds.

public enum ISO8601 {
    /// Unix microseconds of `text`, or nil unless it is exactly
    /// `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)`: upper-case `T` and `Z`, a real calendar date
    /// (leap years included), no leap second, year 0001-9999, offset hours below 24.
    public static func microseconds(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count >= 20 else { return nil }
        func number(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= b.count else { return nil }
            var value = 0
            for index in start..<(start + count) {
                let digit = b[index]
                guard digit >= 0x30 && digit <= 0x39 else { return nil }
                value = value * 10 + Int(digit - 0x30)
            }
            return value
        }
        guard let year = number(0, 4), b[4] == 0x2D, let month = number(5, 2), b[7] == 0x2D, let day = number(8, 2),
              b[10] == 0x54, let hour = number(11, 2), b[13] == 0x3A, let minute = number(14, 2), b[16] == 0x3A,
              let second = number(17, 2)
        else { return nil }
        guard year >= 1, (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
              hour < 24, minute < 60, second < 60
        else { return nil }
        var index = 19
        var fraction = 0
        if b[index] == 0x2E {
            index += 1
            var digits = 0
            while index < b.count, b[index] >= 0x30 && b[index] <= 0x39 {
                guard digits < 6 else { return nil }
                fraction = fraction * 10 + Int(b[index] - 0x30)
                digits += 1
                index += 1
            }
            guard digits >= 1 else { return nil }
            for _ in digits..<6 { fraction *= 10 }
        }
        guard index < b.count else { return nil }
        var offsetSeconds = 0
        switch b[index] {
        case 0x5A:
            guard index + 1 == b.count else { return nil }
        case 0x2B, 0x2D:
            guard index + 6 == b.count, let offsetHours = number(index + 1, 2), b[index + 3] == 0x3A,
                  let offsetMinutes = number(index + 4, 2), offsetHours < 24, offsetMinutes < 60
            else { return nil }
            offsetSeconds = (offsetHours * 3600 + offsetMinutes * 60) * (b[index] == 0x2B ? 1 : -1)
        default:
            return nil
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        return seconds * 1_000_000 + Int64(fraction)
    }

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
