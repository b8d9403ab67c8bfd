// The strict JSON parser: RFC 8259 grammar exactly, plus I-JSON (RFC 7493) rules:
// UTF-8 only (validated up front, BOM refused), no lone surrogate escapes, unique keys,
// finite numbers, bounded nesting.
//
// Safety on hostile input:
// - every step advances `pos` or fails, and each byte is examined a bounded number of
//   times (UTF-8 pass, grammar pass, at most one copy of a string's bytes), so work is
//   linear in the input size;
// - recursion depth is bounded by `maxDepth`: the depth check happens BEFORE descending,
//   so a 100 000-deep "[[[[..." costs 9 stack frames and fails at the 9th bracket;
// - indices are always compared against `count` before reading (the buffer subscript
//   is only bounds-checked in debug builds).

public enum StrictJSON {
    /// Containers may nest 8 deep; the runner files need 2.
    public static let maxDepth = 8

    /// Parses one JSON text. Rejections carry `file == nil`; the caller attributes them.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(Rejection) -> JSONValue {
        if UTF8Validation.hasBOM(bytes) {
            throw Rejection(.invalidEncoding, "UTF-8 byte order mark at offset 0")
        }
        if let bad = UTF8Validation.firstError(in: bytes) {
            throw Rejection(.invalidEncoding, bad.detail)
        }
        var parser = StrictJSONParser(bytes: bytes)
        return try parser.parseDocument()
    }
}

struct StrictJSONParser {
    let bytes: UnsafeRawBufferPointer
    var pos = 0
    /// Reused buffer for strings that contain escapes.
    var scratch: [UInt8] = []

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func parseDocument() throws(Rejection) -> JSONValue {
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        if pos < bytes.count {
            throw unexpected("after the top-level value")
        }
        return value
    }

    // MARK: - Helpers

    /// JSON whitespace is exactly space, tab, LF, CR (not form feed, not NBSP, not U+2028).
    @inline(__always)
    mutating func skipWhitespace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    func unexpected(_ context: String) -> Rejection {
        if pos >= bytes.count {
            return Rejection(.invalidJSON, "unexpected end of input at offset \(pos) \(context)")
        }
        return Rejection(.invalidJSON, "unexpected byte \(hexByte(bytes[pos])) at offset \(pos) \(context)")
    }

    // MARK: - Values

