import CSandboxShim
import Glibc

/// What the process does to itself first, whatever started it (systemd, cron, a shell):
/// it trusts nothing it inherited.
public enum ProcessHygiene {
    public enum Refusal: Error, CustomStringConvertible {
        case setUID
        public var description: String { "refusing to run set-uid or set-gid" }
    }

    /// Refuses set-id execution, sets umask 077, closes every inherited descriptor above
    /// stderr (an fd leaked by cron or a parent must not reach a worker or be written to) and
    /// makes sure 0-2 are open, so a later open cannot land on them.
    public static func apply() throws(Refusal) {
        guard getuid() == geteuid(), getgid() == getegid() else { throw .setUID }
        umask(0o077)
        // A parent may hand down a blocked signal mask (Foundation's Process does, so does
        // some service supervision): SIGTERM must reach our handler.
        var none = sigset_t()
        sigemptyset(&none)
        sigprocmask(SIG_SETMASK, &none, nil)
        // An ignored SIGCHLD (inheritable through exec) makes the kernel reap children at once:
        // the fork server's and the GitHub process's pids could then be reused before we signal
        // them. The default disposition keeps each child ours until we wait for it.
        signal(SIGCHLD, SIG_DFL)
        _ = rm_close_from(3)
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) < 0 {
            let opened = Glibc.open("/dev/null", O_RDWR)
            if opened >= 0 && opened != fd { dup2(opened, fd); close(opened) }
        }
        // The only environment the tool reads is none: it never consults PATH (no subprocess
        // is ever run) and takes every setting from its arguments.
    }
}
