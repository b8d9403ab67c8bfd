// Test-only probe: the real `extract` pipeline with a worker that applies the production
// sandbox and then misbehaves as told. It shows what the supervisor does with each kind of
// worker failure. Not part of any product; the tool itself has no such switch.
//
// usage: runner-metrics-probe MODE FLAVOR RUNNER_FS_DIR QUARANTINE_DIR METRICS_LOG AUDIT_LOG STATE_DIR
import CProbeShim
import Glibc
import MetricsDecoding
import RunnerSupervisor
import RunnerWorker

let arguments = CommandLine.arguments
guard arguments.count == 8 else {
    print("usage: runner-metrics-probe MODE FLAVOR RUNNER_FS_DIR QUARANTINE_DIR METRICS_LOG AUDIT_LOG STATE_DIR")
    exit(2)
}
let mode = arguments[1]

/// Each misbehaviour, run after the sandbox is in place.
func misbehave() -> Never {
    switch mode {
    case "execve": _ = probe_syscall(probe_sys_execve, 0, 0, 0)
    case "socket": _ = probe_syscall(probe_sys_socket, Int(AF_INET), Int(SOCK_STREAM.rawValue), 0)
    case "open-write": _ = probe_syscall(probe_sys_openat, Int(SeccompPolicy.Descriptor.runnerDirectory), 0, Int(O_WRONLY | O_NOFOLLOW | O_NONBLOCK))
    case "open-create": _ = probe_syscall(probe_sys_openat, Int(SeccompPolicy.Descriptor.runnerDirectory), 0, Int(O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK))
    case "open-outside": _ = probe_syscall(probe_sys_openat, Int(AT_FDCWD), 0, Int(O_RDONLY | O_NOFOLLOW | O_NONBLOCK))
    case "open-read":
        // Even a read-only open under the runner directory is refused once the filter is on:
        // a filter cannot see the path, and "/etc/passwd" would ignore the descriptor.
        _ = probe_syscall(probe_sys_openat, Int(SeccompPolicy.Descriptor.runnerDirectory), 0, Int(O_RDONLY | O_NOFOLLOW | O_NONBLOCK))
    case "clone": _ = probe_syscall(probe_sys_clone, Int(SIGCHLD), 0, 0)
    case "ptrace": _ = probe_syscall(probe_sys_ptrace, 0, 0, 0)
    case "kill": _ = probe_syscall(probe_sys_kill, 1, 0, 0)
    case "mount": _ = probe_syscall(probe_sys_mount, 0, 0, 0)
    case "mprotect-exec": _ = probe_syscall(probe_sys_mprotect, 0, 4096, Int(PROT_READ | PROT_EXEC))
    case "unlink": _ = probe_syscall(probe_sys_unlinkat, Int(SeccompPolicy.Descriptor.runnerDirectory), 0, 0)
    case "exit-nonzero": _exit(9)
    case "exit-71":
        // A compromised worker claiming "sandbox setup failed" after the marker: still hostile.
        _exit(WorkerExit.sandboxSetupFailed)
    case "abort": abort()
    case "loop": while true { _ = getppid }
    case "flood":
        let chunk = [UInt8](repeating: 0x41, count: 4096)
        while true { _ = chunk.withUnsafeBytes { write(SeccompPolicy.Descriptor.result, $0.baseAddress, $0.count) } }
    case "malformed-frame":
        let junk = Array("RMF1garbage".utf8)
        _ = junk.withUnsafeBytes { write(SeccompPolicy.Descriptor.result, $0.baseAddress, $0.count) }
        _exit(0)
    case "invalid-record":
        // A well-formed frame whose record breaks the schema (repository without a slash).
        let pre = PreJobMetrics(workflow: "CI", repository: "no-slash", event: "push", timestamp: 1, workflowRunID: "1")
        let frame = Frame.encode(.valid(RunnerRecord(installed: 0, preJob: pre)))
        _ = frame.withUnsafeBytes { write(SeccompPolicy.Descriptor.result, $0.baseAddress, $0.count) }
        _exit(0)
    case "close-without-frame":
        close(SeccompPolicy.Descriptor.result)
        _exit(0)
    default:
        _exit(64)
    }
    // A forbidden call that was somehow allowed: say so distinctly.
    _exit(99)
}

var config = ExtractConfiguration(flavor: arguments[2])
config.runnerFSDir = arguments[3]
config.imagesDir = arguments[3] + "-images"
config.quarantineDir = arguments[4]
config.metricsLog = arguments[5]
config.auditLog = arguments[6]
config.stateDir = arguments[7]
config.workerTimeout = 1
config.jobs = 2
let status = ExtractCommandRunner.run(
    config: config, textfileDir: nil, diagnostics: Diagnostics(quiet: true), printJSON: true,
    startServer: { timeout in
        let sandboxes = try WorkerLauncher.productionSandboxes(timeout: timeout)
        return try ForkServer.start { source, slot in
            let sandbox = (source == .image ? sandboxes.image : sandboxes.directory).forSlot(slot)
            if mode == "honest" { Worker.run(source, sandboxes: sandboxes, slot: slot) }
            if mode == "stuck-marker" {
                // Honest, except in a runner directory holding a file named `stuck`: then spin
                // (the benchmark's stuck-worker scenario).
                var status = stat()
                if fstatat(SeccompPolicy.Descriptor.runnerDirectory, "stuck", &status, AT_SYMLINK_NOFOLLOW) != 0 {
                    Worker.run(source, sandboxes: sandboxes, slot: slot)
                }
                if sandbox.apply() != nil { _exit(WorkerExit.sandboxSetupFailed) }
                while true {}
            }
            if sandbox.apply() != nil { _exit(WorkerExit.sandboxSetupFailed) }
            // Misbehave as a compromised worker would: after confinement was announced.
            Worker.announceConfined()
            misbehave()
        }
    })
exit(status)
