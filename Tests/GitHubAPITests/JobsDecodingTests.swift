import Foundation
import GitHubAPI
import MetricsDecoding
import Testing

// RFC 3339 times to microseconds (the expected values are Python's
// `int(d.timestamp()) * 10**6 + d.microsecond` for `datetime.fromisoformat`), the jobs page
// decoder, and the selection across pages.

@Test(arguments: [
    ("2024-01-02T03:04:05Z", Int64(1_704_164_645_000_000)),
    ("2024-01-02T03:04:05.25+01:00", 1_704_161_045_250_000),
    ("2024-02-29T23:59:59.999999-05:30", 1_709_270_999_999_999),
    ("1970-01-01T00:00:00Z", 0),
    ("2024-01-02T03:04:05.1Z", 1_704_164_645_100_000),
    ("2024-01-02T03:04:05+00:00", 1_704_164_645_000_000),
    ("2000-02-29T00:00:00Z", 951_782_400_000_000),
])
func iso8601Accepted(text: String, microseconds: Int64) {
    #expect(ISO8601.microseconds(text) == microseconds)
}

@Test(arguments: [
    "", "2024-01-02", "2024-01-02T03:04:05", "2024-01-02t03:04:05Z", "2024-01-02T03:04:05z",
    "2024-01-02 03:04:05Z", "2024-01-02T03:04:05.Z", "2024-01-02T03:04:05.1234567Z", "2024-02-30T00:00:00Z",
    "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z",
    "2024-01-00T00:00:00Z", "2024-01-02T24:00:00Z", "2024-01-02T03:60:00Z", "2024-01-02T03:04:60Z",
    "2024-01-02T03:04:05+24:00", "2024-01-02T03:04:05+01:60", "2024-01-02T03:04:05+0100", "2024-01-02T03:04:05+01",
    "2024-01-02T03:04:05Z ", " 2024-01-02T03:04:05Z", "0000-01-01T00:00:00Z", "+2024-01-02T03:04:05Z",
    "2024-1-02T03:04:05Z", "２024-01-02T03:04:05Z", "2024-01-02T03:04:05.١Z",
])
func iso8601Refused(text: String) {
    #expect(ISO8601.microseconds(text) == nil, "\(text)")
}

func jobJSON(_ runner: String?, created: String = "2024-01-02T03:04:05Z", started: String = "2024-01-02T03:04:17.5Z",
             conclusion: String? = "success") -> String {
    let name = runner.map { "\"\($0)\"" } ?? "null"
    let value = conclusion.map { "\"\($0)\"" } ?? "null"
    return """
    {"id": 1, "runner_name": \(name), "created_at": "\(created)", "started_at": "\(started)", "conclusion": \(value),
     "labels": ["self-hosted"], "steps": [{"name": "Set up job", "number": 1, "conclusion": "success"}]}
    """
}

func page(_ jobs: [String], total: Int? = nil) -> [UInt8] {
    Array("{\"total_count\": \(total ?? jobs.count), \"jobs\": [\(jobs.joined(separator: ","))]}".utf8)
}

@Test func decodesGitHubShapedPage() throws {
    let decoded = try JobsPage.decode(page([jobJSON("a"), jobJSON(nil, conclusion: nil), jobJSON("b", conclusion: "timed_out")],
                                           total: 7))
    #expect(decoded.totalCount == 7)
    #expect(decoded.jobs == [
        WorkflowJob(runnerName: "a", createdAt: 1_704_164_645_000_000, startedAt: 1_704_164_657_500_000, conclusion: .success),
        WorkflowJob(runnerName: nil, createdAt: 1_704_164_645_000_000, startedAt: 1_704_164_657_500_000, conclusion: nil),
        WorkflowJob(runnerName: "b", createdAt: 1_704_164_645_000_000, startedAt: 1_704_164_657_500_000, conclusion: .timedOut),
    ])
}

