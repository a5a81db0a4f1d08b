#!/usr/bin/env python3
"""A real HTTP server on loopback for the HTTP client's tests.

Any request is answered 200 with a JSON echo of its method, path, headers and body, except:
  /status/NNN  -> status NNN, a `retry-after: 7` header and a JSON message
  /slow        -> waits 30 s first
Prints the port it listens on, then serves until killed.
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        status = 200
        extra = {}
        if self.path.startswith("/status/"):
            status = int(self.path.split("/")[2])
            extra["retry-after"] = "7"
            payload = {"message": f"status {status} on purpose"}
        else:
            if self.path == "/slow":
                time.sleep(30)
            payload = {"method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-echo", "one")
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
print(server.server_address[1], flush=True)
server.serve_forever()
