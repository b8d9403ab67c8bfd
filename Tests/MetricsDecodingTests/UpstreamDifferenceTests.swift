import Testing
@testable import MetricsDecoding

/// One test per decoding-level row of the table of deliberate differences from upstream
/// (Security/DECODING.md, "Deliberate differences from upstream"): this tool's exact outcome,
/// reason code, file and detail for the input the row names.
@Suite("Deliberate differences from upstream")
struct UpstreamDifferenceTests {
    typealias U = UpstreamShapes

    /// The honest runner with one file replaced.
    func replacing(_ file: RunnerFile, with text: String) -> Result<RunnerRecord, Rejection> {
        var files = U.files
        files[file] = text
        return decodeRunner(text: files)
    }

    /// A one-line pre-job file; each argument is a member's JSON value as written.
    func preJob(workflow: String = #""CI""#, repository: String = #""octo/app""#, timestamp: String = "1700000030",
                extra: String = "") -> String {
        #"{"workflow": \#(workflow), "repository": \#(repository), "event": "push", "timestamp": \#(timestamp), "workflow_run_id": "42""#
            + extra + "}"
    }

    @Test("timestamp files: whitespace, exponents and other spellings Python's float() accepts")
    func timestampSpellings() {
        let cases: [(String, String)] = [
            (" 1700000000", "expected a digit: byte 0x20 at offset 0"),
            ("1700000000 \n", "unexpected byte: byte 0x20 at offset 10"),
            ("1700000000\r\n", "unexpected byte: byte 0x0d at offset 10"),
            ("1700000000\n\n", "unexpected byte: byte 0x0a at offset 10"),
            ("1.7e9", "unexpected byte: byte 0x65 at offset 3"),
            ("01700000000", "leading zero: byte 0x30 at offset 0"),
            ("1_700_000_000", "unexpected byte: byte 0x5f at offset 1"),
            ("inf", "expected a digit: byte 0x69 at offset 0"),
            ("-0.0", "expected a digit: byte 0x2d at offset 0"),
        ]
        for file in [RunnerFile.installationStart, .installed] {
            for (text, detail) in cases {
                #expect(replacing(file, with: text) == .failure(Rejection(.invalidTimestamp, file: file, detail)),
                        "\(text.debugDescription)")
            }
        }
    }

    @Test("invalid UTF-8 in a metric file: a rejection of this runner, not an exception for the run")
    func invalidUTF8InAMetricFile() {
        var files = U.files.mapValues { Array($0.utf8) }
        files[.installed] = [0x31, 0x37, 0xFF, 0x0A]
        #expect(decodeRunner(files) == .failure(Rejection(.invalidTimestamp, file: .installed, "unexpected byte: byte 0xff at offset 2")))
        files[.installed] = [0xC3, 0xA9]
        #expect(decodeRunner(files) == .failure(Rejection(.invalidTimestamp, file: .installed, "expected a digit: byte 0xc3 at offset 0")))
        files = U.files.mapValues { Array($0.utf8) }
        files[.preJob] = Array(#"{"workflow": "C"#.utf8) + [0xFF] + Array(#"I", "repository": "octo/app", "event": "push", "timestamp": 1700000030, "workflow_run_id": "42"}"#.utf8)
        #expect(decodeRunner(files) == .failure(Rejection(.invalidEncoding, file: .preJob, "byte never valid in UTF-8: byte 0xff at offset 15")))
    }

    @Test("an empty object as a job file (upstream: a falsy dict, the file taken as absent)")
    func emptyObject() {
        #expect(replacing(.preJob, with: "{}\n") == .failure(Rejection(.missingField, file: .preJob, "workflow")))
        #expect(replacing(.postJob, with: "{}") == .failure(Rejection(.missingField, file: .postJob, "timestamp")))
    }

    @Test func unknownKeys() {
        #expect(replacing(.preJob, with: preJob(extra: #", "runner": "x""#))
                == .failure(Rejection(.unknownField, file: .preJob, "pre-job: member 5 has an unknown key of 6 bytes")))
        #expect(replacing(.postJob, with: #"{"timestamp": 1700000330, "status": "normal", "exit": 0}"#)
                == .failure(Rejection(.unknownField, file: .postJob, "post-job: member 2 has an unknown key of 4 bytes")))
    }

    @Test("type coercions pydantic v1 makes: numbers as strings, booleans, 1.0 as an exit code, a number as a string field")
    func typeCoercions() {
        #expect(replacing(.preJob, with: preJob(timestamp: #""1700000030""#))
                == .failure(Rejection(.invalidValue, file: .preJob, "timestamp: expected a number, got a string")))
        #expect(replacing(.postJob, with: #"{"timestamp": true, "status": "normal"}"#)
                == .failure(Rejection(.invalidValue, file: .postJob, "timestamp: expected a number, got a boolean")))
        for spelling in ["1.0", "1.5", "1e0"] {
            #expect(replacing(.postJob, with: #"{"timestamp": 1700000330, "status": "abnormal", "status_info": {"code": \#(spelling)}}"#)
                    == .failure(Rejection(.invalidValue, file: .postJob, "status_info.code: not an integer lexeme")), "\(spelling)")
        }
        #expect(replacing(.preJob, with: preJob(workflow: "5"))
                == .failure(Rejection(.invalidValue, file: .preJob, "workflow: expected a string, got a number")))
    }

    @Test func codesOutsideInt32() {
        for n in ["2147483648", "-2147483649", "4294967296"] {
            #expect(code(replacing(.postJob, with: #"{"timestamp": 1700000330, "status": "abnormal", "status_info": {"code": \#(n)}}"#))
                    == .invalidValue, "\(n)")
        }
        // The edges of Int32 are accepted.
        #expect(value(replacing(.postJob, with: #"{"timestamp": 1700000330, "status": "abnormal", "status_info": {"code": -2147483648}}"#))?
                .postJob?.statusInfoCode == Int32.min)
    }

    @Test func statusInfoNull() {
        #expect(replacing(.postJob, with: #"{"timestamp": 1700000330, "status": "normal", "status_info": null}"#)
                == .failure(Rejection(.invalidValue, file: .postJob, "status_info: expected an object, got null")))
    }

    @Test func missingRepository() {
        #expect(replacing(.preJob, with: #"{"workflow": "CI", "event": "push", "timestamp": 1700000030, "workflow_run_id": "42"}"#)
                == .failure(Rejection(.missingField, file: .preJob, "repository")))
    }

    @Test func duplicateKeys() {
        #expect(code(replacing(.preJob, with: preJob(extra: #", "timestamp": 1"#))) == .duplicateKey)
        #expect(code(replacing(.postJob, with: #"{"timestamp": 1700000330, "status": "abnormal", "status": "normal"}"#)) == .duplicateKey)
    }

    @Test("Infinity, NaN, 1e400 and numbers that underflow to zero")
    func nonFiniteNumbers() {
        #expect(code(replacing(.postJob, with: #"{"timestamp": Infinity, "status": "normal"}"#)) == .invalidJSON)
        #expect(code(replacing(.postJob, with: #"{"timestamp": NaN, "status": "normal"}"#)) == .invalidJSON)
        #expect(code(replacing(.postJob, with: #"{"timestamp": 1e400, "status": "normal"}"#)) == .invalidValue)
        #expect(code(replacing(.postJob, with: #"{"timestamp": 1e-400, "status": "normal"}"#)) == .invalidValue)
        #expect(code(replacing(.installed, with: "1" + String(repeating: "0", count: 400))) == .invalidTimestamp)
    }

    @Test func negativeZero() {
        #expect(replacing(.postJob, with: #"{"timestamp": -0.0, "status": "normal"}"#)
                == .failure(Rejection(.invalidValue, file: .postJob, "timestamp: negative timestamp")))
    }

    @Test("a repository with a final newline (Python's $ matches before it)")
    func repositoryWithFinalNewline() {
        #expect(replacing(.preJob, with: preJob(repository: #""a/b\n""#))
                == .failure(Rejection(.invalidValue, file: .preJob, "repository: does not match ^.+/.+$")))
    }

    @Test func loneSurrogates() {
        #expect(code(replacing(.preJob, with: preJob(workflow: #""\ud800""#))) == .invalidEncoding)
    }

    @Test func nulInAString() {
        #expect(code(replacing(.preJob, with: preJob(workflow: #""C\u0000I""#))) == .invalidValue)
    }

    @Test("an installation start of 0 is a timestamp (upstream treats 0.0 as missing)")
    func installationStartOfZero() throws {
        let record = try decodeRunner(text: [.installationStart: "0", .installed: "1700000000\n"]).get()
        #expect(String(decoding: eventBytes(record), as: UTF8.self) ==
            #"{"timestamp": 1700000000.0, "event": "runner_installed", "flavor": "small", "duration": 1700000000.0}"# + "\n")
    }

    @Test("every present file is validated, also where upstream stops reading early")
    func corruptFileUpstreamNeverReads() {
        // No installed timestamp: upstream returns before reading the job files and deletes.
        #expect(code(decodeRunner(text: [.preJob: "not json", .postJob: U.postJob])) == .invalidJSON)
        // No pre-job file: upstream never reads the post-job file.
        #expect(code(decodeRunner(text: [.installed: U.installed, .postJob: "[]"])) == .invalidValue)
    }
}
