// Target: the GitHub process's reading of network bytes (GitHubAPI). Byte 0 selects the mode
// (low two bits) and its parameters (the other six):
//   0: an HTTP response for HTTPResponseParser under the bounds bits 2-4 (header) and 5-7
//      (body) pick. Byte 1 is the length n of a chunk stream, the next n bytes the stream
//      (each byte the size of one feed, 0 an empty feed; n = 0: byte by byte), the rest the
//      response. Fed whole and fed in those chunks: both readings must be the same (the same
//      refusal, or the same head, body, completeness and excess bytes).
//   1: a jobs page body for JobsPage.decode, then the job selection over it in pages of
//      1 + bits 2-3 jobs, at most 1 + bits 4-5 pages, for the runner named by the job that
//      bits 6-7 pick.
//   2: an RFC 3339 time for ISO8601.microseconds.
//   3: a response under the process's default bounds; a complete 200's body goes to mode 1.
// Invariants: the response's body never exceeds its bound and the header section never
// exceeds its bound; an accepted complete response is what an independent reading of the
// same bytes gives (Content-Length or chunked framing, the end of the response); a decoded
// page's times are what an independent RFC 3339 reading gives and lie in the range the
// grammar allows; the selection never reports `found` unless exactly one job it read names
// the runner (two are `ambiguous`); an answer built from a found job as the process builds it
// passes the supervisor's check; an accepted time is the independent reading's value and
// formatting it back (UTC, with and without fraction digits) parses to the same value.
import FuzzSupport
import GitHubAPI
import MetricsDecoding
import WorkerProtocol

let headerBounds = [16 << 10, 1024, 16, 64, 100, 256, 512, 2048]
let bodyBounds = [4 << 20, 1024, 0, 1, 16, 64, 256, 2048]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let all = input(data, size)
    guard let selector = all.first else { return 0 }
    let rest = UnsafeRawBufferPointer(rebasing: all[1...])
    switch selector & 3 {
    case 0:
        let maxHeader = headerBounds[Int(selector >> 2) & 7], maxBody = bodyBounds[Int(selector >> 5) & 7]
        let n = min(Int(rest.first ?? 0), max(rest.count - 1, 0))
        let stream = rest.count > 1 ? UnsafeRawBufferPointer(rebasing: rest[1..<(1 + n)]) : UnsafeRawBufferPointer(rebasing: rest[0..<0])
        let response = UnsafeRawBufferPointer(rebasing: rest[min(1 + n, rest.count)...])
        _ = checkResponse(response, stream: stream, maxHeader: maxHeader, maxBody: maxBody)
    case 1:
        checkPage(Array(rest), parameters: selector >> 2)
    case 2:
        checkTime(String(decoding: rest, as: UTF8.self))
    default:
        if let parser = checkResponse(rest, stream: nil, maxHeader: 16 << 10, maxBody: 4 << 20),
           parser.isComplete, parser.head?.status == 200 {
            checkPage(parser.body, parameters: selector >> 2)
        }
    }
    return 0
}

// MARK: - HTTP

struct Reading: Equatable {
    var head: HTTPResponseHead?
    var body: [UInt8]
    var complete: Bool
    var excess: Int
}

func reading(_ p: HTTPResponseParser) -> Reading {
    Reading(head: p.head, body: p.body, complete: p.isComplete, excess: p.excessBytes)
}

