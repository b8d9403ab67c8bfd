#!/usr/bin/env python3
"""runner-metrics against the upstream algorithm, side by side, on the same fresh trees.

usage: Security/bench/compare.py [--binary .build/release/runner-metrics] [--rounds 3]
                                 [--scenarios plain,corrupt,ext4] [--runners 2000] [--ext4-runners 200]
                                 [--unit-filter]
Build first: `swift build -c release --static-swift-stdlib`. Needs root (the tool's workers drop
to their own uid; the ext4 scenario loop-mounts images), mkfs.ext4, and python3 with pydantic.

Scenarios: `plain` (2,000 runner directories), `corrupt` (the same, every tenth corrupt:
quarantined by both sides), `ext4` (200 runners on loop-mounted ext4 images, as the charm lays
them out). Every round lays out a fresh tree for each side and writes it to disk (sync) just
before that side runs; the sides alternate, and which goes first alternates by round. The
upstream side (upstream.py) runs in this process, its modules already imported, as it does in
the charm; `extract` runs as its own process, as cron or systemd starts it.

Each round checks that both sides issued the same metric lines (as a multiset; the tool writes
them batch by batch) and quarantined the same runners, and that nothing is left in the tree and
no mount under it. One JSON line per scenario: the median, minimum and maximum wall seconds of
each side, the ratio of the medians (runner-metrics / upstream; lower is better) and every
round's ratio.

--unit-filter runs `extract` under the shipped unit's system call filter (the SystemCallFilter=
lines of Security/systemd/runner-metrics.service, groups expanded by `systemd-analyze
syscall-filter`, refused calls failing with EPERM, plus MemoryDenyWriteExecute='s filter and
no_new_privs), loaded with libseccomp just before exec, as systemd does.
"""
import argparse, collections, ctypes, ctypes.util, json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runners  # noqa: E402
import upstream  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(ROOT, "Security", "systemd", "runner-metrics.service")


def lay_out(root, scenario, n):
    shutil.rmtree(root, ignore_errors=True)
    for d in ("fs", "img", "q", "state"):
        os.makedirs(os.path.join(root, d))
    os.chmod(root, 0o755)
    fs, img = os.path.join(root, "fs"), os.path.join(root, "img")
    if scenario == "ext4":
        runners.ext4_tree(fs, img, n)
    else:
        runners.plain_tree(fs, n, 10 if scenario == "corrupt" else 0)


def run_upstream(root):
    start = time.perf_counter()
    counts = upstream.extract(Path(root, "fs"), Path(root, "img"), Path(root, "q"), Path(root, "metrics.log"), "small")
    return time.perf_counter() - start, counts["quarantined"]


def run_tool(binary, root, preexec):
    r = lambda d: os.path.join(root, d)
    cmd = [binary, "extract", "--flavor", "small", "--json", "--runner-fs-dir", r("fs"), "--images-dir", r("img"),
           "--quarantine-dir", r("q"), "--metrics-log", r("metrics.log"), "--audit-log", r("audit.log"),
           "--state-dir", r("state")]
    start = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec)
    wall = time.perf_counter() - start
    if p.returncode not in (0, 3):
        sys.exit(f"extract failed with exit status {p.returncode}: {p.stderr[-2000:]}")
    return wall, json.loads(p.stdout.strip().splitlines()[-1])["quarantined"]


def check_done(root):
    """The metric lines, after checking the run left no runner, image or mount behind."""
    left = os.listdir(os.path.join(root, "fs")) + os.listdir(os.path.join(root, "img"))
    mounted = runners.mounts_under(root)
    if left or mounted:
        sys.exit(f"{root}: left behind: {left[:5]} mounted: {mounted[:5]}")
    with open(os.path.join(root, "metrics.log")) as f:
        return collections.Counter(f.read().splitlines())


