import Testing
@testable import MetricsDecoding

/// Runner files exactly as upstream's own writers leave them, and the exact event bytes upstream
/// writes for them. The expected lines are CPython's `json.dumps` of upstream's event dicts
/// (`float(max(a - b, 0))` for the clamped fields), not this encoder's output.
enum UpstreamShapes {
    /// `jq -n '{"workflow": $workflow, ...}' > pre-job-metrics.json`: two-space indent, one
    /// member a line, a trailing newline.
    static let preJob = """
        {
          "workflow": "CI",
          "repository": "octo/app",
          "event": "push",
          "timestamp": 1700000030,
          "workflow_run_id": "42"
        }

        """
    static let postJob = """
        {
          "timestamp": 1700000330,
          "status": "normal"
        }

        """
    /// The charm's `str(time.time())`, no newline.
    static let installationStart = "1699999899.6112123"
    /// `date +%s > runner-installed.timestamp`: digits and a newline.
    static let installed = "1700000000\n"

    static let installedLine = #"{"timestamp": 1700000000.0, "event": "runner_installed", "flavor": "small", "duration": 100.38878774642944}"# + "\n"
    static let startLine = #"{"timestamp": 1700000030.0, "event": "runner_start", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "idle": 30.0}"# + "\n"
    static let stopLine = #"{"timestamp": 1700000330.0, "event": "runner_stop", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "status": "normal", "job_duration": 300.0}"# + "\n"

    static var files: [RunnerFile: String] {
        [.installationStart: installationStart, .installed: installed, .preJob: preJob, .postJob: postJob]
    }
}

/// Decodes a runner's files (a missing key: the file is absent) as the worker does.
func decodeRunner(_ files: [RunnerFile: [UInt8]]) -> Result<RunnerRecord, Rejection> {
    func with(_ file: RunnerFile, _ body: (UnsafeRawBufferPointer?) -> Result<RunnerRecord, Rejection>)
        -> Result<RunnerRecord, Rejection> {
        guard let bytes = files[file] else { return body(nil) }
        return bytes.withUnsafeBytes { body($0) }
    }
    return with(.installationStart) { a in with(.installed) { b in with(.preJob) { c in with(.postJob) { d in
        do throws(Rejection) {
            return .success(try RunnerFileDecoder.decodeRecord(installationStart: a, installed: b, preJob: c, postJob: d))
        } catch {
            return .failure(error)
        }
    } } } }
}

func decodeRunner(text files: [RunnerFile: String]) -> Result<RunnerRecord, Rejection> {
    decodeRunner(files.mapValues { Array($0.utf8) })
}

/// The bytes the supervisor appends for a record: every event line, in order, one buffer.
func eventBytes(_ record: RunnerRecord, flavor: String = "small") -> [UInt8] {
    var out: [UInt8] = []
    for event in MetricEvent.events(for: record) { event.appendLine(flavor: flavor, to: &out) }
    return out
}

func fileSet(_ files: [RunnerFile]) -> RunnerFileSet {
    var set = RunnerFileSet()
    for file in files { set.insert(file) }
    return set
}

@Suite("Upstream's honest shapes")
struct UpstreamShapeDecodingTests {
    typealias U = UpstreamShapes

    /// Every present/missing combination of the four files: upstream's decision (which events)
    /// and the exact bytes. Bits: 1 installation start, 2 installed, 4 pre-job, 8 post-job.
    static let combinations: [(files: UInt8, lines: [String])] = [
        (0x0, []), (0x1, []), (0x2, []), (0x3, [U.installedLine]),
        (0x4, []), (0x5, []), (0x6, [U.startLine]), (0x7, [U.installedLine, U.startLine]),
        (0x8, []), (0x9, []), (0xA, []), (0xB, [U.installedLine]),
        (0xC, []), (0xD, []), (0xE, [U.startLine, U.stopLine]), (0xF, [U.installedLine, U.startLine, U.stopLine]),
    ]

    @Test("all 16 present/missing combinations: exact lines", arguments: 0..<16)
    func presentAndMissing(_ index: Int) throws {
        let (mask, expected) = Self.combinations[index]
        #expect(Int(mask) == index)
        var files: [RunnerFile: String] = [:]
        for file in RunnerFile.allCases where mask & file.bit != 0 { files[file] = U.files[file] }
        let record = try decodeRunner(text: files).get()
        #expect(record.emptyFiles.isEmpty)
        #expect(eventBytes(record) == Array(expected.joined().utf8))
    }