/// Parses `bytes` whole (and, with a stream, in its chunks), checks both readings agree and the
/// bounds and framing hold; the whole-fed parser unless it refused.
func checkResponse(_ bytes: UnsafeRawBufferPointer, stream: UnsafeRawBufferPointer?, maxHeader: Int, maxBody: Int)
    -> HTTPResponseParser? {
    var whole = HTTPResponseParser(maxHeaderBytes: maxHeader, maxBodyBytes: maxBody)
    var wholeFailure: HTTPFailure?
    do throws(HTTPFailure) { try whole.feed(bytes) } catch { wholeFailure = error }

    if let stream {
        var pieces = HTTPResponseParser(maxHeaderBytes: maxHeader, maxBodyBytes: maxBody)
        var piecesFailure: HTTPFailure?
        var at = 0, s = 0
        while at < bytes.count, piecesFailure == nil {
            var n = 1
            if !stream.isEmpty {
                n = Int(stream[s % stream.count])
                s += 1
            }
            do throws(HTTPFailure) {
                if n == 0 {
                    try pieces.feed(UnsafeRawBufferPointer(rebasing: bytes[at..<at]))
                    n = 1
                }
                let end = min(at + n, bytes.count)
                try pieces.feed(UnsafeRawBufferPointer(rebasing: bytes[at..<end]))
                at = end
            } catch {
                piecesFailure = error
            }
        }
        check(piecesFailure == wholeFailure,
              "incremental refusal \(String(describing: piecesFailure)) != whole \(String(describing: wholeFailure))")
        if wholeFailure == nil {
            check(reading(pieces) == reading(whole), "incremental reading differs from the whole reading")
        }
    }

    check(whole.body.count <= maxBody, "body of \(whole.body.count) bytes over the bound \(maxBody)")
    if case .malformed(let why)? = wholeFailure { check(!why.isEmpty, "empty refusal detail") }
    if wholeFailure != nil { return nil }
    guard let head = whole.head else {
        check(!whole.isComplete && whole.body.isEmpty && whole.excessBytes == 0, "no head but a body or completeness")
        check(bytes.count <= maxHeader, "a header section past its bound still pending")
        return whole
    }
    // The header section: up to the first CRLF CRLF, within its bound.
    guard let headEnd = firstBlankLine(bytes) else { violation("a head without CRLF CRLF in the bytes") }
    check(headEnd <= maxHeader, "header section of \(headEnd) bytes over the bound \(maxHeader)")
    check((200...599).contains(head.status), "status \(head.status)")
    check(head.status == Int(bytes[9] - 0x30) * 100 + Int(bytes[10] - 0x30) * 10 + Int(bytes[11] - 0x30),
          "status is not the status line's digits")
    if bytes[5] == UInt8(ascii: "1") && bytes[7] == UInt8(ascii: "0") { check(!head.keepAlive, "HTTP/1.0 kept alive") }
    check(!(head.chunked && head.contentLength != nil), "both chunked and Content-Length")
    let consumed = bytes.count - whole.excessBytes
    check(whole.excessBytes == 0 || whole.isComplete, "excess bytes before the response is complete")
    if head.status == 204 || head.status == 304 {
        check(whole.isComplete && whole.body.isEmpty && consumed == headEnd, "a 204/304 with a body")
    } else if let length = head.contentLength {
        check(length <= maxBody, "Content-Length \(length) over the bound accepted")
        let available = min(length, bytes.count - headEnd)
        check(whole.body.elementsEqual(bytes[headEnd..<(headEnd + available)]), "body is not the bytes after the head")
        check(whole.isComplete == (available == length), "completeness disagrees with Content-Length")
        if whole.isComplete { check(consumed == headEnd + length, "response end is not head + Content-Length") }
    } else {
        check(head.chunked, "a body framed by nothing accepted")
        if whole.isComplete {
            guard let (body, end) = referenceChunked(bytes, from: headEnd) else {
                violation("a complete chunked response the reference reading refuses")
            }
            check(body == whole.body, "chunked body differs from the reference reading")
            check(end == consumed, "chunked response ends at \(consumed), the reference at \(end)")
        }
    }
    return whole
}

func firstBlankLine(_ b: UnsafeRawBufferPointer) -> Int? {
    var i = 0
    while i + 4 <= b.count {
        if b[i] == 0x0D && b[i + 1] == 0x0A && b[i + 2] == 0x0D && b[i + 3] == 0x0A { return i + 4 }
        i += 1
    }
    return nil
}

/// Chunked coding as RFC 9112 section 7.1 has it, without extensions: (1-8 HEXDIG CRLF data CRLF)*
/// then a zero-size line, trailer lines, CRLF. The body and the offset after the response.
func referenceChunked(_ b: UnsafeRawBufferPointer, from start: Int) -> ([UInt8], Int)? {
    func line(_ at: Int) -> (Int, Int)? {  // (end of content, offset after CRLF)
        var i = at
        while i + 1 < b.count {
            if b[i] == 0x0D && b[i + 1] == 0x0A { return (i, i + 2) }
            i += 1
        }
        return nil
    }
    var at = start
    var body: [UInt8] = []
    while true {
        guard let (end, next) = line(at), (1...8).contains(end - at) else { return nil }
        var size = 0
        for i in at..<end {
            guard let v = Int(String(UnicodeScalar(b[i])), radix: 16) else { return nil }
            size = size * 16 + v
        }
        at = next
        if size == 0 { break }
        guard at + size + 2 <= b.count, b[at + size] == 0x0D, b[at + size + 1] == 0x0A else { return nil }
        body += b[at..<(at + size)]
        at += size + 2
    }
    while true {  // trailer lines (ignored) up to the empty line
        guard let (end, next) = line(at) else { return nil }
        let empty = end == at
        at = next
        if empty { return (body, at) }
    }
}

// MARK: - Jobs page and selection