def unit_filter():
    """A preexec_fn that loads the shipped unit's filters into the child, and the call count."""
    groups = {}

    def expand(item):
        if not item.startswith("@"):
            return {item}
        if item not in groups:
            out = subprocess.run(["systemd-analyze", "syscall-filter", item], check=True, stdout=subprocess.PIPE,
                                 text=True).stdout.splitlines()[1:]
            groups[item] = set().union(*(expand(w.strip()) for w in out if w.strip() and not w.strip().startswith("#")))
        return groups[item]

    allowed = set()
    with open(UNIT) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            if key != "SystemCallFilter":
                continue
            deny = value.startswith("~")
            names = set().union(*(expand(w) for w in value.lstrip("~").split()))
            allowed = allowed - names if deny else allowed | names
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp"), use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]

    class Cmp(ctypes.Structure):
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]

    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(Cmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ALLOW, EPERM, MASKED_EQ = 0x7FFF0000, 0x00050000 | 1, 7
    # SystemCallFilter= with SystemCallErrorNumber=EPERM: an allowlist, anything else fails.
    calls = ctypes.c_void_p(lib.seccomp_init(EPERM))
    numbers = [n for n in (lib.seccomp_syscall_resolve_name(s.encode()) for s in sorted(allowed)) if n >= 0]
    for n in numbers:
        if lib.seccomp_rule_add_array(calls, ALLOW, n, 0, None) != 0:
            sys.exit(f"seccomp_rule_add({n}) failed")
    # MemoryDenyWriteExecute=: no mapping both writable and executable, no making memory executable.
    mdwe = ctypes.c_void_p(lib.seccomp_init(ALLOW))
    PROT_WRITE, PROT_EXEC, SHM_EXEC = 2, 4, 0o100000
    for call, arg, mask, value in (("mmap", 2, PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC),
                                   ("mprotect", 2, PROT_EXEC, PROT_EXEC), ("pkey_mprotect", 2, PROT_EXEC, PROT_EXEC),
                                   ("shmat", 2, SHM_EXEC, SHM_EXEC)):
        cmp = Cmp(arg, MASKED_EQ, mask, value)
        if lib.seccomp_rule_add_array(mdwe, EPERM, lib.seccomp_syscall_resolve_name(call.encode()), 1,
                                      ctypes.byref(cmp)) != 0:
            sys.exit(f"seccomp_rule_add({call}) failed")
    libc = ctypes.CDLL(None, use_errno=True)

    def load():
        if libc.prctl(38, 1, 0, 0, 0) != 0 or lib.seccomp_load(mdwe) != 0 or lib.seccomp_load(calls) != 0:
            os.write(2, b"compare.py: loading the unit's filter failed\n")
            os._exit(127)

    return load, len(numbers)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "runner-metrics"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scenarios", default="plain,corrupt,ext4")
    ap.add_argument("--runners", type=int, default=2000)
    ap.add_argument("--ext4-runners", type=int, default=200)
    ap.add_argument("--unit-filter", action="store_true")
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary} not found: run `swift build -c release --static-swift-stdlib` first")
    preexec, filtered = unit_filter() if a.unit_filter else (None, 0)
    work = tempfile.mkdtemp(prefix="rm-compare-", dir="/var/tmp")
    os.chmod(work, 0o755)
    try:
        for scenario in a.scenarios.split(","):
            if scenario not in ("plain", "corrupt", "ext4"):
                sys.exit(f"unknown scenario {scenario}")
            n = a.ext4_runners if scenario == "ext4" else a.runners
            times = {"upstream": [], "tool": []}
            for r in range(a.rounds):
                results = {}
                for side in (("upstream", "tool") if r % 2 == 0 else ("tool", "upstream")):
                    root = os.path.join(work, side)
                    lay_out(root, scenario, n)
                    wall, quarantined = run_upstream(root) if side == "upstream" else run_tool(binary, root, preexec)
                    times[side].append(wall)
                    results[side] = (quarantined, check_done(root))
                if results["upstream"] != results["tool"]:
                    (qu, lu), (qt, lt) = results["upstream"], results["tool"]
                    sys.exit(f"{scenario}: the sides differ: quarantined {qu} / {qt}; lines only upstream: "
                             f"{list((lu - lt).elements())[:3]}, only the tool: {list((lt - lu).elements())[:3]}")
            up, tool = times["upstream"], times["tool"]
            quarantined, lines = results["tool"]
            print(json.dumps({
                "scenario": scenario, "runners": n, "rounds": a.rounds, "unit_filter": a.unit_filter,
                **({"unit_filter_calls_allowed": filtered} if a.unit_filter else {}),
                "upstream_s": round(statistics.median(up), 4), "runner_metrics_s": round(statistics.median(tool), 4),
                "ratio": round(statistics.median(tool) / statistics.median(up), 3),
                "upstream_min_max_s": [round(min(up), 4), round(max(up), 4)],
                "runner_metrics_min_max_s": [round(min(tool), 4), round(max(tool), 4)],
                "round_ratios": [round(t / u, 3) for t, u in zip(tool, up)],
                "events": sum(lines.values()), "quarantined": quarantined,
            }), flush=True)
    finally:
        runners.unmount_all(work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