    /// A 0-byte file is decided exactly as a missing one (upstream's `jq ... > file || true`
    /// leaves one when jq fails), noted in `emptyFiles`, whatever the other files hold.
    @Test("each empty file among the other three, present or missing", arguments: RunnerFile.allCases)
    func emptyFileIsAbsent(_ empty: RunnerFile) throws {
        for (mask, expected) in Self.combinations where mask & empty.bit == 0 {
            var files: [RunnerFile: [UInt8]] = [empty: []]
            for file in RunnerFile.allCases where mask & file.bit != 0 { files[file] = Array(U.files[file]!.utf8) }
            let record = try decodeRunner(files).get()
            #expect(record.emptyFiles == fileSet([empty]), "files \(mask)")
            #expect(eventBytes(record) == Array(expected.joined().utf8), "files \(mask)")
        }
    }

    /// The four cases the issue lists, with the three other files present.
    @Test func theFourEmptyFileDecisions() throws {
        func lines(emptying file: RunnerFile) throws -> String {
            var files = U.files.mapValues { Array($0.utf8) }
            files[file] = []
            let record = try decodeRunner(files).get()
            #expect(record.emptyFiles == fileSet([file]))
            return String(decoding: eventBytes(record), as: UTF8.self)
        }
        // Empty installation start: no runner_installed; start and stop issued.
        #expect(try lines(emptying: .installationStart) == U.startLine + U.stopLine)
        // Empty installed timestamp: no events (the supervisor deletes the runner).
        #expect(try lines(emptying: .installed) == "")
        // Empty pre-job: runner_installed only.
        #expect(try lines(emptying: .preJob) == U.installedLine)
        // Empty post-job: runner_installed and runner_start.
        #expect(try lines(emptying: .postJob) == U.installedLine + U.startLine)
    }

    @Test func everyFileEmpty() throws {
        let record = try decodeRunner(Dictionary(uniqueKeysWithValues: RunnerFile.allCases.map { ($0, [UInt8]()) })).get()
        #expect(record == RunnerRecord(emptyFiles: fileSet(RunnerFile.allCases)))
        #expect(eventBytes(record).isEmpty)
    }

    /// Only 0 bytes is "absent": a lone newline, a space or a NUL is still refused with its
    /// file's code, and an empty file does not excuse a corrupt one.
    @Test func onlyZeroBytesIsAbsent() {
        for file in RunnerFile.allCases {
            for bytes: [UInt8] in [[0x0A], [0x20], [0x00]] {
                var files = U.files.mapValues { Array($0.utf8) }
                files[file] = bytes
                guard case .failure(let rejection) = decodeRunner(files) else {
                    Issue.record("\(file) \(bytes) accepted")
                    continue
                }
                let timestamp = file == .installationStart || file == .installed
                #expect(rejection.file == file)
                #expect(rejection.code == (timestamp ? .invalidTimestamp : .invalidJSON), "\(file) \(bytes)")
            }
        }
        var files = U.files.mapValues { Array($0.utf8) }
        files[.installed] = []
        files[.postJob] = Array("{\"timestamp\": 1700000330}".utf8)
        #expect(decodeRunner(files) == .failure(Rejection(.missingField, file: .postJob, "status")))
        // The per-file decoders, used on their own, still refuse empty input.
        #expect(timestampOutcome([]) == .failure(Rejection(.invalidTimestamp, file: .installed, "empty file")))
        #expect(code(preJobOutcome("")) == .invalidJSON)
        #expect(code(postJobOutcome("")) == .invalidJSON)
    }

