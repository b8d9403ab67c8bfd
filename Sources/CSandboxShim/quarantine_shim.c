#define _GNU_SOURCE
#include "sandbox_shim.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif

// One statx answers everything cleanup asks of an entry: which inode it is, on which device
// and mount, its type and link count, and whether it is the root of a mount. Never follows a
// symlink or triggers an automount.
int rm_identity_at(int dirfd, const char *name, struct rm_identity *out) {
    struct statx stx;
    int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (name[0] == 0 ? AT_EMPTY_PATH : 0);
    if (statx(dirfd, name, flags, STATX_BASIC_STATS | STATX_MNT_ID, &stx) != 0) return -1;
    out->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    out->ino = stx.stx_ino;
    out->mnt_id = (stx.stx_mask & STATX_MNT_ID) ? stx.stx_mnt_id : 0;
    out->mode = stx.stx_mode;
    out->nlink = stx.stx_nlink;
    out->mount_root = (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) ? ((stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) ? 1 : 0) : -1;
    return 0;
}

int rm_fchown_empty_path(int fd, uid_t uid, gid_t gid) {
    return fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
}

// fork + exec of `path` with `argv`, an empty environment, standard input `input`, standard
// output `output` and standard error /dev/null-like (closed), under `uid`/`gid` with no
// supplementary groups and no_new_privs. The child makes raw system calls only: glibc's
// setresuid would try to reach the parent's other threads, which the child does not have.
// Returns the child's pid, or -1.
pid_t rm_spawn_unprivileged(const char *path, char *const argv[], int input, int output, uid_t uid, gid_t gid) {
    static char *const empty[] = { NULL };
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid != 0) return pid;
    // The caller passes descriptors above 2, so neither dup3 overwrites the other's source.
    if (input < 3 || output < 3) syscall(SYS_exit_group, 126);
    if (syscall(SYS_dup3, input, 0, 0) < 0 || syscall(SYS_dup3, output, 1, 0) < 0) syscall(SYS_exit_group, 126);
    if (syscall(SYS_close_range, 2U, ~0U, 0) != 0) {
        for (int fd = 2; fd < 1024; fd++) syscall(SYS_close, fd);
    }
    if (syscall(SYS_setgroups, 0, NULL) != 0 || syscall(SYS_setresgid, gid, gid, gid) != 0
        || syscall(SYS_setresuid, uid, uid, uid) != 0) syscall(SYS_exit_group, 126);
    if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) syscall(SYS_exit_group, 126);
    syscall(SYS_execve, path, argv, empty);
    syscall(SYS_exit_group, 127);
    return -1;
}

int rm_wait_exit_status(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return status;
}
