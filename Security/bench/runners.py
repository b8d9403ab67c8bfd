"""Runner filesystems for the benchmarks, laid out the way runners and the charm leave them.

Each runner gets the four files its writers produce (Security/DECODING.md, README "What a runner
leaves"): the charm's runner-installation-start.timestamp (str(float)) and
runner-installed.timestamp (str(int)), the pre-job script's pre-job-metrics.json, and for four in
five runners the post-job file (every third one abnormal with a status_info). With corrupt_every=k,
every k-th runner's pre-job timestamp is negative: a schema violation on both sides, so the runner
is quarantined.

plain_tree: runner directories under FS. ext4_tree: the charm's layout, one 1 MiB ext4 image per
runner in IMAGES (dd + mkfs.ext4) loop-mounted on FS/<name> (mount -o loop). Both call sync()
before returning: a real runner's files reach the disk long before extraction, and files deleted
before writeback never had blocks allocated, which makes deleting them far cheaper.
"""
import json, os, subprocess

FILES = ("runner-installation-start.timestamp", "runner-installed.timestamp",
         "pre-job-metrics.json", "post-job-metrics.json")


def runner_files(i, corrupt_every=0):
    """The file contents of runner i: {name: text}."""
    t = 1700000000 + i
    pre = {"workflow": f"CI {i % 7}", "repository": f"org/repo{i % 13}", "event": "push",
           "timestamp": t + 30, "workflow_run_id": str(900000 + i)}
    if corrupt_every and i % corrupt_every == 0:
        pre["timestamp"] = -1
    files = {FILES[0]: str(float(t - 100) + 0.25), FILES[1]: str(t), FILES[2]: json.dumps(pre)}
    if i % 5 != 4:
        post = {"timestamp": t + 300, "status": "normal"}
        if i % 3 == 0:
            post = {"timestamp": t + 300, "status": "abnormal", "status_info": {"code": 1}}
        files[FILES[3]] = json.dumps(post)
    return files


def name(i):
    return f"runner-{i:06d}"


def write_runner(d, i, corrupt_every):
    os.chmod(d, 0o755)
    for file, text in runner_files(i, corrupt_every).items():
        p = os.path.join(d, file)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o644)


def plain_tree(fs, n, corrupt_every=0):
    os.makedirs(fs, exist_ok=True)
    for i in range(n):
        d = os.path.join(fs, name(i))
        os.mkdir(d)
        write_runner(d, i, corrupt_every)
    os.sync()


def ext4_tree(fs, images, n, corrupt_every=0):
    os.makedirs(fs, exist_ok=True)
    os.makedirs(images, exist_ok=True)
    zeros = bytes(1 << 20)
    for i in range(n):
        image, mnt = os.path.join(images, name(i) + ".img"), os.path.join(fs, name(i))
        with open(image, "wb") as f:
            f.write(zeros)
        subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.mkdir(mnt)
        subprocess.run(["mount", "-o", "loop", image, mnt], check=True)
        write_runner(mnt, i, corrupt_every)
    os.sync()


def mounts_under(path):
    """Mount points at or under path (from /proc/self/mountinfo)."""
    prefix = os.path.realpath(path).rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if (p + "/").startswith(prefix)]


def unmount_all(path):
    """Cleanup after an aborted run: lazily detach anything still mounted under path."""
    for p in sorted(mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", p], stderr=subprocess.DEVNULL)
