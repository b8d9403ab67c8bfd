// The fork server's read-only segments (code, constants), each moved onto one huge page of a
// sealed memfd: see rm_read_only_segments_to_huge_pages in sandbox_shim.h.
#define _GNU_SOURCE
#include "sandbox_shim.h"
#include <link.h>
#include <sys/auxv.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

enum { huge = 2 << 20 };

static uintptr_t window_of(uintptr_t address) { return address & ~(uintptr_t)(huge - 1); }

/// Reserves [start, end) with an inaccessible mapping, only if nothing is mapped there
/// (MAP_FIXED_NOREPLACE fails with EEXIST otherwise). 0 on success or for an empty range.
static int claim(uintptr_t start, uintptr_t end) {
    if (start == end) return 0;
    void *at = mmap((void *)start, end - start, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (at == MAP_FAILED) return -1;
    if ((uintptr_t)at != start) {  // before Linux 4.17 the flag is only a hint
        munmap(at, end - start);
        return -1;
    }
    return 0;
}

static void unclaim(uintptr_t start, uintptr_t end) {
    if (start != end) munmap((void *)start, end - start);
}

/// An aligned 2 MiB of fresh address space inside a 4 MiB reservation, the rest given back;
/// 0 if none.
static uintptr_t aligned_scratch(void) {
    uint8_t *area = mmap(NULL, 2 * huge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) return 0;
    uintptr_t aligned = window_of((uintptr_t)area + huge - 1);
    unclaim((uintptr_t)area, aligned);
    unclaim(aligned + huge, (uintptr_t)area + 2 * huge);
    return aligned;
}

/// A read-only descriptor of a memfd holding `window`'s 2 MiB with the segment [start, end) at
/// its place, on one huge page, sealed and mode 0400: or -1.
static int huge_copy(uintptr_t window, uintptr_t start, uintptr_t end) {
    int fd = memfd_create("runner-metrics-text", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL) fd = memfd_create("runner-metrics-text", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -1;
    int collapsed = 0;
    if (ftruncate(fd, huge) == 0 &&
        pwrite(fd, (const void *)start, end - start, (off_t)(start - window)) == (ssize_t)(end - start)) {
        uintptr_t scratch = aligned_scratch();
        // MADV_COLLAPSE works on an aligned mapping, and succeeds only if the range is now one
        // huge page (Linux 6.1 and later; EINVAL before, or where THP is disabled outright):
        // 512 small pages would be no better than the file mapping they replace.
        if (scratch != 0) {
            collapsed = mmap((void *)scratch, huge, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) == (void *)scratch &&
                        madvise((void *)scratch, huge, MADV_COLLAPSE) == 0;
            munmap((void *)scratch, huge);
        }
    }
    // Sealed: the bytes can never change again. Mode 0400: no worker uid may ask for its pages
    // to be paged out (MADV_PAGEOUT wants write permission on the file). Opened again read-only
    // (the memfd's own descriptor is read-write): before Linux 6.7 a shared mapping of a
    // write-sealed memfd through a writable descriptor is refused even without PROT_WRITE.
    int readable = -1;
    if (collapsed && fchmod(fd, 0400) == 0 &&
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == 0) {
        char path[32];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        readable = open(path, O_RDONLY | O_CLOEXEC);
    }
    close(fd);
    return readable;
}

/// Maps the huge copy at a scratch address first, where a refusal touches nothing, then moves
/// it over the window with one mremap, which replaces the segment and the claimed gaps around
/// it; the code making the call lies in the segment replaced and continues on the same bytes.
static int move_segment(uintptr_t window, uintptr_t start, uintptr_t end, int protection) {
    if (claim(window, start) != 0) return -1;
    int moved = 0;
    if (claim(end, window + huge) == 0) {
        int fd = huge_copy(window, start, end);
        uintptr_t scratch = fd >= 0 ? aligned_scratch() : 0;
        if (scratch != 0) {
            moved = mmap((void *)scratch, huge, protection, MAP_SHARED | MAP_FIXED, fd, 0) == (void *)scratch &&
                    mremap((void *)scratch, huge, huge, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)window) == (void *)window;
            if (!moved) munmap((void *)scratch, huge);
        }
        if (fd >= 0) close(fd);
        if (!moved) unclaim(end, window + huge);
    }
    if (!moved) unclaim(window, start);
    return moved ? 0 : -1;
}

/// Whether the window at `window` may be replaced: no other segment reaches into it (the claims
/// would refuse a mapped page anyway; this also keeps a relro or data page out) and the heap
/// does not end in it (a heap in the window would fail the claims too).
static int window_is_free(const ElfW(Phdr) *headers, size_t count, uintptr_t bias, size_t self, uintptr_t window) {
    uintptr_t heap = (uintptr_t)sbrk(0);
    if (heap >= window && heap < window + huge) return 0;
    for (size_t j = 0; j < count; j++) {
        if (j == self || headers[j].p_type != PT_LOAD) continue;
        uintptr_t other = bias + headers[j].p_vaddr, other_end = other + headers[j].p_memsz;
        if (other < window + huge && other_end > window) return 0;
    }
    return 1;
}

int rm_read_only_segments_to_huge_pages(void) {
    const ElfW(Phdr) *headers = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    size_t count = getauxval(AT_PHNUM);
    if (headers == NULL || count == 0) return 0;
    // Memory-deny-write-execute asked of the kernel (PR_GET_MDWE, 66): honoured, as the
    // service manager's filter is (the caller does not call this under one).
    if (prctl(66, 0, 0, 0, 0) > 0) return 0;
    // The load bias from PT_PHDR; without one (GNU ld's static-pie) nothing is moved.
    uintptr_t bias = 0;
    int found = 0;
    for (size_t i = 0; i < count; i++) {
        if (headers[i].p_type != PT_PHDR) continue;
        bias = (uintptr_t)headers - headers[i].p_vaddr;
        found = 1;
    }
    if (!found) return 0;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    int moved = 0;
    for (size_t i = 0; i < count; i++) {
        const ElfW(Phdr) *segment = &headers[i];
        if (segment->p_type != PT_LOAD || (segment->p_flags & PF_W)) continue;
        uintptr_t start = (bias + segment->p_vaddr) & ~(page - 1);
        uintptr_t end = (bias + segment->p_vaddr + segment->p_memsz + page - 1) & ~(page - 1);
        int protection = PROT_READ | ((segment->p_flags & PF_X) ? PROT_EXEC : 0);
        // Window by window (a debug build's code spans two). Linked with -z max-page-size=2M
        // (the worker binaries are), no two segments share a window.
        for (uintptr_t window = window_of(start); window < end; window += huge) {
            if (!window_is_free(headers, count, bias, i, window)) continue;
            uintptr_t from = start > window ? start : window, to = end < window + huge ? end : window + huge;
            if (move_segment(window, from, to, protection) == 0) moved++;
        }
    }
    return moved;
}
