#!/usr/bin/env python3
"""A fake GitHub REST API for the enrichment tests: loopback only, HTTP or HTTPS.

    fake_github.py make-certs DIR
        writes DIR/ca.pem, DIR/server.pem, DIR/server.key (a CA and a server certificate for
        127.0.0.1, ::1 and localhost, signed by it) and DIR/other-ca.pem (a CA that signed
        nothing here), with the openssl command-line tool.
    fake_github.py serve --log FILE [--cert DIR] [--host 127.0.0.1]
        listens on an ephemeral port (HTTPS with DIR's server certificate when --cert is given),
        prints "PORT n" and serves until killed. Each request is appended to FILE as one JSON
        line: path, query, headers.

The scenario is the repository name of GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs
(see SCENARIOS); `conclusions` also uses the run id. Standard library only.
"""
import json
import os
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

CREATED = "2024-01-02T03:04:05Z"
LOG_LOCK = threading.Lock()


def job(runner, created=CREATED, started="2024-01-02T03:04:17.5Z", conclusion="success", index=0):
    """A job shaped like GitHub's (steps and labels included, to exercise the nesting)."""
    return {
        "id": 1000 + index, "run_id": 1, "run_attempt": 1, "node_id": "J_%d" % index,
        "head_sha": "0" * 40, "url": "https://api.github.com/x", "status": "completed",
        "conclusion": conclusion, "created_at": created, "started_at": started,
        "completed_at": "2024-01-02T03:10:00Z", "name": "build (%d)" % index,
        "steps": [{"name": "Set up job", "status": "completed", "conclusion": "success", "number": 1,
                   "started_at": started, "completed_at": started}],
        "check_run_url": "https://api.github.com/y", "labels": ["self-hosted", "linux"],
        "runner_id": index, "runner_name": runner, "runner_group_id": 1, "runner_group_name": "Default",
        "workflow_name": "CI", "head_branch": "main",
    }


def others(count, start=0):
    return [job("other-%d" % (start + i), index=start + i) for i in range(count)]


def page_of(jobs_by_page, total):
    def answer(page, run_id):
        jobs = jobs_by_page.get(page, [])
        return 200, {"total_count": total, "jobs": jobs}
    return answer


CONCLUSIONS = [None, "success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required"]

