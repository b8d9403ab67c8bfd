import Testing
@testable import MetricsDecoding

func decodeFrame(_ bytes: [UInt8]) -> Result<WorkerVerdict, Rejection> {
    outcome(bytes) { (b) throws(Rejection) in try Frame.decode(b) }
}

/// A frame with a correct "RMF2" header around an arbitrary payload.
func frame(payload: [UInt8]) -> [UInt8] {
    Array("RMF2".utf8) + be32(UInt32(payload.count)) + payload
}

func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
func be64(_ v: UInt64) -> [UInt8] { be32(UInt32(v >> 32)) + be32(UInt32(v & 0xFFFF_FFFF)) }
func f64(_ d: Double) -> [UInt8] { be64(d.bitPattern) }
/// A frame string: u16 length + bytes.
func str(_ bytes: [UInt8]) -> [UInt8] { be16(UInt16(bytes.count)) + bytes }
func str(_ s: String) -> [UInt8] { str(Array(s.utf8)) }

func fromHex(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = hex.utf8.filter { $0 != UInt8(ascii: " ") }.makeIterator()
    while let hi = it.next(), let lo = it.next() {
        out.append(UInt8(String(decoding: [hi, lo], as: UTF8.self), radix: 16)!)
    }
    return out
}

/// The detail of a refusal, when it is a protocol violation with no file and a clean detail.
func violation(_ r: Result<WorkerVerdict, Rejection>) -> String? {
    if case .failure(let e) = r, e.code == .protocolViolation, e.file == nil, detailIsClean(e) { return e.detail }
    return nil
}

let sampleRecord = RunnerRecord(
    installationStart: 1_699_999_990.25, installed: 1_700_000_000,
    preJob: PreJobMetrics(workflow: "CI \"0\"\n\u{E9}\u{1F600}", repository: "org/repo0", event: "push",
                          timestamp: 1_700_000_030, workflowRunID: "123"),
    postJob: PostJobMetrics(timestamp: 1_700_000_090, status: .abnormal, statusInfoCode: -1))

/// Payload of a valid record with every part present (presence 0x1F unless given), each part
/// given as raw bytes so a test can break one of them. Parts whose bit is clear are left out.
func recordPayload(
    presence: UInt8 = 0x1F, installationStart: [UInt8] = f64(1), installed: [UInt8] = f64(2),
    workflow: [UInt8] = str("CI"), repository: [UInt8] = str("o/r"), event: [UInt8] = str("push"),
    preTimestamp: [UInt8] = f64(3), runID: [UInt8] = str("1"),
    postTimestamp: [UInt8] = f64(4), status: [UInt8] = [0x01], code: [UInt8] = be32(7), empty: UInt8 = 0
) -> [UInt8] {
    var p: [UInt8] = [0x01, presence]
    if presence & 0x20 != 0 { p.append(empty) }
    if presence & 0x01 != 0 { p += installationStart }
    if presence & 0x02 != 0 { p += installed }
    if presence & 0x04 != 0 { p += workflow + repository + event + preTimestamp + runID }
    if presence & 0x08 != 0 { p += postTimestamp + status }
    if presence & 0x10 != 0 { p += code }
    return p
}

/// Payload of a rejection.
func rejectionPayload(reason: UInt8 = 0x05, file: UInt8 = 0x03, detail: [UInt8] = str("x")) -> [UInt8] {
    [0x02, reason, file] + detail
}

@Suite("Worker frame")
struct FrameTests {
    func v(_ payload: [UInt8]) -> String? { violation(decodeFrame(frame(payload: payload))) }

