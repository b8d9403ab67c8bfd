import Glibc
import MetricsDecoding
import WorkerProtocol

/// What the supervisor decides about one runner.
public enum RunnerVerdict: Equatable, Sendable {
    /// The worker's record, re-decoded and re-validated from its frame.
    case valid(RunnerRecord)
    /// Quarantine and audit. `termination` is set for worker failures.
    case rejected(Rejection, termination: Termination?)
    /// Not the runner's doing (fork failed, sandbox could not be set up, run interrupted):
    /// the runner is kept for the next run.
    case kept(String)
}

public enum VerdictClassifier {
    /// Every way a worker can fail is a rejection, except the ones that happen before it reads
    /// runner data: those carry no confinement marker (`ConfinementMarker`). The frame is
    /// decoded only from a worker that exited 0, after the marker.
    public static func classify(_ outcome: WorkerOutcome) -> RunnerVerdict {
        if let failure = outcome.spawnFailure { return .kept(failure.description) }
        // Proof of misbehaviour comes first: a worker flooding its pipe blocks once the pipe is
        // full and is killed at its deadline, or when the run is interrupted meanwhile; what it
        // sent says more than how it ended.
        if outcome.overflowed {
            return .rejected(Rejection(.protocolViolation, "worker sent more than \(Frame.maxSize) bytes"),
                             termination: outcome.termination)
        }
        if outcome.interrupted { return .kept("interrupted before the worker finished") }
        let termination = outcome.termination
        let confined = outcome.frame.first == ConfinementMarker.byte
        if !confined, !outcome.timedOut, termination == .exited(WorkerExit.sandboxSetupFailed) {
            return .kept("worker could not set up its sandbox (before reading any runner data)")
        }
        if outcome.timedOut {
            return .rejected(Rejection(.workerTimeout, "worker did not finish within the timeout and was killed"),
                             termination: termination)
        }
        switch termination {
        case nil:
            return .kept("worker ended without an exit report")
        case .signaled(SIGSYS):
            // Only the kernel's seccomp sends SIGSYS here: the worker's filter kills with it,
            // and a SIGKILL from the supervisor (a timeout) or anyone else is a crash below.
            return .rejected(Rejection(.workerSandboxViolation, "worker made a system call the seccomp policy forbids (SIGSYS)"),
                             termination: termination)
        case .signaled(SIGXCPU):
            return .rejected(Rejection(.workerTimeout, "worker exhausted its CPU time limit (SIGXCPU)"), termination: termination)
        case .signaled(let signal):
            return .rejected(Rejection(.workerCrashed, "worker died by signal \(signal)"), termination: termination)
        case .exited(let status) where status != 0:
            return .rejected(Rejection(.workerCrashed, "worker exited with status \(status)"), termination: termination)
        case .exited:
            break
        }
        guard confined else {
            return .rejected(Rejection(.protocolViolation, "worker answered without the confinement marker"), termination: termination)
        }
        let decoded = outcome.frame.withUnsafeBytes { bytes -> Result<WorkerVerdict, Rejection> in
            do throws(Rejection) {
                return .success(try Frame.decode(UnsafeRawBufferPointer(rebasing: bytes.dropFirst())))
            } catch { return .failure(error) }
        }
        switch decoded {
        case .success(.valid(let record)): return .valid(record)
        case .success(.rejected(let rejection)): return .rejected(rejection, termination: nil)
        case .failure(let rejection): return .rejected(rejection, termination: termination)
        }
    }
}
