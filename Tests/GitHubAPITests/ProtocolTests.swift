import MetricsDecoding
import Testing
@testable import WorkerProtocol

// The frames both sides of the GitHub process's pipes use: each encodes and decodes to
// itself, and every field the decoder checks is refused when wrong.

let sampleConfiguration = EnrichmentConfiguration(
    scheme: .https, host: "api.github.com", port: 443, pathPrefix: "/api/v3", token: Array("ghp_secret".utf8),
    certificates: Array("-----BEGIN CERTIFICATE-----\n".utf8), filter: [UInt8](repeating: 6, count: 16),
    requestTimeoutMilliseconds: 10_000, cpuSeconds: 70)

@Test func configurationRoundTrips() throws {
    let message = sampleConfiguration.message
    #expect(EnrichmentConfiguration.messageLength(header: Array(message[0..<12])) == message.count)
    #expect(EnrichmentConfiguration(message: message) == sampleConfiguration)
}

@Test func configurationRefusesEveryBadField() {
    var message = sampleConfiguration.message
    #expect(EnrichmentConfiguration(message: message + [0]) == nil, "a byte after the last string")
    #expect(EnrichmentConfiguration(message: Array(message.dropLast())) == nil, "truncated")
    message[4] = 2  // another revision
    #expect(EnrichmentConfiguration(message: message) == nil)
    var http = sampleConfiguration
    http.scheme = .http
    #expect(EnrichmentConfiguration(message: http.message)?.scheme == .http)
    var badScheme = sampleConfiguration.message
    badScheme[12] = 2
    #expect(EnrichmentConfiguration(message: badScheme) == nil)
    for mutate in [
        { (c: inout EnrichmentConfiguration) in c.host = "api.github.com/evil" },
        { $0.host = "" },
        { $0.pathPrefix = "api/v3" },
        { $0.pathPrefix = "/api/v3/" },
        { $0.pathPrefix = "/api?x" },
        { $0.token = Array("two words".utf8) },
        { $0.token = [] },
        { $0.filter = [1, 2, 3] },
        { $0.filter = [] },
        { $0.requestTimeoutMilliseconds = 0 },
        { $0.maxPages = 0 },
        { $0.maxPages = 101 },
        { $0.cpuSeconds = 0 },
        { $0.port = 0 },
    ] as [(inout EnrichmentConfiguration) -> Void] {
        var configuration = sampleConfiguration
        mutate(&configuration)
        #expect(EnrichmentConfiguration(message: configuration.message) == nil, "\(configuration)")
    }
}

@Test func requestFrameRoundTripsAndRefusesBadFields() throws {
    let request = EnrichmentRequestFrame(tag: 7, repository: "octo-org/hello.world_1", workflowRunID: 9_876_543_210,
                                         runnerName: "runner ü 1")
    let frame = try #require(request.frame)
    #expect(frame.count == EnrichmentRequestFrame.size)
    #expect(EnrichmentRequestFrame(frame: frame) == request)
    var padded = frame
    padded[16 + 30] = 1  // a byte in the repository field's padding
    #expect(EnrichmentRequestFrame(frame: padded) == nil)
    var long = frame
    long[4] = 0x01; long[5] = 0x01  // repository length 257
    #expect(EnrichmentRequestFrame(frame: long) == nil)
    var zeroID = frame
    for index in 8..<16 { zeroID[index] = 0 }
    #expect(EnrichmentRequestFrame(frame: zeroID) == nil)
    #expect(EnrichmentRequestFrame(frame: Array(frame.dropLast())) == nil)
    var badUTF8 = frame
    badUTF8[16 + EnrichmentRequestFrame.fieldSize] = 0xFF  // first byte of the runner name
    #expect(EnrichmentRequestFrame(frame: badUTF8) == nil)
    #expect(EnrichmentRequestFrame(tag: 1, repository: "o/r", workflowRunID: 1, runnerName: "a\nb").frame == nil)
    #expect(EnrichmentRequestFrame(tag: 1, repository: "o/r", workflowRunID: 1,
                                   runnerName: String(repeating: "x", count: 256)).frame == nil)
}