SCENARIOS = {
    # One page, the runner's job among others: queue 12.5 s, success.
    "single": page_of({1: others(2) + [job("runner-1")]}, 3),
    # 250 jobs over three pages; the runner's is on page 3, with an offset and fractions:
    # created 03:04:05.25+01:00 = 02:04:05.25Z, started 02:04:07.000001Z: queue 1.750001 s.
    "pages": page_of({1: others(100), 2: others(100, 100),
                      3: others(49, 200) + [job("runner-p", created="2024-01-02T03:04:05.25+01:00",
                                                started="2024-01-02T02:04:07.000001Z", conclusion="failure")]}, 250),
    # The runner named on page 1 and again on page 2.
    "twice": page_of({1: others(99) + [job("runner-t")], 2: [job("runner-t", index=7)]}, 101),
    "nomatch": page_of({1: others(5)}, 5),
    "nullconclusion": page_of({1: [job("runner-n", conclusion=None)]}, 1),
    # Started before it was created (clock skew upstream): clamped to 0.
    "negative": page_of({1: [job("runner-neg", started="2024-01-02T03:04:00Z")]}, 1),
    # A queued job no runner has taken (runner_name null), then the runner's.
    "runnernull": page_of({1: [job(None), job("runner-1")]}, 2),
    # 1500 jobs: more than 10 pages.
    "toomany": page_of({1: others(100)}, 1500),
    "perf": page_of({1: others(20) + [job("runner-1")]}, 21),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-github"
    sys_version = ""

    def log_message(self, *args):
        pass

    def record(self):
        parts = urlsplit(self.path)
        entry = {"path": parts.path, "query": parts.query, "headers": {k: v for k, v in self.headers.items()}}
        with LOG_LOCK, open(self.server.log_path, "a") as log:
            log.write(json.dumps(entry) + "\n")
        return parts

    def send_json(self, status, body, close=False, chunked=False):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        if not chunked:
            # Head and body in one write: two small writes would meet Nagle's algorithm here and
            # the client's delayed ACK there, 40 ms a response on a kept-alive connection.
            self._headers_buffer.append(b"\r\n")
            self.wfile.write(b"".join(self._headers_buffer) + data)
            self._headers_buffer = []
            self.wfile.flush()
            return
        self.end_headers()
        if chunked:
            for start in range(0, len(data), 1000):
                piece = data[start:start + 1000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self):
        parts = self.record()
        segments = parts.path.split("/")
        # ["", "repos", owner, repo, "actions", "runs", id, "jobs"]
        if len(segments) != 8 or segments[1] != "repos" or segments[4:6] != ["actions", "runs"] or segments[7] != "jobs":
            return self.send_json(404, {"message": "Not Found"})
        repo, run_id = segments[3], int(segments[6])
        query = parse_qs(parts.query)
        page = int(query.get("page", ["1"])[0])
        if repo in SCENARIOS:
            status, body = SCENARIOS[repo](page, run_id)
            return self.send_json(status, body)
        if repo == "conclusions":
            return self.send_json(200, {"total_count": 1, "jobs": [job("runner-c", conclusion=CONCLUSIONS[run_id % 8])]})
        if repo == "chunked":
            return self.send_json(200, {"total_count": 1, "jobs": [job("runner-1")]}, chunked=True)
        if repo == "close":
            return self.send_json(200, {"total_count": 1, "jobs": [job("runner-1")]}, close=True)
        if repo in ("s401", "s403", "s404", "s500", "s302"):
            return self.send_json(int(repo[1:]), {"message": "status " + repo[1:]})
        if repo == "badjson":
            return self.send_json(200, b'{"total_count": 1, "jobs": [{"runner_name": "runner-1",}]}')
        if repo == "duplicatekey":
            return self.send_json(200, b'{"total_count": 1, "total_count": 1, "jobs": []}')
        if repo == "huge":
            # A real 5 MiB body, chunked: refused once 4 MiB have arrived.
            filler = {"total_count": 1, "jobs": [job("runner-1")], "padding": "x" * (5 << 20)}
            return self.send_json(200, filler, chunked=True)
        if repo == "hang":
            time.sleep(30)
            return self.send_json(200, {"total_count": 0, "jobs": []})
        if repo == "drip":
            body = json.dumps({"total_count": 1, "jobs": [job("runner-1")]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
            return
        if repo == "bothlengths":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
            return
        return self.send_json(404, {"message": "Not Found"})


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def openssl(*arguments):
    subprocess.run(["openssl", *arguments], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(directory):
    os.makedirs(directory, exist_ok=True)
    path = lambda name: os.path.join(directory, name)
    for name in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", path(name + ".key"), "-out", path(name + ".pem"), "-days", "2",
                "-subj", "/CN=runner-metrics test %s" % name,
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", path("server.key"), "-out", path("server.csr"), "-subj", "/CN=localhost")
    with open(path("server.ext"), "w") as ext:
        ext.write("subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                  "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
            "-CAcreateserial", "-out", path("server.pem"), "-days", "2", "-extfile", path("server.ext"))


def serve(log_path, cert_dir, host):
    server = Server((host, 0), Handler)
    server.log_path = log_path
    if cert_dir:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.path.join(cert_dir, "server.pem"), os.path.join(cert_dir, "server.key"))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


def main(argv):
    if len(argv) == 2 and argv[0] == "make-certs":
        return make_certs(argv[1])
    if argv and argv[0] == "serve":
        options = dict(zip(argv[1::2], argv[2::2]))
        return serve(options["--log"], options.get("--cert"), options.get("--host", "127.0.0.1"))
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
