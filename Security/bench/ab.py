#!/usr/bin/env python3
"""A/B two (or more) builds of runner-metrics on the same kind of tree, alternating.

usage: Security/bench/ab.py ROUNDS RUNNERS CORRUPT_EVERY BINARY[|EXTRA ARGS] BINARY[|EXTRA ARGS] ...
e.g.   Security/bench/ab.py 9 2000 0 /tmp/before/runner-metrics .build/release/runner-metrics
       Security/bench/ab.py 7 2000 0 ".build/release/runner-metrics|--jobs 4" ".build/release/runner-metrics|--jobs 8"
Each round lays out a fresh tree (runners.py, written to disk) before every run and runs
the binaries in turn, reversing the order every other round. Prints, per binary, the median and
minimum wall time and the median CPU time (user + system of the whole process tree: the
supervisor, the fork server and every worker). The machine is shared and noisy: compare builds
only within one invocation, and with enough rounds to see past ±10 %. Copy a build you want to
keep as the "before" side elsewhere first (the worker binary beside it).
"""
import os, resource, shutil, statistics, subprocess, sys, tempfile, time, json

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runners  # noqa: E402


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    rounds, count, corrupt = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    builds = sys.argv[4:]
    results = {b: {"wall": [], "cpu": []} for b in builds}
    work = tempfile.mkdtemp(prefix="rm-ab-", dir="/var/tmp")
    os.chmod(work, 0o755)
    try:
        for r in range(rounds):
            for build in (builds if r % 2 == 0 else list(reversed(builds))):
                root = os.path.join(work, "tree")
                shutil.rmtree(root, ignore_errors=True)
                os.makedirs(root)
                runners.plain_tree(os.path.join(root, "fs"), count, corrupt)
                for d in ("q", "img", "state"):
                    os.makedirs(os.path.join(root, d))
                binary, _, extra = build.partition("|")
                cmd = [binary, "extract", "--flavor", "ab", "--runner-fs-dir", root + "/fs", "--images-dir", root + "/img",
                       "--quarantine-dir", root + "/q", "--metrics-log", root + "/metrics.log",
                       "--audit-log", root + "/audit.log", "--state-dir", root + "/state"] + extra.split()
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                wall = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if p.returncode not in (0, 3):
                    sys.exit(f"{build}: exit {p.returncode}: {p.stderr.decode()[-500:]}")
                results[build]["wall"].append(wall)
                results[build]["cpu"].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for build in builds:
        wall, cpu = results[build]["wall"], results[build]["cpu"]
        print(json.dumps({"build": build, "wall_median_s": round(statistics.median(wall), 4),
                          "wall_min_s": round(min(wall), 4), "cpu_median_s": round(statistics.median(cpu), 4)}))


if __name__ == "__main__":
    main()