@Test(arguments: [
    ("octo/hello", true), ("octo-org/hello.world", true), ("a/b", true), ("user_corp/repo", true),
    ("-octo/r", false), ("_octo/r", false), ("octo/.", false), ("octo/..", false), ("octo", false),
    ("octo/r/x", false), ("/r", false), ("o/", false), ("o/r?x=1", false), ("o/r%2F", false), ("o/r ", false),
    ("ö/r", false),
])
func repositorySyntax(repository: String, valid: Bool) {
    #expect(EnrichmentRequestFrame.isValidRepository(repository) == valid)
}

@Test func runIDsAreDecimalPositiveInt64() {
    #expect(EnrichmentRequestFrame.runID(decimal: "1") == 1)
    #expect(EnrichmentRequestFrame.runID(decimal: "9223372036854775807") == UInt64(Int64.max))
    for bad in ["", "0", "01", "-1", "+1", "1.0", " 1", "9223372036854775808", "99999999999999999999", "1e3", "١"] {
        #expect(EnrichmentRequestFrame.runID(decimal: bad) == nil, "\(bad)")
    }
}

@Test func answerFrameRoundTripsAndIsValidatedField_by_field() {
    let enriched = EnrichmentAnswer(tag: 3, kind: .enriched, conclusionCode: 7, createdAt: 1_704_164_645_000_000,
                                    startedAt: 1_704_164_657_500_000)
    #expect(enriched.frame.count == EnrichmentAnswer.size)
    #expect(EnrichmentAnswer(frame: enriched.frame) == enriched)
    let other = EnrichmentAnswer(tag: 4, kind: .httpOther, status: 502)
    #expect(EnrichmentAnswer(frame: other.frame) == other)
    for kind in EnrichmentAnswer.Kind.allCases where kind != .enriched && kind != .httpOther {
        #expect(EnrichmentAnswer(frame: EnrichmentAnswer(tag: 1, kind: kind).frame)?.kind == kind)
        #expect(EnrichmentAnswer(frame: EnrichmentAnswer(tag: 1, kind: kind, status: 500).frame) == nil)
        #expect(EnrichmentAnswer(frame: EnrichmentAnswer(tag: 1, kind: kind, conclusionCode: 1).frame) == nil)
        #expect(EnrichmentAnswer(frame: EnrichmentAnswer(tag: 1, kind: kind, createdAt: 1).frame) == nil)
    }
    var unknownKind = enriched.frame
    unknownKind[4] = 14
    #expect(EnrichmentAnswer(frame: unknownKind) == nil)
    var unknownCode = enriched
    unknownCode.conclusionCode = 8
    #expect(EnrichmentAnswer(frame: unknownCode.frame) == nil)
    var early = enriched
    early.createdAt = EnrichmentAnswer.earliestTime - 1
    #expect(EnrichmentAnswer(frame: early.frame) == nil)
    var late = enriched
    late.startedAt = EnrichmentAnswer.latestTime + 1
    #expect(EnrichmentAnswer(frame: late.frame) == nil)
    for status: UInt16 in [0, 99, 200, 401, 403, 404, 600] {
        #expect(EnrichmentAnswer(frame: EnrichmentAnswer(tag: 1, kind: .httpOther, status: status).frame) == nil, "\(status)")
    }
    #expect(EnrichmentAnswer(frame: Array(enriched.frame.dropLast())) == nil)
    #expect(EnrichmentAnswer(frame: EnrichmentAnswer.readyFrame) == nil, "the ready frame is never an answer")
}

@Test func conclusionCodesRoundTripAndGitHubStringsAreExact() {
    for conclusion in JobConclusion.allCases {
        #expect(JobConclusion.decode(code: conclusion.code) == .some(conclusion))
        #expect(JobConclusion(exactly: conclusion.rawValue) == conclusion)
    }
    #expect(JobConclusion.decode(code: 0) == .some(nil))
    #expect(JobConclusion.decode(code: 8) == nil)
    #expect(Set(JobConclusion.allCases.map(\.code)) == Set(1...EnrichmentAnswer.maxConclusionCode))
    #expect(JobConclusion.allCases.map(\.rawValue)
        == ["success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required"])
    #expect(JobConclusion(exactly: "Success") == nil)
    #expect(JobConclusion(exactly: "stale") == nil)
}

@Test func clientIdentityIsOutsideTheWorkersRange() {
    #expect(GitHubClientIdentity.id == WorkerIdentity.base - 1)
    #expect(!(0..<WorkerIdentity.count).map { WorkerIdentity.id(forSlot: $0) }.contains(GitHubClientIdentity.id))
}
