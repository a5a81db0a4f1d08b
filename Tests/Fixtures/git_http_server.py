#!/usr/bin/env python3
"""Smart-HTTP git remote on loopback for the credential tests: `git http-backend` behind HTTP Basic auth.

usage: git_http_server.py PROJECT_ROOT TOKEN [--push-status CODE] [--status CODE]
Serves the bare repositories under PROJECT_ROOT; every request must carry user `x-access-token` with
password TOKEN, otherwise 401. A repository that does not exist answers 404 (git http-backend's answer).
--push-status CODE: authenticated pushes (git-receive-pack) are answered CODE, as GitHub answers 403 to a token
without write access. --status CODE: every request is answered CODE (a broken server: 500, 503).
Prints the port, then serves until killed. Counts 401s in PROJECT_ROOT/401.count and every answer in
PROJECT_ROOT/requests.log (one "METHOD PATH STATUS" line each).
"""
import base64
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, TOKEN = sys.argv[1], sys.argv[2]
OPTIONS = dict(zip(sys.argv[3::2], sys.argv[4::2]))
PUSH_STATUS = int(OPTIONS.get("--push-status", "0"))
STATUS = int(OPTIONS.get("--status", "0"))
EXPECTED = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()


class GitHTTP(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_body(self):
        if self.headers.get("transfer-encoding", "").lower() == "chunked":  # libgit2 streams pushes
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status, headers=(), payload=b""):
        with open(os.path.join(ROOT, "requests.log"), "a") as log:
            log.write(f"{self.command} {self.path} {status}\n")
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def handle_any(self):
        body = self.read_body()
        if STATUS:
            self.answer(STATUS, [("content-type", "text/plain")], b"simulated failure\n")
            return
        if self.headers.get("authorization") != EXPECTED:
            with open(os.path.join(ROOT, "401.count"), "a") as counter:
                counter.write("x")
            self.answer(401, [("www-authenticate", 'Basic realm="git"')])
            return
        path, _, query = self.path.partition("?")
        if PUSH_STATUS and (path.endswith("/git-receive-pack") or "service=git-receive-pack" in query):
            self.answer(PUSH_STATUS, [("content-type", "text/plain")], b"Permission to push denied\n")
            return
        env = dict(os.environ, GIT_PROJECT_ROOT=ROOT, GIT_HTTP_EXPORT_ALL="1", REQUEST_METHOD=self.command,
                   PATH_INFO=path, QUERY_STRING=query, CONTENT_TYPE=self.headers.get("content-type", ""),
                   CONTENT_LENGTH=str(len(body)), REMOTE_USER="x-access-token", REMOTE_ADDR="127.0.0.1")
        result = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True)
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.answer(status, headers, payload)

    do_GET = do_POST = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), GitHTTP)
print(server.server_address[1], flush=True)
server.serve_forever()
