#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into DIR/<Target>/ (run.sh: corpus-work/seeds).

Seeds: the JSONTestSuite test_parsing files (JSON-level targets), valid runner files in every
shape upstream writes (jq -n pretty output, json.dumps spacing, compact; str(int) and
str(float) timestamps with and without LF), and hostile cases (deep nesting, duplicate and
lookalike keys, lone surrogates, BOM, overlong UTF-8, numbers at the Double edges, oversized
files, NUL, Int32 edges). Deterministic: same files every run.
"""
import os
import struct
import sys

out = sys.argv[1]
# The suite vendored in the repository, unless another test_parsing folder is given.
suite = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "MetricsDecodingTests", "JSONTestSuite", "test_parsing")

def write(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# --- runner files -----------------------------------------------------------------------
timestamps = [
    "1700000000", "1700000000\n", "1696427232.2253454", "1696427232.2253454\n", "0", "0.0",
    "0\n", "1e9", "01", "-1", "+1", " 1700000000", "1700000000 ", "1700000000\r\n", "1700000000\n\n",
    "1.", ".5", "inf", "nan", "0x10", "1" * 400, "0." + "0" * 400 + "1", "1" + "0" * 400,
    "179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368",
    "1700000000\x00", "\xef\xbb\xbf1700000000", "1" * 1025,
]
pre_jobs = [
    # jq -n pretty output (upstream)
    '{\n  "workflow": "CI",\n  "repository": "org/repo",\n  "event": "push",\n  "timestamp": 1700000030,\n  "workflow_run_id": "123"\n}\n',
    '{\n  "workflow": "Build & Test",\n  "repository": "canonical/github-runner-operator",\n  "event": "pull_request",\n  "timestamp": 1696427232.2253454,\n  "workflow_run_id": "6402137586"\n}\n',
    '{"workflow": "CI", "repository": "org/repo", "event": "workflow_dispatch", "timestamp": 1700000030, "workflow_run_id": "1"}',
    '{"workflow":"CI 0","repository":"org/repo0","event":"push","timestamp":1700000030,"workflow_run_id":"123"}',
    '{"workflow":"\\u00e9\\ud83d\\ude00\\n\\"","repository":"o/r","event":"schedule","timestamp":0,"workflow_run_id":""}',
    '{"workflow":"CI","repository":"org/repo","event":"push","timestamp":1700000030,"workflow_run_id":"123","workflow":"x"}',
    '{"workflow":"CI","repository":"org/repo","event":"push","timestamp":1700000030,"workflow_run_id":"123","\\u212a":1}',
    '{"workflow":"CI","repository":"orgrepo","event":"push","timestamp":1700000030,"workflow_run_id":"123"}',
    '{"workflow":"CI","repository":"/repo","event":"push","timestamp":1700000030,"workflow_run_id":"123"}',
    '{"workflow":"C\\u0000I","repository":"org/repo","event":"push","timestamp":1700000030,"workflow_run_id":"123"}',
    '{"workflow":"CI","repository":"org/repo","event":"push","timestamp":-0,"workflow_run_id":"123"}',
    '{"workflow":"CI","repository":"org/repo","event":"push","timestamp":1e400,"workflow_run_id":"123"}',
    '{"workflow":"CI","repository":"org/repo","event":"push","timestamp":"1700000030","workflow_run_id":123}',
    '{"workflow":"\\ud800","repository":"org/repo","event":"push","timestamp":1,"workflow_run_id":"1"}',
    '{"workflow":"CI","repository":"org/repo","event":"push","timestamp":1700000030}',
    '{"workflow":"' + "A" * 1000 + '","repository":"o/r","event":"push","timestamp":1,"workflow_run_id":"1"}',
    "\ufeff" + '{"workflow":"CI","repository":"org/repo","event":"push","timestamp":1,"workflow_run_id":"1"}',
    "[" * 20 + "]" * 20, "{}", "[]", "null", "",
]
post_jobs = [
    '{"timestamp": 1700000090, "status": "normal"}',
    '{"timestamp": 1700000090.123456, "status": "abnormal", "status_info": {"code": 1}}',
    '{"timestamp": 1700000090, "status": "repo-policy-check-failure", "status_info": {"code": 403}}\n',
    '{\n  "timestamp": 1700000090,\n  "status": "normal"\n}\n',
    '{"timestamp":1700000090,"status":"abnormal","status_info":{"code":-1}}',
    '{"timestamp":1,"status":"abnormal","status_info":{"code":2147483647}}',
    '{"timestamp":1,"status":"abnormal","status_info":{"code":-2147483648}}',
    '{"timestamp":1,"status":"abnormal","status_info":{"code":2147483648}}',
    '{"timestamp":1,"status":"abnormal","status_info":{"code":1.0}}',
    '{"timestamp":1,"status":"abnormal","status_info":{"code":1e0}}',
    '{"timestamp":1,"status":"abnormal","status_info":null}',
    '{"timestamp":1,"status":"abnormal","status_info":{}}',
    '{"timestamp":1,"status":"abnormal","status_info":{"code":1,"x":2}}',
    '{"timestamp":1,"status":"Normal"}',
    '{"timestamp":1,"status":"normal","queue":1}',
    '{"timestamp":-0.0,"status":"normal"}',
    '{"timestamp":5e-324,"status":"normal"}',
    '{"timestamp":1.7976931348623157e308,"status":"normal"}',
    '{"timestamp":1e-400,"status":"normal"}',
    '{"timestamp":1,"status":"normal",}',
]
for i, t in enumerate(timestamps):
    write("FuzzTimestamp", "seed-%03d" % i, t.encode("latin-1") if any(ord(c) > 127 and c != "\ufeff" for c in t) else t)
for i, p in enumerate(pre_jobs):
    write("FuzzPreJob", "seed-%03d" % i, p)
for i, p in enumerate(post_jobs):
    write("FuzzPostJob", "seed-%03d" % i, p)

# --- whole records: mask byte + four files cut at 0xFF (see splitFour) --------------------
def record(mask, files):
    return bytes([mask]) + b"\xff".join(f.encode("utf-8") if isinstance(f, str) else f for f in files)

good = ["1700000000\n", "1700000010\n", pre_jobs[0], post_jobs[0]]
records = [
    record(0x0F, good), record(0x0F, [timestamps[2], timestamps[0], pre_jobs[1], post_jobs[1]]),
    record(0x02, good), record(0x06, good), record(0x00, good), record(0x0B, good),
    record(0x0F, [good[0], "x", good[2], good[3]]), record(0x0F, [good[0], good[1], pre_jobs[5], post_jobs[7]]),
    record(0x0F, [good[0], good[1], good[2], post_jobs[2]]),
]
for i, r in enumerate(records):
    write("FuzzRecord", "seed-%03d" % i, r)
# worker: two bits per file (1 = regular file, 3 = special); 0x55 = all four regular
worker = [
    record(0x55, good), record(0x54, good), record(0x50, good), record(0x10, good), record(0x00, good),
    record(0x57, ["", good[1], good[2], good[3]]),         # directory
    record(0x57, ["x", good[1], good[2], good[3]]),        # symlink
    record(0x57, ["xy", good[1], good[2], good[3]]),       # fifo
    record(0x57, ["xyz", good[1], good[2], good[3]]),      # hard link
    record(0xD5, [good[0], good[1], good[2], "abc"]),      # post-job hard link
    record(0x55, [good[0], good[1], "{" + " " * 1100 + "}", good[3]]),  # too large
    record(0x55, [good[0], good[1], pre_jobs[5], good[3]]),
]
for i, r in enumerate(worker):
    write("FuzzWorker", "seed-%03d" % i, r)

# --- frames: mode byte 0 = whole frame, 1 = payload (header added), 2 = built verdict,
# 3 = built verdict changed by (offset u16, byte) pairs ------------------------------------
# The binary layout of Sources/MetricsDecoding/Frame.swift (Security/DECODING.md, "Worker frame").
def frame(payload):
    return b"RMF2" + struct.pack(">I", len(payload)) + payload

def f64(x):
    return struct.pack(">d", x)

def bits(u):
    return struct.pack(">Q", u)

def fstr(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b

STATUS = {"normal": 1, "abnormal": 2, "repo-policy-check-failure": 3}
REASONS = ["file-too-large", "not-regular-file", "unreadable-file", "invalid-encoding", "invalid-json",
           "duplicate-key", "unknown-field", "missing-field", "invalid-value", "invalid-timestamp",
           "not-a-directory", "worker-crashed", "worker-sandbox-violation", "worker-timeout",
           "protocol-violation", "invalid-runner-name"]
FILES = [None, "runner-installation-start.timestamp", "runner-installed.timestamp", "pre-job-metrics.json",
         "post-job-metrics.json"]

def valid(start=None, installed=None, pre=None, post=None, presence=None):
    """pre = (workflow, repository, event, timestamp, run_id), post = (timestamp, status, code or None);
    timestamps are floats or raw 8-byte strings; presence overrides the computed mask."""
    ts = lambda t: t if isinstance(t, bytes) else f64(t)
    mask = (start is not None) | (installed is not None) << 1 | (pre is not None) << 2 | (post is not None) << 3
    if post is not None and post[2] is not None:
        mask |= 0x10
    p = bytes([1, mask if presence is None else presence])
    if start is not None: p += ts(start)
    if installed is not None: p += ts(installed)
    if pre is not None:
        p += fstr(pre[0]) + fstr(pre[1]) + fstr(pre[2]) + ts(pre[3]) + fstr(pre[4])
    if post is not None:
        p += ts(post[0]) + bytes([STATUS[post[1]] if isinstance(post[1], str) else post[1]])
        if post[2] is not None: p += struct.pack(">i", post[2])
    return p

def rejected(reason, file, detail):
    r = REASONS.index(reason) + 1 if isinstance(reason, str) else reason
    f = FILES.index(file) if file is None or isinstance(file, str) else file
    return bytes([2, r, f]) + fstr(detail)

pre_ok = ("CI", "org/repo", "push", 1700000030.0, "123")
payloads = [
    valid(1700000000.0, 1700000010.0, pre_ok, (1700000090.0, "abnormal", -1)),     # every part
    valid(),                                                                       # an empty record
    valid(installed=1e20),
    valid(installed=1700000000.0, pre=("Build & Test", "canonical/github-runner-operator", "pull_request",
                                       1696427232.2253454, "6402137586"), post=(1700000390.25, "normal", None)),
    valid(pre=('\u00e9\U0001F600\n"\x01\u2028\ufeff', "o/r", "", 5e-324, ""),
          post=(1.7976931348623157e308, "repo-policy-check-failure", -2147483648)),
    rejected("invalid-json", "pre-job-metrics.json", "unexpected byte 0x7d at offset 3 in an object"),
    rejected("file-too-large", None, "x"),
    rejected("invalid-timestamp", "runner-installed.timestamp", ""),
    # refused: supervisor-only code, unknown bytes, reserved bits, signs, NaN, bad strings, lengths
    rejected("worker-timeout", None, "x"),
    rejected(0x11, 0, "x"), rejected("invalid-json", 5, "x"),
    rejected("invalid-json", None, "\x01"), rejected("invalid-json", None, "x" * 201),
    bytes([0, 0]), bytes([3, 0]),
    valid(installed=1.0, presence=0x22), valid(installed=1.0, presence=0x82), valid(presence=0x10),
    valid(installed=bits(0x8000000000000000)), valid(installed=-1.0),
    valid(installed=bits(0x7FF8000000000000)), valid(installed=bits(0x7FF0000000000000)),
    valid(installed=bits(0xFFF0000000000000)),
    valid(pre=("CI", "orgrepo", "push", 1.0, "1")), valid(pre=("CI", "org/repo\n", "push", 1.0, "1")),
    valid(pre=("C\x00I", "o/r", "push", 1.0, "1")), valid(pre=(b"\xc0\xaf", "o/r", "push", 1.0, "1")),
    valid(pre=(b"\xed\xa0\x80", "o/r", "push", 1.0, "1")),
    valid(post=(1.0, 4, None)), valid(post=(1.0, 0, 7)),
    valid(installed=1.0) + b"\x00",                                               # trailing byte
    bytes([1, 4]) + struct.pack(">H", 300) + b"CI",                                # length past the end
]
for i, p in enumerate(payloads):
    write("FuzzFrame", "seed-w%03d" % i, b"\x00" + frame(p))
    write("FuzzFrame", "seed-p%03d" % i, b"\x01" + p)
write("FuzzFrame", "seed-b000", b"\x02" + bytes(range(1, 200)))
write("FuzzFrame", "seed-b001", b"\x02\x01\x03\x05" + b"detail text")
write("FuzzFrame", "seed-b002", b"\x02\x3e" + bytes(range(255, 0, -1)))
write("FuzzFrame", "seed-m000", b"\x03\x3e" + bytes(range(1, 120)) + b"\x00\x0b\xff\x00\x03\x80")
write("FuzzFrame", "seed-m001", b"\x03\x01\x03\x05" + b"\x00" * 3 + b"\x00\x01\x7f")
write("FuzzFrame", "seed-h000", b"\x00RMF2\xff\xff\xff\xff")
write("FuzzFrame", "seed-h001", b"\x00RMF2\x00\x00\x00\x02\x01")
# the previous protocol's JSON frame: refused at the magic
write("FuzzFrame", "seed-h002", b'\x00RMF1\x00\x00\x00\x13{"verdict":"valid"}')

# --- JSON-level targets: the suite, the runner files, and hostile documents ----------------
hostile = [
    "[" * 100000, "[" * 8 + "]" * 8, "[" * 9 + "]" * 9, '{"a":' * 8 + "1" + "}" * 8,
    '{"a":1,"a":2}', '{"a":1,"\\u0061":2}', '{"\\u212a":1,"K":2}', '{"e\\u0301":1,"\\u00e9":2}',
    '{"a":1,"a\ufeff":2}',  # two members on both sides: a U+FEFF Foundation keeps (a harness finding)
    '["\\ud800"]', '["\\udc00"]', '["\\ud83d\\ude00"]', '["\\ud83d\\u0041"]', "[1,]", '{"a":1,}',
    "[1e400]", "[-1e400]", "[1e-400]", "[0e400]", "[4.9e-324]", "[2.4703282292062328e-324]",
    "[2.4703282292062327e-324]", "[1.7976931348623158e308]", "[1.7976931348623159e308]",
    "[9007199254740993]", "[-0]", "[-0.0]", "[123456789012345678901234567890123456789012]",
    "[0.1e1]", "[1E+2]", '"\\u0000"', '"\\/"', "\ufeff[]", "[]\x00", "[\x0c]", "[\u00a0]",
]
# JSON objects nested three deep, in the shape of the previous protocol's frame payloads
nested = [
    '{"verdict":"valid","installation_start":1700000000.0,"installed":1700000010.0,"pre_job":{"workflow":"CI","repository":"org/repo","event":"push","timestamp":1700000030.0,"workflow_run_id":"123"},"post_job":{"timestamp":1700000090.0,"status":"abnormal","status_info":{"code":-1}}}',
    '{"verdict":"rejected","reason":"invalid-json","file":"pre-job-metrics.json","detail":"unexpected byte 0x7d at offset 3 in an object"}',
    '{"verdict":"valid","installed":1e+20}', '{"verdict":"valid", "installed":-0.0}',
]
json_seeds = list(hostile) + pre_jobs + post_jobs + nested
if not os.path.isdir(suite):
    sys.exit(f"make_seeds.py: no JSONTestSuite test_parsing folder at {suite}")
for target in ("FuzzStrictJSON", "FuzzDifferential"):
    for i, h in enumerate(json_seeds):
        write(target, "seed-%03d" % i, h)
    write(target, "seed-overlong", b'["\xc0\xaf"]')
    write(target, "seed-surrogate-utf8", b'["\xed\xa0\x80"]')
    write(target, "seed-latin1", b'["\xe9"]')
    write(target, "seed-utf16", '["a"]'.encode("utf-16-le"))
    for name in sorted(os.listdir(suite)):
        with open(os.path.join(suite, name), "rb") as f:
            write(target, "suite-" + name, f.read())
