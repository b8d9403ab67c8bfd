import MetricsDecoding
import RunnerWorker

/// Builds the production worker: compiles the seccomp policy once and starts the fork server
/// whose children apply it.
public enum WorkerLauncher {
    /// Headroom over the fork server's mapped size for the worker's RLIMIT_AS: the decoder
    /// needs a few KiB; malloc arenas and the stack need a little more.
    public static let addressSpaceHeadroom = 64 << 20

    public static func productionSandboxes(timeout: Double) throws(SeccompBuildError) -> WorkerSandboxes {
        let cpu = max(1, Int(timeout.rounded(.up)))
        let addressSpace = ProcessHygiene.mappedBytes() + addressSpaceHeadroom
        return WorkerSandboxes(
            directory: WorkerSandbox(filter: try CompiledFilter(policy: .directoryWorker), cpuSeconds: cpu,
                                     addressSpaceBytes: addressSpace),
            image: WorkerSandbox(filter: try CompiledFilter(policy: .imageWorker), cpuSeconds: cpu,
                                 addressSpaceBytes: addressSpace))
    }

    public static func start(timeout: Double) throws -> ForkServer {
        let sandboxes = try productionSandboxes(timeout: timeout)
        return try ForkServer.start(warmUp: Worker.warmUp) { source, slot in Worker.run(source, sandboxes: sandboxes, slot: slot) }
    }
}
