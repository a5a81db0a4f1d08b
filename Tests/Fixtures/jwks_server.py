#!/usr/bin/env python3
"""A test identity provider's key endpoint on loopback (the OIDC tests sign tokens themselves).

  GET  /jwks    -> the JWK set last PUT (initially {"keys": []}); counts the fetch
  PUT  /jwks    -> replaces the JWK set with the request body (a key rotation)
  GET  /fetches -> {"fetches": N}: how many times /jwks was fetched
Prints the port it listens on, then serves until killed.
"""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

state = {"jwks": b'{"keys": []}', "fetches": 0}
lock = threading.Lock()


class Issuer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            if self.path == "/jwks":
                state["fetches"] += 1
                body = state["jwks"]
            elif self.path == "/fetches":
                body = json.dumps({"fetches": state["fetches"]}).encode()
            else:
                return self.reply(404, b'{"error": "not found"}')
        self.reply(200, body)

    def do_PUT(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        json.loads(body)
        with lock:
            state["jwks"] = body
        self.reply(204, b"")


server = ThreadingHTTPServer(("127.0.0.1", 0), Issuer)
print(server.server_address[1], flush=True)
server.serve_forever()
