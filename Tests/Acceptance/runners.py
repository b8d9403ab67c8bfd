#!/usr/bin/env python3
"""Runner layouts and expectations for systemd-acceptance.sh (Python 3 standard library only).

`write` lays out one named set of runners as the charm and the runner's own scripts leave them
and records, in a manifest, what upstream would issue for each (the expected metric lines are
computed here with json.dumps, the writer upstream uses) and why each hostile one must be
rejected. The `check-*` commands compare what the unit did with a manifest; each prints the
first differences and exits 1 when there is one, so the shell prints them as the check's detail.
"""

import hashlib
import json
import os
import stat
import sys

RUNNER_FS = "home/ubuntu/runner-fs"
IMAGES = "home/ubuntu/runner-fs-images"
QUARANTINE = "home/ubuntu/runner-fs-quarantine"

START = "runner-installation-start.timestamp"
INSTALLED = "runner-installed.timestamp"
PRE = "pre-job-metrics.json"
POST = "post-job-metrics.json"


def jq_pretty(value):
    """The bytes `jq -n '{...}' > file` writes: two-space indentation, ": ", a final newline."""
    return (json.dumps(value, indent=2, separators=(",", ": ")) + "\n").encode()


def pre_job(workflow, repository, event, timestamp, run_id):
    return {"workflow": workflow, "repository": repository, "event": event,
            "timestamp": timestamp, "workflow_run_id": run_id}


def post_job(timestamp, status, code=None):
    record = {"timestamp": timestamp, "status": status}
    if code is not None:
        record["status_info"] = {"code": code}
    return record


def honest_files(start=None, installed=None, pre=None, post=None, newline=True):
    """File name -> bytes, as the charm (timestamps, str() of a number) and jq (JSON) write them."""
    end = "\n" if newline else ""
    files = {}
    if start is not None:
        files[START] = (start + end).encode()
    if installed is not None:
        files[INSTALLED] = (installed + end).encode()
    if pre is not None:
        files[PRE] = jq_pretty(pre)
    if post is not None:
        files[POST] = jq_pretty(post)
    return files


def expected_lines(files, flavor, job=None):
    """Upstream's decision for an honest runner: the event lines in the order it issues them.
    job: (queue_duration, job_conclusion or None) when the GitHub API told of the runner's job."""
    return [json.dumps(event) + "\n" for event in expected_events(files, flavor, job)]


def expected_events(files, flavor, job=None):
    # A 0-byte file is a missing one for upstream (its writers' `jq ... > file || true`).
    files = {name: data for name, data in files.items() if data}
    lines = []
    if INSTALLED not in files:
        return lines
    installed = float(files[INSTALLED].decode())
    if START in files:
        start = float(files[START].decode())
        lines.append({"timestamp": installed, "event": "runner_installed", "flavor": flavor,
                      "duration": installed - start})  # upstream does not clamp this one
    if PRE not in files:
        return lines
    pre = json.loads(files[PRE])
    pre_ts = float(pre["timestamp"])
    common = {"flavor": flavor, "workflow": pre["workflow"], "repo": pre["repository"],
              "github_event": pre["event"]}
    start = {"timestamp": pre_ts, "event": "runner_start", **common, "idle": max(0.0, pre_ts - installed)}
    if job is not None:
        start["queue_duration"] = job[0]
    lines.append(start)
    if POST in files:
        post = json.loads(files[POST])
        post_ts = float(post["timestamp"])
        stop = {"timestamp": post_ts, "event": "runner_stop", **common, "status": post["status"]}
        if "status_info" in post:
            stop["status_info"] = {"code": post["status_info"]["code"]}
        stop["job_duration"] = max(0.0, post_ts - pre_ts)
        if job is not None and job[1] is not None:
            stop["job_conclusion"] = job[1]
        lines.append(stop)
    return lines


def full_honest(n, base, label):
    """A runner that ran one job: all four files, unique values so every line names its runner."""
    t = base + n * 1000
    return honest_files(str(t - 100), str(t),
                        pre_job(f"CI {label}{n}", f"octo/app{n}", "push", t + 30, str(9000 + n)),
                        post_job(t + 330, "normal"))


