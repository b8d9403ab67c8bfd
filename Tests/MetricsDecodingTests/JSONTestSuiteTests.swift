import Foundation
import Testing
@testable import MetricsDecoding

/// The public conformance suite, vendored beside this file (JSONTestSuite/test_parsing, with its
/// licence) and excluded from the target, so a clone on its own has it. Read by path rather than
/// as a bundle resource: no Bundle.module lookup, and the bytes are the committed files exactly.
/// A missing or partial folder FAILS the tests.
enum JSONTestSuite {
    static var folder: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("JSONTestSuite/test_parsing")
    }

    static func files(prefix: String) throws -> [(name: String, bytes: [UInt8])] {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".json") }
            .sorted()
        return try names.map { name in
            (name, [UInt8](try Data(contentsOf: folder.appendingPathComponent(name))))
        }
    }

    /// Every i_ ("implementation defined") file and our decision: nil = accepted, else the code.
    /// Kept in sync with Security/DECODING.md.
    static let implementationDefined: [String: ReasonCode?] = [
        // Numbers: finite non-zero results are accepted (rounded); overflow/underflow refused.
        "i_number_double_huge_neg_exp.json": .invalidValue,        // 123.456e-789 underflows to 0
        "i_number_huge_exp.json": .invalidValue,                   // 0.4e00669999... overflows
        "i_number_neg_int_huge_exp.json": .invalidValue,           // -1e+9999 overflows
        "i_number_pos_double_huge_exp.json": .invalidValue,        // 1.5e+9999 overflows
        "i_number_real_neg_overflow.json": .invalidValue,          // -123123e100000
        "i_number_real_pos_overflow.json": .invalidValue,          // 123123e100000
        "i_number_real_underflow.json": .invalidValue,             // 123e-10000000 underflows
        "i_number_too_big_neg_int.json": nil,                      // -123123123123123123123123123123 ~ -1.2312312312312312e29
        "i_number_too_big_pos_int.json": nil,                      // 100000000000000000000 = 1e20
        "i_number_very_big_negative_int.json": nil,                // -2.3746...e45, rounded
        // Surrogate escapes that do not form a pair: no Unicode scalar reading.
        "i_object_key_lone_2nd_surrogate.json": .invalidEncoding,
        "i_string_1st_surrogate_but_2nd_missing.json": .invalidEncoding,
        "i_string_1st_valid_surrogate_2nd_invalid.json": .invalidEncoding,
        "i_string_incomplete_surrogate_and_escape_valid.json": .invalidEncoding,
        "i_string_incomplete_surrogate_pair.json": .invalidEncoding,
        "i_string_incomplete_surrogates_escape_valid.json": .invalidEncoding,
        "i_string_invalid_lonely_surrogate.json": .invalidEncoding,
        "i_string_invalid_surrogate.json": .invalidEncoding,
        "i_string_inverted_surrogates_U+1D11E.json": .invalidEncoding,
        "i_string_lone_second_surrogate.json": .invalidEncoding,
        // Ill-formed UTF-8 bytes and other encodings.
        "i_string_UTF-16LE_with_BOM.json": .invalidEncoding,       // 0xFF 0xFE is not UTF-8
        "i_string_UTF-8_invalid_sequence.json": .invalidEncoding,
        "i_string_UTF8_surrogate_U+D800.json": .invalidEncoding,   // ED A0 80
        "i_string_invalid_utf-8.json": .invalidEncoding,
        "i_string_iso_latin_1.json": .invalidEncoding,
        "i_string_lone_utf8_continuation_byte.json": .invalidEncoding,
        "i_string_not_in_unicode_range.json": .invalidEncoding,    // F4 BF BF BF > U+10FFFF
        "i_string_overlong_sequence_2_bytes.json": .invalidEncoding,
        "i_string_overlong_sequence_6_bytes.json": .invalidEncoding,
        "i_string_overlong_sequence_6_bytes_null.json": .invalidEncoding,
        "i_string_truncated-utf-8.json": .invalidEncoding,
        "i_string_utf16BE_no_BOM.json": .invalidEncoding,          // 0xE9 then 0x00: not UTF-8 (checked before grammar)
        "i_string_utf16LE_no_BOM.json": .invalidEncoding,          // same byte pair, other order
        "i_structure_UTF-8_BOM_empty_object.json": .invalidEncoding, // BOM refused
        // Depth.
        "i_structure_500_nested_arrays.json": .invalidJSON,        // deeper than 8
    ]
}

