// Thin C wrappers for the Linux calls Swift cannot reach directly: variadic functions
// (prctl, syscall), CMSG macros for descriptor passing, and a few structs the Glibc module
// does not import. Each wrapper returns what the underlying call returns and leaves errno.
//
// It also includes the libc headers the worker side uses, so that code compiles unchanged as
// normal Swift (supervisor, tests) and as Embedded Swift (the worker binary), where no Glibc
// module exists.
#pragma once
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/// errno: a macro over a thread-local, which Embedded Swift cannot read.
int rm_errno(void);
/// openat(dirfd, path, flags), no mode: the variadic original is not callable from Swift.
int rm_openat(int dirfd, const char *path, int flags);
/// open(path, flags), no mode.
int rm_open(const char *path, int flags);
/// read(2), under a name that does not clash with Swift methods called `read`.
ssize_t rm_read(int fd, void *buffer, size_t count);
/// The fstat system call itself (glibc's fstat is newfstatat(fd, "", AT_EMPTY_PATH), a call that
/// takes a path; the fstat call takes none, so a seccomp policy can allow it without allowing
/// a stat of any host path).
int rm_fstat(int fd, struct stat *status);
/// capset: keep only CAP_SETUID, CAP_SETGID and CAP_KILL (effective and permitted), all a fork
/// server needs to turn a child into a worker and to end a worker that overran.
int rm_keep_fork_server_capabilities(void);
/// Unblocks every signal (the mask survives execve).
int rm_unblock_all_signals(void);
/// signal(sig, SIG_IGN) and signal(sig, SIG_DFL): the handler constants are casts Swift cannot import.
int rm_ignore_signal(int sig);
int rm_default_signal(int sig);
/// execve(path, argv, envp) on an executable already opened as `fd` (execveat AT_EMPTY_PATH):
/// the file checked is the file run.
int rm_execute_descriptor(int fd, char *const argv[], char *const envp[]);

