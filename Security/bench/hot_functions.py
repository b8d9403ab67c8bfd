#!/usr/bin/env python3
"""Regenerates Sources/runner-metrics-worker/hot-functions.order: the functions a freshly forked
worker runs, packed together by the linker (lld --symbol-ordering-file) so that a worker faults
in as few 64 KiB code windows as possible, followed by what only the fork server runs.

usage: Security/bench/hot_functions.py [--runners 60] [--rounds 2]
Build first (`swift build -c release --static-swift-stdlib`); needs root, tracefs and `perf`.

1. Every function of the worker binary gets a uprobe (tracefs uprobe_events); one small
   extract (`--jobs 1`, every third runner corrupt, so both the valid and the rejecting paths
   run) records which process entered which function. The order is: the fork server's loop
   (a worker starts inside it, returning from fork, which no entry probe sees), then every
   function workers entered, the ones all workers ran first, then what only the server ran.
   Exact, where sampling (the previous method) missed short functions such as `dup2`.
2. `--rounds` times: relink, trace the page faults of a 400-runner extract
   (exceptions:page_fault_user) and add the symbol under each worker fault outside the
   packed range, code or read-only data (lld orders data symbols too): what runs or is read
   without a function entry, e.g. strtod's tables.
Both run under an allow-everything seccomp filter (as under the shipped systemd unit): without
one the fork server moves its code onto huge pages, where the order no longer matters and no
uprobe on the file fires. A stale list costs only page faults, never correctness: lld ignores names it does not find
(--no-warn-symbol-ordering). SwiftPM does not relink when only the list changes, so this
script deletes the worker binary before each build. Compare the faults per worker (printed)
before keeping a new list.
"""
import argparse, bisect, collections, os, re, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(ROOT, ".build", "release")
SUPERVISOR, WORKER = os.path.join(RELEASE, "runner-metrics"), os.path.join(RELEASE, "runner-metrics-worker")
ORDER = os.path.join(ROOT, "Sources", "runner-metrics-worker", "hot-functions.order")
TRACING = "/sys/kernel/tracing"
LAYOUT = os.path.join(os.path.dirname(ROOT), "shared", "bench", "make_runner_fs.py")


def run(args, **kw):
    return subprocess.run(args, check=True, **kw)


def under_a_filter():
    """Puts the child under an allow-everything seccomp filter, as systemd's SystemCallFilter=
    puts the service. The fork server then leaves its code in the executable's file mapping
    (it moves it onto huge pages only when unfiltered: rm_read_only_segments_to_huge_pages),
    which is the case the order is for, and the only one uprobes on the file can see."""
    import ctypes

    class Instruction(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Instruction))]

    libc = ctypes.CDLL(None, use_errno=True)
    allow = (Instruction * 1)(Instruction(0x06, 0, 0, 0x7FFF0000))  # BPF_RET|BPF_K, SECCOMP_RET_ALLOW
    program = Program(1, allow)
    # PR_SET_NO_NEW_PRIVS (38), then PR_SET_SECCOMP (22) with SECCOMP_MODE_FILTER (2).
    if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(program), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp")


def extract(work, runners, corrupt_every, prefix=(), jobs=None):
    root = tempfile.mkdtemp(dir=work)
    for d in ("img", "q", "state"):
        os.makedirs(os.path.join(root, d))
    run([sys.executable, LAYOUT, os.path.join(root, "fs"), str(runners), str(corrupt_every)])
    args = list(prefix) + [SUPERVISOR, "extract", "--flavor", "hot", "--runner-fs-dir", os.path.join(root, "fs"),
                           "--images-dir", os.path.join(root, "img"), "--quarantine-dir", os.path.join(root, "q"),
                           "--metrics-log", os.path.join(root, "m.log"), "--audit-log", os.path.join(root, "a.log"),
                           "--state-dir", os.path.join(root, "state"), "--worker-timeout", "30"]
    if jobs:
        args += ["--jobs", str(jobs)]
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=under_a_filter)


def symbols(kinds):
    """(address, name) of the worker binary's defined symbols of the given nm kinds, by address."""
    out = run(["nm", "-n", "--defined-only", WORKER], capture_output=True, text=True).stdout
    return [(int(f[0], 16), f[2]) for f in (line.split() for line in out.splitlines()) if len(f) == 3 and f[1] in kinds]


def file_offset(address, loads):
    for vaddr, offset, size in loads:
        if vaddr <= address < vaddr + size:
            return address - vaddr + offset
    return None


