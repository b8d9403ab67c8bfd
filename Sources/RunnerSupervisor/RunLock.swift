import Glibc

/// One run at a time: flock(LOCK_EX) on `<state-dir>/lock`. The kernel releases it when the
/// process dies, however it dies, so a killed run never leaves a stale lock.
public final class RunLock {
    let fd: Int32

    public enum Failure: Error, Sendable {
        case held
        case system(SystemError)
    }

    /// Takes the lock, waiting up to `wait` seconds (0: fail at once).
    public init(stateDir: String, wait: Double) throws(Failure) {
        do throws(SystemError) {
            try Sys.ensureDirectory(stateDir, mode: 0o700)
            fd = try Sys.open(stateDir + "/lock", O_RDWR | O_CREAT | O_NOFOLLOW, 0o600)
        } catch {
            throw .system(error)
        }
        let deadline = Sys.monotonicSeconds() + wait
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            guard code == EWOULDBLOCK else {
                close(fd)
                throw .system(SystemError("flock", code))
            }
            if Sys.monotonicSeconds() >= deadline {
                close(fd)
                throw .held
            }
            usleep(50_000)
        }
    }

    deinit { close(fd) }

    /// Takes the lock for a command (`extract`, `prune`), or says why it cannot on
    /// `diagnostics` and returns the exit status: 75 when another run holds it (EX_TEMPFAIL:
    /// the running one does the work), 1 on an error.
    public static func take(stateDir: String, wait: Double, diagnostics: Diagnostics) -> Result<RunLock, Refusal> {
        do throws(Failure) { return .success(try RunLock(stateDir: stateDir, wait: wait)) } catch {
            switch error {
            case .held:
                diagnostics.emit(.warning, "another run holds \(stateDir)/lock; exiting \(lockedStatus)")
                return .failure(Refusal(status: lockedStatus))
            case .system(let failure):
                diagnostics.emit(.error, "lock: \(failure)")
                return .failure(Refusal(status: 1))
            }
        }
    }

    /// Exit status 75: another run holds the lock.
    public static let lockedStatus: Int32 = 75

    /// Why a command did not get the lock: the status it exits with.
    public struct Refusal: Error, Sendable {
        public let status: Int32
    }
}
