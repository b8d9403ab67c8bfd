// Shared by every fuzz target: the invariants each target checks on top of "no crash".
// A violated invariant traps (`violation`), which libFuzzer records as a crash and saves
// the input as an artifact; run.sh puts those under Security/fuzz/findings/.

import MetricsDecoding

/// Stops the process with a message libFuzzer prints next to the reproducer.
public func violation(_ what: String, file: StaticString = #file, line: UInt = #line) -> Never {
    fatalError("FUZZ INVARIANT VIOLATED: \(what)", file: file, line: line)
}

@inline(__always)
public func check(_ condition: Bool, _ what: @autoclosure () -> String,
                  file: StaticString = #file, line: UInt = #line) {
    if !condition { violation(what(), file: file, line: line) }
}

/// The libFuzzer input as a buffer of exactly `size` bytes (ASan sees any read past it).
@inline(__always)
public func input(_ data: UnsafePointer<UInt8>, _ size: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: UnsafeRawPointer(data), count: size)
}

/// Byte-exact string equality (Swift's `==` is canonical equivalence).
@inline(__always)
public func same(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }

/// Printable ASCII only, at most `Rejection.maxDetailBytes` bytes.
public func isCleanDetail(_ s: String) -> Bool {
    var n = 0
    for b in s.utf8 {
        if b < 0x20 || b > 0x7E { return false }
        n += 1
    }
    return n <= Rejection.maxDetailBytes
}

/// Codes a file decoder (and the worker's reader) may produce.
public let decoderCodes: Set<ReasonCode> = [
    .fileTooLarge, .invalidEncoding, .invalidJSON, .duplicateKey, .unknownField, .missingField, .invalidValue,
]

/// Every rejection: a code from `allowed`, the expected file, a non-empty clean detail, and it
/// survives the worker frame unchanged (decode(encode(x)) == x).
public func checkRejection(_ r: Rejection, file: RunnerFile?, allowed: Set<ReasonCode>,
                           source: StaticString = #file, line: UInt = #line) {
    check(allowed.contains(r.code), "unexpected code \(r.code.rawValue): \(r.detail)", file: source, line: line)
    check(r.file == file, "rejection names file \(String(describing: r.file)), expected \(String(describing: file))",
          file: source, line: line)
    check(!r.detail.isEmpty, "empty detail for \(r.code.rawValue)", file: source, line: line)
    check(isCleanDetail(r.detail), "detail not clean printable ASCII <= 200 bytes", file: source, line: line)
    if r.code.isWorkerReportable {
        checkFrameRoundTrip(.rejected(r), source: source, line: line)
    }
}

/// decode(encode(x)) == x, the frame stays within the size limit, and its header is "RMF2"
/// with the payload length (u32 big-endian) of what follows.
public func checkFrameRoundTrip(_ verdict: WorkerVerdict, source: StaticString = #file, line: UInt = #line) {
    let frame = Frame.encode(verdict)
    check(frame.count <= Frame.maxSize, "frame of \(frame.count) bytes exceeds Frame.maxSize", file: source, line: line)
    check(frame.count >= 8 && frame[0..<4].elementsEqual("RMF2".utf8), "frame does not start with RMF2", file: source, line: line)
    check(frame.count >= 8 && Int(frame[4]) << 24 | Int(frame[5]) << 16 | Int(frame[6]) << 8 | Int(frame[7]) == frame.count - 8,
          "frame header length is not the payload's", file: source, line: line)
    let back: Result<WorkerVerdict, Rejection> = frame.withUnsafeBytes { buffer in
        do throws(Rejection) { return .success(try Frame.decode(buffer)) } catch { return .failure(error) }
    }
    switch back {
    case .success(let v):
        check(v == verdict, "Frame.decode(Frame.encode(x)) != x", file: source, line: line)
        // One spelling: re-encoding the decoded verdict gives the same bytes.
        check(Frame.encode(v) == frame, "re-encoded frame differs", file: source, line: line)
    case .failure(let e):
        violation("Frame.decode refused our own frame: \(e.code.rawValue) \(e.detail)", file: source, line: line)
    }
}

/// An accepted record: timestamps finite and >= 0 (never -0.0), strings without NUL and
/// together no longer than a runner file holds, the repository shaped owner/repo, the frame
/// round trip, and the event lines re-parse with
/// the strict parser to the same values.
public func checkRecord(_ record: RunnerRecord, source: StaticString = #file, line: UInt = #line) {
    func ts(_ v: Double?, _ name: String) {
        guard let v else { return }
        check(v.isFinite && v >= 0 && v.sign == .plus, "\(name) timestamp \(v) not a non-negative finite", file: source, line: line)
    }
    ts(record.installationStart, "installation start")
    ts(record.installed, "installed")
    if let pre = record.preJob {
        ts(pre.timestamp, "pre-job")
        for s in [pre.workflow, pre.repository, pre.event, pre.workflowRunID] {
            check(!s.utf8.contains(0), "record string contains NUL", file: source, line: line)
        }
        check(!pre.repository.utf8.contains(0x0A) && pre.repository.utf8.dropFirst().dropLast().contains(UInt8(ascii: "/")),
              "repository does not match ^.+/.+$", file: source, line: line)
        // What one runner file can hold: 1024 bytes less the 77 of the shortest rest.
        let stringBytes = [pre.workflow, pre.repository, pre.event, pre.workflowRunID].reduce(0) { $0 + $1.utf8.count }
        check(stringBytes <= runnerFileSizeLimit - 77, "pre-job strings of \(stringBytes) bytes", file: source, line: line)
    }
    if let post = record.postJob { ts(post.timestamp, "post-job") }
    checkFrameRoundTrip(.valid(record), source: source, line: line)
    checkEvents(record, source: source, line: line)
}

