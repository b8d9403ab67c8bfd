import Testing
@testable import MetricsDecoding

@Suite("Property tests (seeded)")
struct PropertyTests {
    @Test("random valid pre-job records in random spellings decode to the same value")
    func preJobSpellings() throws {
        var g = Gen(seed: 0x5EED_0001)
        for _ in 0..<2000 {
            let p = g.preJob()
            let text = g.preJobJSON(p)
            try #require(text.utf8.count <= runnerFileSizeLimit, "generator produced \(text.utf8.count) bytes")
            let r = preJobOutcome(text)
            #expect(r == .success(p), "\(text.debugDescription)")
            #expect(value(r)?.timestamp.bitPattern == p.timestamp.bitPattern)
        }
    }

    @Test("random valid post-job records in random spellings decode to the same value")
    func postJobSpellings() throws {
        var g = Gen(seed: 0x5EED_0002)
        for _ in 0..<2000 {
            let p = g.postJob()
            let text = g.postJobJSON(p)
            try #require(text.utf8.count <= runnerFileSizeLimit)
            #expect(postJobOutcome(text) == .success(p), "\(text.debugDescription)")
        }
    }

    @Test("timestamps written as Python str(float) decode to the same value")
    func timestampFiles() {
        var g = Gen(seed: 0x5EED_0003)
        var checked = 0
        for _ in 0..<3000 {
            let t = g.timestamp()
            let text = PythonJSON.floatRepr(t)
            guard !text.contains("e") else { continue }   // str(float) of tiny/huge values is not a timestamp
            let bytes = Array((text + (g.chance(50) ? "\n" : "")).utf8)
            #expect(timestampOutcome(bytes) == .success(t), "\(text)")
            checked += 1
        }
        #expect(checked > 1500)
    }

    static let mutationBytes: [UInt8] = [
        0x00, 0x09, 0x0A, 0x0D, 0x20, 0x22, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F, 0x30, 0x31, 0x39, 0x3A, 0x45, 0x5B,
        0x5C, 0x5D, 0x61, 0x65, 0x75, 0x7B, 0x7D, 0x7F, 0x80, 0xBF, 0xC0, 0xC3, 0xE0, 0xED, 0xEF, 0xF0, 0xF4,
        0xF5, 0xFF,
    ]

    /// Every single-byte replacement and deletion, plus insertion of each byte value.
    static func mutations(of base: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for i in 0..<base.count {
            for b in mutationBytes where b != base[i] {
                var m = base
                m[i] = b
                out.append(m)
            }
            var d = base
            d.remove(at: i)
            out.append(d)
        }
        for i in 0...base.count {
            for b in mutationBytes {
                var m = base
                m.insert(b, at: i)
                out.append(m)
            }
        }
        return out
    }

    static let jsonCodes: Set<ReasonCode> = [.invalidEncoding, .invalidJSON, .duplicateKey, .unknownField,
                                             .missingField, .invalidValue]

    /// What any accepted record must satisfy, whatever bytes produced it.
    func checkInvariants(_ p: PreJobMetrics) {
        #expect(p.timestamp.isFinite && p.timestamp.sign == .plus)
        for s in [p.workflow, p.repository, p.event, p.workflowRunID] { #expect(!s.utf8.contains(0)) }
        #expect(PreJobMetrics.isOwnerSlashRepo(p.repository))
        roundTripsThroughFrame(RunnerRecord(installed: 0, preJob: p))
    }

    func roundTripsThroughFrame(_ record: RunnerRecord) {
        let frame = Frame.encode(.valid(record))
        let back = outcome(frame) { (b) throws(Rejection) in try Frame.decode(b) }
        guard case .success(.valid(let decoded)) = back else {
            Issue.record("frame round trip failed: \(back)")
            return
        }
        #expect(bitIdentical(decoded, record))
    }

    @Test("single-byte mutations of a pre-job file: a clean rejection or a valid record")
    func preJobMutations() {
        let base = Array(#"{"workflow":"CI \u00e9 \"x\"","repository":"org/repo0","event":"push","timestamp":1700000030.5,"workflow_run_id":"123"}"#.utf8)
        var accepted = 0, rejected = 0
        for m in PropertyTests.mutations(of: base) {
            switch outcome(m, { (b) throws(Rejection) in try RunnerFileDecoder.decodePreJob(b) }) {
            case .success(let p):
                accepted += 1
                checkInvariants(p)
            case .failure(let r):
                rejected += 1
                #expect(PropertyTests.jsonCodes.contains(r.code) && r.file == .preJob && detailIsClean(r), "\(r)")
            }
        }
        #expect(accepted > 100)   // e.g. digits in strings/timestamps, whitespace insertions
        #expect(rejected > 1000)
    }

    @Test("single-byte mutations of a post-job file: a clean rejection or a valid record")
    func postJobMutations() {
        let base = Array(#"{"timestamp":1700000090,"status":"abnormal","status_info":{"code":-1}}"#.utf8)
        var accepted = 0, rejected = 0
        for m in PropertyTests.mutations(of: base) {
            switch outcome(m, { (b) throws(Rejection) in try RunnerFileDecoder.decodePostJob(b) }) {
            case .success(let p):
                accepted += 1
                #expect(p.timestamp.isFinite && p.timestamp.sign == .plus)
                roundTripsThroughFrame(RunnerRecord(postJob: p))
            case .failure(let r):
                rejected += 1
                #expect(PropertyTests.jsonCodes.contains(r.code) && r.file == .postJob && detailIsClean(r), "\(r)")
            }
        }
        #expect(accepted > 20)
        #expect(rejected > 1000)
    }

    @Test("single-byte mutations of a timestamp file: invalid-timestamp or a valid value")
    func timestampMutations() {
        let base = Array("1696427232.2253454\n".utf8)
        var accepted = 0
        for m in PropertyTests.mutations(of: base) {
            switch timestampOutcome(m) {
            case .success(let t):
                accepted += 1
                #expect(t.isFinite && t.sign == .plus)
                // Only digits, one point and at most one final LF can have been accepted.
                #expect(m.allSatisfy { NumberParsing.isDigit($0) || $0 == 0x2E || $0 == 0x0A })
            case .failure(let r):
                #expect(r.code == .invalidTimestamp && r.file == .installed && detailIsClean(r), "\(r)")
            }
        }
        #expect(accepted > 50)
    }

    @Test("random byte strings never crash the parser and are rejected cleanly or parsed")
    func randomBytes() {
        var g = Gen(seed: 0x5EED_0004)
        let alphabet = Array(#"{}[],:"\ 0123456789-+.eEtrufalsn"#.utf8) + [0x80, 0xC3, 0xA9, 0xFF, 0x00, 0x0A]
        for _ in 0..<5000 {
            let bytes = (0..<g.int(0...40)).map { _ in g.pick(alphabet) }
            if case .failure(let r) = parseJSON(bytes: bytes) {
                #expect(detailIsClean(r) && r.file == nil)
                #expect([.invalidEncoding, .invalidJSON, .duplicateKey, .invalidValue].contains(r.code))
            }
        }
    }
}
