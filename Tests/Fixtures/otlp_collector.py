"""A stand-in OpenTelemetry collector for tests: an OTLP/HTTP server on a free loopback port.

POST /v1/traces takes an ExportTraceServiceRequest as protobuf (application/x-protobuf, decoded here from the wire
format) or as JSON (application/json), and keeps each span in a simple shape. GET /spans returns them, GET /raw the
request bodies as received (latin-1), so that a test can check that no secret was sent. Prints its port first.
"""
import base64
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

spans = []
raw = []
lock = threading.Lock()


def fields(data):
    """Yields (field number, wire type, value) of a protobuf message."""
    i = 0
    while i < len(data):
        key, i = varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 2:
            size, i = varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wire)
        yield number, wire, value


def varint(data, i):
    result, shift = 0, 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, i


def any_value(data):
    for number, wire, value in fields(data):
        if number == 1:
            return value.decode()
        if number == 2:
            return bool(value)
        if number == 3:
            return value - (1 << 64) if value >= 1 << 63 else value
    return None


def attributes(entries):
    result = {}
    for data in entries:
        key, value = None, None
        for number, _, item in fields(data):
            if number == 1:
                key = item.decode()
            elif number == 2:
                value = any_value(item)
        result[key] = value
    return result


def proto_span(data):
    span = {"traceId": "", "spanId": "", "parentSpanId": "", "name": "", "kind": 0, "attributes": {}, "links": [], "status": 0}
    entries = []
    for number, _, value in fields(data):
        if number == 1:
            span["traceId"] = value.hex()
        elif number == 2:
            span["spanId"] = value.hex()
        elif number == 4:
            span["parentSpanId"] = value.hex()
        elif number == 5:
            span["name"] = value.decode()
        elif number == 6:
            span["kind"] = value
        elif number == 9:
            entries.append(value)
        elif number == 13:
            link = {"traceId": "", "spanId": "", "attributes": {}}
            link_entries = []
            for n, _, v in fields(value):
                if n == 1:
                    link["traceId"] = v.hex()
                elif n == 2:
                    link["spanId"] = v.hex()
                elif n == 4:
                    link_entries.append(v)
            link["attributes"] = attributes(link_entries)
            span["links"].append(link)
        elif number == 15:
            for n, _, v in fields(value):
                if n == 3:
                    span["status"] = v
    span["attributes"] = attributes(entries)
    return span


def proto_spans(body):
    for number, _, resource_spans in fields(body):
        if number != 1:
            continue
        for n, _, scope_spans in fields(resource_spans):
            if n != 2:
                continue
            for m, _, span in fields(scope_spans):
                if m == 2:
                    yield proto_span(span)


def identifier(value):
    """OTLP/JSON ids are hex; protobuf's own JSON mapping writes bytes as base64. Both become hex."""
    if not value:
        return ""
    if len(value) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in value):
        return value.lower()
    return base64.b64decode(value).hex()


def json_attributes(entries):
    result = {}
    for entry in entries or []:
        value = entry.get("value", {})
        if "stringValue" in value:
            result[entry["key"]] = value["stringValue"]
        elif "intValue" in value:
            result[entry["key"]] = int(value["intValue"])
        elif "boolValue" in value:
            result[entry["key"]] = value["boolValue"]
        else:
            result[entry["key"]] = None
    return result


def json_spans(body):
    request = json.loads(body)
    for resource_spans in request.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                yield {
                    "traceId": identifier(span.get("traceId")), "spanId": identifier(span.get("spanId")),
                    "parentSpanId": identifier(span.get("parentSpanId")), "name": span.get("name", ""),
                    "kind": span.get("kind", 0), "attributes": json_attributes(span.get("attributes")),
                    "links": [{"traceId": identifier(l.get("traceId")), "spanId": identifier(l.get("spanId")),
                               "attributes": json_attributes(l.get("attributes"))} for l in span.get("links", [])],
                    "status": (span.get("status") or {}).get("code", 0),
                }


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        kind = self.headers.get("Content-Type", "")
        if self.path != "/v1/traces":
            return self.answer(404, "text/plain", b"not found")
        try:
            decoded = list(json_spans(body) if kind.startswith("application/json") else proto_spans(body))
        except Exception as error:  # a malformed export is the test's failure to see
            return self.answer(400, "text/plain", str(error).encode())
        with lock:
            raw.append({"contentType": kind, "body": body.decode("latin-1"),
                        "headers": {k.lower(): v for k, v in self.headers.items()}})
            spans.extend(decoded)
        if kind.startswith("application/json"):
            self.answer(200, "application/json", b"{}")
        else:
            self.answer(200, "application/x-protobuf", b"")

    def do_GET(self):
        with lock:
            if self.path == "/spans":
                return self.answer(200, "application/json", json.dumps(spans).encode())
            if self.path == "/raw":
                return self.answer(200, "application/json", json.dumps(raw).encode())
        self.answer(404, "text/plain", b"not found")

    def answer(self, status, kind, body):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