def main_set():
    """The first start's runners: (name, kind, files, hostile reason and file or None).

    kind: plain (a directory in runner-fs), mounted (an ext4 image loop-mounted on its directory),
    unmounted (an image and an empty directory, as after a reboot), ignored (plain, active).
    """
    runners = []

    def add(name, kind, files, reject=None, special=None):
        special = special or {}
        taken = {special["symlink"][0]} if "symlink" in special else set()
        taken |= {special["fifo"]} if "fifo" in special else set()
        files = {k: v for k, v in files.items() if k not in taken}
        runners.append({"name": name, "kind": kind, "files": files, "reject": reject,
                        "special": special})

    add("honest-full", "plain", honest_files("1700000000", "1700000100",
        pre_job("CI", "octo/app", "push", 1700000130, "4711"), post_job(1700000430, "normal")))
    add("honest-float", "plain", honest_files("1696427100.5", "1696427232.2253454",
        pre_job("Release", "octo/lib", "workflow_dispatch", 1696427300, "4712"),
        post_job(1696427900, "abnormal", 1)))
    add("honest-nonl", "plain", honest_files("1700100000", "1700100050",
        pre_job("Nightly", "octo/tools", "schedule", 1700100060, "4713"),
        post_job(1700100090, "repo-policy-check-failure", 403), newline=False))
    # The job's pre-job timestamp before the installed one: idle is clamped at 0.0.
    add("honest-clamp", "plain", honest_files(None, "1700200500",
        pre_job("Lint", "octo/web", "pull_request", 1700200400, "4714"), None))
    add("honest-installed-only", "plain", honest_files("1700300000", "1700300020"))
    add("honest-empty", "plain", {})
    add("honest-empty-post", "plain", {**honest_files("1700250000", "1700250030",
        pre_job("CI", "octo/cut", "push", 1700250040, "4720")), POST: b""})
    add("mounted-empty-pre", "mounted", {**honest_files("1700260000", "1700260015"), PRE: b""})
    add("mounted-full", "mounted", honest_files("1700400000", "1700400070",
        pre_job("CI", "octo/mounted", "push", 1700400100, "4715"), post_job(1700400400, "normal")))
    add("mounted-float", "mounted", honest_files("1700500000.25", "1700500010.75",
        pre_job("Deploy", "octo/svc", "push", 1700500050, "4716"),
        post_job(1700500060, "abnormal", 137)))
    add("unmounted-image", "unmounted", honest_files("1700600000", "1700600040",
        pre_job("CI", "octo/rebooted", "push", 1700600045, "4717"), post_job(1700600345, "normal")))
    add("ignored-active", "ignored", honest_files("1700700000", "1700700010",
        pre_job("CI", "octo/active", "push", 1700700020, "4718")))

    honest = honest_files("1700800000", "1700800010",
                          pre_job("CI", "octo/evil", "push", 1700800020, "4719"))
    add("hostile-invalid-json", "plain",
        {**honest, PRE: b'{\n  "workflow": "CI",\n  "repository": \n'}, ("invalid-json", PRE))
    add("hostile-oversized", "plain",
        {**honest, POST: b"{" + b" " * 4096 + b'"timestamp": 1700800030, "status": "normal"}\n'},
        ("file-too-large", POST))
    add("hostile-duplicate-key", "plain",
        {**honest, POST: b'{"timestamp": 1700800030, "status": "normal", "status": "abnormal"}\n'},
        ("duplicate-key", POST))
    add("hostile-bad-timestamp", "plain", {**honest, INSTALLED: b"1e400\n"},
        ("invalid-timestamp", INSTALLED))
    add("hostile-shadow-link", "plain", honest, ("not-regular-file", POST),
        {"symlink": (POST, "/etc/shadow")})
    add("hostile-fifo", "plain", honest, ("not-regular-file", PRE), {"fifo": PRE})
    add("hostile-etc-link", "plain", {}, ("not-a-directory", None), {"entry-symlink": "/etc"})
    add("hostile-mounted", "mounted", {**honest, PRE: b"[1, 2,]\n"}, ("invalid-json", PRE))
    return runners


def single_set(name, n):
    return [{"name": name, "kind": "plain", "files": full_honest(n, 1710000000, name + " "),
             "reject": None, "special": {}}]