@Suite("JSONTestSuite conformance")
struct JSONTestSuiteTests {
    @Test("the suite folder is present and complete")
    func folderIsComplete() throws {
        #expect(try JSONTestSuite.files(prefix: "y_").count == 95)
        #expect(try JSONTestSuite.files(prefix: "n_").count == 188)
        #expect(try JSONTestSuite.files(prefix: "i_").count == 35)
    }

    @Test("all y_ files accepted, except the two duplicate-key files (duplicate-key by design)")
    func acceptsEveryYes() throws {
        let files = try JSONTestSuite.files(prefix: "y_")
        try #require(files.count == 95)
        let duplicateKeyFiles: Set = ["y_object_duplicated_key.json", "y_object_duplicated_key_and_value.json"]
        var accepted = 0
        for file in files {
            let result = parseJSON(bytes: file.bytes)
            if duplicateKeyFiles.contains(file.name) {
                #expect(code(result) == .duplicateKey, "\(file.name)")
            } else {
                #expect(code(result) == nil, "\(file.name): \(String(describing: result))")
                if code(result) == nil { accepted += 1 }
            }
        }
        #expect(accepted == 93)
    }

    @Test("all n_ files rejected, with clean details")
    func rejectsEveryNo() throws {
        let files = try JSONTestSuite.files(prefix: "n_")
        try #require(files.count == 188)
        for file in files {
            switch parseJSON(bytes: file.bytes) {
            case .success(let v):
                Issue.record("\(file.name) accepted as \(v)")
            case .failure(let r):
                #expect(r.file == nil)
                #expect(detailIsClean(r), "\(file.name): \(r.detail)")
                // Grammar, encoding or number range: never a schema code at this level.
                #expect([.invalidJSON, .invalidEncoding, .invalidValue].contains(r.code), "\(file.name): \(r.code)")
            }
        }
    }

    @Test("each i_ file keeps its pinned decision")
    func implementationDefinedDecisions() throws {
        let files = try JSONTestSuite.files(prefix: "i_")
        try #require(files.count == 35)
        #expect(Set(files.map(\.name)) == Set(JSONTestSuite.implementationDefined.keys))
        for file in files {
            guard let expected = JSONTestSuite.implementationDefined[file.name] else {
                Issue.record("no decision for \(file.name)")
                continue
            }
            #expect(parseCode(bytes: file.bytes) == expected, "\(file.name)")
        }
    }

    @Test("accepted big integers are the correctly rounded Doubles")
    func bigIntegersRound() {
        guard case .success(.array(let big)) = parseJSON("[100000000000000000000]"),
              case .number(let b) = big.first else {
            Issue.record("1e20 as an integer lexeme not accepted")
            return
        }
        #expect(b.value == 1e20)
        guard case .success(.array(let a)) = parseJSON("[-123123123123123123123123123123]"),
              case .number(let n) = a.first else {
            Issue.record("not accepted")
            return
        }
        #expect(n.value == -1.2312312312312312e29)
        #expect(n.lexeme == "-123123123123123123123123123123")
        #expect(n.isInteger)
    }

    @Test("the 100 000-deep n_ file fails at depth 9, quickly and without deep recursion")
    func deepNestingFailsFast() throws {
        let files = try JSONTestSuite.files(prefix: "n_structure_100000_opening_arrays")
        try #require(files.count == 1)
        let r = parseJSON(bytes: files[0].bytes)
        #expect(code(r) == .invalidJSON)
        if case .failure(let e) = r { #expect(e.detail == "nesting deeper than 8 at offset 8") }
    }
}
