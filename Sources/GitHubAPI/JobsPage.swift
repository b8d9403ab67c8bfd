import MetricsDecoding

// One page of `GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs`: an object with
// `total_count` and `jobs`, each job an object of which four members are read. The body must
// be strictly valid JSON (StrictJSON: UTF-8, unique keys, nesting of at most 8, which GitHub's
// job shape needs 5 of: page → jobs → job → steps → step); other members are ignored.

/// The members of a job the enrichment reads.
public struct WorkflowJob: Equatable, Sendable {
    /// nil for a job no runner has taken yet (`"runner_name": null`).
    public var runnerName: String?
    /// Unix microseconds.
    public var createdAt: Int64
    public var startedAt: Int64
    /// nil while the job has none (`"conclusion": null`).
    public var conclusion: JobConclusion?

    public init(runnerName: String?, createdAt: Int64, startedAt: Int64, conclusion: JobConclusion?) {
        self.runnerName = runnerName
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.conclusion = conclusion
    }
}

public struct JobsPage: Equatable, Sendable {
    public var totalCount: Int
    public var jobs: [WorkflowJob]

    public init(totalCount: Int, jobs: [WorkflowJob]) {
        self.totalCount = totalCount
        self.jobs = jobs
    }

    /// A run has far fewer jobs than this (GitHub's matrix limit is 256 per job).
    public static let maxTotalCount = 1_000_000

    /// Decodes a page, or says why not. Every job must have `runner_name` (string or null),
    /// `created_at` and `started_at` (RFC 3339 strings) and `conclusion` (one of GitHub's
    /// values or null); `total_count` is a non-negative integer.
    public static func decode(_ body: [UInt8]) throws(JobsPageError) -> JobsPage {
        let parsed: Result<JSONValue, Rejection> = body.withUnsafeBytes { buffer in
            do throws(Rejection) { return .success(try StrictJSON.parse(buffer)) } catch { return .failure(error) }
        }
        let value: JSONValue
        switch parsed {
        case .success(let parsedValue): value = parsedValue
        case .failure(let rejection): throw JobsPageError("invalid JSON: \(rejection.detail)")
        }
        guard case .object(let members) = value else { throw JobsPageError("the page is not an object") }
        guard case .number(let total)? = member(members, "total_count"), total.isInteger, total.value >= 0,
              total.value <= Double(maxTotalCount)
        else { throw JobsPageError("total_count is not a non-negative integer") }
        guard case .array(let elements)? = member(members, "jobs") else { throw JobsPageError("jobs is not an array") }
        var jobs: [WorkflowJob] = []
        jobs.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            jobs.append(try decodeJob(element, index: index))
        }
        return JobsPage(totalCount: Int(total.value), jobs: jobs)
    }

    static func decodeJob(_ value: JSONValue, index: Int) throws(JobsPageError) -> WorkflowJob {
        guard case .object(let members) = value else { throw JobsPageError("job \(index) is not an object") }
        let runnerName: String?
        switch member(members, "runner_name") {
        case .string(let name)?: runnerName = name
        case .null?: runnerName = nil
        default: throw JobsPageError("job \(index): runner_name is neither a string nor null")
        }
        func time(_ key: String) throws(JobsPageError) -> Int64 {
            guard case .string(let text)? = member(members, key), let time = ISO8601.microseconds(text) else {
                throw JobsPageError("job \(index): \(key) is not an RFC 3339 time")
            }
            return time
        }
        let conclusion: JobConclusion?
        switch member(members, "conclusion") {
        case .string(let text)?:
            guard let known = JobConclusion(exactly: text) else {
                throw JobsPageError("job \(index): conclusion is not one of GitHub's values")
            }
            conclusion = known
        case .null?: conclusion = nil
        default: throw JobsPageError("job \(index): conclusion is neither a string nor null")
        }
        return WorkflowJob(runnerName: runnerName, createdAt: try time("created_at"), startedAt: try time("started_at"),
                           conclusion: conclusion)
    }

    /// The member named exactly `key` (the parser guarantees at most one).
    static func member(_ members: [(key: String, value: JSONValue)], _ key: String) -> JSONValue? {
        for member in members where member.key.utf8.elementsEqual(key.utf8) { return member.value }
        return nil
    }
}

public struct JobsPageError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
