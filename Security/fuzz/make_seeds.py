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

# --- GitHub API responses: byte 0 = mode (low 2 bits) and parameters (FuzzGitHubResponse.swift) ---
# mode 0: bounds (bits 2-4 header, 5-7 body), then the chunk-stream length, the stream, the response
def gh_job(runner, created="2024-01-02T03:04:05Z", started="2024-01-02T03:04:17.5Z", conclusion="success"):
    name = "null" if runner is None else '"%s"' % runner
    value = "null" if conclusion is None else '"%s"' % conclusion
    return ('{"id": 1, "run_id": 9876543210, "runner_name": %s, "created_at": "%s", "started_at": "%s", '
            '"conclusion": %s, "labels": ["self-hosted"], "steps": [{"name": "Set up job", "number": 1, '
            '"conclusion": "success"}]}') % (name, created, started, value)

def gh_page(jobs, total=None):
    return '{"total_count": %d, "jobs": [%s]}' % (len(jobs) if total is None else total, ", ".join(jobs))

pages = [
    gh_page([gh_job("runner-1")]),
    gh_page([gh_job("a"), gh_job(None, conclusion=None), gh_job("b", conclusion="timed_out")], total=7),
    gh_page([gh_job("r"), gh_job("a"), gh_job("r")]),                        # the runner named twice
    gh_page([gh_job("r", created="2024-02-29T23:59:59.999999-05:30", started="2024-03-01T00:00:00+01:00",
                    conclusion="action_required")]),
    gh_page([gh_job("caf\u00e9"), gh_job("cafe\u0301")]),                     # equivalent, not equal
    gh_page([gh_job("r", created="2008-01-01T00:00:00Z", started="2008-02-05T00:00:00Z")]),   # queue of 35 days
    gh_page([gh_job("r", created="0001-01-01T00:00:00+23:59", started="9999-12-31T23:59:59.999999-23:59")]),
    gh_page([gh_job(n) for n in "abcdefgh"] + [gh_job("a")], total=9),
    gh_page([], total=0), gh_page([], total=1000000), gh_page([gh_job("r")], total=1000001),
    '{"total_count": 0, "jobs": [], "x": [[[[[[[1]]]]]]]}',
    # refused shapes (Tests/GitHubAPITests/JobsDecodingTests.swift)
    "[]", '{"jobs": []}', '{"total_count": -1, "jobs": []}', '{"total_count": 1.5, "jobs": []}',
    '{"total_count": 1e2, "jobs": []}', '{"total_count": -0, "jobs": []}', '{"total_count": "1", "jobs": []}',
    '{"total_count": 1}', '{"total_count": 1, "jobs": {}}', '{"total_count": 1, "jobs": [1]}',
    '{"total_count": 1, "total_count": 1, "jobs": []}', '{"total_count": 1, "jobs": [],}',
    gh_page([gh_job("a").replace(', "conclusion": "success", "labels"', ', "labels"')]),
    gh_page([gh_job("a").replace('"runner_name": "a"', '"runner_name": 5')]),
    gh_page([gh_job("a", created="2024-01-02")]), gh_page([gh_job("a", conclusion="stale")]),
    gh_page([gh_job("a", conclusion="SUCCESS")]), gh_page([gh_job("a").replace('"2024-01-02T03:04:17.5Z"', "null")]),
    '{"total_count": 1, "jobs": [], "x": [[[[[[[[1]]]]]]]]}', "\ufeff" + gh_page([]),
]

def http(body, status="200 OK", headers=None, chunks=None):
    b = body.encode("utf-8") if isinstance(body, str) else body
    hs = ["Date: Tue, 02 Jan 2024 03:04:20 GMT", "Content-Type: application/json; charset=utf-8",
          "X-GitHub-Media-Type: github.v3; format=json", "X-RateLimit-Remaining: 4999"]
    if headers is not None:
        hs = headers
    if chunks is None:
        if headers is None:
            hs.append("Content-Length: %d" % len(b))
        return ("HTTP/1.1 %s\r\n" % status + "".join(h + "\r\n" for h in hs) + "\r\n").encode() + b
    if headers is None:
        hs.append("Transfer-Encoding: chunked")
    out = ("HTTP/1.1 %s\r\n" % status + "".join(h + "\r\n" for h in hs) + "\r\n").encode()
    at = 0
    for n in chunks:
        piece = b[at:at + n]
        at += n
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    if at < len(b):
        out += b"%x\r\n" % (len(b) - at) + b[at:] + b"\r\n"
    return out + b"0\r\n\r\n"

