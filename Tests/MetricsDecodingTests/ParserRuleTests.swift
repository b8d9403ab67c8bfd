import Testing
@testable import MetricsDecoding

/// One test per parser rule: the smallest breaking input with its exact code, next to
/// the closest accepted input (so each test fails if the rule is too broad or missing).
@Suite("Strict parser rules")
struct ParserRuleTests {
    @Test func trailingCommaIsInvalidJSON() {
        #expect(parseCode("[1,]") == .invalidJSON)
        #expect(parseCode(#"{"a":1,}"#) == .invalidJSON)
        #expect(parseCode("[1]") == nil)
    }

    @Test func leadingZeroIsInvalidJSON() {
        #expect(parseCode("01") == .invalidJSON)
        #expect(parseCode("-01") == .invalidJSON)
        #expect(parseCode("0") == nil)
        #expect(parseCode("0.1") == nil)
    }

    @Test func numberSpellingsOutsideRFC8259AreInvalidJSON() {
        for text in ["+1", "0x1", "NaN", "Infinity", "-Infinity", ".5", "1.", "1e", "1e+", "-", "1.e1", "01.5"] {
            #expect(parseCode(text) == .invalidJSON, "\(text)")
        }
        for text in ["-0", "0e0", "0E+0", "1.5e-3", "-1.25E10"] {
            #expect(parseCode(text) == nil, "\(text)")
        }
    }

    @Test func commentsSingleQuotesAndBareWordsAreInvalidJSON() {
        for text in ["[1]//", "/*x*/[1]", "['a']", "[tru]", "[True]", "[nul]", "{a:1}"] {
            #expect(parseCode(text) == .invalidJSON, "\(text)")
        }
    }

    @Test func onlyJSONWhitespaceAroundTheValue() {
        #expect(parseCode(" \t\r\n[1] \t\r\n") == nil)
        #expect(parseCode("[1]\u{0C}") == .invalidJSON)          // form feed
        #expect(parseCode("\u{A0}[1]") == .invalidJSON)          // NBSP
        #expect(parseCode("[1] x") == .invalidJSON)
        #expect(parseCode("[1][2]") == .invalidJSON)
        #expect(parseCode("") == .invalidJSON)
        #expect(parseCode(" ") == .invalidJSON)
    }

    @Test func unescapedControlCharacterInStringIsInvalidJSON() {
        #expect(parseCode("[\"a\u{01}\"]") == .invalidJSON)
        #expect(parseCode("[\"a\nb\"]") == .invalidJSON)
        #expect(parseCode(#"["a\nb"]"#) == nil)
        #expect(parseCode("[\"\u{7F}\"]") == nil)               // DEL is not a control for JSON
    }

    @Test func invalidEscapeIsInvalidJSON() {
        #expect(parseCode(#"["\a"]"#) == .invalidJSON)
        #expect(parseCode(#"["\u12"]"#) == .invalidJSON)
        #expect(parseCode(#"["\u12G4"]"#) == .invalidJSON)
        #expect(parseCode(#"["\u12aF"]"#) == nil)
    }

    @Test func byteOrderMarkIsInvalidEncoding() {
        #expect(parseCode(bytes: [0xEF, 0xBB, 0xBF, 0x31]) == .invalidEncoding)
        #expect(parseCode(bytes: [0x31]) == nil)
    }

    @Test func loneSurrogateEscapeIsInvalidEncoding() {
        #expect(parseCode(#"["\ud800"]"#) == .invalidEncoding)
        #expect(parseCode(#"["\udc00"]"#) == .invalidEncoding)
        #expect(parseCode(#"["\udc00\ud800"]"#) == .invalidEncoding)  // misordered
        #expect(parseCode(#"["\ud800\u0041"]"#) == .invalidEncoding)
        #expect(parseCode(#"["\ud800x"]"#) == .invalidEncoding)
        #expect(parseCode(#"["\ud800\udc00"]"#) == nil)
        #expect(parseJSON(#""\ud83d\ude00""#) == .success(.string("\u{1F600}")))
    }

    @Test func overlongUTF8IsInvalidEncoding() {
        #expect(parseCode(bytes: [0x22, 0xC0, 0xAF, 0x22]) == .invalidEncoding)      // "/" in 2 bytes
        #expect(parseCode(bytes: [0x22, 0xE0, 0x80, 0xAF, 0x22]) == .invalidEncoding)
        #expect(parseCode(bytes: [0x22, 0xF0, 0x80, 0x80, 0xAF, 0x22]) == .invalidEncoding)
        #expect(parseCode(bytes: [0x22, 0xC2, 0xA0, 0x22]) == nil)                   // shortest form of U+00A0
    }

    @Test func otherIllFormedUTF8IsInvalidEncoding() {
        let cases: [[UInt8]] = [
            [0x22, 0xED, 0xA0, 0x80, 0x22],        // UTF-8-encoded surrogate
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // U+110000
            [0x22, 0xE2, 0x82, 0x22],              // truncated
            [0x22, 0x80, 0x22],                    // stray continuation byte
            [0x22, 0xF8, 0x88, 0x80, 0x80, 0x80, 0x22],
            [0x22, 0xFF, 0x22],
            [0x22, 0xE2, 0x82],                    // truncated at end of input
            [0x20, 0xFF],                          // outside any string: still encoding first
        ]
        for bytes in cases {
            #expect(parseCode(bytes: bytes) == .invalidEncoding, "\(bytes)")
        }
        #expect(parseCode(bytes: [0x22, 0xF4, 0x8F, 0xBF, 0xBF, 0x22]) == nil)      // U+10FFFF
        #expect(parseCode(bytes: [0x22, 0xED, 0x9F, 0xBF, 0x22]) == nil)            // U+D7FF
    }

