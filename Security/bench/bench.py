#!/usr/bin/env python3
"""runner-metrics benchmark: one JSON line per scenario.

usage: Security/bench/bench.py [--binary-dir .build/release] [--scenarios a,b,...] [--quick]
Build first: `swift build -c release --static-swift-stdlib` (builds runner-metrics, its fork
server runner-metrics-worker, and the test probe with its own fork server; see README
"Performance"). Needs root (workers drop to their own uid; the ext4 scenario mounts loop devices).

Each line: scenario, runners, wall_s, runners_per_s, worker_p50_ms, worker_p99_ms,
supervisor_max_rss_kib, worker_max_rss_kib, and the supervisor's phase_seconds (where the time
went outside the workers: journal, metrics log, quarantine, delete, directory fsyncs).
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runners  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def lay_plain(fs, n, corrupt_every=0):
    runners.plain_tree(fs, n, corrupt_every)


def extract(binary, root, extra=(), program_args=None):
    for d in ("q", "img", "state"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    args = program_args or [binary, "extract", "--flavor", "small", "--json",
                            "--runner-fs-dir", os.path.join(root, "fs"), "--images-dir", os.path.join(root, "img"),
                            "--quarantine-dir", os.path.join(root, "q"), "--metrics-log", os.path.join(root, "metrics.log"),
                            "--audit-log", os.path.join(root, "audit.log"), "--state-dir", os.path.join(root, "state")]
    t = time.perf_counter()
    p = subprocess.run(list(args) + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    if p.returncode not in (0, 3):
        sys.exit(f"extract failed ({p.returncode}): {p.stderr[-2000:]}")
    return wall, json.loads(p.stdout.strip().splitlines()[-1])


def line(scenario, runners, wall, s, **more):
    out = {"scenario": scenario, "runners": runners, "wall_s": round(wall, 4),
           "runners_per_s": round(runners / wall, 1) if wall else None,
           "worker_p50_ms": round(s.get("worker_p50_seconds", 0) * 1e3, 3),
           "worker_p99_ms": round(s.get("worker_p99_seconds", 0) * 1e3, 3),
           "supervisor_max_rss_kib": s.get("supervisor_max_rss_kib"),
           "worker_max_rss_kib": s.get("worker_max_rss_kib"),
           "events": s.get("runner_start", 0) + s.get("runner_stop", 0) + s.get("runner_installed", 0),
           "quarantined": s.get("quarantined"),
           "phase_seconds": {k: round(v, 4) for k, v in s.get("phase_seconds", {}).items()}}
    out.update(more)
    print(json.dumps(out), flush=True)


def scenario_plain(binary, work, n, corrupt_every):
    root = os.path.join(work, "plain")
    lay_plain(os.path.join(root, "fs"), n, corrupt_every)
    wall, s = extract(binary, root)
    line(f"plain-{n}" + (f"-corrupt-every-{corrupt_every}" if corrupt_every else ""), n, wall, s)
    return wall


def scenario_hostile(binary, work, n, baseline):
    """A FIFO and a 10 GiB sparse file among honest runners: grows the run by at most the
    worker timeout (in fact by almost nothing: both are refused by lstat, unopened/unread)."""
    root = os.path.join(work, "hostile")
    fs = os.path.join(root, "fs")
    lay_plain(fs, n)
    for name in ("hostile-fifo", "hostile-sparse"):
        os.mkdir(os.path.join(fs, name)); os.chmod(os.path.join(fs, name), 0o755)
        with open(os.path.join(fs, name, "runner-installed.timestamp"), "w") as f:
            f.write("1700000000")
    os.mkfifo(os.path.join(fs, "hostile-fifo", "pre-job-metrics.json"))
    with open(os.path.join(fs, "hostile-sparse", "pre-job-metrics.json"), "w") as f:
        f.truncate(10 << 30)
    wall, s = extract(binary, root)
    line(f"plain-{n}-plus-fifo-and-10GiB-sparse", n + 2, wall, s, growth_over_plain_s=round(wall - baseline, 4))


def scenario_stuck(probe, work, n, timeout=1.0, rounds=3):
    """One worker stuck in a loop among n honest runners (the test probe's stuck-marker mode:
    a worker whose directory holds a file named `stuck` spins after confining itself). The
    stuck runner sorts last, the worst case: nothing else is left to overlap its timeout.
    Baseline and stuck runs alternate; medians are reported."""
    walls = {"baseline": [], "stuck": []}
    last = None
    for r in range(rounds):
        for label, stuck in (("baseline", False), ("stuck", True)):
            root = os.path.join(work, f"stuck-{label}-{r}")
            fs = os.path.join(root, "fs")
            lay_plain(fs, n)
            if stuck:
                d = os.path.join(fs, "runner-stuck"); os.mkdir(d); os.chmod(d, 0o755)
                open(os.path.join(d, "stuck"), "w").close()
            for d in ("q", "state"):
                os.makedirs(os.path.join(root, d), exist_ok=True)
            args = [probe, "stuck-marker", "small", fs, os.path.join(root, "q"), os.path.join(root, "metrics.log"),
                    os.path.join(root, "audit.log"), os.path.join(root, "state")]
            wall, summary = extract(None, root, program_args=args)
            walls[label].append(wall)
            if stuck:
                last = summary
            shutil.rmtree(root, ignore_errors=True)
    wb, ws = statistics.median(walls["baseline"]), statistics.median(walls["stuck"])
    line(f"plain-{n}-plus-stuck-worker", n + 1, ws, last, worker_timeout_s=timeout,
         growth_over_baseline_s=round(ws - wb, 4), baseline_wall_s=round(wb, 4), rounds=rounds)


def scenario_ext4(binary, work, n):
    """n loop-mounted 1 MiB ext4 images laid out as the charm does (dd + mkfs.ext4 + mount -o loop)."""
    root = os.path.join(work, "ext4")
    runners.ext4_tree(os.path.join(root, "fs"), os.path.join(root, "img"), n)
    wall, s = extract(binary, root)
    line(f"loop-mounted-ext4-{n}", n, wall, s, mounts_left=len(runners.mounts_under(root)))


def scenario_memory(binary, work, sizes):
    """Supervisor peak RSS must not grow with the number of runners."""
    for n in sizes:
        root = os.path.join(work, f"mem-{n}")
        lay_plain(os.path.join(root, "fs"), n)
        wall, s = extract(binary, root)
        line(f"memory-{n}", n, wall, s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary-dir", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--scenarios", default="plain,corrupt,hostile,stuck,ext4,memory")
    ap.add_argument("--quick", action="store_true", help="smaller trees (CI smoke)")
    a = ap.parse_args()
    binary = os.path.join(a.binary_dir, "runner-metrics")
    probe = os.path.join(a.binary_dir, "runner-metrics-probe")
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary} not found: run `swift build -c release --static-swift-stdlib` first")
    chosen = set(a.scenarios.split(","))
    n = 200 if a.quick else 2000
    work = tempfile.mkdtemp(prefix="rm-bench-", dir="/var/tmp")
    os.chmod(work, 0o755)
    try:
        baseline = 0.0
        if "plain" in chosen or "hostile" in chosen:
            baseline = scenario_plain(binary, os.path.join(work, "a"), n, 0)
        if "corrupt" in chosen:
            scenario_plain(binary, os.path.join(work, "b"), n, 10)
        if "hostile" in chosen:
            scenario_hostile(binary, os.path.join(work, "c"), n, baseline)
        if "stuck" in chosen:
            if os.access(probe, os.X_OK):
                scenario_stuck(probe, os.path.join(work, "d"), 200 if a.quick else n)
            else:
                print(json.dumps({"scenario": "plain-%d-plus-stuck-worker" % n, "skipped": f"no {probe}: build it "
                                  "(swift build -c release --static-swift-stdlib) or point --binary-dir at it"}))
        if "ext4" in chosen:
            scenario_ext4(binary, os.path.join(work, "e"), 20 if a.quick else 200)
        if "memory" in chosen:
            scenario_memory(binary, os.path.join(work, "f"), (100, 1000) if a.quick else (100, 10000))
    finally:
        runners.unmount_all(work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
