// Target: the frames of the GitHub process's pipes (WorkerProtocol/EnrichmentProtocol.swift),
// above all the supervisor's reading of the process's answer, the trust boundary. Byte 0 mod 6:
//   0: the rest is an answer frame for EnrichmentAnswer(frame:);
//   1: the rest builds an answer in code (kind and conclusion bytes as given, times near the
//      bounds of the believable range) whose frame is then read back;
//   2: the rest is a request frame for EnrichmentRequestFrame(frame:);
//   3: the rest builds a request frame (tag, run id, repository and runner bytes, lengths and
//      zero padding right) whose fields are judged by an independent reading;
//   4: the rest is a configuration message for EnrichmentConfiguration(message:);
//   5: the rest is a configuration message after a correct header (magic, revision, length).
// Invariants: an accepted answer is `isConsistent`, carries a conclusion code that decodes and
// believable times, and is byte-identical to its own frame (one spelling); a built answer is
// accepted exactly when it is consistent; the ready frame is never an answer. An accepted
// request encodes back to the same bytes and its fields pass the validators; a built request
// is accepted exactly when an independent reading of GitHub's syntax, UTF-8 and the runner
// name rules accepts it. A configuration never crashes the reader, an accepted one re-encodes
// to the same bytes with every field within its bounds.
import FuzzSupport
import MetricsDecoding
import WorkerProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let all = input(data, size)
    guard let mode = all.first else { return 0 }
    let rest = Array(all[1...])
    switch mode % 6 {
    case 0: checkAnswer(rest)
    case 1: checkBuiltAnswer(rest)
    case 2: checkRequest(rest)
    case 3: checkBuiltRequest(rest)
    case 4: checkConfiguration(rest)
    default:
        var message: [UInt8] = Array("RMGH".utf8) + le(EnrichmentConfiguration.revision) + le(UInt32(truncatingIfNeeded: rest.count + 12))
        message += rest
        checkConfiguration(message)
    }
    return 0
}

func le(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }

func byte(_ b: [UInt8], _ i: Int) -> UInt8 { i < b.count ? b[i] : 0 }

// MARK: - Answers

func checkAnswer(_ frame: [UInt8]) {
    guard let answer = EnrichmentAnswer(frame: frame) else { return }
    check(frame.count == EnrichmentAnswer.size, "accepted an answer of \(frame.count) bytes")
    check(answer.isConsistent, "accepted an inconsistent answer")
    check(answer.frame == frame, "accepted answer is not the frame it encodes to")
    check(frame != EnrichmentAnswer.readyFrame, "the ready frame read as an answer")
    switch answer.kind {
    case .enriched:
        // What the supervisor then does with it: a conclusion code that decodes, times whose
        // difference cannot overflow and is at most the longest queue believed.
        guard case .some = JobConclusion.decode(code: answer.conclusionCode) else {
            violation("accepted conclusion code \(answer.conclusionCode) that decodes to nothing")
        }
        let range = EnrichmentAnswer.earliestTime...EnrichmentAnswer.latestTime
        check(range.contains(answer.createdAt) && range.contains(answer.startedAt), "accepted times out of range")
        let (queue, overflow) = answer.startedAt.subtractingReportingOverflow(answer.createdAt)
        check(!overflow && queue <= EnrichmentAnswer.maxQueueMicroseconds, "accepted queue time \(queue)")
        check(answer.status == 0, "enriched answer with a status")
    case .httpOther:
        check((100...599).contains(answer.status) && ![200, 401, 403, 404].contains(answer.status),
              "accepted httpOther status \(answer.status)")
        check(answer.conclusionCode == 0 && answer.createdAt == 0 && answer.startedAt == 0, "httpOther with other fields")
    default:
        check(answer.conclusionCode == 0 && answer.status == 0 && answer.createdAt == 0 && answer.startedAt == 0,
              "\(answer.kind) answer with fields set")
    }
}

