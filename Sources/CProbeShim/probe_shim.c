#define _GNU_SOURCE
#include "probe_shim.h"
#include <sys/syscall.h>
#include <unistd.h>

long probe_syscall(long number, long a, long b, long c) { return syscall(number, a, b, c); }
const long probe_sys_ptrace = SYS_ptrace, probe_sys_mount = SYS_mount, probe_sys_execve = SYS_execve,
    probe_sys_clone = SYS_clone, probe_sys_socket = SYS_socket, probe_sys_kill = SYS_kill,
    probe_sys_unlinkat = SYS_unlinkat, probe_sys_openat = SYS_openat, probe_sys_mprotect = SYS_mprotect,
    probe_sys_fork = SYS_fork;
