import Testing
@testable import MetricsDecoding

@Suite("Record schema rules")
struct RecordRuleTests {
    @Test func validPreJobDecodes() {
        #expect(value(preJobOutcome(validPreJobText)) == PreJobMetrics(
            workflow: "CI 0", repository: "org/repo0", event: "push", timestamp: 1_700_000_030, workflowRunID: "123"))
        #expect(value(preJobOutcome(preJobText())) != nil)
    }

    @Test func validPostJobDecodes() {
        #expect(value(postJobOutcome(validPostJobText)) ==
            PostJobMetrics(timestamp: 1_700_000_090, status: .abnormal, statusInfoCode: -1))
        #expect(value(postJobOutcome(#"{"timestamp":1.5,"status":"normal"}"#)) ==
            PostJobMetrics(timestamp: 1.5, status: .normal, statusInfoCode: nil))
        #expect(value(postJobOutcome(#"{"status":"repo-policy-check-failure","timestamp":0,"status_info":{"code":403}}"#)) ==
            PostJobMetrics(timestamp: 0, status: .repoPolicyCheckFailure, statusInfoCode: 403))
    }

    @Test func negativeZeroTimestampIsInvalidValue() {
        #expect(code(preJobOutcome(preJobText(replacing: "timestamp", with: "-0"))) == .invalidValue)
        #expect(code(preJobOutcome(preJobText(replacing: "timestamp", with: "-1"))) == .invalidValue)
        #expect(code(postJobOutcome(#"{"timestamp":-0.0,"status":"normal"}"#)) == .invalidValue)
        #expect(code(preJobOutcome(preJobText(replacing: "timestamp", with: "0"))) == nil)
        #expect(code(preJobOutcome(preJobText(replacing: "timestamp", with: "1.5e9"))) == nil)
    }

    @Test func timestampOfWrongTypeIsInvalidValue() {
        #expect(code(preJobOutcome(preJobText(replacing: "timestamp", with: #""1700000030""#))) == .invalidValue)
        #expect(code(preJobOutcome(preJobText(replacing: "timestamp", with: "null"))) == .invalidValue)
    }

    @Test func statusInfoCodeAboveInt32IsInvalidValue() {
        let text = { (c: String) in #"{"timestamp":1,"status":"abnormal","status_info":{"code":"# + c + "}}" }
        #expect(code(postJobOutcome(text("2147483648"))) == .invalidValue)
        #expect(code(postJobOutcome(text("-2147483649"))) == .invalidValue)
        #expect(value(postJobOutcome(text("2147483647")))?.statusInfoCode == Int32.max)
        #expect(value(postJobOutcome(text("-2147483648")))?.statusInfoCode == Int32.min)
    }

    @Test func statusInfoCodeWithFractionOrExponentIsInvalidValue() {
        let text = { (c: String) in #"{"timestamp":1,"status":"abnormal","status_info":{"code":"# + c + "}}" }
        #expect(code(postJobOutcome(text("1.0"))) == .invalidValue)
        #expect(code(postJobOutcome(text("1e0"))) == .invalidValue)
        #expect(code(postJobOutcome(text(#""1""#))) == .invalidValue)
        #expect(value(postJobOutcome(text("1")))?.statusInfoCode == 1)
    }

    @Test func statusInfoShapeRules() {
        let base = #"{"timestamp":1,"status":"abnormal","status_info":"#
        #expect(code(postJobOutcome(base + "null}")) == .invalidValue)
        #expect(code(postJobOutcome(base + "[1]}")) == .invalidValue)
        #expect(code(postJobOutcome(base + "{}}")) == .missingField)
        #expect(code(postJobOutcome(base + #"{"code":1,"x":2}}"#)) == .unknownField)
    }

    @Test func nulInRecordStringIsInvalidValue() {
        let r = preJobOutcome(preJobText(replacing: "workflow", with: #""CI\u00000""#))
        #expect(code(r) == .invalidValue)
        if case .failure(let e) = r { #expect(e == Rejection(.invalidValue, file: .preJob, "workflow: NUL at byte 2 of the value")) }
        // NUL is fine for the generic parser (y_string_null_escape), it is a record rule.
        #expect(parseCode(#"["\u0000"]"#) == nil)
        for field in ["repository", "event", "workflow_run_id"] {
            let v = field == "repository" ? #""a/\u0000""# : #""\u0000""#
            #expect(code(preJobOutcome(preJobText(replacing: field, with: v))) == .invalidValue, "\(field)")
        }
    }

    @Test func unknownFieldIsUnknownField() {
        let r = preJobOutcome(preJobText(adding: #""extra":1"#))
        #expect(code(r) == .unknownField)
        if case .failure(let e) = r {
            #expect(e == Rejection(.unknownField, file: .preJob, "pre-job: member 5 has an unknown key of 5 bytes"))
        }
        #expect(code(postJobOutcome(#"{"timestamp":1,"status":"normal","queue":1}"#)) == .unknownField)
        // A key canonically equivalent to a field name is still unknown (Swift's String ==
        // would say KELVIN SIGN U+212A equals "K"; our field matching must not).
        #expect(Schema.oneOf("\u{212A}", [("K", 1)]) == nil)
        #expect(Schema.oneOf("K", [("K", 1)]) == 1)
        let kelvin = JSONValue.object([(key: "\u{212A}", value: .null)])
        #expect(throws: Rejection(.unknownField, "t: member 0 has an unknown key of 3 bytes")) {
            try Schema.fields(of: kelvin, what: "t", names: ["K"], required: [false])
        }
    }

    @Test func missingFieldIsMissingField() {
        for field in PreJobMetrics.fieldNames {
            let r = preJobOutcome(preJobText(dropping: field))
            #expect(r == .failure(Rejection(.missingField, file: .preJob, field)), "\(field)")
        }
        #expect(code(postJobOutcome(#"{"timestamp":1}"#)) == .missingField)
        #expect(code(postJobOutcome(#"{"status":"normal"}"#)) == .missingField)
    }

    @Test func checkOrderIsUnknownThenMissingThenValue() {
        // One input with all three problems: the unknown key wins; without it, the missing field.
        #expect(code(preJobOutcome(#"{"workflow":1,"zzz":2}"#)) == .unknownField)
        #expect(code(preJobOutcome(#"{"workflow":1}"#)) == .missingField)
        #expect(code(preJobOutcome(preJobText(replacing: "workflow", with: "1"))) == .invalidValue)
    }

    @Test func builtValuesWithRepeatedFieldsAreDuplicateKey() {
        // The parser never yields repeated keys, but init(json:) is public: values built in
        // code get the same answer.
        let built = JSONValue.object([(key: "workflow", value: .string("a")), (key: "workflow", value: .string("b"))])
        #expect(throws: Rejection(.duplicateKey, "pre-job: workflow appears twice")) {
            try PreJobMetrics(json: built)
        }
    }

    @Test func jsonValueEqualityIsExactAndOrdered() {
        #expect(JSONValue.object([(key: "a", value: .null), (key: "b", value: .null)]) !=
            .object([(key: "b", value: .null), (key: "a", value: .null)]))
        #expect(JSONValue.object([(key: "a", value: .array([.bool(true)]))]) ==
            .object([(key: "a", value: .array([.bool(true)]))]))
        #expect(JSONValue.string("\u{212A}") != .string("K"))
        #expect(PreJobMetrics(workflow: "\u{E9}", repository: "a/b", event: "", timestamp: 0, workflowRunID: "") !=
            PreJobMetrics(workflow: "e\u{301}", repository: "a/b", event: "", timestamp: 0, workflowRunID: ""))
    }

    @Test func badStatusIsInvalidValue() {
        #expect(code(postJobOutcome(#"{"timestamp":1,"status":"Normal"}"#)) == .invalidValue)
        #expect(code(postJobOutcome(#"{"timestamp":1,"status":"normal "}"#)) == .invalidValue)
        #expect(code(postJobOutcome(#"{"timestamp":1,"status":1}"#)) == .invalidValue)
        #expect(code(postJobOutcome(#"{"timestamp":1,"status":"\u006eormal"}"#)) == nil)
    }

    @Test func repositoryWithoutSlashIsInvalidValue() {
        #expect(code(preJobOutcome(preJobText(replacing: "repository", with: #""orgrepo""#))) == .invalidValue)
        #expect(code(preJobOutcome(preJobText(replacing: "repository", with: #""/repo""#))) == .invalidValue)
        #expect(code(preJobOutcome(preJobText(replacing: "repository", with: #""org/""#))) == .invalidValue)
        #expect(code(preJobOutcome(preJobText(replacing: "repository", with: #""/""#))) == .invalidValue)
        #expect(code(preJobOutcome(preJobText(replacing: "repository", with: #""a\n/b""#))) == .invalidValue)
        #expect(code(preJobOutcome(preJobText(replacing: "repository", with: #""a/b\n""#))) == .invalidValue)
        #expect(code(preJobOutcome(preJobText(replacing: "repository", with: #""a/b/c""#))) == nil)
        #expect(code(preJobOutcome(preJobText(replacing: "repository", with: #""//""#))) == .invalidValue)
        #expect(code(preJobOutcome(preJobText(replacing: "repository", with: #""///""#))) == nil)
        #expect(code(preJobOutcome(preJobText(replacing: "repository", with: #""\u00e9/\u00e9""#))) == nil)
    }

    @Test func wrongTypesAreInvalidValue() {
        for field in ["workflow", "repository", "event", "workflow_run_id"] {
            #expect(code(preJobOutcome(preJobText(replacing: field, with: "123"))) == .invalidValue, "\(field)")
        }
        #expect(code(preJobOutcome("[]")) == .invalidValue)
        #expect(code(preJobOutcome(#""x""#)) == .invalidValue)
        #expect(code(preJobOutcome("null")) == .invalidValue)
        #expect(code(postJobOutcome("1")) == .invalidValue)
    }

    @Test func parserRulesApplyToRunnerFilesWithTheFileAttached() {
        #expect(preJobOutcome(#"{"a":1,"\u0061":2}"#) ==
            .failure(Rejection(.duplicateKey, file: .preJob, "duplicate object key at offset 7")))
        #expect(code(preJobOutcome(validPreJobText + ",")) == .invalidJSON)
        #expect(postJobOutcome("") == .failure(Rejection(.invalidJSON, file: .postJob,
                                                          "unexpected end of input at offset 0 where a value was expected")))
    }

    @Test func inputOverTheLimitIsFileTooLarge() {
        // 1024 bytes (padded with JSON whitespace) is fine; 1025 is refused before parsing.
        let base = Array(validPreJobText.utf8)
        let at1024 = base + [UInt8](repeating: 0x20, count: 1024 - base.count)
        let at1025 = at1024 + [0x20]
        #expect(value(outcome(at1024) { (b) throws(Rejection) in try RunnerFileDecoder.decodePreJob(b) }) != nil)
        #expect(rejection(at1025) { (b) throws(Rejection) in try RunnerFileDecoder.decodePreJob(b) } ==
            Rejection(.fileTooLarge, file: .preJob, "1025 bytes, limit 1024"))
        #expect(rejection(at1025) { (b) throws(Rejection) in try RunnerFileDecoder.decodePostJob(b) }?.code == .fileTooLarge)
        let ts1025 = [UInt8](repeating: UInt8(ascii: "1"), count: 1025)
        #expect(code(timestampOutcome(ts1025)) == .fileTooLarge)
    }

    @Test func decodeRecordAttributesTheFirstFailingFile() {
        let ok = Array("1700000000".utf8)
        let bad = Array("+1".utf8)
        let pre = Array(validPreJobText.utf8)
        let post = Array(validPostJobText.utf8)
        func run(_ a: [UInt8]?, _ b: [UInt8]?, _ c: [UInt8]?, _ d: [UInt8]?) -> Result<RunnerRecord, Rejection> {
            func opt(_ x: [UInt8]?, _ f: (UnsafeRawBufferPointer?) -> Result<RunnerRecord, Rejection>)
                -> Result<RunnerRecord, Rejection> {
                guard let x else { return f(nil) }
                return x.withUnsafeBytes { f($0) }
            }
            return opt(a) { pa in opt(b) { pb in opt(c) { pc in opt(d) { pd in
                do throws(Rejection) {
                    return .success(try RunnerFileDecoder.decodeRecord(
                        installationStart: pa, installed: pb, preJob: pc, postJob: pd))
                } catch { return .failure(error) }
            } } } }
        }
        #expect(run(nil, nil, nil, nil) == .success(RunnerRecord()))
        #expect(run(ok, ok, pre, post) == .success(RunnerRecord(
            installationStart: 1_700_000_000, installed: 1_700_000_000,
            preJob: PreJobMetrics(workflow: "CI 0", repository: "org/repo0", event: "push",
                                  timestamp: 1_700_000_030, workflowRunID: "123"),
            postJob: PostJobMetrics(timestamp: 1_700_000_090, status: .abnormal, statusInfoCode: -1))))
        #expect(code(run(bad, ok, pre, post)) == .invalidTimestamp)
        if case .failure(let e) = run(bad, ok, pre, post) { #expect(e.file == .installationStart) }
        if case .failure(let e) = run(ok, bad, pre, post) { #expect(e.file == .installed) }
        if case .failure(let e) = run(ok, ok, Array("{}".utf8), post) { #expect(e.file == .preJob) }
        if case .failure(let e) = run(ok, ok, pre, Array("{}".utf8)) { #expect(e.file == .postJob) }
        #expect(run(ok, bad, Array("{}".utf8), nil) ==
            .failure(Rejection(.invalidTimestamp, file: .installed, "expected a digit: byte 0x2b at offset 0")))
    }
}
