import Testing
@testable import MetricsDecoding

/// Expected lines are what CPython 3's json.dumps writes for the same dicts.
@Suite("Event lines")
struct EventLineTests {
    let pre = PreJobMetrics(workflow: "CI 0", repository: "org/repo0", event: "push",
                            timestamp: 1_700_000_030, workflowRunID: "123")

    @Test func runnerStartLine() {
        let events = MetricEvent.events(for: RunnerRecord(installed: 1_700_000_000, preJob: pre))
        #expect(events.map(\.name) == ["runner_start"])
        #expect(events.map { $0.jsonLine(flavor: "small") } == [
            #"{"timestamp": 1700000030.0, "event": "runner_start", "flavor": "small", "workflow": "CI 0", "repo": "org/repo0", "github_event": "push", "idle": 30.0}"# + "\n",
        ])
    }

    @Test func allThreeEventsInOrder() {
        let record = RunnerRecord(
            installationStart: 1_699_999_900.5, installed: 1_700_000_000, preJob: pre,
            postJob: PostJobMetrics(timestamp: 1_700_000_090, status: .abnormal, statusInfoCode: 137))
        let lines = MetricEvent.events(for: record).map { $0.jsonLine(flavor: "large") }
        #expect(lines == [
            #"{"timestamp": 1700000000.0, "event": "runner_installed", "flavor": "large", "duration": 99.5}"# + "\n",
            #"{"timestamp": 1700000030.0, "event": "runner_start", "flavor": "large", "workflow": "CI 0", "repo": "org/repo0", "github_event": "push", "idle": 30.0}"# + "\n",
            #"{"timestamp": 1700000090.0, "event": "runner_stop", "flavor": "large", "workflow": "CI 0", "repo": "org/repo0", "github_event": "push", "status": "abnormal", "status_info": {"code": 137}, "job_duration": 60.0}"# + "\n",
        ])
    }

    /// The issue's example lines (later upstream with the GitHub API answering): queue_duration
    /// right after idle, job_conclusion right after job_duration, both floats and strings as
    /// json.dumps writes them.
    @Test func gitHubFieldsFollowIdleAndJobDuration() {
        let pre = PreJobMetrics(workflow: "CI", repository: "octo/app", event: "push", timestamp: 1_700_000_030,
                                workflowRunID: "42")
        let record = RunnerRecord(installed: 1_700_000_000, preJob: pre,
                                  postJob: PostJobMetrics(timestamp: 1_700_000_330, status: .abnormal, statusInfoCode: 1))
        let job = GitHubJob(queueDuration: .difference(12.5, 0), conclusion: .success)
        #expect(MetricEvent.events(for: record, job: job).map { $0.jsonLine(flavor: "small") } == [
            #"{"timestamp": 1700000030.0, "event": "runner_start", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "idle": 30.0, "queue_duration": 12.5}"# + "\n",
            #"{"timestamp": 1700000330.0, "event": "runner_stop", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "status": "abnormal", "status_info": {"code": 1}, "job_duration": 300.0, "job_conclusion": "success"}"# + "\n",
        ])
        // A null conclusion leaves job_conclusion out; a whole or clamped queue time is a float.
        let unconcluded = GitHubJob(queueDuration: .difference(7, 0), conclusion: nil)
        #expect(MetricEvent.events(for: record, job: unconcluded).map { $0.jsonLine(flavor: "small") } == [
            #"{"timestamp": 1700000030.0, "event": "runner_start", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "idle": 30.0, "queue_duration": 7.0}"# + "\n",
            #"{"timestamp": 1700000330.0, "event": "runner_stop", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "status": "abnormal", "status_info": {"code": 1}, "job_duration": 300.0}"# + "\n",
        ])
        let negative = GitHubJob(queueDuration: .difference(-3, 0), conclusion: .timedOut)
        #expect(MetricEvent.events(for: record, job: negative).map { $0.jsonLine(flavor: "small") } == [
            #"{"timestamp": 1700000030.0, "event": "runner_start", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "idle": 30.0, "queue_duration": 0.0}"# + "\n",
            #"{"timestamp": 1700000330.0, "event": "runner_stop", "flavor": "small", "workflow": "CI", "repo": "octo/app", "github_event": "push", "status": "abnormal", "status_info": {"code": 1}, "job_duration": 300.0, "job_conclusion": "timed_out"}"# + "\n",
        ])
        // No job facts: exactly today's lines.
        #expect(MetricEvent.events(for: record, job: nil) == MetricEvent.events(for: record))
        #expect(!MetricEvent.events(for: record).map { $0.jsonLine(flavor: "s") }.joined().contains("queue_duration"))
    }

    @Test func statusInfoAbsentIsLeftOut() {
        let record = RunnerRecord(installed: 1_700_000_000, preJob: pre,
                                  postJob: PostJobMetrics(timestamp: 1_700_000_090, status: .normal))
        #expect(MetricEvent.events(for: record).last?.jsonLine(flavor: "f") ==
            #"{"timestamp": 1700000090.0, "event": "runner_stop", "flavor": "f", "workflow": "CI 0", "repo": "org/repo0", "github_event": "push", "status": "normal", "job_duration": 60.0}"# + "\n")
        let policy = RunnerRecord(installed: 1_700_000_000, preJob: pre,
                                  postJob: PostJobMetrics(timestamp: 1_700_000_090, status: .repoPolicyCheckFailure,
                                                          statusInfoCode: -2_147_483_648))
        #expect(MetricEvent.events(for: policy).last?.jsonLine(flavor: "f") ==
            #"{"timestamp": 1700000090.0, "event": "runner_stop", "flavor": "f", "workflow": "CI 0", "repo": "org/repo0", "github_event": "push", "status": "repo-policy-check-failure", "status_info": {"code": -2147483648}, "job_duration": 60.0}"# + "\n")
    }

    @Test func whichEventsUpstreamIssues() {
        let post = PostJobMetrics(timestamp: 1_700_000_090, status: .normal)
        #expect(MetricEvent.events(for: RunnerRecord()).isEmpty)
        #expect(MetricEvent.events(for: RunnerRecord(installationStart: 1, preJob: pre, postJob: post)).isEmpty)
        #expect(MetricEvent.events(for: RunnerRecord(installed: 1)).isEmpty)
        #expect(MetricEvent.events(for: RunnerRecord(installationStart: 0, installed: 1)).map(\.name) == ["runner_installed"])
        #expect(MetricEvent.events(for: RunnerRecord(installed: 1, postJob: post)).isEmpty)
        #expect(MetricEvent.events(for: RunnerRecord(installed: 1, preJob: pre, postJob: post)).map(\.name)
            == ["runner_start", "runner_stop"])
    }

    /// Upstream computes `max(a - b, 0)` (the int 0 when negative) and stores it in a pydantic
    /// `NonNegativeFloat` field, so CPython writes the float: `0.0` for a clamped value, as for
    /// an exact tie. Every number field of an event line is a float.
    @Test("clamping: a negative difference and an exact tie both print 0.0")
    func clamping() {
        #expect(Clamped.difference(1, 2).value.bitPattern == (0.0).bitPattern)
        #expect(Clamped.difference(2, 2).value.bitPattern == (0.0).bitPattern)
        #expect(Clamped.difference(3, 2).value == 1)
        #expect(Clamped.difference(1_700_000_000, 1_700_000_000.5).value.bitPattern == (0.0).bitPattern)
        let negative = MetricEvent.runnerInstalled(timestamp: 10, duration: .difference(10, 20))
        #expect(negative.jsonLine(flavor: "s") ==
            #"{"timestamp": 10.0, "event": "runner_installed", "flavor": "s", "duration": 0.0}"# + "\n")
        let tie = MetricEvent.runnerInstalled(timestamp: 10, duration: .difference(10, 10))
        #expect(tie.jsonLine(flavor: "s") ==
            #"{"timestamp": 10.0, "event": "runner_installed", "flavor": "s", "duration": 0.0}"# + "\n")
        // idle (pre-job before installed) and job_duration (post-job before pre-job), whole lines.
        let record = RunnerRecord(installed: 1_700_000_100, preJob: pre,
                                  postJob: PostJobMetrics(timestamp: 1_700_000_000, status: .normal))
        #expect(MetricEvent.events(for: record).map { $0.jsonLine(flavor: "s") } == [
            #"{"timestamp": 1700000030.0, "event": "runner_start", "flavor": "s", "workflow": "CI 0", "repo": "org/repo0", "github_event": "push", "idle": 0.0}"# + "\n",
            #"{"timestamp": 1700000000.0, "event": "runner_stop", "flavor": "s", "workflow": "CI 0", "repo": "org/repo0", "github_event": "push", "status": "normal", "job_duration": 0.0}"# + "\n",
        ])
    }

    @Test("strings are escaped like ensure_ascii=True (DEL included, as CPython does)")
    func stringEscaping() {
        let event = MetricEvent.runnerStart(
            timestamp: 1, workflow: "a\"b\\c\n\r\t\u{8}\u{C}\u{0}\u{1}\u{1F}\u{7F} \u{E9}\u{4E2D}\u{1F600}\u{2028}/",
            repo: "o/r", githubEvent: "push", idle: .difference(0, 1))
        #expect(event.jsonLine(flavor: "fl\u{E9}") ==
            #"{"timestamp": 1.0, "event": "runner_start", "flavor": "fl\u00e9", "workflow": "a\"b\\c\n\r\t\b\f\u0000\u0001\u001f\u007f \u00e9\u4e2d\ud83d\ude00\u2028/", "repo": "o/r", "github_event": "push", "idle": 0.0}"# + "\n")
        // Combining sequences stay as written (no normalization).
        #expect(PythonJSON.string("e\u{301}") == #""e\u0301""#)
        #expect(PythonJSON.string("\u{212A}") == #""\u212a""#)
    }

    /// (bit pattern, CPython repr) pairs produced by CPython's json.dumps.
    static let pythonFloats: [(UInt64, String)] = [
        (0x4341_C379_37E0_8000, "1e+16"),
        (0x4340_0000_0000_0000, "9007199254740992.0"),
        (0x3EEF_7510_4D55_1D69, "1.5e-05"),
        (0x3F1A_36E2_EB1C_432D, "0.0001"),
        (0x405E_DD2F_1A9F_BE77, "123.456"),
        (0x3EE4_F8B5_88E3_68F1, "1e-05"),
        (0x3F50_624D_D2F1_A9FC, "0.001"),
        (0x4480_F0CF_064D_D592, "1e+22"),
        (0x0000_0000_0000_0001, "5e-324"),
        (0x7FEF_FFFF_FFFF_FFFF, "1.7976931348623157e+308"),
        (0x3FB9_9999_9999_999A, "0.1"),
        (0x3FD5_5555_5555_5555, "0.3333333333333333"),
        (0x4337_AF4C_4A80_AAAA, "6666666666666666.0"),
        (0x42DC_1221_8377_DE66, "123456789012345.6"),
        (0x4311_8B54_F22A_EB03, "1234567890123456.8"),
        (0x4345_EE2A_2EB5_A5C4, "1.2345678901234568e+16"),
        (0x3F1A_36E2_EB1C_432C, "9.999999999999999e-05"),
        (0x3F20_2E4B_6CE5_DC68, "0.00012345"),
        (0x430C_6BF5_2634_0000, "1000000000000000.0"),
        (0x430C_6BF5_2633_FFFF, "999999999999999.9"),
        (0x4341_C379_37E0_7FFF, "9999999999999998.0"),
        (0x41D9_475B_380E_6C0F, "1696427232.2253454"),
        (0x41D9_54FC_4780_0000, "1700000030.0"),
        (0x0000_0000_0000_0000, "0.0"),
        (0x8000_0000_0000_0000, "-0.0"),
        (0x0000_2E05_5C9A_3F6C, "2.5e-310"),
        (0x54B2_49AD_2594_C37D, "1e+100"),
        (0x01AA_749E_C2FF_5C8A, "1.2345e-300"),
        (0x4011_6666_6666_6666, "4.35"),
        (0x4059_0000_0000_0000, "100.0"),
        (0x3E7A_D7F2_9ABC_AF48, "1e-07"),
        (0x403E_0000_0000_0000, "30.0"),
    ]

    @Test("float repr matches CPython on edge cases")
    func floatRepr() {
        for (bits, expected) in EventLineTests.pythonFloats {
            #expect(PythonJSON.floatRepr(Double(bitPattern: bits)) == expected, "\(expected)")
        }
        #expect(PythonJSON.floatRepr(.infinity) == "Infinity")
        #expect(PythonJSON.floatRepr(-.infinity) == "-Infinity")
        #expect(PythonJSON.floatRepr(.nan) == "NaN")
    }

    @Test("float repr reads back to the same Double (seeded random bit patterns)")
    func floatReprRoundTrips() {
        var rng = SplitMix64(seed: 0x5EED_0020)
        for _ in 0..<20000 {
            let x = Double(bitPattern: rng.next())
            guard x.isFinite else { continue }
            let text = PythonJSON.floatRepr(x)
            #expect(Double(text)?.bitPattern == x.bitPattern, "\(text)")
            let e = text.contains("e")
            let magnitude = x.magnitude
            // Fixed notation exactly when 1e-4 <= |x| < 1e16 (or zero).
            #expect(e == !(magnitude == 0 || (magnitude >= 1e-4 && magnitude < 1e16)), "\(text)")
        }
    }
}
