#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""hub_stub.py - a small stand-in for the Hugging Face Hub, for tests.

Serves the files of one directory as the repository REPO in the Hub's URL
layout on 127.0.0.1 (standard library only):

  HEAD/GET /{repo}/resolve/{revision}/{file}
      revision: "main" or the commit. Plain files: 200 with ETag (W/"<git
      blob sha1>"), Content-Length, X-Repo-Commit, Accept-Ranges. LFS files
      (*.safetensors, *.bin): 302 to http://{cdn-host}:{port}/cdn/{sha256}
      (an absolute URL) with X-Linked-Etag "<sha256>", X-Linked-Size and
      X-Repo-Commit. Missing file: 404 with X-Error-Code EntryNotFound and
      X-Repo-Commit; unknown revision or repository: 404 RevisionNotFound /
      RepoNotFound without a commit.
  HEAD/GET /{old}/resolve/...  with --rename OLD: 307 to the relative URL
      /{repo}/resolve/... (a renamed repository).
  GET /cdn/{sha256}  the LFS blob; Range "bytes=N-" answered with 206.

Options: --token T (resolve requests without "Authorization: Bearer T" get
401), --drop-once FILE / --drop-always FILE (a GET of that file's body sends
the headers and half the bytes, then closes the connection), --fail-status N
(every resolve request gets HTTP N), --corrupt FILE (its last byte is
flipped in every answer), --cdn-host HOST (default localhost, so
the CDN is another host than 127.0.0.1), --log FILE (one JSON line per
request: method, path, host, authorization, range; written before the
answer), --commit SHA.

Prints "PORT <n>" on stdout once listening, and exits when stdin closes.
"""
import argparse
import hashlib
import http.server
import json
import os
import socket
import sys
import threading

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".onnx", ".h5", ".msgpack")


class Repo:
    def __init__(self, directory):
        self.files = {}
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    self.files[name] = f.read()
        self.by_sha = {}
        self.etag = {}
        for name, data in self.files.items():
            if name.endswith(LFS_SUFFIXES):
                sha = hashlib.sha256(data).hexdigest()
                self.by_sha[sha] = name
                self.etag[name] = sha
            else:
                h = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
                self.etag[name] = h


def make_handler(opts, repo, log_lock, state):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet
            pass

        def record(self):
            if not opts.log:
                return
            entry = {
                "method": self.command,
                "path": self.path,
                "host": self.headers.get("Host", ""),
                "authorization": self.headers.get("Authorization"),
                "range": self.headers.get("Range"),
                "user_agent": self.headers.get("User-Agent"),
            }
            with log_lock:
                with open(opts.log, "a") as f:
                    f.write(json.dumps(entry) + "\n")

        def send(self, code, headers=(), body=b""):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            if not any(k.lower() == "content-length" for k, _ in headers):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)

        def body(self, name, data, extra):
            """Answers a GET/HEAD of a file's bytes, with Range and drops."""
            start = 0
            rng = self.headers.get("Range")
            code = 200
            if rng:
                if not rng.startswith("bytes=") or not rng.endswith("-"):
                    self.send(400, body=b"only bytes=N- ranges here")
                    return
                start = int(rng[6:-1])
                if start >= len(data):
                    self.send(416, [("Content-Range", "bytes */%d" % len(data))])
                    return
                code = 206
            if name == opts.corrupt:
                data = data[:-1] + bytes([data[-1] ^ 1])
            part = data[start:]
            headers = list(extra) + [("Content-Length", str(len(part))), ("Accept-Ranges", "bytes")]
            if code == 206:
                headers.append(("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data))))
            drop = self.command == "GET" and (
                name == opts.drop_always or (name == opts.drop_once and not state["dropped"]))
            if not drop:
                self.send(code, headers, part)
                return
            state["dropped"] = True
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(part[: len(part) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def handle_any(self):
            self.record()
            path = self.path.split("?", 1)[0]
            parts = path.lstrip("/").split("/")
            if len(parts) == 2 and parts[0] == "cdn":
                name = repo.by_sha.get(parts[1])
                if name is None:
                    self.send(404, body=b"no such blob")
                    return
                self.body(name, repo.files[name], [("ETag", '"%s"' % parts[1])])
                return
            if len(parts) >= 5 and parts[2] == "resolve":
                repo_id = parts[0] + "/" + parts[1]
                rev = parts[3].replace("%2F", "/")
                name = "/".join(parts[4:])
                if opts.rename and repo_id == opts.rename:
                    target = "/%s/resolve/%s" % (opts.repo, "/".join(parts[3:]))
                    self.send(307, [("Location", target)])
                    return
                if opts.token and self.headers.get("Authorization") != "Bearer " + opts.token:
                    self.send(401, [("X-Error-Code", "RepoNotFound")], b"Invalid credentials")
                    return
                if opts.fail_status:
                    self.send(opts.fail_status, body=b"server trouble")
                    return
                if repo_id != opts.repo:
                    self.send(404, [("X-Error-Code", "RepoNotFound")], b"Repository not found")
                    return
                if rev not in ("main", opts.commit):
                    self.send(404, [("X-Error-Code", "RevisionNotFound")], b"Revision not found")
                    return
                common = [("X-Repo-Commit", opts.commit)]
                if name not in repo.files:
                    self.send(404, common + [("X-Error-Code", "EntryNotFound")], b"Entry not found")
                    return
                data = repo.files[name]
                etag = repo.etag[name]
                if name.endswith(LFS_SUFFIXES):
                    port = self.server.server_address[1]
                    loc = "http://%s:%d/cdn/%s?expires=1&signature=abc" % (opts.cdn_host, port, etag)
                    self.send(302, common + [
                        ("Location", loc),
                        ("X-Linked-Etag", '"%s"' % etag),
                        ("X-Linked-Size", str(len(data))),
                        ("ETag", '"0123456789abcdef0123456789abcdef01234567"'),
                    ])
                    return
                self.body(name, data, common + [("ETag", 'W/"%s"' % etag)])
                return
            self.send(404, body=b"not a Hub URL")

        do_GET = handle_any
        do_HEAD = handle_any

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--repo", default="test-org/tiny-bert")
    ap.add_argument("--commit", default="1111111111111111111111111111111111111111")
    ap.add_argument("--token")
    ap.add_argument("--rename")
    ap.add_argument("--drop-once")
    ap.add_argument("--drop-always")
    ap.add_argument("--fail-status", type=int, default=0)
    ap.add_argument("--corrupt")
    ap.add_argument("--cdn-host", default="localhost")
    ap.add_argument("--log")
    opts = ap.parse_args()
    repo = Repo(opts.dir)
    state = {"dropped": False}
    handler = make_handler(opts, repo, threading.Lock(), state)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdout.write("PORT %d\n" % server.server_address[1])
    sys.stdout.flush()
    try:
        sys.stdin.read()  # until the test closes the pipe or exits
    except KeyboardInterrupt:
        pass
    sys.stdout.flush()
    os._exit(0)  # no waiting for open connections


if __name__ == "__main__":
    main()
