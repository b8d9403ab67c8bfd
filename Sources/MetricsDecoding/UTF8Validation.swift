// Full UTF-8 validation, per Unicode 15 Table 3-7 (well-formed byte sequences).
// Run over the whole input before any grammar work, so every later stage can slice
// strings out of the buffer knowing the bytes are valid, and so an encoding error is
// reported as such wherever it sits (one reading: encoding is checked first, always).

enum UTF8Validation {
    struct Failure: Error {
        let offset: Int
        let byte: UInt8
        let what: String

        /// "overlong sequence: byte 0xc0 at offset 3", offset within the buffer checked.
        var detail: String { "\(what): byte \(hexByte(byte)) at offset \(offset)" }
    }

    /// Returns the first ill-formed position, or nil when the whole buffer is valid UTF-8.
    static func firstError(in bytes: UnsafeRawBufferPointer) -> Failure? {
        let n = bytes.count
        var i = 0
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 { i += 1; continue }
            // Lead byte decides the length and the allowed range of the FIRST continuation
            // byte; that range is what excludes overlongs, surrogates and > U+10FFFF.
            let length: Int
            var lo: UInt8 = 0x80
            var hi: UInt8 = 0xBF
            switch b0 {
            case 0x80...0xBF:
                return Failure(offset: i, byte: b0, what: "unexpected continuation byte")
            case 0xC0, 0xC1:
                return Failure(offset: i, byte: b0, what: "overlong sequence")
            case 0xC2...0xDF:
                length = 2
            case 0xE0:
                length = 3; lo = 0xA0   // below would be overlong
            case 0xE1...0xEC, 0xEE, 0xEF:
                length = 3
            case 0xED:
                length = 3; hi = 0x9F   // above would encode a surrogate
            case 0xF0:
                length = 4; lo = 0x90   // below would be overlong
            case 0xF1...0xF3:
                length = 4
            case 0xF4:
                length = 4; hi = 0x8F   // above would exceed U+10FFFF
            default: // 0xF5...0xFF
                return Failure(offset: i, byte: b0, what: "byte never valid in UTF-8")
            }
            guard i + 1 < n else {
                return Failure(offset: i, byte: b0, what: "truncated sequence")
            }
            let b1 = bytes[i + 1]
            guard b1 >= lo && b1 <= hi else {
                let what: String
                if b1 < 0x80 || b1 > 0xBF {
                    what = "truncated sequence"
                } else if b0 == 0xED {
                    what = "encoded surrogate"
                } else if b0 == 0xF4 {
                    what = "code point above U+10FFFF"
                } else {
                    what = "overlong sequence"
                }
                return Failure(offset: i + 1, byte: b1, what: what)
            }
            var k = 2
            while k < length {
                guard i + k < n else {
                    return Failure(offset: i, byte: b0, what: "truncated sequence")
                }
                let b = bytes[i + k]
                guard b >= 0x80 && b <= 0xBF else {
                    return Failure(offset: i + k, byte: b, what: "truncated sequence")
                }
                k += 1
            }
            i += length
        }
        return nil
    }

    /// The UTF-8 byte order mark; I-JSON (RFC 7493) and RFC 8259 say not to send it,
    /// and accepting it would give files two spellings. Rejected as an encoding error.
    static func hasBOM(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
    }
}