@Test(arguments: [
    "[]", "{\"jobs\": []}", "{\"total_count\": -1, \"jobs\": []}", "{\"total_count\": 1.5, \"jobs\": []}",
    "{\"total_count\": 1e2, \"jobs\": []}", "{\"total_count\": \"1\", \"jobs\": []}", "{\"total_count\": 1}",
    "{\"total_count\": 1, \"jobs\": {}}", "{\"total_count\": 1, \"jobs\": [1]}",
    "{\"total_count\": 1, \"total_count\": 1, \"jobs\": []}",  // duplicate key
    "{\"total_count\": 1, \"jobs\": [],}",  // trailing comma
    "{\"total_count\": 1, \"jobs\": [{\"runner_name\": \"a\", \"created_at\": \"2024-01-02T03:04:05Z\", \"started_at\": \"2024-01-02T03:04:05Z\"}]}",
    "{\"total_count\": 1, \"jobs\": [{\"runner_name\": 5, \"created_at\": \"2024-01-02T03:04:05Z\", \"started_at\": \"2024-01-02T03:04:05Z\", \"conclusion\": null}]}",
    "{\"total_count\": 1, \"jobs\": [{\"runner_name\": \"a\", \"created_at\": \"2024-01-02\", \"started_at\": \"2024-01-02T03:04:05Z\", \"conclusion\": null}]}",
    "{\"total_count\": 1, \"jobs\": [{\"runner_name\": \"a\", \"created_at\": \"2024-01-02T03:04:05Z\", \"started_at\": null, \"conclusion\": null}]}",
    "{\"total_count\": 1, \"jobs\": [{\"runner_name\": \"a\", \"created_at\": \"2024-01-02T03:04:05Z\", \"started_at\": \"2024-01-02T03:04:05Z\", \"conclusion\": \"stale\"}]}",
    "{\"total_count\": 1, \"jobs\": [{\"runner_name\": \"a\", \"created_at\": \"2024-01-02T03:04:05Z\", \"started_at\": \"2024-01-02T03:04:05Z\", \"conclusion\": \"SUCCESS\"}]}",
    "{\"total_count\": 1, \"jobs\": [], \"x\": [[[[[[[[1]]]]]]]]}",  // nesting 9
    "\u{FEFF}{\"total_count\": 0, \"jobs\": []}",
])
func refusedPages(text: String) {
    #expect(throws: JobsPageError.self) { try JobsPage.decode(Array(text.utf8)) }
}

@Test func nestingOfEightIsTheLimitAndGitHubNeedsFive() throws {
    // page → jobs → job → steps → step is 5; 8 is still accepted.
    let eight = "{\"total_count\": 0, \"jobs\": [], \"x\": [[[[[[[1]]]]]]]}"
    #expect(try JobsPage.decode(Array(eight.utf8)).jobs.isEmpty)
    #expect(StrictJSON.maxDepth == 8)
}

@Test func fourMiBPageDecodes() throws {
    // A page near the body bound: 100 jobs, each with 100 steps of about 400 bytes.
    let step = "{\"name\": \"\(String(repeating: "s", count: 380))\", \"number\": 1}"
    let steps = Array(repeating: step, count: 100).joined(separator: ",")
    let job = jobJSON("r").replacingOccurrences(of: "{\"name\": \"Set up job\", \"number\": 1, \"conclusion\": \"success\"}", with: steps)
    let body = page(Array(repeating: job, count: 100))
    #expect(body.count > 4_000_000 && body.count < 4 << 20)
    #expect(try JobsPage.decode(body).jobs.count == 100)
}

func jobs(_ names: [String?]) -> JobsPage {
    JobsPage(totalCount: names.count, jobs: names.map {
        WorkflowJob(runnerName: $0, createdAt: 10, startedAt: 20, conclusion: .success)
    })
}

@Test func selectionAcrossPages() {
    var selection = JobSelection(runnerName: "r", perPage: 2, maxPages: 10)
    #expect(selection.next == .fetch(page: 1))
    var first = jobs(["a", "b"]); first.totalCount = 5
    #expect(selection.add(first) == .fetch(page: 2))
    #expect(selection.add(jobs(["r", nil])) == .fetch(page: 3))
    let found = WorkflowJob(runnerName: "r", createdAt: 10, startedAt: 20, conclusion: .success)
    #expect(selection.add(jobs(["c"])) == .finished(.found(found)))
    #expect(selection.next == .finished(.found(found)))
}

