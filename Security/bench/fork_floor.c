// The floor of "a fresh confined process per runner", for comparison with runner-metrics:
// per runner directory, fork a child (two at a time) that opens its three metric files,
// installs a precompiled seccomp filter (mode >= 1), reads them and exits. Mode 2 also deletes
// each directory afterwards in the parent, one after another. No decoding, no logs, no journal.
//
//   gcc -O2 -o /tmp/fork_floor Security/bench/fork_floor.c -lseccomp
//   python3 ../shared/bench/make_runner_fs.py /tmp/floor-fs 2000 && /tmp/fork_floor /tmp/floor-fs 1
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *files[3] = {"runner-installed.timestamp", "pre-job-metrics.json", "post-job-metrics.json"};
static struct sock_fprog program;

static void child(int directory, int mode) {
    int fds[3];
    for (int i = 0; i < 3; i++) fds[i] = openat(directory, files[i], O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    if (mode >= 1) {
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program)) _exit(9);
    }
    char buffer[1025];
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0) while (read(fds[i], buffer, sizeof buffer) > 0) {}
    _exit(0);
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: fork_floor DIR MODE(0|1|2)\n"); return 2; }
    int mode = atoi(argv[2]);
    scmp_filter_ctx context = seccomp_init(SCMP_ACT_KILL_PROCESS);
    int allowed[] = {SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(close), SCMP_SYS(exit_group), SCMP_SYS(exit),
                     SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(futex), SCMP_SYS(rt_sigreturn)};
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) seccomp_rule_add(context, SCMP_ACT_ALLOW, allowed[i], 0);
    int pipe_ends[2];
    if (pipe(pipe_ends)) return 1;
    seccomp_export_bpf(context, pipe_ends[1]);
    close(pipe_ends[1]);
    static char bpf[65536];
    ssize_t length = read(pipe_ends[0], bpf, sizeof bpf);
    if (length <= 0) return 1;
    program.len = (unsigned short)(length / sizeof(struct sock_filter));
    program.filter = (struct sock_filter *)bpf;

    DIR *root = opendir(argv[1]);
    if (!root) { perror(argv[1]); return 1; }
    static char *names[1000000];
    int count = 0;
    for (struct dirent *entry; (entry = readdir(root)) && count < 1000000;)
        if (entry->d_name[0] != '.') names[count++] = strdup(entry->d_name);

    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int running = 0;
    for (int i = 0; i < count; i++) {
        int directory = openat(dirfd(root), names[i], O_DIRECTORY | O_RDONLY | O_NOFOLLOW);
        if (running == 2) { wait(NULL); running--; }
        if (fork() == 0) child(directory, mode);
        running++;
        close(directory);
    }
    while (running-- > 0) wait(NULL);
    if (mode == 2) {
        for (int i = 0; i < count; i++) {
            int directory = openat(dirfd(root), names[i], O_DIRECTORY | O_RDONLY | O_NOFOLLOW);
            for (int f = 0; f < 3; f++) unlinkat(directory, files[f], 0);
            close(directory);
            unlinkat(dirfd(root), names[i], AT_REMOVEDIR);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    printf("{\"mode\": %d, \"runners\": %d, \"wall_s\": %.3f}\n", mode, count,
           (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9);
    return 0;
}