# The runners of the GitHub API phase: each names a scenario of Tests/Support/fake_github.py
# by its repository, and has the runner name that scenario's job carries (runner-404's
# scenario answers 404 whatever the name). The last element is what the fake API tells of the
# job, (queue_duration, job_conclusion or None), or None: issued without the fields.
#   single          the runner's job among others: created 03:04:05, started 03:04:17.5, success
#   nullconclusion  "conclusion": null: queue_duration only
#   negative        started before it was created: clamped to 0.0
#   pages           250 jobs, the runner's on page 3: 1.750001 s (an offset and microseconds), failure
#   conclusions     the conclusion is the run id's (9108 % 8 = 4: cancelled)
#   s404            404 Not Found: no fields (kind http-404)
GITHUB_RUNNERS = [
    ("runner-1", "octo/single", "9101", (12.5, "success")),
    ("runner-n", "octo/nullconclusion", "9102", (12.5, None)),
    ("runner-neg", "octo/negative", "9103", (0.0, "success")),
    ("runner-p", "octo/pages", "9104", (1.750001, "failure")),
    ("runner-c", "octo/conclusions", "9108", (12.5, "cancelled")),
    ("runner-404", "octo/s404", "9105", None),
]


def github_set(set_name):
    """github-off: three runners the API would know, asked while the unit has no network
    (issued without the fields), and one it is not asked about (no pre-job file). github-on:
    every runner of GITHUB_RUNNERS, asked under the drop-in. github-outside: runner-1, asked
    under the drop-in of an API at an address its IPAddressAllow= leaves out (no fields)."""
    if set_name == "github-off":
        chosen = [r for r in GITHUB_RUNNERS if r[0] in ("runner-1", "runner-n", "runner-404")]
        base, reachable = 1730000000, False
    elif set_name == "github-outside":
        chosen = GITHUB_RUNNERS[:1]
        base, reachable = 1750000000, False
    else:
        chosen = GITHUB_RUNNERS
        base, reachable = 1740000000, True
    runners = []
    for n, (name, repository, run_id, job) in enumerate(chosen):
        t = base + n * 1000
        files = honest_files(str(t - 100), str(t), pre_job("CI " + set_name, repository, "push", t + 30, run_id),
                             post_job(t + 330, "normal"))
        runners.append({"name": name, "kind": "plain", "files": files, "reject": None, "special": {},
                        "github": {"repository": repository, "run_id": run_id,
                                   "job": job if reachable else None}})
    if set_name == "github-off":
        t = base + 9000
        runners.append({"name": "github-installed-only", "kind": "plain", "files": honest_files(str(t - 20), str(t)),
                        "reject": None, "special": {}})
    return runners


def bulk_set(count):
    return [{"name": f"bulk-{i:05d}", "kind": "plain", "files": full_honest(i, 1720000000, "bulk "),
             "reject": None, "special": {}} for i in range(count)]


def write_tree(directory, runner):
    os.makedirs(directory, exist_ok=True)
    for name, data in runner["files"].items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
        os.chmod(os.path.join(directory, name), 0o644)
    special = runner["special"]
    if "symlink" in special:
        name, target = special["symlink"]
        os.symlink(target, os.path.join(directory, name))
    if "fifo" in special:
        os.mkfifo(os.path.join(directory, special["fifo"]), 0o644)


def cmd_write(root, stage, set_name, flavor, count, runner_fs=RUNNER_FS):
    """Plain runners go into runner_fs (the copy's runner-fs, or a staging directory beside it
    for runners laid out while a timer runs); an image's files go to
    STAGE/image/NAME/, copied in by the shell once the image is made (and mounted) inside the
    container. The manifest records the kind, the expected lines and the rejection."""
    if set_name == "main":
        runners = main_set()
    elif set_name == "bulk":
        runners = bulk_set(int(count))
    elif set_name in ("github-off", "github-on", "github-outside"):
        runners = github_set(set_name)
    else:
        runners = single_set(set_name, int(count))
    manifest = []
    for r in runners:
        if r["kind"] in ("plain", "ignored"):
            target = os.path.join(root, runner_fs, r["name"])
            if "entry-symlink" in r["special"]:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.symlink(r["special"]["entry-symlink"], target)
            else:
                write_tree(target, r)
        else:
            write_tree(os.path.join(stage, "image", r["name"]), r)
        reject = r["reject"]
        job = r["github"]["job"] if "github" in r else None
        manifest.append({
            "name": r["name"], "kind": r["kind"],
            "lines": [] if reject or r["kind"] == "ignored" else expected_lines(r["files"], flavor, job),
            "github": r.get("github"),
            "reason": reject[0] if reject else None, "file": reject[1] if reject else None,
            "files": {k: v.decode("latin-1") for k, v in r["files"].items()},
            "special": r["special"],
        })
    with open(os.path.join(stage, set_name + ".json"), "w") as f:
        json.dump(manifest, f)
    for kind in ("mounted", "unmounted", "ignored"):
        names = [m["name"] for m in manifest if m["kind"] == kind]
        with open(os.path.join(stage, f"{set_name}.{kind}"), "w") as f:
            f.write("".join(n + "\n" for n in names))