@Test func selectionStopsAtTotalCountOrAShortPage() {
    var byTotal = JobSelection(runnerName: "r", perPage: 2, maxPages: 10)
    #expect(byTotal.add(jobs(["r", "a"])) == .finished(.found(WorkflowJob(runnerName: "r", createdAt: 10, startedAt: 20,
                                                                            conclusion: .success))))
    var short = JobSelection(runnerName: "r", perPage: 2, maxPages: 10)
    var claimed = jobs(["a"]); claimed.totalCount = 9  // says 9, sends 1
    #expect(short.add(claimed) == .finished(.notFound))
    var empty = JobSelection(runnerName: "r")
    #expect(empty.add(JobsPage(totalCount: 0, jobs: [])) == .finished(.notFound))
}

@Test func selectionRefusesTwoJobsForOneRunner() {
    var samePage = JobSelection(runnerName: "r", perPage: 3, maxPages: 10)
    #expect(samePage.add(jobs(["r", "a", "r"])) == .finished(.ambiguous))
    var acrossPages = JobSelection(runnerName: "r", perPage: 2, maxPages: 10)
    var first = jobs(["r", "a"]); first.totalCount = 3
    #expect(acrossPages.add(first) == .fetch(page: 2))
    #expect(acrossPages.add(jobs(["r"])) == .finished(.ambiguous))
    // Exact bytes: a canonically equivalent name is another runner.
    var equivalent = JobSelection(runnerName: "caf\u{E9}", perPage: 2, maxPages: 10)
    #expect(equivalent.add(jobs(["cafe\u{301}"])) == .finished(.notFound))
}

@Test func selectionPageLimits() {
    var tooMany = JobSelection(runnerName: "r", perPage: 2, maxPages: 3)
    var first = jobs(["r", "a"]); first.totalCount = 7
    #expect(tooMany.add(first) == .finished(.tooManyPages))
    var atLimit = JobSelection(runnerName: "r", perPage: 2, maxPages: 3)
    var full = jobs(["a", "b"]); full.totalCount = 6
    #expect(atLimit.add(full) == .fetch(page: 2))
    #expect(atLimit.add(jobs(["c", "d"])) == .fetch(page: 3))
    #expect(atLimit.add(jobs(["e", "r"])) == .finished(.found(WorkflowJob(runnerName: "r", createdAt: 10, startedAt: 20,
                                                                        conclusion: .success))))
    var overlong = JobSelection(runnerName: "r", perPage: 2, maxPages: 3)
    #expect(overlong.add(jobs(["a", "b", "c"])) == .finished(.malformed))
}

@Test func requestBytes() {
    let path = JobsRequest.path(prefix: "/api/v3", repository: "o/r", runID: 42, page: 3)
    #expect(path == "/api/v3/repos/o/r/actions/runs/42/jobs?per_page=100&page=3")
    let request = String(decoding: JobsRequest.bytes(host: "::1", port: 8443, defaultPort: 443, path: "/x",
                                                     token: Array("t0k".utf8)), as: UTF8.self)
    #expect(request == "GET /x HTTP/1.1\r\nHost: [::1]:8443\r\nAuthorization: Bearer t0k\r\n"
        + "Accept: application/vnd.github+json\r\nUser-Agent: runner-metrics\r\nX-GitHub-Api-Version: 2022-11-28\r\n"
        + "Connection: keep-alive\r\n\r\n")
    let github = String(decoding: JobsRequest.bytes(host: "api.github.com", port: 443, defaultPort: 443, path: "/x",
                                                    token: [0x74]), as: UTF8.self)
    #expect(github.hasPrefix("GET /x HTTP/1.1\r\nHost: api.github.com\r\n"))
}
