// Test-only: raw system calls the sandbox probe makes on purpose. Never linked into the tool.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
long probe_syscall(long number, long a, long b, long c);
extern const long probe_sys_ptrace, probe_sys_mount, probe_sys_execve, probe_sys_clone, probe_sys_socket,
    probe_sys_kill, probe_sys_unlinkat, probe_sys_openat, probe_sys_mprotect, probe_sys_fork;
