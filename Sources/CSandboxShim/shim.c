#define _GNU_SOURCE
#include "sandbox_shim.h"
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

int rm_errno(void) { return errno; }
int rm_openat(int dirfd, const char *path, int flags) { return openat(dirfd, path, flags); }
int rm_open(const char *path, int flags) { return open(path, flags); }
ssize_t rm_read(int fd, void *buffer, size_t count) { return read(fd, buffer, count); }
int rm_fstat(int fd, struct stat *status) { return (int)syscall(SYS_fstat, fd, status); }
int rm_keep_fork_server_capabilities(void) {
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof data);
    const int kept[] = { CAP_SETUID, CAP_SETGID, CAP_KILL };
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        data[kept[i] / 32].effective |= 1U << (kept[i] % 32);
        data[kept[i] / 32].permitted |= 1U << (kept[i] % 32);
    }
    return (int)syscall(SYS_capset, &header, data);
}
int rm_unblock_all_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL);
}
int rm_ignore_signal(int sig) { return signal(sig, SIG_IGN) == SIG_ERR ? -1 : 0; }
int rm_default_signal(int sig) { return signal(sig, SIG_DFL) == SIG_ERR ? -1 : 0; }
int rm_execute_descriptor(int fd, char *const argv[], char *const envp[]) {
    return (int)syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
}

int rm_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
int rm_set_not_dumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }
int rm_set_parent_death_signal(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }

int rm_install_seccomp_filter(const void *bpf, size_t len) {
    if (len == 0 || len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > 0xffff) {
        errno = EINVAL;
        return -1;
    }
    struct sock_fprog prog = {
        .len = (unsigned short)(len / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)bpf,
    };
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

_Noreturn void rm_exit_thread(int status) {
    for (;;) syscall(SYS_exit, status);
}

int rm_reserve_heap(size_t bytes) {
    if (mallopt(M_TRIM_THRESHOLD, INT_MAX) != 1 || mallopt(M_MMAP_MAX, 0) != 1) return -1;
    void *block = malloc(bytes);
    if (block == NULL) return -1;
    // A block nobody uses may be optimised away together with its malloc (clang does so from
    // -O1: release builds had no reserve at all, unnoticed, since tests run the debug build).
    // The empty asm "uses" it, and the result is checked rather than assumed: after the free,
    // the top of the heap, which later allocations take from without brk, must hold `bytes`.
    __asm__ volatile("" : : "r"(block) : "memory");
    free(block);
    return mallinfo2().keepcost >= bytes ? 0 : -1;
}

int rm_close_from(unsigned int first) { return (int)syscall(SYS_close_range, first, ~0U, 0); }
int rm_cloexec_from(unsigned int first) { return (int)syscall(SYS_close_range, first, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */); }
int rm_child_exit_descriptor(void) {
    sigset_t child;
    sigemptyset(&child);
    sigaddset(&child, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &child, NULL) != 0) return -1;
    return signalfd(-1, &child, SFD_NONBLOCK | SFD_CLOEXEC);
}
void rm_drain_signals(int fd) {
    struct signalfd_siginfo info[8];
    while (read(fd, info, sizeof info) > 0) {}
}
int rm_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}
pid_t rm_fork_single_threaded(void) { return (pid_t)syscall(SYS_fork); }
int rm_umount2(const char *target, int flags) { return umount2(target, flags); }
int rm_rename_noreplace(const char *from, const char *to) {
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */);
}

int rm_is_mount_root(int dirfd, const char *name) {
    struct statx stx;
    int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (name[0] == 0 ? AT_EMPTY_PATH : 0);
    if (statx(dirfd, name, flags, STATX_BASIC_STATS, &stx) != 0) return -1;
    if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) { errno = ENOTSUP; return -1; }
    return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) ? 1 : 0;
}

ssize_t rm_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds) {
    union { char buf[CMSG_SPACE(sizeof(int) * 4)]; struct cmsghdr align; } control;
    if (nfds < 0 || nfds > 4) { errno = EINVAL; return -1; }
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds > 0) {
        memset(&control, 0, sizeof(control));
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    do { n = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n;
}

ssize_t rm_recv_with_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds, int nonblocking) {
    union { char buf[CMSG_SPACE(sizeof(int) * 4)]; struct cmsghdr align; } control;
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                          .msg_controllen = sizeof(control.buf) };
    *nfds = 0;
    ssize_t n;
    int flags = MSG_CMSG_CLOEXEC | (nonblocking ? MSG_DONTWAIT : 0);
    do { n = recvmsg(sock, &msg, flags); } while (n < 0 && errno == EINTR);
    if (n < 0) return n;
    int got = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int *incoming = (int *)CMSG_DATA(c);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, incoming + i, sizeof(int));
            if (got < maxfds) fds[got++] = fd; else close(fd);
        }
    }
    *nfds = got;
    if (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
        for (int i = 0; i < got; i++) close(fds[i]);
        *nfds = 0;
        errno = EMSGSIZE;
        return -2;
    }
    return n;
}

const unsigned long rm_o_tmpfile = __O_TMPFILE;
const unsigned long rm_o_path = O_PATH;
const int rm_at_empty_path = AT_EMPTY_PATH;
const int rm_umount_nofollow = UMOUNT_NOFOLLOW;
const int rm_mnt_detach = MNT_DETACH;

#include <sys/resource.h>
int rm_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }
int rm_pipe_capacity(int fd) { return fcntl(fd, F_GETPIPE_SZ); }
int rm_set_pipe_capacity(int fd, int bytes) { return fcntl(fd, F_SETPIPE_SZ, bytes); }
int rm_setresuid(uid_t id) { return setresuid(id, id, id); }
int rm_setresgid(gid_t id) { return setresgid(id, id, id); }
int rm_setrlimit(int resource, unsigned long long soft, unsigned long long hard) {
    struct rlimit limit = { .rlim_cur = (rlim_t)soft, .rlim_max = (rlim_t)hard };
    return setrlimit(resource, &limit);
}
const int rm_rlimit_cpu = RLIMIT_CPU, rm_rlimit_as = RLIMIT_AS, rm_rlimit_fsize = RLIMIT_FSIZE,
    rm_rlimit_nproc = RLIMIT_NPROC, rm_rlimit_core = RLIMIT_CORE, rm_rlimit_memlock = RLIMIT_MEMLOCK,
    rm_rlimit_msgqueue = RLIMIT_MSGQUEUE, rm_rlimit_nofile = RLIMIT_NOFILE;