/// Times near the edges: an anchor (the range's ends, 0, the Int64 extremes, an honest time)
/// plus a signed delta of up to 2^39 microseconds (about 6 days).
func time(_ b: [UInt8], _ at: Int) -> Int64 {
    let anchors: [Int64] = [EnrichmentAnswer.earliestTime, EnrichmentAnswer.latestTime, 0, .min, .max,
                            1_704_164_645_000_000, EnrichmentAnswer.earliestTime + EnrichmentAnswer.maxQueueMicroseconds,
                            EnrichmentAnswer.latestTime - EnrichmentAnswer.maxQueueMicroseconds]
    let anchor = anchors[Int(byte(b, at)) % anchors.count]
    var delta: Int64 = 0
    for i in 1...5 { delta = delta << 8 | Int64(byte(b, at + i)) }
    delta = byte(b, at) & 0x80 != 0 ? -delta : delta
    return anchor.addingReportingOverflow(delta).partialValue
}

func checkBuiltAnswer(_ b: [UInt8]) {
    let tag = UInt32(byte(b, 0)) | UInt32(byte(b, 1)) << 8 | UInt32(byte(b, 2)) << 16 | UInt32(byte(b, 3)) << 24
    guard let kind = EnrichmentAnswer.Kind(rawValue: 1 + byte(b, 4) % 13) else { violation("kind") }
    let created = time(b, 7)
    // Started: its own anchor, or created plus a delta (a queue near the longest believed).
    let started = byte(b, 13) & 1 == 0 ? time(b, 14)
        : created.addingReportingOverflow(EnrichmentAnswer.maxQueueMicroseconds + Int64(Int8(bitPattern: byte(b, 14)))).partialValue
    let flags = byte(b, 20)
    let answer = EnrichmentAnswer(tag: tag, kind: kind, conclusionCode: flags & 1 != 0 ? byte(b, 5) : byte(b, 5) % 8,
                                  status: flags & 2 != 0 ? UInt16(byte(b, 6)) | UInt16(byte(b, 21)) << 8 : 0,
                                  createdAt: flags & 4 != 0 || kind == .enriched ? created : 0,
                                  startedAt: flags & 8 != 0 || kind == .enriched ? started : 0)
    let frame = answer.frame
    check(frame.count == EnrichmentAnswer.size, "answer frame of \(frame.count) bytes")
    let back = EnrichmentAnswer(frame: frame)
    check(back == (answer.isConsistent ? answer : nil), "built answer: accepted \(back != nil), consistent \(answer.isConsistent)")
    if answer.kind == .enriched, answer.conclusionCode <= EnrichmentAnswer.maxConclusionCode, answer.status == 0 {
        check(answer.isConsistent == EnrichmentAnswer.plausible(createdAt: answer.createdAt, startedAt: answer.startedAt),
              "enriched answer consistency is not the plausibility of its times")
        let range = EnrichmentAnswer.earliestTime...EnrichmentAnswer.latestTime
        let believable = range.contains(answer.createdAt) && range.contains(answer.startedAt)
            && answer.startedAt - answer.createdAt <= EnrichmentAnswer.maxQueueMicroseconds
        check(believable == answer.isConsistent, "plausible() disagrees with the range and queue bound")
    }
    checkAnswer(frame)
}

// MARK: - Requests

func checkRequest(_ frame: [UInt8]) {
    guard let request = EnrichmentRequestFrame(frame: frame) else { return }
    check(frame.count == EnrichmentRequestFrame.size, "accepted a request of \(frame.count) bytes")
    check(request.frame == frame, "accepted request is not the frame it encodes to")
    check(referenceRepository(Array(request.repository.utf8)), "accepted repository \(request.repository.debugDescription)")
    check(referenceRunnerName(Array(request.runnerName.utf8)), "accepted runner name \(request.runnerName.debugDescription)")
    check(request.workflowRunID >= 1 && request.workflowRunID <= UInt64(Int64.max), "accepted run id \(request.workflowRunID)")
}