page0 = pages[0].encode()
responses = [
    http(pages[0]), http(pages[2]), http(pages[1], chunks=[10, 1, 100]), http(pages[0], chunks=[len(page0)]),
    http(pages[3], chunks=[1] * 8),
    http(b"", status="404 Not Found", headers=["Content-Length: 0"]),
    http('{"message":"Bad credentials"}', status="401 Unauthorized"),
    http("", status="502 Bad Gateway", headers=["Content-Length: 0", "Connection: close"]),
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: t\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1",
    b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-encoding: identity\r\ncontent-length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + b"a" * 1024 + b"\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000005\r\nhello\r\n00000000\r\n\r\n",
    # incomplete
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhell", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
    # refused (Tests/GitHubAPITests/HTTPResponseParserTests.swift)
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n{}", b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n", b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/2 200\r\nContent-Length: 0\r\n\r\n", b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 20x OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000000005\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 2000 + b"\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1025\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n200\r\n" + b"a" * 512 + b"\r\n201\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: " + b"t" * 2000 + b"\r\n\r\n",
]
# (selector, chunk stream) pairs: default bounds byte by byte, default bounds in chunks, and the
# small bounds (header 1024 / body 1024, header 64, body 16, header 2048 / body 0)
streams = [(0x00, b""), (0x00, bytes([1, 2, 3, 5, 8, 13, 0, 200])), (0x24, bytes([7, 0, 64])),
           (0x0C, bytes([3])), (0x80, bytes([0, 1])), (0x5C, bytes([255]))]
n = 0
for r in responses:
    for sel, stream in streams:
        write("FuzzGitHubResponse", "seed-h%03d" % n, bytes([sel, len(stream)]) + stream + r)
        n += 1
    write("FuzzGitHubResponse", "seed-e%03d" % n, b"\x03" + r)   # mode 3: default bounds, 200 body to the page
    n += 1
# mode 1: pages, selection parameters in bits 2-7 (pages of 1-4 jobs, 1-4 pages, which job names the runner)
for i, p in enumerate(pages):
    for sel in (0x01, 0x05 | 0x3 << 2, 0x1D, 0x41 | 0x4, 0xFD):
        write("FuzzGitHubResponse", "seed-j%03d-%02x" % (i, sel), bytes([sel]) + p.encode("utf-8"))
# mode 2: RFC 3339 times (Tests/GitHubAPITests/JobsDecodingTests.swift), accepted and refused
times = [
    "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.25+01:00", "2024-02-29T23:59:59.999999-05:30",
    "1970-01-01T00:00:00Z", "2024-01-02T03:04:05.1Z", "2024-01-02T03:04:05+00:00", "2000-02-29T00:00:00Z",
    "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59.999999-23:59", "1969-12-31T23:59:59.999999Z",
    "2008-01-01T00:00:00Z", "2200-01-01T00:00:00Z", "2400-02-29T12:00:00-00:00",
    "", "2024-01-02", "2024-01-02T03:04:05", "2024-01-02t03:04:05Z", "2024-01-02T03:04:05z",
    "2024-01-02 03:04:05Z", "2024-01-02T03:04:05.Z", "2024-01-02T03:04:05.1234567Z", "2024-02-30T00:00:00Z",
    "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z",
    "2024-01-00T00:00:00Z", "2024-01-02T24:00:00Z", "2024-01-02T03:60:00Z", "2024-01-02T03:04:60Z",
    "2024-01-02T03:04:05+24:00", "2024-01-02T03:04:05+01:60", "2024-01-02T03:04:05+0100", "2024-01-02T03:04:05+01",
    "2024-01-02T03:04:05Z ", " 2024-01-02T03:04:05Z", "0000-01-01T00:00:00Z", "+2024-01-02T03:04:05Z",
    "2024-1-02T03:04:05Z", "\uff12024-01-02T03:04:05Z", "2024-01-02T03:04:05.\u0661Z",
    "2024-01-02T03:04:05.123456", "2024-01-02T03:04:05+01:00Z", "2016-12-31T23:59:60Z",
]
for i, t in enumerate(times):
    write("FuzzGitHubResponse", "seed-t%03d" % i, b"\x02" + t.encode("utf-8"))