    /// Both timestamp writers, each file written by either: `date +%s` (digits and LF) and
    /// `str(time.time())` (shortest repr digits, no LF), with pretty-printed jq JSON.
    @Test func bothTimestampWritersAndPrettyPrintedJSON() throws {
        let files: [RunnerFile: String] = [
            .installationStart: "1696427100.0386329",
            .installed: "1696427232.2253454",
            .preJob: """
                {
                  "workflow": "Build \u{E9}",
                  "repository": "octo/app",
                  "event": "pull_request",
                  "timestamp": 1696427250,
                  "workflow_run_id": "6400000001"
                }

                """,
            .postJob: """
                {
                  "timestamp": 1696427900,
                  "status": "abnormal",
                  "status_info": {
                    "code": 1
                  }
                }

                """,
        ]
        let record = try decodeRunner(text: files).get()
        #expect(String(decoding: eventBytes(record), as: UTF8.self) == [
            #"{"timestamp": 1696427232.2253454, "event": "runner_installed", "flavor": "small", "duration": 132.18671250343323}"#,
            #"{"timestamp": 1696427250.0, "event": "runner_start", "flavor": "small", "workflow": "Build \u00e9", "repo": "octo/app", "github_event": "pull_request", "idle": 17.774654626846313}"#,
            #"{"timestamp": 1696427900.0, "event": "runner_stop", "flavor": "small", "workflow": "Build \u00e9", "repo": "octo/app", "github_event": "pull_request", "status": "abnormal", "status_info": {"code": 1}, "job_duration": 650.0}"#,
        ].map { $0 + "\n" }.joined())
        // The writers swapped: `date +%s` for the start, str(float) with a LF for the installed one.
        let swapped = try decodeRunner(text: [.installationStart: "1696427100\n", .installed: "1696427232.2253454\n"]).get()
        #expect(String(decoding: eventBytes(swapped), as: UTF8.self) ==
            #"{"timestamp": 1696427232.2253454, "event": "runner_installed", "flavor": "small", "duration": 132.2253453731537}"# + "\n")
    }

    /// Clamped values as upstream writes them: the float 0.0 (a pydantic NonNegativeFloat
    /// field), never the int 0. The repo-policy-check-failure shape with its HTTP code.
    @Test func clampedValuesAreFloatZero() throws {
        let record = try decodeRunner(text: [
            .installed: "1700000100\n",
            .preJob: U.preJob,
            .postJob: """
                {
                  "timestamp": 1700000000,
                  "status": "repo-policy-check-failure",
                  "status_info": {
                    "code": 403
                  }
                }

                """,
        ]).get()
        #expect(String(decoding: eventBytes(record), as: UTF8.self) == [
            #"{"timestamp": 1700000030.0, "event": "runner_start", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "idle": 0.0}"#,
            #"{"timestamp": 1700000000.0, "event": "runner_stop", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "status": "repo-policy-check-failure", "status_info": {"code": 403}, "job_duration": 0.0}"#,
        ].map { $0 + "\n" }.joined())
        // An installation start after the installed timestamp: upstream's model refuses the
        // negative duration and issues nothing for the runner; this tool clamps it (a
        // deliberate difference, Security/DECODING.md).
        let late = try decodeRunner(text: [.installationStart: "1700000000.5", .installed: "1700000000\n"]).get()
        #expect(String(decoding: eventBytes(late), as: UTF8.self) ==
            #"{"timestamp": 1700000000.0, "event": "runner_installed", "flavor": "small", "duration": 0.0}"# + "\n")
    }

    /// Every number of every event line is a Python float (a fraction or an exponent in its
    /// lexeme), for random records, clamped values included; only status_info.code is an int.
    @Test func everyEventNumberIsAFloat() {
        var gen = Gen(seed: 0x5EED_0017)
        var clamped = 0
        for _ in 0..<5000 {
            var record = gen.record()
            // Half the time, times that run backwards, so that every clamped field is exercised.
            if gen.chance(50), let installed = record.installed {
                record.installationStart = installed + 1
                record.preJob?.timestamp = installed / 2
                record.postJob?.timestamp = 0
            }
            for event in MetricEvent.events(for: record) {
                let bytes = Array(event.jsonLine(flavor: "f").utf8.dropLast())
                guard case .success(.object(let members)) = parseJSON(bytes: bytes) else {
                    Issue.record("line does not parse")
                    continue
                }
                for (key, value) in members {
                    guard case .number(let n) = value else { continue }
                    #expect(!n.isInteger, "\(key): \(n.lexeme)")
                    if n.lexeme == "0.0" { clamped += 1 }
                }
                if case .object(let info)? = members.first(where: { $0.key == "status_info" })?.value,
                   case .number(let code)? = info.first?.value {
                    #expect(code.isInteger)
                }
            }
        }
        #expect(clamped > 100)
    }

    /// An empty file travels to the supervisor in the frame and comes back the same.
    @Test func emptyFilesSurviveTheFrame() throws {
        for file in RunnerFile.allCases {
            var files = U.files.mapValues { Array($0.utf8) }
            files[file] = []
            let record = try decodeRunner(files).get()
            let frame = Frame.encode(.valid(record))
            #expect(decodeFrame(frame) == .success(.valid(record)))
            #expect(frame[9] & 0x20 != 0 && frame[10] == file.bit)
        }
    }
}
