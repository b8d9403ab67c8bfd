// STUB (replaced at merge)
import MetricsDecoding
public struct GitHubSettings: Sendable {
    public var apiURL: String
    public var tokenFile: String
    public var caFile: String?
    public var requestTimeout: Double = 10
    public var runBudget: Double = 60
    public init(apiURL: String, tokenFile: String) { self.apiURL = apiURL; self.tokenFile = tokenFile }
}
public struct EnrichmentRequest: Sendable { public var runner: String; public var repository: String; public var workflowRunID: String
    public init(runner: String, repository: String, workflowRunID: String) { self.runner = runner; self.repository = repository; self.workflowRunID = workflowRunID } }
public enum EnrichmentResult: Sendable, Equatable { case enriched(queueDuration: Clamped, conclusion: JobConclusion?); case failed(EnrichmentFailure) }
public enum EnrichmentFailure: String, CaseIterable, Sendable { case notFound = "not-found", ambiguous, budget, processFailed = "process-failed" }
public final class GitHubEnricher {
    public init(settings: GitHubSettings) throws {}
    public func enrich(_ requests: [EnrichmentRequest]) -> [EnrichmentResult] { requests.map { _ in .failed(.processFailed) } }
    public func finish() {}
}