/// The grammar's range: 0001-01-01T00:00:00+23:59 to 9999-12-31T23:59:59.999999-23:59.
let earliestRFC3339: Int64 = (-62_135_596_800 - 86_340) * 1_000_000
let latestRFC3339: Int64 = (253_402_300_799 + 86_340) * 1_000_000 + 999_999

func checkPage(_ body: [UInt8], parameters: UInt8) {
    let page: JobsPage
    do throws(JobsPageError) { page = try JobsPage.decode(body) } catch {
        check(!error.description.isEmpty, "empty page refusal")
        return
    }
    check((0...JobsPage.maxTotalCount).contains(page.totalCount), "total_count \(page.totalCount)")
    // The same bytes read independently: the jobs array, each job's runner name and times.
    let parsed: Result<JSONValue, Rejection> = body.withUnsafeBytes { b in outcome { () throws(Rejection) in try StrictJSON.parse(b) } }
    guard case .success(.object(let members)) = parsed,
          case .array(let elements)? = members.first(where: { same($0.key, "jobs") })?.value,
          elements.count == page.jobs.count
    else { violation("decoded page whose JSON has no jobs array of as many jobs") }
    for (job, element) in zip(page.jobs, elements) {
        guard case .object(let fields) = element else { violation("decoded job that is not an object") }
        func field(_ k: String) -> JSONValue? { fields.first(where: { same($0.key, k) })?.value }
        func time(_ k: String) -> Int64? {
            if case .string(let t)? = field(k) { return referenceMicroseconds(Array(t.utf8)) }
            return nil
        }
        switch field("runner_name") {
        case .string(let name)?: check(job.runnerName.map { same($0, name) } == true, "runner_name does not read back")
        default: check(job.runnerName == nil, "runner_name null read as a name")
        }
        check(time("created_at") == job.createdAt, "created_at differs from the reference reading")
        check(time("started_at") == job.startedAt, "started_at differs from the reference reading")
        for t in [job.createdAt, job.startedAt] {
            check((earliestRFC3339...latestRFC3339).contains(t), "job time \(t) outside the RFC 3339 range")
        }
        if case .string(let c)? = field("conclusion") {
            check(job.conclusion.map { same($0.rawValue, c) } == true, "conclusion does not read back")
        } else {
            check(job.conclusion == nil, "conclusion null read as a value")
        }
    }
    checkSelection(page, parameters: parameters)
}

/// Feeds the page's jobs to a selection in pages of `perPage` (page 1 carries the decoded
/// total_count) and checks its outcome against a count of the jobs it read.
func checkSelection(_ page: JobsPage, parameters: UInt8) {
    let perPage = 1 + Int(parameters & 3), maxPages = 1 + Int((parameters >> 2) & 3)
    let pick = Int(parameters >> 4)
    let name = page.jobs.isEmpty ? "r" : (page.jobs[pick % page.jobs.count].runnerName ?? "r")
    var selection = JobSelection(runnerName: name, perPage: perPage, maxPages: maxPages)
    var read: [WorkflowJob] = []
    while case .fetch(let number) = selection.next {
        let start = min((number - 1) * perPage, page.jobs.count)
        let jobs = Array(page.jobs[start..<min(start + perPage, page.jobs.count)])
        let step = selection.add(JobsPage(totalCount: number == 1 ? page.totalCount : page.jobs.count, jobs: jobs))
        // A page refused before its jobs are looked at: too many jobs at once by total_count.
        if number == 1, step == .finished(.tooManyPages) { break }
        read += jobs
        check(number <= maxPages, "page \(number) asked for, beyond \(maxPages)")
    }
    guard case .finished(let result) = selection.next else { violation("selection not finished") }
    let named = read.filter { $0.runnerName.map { $0.utf8.elementsEqual(name.utf8) } ?? false }
    switch result {
    case .found(let job):
        check(named.count == 1, "found with \(named.count) jobs naming the runner")
        check(named.first == job, "found a job other than the one naming the runner")
        // What the process answers for it, when believable, passes the supervisor's check.
        if EnrichmentAnswer.plausible(createdAt: job.createdAt, startedAt: job.startedAt) {
            let answer = EnrichmentAnswer(tag: 1, kind: .enriched, conclusionCode: job.conclusion?.code ?? 0,
                                          createdAt: job.createdAt, startedAt: job.startedAt)
            check(EnrichmentAnswer(frame: answer.frame) == answer, "the process's answer for a found job is refused")
        }
    case .ambiguous:
        check(named.count >= 2, "ambiguous with \(named.count) jobs naming the runner")
    case .notFound:
        check(named.isEmpty, "notFound with \(named.count) jobs naming the runner")
    case .tooManyPages:
        check(named.count <= 1, "tooManyPages after two jobs naming the runner")
    case .malformed:
        violation("malformed for pages of at most perPage jobs")
    }
}