    @Test("the layout is pinned byte for byte")
    func encodingIsPinned() {
        let valid = fromHex([
            "524d4632", "0000004c",                           // "RMF2", payload length 76
            "01",                                             // verdict: valid
            "1f",                                             // presence: all four parts + status_info
            "41d954fc3d900000",                               // installation_start 1699999990.25
            "41d954fc40000000",                               // installed 1700000000.0
            "000d", "4349202230220ac3a9f09f9880",             // workflow (13 bytes, raw UTF-8)
            "0009", "6f72672f7265706f30",                     // repository "org/repo0"
            "0004", "70757368",                               // event "push"
            "41d954fc47800000",                               // pre_job timestamp 1700000030.0
            "0003", "313233",                                 // workflow_run_id "123"
            "41d954fc56800000",                               // post_job timestamp 1700000090.0
            "02",                                             // status: abnormal
            "ffffffff",                                       // status_info.code -1
        ].joined())
        #expect(Frame.encode(.valid(sampleRecord)) == valid)
        #expect(decodeFrame(valid) == .success(.valid(sampleRecord)))

        let rejected = fromHex([
            "524d4632", "0000001b",                           // "RMF2", payload length 27
            "02",                                             // verdict: rejected
            "05",                                             // reason: invalid-json
            "03",                                             // file: pre-job-metrics.json
            "0016", "627974652030783762206174206f6666736574203132", // detail (22 bytes)
        ].joined())
        let r = Rejection(.invalidJSON, file: .preJob, "byte 0x7b at offset 12")
        #expect(Frame.encode(.rejected(r)) == rejected)
        #expect(decodeFrame(rejected) == .success(.rejected(r)))

        #expect(Frame.encode(.valid(RunnerRecord())) == fromHex("524d4632 00000002 01 00"))
        #expect(Frame.encode(.rejected(Rejection(.fileTooLarge, ""))) == fromHex("524d4632 00000005 02 01 00 0000"))
        // The post job without status_info: bit 0x10 clear, no code bytes.
        #expect(Frame.encode(.valid(RunnerRecord(postJob: PostJobMetrics(timestamp: 0, status: .repoPolicyCheckFailure))))
                == fromHex("524d4632 0000000b 01 08 0000000000000000 03"))
    }

    @Test("wire values of every status, reason and file")
    func wireValues() {
        for (status, byte) in [(JobStatus.normal, 1), (.abnormal, 2), (.repoPolicyCheckFailure, 3)] as [(JobStatus, UInt8)] {
            let f = Frame.encode(.valid(RunnerRecord(postJob: PostJobMetrics(timestamp: 0, status: status))))
            #expect(f.last == byte)
        }
        let reasons: [ReasonCode] = [.fileTooLarge, .notRegularFile, .unreadableFile, .invalidEncoding, .invalidJSON,
                                     .duplicateKey, .unknownField, .missingField, .invalidValue, .invalidTimestamp,
                                     .notADirectory, .workerCrashed, .workerSandboxViolation, .workerTimeout,
                                     .protocolViolation, .invalidRunnerName]
        #expect(reasons.count == ReasonCode.allCases.count)
        for (i, code) in reasons.enumerated() {
            #expect(Frame.encode(.rejected(Rejection(code, "")))[9] == UInt8(i + 1))
            // The first ten, and only they, are the worker-reportable ones.
            #expect(code.isWorkerReportable == (i < 10))
        }
        let files: [RunnerFile?] = [nil, .installationStart, .installed, .preJob, .postJob]
        #expect(files.count == RunnerFile.allCases.count + 1)
        for (i, file) in files.enumerated() {
            #expect(Frame.encode(.rejected(Rejection(.invalidJSON, file: file, "")))[10] == UInt8(i))
        }
    }

    @Test("encode -> decode is identity for random records, and re-encoding gives the same bytes")
    func randomRecordsRoundTrip() {
        var g = Gen(seed: 0x5EED_0010)
        for _ in 0..<2000 {
            let record = g.record()
            let bytes = Frame.encode(.valid(record))
            #expect(bytes.count <= Frame.maxSize)
            #expect(bytes.count == 8 + Frame.payloadCapacity(.valid(record)))
            guard case .success(.valid(let back)) = decodeFrame(bytes) else {
                Issue.record("rejected: \(decodeFrame(bytes)) for \(record)")
                continue
            }
            #expect(bitIdentical(back, record))
            #expect(Frame.encode(.valid(back)) == bytes)
        }
    }

    @Test("encode -> decode is identity for every rejection the worker may send")
    func rejectionsRoundTrip() {
        let details = ["", "byte 0x7b at offset 12", String(repeating: "x", count: 200), "~ !\"\\/"]
        for code in ReasonCode.allCases where code.isWorkerReportable {
            for file in [nil] + RunnerFile.allCases.map(Optional.some) {
                for detail in details {
                    let r = Rejection(code, file: file, detail)
                    let bytes = Frame.encode(.rejected(r))
                    #expect(bytes.count == 8 + 5 + detail.utf8.count)
                    #expect(decodeFrame(bytes) == .success(.rejected(r)))
                }
            }
        }
        // A detail changed after init is sanitized again on the way out.
        var r = Rejection(.invalidJSON, "x")
        r.detail = "\u{E9}\n" + String(repeating: "y", count: 300)
        #expect(decodeFrame(Frame.encode(.rejected(r))) ==
                .success(.rejected(Rejection(.invalidJSON, "??" + String(repeating: "y", count: 198)))))
    }

    /// The reads `decode` makes for the sample record: (what it calls the field, offset, size).
    static let sampleReads: [(String, Int, Int)] = [
        ("verdict", 8, 1), ("presence", 9, 1), ("installation_start", 10, 8), ("installed", 18, 8),
        ("pre_job: workflow", 26, 2), ("pre_job: workflow", 28, 13), ("pre_job: repository", 41, 2),
        ("pre_job: repository", 43, 9), ("pre_job: event", 52, 2), ("pre_job: event", 54, 4),
        ("pre_job: timestamp", 58, 8), ("pre_job: workflow_run_id", 66, 2), ("pre_job: workflow_run_id", 68, 3),
        ("post_job: timestamp", 71, 8), ("post_job: status", 79, 1), ("post_job: status_info.code", 80, 4),
    ]

    static let rejectionReads: [(String, Int, Int)] = [("verdict", 8, 1), ("reason", 9, 1), ("file", 10, 1),
                                                       ("detail", 11, 2), ("detail", 13, 1)]

    @Test("every truncation is a protocol violation naming the field that runs past the end")
    func truncations() {
        let cases: [(WorkerVerdict, [(String, Int, Int)])] = [
            (.valid(sampleRecord), FrameTests.sampleReads),
            (.rejected(Rejection(.unknownField, file: .postJob, "x")), FrameTests.rejectionReads),
        ]
        for (verdict, reads) in cases {
            let bytes = Frame.encode(verdict)
            #expect(reads.last.map { $0.1 + $0.2 } == bytes.count)
            for n in 0..<bytes.count {
                // Cut as it is: the header no longer matches.
                let cut = Array(bytes[..<n])
                let expected = n < 8 ? "frame: \(n) bytes, shorter than the 8-byte header"
                    : "frame: header says \(bytes.count - 8) payload bytes, frame has \(n - 8)"
                #expect(violation(decodeFrame(cut)) == expected, "length \(n)")
                // Cut with a header that says so: the first read past the end is named.
                guard n >= 8 else { continue }
                let fixed = frame(payload: Array(bytes[8..<n]))
                guard let (field, offset, size) = reads.first(where: { $0.1 + $0.2 > n }) else {
                    Issue.record("no read past \(n)")
                    continue
                }
                let need = size == 1 ? "1 byte" : "\(size) bytes"
                #expect(violation(decodeFrame(fixed)) == "frame: \(field): needs \(need) at offset \(offset), \(n - offset) left",
                        "payload cut to \(n - 8)")
            }
            #expect(decodeFrame(bytes) == .success(verdict))
        }
    }

    @Test("every extension is a protocol violation, with or without a matching header")
    func extensions() {
        var g = Gen(seed: 0x5EED_0011)
        for verdict in [WorkerVerdict.valid(sampleRecord), .valid(RunnerRecord()),
                        .rejected(Rejection(.invalidValue, file: .installed, "detail"))] {
            let bytes = Frame.encode(verdict)
            let payload = Array(bytes[8...])
            for extra in [[0x00], [0x20], [0x0A], [0x7D], [0xFF]] + (0..<20).map({ _ in
                (0..<g.int(1...64)).map { _ in UInt8(truncatingIfNeeded: g.rng.next()) }
            }) as [[UInt8]] {
                #expect(violation(decodeFrame(bytes + extra)) ==
                        "frame: header says \(payload.count) payload bytes, frame has \(payload.count + extra.count)")
                // Even with the header telling the right length, nothing may follow the verdict.
                let trailing = extra.count == 1 ? "1 byte" : "\(extra.count) bytes"
                #expect(violation(decodeFrame(frame(payload: payload + extra))) ==
                        "frame: trailing \(trailing) after the verdict at offset \(bytes.count)")
            }
        }
    }

    @Test func headerRules() {
        let good = Frame.encode(.valid(RunnerRecord()))
        #expect(good == fromHex("524d4632 00000002 01 00"))
        for magic in ["RMF1", "RMF3", "rmf2", "\0MF2", "RMF\0"] {
            var bad = good
            bad.replaceSubrange(0..<4, with: Array(magic.utf8))
            #expect(violation(decodeFrame(bad)) == "frame: bad magic", "\(magic)")
        }
        var longer = good
        longer[7] &+= 1
        #expect(violation(decodeFrame(longer)) == "frame: header says 3 payload bytes, frame has 2")
        var huge = good
        huge.replaceSubrange(4..<8, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(violation(decodeFrame(huge)) == "frame: header says 4294967295 payload bytes, frame has 2")
        #expect(violation(decodeFrame([])) == "frame: 0 bytes, shorter than the 8-byte header")
        #expect(violation(decodeFrame(Array("RMF2".utf8) + [0, 0, 0])) == "frame: 7 bytes, shorter than the 8-byte header")
        #expect(violation(decodeFrame(frame(payload: []))) == "frame: verdict: needs 1 byte at offset 8, 0 left")
        let big = frame(payload: [UInt8](repeating: 0x20, count: Frame.maxSize - 8 + 1))
        #expect(violation(decodeFrame(big)) == "frame: 8193 bytes, over the 8192-byte limit")
        // Exactly at the limit, the size is fine: the layout decides.
        let atLimit = frame(payload: [0x01, 0x00] + [UInt8](repeating: 0, count: Frame.maxSize - 8 - 2))
        #expect(atLimit.count == Frame.maxSize)
        #expect(violation(decodeFrame(atLimit)) == "frame: trailing \(Frame.maxSize - 10) bytes after the verdict at offset 10")
        // The JSON frames of the previous protocol are refused at the magic.
        let json = Array(#"{"verdict":"valid"}"#.utf8)
        #expect(violation(decodeFrame(Array("RMF1".utf8) + be32(UInt32(json.count)) + json)) == "frame: bad magic")
        #expect(violation(decodeFrame(frame(payload: json))) == "frame: verdict: unknown tag 0x7b")
    }

    @Test("a frame claiming a supervisor-only code is a protocol violation")
    func supervisorCodesRefused() {
        let r = decodeFrame(Frame.encode(.rejected(Rejection(.workerTimeout, "took too long"))))
        #expect(violation(r) == "frame: invalid-value reason: worker-timeout is not worker-reportable")
        for code in ReasonCode.allCases where !code.isWorkerReportable {
            #expect(violation(decodeFrame(Frame.encode(.rejected(Rejection(code, file: .preJob, "x"))))) ==
                    "frame: invalid-value reason: \(code.rawValue) is not worker-reportable")
        }
    }

    @Test("unknown verdict, status, reason and file bytes are refused")
    func unknownBytes() {
        for tag: UInt8 in [0x00, 0x03, 0x7B, 0xFF] {
            #expect(v([tag, 0x00]) == "frame: verdict: unknown tag \(hexByte(tag))")
        }
        for status: UInt8 in [0x00, 0x04, 0x80, 0xFF] {
            #expect(v(recordPayload(presence: 0x08, status: [status])) ==
                    "frame: post_job: invalid-value status: unknown status byte \(hexByte(status))")
        }
        for reason: UInt8 in [0x00, 0x11, 0x7F, 0xFF] {
            #expect(v(rejectionPayload(reason: reason)) == "frame: invalid-value reason: unknown reason byte \(hexByte(reason))")
        }
        for file: UInt8 in [0x05, 0x10, 0xFF] {
            #expect(v(rejectionPayload(file: file)) == "frame: invalid-value file: unknown file byte \(hexByte(file))")
        }
        #expect(v(recordPayload()) == nil)
        #expect(v(rejectionPayload(file: 0x00)) == nil)
        #expect(v(rejectionPayload(file: 0x04)) == nil)
    }

    @Test("presence: reserved bits, and status_info only with post_job")
    func presenceBits() {
        for bit: UInt8 in [0x40, 0x80] {
            #expect(v(recordPayload(presence: 0x1F | bit)) == "frame: presence: reserved bits \(hexByte(bit)) set")
            #expect(v([0x01, bit]) == "frame: presence: reserved bits \(hexByte(bit)) set")
        }
        #expect(v([0x01, 0xFF]) == "frame: presence: reserved bits 0xc0 set")
        #expect(v(recordPayload(presence: 0x10)) == "frame: presence: status_info bit without post_job")
        #expect(v(recordPayload(presence: 0x17)) == "frame: presence: status_info bit without post_job")
        // Every combination of the five defined bits is a valid record.
        for presence: UInt8 in 0..<0x20 where presence & 0x10 == 0 || presence & 0x08 != 0 {
            guard case .success(.valid(let record)) = decodeFrame(frame(payload: recordPayload(presence: presence))) else {
                Issue.record("presence \(presence) refused")
                continue
            }
            #expect((record.installationStart != nil) == (presence & 0x01 != 0))
            #expect((record.installed != nil) == (presence & 0x02 != 0))
            #expect((record.preJob != nil) == (presence & 0x04 != 0))
            #expect((record.postJob != nil) == (presence & 0x08 != 0))
            #expect((record.postJob?.statusInfoCode != nil) == (presence & 0x10 != 0))
        }
    }

    @Test("empty_files: pinned, present exactly when a file was empty, never naming a present file")
    func emptyFiles() {
        var preJobEmpty = RunnerFileSet()
        preJobEmpty.insert(.preJob)
        let record = RunnerRecord(installed: 1_700_000_000, emptyFiles: preJobEmpty)
        let pinned = fromHex("524d4632 0000000b 01 22 04 41d954fc40000000")  // presence: installed + empty_files
        #expect(Frame.encode(.valid(record)) == pinned)
        #expect(decodeFrame(pinned) == .success(.valid(record)))
        // No empty file: no bit, no byte (the layout without empty files is unchanged).
        #expect(Frame.encode(.valid(RunnerRecord(installed: 1_700_000_000))) == fromHex("524d4632 0000000a 01 02 41d954fc40000000"))

        #expect(v(recordPayload(presence: 0x20, empty: 0x00)) == "frame: empty_files: presence bit set, no file named")
        for bit: UInt8 in [0x10, 0x20, 0x40, 0x80] {
            #expect(v(recordPayload(presence: 0x20, empty: 0x01 | bit)) == "frame: empty_files: reserved bits \(hexByte(bit)) set")
        }
        #expect(v(recordPayload(presence: 0x22, empty: 0x02)) == "frame: empty_files: 0x02 also present")
        #expect(v(recordPayload(presence: 0x3F, empty: 0x0F)) == "frame: empty_files: 0x0f also present")
        #expect(v([0x01, 0x20]) == "frame: empty_files: needs 1 byte at offset 10, 0 left")
        // Every presence of the four files with every non-empty set of the others as empty.
        for files: UInt8 in 0..<0x10 {
            for empty: UInt8 in 1..<0x10 where empty & files == 0 {
                let payload = recordPayload(presence: 0x20 | files, empty: empty)
                guard case .success(.valid(let decoded)) = decodeFrame(frame(payload: payload)) else {
                    Issue.record("files \(files) empty \(empty) refused")
                    continue
                }
                #expect(decoded.emptyFiles.bits == empty)
                #expect(decoded.emptyFiles.files.map(\.bit).reduce(0, |) == empty)
                #expect((decoded.installationStart != nil) == (files & 0x01 != 0) && (decoded.installed != nil) == (files & 0x02 != 0))
                #expect((decoded.preJob != nil) == (files & 0x04 != 0) && (decoded.postJob != nil) == (files & 0x08 != 0))
                #expect(Frame.encode(.valid(decoded)) == frame(payload: payload))
            }
        }
    }

    @Test("timestamps: finite, sign bit clear (no -0.0, no NaN or infinity, of either sign)")
    func timestampBits() {
        let negative: [UInt64] = [
            0x8000_0000_0000_0000,            // -0.0
            (-1.0).bitPattern, (-5e-324).bitPattern, (-Double.greatestFiniteMagnitude).bitPattern,
        ]
        let notFinite: [UInt64] = [
            0x7FF0_0000_0000_0000, 0xFFF0_0000_0000_0000,   // +inf, -inf
            0x7FF8_0000_0000_0000, 0xFFF8_0000_0000_0000,   // quiet NaN, both signs
            0x7FF0_0000_0000_0001, 0x7FFF_FFFF_FFFF_FFFF,   // signalling NaN, NaN with every payload bit
        ]
        let fine: [Double] = [0, 5e-324, 2.2250738585072014e-308, 1_700_000_000.5, .greatestFiniteMagnitude]
        typealias Place = (String, ([UInt8]) -> [UInt8])
        let places: [Place] = [
            ("installation_start", { recordPayload(installationStart: $0) }),
            ("installed", { recordPayload(installed: $0) }),
            ("pre_job: invalid-value timestamp", { recordPayload(preTimestamp: $0) }),
            ("post_job: invalid-value timestamp", { recordPayload(postTimestamp: $0) }),
        ]
        for (name, payload) in places {
            let prefix = name.hasPrefix("p") ? "frame: \(name)" : "frame: invalid-value \(name)"
            for bits in negative {
                #expect(v(payload(be64(bits))) == prefix + ": negative timestamp", "\(name) \(bits)")
            }
            for bits in notFinite {
                #expect(v(payload(be64(bits))) == prefix + ": not a finite number", "\(name) \(bits)")
            }
            for d in fine {
                #expect(v(payload(f64(d))) == nil, "\(name) \(d)")
            }
        }
    }

    @Test("strings: well-formed UTF-8, no NUL, repository owner/name, lengths within the frame")
    func strings() {
        let illFormed: [([UInt8], String)] = [
            ([0xC0, 0xAF], "overlong sequence: byte 0xc0 at offset 0"),
            ([0x61, 0xE0, 0x80, 0xAF], "overlong sequence: byte 0x80 at offset 2"),
            ([0x80], "unexpected continuation byte: byte 0x80 at offset 0"),
            ([0x61, 0x62, 0xED, 0xA0, 0x80], "encoded surrogate: byte 0xa0 at offset 3"),
            ([0xF4, 0x90, 0x80, 0x80], "code point above U+10FFFF: byte 0x90 at offset 1"),
            ([0xF5, 0x80, 0x80, 0x80], "byte never valid in UTF-8: byte 0xf5 at offset 0"),
            ([0x61, 0xE2, 0x82], "truncated sequence: byte 0xe2 at offset 1"),
            ([0xFF], "byte never valid in UTF-8: byte 0xff at offset 0"),
        ]
        typealias Place = (String, ([UInt8]) -> [UInt8])
        let places: [Place] = [
            ("workflow", { recordPayload(workflow: str($0)) }),
            ("repository", { recordPayload(repository: str($0)) }),
            ("event", { recordPayload(event: str($0)) }),
            ("workflow_run_id", { recordPayload(runID: str($0)) }),
        ]
        for (field, payload) in places {
            for (value, what) in illFormed {
                #expect(v(payload(value)) == "frame: pre_job: invalid-encoding \(field): \(what) of the value")
            }
            #expect(v(payload(Array("o/\0r".utf8))) == "frame: pre_job: invalid-value \(field): NUL at byte 2 of the value")
            #expect(v(payload([0])) == "frame: pre_job: invalid-value \(field): NUL at byte 0 of the value")
            // Encoding is checked before NUL, as in a runner file.
            #expect(v(payload([0, 0xFF])) == "frame: pre_job: invalid-encoding \(field): byte never valid in UTF-8: byte 0xff at offset 1 of the value")
        }
        for repository in ["", "no-slash", "/x", "x/", "/", "a/b\n", "\na/b", "a\n/b"] {
            #expect(v(recordPayload(repository: str(repository))) ==
                    "frame: pre_job: invalid-value repository: does not match ^.+/.+$", "\(repository)")
        }
        for repository in ["a/b", "///", "a//", "\u{E9}/\u{1F600}", "a/b/c", "a\r/b"] {
            #expect(v(recordPayload(repository: str(repository))) == nil, "\(repository)")
        }
        // Empty strings and every other scalar are fine where the JSON allows them.
        #expect(v(recordPayload(workflow: str(""), event: str("\u{FEFF}\u{7F}\u{1}\n"), runID: str(""))) == nil)
        // A length past the end of the frame (payload 57 bytes: the workflow bytes start at 28).
        #expect(v(recordPayload(workflow: be16(300) + Array("CI".utf8))) ==
                "frame: pre_job: workflow: needs 300 bytes at offset 28, 37 left")
        #expect(v(recordPayload(workflow: be16(0xFFFF) + Array("CI".utf8))) ==
                "frame: pre_job: workflow: needs 65535 bytes at offset 28, 37 left")
        // A length one short: the last byte is left over (pre_job alone, so it is the last part).
        #expect(v(recordPayload(presence: 0x04, runID: be16(1) + Array("12".utf8))) ==
                "frame: trailing 1 byte after the verdict at offset 36")
        // A length one long swallows the next field's first byte; what follows no longer fits.
        #expect(v(recordPayload(presence: 0x04, runID: be16(3) + Array("12".utf8))) ==
                "frame: pre_job: workflow_run_id: needs 3 bytes at offset 35, 2 left")
    }

    @Test func rejectedDetailMustBeShortPrintableASCII() {
        func v(_ detail: [UInt8]) -> String? { self.v(rejectionPayload(detail: str(detail))) }
        let bad = "frame: invalid-value detail: not a string of at most 200 printable ASCII bytes"
        #expect(v([UInt8](repeating: UInt8(ascii: "x"), count: 201)) == bad)
        #expect(v(Array("a\u{1}".utf8)) == bad)
        #expect(v(Array("a\n".utf8)) == bad)
        #expect(v(Array("a\u{7F}".utf8)) == bad)
        #expect(v(Array("\u{E9}".utf8)) == bad)
        #expect(v([0x61, 0x00]) == bad)
        #expect(v([0xFF]) == bad)
        #expect(v([UInt8](repeating: UInt8(ascii: "x"), count: 200)) == nil)
        #expect(v([]) == nil)
        #expect(v(Array(" ~".utf8)) == nil)
        #expect(self.v(rejectionPayload(detail: be16(10) + Array("abc".utf8))) == "frame: detail: needs 10 bytes at offset 13, 3 left")
        #expect(self.v(rejectionPayload(detail: [0x00])) == "frame: detail: needs 2 bytes at offset 11, 1 left")
    }

    @Test("the frame and the runner files apply the same rule, with the same detail")
    func rulesAreShared() {
        // NUL in a record string.
        #expect(preJobOutcome(preJobText(replacing: "event", with: #""p\u0000""#)) ==
                .failure(Rejection(.invalidValue, file: .preJob, "event: NUL at byte 1 of the value")))
        #expect(v(recordPayload(event: str([0x70, 0x00]))) == "frame: pre_job: invalid-value event: NUL at byte 1 of the value")
        // The repository pattern.
        #expect(preJobOutcome(preJobText(replacing: "repository", with: #""org/""#)) ==
                .failure(Rejection(.invalidValue, file: .preJob, "repository: does not match ^.+/.+$")))
        #expect(v(recordPayload(repository: str("org/"))) == "frame: pre_job: invalid-value repository: does not match ^.+/.+$")
        // A negative timestamp: "-0" in JSON, the sign bit in the frame.
        #expect(preJobOutcome(preJobText(replacing: "timestamp", with: "-0")) ==
                .failure(Rejection(.invalidValue, file: .preJob, "timestamp: negative timestamp")))
        #expect(v(recordPayload(preTimestamp: f64(-0.0))) == "frame: pre_job: invalid-value timestamp: negative timestamp")
        #expect(postJobOutcome(#"{"timestamp":-1.5,"status":"normal"}"#) ==
                .failure(Rejection(.invalidValue, file: .postJob, "timestamp: negative timestamp")))
        #expect(v(recordPayload(postTimestamp: f64(-1.5))) == "frame: post_job: invalid-value timestamp: negative timestamp")
        // Ill-formed UTF-8: the same validator and wording, offsets within the file or the value.
        let file = Array(#"{"workflow":""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8)
        #expect(rejection(file) { (b) throws(Rejection) in try RunnerFileDecoder.decodePreJob(b) } ==
                Rejection(.invalidEncoding, file: .preJob, "overlong sequence: byte 0xc0 at offset 13"))
        #expect(v(recordPayload(workflow: str([0xC0, 0xAF]))) ==
                "frame: pre_job: invalid-encoding workflow: overlong sequence: byte 0xc0 at offset 0 of the value")
    }

    @Test("one spelling: every single-byte change of a frame is refused or re-encodes to itself")
    func singleByteChanges() {
        var emptyPostJob = RunnerRecord(installed: 1_700_000_000)
        emptyPostJob.emptyFiles.insert(.postJob)
        emptyPostJob.emptyFiles.insert(.installationStart)
        for verdict in [WorkerVerdict.valid(sampleRecord), .valid(emptyPostJob),
                        .rejected(Rejection(.missingField, file: .postJob, "status"))] {
            let good = Frame.encode(verdict)
            var accepted = 0
            for i in 0..<good.count {
                for b in 0...255 where UInt8(b) != good[i] {
                    var changed = good
                    changed[i] = UInt8(b)
                    switch decodeFrame(changed) {
                    case .success(let other):
                        accepted += 1
                        #expect(other != verdict || changed == good)
                        #expect(Frame.encode(other) == changed, "byte \(i) = \(b)")
                    case .failure(let e):
                        #expect(e.code == .protocolViolation && e.file == nil && e.detail.hasPrefix("frame: ") && detailIsClean(e),
                                "byte \(i) = \(b): \(e)")
                    }
                }
            }
            #expect(accepted > 0) // e.g. other timestamp bits, other string bytes
        }
    }

    @Test("random byte strings behind a valid header: refused cleanly, or accepted in their one spelling")
    func randomPayloads() {
        var g = Gen(seed: 0x5EED_0012)
        var accepted = 0
        for _ in 0..<20_000 {
            var payload = (0..<g.int(0...40)).map { _ in UInt8(truncatingIfNeeded: g.rng.next()) }
            // Steer the first bytes toward the two tags and small presence masks.
            if !payload.isEmpty && g.chance(80) { payload[0] = UInt8(g.int(1...2)) }
            if payload.count > 1 && g.chance(60) { payload[1] = UInt8(g.int(0...0x1F)) }
            let f = frame(payload: payload)
            switch decodeFrame(f) {
            case .success(let verdict):
                accepted += 1
                #expect(Frame.encode(verdict) == f)
            case .failure(let e):
                #expect(e.code == .protocolViolation && e.file == nil && e.detail.hasPrefix("frame: ") && detailIsClean(e))
            }
        }
        #expect(accepted > 0)
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
            record.postJob = PostJobMetrics(timestamp: 1, status: .normal, statusInfoCode: .min)
            let bytes = Frame.encode(.valid(record))
            // Each string costs its bytes + 2, every other part a fixed size: header 8, verdict and
            // presence 2, two timestamps 16, the pre-job's lengths and timestamp 16, the post job
            // 13, around the strings of one pre-job file (fewer bytes than the file).
            #expect(bytes.count <= 8 + 2 + 16 + 16 + 13 + runnerFileSizeLimit)
            #expect(bytes.count <= Frame.maxSize)
            #expect(decodeFrame(bytes) == .success(.valid(record)))
        }
    }

    /// A pre-job file of at most 1024 bytes holds at most 947 bytes of strings (the shortest
    /// rest takes 77): a frame claiming more did not come from a runner file, whatever its
    /// strings are made of (a control byte would print six times its size in a metric line).
    @Test func preJobStringsBeyondWhatAFileHoldsAreRefused() {
        func frame(workflowBytes: Int) -> [UInt8] {
            let pre = PreJobMetrics(workflow: String(repeating: "\u{1}", count: workflowBytes), repository: "a/b",
                                    event: "e", timestamp: 1, workflowRunID: "7")
            return Frame.encode(.valid(RunnerRecord(installed: 1, preJob: pre)))
        }
        // 942 + 3 + 1 + 1 = 947 bytes: the most a file can hold.
        #expect(violation(decodeFrame(frame(workflowBytes: 942))) == nil)
        #expect(violation(decodeFrame(frame(workflowBytes: 943))) ==
            "frame: pre_job: invalid-value strings: 948 bytes, more than a 1024-byte file holds (947)")
        // A pre-job file that holds the most string bytes is accepted by the worker's decoder and
        // its frame by the supervisor's.
        let text = #"{"workflow":"\#(String(repeating: "x", count: 942))","repository":"a/b","event":"e","timestamp":0,"workflow_run_id":"7"}"#
        #expect(text.utf8.count == runnerFileSizeLimit)
        #expect(violation(decodeFrame(Frame.encode(.valid(RunnerRecord(installed: 1, preJob: value(preJobOutcome(text))))))) == nil)
    }

    /// Each table byte names one value (decoding reads the tables backwards), and 0x00 is
    /// nothing's (it means "no file").
    @Test func frameBytesAreDistinct() {
        for (bytes, count) in [(JobStatus.allCases.map(\.frameByte), JobStatus.allCases.count),
                               (ReasonCode.allCases.map(\.frameByte), ReasonCode.allCases.count),
                               (RunnerFile.allCases.map(\.frameByte), RunnerFile.allCases.count)] {
            #expect(Set(bytes).count == count && !bytes.contains(0))
        }
        for status in JobStatus.allCases { #expect(JobStatus(frameByte: status.frameByte) == status) }
        for code in ReasonCode.allCases { #expect(ReasonCode(frameByte: code.frameByte) == code) }
        for file in RunnerFile.allCases { #expect(RunnerFile.fromFrameByte(file.frameByte) == .some(file)) }
    }
}
