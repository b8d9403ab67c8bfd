// Test-only: the fork server with a worker that applies the production sandbox and then
// misbehaves as told by RUNNER_METRICS_PROBE_MODE (set by runner-metrics-probe). Built in
// Embedded mode like the real worker, from the same ForkServerLoop and sandbox; not part of
// any product.
import CProbeShim
import CSandboxShim
import MetricsDecodingEmbedded
import RunnerWorkerEmbedded
import WorkerProtocolEmbedded

let mode: String = {
    guard let value = getenv("RUNNER_METRICS_PROBE_MODE") else { return "" }
    return String(cString: value)
}()

/// Each misbehaviour, run after the sandbox is in place.
func misbehave(_ mode: String) -> Never {
    switch mode {
    case "execve": _ = probe_syscall(probe_sys_execve, 0, 0, 0)
    case "socket": _ = probe_syscall(probe_sys_socket, Int(AF_INET), Int(SOCK_STREAM.rawValue), 0)
    case "open-write": _ = probe_syscall(probe_sys_openat, Int(WorkerDescriptor.runnerDirectory), 0, Int(O_WRONLY | O_NOFOLLOW | O_NONBLOCK))
    case "open-create": _ = probe_syscall(probe_sys_openat, Int(WorkerDescriptor.runnerDirectory), 0, Int(O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK))
    case "open-outside": _ = probe_syscall(probe_sys_openat, Int(AT_FDCWD), 0, Int(O_RDONLY | O_NOFOLLOW | O_NONBLOCK))
    case "open-read":
        // Even a read-only open under the runner directory is refused once locked down: a
        // filter could not see the path, and "/etc/passwd" would ignore the descriptor.
        _ = probe_syscall(probe_sys_openat, Int(WorkerDescriptor.runnerDirectory), 0, Int(O_RDONLY | O_NOFOLLOW | O_NONBLOCK))
    case "clone": _ = probe_syscall(probe_sys_clone, Int(SIGCHLD), 0, 0)
    // The fork server forks; its worker must not.
    case "fork": _ = probe_syscall(probe_sys_fork, 0, 0, 0)
    case "ptrace": _ = probe_syscall(probe_sys_ptrace, 0, 0, 0)
    case "kill": _ = probe_syscall(probe_sys_kill, 1, 0, 0)
    case "mount": _ = probe_syscall(probe_sys_mount, 0, 0, 0)
    case "mprotect-exec": _ = probe_syscall(probe_sys_mprotect, 0, 4096, Int(PROT_READ | PROT_EXEC))
    case "unlink": _ = probe_syscall(probe_sys_unlinkat, Int(WorkerDescriptor.runnerDirectory), 0, 0)
    case "exit-nonzero": WorkerExit.end(9)
    case "exit-71":
        // A compromised worker claiming "sandbox setup failed" after the marker: still hostile.
        WorkerExit.end(WorkerExit.sandboxSetupFailed)
    case "exit-group":
        // _exit is exit_group, which the directory filter allows: an ending without a frame.
        _exit(0)
    case "heap":
        // Within the heap the fork server reserved: no brk, no mmap, so the filter lets it be.
        // Four times what four files could ask of the decoder, touched, then an honest exit.
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: ForkServerLoop.workerHeapBytes / 2, alignment: 16)
        bytes.initializeMemory(as: UInt8.self, repeating: 0x41)
        bytes.deallocate()
        WorkerExit.end(9)
    case "heap-beyond":
        // Beyond it the heap must grow (brk): killed.
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * ForkServerLoop.workerHeapBytes, alignment: 16)
        bytes.initializeMemory(as: UInt8.self, repeating: 0x41)
        WorkerExit.end(Int32(bytes.count & 0x7f))
    case "abort": abort()
    case "loop": while true { _ = getppid }
    case "flood":
        let chunk = [UInt8](repeating: 0x41, count: 4096)
        while true { _ = chunk.withUnsafeBytes { write(WorkerDescriptor.result, $0.baseAddress, $0.count) } }
    case "malformed-frame":
        // Not a frame: the previous protocol's magic, then junk ("frame: bad magic").
        let junk = Array("RMF1garbage".utf8)
        _ = junk.withUnsafeBytes { write(WorkerDescriptor.result, $0.baseAddress, $0.count) }
        WorkerExit.end(0)
    case "invalid-record":
        // A well-formed frame whose record fails re-validation (repository without a slash:
        // "frame: pre_job: invalid-value repository: does not match ^.+/.+$").
        let pre = PreJobMetrics(workflow: "CI", repository: "no-slash", event: "push", timestamp: 1, workflowRunID: "1")
        let frame = Frame.encode(.valid(RunnerRecord(installed: 0, preJob: pre)))
        _ = frame.withUnsafeBytes { write(WorkerDescriptor.result, $0.baseAddress, $0.count) }
        WorkerExit.end(0)
    case "exit-without-frame":
        WorkerExit.end(0)
    case "close":
        // A directory worker's files close when it exits; its filter has no close at all.
        close(WorkerDescriptor.result)
    default:
        WorkerExit.end(64)
    }
    // A forbidden call that was somehow allowed: say so distinctly.
    WorkerExit.end(99)
}

ForkServerLoop.serve { source, slot, sandboxes in
    let sandbox = (source == .image ? sandboxes.image : sandboxes.directory).forSlot(slot)
    if mode == "honest" { Worker.run(source, sandboxes: sandboxes, slot: slot) }
    if mode == "stuck-marker" {
        // Honest, except in a runner directory holding a file named `stuck`: then spin
        // (the benchmark's stuck-worker scenario).
        var status = stat()
        if fstatat(WorkerDescriptor.runnerDirectory, "stuck", &status, AT_SYMLINK_NOFOLLOW) != 0 {
            Worker.run(source, sandboxes: sandboxes, slot: slot)
        }
        if sandbox.apply() != nil { _exit(WorkerExit.sandboxSetupFailed) }
        while true {}
    }
    if mode == "flood-marker" {
        // Honest, except in a runner directory holding a file named `flood`: then fill the
        // result pipe (the probe runs one worker at a time here, so the next runner's worker
        // gets the same pipe).
        var status = stat()
        if fstatat(WorkerDescriptor.runnerDirectory, "flood", &status, AT_SYMLINK_NOFOLLOW) != 0 {
            Worker.run(source, sandboxes: sandboxes, slot: slot)
        }
        if sandbox.apply() != nil { _exit(WorkerExit.sandboxSetupFailed) }
        Worker.announceConfined()
        misbehave("flood")
    }
    if sandbox.apply() != nil { _exit(WorkerExit.sandboxSetupFailed) }
    // Misbehave as a compromised worker would: after confinement was announced.
    Worker.announceConfined()
    misbehave(mode)
}
