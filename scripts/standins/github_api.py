#!/usr/bin/env python3
"""STAND-IN for GitHub's REST API (not GitHub) on loopback: the endpoints Baton uses, with GitHub's shapes and
status codes. Used by Baton's tests and its demo.

usage: github_api.py TOKEN [STATE_FILE]   (with STATE_FILE, pull requests survive restarts)
  GET   /user                      200 {"login", ...} with x-oauth-scopes; 401 on a bad token
  GET   /repos/{o}/{r}             200 with permissions.push
  GET   /repos/{o}/{r}/pulls       ?head=owner:branch&state=open
  POST  /repos/{o}/{r}/pulls       201; 422 "A pull request already exists for o:branch." when one is open
  PATCH /repos/{o}/{r}/pulls/{n}   200
Test controls (not GitHub): POST /_standin/config {"rateLimit": "403"|"429", "raceOnCreate": true, "delayCreate": seconds,
"failCreate": n (the next n creates answer 502), "readOnly": ["owner/repo", ...] (the token may not push there)},
GET /_standin/requests -> every request seen (method, path, headers, and its answer's status once answered). Prints its port, serves until killed.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = sys.argv[1]
STATE = sys.argv[2] if len(sys.argv) > 2 else None
lock = threading.Lock()
pulls = {}          # (owner, repo) -> list of pull dicts
if STATE and os.path.exists(STATE):
    pulls = {tuple(k.split("/", 1)): v for k, v in json.load(open(STATE)).items()}
config = {}
requests_seen = []


def save():
    """Called with the lock held, after every change."""
    if STATE:
        with open(STATE + ".tmp", "w") as f:
            json.dump({f"{o}/{r}": v for (o, r), v in pulls.items()}, f, indent=1)
        os.replace(STATE + ".tmp", STATE)


def pull_json(owner, repo, pull, port):
    return {
        "id": 1000 + pull["number"], "number": pull["number"], "state": pull["state"], "title": pull["title"], "body": pull["body"],
        "html_url": f"http://127.0.0.1:{port}/{owner}/{repo}/pull/{pull['number']}",
        "url": f"http://127.0.0.1:{port}/repos/{owner}/{repo}/pulls/{pull['number']}",
        "head": {"ref": pull["head"], "label": f"{owner}:{pull['head']}"}, "base": {"ref": pull["base"]},
    }


class GitHub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, payload, headers=None):
        if getattr(self, "entry", None) is not None:
            self.entry["status"] = status   # the key exists from the start: readers never see the dict change size
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-github-request-id", "STANDIN:1")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        self.entry = None
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"null") if length else None
        path, _, query = self.path.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        port = self.server.server_address[1]
        if path == "/_standin/config":
            with lock:
                config.clear(); config.update(body or {})
            return self.reply(200, config)
        if path == "/_standin/requests":
            with lock:
                return self.reply(200, requests_seen)
        self.entry = {"method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "status": None}
        with lock:
            requests_seen.append(self.entry)
        if self.headers.get("authorization") != f"Bearer {TOKEN}":
            return self.reply(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
        with lock:
            limit = config.pop("rateLimit", None)
        if limit == "403":
            reset = int(time.time()) + 1
            return self.reply(403, {"message": "API rate limit exceeded for user.", "documentation_url": "https://docs.github.com/rest/rate-limit"},
                              {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
        if limit == "429":
            return self.reply(429, {"message": "You have exceeded a secondary rate limit."}, {"retry-after": "1"})
        parts = path.strip("/").split("/")
        if parts == ["user"]:
            return self.reply(200, {"login": "baton-bot", "id": 1, "type": "User"}, {"x-oauth-scopes": "repo, workflow"})
        if len(parts) >= 3 and parts[0] == "repos":
            owner, repo = parts[1], parts[2]
            key = (owner, repo)
            if len(parts) == 3 and self.command == "GET":
                with lock:
                    push = f"{owner}/{repo}" not in config.get("readOnly", [])
                return self.reply(200, {"full_name": f"{owner}/{repo}", "default_branch": "main", "permissions": {"admin": False, "push": push, "pull": True}})
            if parts[3:] == ["pulls"] and self.command == "GET":
                head = params.get("head", "").replace("%3A", ":")
                with lock:
                    found = [pull_json(owner, repo, p, port) for p in pulls.get(key, [])
                             if p["state"] == params.get("state", "open") and (not head or f"{owner}:{p['head']}" == head)]
                return self.reply(200, found)
            if parts[3:] == ["pulls"] and self.command == "POST":
                missing = [f for f in ("title", "head", "base") if not (body or {}).get(f)]
                if missing:
                    return self.reply(422, {"message": "Validation Failed", "errors": [{"resource": "PullRequest", "field": missing[0], "code": "missing_field"}]})
                with lock:
                    delay = config.pop("delayCreate", 0)
                    failing = config.get("failCreate", 0)
                    if failing:
                        config["failCreate"] = failing - 1
                if failing:
                    return self.reply(502, {"message": "Server Error"})
                if delay:
                    time.sleep(delay)   # a slow GitHub: the test kills the worker meanwhile; the pull is still created
                with lock:
                    existing = [p for p in pulls.get(key, []) if p["state"] == "open" and p["head"] == body["head"]]
                    race = config.pop("raceOnCreate", False)
                    if race and not existing:
                        # Another writer created it a moment ago: GitHub answers 422 for ours.
                        pulls.setdefault(key, []).append({"number": len(pulls.get(key, [])) + 1, "state": "open", "title": "created by someone else",
                                                          "body": "", "head": body["head"], "base": body["base"]})
                        existing = True
                    if existing:
                        return self.reply(422, {"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom",
                                                "message": f"A pull request already exists for {owner}:{body['head']}."}],
                                                "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"})
                    pull = {"number": len(pulls.get(key, [])) + 1, "state": "open", "title": body["title"], "body": body.get("body", ""),
                            "head": body["head"], "base": body["base"]}
                    pulls.setdefault(key, []).append(pull)
                    save()
                    return self.reply(201, pull_json(owner, repo, pull, port))
            if len(parts) == 5 and parts[3] == "pulls" and self.command == "PATCH":
                with lock:
                    for pull in pulls.get(key, []):
                        if str(pull["number"]) == parts[4]:
                            pull.update({k: v for k, v in (body or {}).items() if k in ("title", "body", "state")})
                            save()
                            return self.reply(200, pull_json(owner, repo, pull, port))
        return self.reply(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})

    do_GET = do_POST = do_PATCH = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), GitHub)
print(server.server_address[1], flush=True)
server.serve_forever()
