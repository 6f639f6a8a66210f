"""A loopback HTTP server that plays the Kubernetes API just far enough to record a client.

No kube-apiserver can run here, so tests point the real clients (spark-submit's fabric8
client, the Kubernetes Python client) at this recorder and assert on what they sent.
Defaults follow the field notes: POST → 201 echoing the body, PATCH (server-side apply)
→ 200 echoing the body, DELETE → 200 with a Status, GET → 404. A test may install a
route for one (method, path) that answers from what was recorded so far, e.g. a pod list
built from the driver Pod that spark-submit POSTed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: Any  # parsed JSON when the client sent JSON, else the text (or None)
    authorization: str = ""  # to prove which credentials a client took from its kubeconfig


Reply = tuple[int, Any]
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B65"  # RFC 6455 section 1.3
Route = Callable[[RecordedRequest], Reply]


@dataclass
class K8sRecorder:
    """The running server: its URL, what it received, and the routes a test installed."""

    url: str
    requests: list[RecordedRequest] = field(default_factory=list)
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    # Watches over a websocket are accepted and held open (no events) when this is on.
    accept_watches: bool = False
    watches: list[RecordedRequest] = field(default_factory=list)

    def sent(self, method: str, path_suffix: str = "") -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.endswith(path_suffix)]

    def route(self, method: str, path: str, answer: Route) -> None:
        self.routes[(method, path)] = answer


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure" if code >= 400 else "Success",
            "reason": reason, "message": message, "code": code}


def _default_reply(request: RecordedRequest) -> Reply:
    if request.method == "POST":
        return 201, request.body
    if request.method in ("PATCH", "PUT"):
        return 200, request.body
    if request.method == "DELETE":
        return 200, _status(200, "", "deleted")
    return 404, _status(404, "NotFound", f"{request.path} not found")


def _handler(recorder: K8sRecorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _hold_watch(self, request: RecordedRequest) -> None:
            """A watch over a websocket (fabric8, the Java client Spark uses): accept the upgrade
            (RFC 6455 handshake) and send no event until the client hangs up."""
            accept = base64.b64encode(
                hashlib.sha1((self.headers["Sec-WebSocket-Key"] + WEBSOCKET_GUID).encode()).digest()
            ).decode()
            self.send_response(101, "Switching Protocols")
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.wfile.flush()
            recorder.watches.append(request)
            self.close_connection = True
            try:
                while True:
                    header = self.rfile.read(2)
                    if len(header) < 2:
                        return
                    length = header[1] & 0x7F
                    if length == 126:
                        length = int.from_bytes(self.rfile.read(2), "big")
                    elif length == 127:
                        length = int.from_bytes(self.rfile.read(8), "big")
                    self.rfile.read(length + (4 if header[1] & 0x80 else 0))  # mask key + payload
                    if header[0] & 0x0F == 0x8:  # a close frame: answer it, as RFC 6455 5.5.1 asks
                        self.wfile.write(bytes([0x88, 0x00]))
                        self.wfile.flush()
                        return
            except OSError:
                return

        def _serve(self) -> None:
            raw = self._read_body()
            text = raw.decode("utf-8") if raw else ""
            content_type = self.headers.get("Content-Type", "")
            try:
                body: Any = json.loads(text) if text else None
            except ValueError:
                body = text
            split = urlsplit(self.path)
            request = RecordedRequest(
                self.command, split.path, parse_qs(split.query), content_type, body, self.headers.get("Authorization", "")
            )
            recorder.requests.append(request)
            if self.headers.get("Upgrade", "").lower() == "websocket" and recorder.accept_watches:
                self._hold_watch(request)
                return
            answer = recorder.routes.get((self.command, split.path), _default_reply)
            code, reply = answer(request)
            if isinstance(reply, str):
                payload, reply_type = reply.encode("utf-8"), "text/plain"
            else:
                payload, reply_type = json.dumps(reply).encode("utf-8"), "application/json"
            self.send_response(code)
            self.send_header("Content-Type", reply_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


def matches_selector(labels: dict[str, str], selector: str) -> bool:
    """Equality-based label selectors (`a=b,c=d`), the only kind the submitter sends."""
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def pod_list_route(pods: Callable[[], list[dict[str, Any]]]) -> Route:
    """Answer a pod list GET from `pods()`, filtered by the request's labelSelector."""

    def answer(request: RecordedRequest) -> Reply:
        selector = request.query.get("labelSelector", [""])[0]
        items = [pod for pod in pods() if matches_selector(pod["metadata"].get("labels", {}), selector)]
        return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}

    return answer


def event_list_route(events: Callable[[], list[dict[str, Any]]]) -> Route:
    """Answer an event list GET from `events()`, filtered by the request's fieldSelector
    (`involvedObject.kind=Pod,involvedObject.name=NAME`, equality terms only)."""

    def answer(request: RecordedRequest) -> Reply:
        terms = dict(term.partition("=")[::2] for term in filter(None, request.query.get("fieldSelector", [""])[0].split(",")))
        items = []
        for event in events():
            involved = event.get("involvedObject", {})
            if all(involved.get(key.removeprefix("involvedObject.")) == value for key, value in terms.items()):
                items.append(event)
        return 200, {"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}

    return answer


class RunningRecorder:
    """Context manager: start the recorder on 127.0.0.1 on a free port, stop it after."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(K8sRecorder(url="")))
        self.recorder = K8sRecorder(url=f"http://127.0.0.1:{self._server.server_address[1]}")
        self._server.RequestHandlerClass = _handler(self.recorder)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> K8sRecorder:
        self._thread.start()
        return self.recorder

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