// MARK: - RFC 3339 times

/// `YYYY-MM-DDTHH:MM:SS[.1*6DIGIT](Z|(+|-)HH:MM)` read another way: a shape check against a
/// pattern, then days counted from 0001-01-01 with the Gregorian leap rule.
func referenceMicroseconds(_ b: [UInt8]) -> Int64? {
    let pattern = Array("dddd-dd-ddTdd:dd:dd".utf8)
    guard b.count >= 20 else { return nil }
    for (p, c) in zip(pattern, b) {
        if p == UInt8(ascii: "d") { guard (0x30...0x39).contains(c) else { return nil } } else { guard p == c else { return nil } }
    }
    func num(_ r: Range<Int>) -> Int { r.reduce(0) { $0 * 10 + Int(b[$1] - 0x30) } }
    var tail = Array(b[19...])
    var micros = 0
    if tail.first == UInt8(ascii: ".") {
        let digits = tail.dropFirst().prefix { (0x30...0x39).contains($0) }
        guard (1...6).contains(digits.count) else { return nil }
        micros = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        for _ in digits.count..<6 { micros *= 10 }
        tail.removeFirst(1 + digits.count)
    }
    var offset = 0
    if tail == [UInt8(ascii: "Z")] {
    } else if tail.count == 6, tail[0] == UInt8(ascii: "+") || tail[0] == UInt8(ascii: "-"), tail[3] == UInt8(ascii: ":"),
              [1, 2, 4, 5].allSatisfy({ (0x30...0x39).contains(tail[$0]) }) {
        let h = Int(tail[1] - 0x30) * 10 + Int(tail[2] - 0x30), m = Int(tail[4] - 0x30) * 10 + Int(tail[5] - 0x30)
        guard h <= 23, m <= 59 else { return nil }
        offset = (h * 60 + m) * 60 * (tail[0] == UInt8(ascii: "-") ? -1 : 1)
    } else {
        return nil
    }
    let y = num(0..<4), mo = num(5..<7), d = num(8..<10), h = num(11..<13), mi = num(14..<16), s = num(17..<19)
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
    let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    guard y >= 1, (1...12).contains(mo), (1...lengths[mo - 1]).contains(d), h <= 23, mi <= 59, s <= 59 else { return nil }
    let before = y - 1
    let days = 365 * before + before / 4 - before / 100 + before / 400 + lengths[0..<(mo - 1)].reduce(0, +) + d - 1 - 719_162
    return (Int64(days) * 86_400 + Int64(h * 3600 + mi * 60 + s - offset)) * 1_000_000 + Int64(micros)
}

/// UTC text of `v` (nil outside years 1-9999): six fraction digits, or as few as the value needs.
func format(_ v: Int64, shortest: Bool) -> String? {
    let (q, r) = v.quotientAndRemainder(dividingBy: 1_000_000)
    let seconds = r < 0 ? q - 1 : q, micros = r < 0 ? r + 1_000_000 : r
    let (dq, dr) = seconds.quotientAndRemainder(dividingBy: 86_400)
    let days = dr < 0 ? dq - 1 : dq, secondOfDay = Int(dr < 0 ? dr + 86_400 : dr)
    // Howard Hinnant's civil_from_days.
    let z = Int(days) + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    guard (1...9999).contains(year) else { return nil }
    func pad(_ n: Int, _ w: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, w - s.count)) + s
    }
    var text = pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(secondOfDay / 3600, 2) + ":"
        + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
    var fraction = pad(Int(micros), 6)
    if shortest { while fraction.last == "0" { fraction.removeLast() } }
    if !fraction.isEmpty { text += "." + fraction }
    return text + "Z"
}

func checkTime(_ text: String) {
    let value = ISO8601.microseconds(text)
    check(value == referenceMicroseconds(Array(text.utf8)), "ISO8601 gives \(String(describing: value)), the reference reading differs")
    check(ISO8601.microseconds(text) == value, "the same text read twice gives two values")
    guard let value else { return }
    check((earliestRFC3339...latestRFC3339).contains(value), "time \(value) outside the RFC 3339 range")
    for shortest in [false, true] {
        if let back = format(value, shortest: shortest) {
            check(ISO8601.microseconds(back) == value, "\(back) (formatted from \(value)) does not parse back")
        }
    }
}

@_cdecl("FuzzGitHubResponse_main")
public func FuzzGitHubResponseMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