/// The event lines: one line each ending in LF, valid strict JSON, and reading back the
/// same timestamps and strings the record holds.
public func checkEvents(_ record: RunnerRecord, source: StaticString = #file, line: UInt = #line) {
    let events = MetricEvent.events(for: record)
    if record.installed == nil { check(events.isEmpty, "events without an installed timestamp", file: source, line: line) }
    for event in events {
        let text = event.jsonLine(flavor: "fuzz")
        let bytes = Array(text.utf8)
        check(bytes.last == 0x0A && bytes.filter({ $0 == 0x0A }).count == 1, "event line is not one LF-terminated line",
              file: source, line: line)
        check(bytes.allSatisfy { $0 < 0x80 }, "event line is not ASCII (ensure_ascii)", file: source, line: line)
        let parsed: Result<JSONValue, Rejection> = bytes.dropLast().withUnsafeBytes { b in
            do throws(Rejection) { return .success(try StrictJSON.parse(b)) } catch { return .failure(error) }
        }
        guard case .success(.object(let members)) = parsed else {
            violation("event line does not parse as a JSON object: \(parsed)", file: source, line: line)
        }
        func member(_ k: String) -> JSONValue? { members.first(where: { same($0.key, k) })?.value }
        func number(_ k: String) -> Double? {
            if case .number(let n)? = member(k) { return n.value }
            return nil
        }
        func string(_ k: String) -> String? {
            if case .string(let s)? = member(k) { return s }
            return nil
        }
        switch event {
        case let .runnerInstalled(timestamp, _):
            check(number("timestamp") == timestamp, "runner_installed timestamp does not read back", file: source, line: line)
        case let .runnerStart(timestamp, workflow, repo, githubEvent, _, _):
            check(number("timestamp") == timestamp, "runner_start timestamp does not read back", file: source, line: line)
            check(string("workflow").map { same($0, workflow) } == true, "workflow does not read back", file: source, line: line)
            check(string("repo").map { same($0, repo) } == true, "repo does not read back", file: source, line: line)
            check(string("github_event").map { same($0, githubEvent) } == true, "github_event does not read back",
                  file: source, line: line)
        case let .runnerStop(timestamp, workflow, _, _, status, code, _, _):
            check(number("timestamp") == timestamp, "runner_stop timestamp does not read back", file: source, line: line)
            check(string("workflow").map { same($0, workflow) } == true, "workflow does not read back", file: source, line: line)
            check(string("status").map { same($0, status.rawValue) } == true, "status does not read back", file: source, line: line)
            if let code {
                guard case .object(let info)? = member("status_info"), info.count == 1,
                      case .number(let n) = info[0].value else {
                    violation("status_info does not read back", file: source, line: line)
                }
                check(n.isInteger && n.lexeme == String(code), "status_info.code does not read back", file: source, line: line)
            } else {
                check(member("status_info") == nil, "status_info present without a code", file: source, line: line)
            }
        }
    }
}

/// Splits a fuzz input into the four runner files. Byte 0 is a presence mask (bit i set =
/// file i exists); the rest is cut at 0xFF bytes (never valid UTF-8, so no file loses a
/// meaningful byte) into up to four chunks, the last one taking everything left.
/// File order: installation start, installed, pre-job, post-job.
public func splitFour(_ buffer: UnsafeRawBufferPointer) -> (mask: UInt8, chunks: [UnsafeRawBufferPointer]) {
    guard let mask = buffer.first else { return (0, []) }
    var chunks: [UnsafeRawBufferPointer] = []
    var start = 1
    var i = 1
    while i < buffer.count && chunks.count < 3 {
        if buffer[i] == 0xFF {
            chunks.append(UnsafeRawBufferPointer(rebasing: buffer[start..<i]))
            start = i + 1
        }
        i += 1
    }
    chunks.append(UnsafeRawBufferPointer(rebasing: buffer[min(start, buffer.count)..<buffer.count]))
    while chunks.count < 4 { chunks.append(UnsafeRawBufferPointer(rebasing: buffer[buffer.count..<buffer.count])) }
    return (mask, chunks)
}

public let fileOrder: [RunnerFile] = [.installationStart, .installed, .preJob, .postJob]

/// Runs a throwing decode and captures the outcome.
@inline(__always)
public func outcome<T>(_ body: () throws(Rejection) -> T) -> Result<T, Rejection> {
    do throws(Rejection) { return .success(try body()) } catch { return .failure(error) }
}
