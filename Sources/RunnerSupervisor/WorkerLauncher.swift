import MetricsDecoding
import RunnerWorker

/// Builds the production worker: compiles the seccomp policy once and starts the fork server
/// whose children apply it.
public enum WorkerLauncher {
    /// Headroom over the fork server's mapped size for the worker's RLIMIT_AS: the decoder
    /// needs a few KiB; malloc arenas and the stack need a little more.
    public static let addressSpaceHeadroom = 64 << 20

    public static func productionSandbox(timeout: Double) throws(SeccompBuildError) -> WorkerSandbox {
        let filter = try CompiledFilter(policy: .worker)
        let cpu = max(1, Int(timeout.rounded(.up)))
        return WorkerSandbox(filter: filter, cpuSeconds: cpu,
                             addressSpaceBytes: ProcessHygiene.mappedBytes() + addressSpaceHeadroom)
    }

    public static func start(timeout: Double) throws -> ForkServer {
        let sandbox = try productionSandbox(timeout: timeout)
        return try ForkServer.start(warmUp: Worker.warmUp) { Worker.run(sandbox: sandbox) }
    }
}