    @Test func encodingIsCheckedBeforeGrammar() {
        // A grammar error before an encoding error still reports the encoding error.
        #expect(parseCode(bytes: Array("[1,]".utf8) + [0xFF]) == .invalidEncoding)
    }

    @Test func duplicateKeyAfterUnescapingIsDuplicateKey() {
        #expect(parseCode(#"{"a":1,"\u0061":2}"#) == .duplicateKey)
        #expect(parseCode(#"{"a":1,"a":1}"#) == .duplicateKey)
        #expect(parseCode(#"{"a":{"b":1,"b":2}}"#) == .duplicateKey)
        #expect(parseCode(#"{"a":1,"b":{"a":2}}"#) == nil)   // same key at another level is fine
    }

    @Test func keysAreComparedExactlyNotByCanonicalEquivalence() {
        // "\u00e9" and "e\u0301" are canonically equivalent (Swift String == says equal),
        // but they are different keys. Same for U+212A KELVIN SIGN and "K".
        #expect(parseCode(#"{"\u00e9":1,"e\u0301":2}"#) == nil)
        #expect(parseCode(#"{"K":1,"\u212a":2}"#) == nil)
        #expect(parseJSON(#""\u00e9""#) != parseJSON(#""e\u0301""#))
    }

    @Test func depthNineIsInvalidJSON() {
        let eight = String(repeating: "[", count: 8) + String(repeating: "]", count: 8)
        let nine = String(repeating: "[", count: 9) + String(repeating: "]", count: 9)
        #expect(parseCode(eight) == nil)
        #expect(parseCode(nine) == .invalidJSON)
        let objects8 = String(repeating: #"{"a":"#, count: 8) + "1" + String(repeating: "}", count: 8)
        let objects9 = String(repeating: #"{"a":"#, count: 9) + "1" + String(repeating: "}", count: 9)
        #expect(parseCode(objects8) == nil)
        #expect(parseCode(objects9) == .invalidJSON)
    }

    @Test func hugeDepthIsRejectedWithoutRecursion() {
        let deep = [UInt8](repeating: UInt8(ascii: "["), count: 1_000_000)
        #expect(parseCode(bytes: deep) == .invalidJSON)
    }

    @Test func numberOverflowIsInvalidValue() {
        #expect(parseCode("1e400") == .invalidValue)
        #expect(parseCode("-1e400") == .invalidValue)
        #expect(parseCode("1.7976931348623157e308") == nil)
        #expect(parseCode("1.7976931348623159e308") == .invalidValue)  // rounds to infinity
    }

    @Test func numberUnderflowIsInvalidValue() {
        #expect(parseCode("1e-400") == .invalidValue)
        #expect(parseCode("-1e-400") == .invalidValue)
        #expect(parseCode("5e-324") == nil)                  // smallest subnormal is not zero
        #expect(parseCode("0e-400") == nil)                  // a zero mantissa is a real zero
        #expect(parseCode("0.000e99999999999999999999") == nil)
    }

    @Test func numbersKeepLexemeValueAndIntegerness() {
        guard case .success(.number(let n)) = parseJSON("1.50e3") else {
            Issue.record("not a number")
            return
        }
        #expect(n.lexeme == "1.50e3")
        #expect(n.value == 1500)
        #expect(!n.isInteger)
        guard case .success(.number(let m)) = parseJSON("-42") else {
            Issue.record("not a number")
            return
        }
        #expect(m.isInteger && m.value == -42 && m.lexeme == "-42")
    }

    @Test func valuesAndObjectOrderAreKept() {
        let r = parseJSON(#" {"b":[true,false,null],"a":"x\/y"} "#)
        guard case .success(.object(let members)) = r else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.key) == ["b", "a"])
        #expect(members[0].value == .array([.bool(true), .bool(false), .null]))
        #expect(members[1].value == .string("x/y"))
    }

    @Test func rejectionDetailsNeverEchoInput() {
        // The attacker controls keys and strings; details carry offsets and byte values only.
        let hostile = "{\"evil\u{7}\\n\":1,\"evil\u{7}\\n\":2}"
        guard case .failure(let r) = parseJSON(hostile) else {
            Issue.record("accepted")
            return
        }
        #expect(r.code == .invalidJSON) // raw BEL in a string
        #expect(!r.detail.contains("evil"))
        #expect(detailIsClean(r))
        guard case .failure(let d) = parseJSON(#"{"evil":1,"evil":2}"#) else {
            Issue.record("accepted")
            return
        }
        #expect(d == Rejection(.duplicateKey, "duplicate object key at offset 10"))
    }

    @Test func rejectionInitSanitizesDetails() {
        let r = Rejection(.invalidJSON, "a\nb\u{E9}" + String(repeating: "x", count: 300))
        #expect(detailIsClean(r))
        #expect(r.detail.hasPrefix("a?b?x"))
        #expect(r.detail.utf8.count == 200)
    }

    @Test func reasonCodesAreStable() {
        #expect(ReasonCode.allCases.map(\.rawValue) == [
            "file-too-large", "not-regular-file", "unreadable-file", "invalid-encoding", "invalid-json",
            "duplicate-key", "unknown-field", "missing-field", "invalid-value", "invalid-timestamp",
            "not-a-directory", "worker-crashed", "worker-sandbox-violation", "worker-timeout",
            "protocol-violation", "invalid-runner-name",
        ])
        #expect(ReasonCode.allCases.filter(\.isWorkerReportable).count == 10)
        let firstTen = ReasonCode.allCases.prefix(10).map { $0.isWorkerReportable }
        #expect(firstTen == Array(repeating: true, count: 10))
    }
}
