/// Everything `runner-metrics extract` is told. Paths are the operator's, never a runner's.
public struct ExtractConfiguration: Sendable {
    public var flavor: String
    public var runnerFSDir = "/home/ubuntu/runner-fs"
    public var imagesDir = "/home/ubuntu/runner-fs-images"
    public var quarantineDir = "/home/ubuntu/runner-fs-quarantine"
    public var metricsLog = "/var/log/github-runner-metrics.log"
    public var auditLog = "/var/log/github-runner-metrics-audit.log"
    public var stateDir = "/var/lib/runner-metrics"
    public var ignore: Set<String> = []
    public var jobs = 2
    public var workerTimeout = 2.0
    public var lockWait = 0.0
    /// Runners whose verdicts are made durable together: one journal fsync, one log fsync and
    /// one fsync per directory per batch, not per runner (Security/DURABILITY.md).
    public var batchSize = 256
    /// Quarantined evidence older than this many seconds is removed at the end of the run
    /// (QuarantineRetention); nil keeps it until someone removes it.
    public var quarantineRetentionSeconds: Double? = nil
    /// Enrichment from the GitHub API (`queue_duration`, `job_conclusion`); nil: off, the
    /// default, and nothing of the network is used.
    public var github: GitHubSettings? = nil

    public init(flavor: String) { self.flavor = flavor }
}