def load(paths):
    runners = []
    for p in paths:
        with open(p) as f:
            runners.extend(json.load(f))
    return runners


def fail(problems):
    for p in problems[:8]:
        print(p)
    if len(problems) > 8:
        print(f"... and {len(problems) - 8} more")
    sys.exit(1 if problems else 0)


def cmd_check_lines(log, manifests, skip_bytes=0):
    """The log (from byte skip_bytes on) holds exactly the manifests' lines, each once, byte for
    byte, and each runner's lines in upstream's order (installed, start, stop)."""
    with open(log, "rb") as f:
        f.seek(skip_bytes)
        lines, data = read_lines_from(f.read())
    if data and not data.endswith(b"\n"):
        fail([f"{log} does not end with a newline"])
    owner = {}
    for r in load(manifests):
        for i, line in enumerate(r["lines"]):
            owner[line] = (r["name"], i)
    problems = []
    seen = {}
    last = {}
    for n, line in enumerate(lines):
        if line not in owner:
            problems.append(f"line {n + 1} not expected: {line.rstrip()}")
            continue
        if line in seen:
            problems.append(f"line {n + 1} twice (first at line {seen[line] + 1}): {line.rstrip()}")
            continue
        seen[line] = n
        name, i = owner[line]
        if last.get(name, -1) != i - 1:
            problems.append(f"line {n + 1} of {name} out of upstream's order: {line.rstrip()}")
        last[name] = i
    missing = [line for line in owner if line not in seen]
    problems.extend(f"missing ({owner[line][0]}): {line.rstrip()}" for line in missing)
    if problems:
        problems.insert(0, f"{len(lines)} lines, {len(owner)} expected, {len(missing)} missing")
    fail(problems)


def read_lines_from(data):
    return [line.decode() + "\n" for line in data.split(b"\n")[:-1]], data


def cmd_check_stopped(root, log, manifest, skip_bytes):
    """After a stop mid-run: every line is an expected one and there once, and every runner whose
    directory is gone has all its lines in the log (deleted only once durable)."""
    with open(log, "rb") as f:
        f.seek(skip_bytes)
        lines, data = read_lines_from(f.read())
    if data and not data.endswith(b"\n"):
        fail(["the log ends in a partial line"])
    runners = load([manifest])
    owner = {line: r["name"] for r in runners for line in r["lines"]}
    problems = []
    seen = set()
    for line in lines:
        if line not in owner:
            problems.append(f"not expected: {line.rstrip()}")
        elif line in seen:
            problems.append(f"twice: {line.rstrip()}")
        seen.add(line)
    gone = 0
    for r in runners:
        if not os.path.lexists(os.path.join(root, RUNNER_FS, r["name"])):
            gone += 1
            lost = [line for line in r["lines"] if line not in seen]
            if lost:
                problems.append(f"{r['name']} deleted, {len(lost)} of its lines not in the log")
    print(f"{gone} of {len(runners)} runners done, {len(lines)} lines at the stop")
    if problems:
        fail(problems)
    if gone == 0 or gone == len(runners):
        fail([f"the stop did not land mid-run: {gone} of {len(runners)} runners were done"])