# --- the GitHub process's frames: byte 0 mod 6 (FuzzEnrichmentFrames.swift) ---------------------
def answer(tag, kind, code=0, status=0, created=0, started=0):
    return struct.pack("<IBBHqq", tag, kind, code, status, created, started)

EARLIEST, LATEST, QUEUE = 1199145600000000, 7258118400000000, 35 * 86400 * 1000000
answers = [
    answer(3, 1, 7, 0, 1704164645000000, 1704164657500000), answer(1, 1, 0, 0, EARLIEST, EARLIEST),
    answer(1, 1, 1, 0, LATEST, LATEST), answer(1, 1, 1, 0, EARLIEST, EARLIEST + QUEUE),
    answer(1, 1, 1, 0, 1704164657500000, 1704164645000000),                   # negative queue (skew)
    answer(4, 7, 0, 502), answer(0xFFFFFFFF, 13),
] + [answer(1, k) for k in range(2, 14) if k != 7] + [
    # refused: unknown kind and code, times out of range, a queue past 35 days, stray fields
    answer(1, 0), answer(1, 14), answer(1, 1, 8, 0, 1704164645000000, 1704164657500000),
    answer(1, 1, 1, 0, EARLIEST - 1, EARLIEST), answer(1, 1, 1, 0, LATEST, LATEST + 1),
    answer(1, 1, 1, 0, EARLIEST, EARLIEST + QUEUE + 1), answer(1, 1, 1, 0, -(1 << 63), (1 << 63) - 1),
    answer(1, 1, 1, 200, 1704164645000000, 1704164657500000), answer(1, 2, 0, 500), answer(1, 2, 1),
    answer(1, 2, 0, 0, 1), answer(1, 7, 0, 200), answer(1, 7, 0, 99), answer(1, 7, 0, 600), answer(1, 7, 0, 404),
    answer(1, 7, 1, 502), b"RMGH" + struct.pack("<I", 1) + b"\x00" * 16,    # the ready frame
    answer(3, 1, 7, 0, 1704164645000000, 1704164657500000)[:-1], answer(1, 2) + b"\x00",
]
for i, a in enumerate(answers):
    write("FuzzEnrichmentFrames", "seed-a%03d" % i, b"\x00" + a)