    mutating func parseValue(depth: Int) throws(Rejection) -> JSONValue {
        guard pos < bytes.count else { throw unexpected("where a value was expected") }
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["):
            return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber())
        default:
            throw unexpected("where a value was expected")
        }
    }

    mutating func expectLiteral(_ word: StaticString) throws(Rejection) {
        let start = pos
        let count = word.utf8CodeUnitCount
        guard bytes.count - pos >= count else {
            throw Rejection(.invalidJSON, "truncated literal at offset \(start)")
        }
        let w = word.utf8Start
        for k in 0..<count where bytes[pos + k] != w[k] {
            pos += k
            throw unexpected("in a literal starting at offset \(start)")
        }
        pos += count
    }

    mutating func checkDepth(_ depth: Int) throws(Rejection) {
        if depth > StrictJSON.maxDepth {
            throw Rejection(.invalidJSON, "nesting deeper than \(StrictJSON.maxDepth) at offset \(pos)")
        }
    }

    mutating func parseArray(depth: Int) throws(Rejection) -> JSONValue {
        try checkDepth(depth)
        pos += 1 // "["
        var elements: [JSONValue] = []
        skipWhitespace()
        if pos < bytes.count && bytes[pos] == UInt8(ascii: "]") {
            pos += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            if pos < bytes.count && bytes[pos] == UInt8(ascii: "]") {
                throw Rejection(.invalidJSON, "trailing comma before offset \(pos)")
            }
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard pos < bytes.count else { throw unexpected("in an array") }
            switch bytes[pos] {
            case UInt8(ascii: ","):
                pos += 1
            case UInt8(ascii: "]"):
                pos += 1
                return .array(elements)
            default:
                throw unexpected("in an array, expected ',' or ']'")
            }
        }
    }

    mutating func parseObject(depth: Int) throws(Rejection) -> JSONValue {
        try checkDepth(depth)
        pos += 1 // "{"
        var members: [(key: String, value: JSONValue)] = []
        var seen = Set<ExactKey>()
        skipWhitespace()
        if pos < bytes.count && bytes[pos] == UInt8(ascii: "}") {
            pos += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard pos < bytes.count else { throw unexpected("where an object key was expected") }
            if bytes[pos] == UInt8(ascii: "}") {
                throw Rejection(.invalidJSON, "trailing comma before offset \(pos)")
            }
            guard bytes[pos] == UInt8(ascii: "\"") else {
                throw unexpected("where an object key was expected")
            }
            let keyOffset = pos
            let key = try parseString()
            // Compared after unescaping and exactly (bytes, not canonical equivalence):
            // {"a":1,"\u0061":2} is a duplicate. Parsers disagree on which one wins
            // (first vs last), so a duplicate has no single reading: reject it.
            guard seen.insert(ExactKey(text: key)).inserted else {
                throw Rejection(.duplicateKey, "duplicate object key at offset \(keyOffset)")
            }
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else {
                throw unexpected("in an object, expected ':'")
            }
            pos += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            members.append((key: key, value: value))
            skipWhitespace()
            guard pos < bytes.count else { throw unexpected("in an object") }
            switch bytes[pos] {
            case UInt8(ascii: ","):
                pos += 1
            case UInt8(ascii: "}"):
                pos += 1
                return .object(members)
            default:
                throw unexpected("in an object, expected ',' or '}'")
            }
        }
    }

    // MARK: - Numbers

    mutating func parseNumber() throws(Rejection) -> JSONNumber {
        let start = pos
        let scan = try NumberParsing.scanJSONNumber(bytes, at: start)
        pos = scan.end
        let lexeme = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<scan.end]), as: UTF8.self)
        switch NumberParsing.convert(lexeme, mantissaNonZero: scan.mantissaNonZero) {
        case .value(let v):
            return JSONNumber(lexeme: lexeme, value: v, isInteger: scan.isInteger)
        case .overflow:
            throw Rejection(.invalidValue, "number at offset \(start) overflows a Double")
        case .underflow:
            throw Rejection(.invalidValue, "number at offset \(start) underflows to zero")
        }
    }

    // MARK: - Strings

    @inline(__always)
    static func hexValue(_ b: UInt8) -> UInt32? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(b - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// Reads the 4 hex digits of a `\u` escape whose backslash is at `escapeStart`.
    mutating func readHex4(escapeStart: Int) throws(Rejection) -> UInt32 {
        // pos is just after "\u"
        guard bytes.count - pos >= 4 else {
            throw Rejection(.invalidJSON, "truncated \\u escape at offset \(escapeStart)")
        }
        var v: UInt32 = 0
        for k in 0..<4 {
            guard let h = StrictJSONParser.hexValue(bytes[pos + k]) else {
                throw Rejection(.invalidJSON, "bad hex digit \(hexByte(bytes[pos + k])) at offset \(pos + k)")
            }
            v = v << 4 | h
        }
        pos += 4
        return v
    }

    /// Parses a string starting at the opening quote; returns its unescaped value.
    /// The input was UTF-8 validated, and slices end at ASCII bytes, so every slice
    /// copied out is valid UTF-8 on its own and `String(decoding:)` never repairs anything.
    mutating func parseString() throws(Rejection) -> String {
        pos += 1 // opening quote
        let contentStart = pos
        // Fast path: no escapes.
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[contentStart..<pos]), as: UTF8.self)
                pos += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 {
                throw Rejection(.invalidJSON, "unescaped control byte \(hexByte(b)) in string at offset \(pos)")
            }
            pos += 1
        }
        guard pos < bytes.count else {
            throw Rejection(.invalidJSON, "unterminated string starting at offset \(contentStart - 1)")
        }
        // Slow path: copy what we have, then unescape into the scratch buffer.
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[contentStart..<pos]))
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                pos += 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if b < 0x20 {
                throw Rejection(.invalidJSON, "unescaped control byte \(hexByte(b)) in string at offset \(pos)")
            }
            if b != UInt8(ascii: "\\") {
                scratch.append(b)
                pos += 1
                continue
            }
            let escapeStart = pos
            pos += 1
            guard pos < bytes.count else { break }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): scratch.append(0x22)
            case UInt8(ascii: "\\"): scratch.append(0x5C)
            case UInt8(ascii: "/"): scratch.append(0x2F)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                let scalar = try readEscapedScalar(escapeStart: escapeStart)
                appendUTF8(scalar)
            default:
                throw Rejection(.invalidJSON, "invalid escape \(hexByte(e)) at offset \(escapeStart)")
            }
        }
        throw Rejection(.invalidJSON, "unterminated string starting at offset \(contentStart - 1)")
    }

    /// After "\u": one BMP scalar, or a high surrogate that MUST be followed directly by
    /// "\u" + low surrogate. Any other surrogate use has no Unicode scalar reading, so it
    /// is an encoding error (I-JSON section 2.1), not silently replaced by U+FFFD.
    mutating func readEscapedScalar(escapeStart: Int) throws(Rejection) -> UInt32 {
        let first = try readHex4(escapeStart: escapeStart)
        switch first {
        case 0xDC00...0xDFFF:
            throw Rejection(.invalidEncoding, "lone low surrogate escape at offset \(escapeStart)")
        case 0xD800...0xDBFF:
            let secondStart = pos
            guard bytes.count - pos >= 2,
                  bytes[pos] == UInt8(ascii: "\\"),
                  bytes[pos + 1] == UInt8(ascii: "u")
            else {
                throw Rejection(.invalidEncoding, "high surrogate escape without low surrogate at offset \(escapeStart)")
            }
            pos += 2
            let second = try readHex4(escapeStart: secondStart)
            guard (0xDC00...0xDFFF).contains(second) else {
                throw Rejection(.invalidEncoding, "high surrogate escape without low surrogate at offset \(escapeStart)")
            }
            return 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        default:
            return first
        }
    }

    /// Encodes a scalar (never a surrogate, at most U+10FFFF: guaranteed by the caller).
    mutating func appendUTF8(_ v: UInt32) {
        switch v {
        case 0..<0x80:
            scratch.append(UInt8(v))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | (v >> 6)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | (v >> 12)))
            scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        default:
            scratch.append(UInt8(0xF0 | (v >> 18)))
            scratch.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        }
    }
}
