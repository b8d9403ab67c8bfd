import Testing
@testable import MetricsDecoding

func decodeFrame(_ bytes: [UInt8]) -> Result<WorkerVerdict, Rejection> {
    outcome(bytes) { (b) throws(Rejection) in try Frame.decode(b) }
}

/// A frame with a correct header around an arbitrary payload.
func frame(payload: String) -> [UInt8] { frame(payload: Array(payload.utf8)) }
func frame(payload: [UInt8]) -> [UInt8] {
    let n = UInt32(payload.count)
    return Array("RMF1".utf8) + [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + payload
}

func violation(_ r: Result<WorkerVerdict, Rejection>) -> String? {
    if case .failure(let e) = r, e.code == .protocolViolation, e.file == nil, detailIsClean(e) { return e.detail }
    return nil
}

let sampleRecord = RunnerRecord(
    installationStart: 1_699_999_990.25, installed: 1_700_000_000,
    preJob: PreJobMetrics(workflow: "CI \"0\"\n\u{E9}\u{1F600}", repository: "org/repo0", event: "push",
                          timestamp: 1_700_000_030, workflowRunID: "123"),
    postJob: PostJobMetrics(timestamp: 1_700_000_090, status: .abnormal, statusInfoCode: -1))

@Suite("Worker frame")
struct FrameTests {
    @Test func encodingIsPinned() {
        let bytes = Frame.encode(.valid(sampleRecord))
        let payload = #"{"verdict":"valid","installation_start":1699999990.25,"installed":1700000000.0,"pre_job":{"workflow":"CI \"0\"\n\#u{E9}\#u{1F600}","repository":"org/repo0","event":"push","timestamp":1700000030.0,"workflow_run_id":"123"},"post_job":{"timestamp":1700000090.0,"status":"abnormal","status_info":{"code":-1}}}"#
        #expect(bytes == frame(payload: payload))
        #expect(Frame.encode(.rejected(Rejection(.invalidJSON, file: .preJob, "byte 0x7b at offset 12"))) ==
            frame(payload: #"{"verdict":"rejected","reason":"invalid-json","file":"pre-job-metrics.json","detail":"byte 0x7b at offset 12"}"#))
        #expect(Frame.encode(.valid(RunnerRecord())) == frame(payload: #"{"verdict":"valid"}"#))
    }

    @Test("encode -> decode is identity for random records")
    func randomRecordsRoundTrip() {
        var g = Gen(seed: 0x5EED_0010)
        for _ in 0..<2000 {
            let record = g.record()
            let bytes = Frame.encode(.valid(record))
            #expect(bytes.count <= Frame.maxSize)
            guard case .success(.valid(let back)) = decodeFrame(bytes) else {
                Issue.record("rejected: \(decodeFrame(bytes)) for \(record)")
                continue
            }
            #expect(bitIdentical(back, record))
        }
    }

    @Test("encode -> decode is identity for every rejection the worker may send")
    func rejectionsRoundTrip() {
        let details = ["", "byte 0x7b at offset 12", String(repeating: "x", count: 200), "~ !\"\\/"]
        for code in ReasonCode.allCases where code.isWorkerReportable {
            for file in [nil] + RunnerFile.allCases.map(Optional.some) {
                for detail in details {
                    let r = Rejection(code, file: file, detail)
                    #expect(decodeFrame(Frame.encode(.rejected(r))) == .success(.rejected(r)))
                }
            }
        }
    }

    @Test("every truncation is a protocol violation")
    func truncations() {
        for verdict in [WorkerVerdict.valid(sampleRecord), .rejected(Rejection(.unknownField, file: .postJob, "x"))] {
            let bytes = Frame.encode(verdict)
            for n in 0..<bytes.count {
                #expect(violation(decodeFrame(Array(bytes[..<n]))) != nil, "length \(n)")
            }
            #expect(decodeFrame(bytes) == .success(verdict))
        }
    }

    @Test("every extension is a protocol violation, with or without a matching header")
    func extensions() {
        var g = Gen(seed: 0x5EED_0011)
        let bytes = Frame.encode(.valid(sampleRecord))
        let payload = Array(bytes[8...])
        for extra in [[0x00], [0x20], [0x0A], [0x7D], [0xFF]] + (0..<20).map({ _ in
            (0..<g.int(1...64)).map { _ in UInt8(truncatingIfNeeded: g.rng.next()) }
        }) as [[UInt8]] {
            #expect(violation(decodeFrame(bytes + extra)) != nil)
            // Even with the header telling the right length, trailing bytes are not canonical.
            #expect(violation(decodeFrame(frame(payload: payload + extra))) != nil)
        }
    }

    @Test func headerRules() {
        let good = Frame.encode(.valid(RunnerRecord()))
        var badMagic = good
        badMagic[3] = UInt8(ascii: "2")
        #expect(violation(decodeFrame(badMagic)) == "frame: bad magic")
        var longer = good
        longer[7] &+= 1
        #expect(violation(decodeFrame(longer)) == "frame: header says 20 payload bytes, frame has 19")
        #expect(violation(decodeFrame([])) == "frame: 0 bytes, shorter than the 8-byte header")
        let big = frame(payload: [UInt8](repeating: 0x20, count: Frame.maxSize - 8 + 1))
        #expect(violation(decodeFrame(big)) == "frame: 8193 bytes, over the 8192-byte limit")
        let atLimit = frame(payload: #"{"verdict":"rejected","reason":"invalid-json","detail":"x"}"# +
                            String(repeating: " ", count: Frame.maxSize - 8 - 59))
        #expect(atLimit.count == Frame.maxSize)
        #expect(violation(decodeFrame(atLimit)) == "frame: payload is not in canonical form")
    }

    @Test("a frame claiming a supervisor-only code is a protocol violation")
    func supervisorCodesRefused() {
        let r = decodeFrame(Frame.encode(.rejected(Rejection(.workerTimeout, "took too long"))))
        #expect(violation(r) == "frame: invalid-value reason: worker-timeout is not worker-reportable")
        for code in ReasonCode.allCases where !code.isWorkerReportable {
            #expect(violation(decodeFrame(Frame.encode(.rejected(Rejection(code, "x"))))) != nil, "\(code)")
        }
    }

    @Test func payloadSchemaViolationsKeepTheInnerReason() {
        func v(_ payload: String) -> String? { violation(decodeFrame(frame(payload: payload))) }
        #expect(v(#"{"verdict":"valid","pre_job":{"repository":"a/b","event":"e","timestamp":1.0,"workflow_run_id":"1"}}"#)
            == "frame: pre_job: missing-field workflow")
        #expect(v(#"{"verdict":"valid","post_job":{"timestamp":1.0,"status":"fine"}}"#)
            == "frame: post_job: invalid-value status: not normal, abnormal or repo-policy-check-failure")
        #expect(v(#"{"verdict":"valid","extra":1}"#) == "frame: unknown-field payload: member 1 has an unknown key of 5 bytes")
        #expect(v(#"{"verdict":"valid","installed":-1.0}"#) == "frame: invalid-value installed: negative timestamp")
        #expect(v(#"{"verdict":"valid","installed":"1"}"#) == "frame: invalid-value installed: expected a number, got a string")
        #expect(v(#"{"verdict":"maybe"}"#) == "frame: invalid-value verdict: not valid or rejected")
        #expect(v(#"{}"#) == "frame: missing-field verdict")
        #expect(v(#"[]"#) == "frame: invalid-value payload: expected an object, got an array")
        #expect(v(#"{"verdict":"valid","verdict":"valid"}"#) == "frame: duplicate-key duplicate object key at offset 19")
        #expect(v(#"{"verdict":"rejected","detail":"x"}"#) == "frame: missing-field reason")
        #expect(v(#"{"verdict":"rejected","reason":"nope","detail":"x"}"#) == "frame: invalid-value reason: not a reason code")
        #expect(v(#"{"verdict":"rejected","reason":"invalid-json","file":"x","detail":"x"}"#)
            == "frame: invalid-value file: not a runner file name")
        #expect(v(#"{"verdict":"rejected","reason":"invalid-json","installed":1.0,"detail":"x"}"#)
            == "frame: unknown-field payload: member 2 has an unknown key of 9 bytes")
        #expect(v("{\"verdict\":\"valid\"}\u{FF}") != nil)
    }

    @Test func rejectedDetailMustBeShortPrintableASCII() {
        func v(_ detail: String) -> String? {
            violation(decodeFrame(frame(payload: #"{"verdict":"rejected","reason":"invalid-json","detail":"# + detail + "}")))
        }
        let bad = "frame: invalid-value detail: not a string of at most 200 printable ASCII bytes"
        #expect(v("\"" + String(repeating: "x", count: 201) + "\"") == bad)
        #expect(v(#""a\u0001""#) == bad)
        #expect(v(#""a\n""#) == bad)
        #expect(v(#""\u00e9""#) == bad)
        #expect(v("1") == bad)
        #expect(v("\"" + String(repeating: "x", count: 200) + "\"") == nil)
    }

    @Test func nonCanonicalSpellingsAreRefused() {
        func v(_ payload: String) -> String? { violation(decodeFrame(frame(payload: payload))) }
        let msg = "frame: payload is not in canonical form"
        #expect(v(#"{"verdict": "valid"}"#) == msg)
        #expect(v(#"{"installed":1.0,"verdict":"valid"}"#) == msg)
        #expect(v(#"{"verdict":"valid","installed":1}"#) == msg)
        #expect(v(#"{"verdict":"valid","installed":1.0e0}"#) == msg)
        #expect(v(#"{"verdict":"\u0076alid"}"#) == msg)
        #expect(v(#"{"verdict":"valid","installed":1.0}"#) == nil)
    }

    @Test("frames of the largest runner files fit in Frame.maxSize")
    func worstCaseFits() {
        // Strings made only of escapes that cannot get shorter: \" in 1024-byte files.
        func filled(_ field: String) -> String {
            var text = preJobText(replacing: field, with: #""a/b""#)
            let room = runnerFileSizeLimit - text.utf8.count
            text = preJobText(replacing: field, with: "\"a/b" + String(repeating: #"\""#, count: room / 2) + "\"")
            return text
        }
        var record = RunnerRecord(installationStart: Double.greatestFiniteMagnitude, installed: 5e-324)
        for field in ["workflow", "repository", "event", "workflow_run_id"] {
            let text = filled(field)
            #expect(text.utf8.count <= runnerFileSizeLimit)
            guard let p = value(preJobOutcome(text)) else {
                Issue.record("not accepted")
                continue
            }
            record.preJob = p
            let bytes = Frame.encode(.valid(record))
            #expect(bytes.count <= 8 + 2 * runnerFileSizeLimit)
            #expect(decodeFrame(bytes) == .success(.valid(record)))
        }
    }
}
