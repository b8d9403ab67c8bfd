"""The upstream algorithm, re-expressed from its facts for side-by-side timing (compare.py).

What the runner charm does per runner filesystem, in-process Python as root, no sandbox:
- list the runner-fs directory; for each runner directory not ignored:
- check each metric file's size with stat before reading any (over 1024 bytes: corrupt);
- read the two timestamp files (no installed timestamp: no events), json.loads the pre-job and
  post-job files (no pre-job: no start or stop), refuse a value that is not an object, and
  validate the record with pydantic models (NonNegativeFloat timestamps, the status enum, the
  repository pattern);
- issue runner_installed, runner_start and runner_stop through pydantic event models, each
  appended to the metrics log by opening it and writing one json.dumps line;
- corrupt: a <name>.tar.gz of the whole filesystem in the quarantine directory, made by reading
  every file as root, then the same deletion;
- delete: a `umount` subprocess when the runner's filesystem is mounted, shutil.rmtree of the
  directory, the image unlinked.
Left out, so that this side is if anything faster than the real one: `sudo` before umount, the
`mountpoint -q` subprocess later versions run per runner, logging, and the GitHub API lookups.
Written for pydantic v1 as upstream is; it also runs on v2 (the same validation, in v2 spelling).
"""
import json, os, shutil, subprocess, tarfile
from enum import Enum
from pathlib import Path
from typing import Optional

import pydantic
from pydantic import BaseModel, NonNegativeFloat, ValidationError

V2 = pydantic.VERSION.startswith("2")
Repository = pydantic.constr(pattern=r"^.+/.+$") if V2 else pydantic.constr(regex=r"^.+/.+$")

LIMIT = 1024
INSTALLATION_START, INSTALLED = "runner-installation-start.timestamp", "runner-installed.timestamp"
PRE_JOB, POST_JOB = "pre-job-metrics.json", "post-job-metrics.json"


class PreJobMetrics(BaseModel):
    timestamp: NonNegativeFloat
    workflow: str
    workflow_run_id: str
    repository: Repository
    event: str


class PostJobStatus(str, Enum):
    NORMAL = "normal"
    ABNORMAL = "abnormal"
    REPO_POLICY_CHECK_FAILURE = "repo-policy-check-failure"


class CodeInformation(BaseModel):
    code: int


class PostJobMetrics(BaseModel):
    timestamp: NonNegativeFloat
    status: PostJobStatus
    status_info: Optional[CodeInformation] = None


class RunnerMetrics(BaseModel):
    installation_start_timestamp: Optional[NonNegativeFloat] = None
    installed_timestamp: NonNegativeFloat
    pre_job: Optional[PreJobMetrics] = None
    post_job: Optional[PostJobMetrics] = None
    runner_name: str


class Event(BaseModel):
    timestamp: NonNegativeFloat
    event: str


class RunnerInstalled(Event):
    flavor: str
    duration: NonNegativeFloat


class RunnerStart(Event):
    flavor: str
    workflow: str
    repo: str
    github_event: str
    idle: NonNegativeFloat


class RunnerStop(Event):
    flavor: str
    workflow: str
    repo: str
    github_event: str
    status: str
    status_info: Optional[CodeInformation] = None
    job_duration: NonNegativeFloat


class CorruptMetricData(Exception):
    pass


def issue_event(log: Path, event: Event):
    fields = event.model_dump(exclude_none=True) if V2 else event.dict(exclude_none=True)
    with log.open("a", encoding="utf-8") as f:
        f.write(json.dumps(fields) + "\n")


def read_json(path: Path):
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptMetricData(str(e)) from e
    if not isinstance(value, dict):
        raise CorruptMetricData(f"{path.name}: not an object")
    return value


def read_metrics(fs: Path) -> Optional[RunnerMetrics]:
    for name in (INSTALLATION_START, INSTALLED, PRE_JOB, POST_JOB):
        path = fs / name
        if path.exists() and path.stat().st_size > LIMIT:
            raise CorruptMetricData(f"{name}: over {LIMIT} bytes")
    try:
        start = (fs / INSTALLATION_START).read_text()
    except FileNotFoundError:
        start = None
    try:
        installed = (fs / INSTALLED).read_text()
    except FileNotFoundError:
        return None
    pre = read_json(fs / PRE_JOB)
    post = read_json(fs / POST_JOB) if pre is not None else None
    try:
        return RunnerMetrics(installation_start_timestamp=start, installed_timestamp=installed,
                             pre_job=PreJobMetrics(**pre) if pre is not None else None,
                             post_job=PostJobMetrics(**post) if post is not None else None,
                             runner_name=fs.name)
    except ValidationError as e:
        raise CorruptMetricData(str(e)) from e


def issue_events(log: Path, m: RunnerMetrics, flavor: str):
    counts = {"runner_installed": 0, "runner_start": 0, "runner_stop": 0}
    if m.installation_start_timestamp is not None:
        issue_event(log, RunnerInstalled(timestamp=m.installed_timestamp, event="runner_installed", flavor=flavor,
                                         duration=max(m.installed_timestamp - m.installation_start_timestamp, 0)))
        counts["runner_installed"] += 1
    pre, post = m.pre_job, m.post_job
    if pre is None:
        return counts
    issue_event(log, RunnerStart(timestamp=pre.timestamp, event="runner_start", flavor=flavor, workflow=pre.workflow,
                                 repo=pre.repository, github_event=pre.event,
                                 idle=max(pre.timestamp - m.installed_timestamp, 0)))
    counts["runner_start"] += 1
    if post is not None:
        issue_event(log, RunnerStop(timestamp=post.timestamp, event="runner_stop", flavor=flavor,
                                    workflow=pre.workflow, repo=pre.repository, github_event=pre.event,
                                    status=post.status.value, status_info=post.status_info,
                                    job_duration=max(post.timestamp - pre.timestamp, 0)))
        counts["runner_stop"] += 1
    return counts


def delete(fs: Path, images: Path):
    if os.path.ismount(fs):
        subprocess.run(["umount", str(fs)], check=True)
    shutil.rmtree(fs)
    (images / f"{fs.name}.img").unlink(missing_ok=True)


def extract(runner_fs: Path, images: Path, quarantine: Path, log: Path, flavor: str, ignore=frozenset()):
    """Issue every runner's events, delete or quarantine its filesystem; returns the counts."""
    counts = {"runner_installed": 0, "runner_start": 0, "runner_stop": 0, "deleted": 0, "quarantined": 0}
    quarantine.mkdir(exist_ok=True)
    for fs in (p for p in runner_fs.iterdir() if p.is_dir() and p.name not in ignore):
        try:
            m = read_metrics(fs)
        except CorruptMetricData:
            with tarfile.open(quarantine / f"{fs.name}.tar.gz", "w:gz") as tar:
                tar.add(fs, arcname=fs.name)
            delete(fs, images)
            counts["quarantined"] += 1
            continue
        if m is not None:
            for k, v in issue_events(log, m, flavor).items():
                counts[k] += v
        delete(fs, images)
        counts["deleted"] += 1
    return counts
