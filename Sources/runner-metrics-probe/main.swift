// Test-only probe: the real `extract` pipeline with a worker that applies the production
// sandbox and then misbehaves as told (runner-metrics-probe-worker, the fork server it starts
// instead of runner-metrics-worker). It shows what the supervisor does with each kind of
// worker failure. Not part of any product; the tool itself has no such switch.
//
// usage: runner-metrics-probe MODE FLAVOR RUNNER_FS_DIR QUARANTINE_DIR METRICS_LOG AUDIT_LOG STATE_DIR
// A MODE of `outer-filter:M` first puts the probe under an allow-everything seccomp filter, as
// systemd's SystemCallFilter= puts the service, then runs mode M: the fork server and its
// workers stack their own filters on it, exactly as without it.
import CSandboxShim
import Glibc
import RunnerSupervisor

let arguments = CommandLine.arguments
guard arguments.count == 8 else {
    print("usage: runner-metrics-probe MODE FLAVOR RUNNER_FS_DIR QUARANTINE_DIR METRICS_LOG AUDIT_LOG STATE_DIR")
    exit(2)
}
var mode = arguments[1]
if mode.hasPrefix("outer-filter:") {
    mode.removeFirst("outer-filter:".count)
    // One instruction: BPF_RET | BPF_K, SECCOMP_RET_ALLOW.
    let allowEverything: [UInt8] = [0x06, 0, 0, 0, 0x00, 0x00, 0xff, 0x7f]
    guard allowEverything.withUnsafeBytes({ rm_install_seccomp_filter($0.baseAddress, $0.count) }) == 0 else {
        print("could not install the outer filter")
        exit(2)
    }
}

var config = ExtractConfiguration(flavor: arguments[2])
config.runnerFSDir = arguments[3]
config.imagesDir = arguments[3] + "-images"
config.quarantineDir = arguments[4]
config.metricsLog = arguments[5]
config.auditLog = arguments[6]
config.stateDir = arguments[7]
config.workerTimeout = 1
// flood-marker: one worker at a time, so every runner's worker reuses the flooded pipe.
config.jobs = mode == "flood-marker" ? 1 : 2
let status = ExtractCommandRunner.run(
    config: config, textfileDir: nil, diagnostics: Diagnostics(quiet: true), printJSON: true,
    startServer: { timeout in
        try WorkerLauncher.start(executableNamed: "runner-metrics-probe-worker", timeout: timeout,
                                 environment: ["RUNNER_METRICS_PROBE_MODE=\(mode)"])
    })
exit(status)
