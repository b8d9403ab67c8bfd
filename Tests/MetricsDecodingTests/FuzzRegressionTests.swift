import Testing
@testable import MetricsDecoding

/// Inputs from the fuzz campaigns (Security/fuzz/README.md) with their exact outcomes.
/// Every decoder finding that gets fixed is added here with its reproducer. The campaigns so
/// far found no decoder bug; these pin hostile inputs the targets ran and the inputs behind
/// the differential target's accepted disagreements with Foundation (where the decoder's
/// reading is the one we want, and must stay).
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.utf8.makeIterator()
        while let hi = it.next(), let lo = it.next() {
            out.append(UInt8(String(decoding: [hi, lo], as: UTF8.self), radix: 16)!)
        }
        return out
    }

    func frameOutcome(_ frame: [UInt8]) -> Result<WorkerVerdict, Rejection> {
        outcome(frame) { (b) throws(Rejection) in try Frame.decode(b) }
    }

    // MARK: - Strict parser

    @Test("a 100 000-deep array is invalid-json at depth 9, not a stack overflow")
    func deepArray() {
        let r = parseJSON(bytes: [UInt8](repeating: UInt8(ascii: "["), count: 100_000))
        #expect(r == .failure(Rejection(.invalidJSON, "nesting deeper than 8 at offset 8")))
        let objects = String(repeating: #"{"a":"#, count: 100_000)
        #expect(code(parseJSON(objects)) == .invalidJSON)
        #expect(code(parseJSON(String(repeating: "[", count: 8) + String(repeating: "]", count: 8))) == nil)
    }

    @Test("UTF-16LE without BOM: Foundation decodes it, we read UTF-8 and refuse the NUL (hex 5b002200610022005d00)")
    func utf16WithoutBOM() {
        let r = parseJSON(bytes: Self.bytes(hex: "5b002200610022005d00"))
        #expect(r == .failure(Rejection(.invalidJSON, "unexpected byte 0x00 at offset 1 where a value was expected")))
        #expect(code(parseJSON(bytes: Self.bytes(hex: "00000022"))) == .invalidJSON)
        // With a UTF-16 BOM the bytes are not UTF-8 at all.
        #expect(code(parseJSON(bytes: Self.bytes(hex: "fffe5b005d00"))) == .invalidEncoding)
    }

    @Test("a raw U+FEFF inside a string is kept (Foundation drops it): 5b22efbbbf20225d")
    func feffInsideStringIsKept() {
        #expect(parseJSON(bytes: Self.bytes(hex: "5b22efbbbf20225d")) == .success(.array([.string("\u{FEFF} ")])))
        // After an escape, where Foundation also drops it.
        #expect(parseJSON(bytes: Self.bytes(hex: "5b225c74efbbbf225d")) == .success(.array([.string("\t\u{FEFF}")])))
        // As a key.
        #expect(parseJSON(bytes: Self.bytes(hex: "7b22efbbbf61223a317d")) ==
                .success(.object([(key: "\u{FEFF}a", value: .number(JSONNumber(lexeme: "1", value: 1, isInteger: true)))])))
        // Two distinct keys for us; Foundation drops the U+FEFF and then merges the
        // canonically equivalent "e\u0301" and "\u00e9" into one member (campaign 1 input).
        guard case .success(.object(let m)) = parseJSON(bytes: Self.bytes(hex:
            "7b22efbbbf655c7530333031223a312c225c7530306539223a327d")) else {
            Issue.record("not accepted")
            return
        }
        #expect(m.count == 2)
        #expect(m.map { Array($0.key.unicodeScalars) } == [["\u{FEFF}", "e", "\u{0301}"], ["\u{00E9}"]])
        // At offset 0 it is a BOM, refused.
        #expect(code(parseJSON(bytes: Self.bytes(hex: "efbbbf5b5d"))) == .invalidEncoding)
    }

    @Test("long numbers are correctly rounded Doubles (Foundation's 38-digit Decimal is not)")
    func longNumbersRoundCorrectly() {
        guard case .success(.array(let a)) = parseJSON("[-237462374673276894279832749832423479823246327846]"),
              case .number(let n)? = a.first else {
            Issue.record("not accepted")
            return
        }
        #expect(n.value == -2.374623746732769e+47)
        #expect(n.isInteger)
        let tiny = "[-0." + String(repeating: "0", count: 77) + "1]"
        guard case .success(.array(let b)) = parseJSON(tiny), case .number(let m)? = b.first else {
            Issue.record("not accepted")
            return
        }
        #expect(m.value == -1e-78)
    }

    @Test("duplicate and canonically equivalent keys")
    func keys() {
        #expect(code(parseJSON(#"{"a":1,"\u0061":2}"#)) == .duplicateKey)
        // KELVIN SIGN and K are canonically equivalent but different bytes: two keys for us,
        // one for a String-keyed dictionary (Foundation).
        #expect(code(parseJSON(#"{"\u212a":1,"K":2}"#)) == nil)
        #expect(code(parseJSON(#"{"e\u0301":1,"\u00e9":2}"#)) == nil)
    }

    @Test("surrogates, overflow, underflow and trailing commas keep their codes")
    func hostileScalars() {
        #expect(code(parseJSON(#"["\ud800"]"#)) == .invalidEncoding)
        #expect(code(parseJSON(#"["\udc00"]"#)) == .invalidEncoding)
        #expect(code(parseJSON(#"["\ud83d\u0041"]"#)) == .invalidEncoding)
        #expect(code(parseJSON(bytes: Self.bytes(hex: "5b22eda080225d"))) == .invalidEncoding) // UTF-8 surrogate
        #expect(code(parseJSON(bytes: Self.bytes(hex: "5b22c0af225d"))) == .invalidEncoding)   // overlong "/"
        #expect(code(parseJSON("[1e400]")) == .invalidValue)
        #expect(code(parseJSON("[1e-400]")) == .invalidValue)
        #expect(code(parseJSON("[0e400]")) == nil)
        #expect(code(parseJSON("[2.4703282292062328e-324]")) == nil)  // rounds up to 5e-324
        #expect(code(parseJSON("[2.4703282292062327e-324]")) == .invalidValue) // rounds to 0
        #expect(code(parseJSON("[1.7976931348623158e308]")) == nil)   // rounds to max
        #expect(code(parseJSON("[1.7976931348623159e308]")) == .invalidValue)
        #expect(parseJSON("[1,]") == .failure(Rejection(.invalidJSON, "trailing comma before offset 3")))
    }

    // MARK: - Runner files

    @Test("timestamp files: CRLF, two LFs, NUL and oversize")
    func timestamps() {
        #expect(code(timestampOutcome(Array("1700000000\r\n".utf8))) == .invalidTimestamp)
        #expect(code(timestampOutcome(Array("1700000000\n\n".utf8))) == .invalidTimestamp)
        #expect(code(timestampOutcome(Array("1700000000".utf8) + [0])) == .invalidTimestamp)
        #expect(code(timestampOutcome(Array("0.".utf8) + [UInt8](repeating: 0x30, count: 400) + [0x31])) == .invalidTimestamp)
        #expect(code(timestampOutcome([UInt8](repeating: 0x31, count: 1025))) == .fileTooLarge)
        #expect(value(timestampOutcome(Array("1696427232.2253454\n".utf8))) == 1696427232.2253454)
    }

    @Test("pre-job and post-job edge values")
    func runnerFiles() {
        let big = #"{"workflow":""# + String(repeating: "A", count: 1000) +
            #"","repository":"o/r","event":"push","timestamp":1,"workflow_run_id":"1"}"#
        #expect(code(preJobOutcome(big)) == .fileTooLarge)
        #expect(code(preJobOutcome(preJobText(replacing: "repository", with: #""/repo""#))) == .invalidValue)
        #expect(code(preJobOutcome(preJobText(replacing: "repository", with: #""org/""#))) == .invalidValue)
        #expect(code(preJobOutcome(preJobText(replacing: "repository", with: #""o/r\n""#))) == .invalidValue)
        #expect(code(postJobOutcome(#"{"timestamp":5e-324,"status":"normal"}"#)) == nil)
        #expect(code(postJobOutcome(#"{"timestamp":1,"status":"normal",}"#)) == .invalidJSON)
        #expect(code(postJobOutcome(#"{"timestamp":1,"status":"abnormal","status_info":{"code":-2147483649}}"#)) == .invalidValue)
    }

    // MARK: - Frame

    @Test("frame round trips of edge records: subnormal, 1e+20, every status, Int32 edges")
    func frameRoundTrips() {
        let pre = PreJobMetrics(workflow: "\u{FEFF}w\"\\\u{1}", repository: "o/r", event: "\u{2028}",
                                timestamp: 5e-324, workflowRunID: "")
        for status in JobStatus.allCases {
            for code in [nil, Int32.min, Int32.max, 0] as [Int32?] {
                let record = RunnerRecord(installationStart: 0, installed: 1e20, preJob: pre,
                                          postJob: PostJobMetrics(timestamp: .greatestFiniteMagnitude, status: status,
                                                                  statusInfoCode: code))
                #expect(frameOutcome(Frame.encode(.valid(record))) == .success(.valid(record)))
            }
        }
        let rejected = Rejection(.invalidJSON, file: .postJob, "")
        #expect(frameOutcome(Frame.encode(.rejected(rejected))) == .success(.rejected(rejected)))
    }

    @Test("frames of the previous JSON protocol (RMF1) are protocol violations")
    func jsonFrames() {
        for payload in [#"{"verdict":"valid","installed":1700000010.0}"#,
                        #"{"verdict":"valid","installed":-0.0}"#,
                        #"{"verdict":"rejected","reason":"worker-timeout","detail":"x"}"#,
                        #"{"verdict":"rejected","reason":"invalid-json","detail":"\u0001"}"#] {
            let p = Array(payload.utf8)
            #expect(frameOutcome(Array("RMF1".utf8) + be32(UInt32(p.count)) + p) ==
                    .failure(Rejection(.protocolViolation, "frame: bad magic")), "\(payload)")
            #expect(frameOutcome(frame(payload: p)) ==
                    .failure(Rejection(.protocolViolation, "frame: verdict: unknown tag 0x7b")), "\(payload)")
        }
        #expect(frameOutcome(Array("RMF1".utf8) + [0xFF, 0xFF, 0xFF, 0xFF]) ==
                .failure(Rejection(.protocolViolation, "frame: bad magic")))
        #expect(frameOutcome(Array("RMF2".utf8) + [0xFF, 0xFF, 0xFF, 0xFF]) ==
                .failure(Rejection(.protocolViolation, "frame: header says 4294967295 payload bytes, frame has 0")))
        // What the probe worker's "malformed-frame" mode writes.
        #expect(frameOutcome(Array("RMF1garbage".utf8)) == .failure(Rejection(.protocolViolation, "frame: bad magic")))
        // And its "invalid-record" mode: a well-formed frame whose record fails re-validation.
        let noSlash = PreJobMetrics(workflow: "CI", repository: "no-slash", event: "push", timestamp: 1, workflowRunID: "1")
        #expect(frameOutcome(Frame.encode(.valid(RunnerRecord(installed: 0, preJob: noSlash)))) ==
                .failure(Rejection(.protocolViolation, "frame: pre_job: invalid-value repository: does not match ^.+/.+$")))
        #expect(frameOutcome(frame(payload: fromHex("01 02 4415af1d78b58c40"))) ==
                .success(.valid(RunnerRecord(installed: 1e20))))
    }
}