def cmd_check_audit(root, audit, manifests, skip_bytes=0):
    """Each hostile runner: one audit line with its reason and file, its evidence in the
    quarantine (the same kind of thing it was), its runner-fs entry gone. No line for any other."""
    with open(audit, "rb") as f:
        f.seek(skip_bytes)
        raw = f.read()
    entries = []
    problems = []
    for n, line in enumerate(raw.split(b"\n")[:-1]):
        try:
            entries.append(json.loads(line))
        except ValueError:
            problems.append(f"audit line {n + 1} is not JSON: {line[:120]!r}")
    runners = load(manifests)
    hostile = {r["name"]: r for r in runners if r["reason"]}
    by_runner = {}
    for e in entries:
        by_runner.setdefault(e.get("runner"), []).append(e)
    for name in by_runner:
        if name not in hostile:
            problems.append(f"audit line for {name!r}, which is not hostile: {by_runner[name][0]}")
    quarantine = os.path.join(root, QUARANTINE)
    for name, r in hostile.items():
        got = by_runner.get(name, [])
        if len(got) != 1:
            problems.append(f"{name}: {len(got)} audit lines, want 1")
            continue
        e = got[0]
        if e.get("reason") != r["reason"] or e.get("file") != r["file"]:
            problems.append(f"{name}: reason {e.get('reason')!r} file {e.get('file')!r}, "
                            f"want {r['reason']!r} {r['file']!r} ({e.get('detail')!r})")
        evidence = e.get("evidence")
        prefix = "/" + QUARANTINE + "/" + name + "."
        if not isinstance(evidence, str) or not evidence.startswith(prefix):
            problems.append(f"{name}: evidence {evidence!r} not under {prefix}")
            continue
        host_path = os.path.join(root, evidence.lstrip("/"))
        problems.extend(f"{name}: {p}" for p in evidence_problems(r, host_path))
        if os.path.lexists(os.path.join(root, RUNNER_FS, name)):
            problems.append(f"{name}: still in runner-fs")
        if r["kind"] == "mounted" and os.path.lexists(os.path.join(root, IMAGES, name + ".img")):
            problems.append(f"{name}: image still in runner-fs-images")
    if os.path.isdir(quarantine):
        extra = set(os.listdir(quarantine)) - {os.path.basename(str(e.get("evidence")))
                                              for e in entries}
        if extra:
            problems.append(f"quarantine holds entries no audit line names: {sorted(extra)}")
    fail(problems)


def evidence_problems(r, path):
    try:
        st = os.lstat(path)
    except OSError as err:
        return [f"evidence {path} missing ({err.strerror})"]
    special = r["special"]
    if "entry-symlink" in special:
        if not stat.S_ISLNK(st.st_mode) or os.readlink(path) != special["entry-symlink"]:
            return ["evidence is not the runner's symlink"]
        return []
    if r["kind"] == "mounted":
        return [] if stat.S_ISREG(st.st_mode) and path.endswith(".img") else ["evidence is not the image"]
    if not stat.S_ISDIR(st.st_mode):
        return ["evidence is not a directory"]
    problems = []
    for name, data in r["files"].items():
        try:
            with open(os.path.join(path, name), "rb") as f:
                if f.read() != data.encode("latin-1"):
                    problems.append(f"evidence {name} changed")
        except OSError as err:
            problems.append(f"evidence {name}: {err.strerror}")
    if "symlink" in special:
        name, target = special["symlink"]
        p = os.path.join(path, name)
        if not os.path.islink(p) or os.readlink(p) != target:
            problems.append(f"evidence {name} is no longer the symlink to {target}")
    if "fifo" in special:
        p = os.path.join(path, special["fifo"])
        if not (os.path.lexists(p) and stat.S_ISFIFO(os.lstat(p).st_mode)):
            problems.append(f"evidence {special['fifo']} is no longer a FIFO")
    return problems