/// prctl(PR_SET_NO_NEW_PRIVS, 1): execve can never grant privileges again.
int rm_set_no_new_privs(void);
/// prctl(PR_SET_DUMPABLE, 0): no core dump, no ptrace attach by same-uid processes.
int rm_set_not_dumpable(void);
/// prctl(PR_SET_PDEATHSIG, sig): the kernel sends `sig` when the parent dies.
int rm_set_parent_death_signal(int sig);
/// prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) with a precompiled BPF program
/// (`len` bytes, a multiple of 8). No allocation: safe right after fork.
int rm_install_seccomp_filter(const void *bpf, size_t len);
/// syscall(SYS_exit, status): the exit system call. In a single-threaded process it ends the
/// process with `status`; the directory worker's filter allows it (and exit_group, which is
/// what _exit calls), nothing else that ends a process.
_Noreturn void rm_exit_thread(int status);
/// Lets malloc serve at least `bytes` more without a system call, for a forked child that may
/// make none: never trim the heap (brk), never map a block (mmap), and grow the heap by
/// `bytes` now (malloc then free; the pages stay untouched, so a fork does not copy them).
/// -1 if any of it failed, including a heap top smaller than `bytes` afterwards.
int rm_reserve_heap(size_t bytes);
/// syscall(SYS_close_range, first, ~0U, 0): closes every descriptor from `first` up.
int rm_close_from(unsigned int first);
/// syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC): every descriptor from `first` up
/// is closed by the next execve (and stays usable until then).
int rm_cloexec_from(unsigned int first);
/// Blocks SIGCHLD and returns a signalfd(SFD_NONBLOCK|SFD_CLOEXEC) that becomes readable when
/// a child exits, or -1. The fork server's one wake-up source for exits: it then reaps every
/// exited child with wait4(-1, WNOHANG) in one go, instead of holding a pidfd per worker.
int rm_child_exit_descriptor(void);
/// Drains a signalfd (reads until it would block); the signals' contents are not needed.
void rm_drain_signals(int fd);
/// fcntl(fd, F_SETFL, O_NONBLOCK | current flags).
int rm_set_nonblocking(int fd);
/// syscall(SYS_fork): a new process, as fork(2), without glibc's fork() around it. glibc's
/// fork() locks and resets its malloc, stdio and loader state on both sides for the sake of
/// other threads, writing to pages the child would otherwise only read; in a single-threaded
/// caller that is pure cost (measured: 4 of the 20 pages each worker copied, and the
/// parent's copy-on-write faults after every fork). Only for single-threaded processes: the
/// fork server.
pid_t rm_fork_single_threaded(void);
/// renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE): never replaces an existing entry.
int rm_rename_noreplace(const char *from, const char *to);
/// umount2(target, flags).
int rm_umount2(const char *target, int flags);
/// 1 if `name` under `dirfd` is the root of a mount (statx STATX_ATTR_MOUNT_ROOT), 0 if not, -1 on error.
/// An empty `name` asks about `dirfd` itself.
int rm_is_mount_root(int dirfd, const char *name);
/// sendmsg with `nfds` descriptors attached as SCM_RIGHTS.
ssize_t rm_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);
/// recvmsg taking up to `maxfds` descriptors (received with O_CLOEXEC). Sets *nfds.
/// Returns -2 (and closes what arrived) if the data or the control data was truncated.
/// With `nonblocking`, MSG_DONTWAIT: -1 with EAGAIN when nothing is queued.
ssize_t rm_recv_with_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds, int nonblocking);
/// The numbers libseccomp argument filters need, exported as constants for Swift.
extern const unsigned long rm_o_tmpfile;
extern const unsigned long rm_o_path;
extern const int rm_at_empty_path;
extern const int rm_umount_nofollow;
extern const int rm_mnt_detach;
/// pipe2(fds, flags): not exported by Swift's Glibc module (a _GNU_SOURCE call).
int rm_pipe2(int fds[2], int flags);
/// fcntl(fd, F_GETPIPE_SZ) and fcntl(fd, F_SETPIPE_SZ, bytes): a pipe's capacity in bytes
/// (also _GNU_SOURCE). Both return the capacity, or -1.
int rm_pipe_capacity(int fd);
int rm_set_pipe_capacity(int fd, int bytes);
/// setresuid/setresgid to one id for real, effective and saved (also _GNU_SOURCE).
int rm_setresuid(uid_t id);
int rm_setresgid(gid_t id);
/// setrlimit(resource, {soft, hard}).
int rm_setrlimit(int resource, unsigned long long soft, unsigned long long hard);
extern const int rm_rlimit_cpu, rm_rlimit_as, rm_rlimit_fsize, rm_rlimit_nproc, rm_rlimit_core,
    rm_rlimit_memlock, rm_rlimit_msgqueue, rm_rlimit_nofile;

// Cleanup and quarantine (quarantine_shim.c).
/// What one statx says of an entry: `mnt_id` 0 where STATX_MNT_ID is unsupported,
/// `mount_root` -1 where STATX_ATTR_MOUNT_ROOT is.
struct rm_identity {
    unsigned long long dev, ino, mnt_id;
    unsigned int mode, nlink;
    int mount_root;
};
/// statx(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) of `name` under `dirfd` (empty: `dirfd` itself).
int rm_identity_at(int dirfd, const char *name, struct rm_identity *out);
/// fchownat(fd, "", uid, gid, AT_EMPTY_PATH): the inode `fd` (possibly O_PATH) refers to.
int rm_fchown_empty_path(int fd, uid_t uid, gid_t gid);
/// Starts `path` with standard input `input` and output `output` (both above 2), an empty environment,
/// under `uid`/`gid` with no groups and no_new_privs; returns its pid or -1.
pid_t rm_spawn_unprivileged(const char *path, char *const argv[], int input, int output, uid_t uid, gid_t gid);
/// waitpid(pid) retried on EINTR: the wait status, or -1.
int rm_wait_exit_status(pid_t pid);

// Pipes to a child that may die (pipe_shim.c).
/// write(fd, buffer, count) with SIGPIPE blocked for the calling thread: a reader gone away is
/// -1 with EPIPE, never a signal that would end the caller (a pending SIGPIPE this write raised
/// is consumed before the mask is restored).
ssize_t rm_write_without_sigpipe(int fd, const void *buffer, size_t count);
