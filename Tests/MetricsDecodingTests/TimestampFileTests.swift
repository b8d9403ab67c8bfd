import Testing
@testable import MetricsDecoding

@Suite("Timestamp files")
struct TimestampFileTests {
    func ts(_ text: String) -> Result<Double, Rejection> { timestampOutcome(Array(text.utf8)) }

    @Test func upstreamSpellingsAreAccepted() {
        #expect(ts("1700000000") == .success(1_700_000_000))
        #expect(ts("1700000000\n") == .success(1_700_000_000))
        #expect(ts("1696427232.2253454") == .success(1_696_427_232.2253454))
        #expect(ts("1696427232.2253454\n") == .success(1_696_427_232.2253454))
        #expect(ts("0") == .success(0))
        #expect(ts("0.0") == .success(0))
        #expect(ts("0.5") == .success(0.5))
    }

    @Test func plusSignIsInvalidTimestamp() { #expect(code(ts("+1")) == .invalidTimestamp) }
    @Test func exponentIsInvalidTimestamp() { #expect(code(ts("1e9")) == .invalidTimestamp) }
    @Test func leadingZeroIsInvalidTimestamp() { #expect(code(ts("01")) == .invalidTimestamp) }
    @Test func leadingSpaceIsInvalidTimestamp() { #expect(code(ts(" 1")) == .invalidTimestamp) }
    @Test func twoNewlinesAreInvalidTimestamp() { #expect(code(ts("1\n\n")) == .invalidTimestamp) }
    @Test func emptyIsInvalidTimestamp() {
        #expect(ts("") == .failure(Rejection(.invalidTimestamp, file: .installed, "empty file")))
        #expect(code(ts("\n")) == .invalidTimestamp)
    }

    @Test func everyOtherDeviationIsInvalidTimestamp() {
        for text in ["-1", "-0", "1.", ".5", "1.5.", "1 ", "1\r\n", "1\r", "\n1", "1,5", "0x10", "inf", "nan",
                     "1_000", "1.5e3", "00", "1\u{0}", "１", "1\n1"] {
            #expect(code(ts(text)) == .invalidTimestamp, "\(text.debugDescription)")
        }
        #expect(code(timestampOutcome([0xEF, 0xBB, 0xBF, 0x31])) == .invalidTimestamp)
        #expect(code(timestampOutcome([0x31, 0xFF])) == .invalidTimestamp)
    }

    @Test func overflowAndUnderflowAreInvalidTimestamp() {
        let huge = "1" + String(repeating: "0", count: 400)               // 1e400
        let tiny = "0." + String(repeating: "0", count: 400) + "1"        // 1e-401
        #expect(code(ts(huge)) == .invalidTimestamp)
        #expect(code(ts(tiny)) == .invalidTimestamp)
        #expect(code(ts("0." + String(repeating: "0", count: 400))) == nil)  // an exact zero
    }

    @Test func rejectionsNameTheFile() {
        let r = timestampOutcome(Array("x".utf8), file: .installationStart)
        #expect(r == .failure(Rejection(.invalidTimestamp, file: .installationStart,
                                        "expected a digit: byte 0x78 at offset 0")))
    }
}