# built answers: tag (4), kind, conclusion, status low, created (anchor + 5 delta bytes),
# started selector, started (anchor + 5) or queue delta, flags, status high
for i, b in enumerate([bytes([1, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
                       bytes([1, 0, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]),
                       bytes([1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0]),
                       bytes([9, 0, 0, 0, 6, 0, 0xF6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1]),
                       bytes([9, 0, 0, 0, 3, 1, 1, 2, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 15, 0])]):
    write("FuzzEnrichmentFrames", "seed-b%03d" % i, b"\x01" + b)

def request(tag, repo, run_id, runner, repo_len=None, runner_len=None):
    r, n = repo.encode() if isinstance(repo, str) else repo, runner.encode() if isinstance(runner, str) else runner
    return (struct.pack("<IHHQ", tag, len(r) if repo_len is None else repo_len, len(n) if runner_len is None else runner_len,
                        run_id) + r.ljust(256, b"\x00")[:256] + n.ljust(256, b"\x00")[:256])

requests = [
    (7, "octo-org/hello.world_1", 9876543210, "runner \u00fc 1"), (1, "a/b", 1, "r"),
    (1, "user_corp/repo", (1 << 63) - 1, "x" * 255), (1, "o" * 100 + "/" + "r" * 100, 42, "\U0001F600"),
    (1, "-octo/r", 1, "r"), (1, "_octo/r", 1, "r"), (1, "octo/.", 1, "r"), (1, "octo/..", 1, "r"), (1, "octo", 1, "r"),
    (1, "octo/r/x", 1, "r"), (1, "/r", 1, "r"), (1, "o/", 1, "r"), (1, "o/r?x=1", 1, "r"), (1, "\u00f6/r", 1, "r"),
    (1, "o/r", 0, "r"), (1, "o/r", 1 << 63, "r"), (1, "o/r", 1, ""), (1, "o/r", 1, "a\nb"), (1, "o/r", 1, "a\x7fb"),
    (1, "o/r", 1, b"\xff"), (1, "o/r", 1, b"\xc0\xaf"), (1, "o/r", 1, b"\xed\xa0\x80"), (1, "o/r", 1, "\u0085"),
]
for i, q in enumerate(requests):
    write("FuzzEnrichmentFrames", "seed-q%03d" % i, b"\x02" + request(*q))
good_request = request(*requests[0])
write("FuzzEnrichmentFrames", "seed-q-pad", b"\x02" + good_request[:46] + b"\x01" + good_request[47:])
write("FuzzEnrichmentFrames", "seed-q-long", b"\x02" + request(1, "o/r", 1, "r", repo_len=257))
write("FuzzEnrichmentFrames", "seed-q-256", b"\x02" + request(1, "o/r", 1, "x" * 256))
write("FuzzEnrichmentFrames", "seed-q-short", b"\x02" + good_request[:-1])
# built requests: tag (4), run id (8, LE), repository length, runner length (2, LE), the bytes
for i, (repo, runner, run_id) in enumerate([("octo/hello", "runner-1", 6402137586), ("a/b", "r", 1),
                                            ("o/r", "x" * 256, 1), ("o/..", "r", 1), ("o/r", b"\xf4\x90\x80\x80", 1)]):
    r = repo.encode()
    n = runner.encode() if isinstance(runner, str) else runner
    write("FuzzEnrichmentFrames", "seed-r%03d" % i, b"\x03" + struct.pack("<IQBH", 5, run_id, len(r), len(n)) + r + n)

def configuration(scheme=0, host=b"api.github.com", port=443, prefix=b"/api/v3", token=b"ghp_secret",
                  certs=b"-----BEGIN CERTIFICATE-----\n", bpf=b"\x06" * 16, fields=(10000, 10, 16 << 10, 4 << 20, 70, 512, 0),
                  revision=1, total=None, trailing=b""):
    strings = [host, prefix, token, certs, bpf]
    body = struct.pack("<BH", scheme, port) + struct.pack("<7I", *fields)
    body += b"".join(struct.pack("<I", len(s)) + s for s in strings)
    length = 12 + len(body) if total is None else total
    return b"RMGH" + struct.pack("<II", revision, length) + body + trailing

configurations = [
    configuration(), configuration(scheme=1, host=b"127.0.0.1", port=8080, prefix=b"", certs=b""),
    configuration(host=b"::1", fields=(1, 1, 1024, 1024, 1, 16, 0)),
    configuration(fields=(600000, 100, 1 << 20, 64 << 20, 86400, 4096, 0)),
    # refused
    configuration(revision=2), configuration(scheme=2), configuration(port=0), configuration(host=b""),
    configuration(host=b"api.github.com/evil"), configuration(prefix=b"api/v3"), configuration(prefix=b"/api/v3/"),
    configuration(prefix=b"/api?x"), configuration(token=b"two words"), configuration(token=b""),
    configuration(bpf=b"\x01\x02\x03"), configuration(bpf=b""), configuration(fields=(0, 10, 16 << 10, 4 << 20, 70, 512, 0)),
    configuration(fields=(10000, 101, 16 << 10, 4 << 20, 70, 512, 0)),
    configuration(fields=(10000, 10, 1023, 4 << 20, 70, 512, 0)),
    configuration(fields=(10000, 10, 16 << 10, 4 << 20, 70, 512, 1)),
    configuration(trailing=b"\x00"), configuration(total=0xFFFFFFFF), configuration()[:-1],
]
for i, c in enumerate(configurations):
    write("FuzzEnrichmentFrames", "seed-c%03d" % i, b"\x04" + c)
    write("FuzzEnrichmentFrames", "seed-d%03d" % i, b"\x05" + c[12:])