def trace_entries(work, runners):
    """Which functions each process of the fork server's family entered, in order."""
    loads = []
    for line in run(["readelf", "-lW", WORKER], capture_output=True, text=True).stdout.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            loads.append((int(f[2], 16), int(f[1], 16), int(f[4], 16)))
    names = {}
    probes = []
    for address, name in symbols("tTwW"):
        offset = file_offset(address, loads)
        if offset is not None and address not in names.values():
            names[f"f{len(names)}"] = name
            probes.append(f"p:rmhot/f{len(names) - 1} {WORKER}:0x{offset:x}\n")

    def write(path, text, append=False):
        fd = os.open(os.path.join(TRACING, path), os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC))
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)

    # Only this script's own probes are added and removed, and the buffer size is restored:
    # tracefs is the whole machine's.
    with open(os.path.join(TRACING, "buffer_size_kb")) as f:
        buffer_size = f.read().split()[0]
    added = []
    try:
        for probe in probes:
            write("uprobe_events", probe, append=True)
            added.append(probe.split()[0][2:])  # "p:rmhot/fN ..." -> "rmhot/fN"
        write("buffer_size_kb", "65536")
        write("trace", "")
        write("events/rmhot/enable", "1")
        extract(work, runners, 3, jobs=1)
        write("events/rmhot/enable", "0")
        with open(os.path.join(TRACING, "trace")) as f:
            trace = f.read()
    finally:
        if added:
            write("events/rmhot/enable", "0")
        for event in added:
            write("uprobe_events", f"-:{event}\n", append=True)
        write("buffer_size_kb", buffer_size)
    entered = collections.defaultdict(list)
    for line in trace.splitlines():
        m = re.match(r"\s*\S+-(\d+)\s+\[\d+\]\s+\S+\s+[\d.]+:\s+(f\d+):", line)
        if m:
            entered[int(m.group(1))].append(names[m.group(2)])
    return entered


def order_from(entered):
    # The fork server is the process that entered its loop; workers start inside it.
    server = next(pid for pid, names in entered.items() if any("ForkServerLoop" in n and "serve" in n for n in names))
    workers = [pid for pid in entered if pid != server]
    ran, first = collections.Counter(), {}
    for pid in workers:
        for index, name in enumerate(dict.fromkeys(entered[pid])):
            ran[name] += 1
            first[name] = min(first.get(name, index), index)
    fork_path = [n for n in dict.fromkeys(entered[server]) if "ForkServerLoop" in n and ("serve" in n or "handle" in n)]
    worker = list(dict.fromkeys(fork_path + sorted(ran, key=lambda n: (-ran[n], first[n]))))
    server_only = [n for n in dict.fromkeys(entered[server]) if n not in set(worker)]
    print(f"{len(workers)} workers traced: {len(worker)} worker functions, {len(server_only)} more in the server")
    return worker, server_only


def build():
    if os.path.exists(WORKER):
        os.unlink(WORKER)
    run(["swift", "build", "-c", "release", "--static-swift-stdlib"], cwd=ROOT, stdout=subprocess.DEVNULL)


def worker_faults(work):
    """Faults per worker and the symbols under worker read faults outside the packed code."""
    data = os.path.join(work, "faults.data")
    extract(work, 400, 0, prefix=["perf", "record", "-q", "-e", "exceptions:page_fault_user", "-a", "-o", data, "--"])
    script = run(["perf", "script", "-i", data, "-F", "comm,pid,trace"], capture_output=True, text=True).stdout
    faults = collections.defaultdict(list)
    for line in script.splitlines():
        m = re.search(r"runner-metrics-\s+(\d+)\s+address=0x([0-9a-f]+)\s+ip=0x([0-9a-f]+)\s+error_code=0x([0-9a-f]+)", line)
        if m:
            faults[int(m.group(1))].append((int(m.group(2), 16), int(m.group(4), 16)))
    server = max(faults, key=lambda pid: len(faults[pid]))
    workers = [pid for pid in faults if pid != server]
    table = symbols("tTwWrRdDbB")
    starts = [address for address, _ in table]
    under = collections.Counter()
    for pid in workers:
        for address, code in faults[pid]:
            if not code & 2:  # reads and instruction fetches: what ordering can pack
                index = bisect.bisect_right(starts, address) - 1
                if index >= 0:
                    under[table[index][1]] += 1
    per_worker = sum(len(faults[pid]) for pid in workers) / max(1, len(workers))
    return per_worker, [name for name, count in under.items() if count >= len(workers) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runners", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rm-hot-") as work:
        worker, server_only = order_from(trace_entries(work, a.runners))
        extra = []
        for round in range(a.rounds + 1):
            with open(ORDER, "w") as out:
                out.write("\n".join(dict.fromkeys(worker + extra + server_only)) + "\n")
            build()
            per_worker, found = worker_faults(work)
            new = [name for name in found if name not in set(worker + extra)]
            print(f"round {round}: {per_worker:.2f} page faults per worker; {len(new)} symbols to add: {new}")
            if not new:
                break
            extra += new
    print(f"written to {ORDER}")


if __name__ == "__main__":
    main()