def cmd_snapshot(path):
    """A digest of a tree: every entry's name, type, mode, owner, size, content or link target."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in [""] + sorted(filenames):
            p = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(p)
            h.update(f"{os.path.relpath(p, path)} {st.st_mode:o} {st.st_uid} {st.st_gid} "
                     f"{st.st_size} {int(st.st_mtime)}\n".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(p).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    h.update(f.read())
    print(h.hexdigest())


def cmd_gone(root, manifests):
    """Nothing left of the honest runners in the copy: no runner-fs entry and no image."""
    problems = []
    for r in load(manifests):
        if r["reason"] or r["kind"] == "ignored":
            continue
        if os.path.lexists(os.path.join(root, RUNNER_FS, r["name"])):
            problems.append(f"{r['name']}: directory left")
        if os.path.lexists(os.path.join(root, IMAGES, r["name"] + ".img")):
            problems.append(f"{r['name']}: image left")
    fail(problems)


def cmd_check_textfile(prom, manifests):
    """node_exporter's textfile after the first run: the events issued and the runners
    quarantined, by event and by reason, are the manifests' counts, and the last exit status 3."""
    with open(prom) as f:
        samples = dict(line.rsplit(" ", 1) for line in f.read().splitlines()
                       if line and not line.startswith("#"))
    want = {"runner_metrics_last_run_exit_status": "3"}
    runners = load(manifests)
    for event in ("runner_installed", "runner_start", "runner_stop"):
        n = sum(json.loads(line)["event"] == event for r in runners for line in r["lines"])
        want[f'runner_metrics_events_issued_total{{event="{event}"}}'] = str(n)
    for reason in {r["reason"] for r in runners if r["reason"]}:
        n = sum(r["reason"] == reason for r in runners)
        want[f'runner_metrics_runners_quarantined_total{{reason="{reason}"}}'] = str(n)
    fail([f"{key} is {samples.get(key)!r}, want {value}" for key, value in sorted(want.items())
          if samples.get(key) != value])


def textfile_samples(prom):
    with open(prom) as f:
        return dict(line.rsplit(" ", 1) for line in f.read().splitlines() if line and not line.startswith("#"))


def cmd_check_github_textfile(prom, enriched, *kinds):
    """The textfile's GitHub counters: runner_metrics_github_enriched_total is ENRICHED, and
    runner_metrics_github_unenriched_total is the count given for each KIND=COUNT and 0 for
    every other kind the textfile has (at least one kind must be there)."""
    samples = textfile_samples(prom)
    want = {"runner_metrics_github_enriched_total": enriched}
    for kind in kinds:
        name, count = kind.split("=")
        want[f'runner_metrics_github_unenriched_total{{kind="{name}"}}'] = count
    others = [k for k in samples if k.startswith("runner_metrics_github_unenriched_total{") and k not in want]
    if not others and not kinds:
        fail(["no runner_metrics_github_unenriched_total sample in the textfile"])
    want.update({k: "0" for k in others})
    fail([f"{key} is {samples.get(key)!r}, want {value}" for key, value in sorted(want.items())
          if samples.get(key) != value])


def cmd_check_requests(log, token, manifest):
    """The fake API's request log: every request asks for the jobs of a run of the manifest,
    with the token as a bearer credential, and each runner the API was asked about is there."""
    with open(log) as f:
        requests = [json.loads(line) for line in f]
    asked = {f"/repos/{r['github']['repository']}/actions/runs/{r['github']['run_id']}/jobs"
             for r in load([manifest]) if r.get("github")}
    problems = []
    for n, request in enumerate(requests):
        headers = {k.lower(): v for k, v in request["headers"].items()}
        if headers.get("authorization") != "Bearer " + token:
            problems.append(f"request {n + 1} ({request['path']}): Authorization "
                            f"{headers.get('authorization')!r}, want the token as a bearer credential")
        if request["path"] not in asked:
            problems.append(f"request {n + 1} for {request['path']}, which no runner names")
    problems.extend(f"no request for {path}" for path in sorted(asked - {r["path"] for r in requests}))
    if problems:
        problems.insert(0, f"{len(requests)} requests")
    fail(problems)


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "write":
        cmd_write(*args)
    elif command == "check-lines":
        cmd_check_lines(args[0], args[2:], int(args[1]))
    elif command == "check-stopped":
        cmd_check_stopped(args[0], args[1], args[2], int(args[3]))
    elif command == "check-audit":
        cmd_check_audit(args[0], args[1], args[3:], int(args[2]))
    elif command == "check-textfile":
        cmd_check_textfile(args[0], args[1:])
    elif command == "check-github-textfile":
        cmd_check_github_textfile(*args)
    elif command == "check-requests":
        cmd_check_requests(*args)
    elif command == "snapshot":
        cmd_snapshot(args[0])
    elif command == "gone":
        cmd_gone(args[0], args[1:])
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    try:
        main(sys.argv)
    except OSError as err:
        sys.exit(f"{err.filename}: {err.strerror}")