/// Bytes: tag (4), run id (8), repository length (1, up to 255), runner length (2, LE, masked to
/// 9 bits), then the repository and runner bytes (zero-filled when short).
func checkBuiltRequest(_ b: [UInt8]) {
    let repoLength = Int(byte(b, 12))
    let runnerLength = (Int(byte(b, 13)) | Int(byte(b, 14)) << 8) & 0x1FF
    let repo = (0..<repoLength).map { byte(b, 15 + $0) }
    let runner = (0..<runnerLength).map { byte(b, 15 + repoLength + $0) }
    let field = EnrichmentRequestFrame.fieldSize
    var frame = Array(b.prefix(4)) + [UInt8](repeating: 0, count: max(0, 4 - b.count))
    frame += [UInt8(repoLength & 0xFF), UInt8(repoLength >> 8), UInt8(runnerLength & 0xFF), UInt8(runnerLength >> 8)]
    frame += (4..<12).map { byte(b, $0) }
    frame += repo + [UInt8](repeating: 0, count: field - repo.count)
    frame += runner.prefix(field) + [UInt8](repeating: 0, count: max(0, field - runner.count))
    let runID = (4..<12).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64(byte(b, $1)) }
    let expected = runnerLength <= field && referenceRepository(repo) && referenceRunnerName(runner)
        && runID >= 1 && runID <= UInt64(Int64.max)
    let decoded = EnrichmentRequestFrame(frame: frame)
    check((decoded != nil) == expected, "built request accepted \(decoded != nil), the reference reading says \(expected)")
    if let decoded {
        check(decoded.repository.utf8.elementsEqual(repo) && decoded.runnerName.utf8.elementsEqual(runner)
              && decoded.workflowRunID == runID, "built request decodes to other fields")
    }
    checkRequest(frame)
}

/// owner "/" name: owner 1-100 of [A-Za-z0-9_-] starting alphanumeric, name 1-100 of
/// [A-Za-z0-9._-], not "." or "..".
func referenceRepository(_ b: [UInt8]) -> Bool {
    guard let slash = b.firstIndex(of: 0x2F) else { return false }
    let owner = b[..<slash], name = b[(slash + 1)...]
    func alnum(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) }
    return (1...100).contains(owner.count) && (1...100).contains(name.count) && alnum(owner.first!)
        && owner.allSatisfy { alnum($0) || $0 == 0x2D || $0 == 0x5F }
        && name.allSatisfy { alnum($0) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E }
        && name != [0x2E] && name != [0x2E, 0x2E]
}

/// 1-255 bytes of well-formed UTF-8 (the stdlib's decoder repairs nothing) without C0 or DEL.
func referenceRunnerName(_ b: [UInt8]) -> Bool {
    (1...255).contains(b.count) && String(decoding: b, as: UTF8.self).utf8.elementsEqual(b)
        && b.allSatisfy { $0 >= 0x20 && $0 != 0x7F }
}

// MARK: - Configuration

func checkConfiguration(_ message: [UInt8]) {
    let announced = message.count >= EnrichmentConfiguration.headerSize
        ? EnrichmentConfiguration.messageLength(header: Array(message[0..<EnrichmentConfiguration.headerSize])) : nil
    guard let configuration = EnrichmentConfiguration(message: message) else { return }
    check(announced == message.count, "accepted a message whose header announces \(String(describing: announced))")
    check(configuration.message == message, "accepted configuration does not re-encode to the same bytes")
    let c = configuration
    check(c.port > 0 && (1...600_000).contains(c.requestTimeoutMilliseconds) && (1...100).contains(c.maxPages)
          && (1024...(1 << 20)).contains(c.maxHeaderBytes) && (1024...(64 << 20)).contains(c.maxBodyBytes)
          && (1...86_400).contains(c.cpuSeconds) && (16...4096).contains(c.addressSpaceHeadroomMiB),
          "accepted a field out of its bounds")
    check(!c.host.isEmpty && c.host.utf8.count <= EnrichmentConfiguration.maxHost
          && c.host.utf8.allSatisfy { $0 < 0x80 && $0 != 0x2F && $0 > 0x20 }, "accepted host \(c.host.debugDescription)")
    check(c.pathPrefix.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != 0x3F && $0 != 0x23 && $0 != 0x25 }
          && (c.pathPrefix.isEmpty || (c.pathPrefix.utf8.first == 0x2F && c.pathPrefix.utf8.last != 0x2F)),
          "accepted path prefix \(c.pathPrefix.debugDescription)")
    check(!c.token.isEmpty && c.token.count <= EnrichmentConfiguration.maxToken
          && c.token.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "accepted token bytes")
    check(!c.filter.isEmpty && c.filter.count % 8 == 0 && c.filter.count <= EnrichmentConfiguration.maxFilter,
          "accepted filter of \(c.filter.count) bytes")
    check(EnrichmentConfiguration(message: configuration.message) == configuration, "re-encoded configuration reads back differently")
}

@_cdecl("FuzzEnrichmentFrames_main")
public func FuzzEnrichmentFramesMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
