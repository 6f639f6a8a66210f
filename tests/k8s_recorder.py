"""A loopback HTTP server that plays the Kubernetes API just far enough to record a client.

No kube-apiserver can run here, so tests point the real clients (spark-submit's fabric8
client, the Kubernetes Python client) at this recorder and assert on what they sent.
Defaults follow the field notes: POST → 201 echoing the body, PATCH (server-side apply)
→ 200 echoing the body, DELETE → 200 with a Status, GET → 404. A test may install a
route for one (method, path), or for every path under a prefix, that answers from what was
recorded so far, e.g. a pod list built from the driver Pod that spark-submit POSTed.

It can say no: `FakeNamespace` keeps pods, services, config maps and network policies that
fail (OOMKilled, evicted, node lost), vanish when deleted (taking what they own with them, as
the garbage collector does) and 404 once gone; a pod's `portforward` subresource plays the
websocket port-forward protocol to a local backend, and reports on the error channel when the
backend refuses, as the kubelet does.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import socket
import struct
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO, Callable
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: Any  # parsed JSON when the client sent JSON, else the text (or None)
    authorization: str = ""  # to prove which credentials a client took from its kubeconfig
    protocols: str = ""  # Sec-WebSocket-Protocol of an upgrade request


Reply = tuple[int, Any]
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
Route = Callable[[RecordedRequest], Reply]


@dataclass
class K8sRecorder:
    """The running server: its URL, what it received, and the routes a test installed."""

    url: str
    requests: list[RecordedRequest] = field(default_factory=list)
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    prefix_routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    # Watches over a websocket are accepted and held open (no events) when this is on.
    accept_watches: bool = False
    watches: list[RecordedRequest] = field(default_factory=list)
    # Pod path (/api/v1/namespaces/NS/pods/NAME) → the local (host, port) its port-forward reaches.
    forwards: dict[str, tuple[str, int]] = field(default_factory=dict)
    port_forwards: list[RecordedRequest] = field(default_factory=list)

    def sent(self, method: str, path_suffix: str = "") -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.endswith(path_suffix)]

    def route(self, method: str, path: str, answer: Route) -> None:
        self.routes[(method, path)] = answer

    def route_prefix(self, method: str, prefix: str, answer: Route) -> None:
        """Answer every path under `prefix` (the longest installed prefix wins; exact routes first)."""
        self.prefix_routes[(method, prefix)] = answer

    def answer_for(self, method: str, path: str) -> Route:
        if (method, path) in self.routes:
            return self.routes[(method, path)]
        prefixes = [prefix for (verb, prefix) in self.prefix_routes if verb == method and path.startswith(prefix)]
        if prefixes:
            return self.prefix_routes[(method, max(prefixes, key=len))]
        return _default_reply


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


def _read_frame(stream: BinaryIO) -> tuple[int, bytes] | None:
    """One websocket frame (RFC 6455 5.2): (opcode, unmasked payload); None at end of stream."""
    header = stream.read(2)
    if len(header) < 2:
        return None
    length = header[1] & 0x7F
    if length == 126:
        length = int.from_bytes(stream.read(2), "big")
    elif length == 127:
        length = int.from_bytes(stream.read(8), "big")
    mask = stream.read(4) if header[1] & 0x80 else b""
    payload = stream.read(length)
    if mask:
        payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return header[0] & 0x0F, payload


def _frame(opcode: int, payload: bytes) -> bytes:
    """A server frame: final, unmasked (RFC 6455 5.1: a server never masks)."""
    length = len(payload)
    if length < 126:
        head = bytes([0x80 | opcode, length])
    elif length < 65536:
        head = bytes([0x80 | opcode, 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + length.to_bytes(8, "big")
    return head + payload


BINARY, CLOSE = 0x2, 0x8
PORT_FORWARD_PROTOCOL = "v4.channel.k8s.io"


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

        def _upgrade(self, protocol: str = "") -> None:
            """Accept a websocket upgrade (RFC 6455 4.2.2: the accept value is the SHA-1 of the key
            and the protocol's GUID, base64-encoded)."""
            accept = base64.b64encode(
                hashlib.sha1((self.headers["Sec-WebSocket-Key"] + WEBSOCKET_GUID).encode()).digest()
            ).decode()
            self.send_response(101, "Switching Protocols")
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            if protocol:
                self.send_header("Sec-WebSocket-Protocol", protocol)
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True

        def _hold_watch(self, request: RecordedRequest) -> None:
            """A watch over a websocket (fabric8, the Java client Spark uses): accept the upgrade
            and send no event until the client hangs up."""
            self._upgrade()
            recorder.watches.append(request)
            try:
                while True:
                    frame = _read_frame(self.rfile)
                    if frame is None:
                        return
                    if frame[0] == CLOSE:  # answer a close frame, as RFC 6455 5.5.1 asks
                        self.wfile.write(_frame(CLOSE, b""))
                        self.wfile.flush()
                        return
            except OSError:
                return

        def _port_forward(self, request: RecordedRequest) -> None:
            """The pod's portforward subresource over a websocket, as the kubelet speaks it
            (kubernetes pkg/kubelet/cri/streaming/portforward/websocket.go, protocol
            v4.channel.k8s.io): per port a data and an error channel, each opened by a frame that
            holds the port as an unsigned 16-bit little-endian integer; then channel 0 carries the
            TCP stream both ways. A backend that refuses gets `error forwarding port ...` on the
            error channel. A pod that is not there gets 404 before any upgrade."""
            pod_path = request.path.removesuffix("/portforward")
            backend = recorder.forwards.get(pod_path)
            if backend is None:
                self._send(404, _status(404, "NotFound", f'pods "{pod_path.rsplit("/", 1)[-1]}" not found'))
                return
            port = int(request.query.get("ports", ["0"])[0])
            recorder.port_forwards.append(request)
            self._upgrade(PORT_FORWARD_PROTOCOL)
            lock = threading.Lock()

            def send(opcode: int, payload: bytes) -> None:
                with lock:
                    self.wfile.write(_frame(opcode, payload))
                    self.wfile.flush()

            send(BINARY, b"\x00" + struct.pack("<H", port))
            send(BINARY, b"\x01" + struct.pack("<H", port))
            try:
                upstream = socket.create_connection(backend, timeout=5)
            except OSError as error:
                send(BINARY, b"\x01" + (f"error forwarding port {port} to pod {pod_path.rsplit('/', 1)[-1]}, "
                                       f"uid {uuid.uuid4()}: {error.strerror}").encode())
                send(CLOSE, struct.pack(">H", 1000))
                return
            upstream.settimeout(None)

            def downstream() -> None:
                try:
                    while data := upstream.recv(65536):
                        send(BINARY, b"\x00" + data)
                    send(CLOSE, struct.pack(">H", 1000))
                except OSError:
                    pass

            copier = threading.Thread(target=downstream, daemon=True)
            copier.start()
            try:
                while (frame := _read_frame(self.rfile)) is not None:
                    opcode, payload = frame
                    if opcode == CLOSE:
                        break
                    if opcode == BINARY and payload[:1] == b"\x00" and len(payload) > 1:
                        upstream.sendall(payload[1:])
            except OSError:
                pass
            finally:
                try:
                    upstream.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                upstream.close()
                copier.join(timeout=5)

        def _send(self, code: int, reply: Any) -> None:
            if isinstance(reply, str):
                payload, reply_type = reply.encode("utf-8"), "text/plain"
            else:
                payload, reply_type = json.dumps(reply).encode("utf-8"), "application/json"
            try:
                self.send_response(code)
                self.send_header("Content-Type", reply_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting: nothing to answer
                self.close_connection = True

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
                self.command, split.path, parse_qs(split.query), content_type, body, self.headers.get("Authorization", ""),
                self.headers.get("Sec-WebSocket-Protocol", ""),
            )
            recorder.requests.append(request)
            upgrade = self.headers.get("Upgrade", "").lower() == "websocket"
            if upgrade and split.path.endswith("/portforward"):
                self._port_forward(request)
                return
            if upgrade and recorder.accept_watches:
                self._hold_watch(request)
                return
            code, reply = recorder.answer_for(self.command, split.path)(request)
            self._send(code, reply)

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


_LIST_KINDS = {"pods": "Pod", "services": "Service", "configmaps": "ConfigMap", "networkpolicies": "NetworkPolicy"}


@dataclass
class FakeNamespace:
    """One namespace's pods, services, config maps and network policies, served like the API
    server serves them: lists filtered by labelSelector, GET of one object or a pod's log (404
    once gone; 400 while its container has not started), DELETE that removes an object and,
    as the garbage collector does with background propagation, every object that names it in
    its ownerReferences. spark-submit's POST of a pod stores it (with a uid, as the server
    assigns one) and `fate(pod, index)` gives its status; its server-side-apply PATCHes of
    services and config maps are stored too."""

    name: str = "spark"
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {kind: {} for kind in _LIST_KINDS})
    logs: dict[str, str] = field(default_factory=dict)
    default_log: str = ""  # the log of a pod that has started and has none of its own in `logs`
    fate: Callable[[dict[str, Any], int], dict[str, Any]] | None = None
    posted: int = 0
    deleted: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The cluster's nodes (GET /api/v1/nodes/NAME answers 200 for these, 404 for any other), and a
    # hook that sees each pod list as it is answered (to make something happen between polls).
    nodes: set[str] = field(default_factory=set)
    after_pod_list: Callable[[FakeNamespace, list[dict[str, Any]]], None] | None = None

    def path(self, plural: str) -> str:
        group = "/apis/networking.k8s.io/v1" if plural == "networkpolicies" else "/api/v1"
        return f"{group}/namespaces/{self.name}/{plural}"

    def add(self, item: dict[str, Any], plural: str | None = None) -> dict[str, Any]:
        item = copy.deepcopy(item)
        kind_plural = plural or {kind: p for p, kind in _LIST_KINDS.items()}[item["kind"]]
        metadata = item.setdefault("metadata", {})
        metadata.setdefault("namespace", self.name)
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        with self.lock:
            self.objects[kind_plural][metadata["name"]] = item
        return item

    def pods(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.objects["pods"].values())

    def names(self, plural: str) -> list[str]:
        with self.lock:
            return sorted(self.objects[plural])

    def _delete(self, plural: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            gone = self.objects[plural].pop(name, None)
        if gone is None:
            return None
        self.deleted.append((_LIST_KINDS[plural], name))
        uid = gone["metadata"].get("uid")
        for other_plural, items in self.objects.items():
            for other in list(items.values()):
                refs = other.get("metadata", {}).get("ownerReferences") or []
                if any(ref.get("uid") == uid for ref in refs):
                    self._delete(other_plural, other["metadata"]["name"])
        return gone

    def delete(self, plural: str, name: str) -> dict[str, Any] | None:
        """Delete an object as a client would (with what it owns); what was deleted, if anything."""
        return self._delete(plural, name)

    def lose_node(self, node: str) -> list[str]:
        """A node that goes away: the API forgets it and the pod garbage collector force-deletes its
        pods in one call each, leaving nothing behind (kubernetes pkg/controller/podgc/gc_controller.go
        gcOrphaned → markFailedAndDeletePodWithCondition: the DeletionByPodGC condition, then a delete
        with grace period 0); the names of the pods it took."""
        self.nodes.discard(node)
        gone = [pod["metadata"]["name"] for pod in self.pods() if (pod.get("spec") or {}).get("nodeName") == node]
        for name in gone:
            self._delete("pods", name)
        return gone

    def install(self, recorder: K8sRecorder) -> FakeNamespace:
        recorder.route_prefix("GET", "/api/v1/nodes/", self._node)
        for plural, kind in _LIST_KINDS.items():
            recorder.route("GET", self.path(plural), self._lister(plural, kind))
            recorder.route_prefix("DELETE", self.path(plural) + "/", self._deleter(plural))
            recorder.route_prefix("GET", self.path(plural) + "/", self._getter(plural))
            recorder.route_prefix("PATCH", self.path(plural) + "/", self._applier(plural))
        recorder.route("POST", self.path("pods"), self._create_pod)
        recorder.route("GET", f"/api/v1/namespaces/{self.name}/events", lambda request: (200, {
            "kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []}))
        return self

    def _node(self, request: RecordedRequest) -> Reply:
        name = request.path.removeprefix("/api/v1/nodes/")
        if name not in self.nodes:
            return 404, _status(404, "NotFound", f'nodes "{name}" not found')
        return 200, {"kind": "Node", "apiVersion": "v1", "metadata": {"name": name, "uid": str(uuid.uuid4())}}

    def _lister(self, plural: str, kind: str) -> Route:
        def answer(request: RecordedRequest) -> Reply:
            selector = request.query.get("labelSelector", [""])[0]
            with self.lock:
                items = [copy.deepcopy(i) for i in self.objects[plural].values()
                         if matches_selector(i["metadata"].get("labels", {}), selector)]
            if plural == "pods" and self.after_pod_list is not None:
                self.after_pod_list(self, items)
            return 200, {"kind": f"{kind}List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}
        return answer

    def _getter(self, plural: str) -> Route:
        def answer(request: RecordedRequest) -> Reply:
            rest = request.path[len(self.path(plural)) + 1:]
            name, _, sub = rest.partition("/")
            with self.lock:
                item = copy.deepcopy(self.objects[plural].get(name))
            if item is None:
                return 404, _status(404, "NotFound", f'{plural} "{name}" not found')
            if sub == "log":
                started = (item.get("status") or {}).get("phase") not in (None, "Pending")
                if name not in self.logs and started and self.default_log:
                    return 200, self.default_log
                if name not in self.logs:
                    return 400, _status(400, "BadRequest", f'container in pod "{name}" is waiting to start: ContainerCreating')
                text = self.logs[name]
                tail = request.query.get("tailLines")
                return 200, "".join(text.splitlines(keepends=True)[-int(tail[0]):]) if tail else text
            return 200, item
        return answer

    def _deleter(self, plural: str) -> Route:
        def answer(request: RecordedRequest) -> Reply:
            name = request.path[len(self.path(plural)) + 1:]
            gone = self._delete(plural, name)
            if gone is None:
                return 404, _status(404, "NotFound", f'{plural} "{name}" not found')
            return 200, gone
        return answer

    def _applier(self, plural: str) -> Route:
        def answer(request: RecordedRequest) -> Reply:
            if isinstance(request.body, dict):
                self.add(request.body, plural)
            return 200, request.body
        return answer

    def _create_pod(self, request: RecordedRequest) -> Reply:
        pod = copy.deepcopy(request.body)
        with self.lock:
            index = self.posted
            self.posted += 1
        pod["status"] = self.fate(pod, index) if self.fate else {"phase": "Pending"}
        return 201, self.add(pod, "pods")


class RunningRecorder:
    """Context manager: start the recorder on 127.0.0.1 on a free port, stop it after."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(K8sRecorder(url="")))
        self.recorder = K8sRecorder(url=f"http://127.0.0.1:{self._server.server_address[1]}")
        self._server.RequestHandlerClass = _handler(self.recorder)
        # shutdown() waits for the loop's next poll: 0.05 s rather than the default 0.5 s per test.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> K8sRecorder:
        self._thread.start()
        return self.recorder

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- pods shaped like the API server's -----------------------------------------------------

DRIVER_CONTAINER = "spark-kubernetes-driver"
ENDED_AT = "2026-01-01T00:10:00Z"


def spark_pod(name: str, *, role: str = "driver", job: str = "wordcount", submission: str = "s1",
              run: str | None = None, attempt: int = 1, app: str = "spark-0123", status: dict[str, Any] | None = None,
              created: str = "2026-01-01T00:00:00Z", executor_id: str | None = None,
              namespace: str = "spark") -> dict[str, Any]:
    """A driver or executor pod with Spark's labels and the submitter's."""
    labels = {"spark-role": role, "spark-app-selector": app, "spark-eks-spot/job": job,
              "spark-eks-spot/submission": submission}
    if role == "driver":
        labels.update({"spark-eks-spot/run": run or submission, "spark-eks-spot/attempt": str(attempt)})
    if executor_id is not None:
        labels["spark-exec-id"] = executor_id
    container = DRIVER_CONTAINER if role == "driver" else "spark-kubernetes-executor"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "creationTimestamp": created,
                     "labels": labels},
        "spec": {"containers": [{"name": container, "image": "repo/spark:t"}]},
        "status": status if status is not None else {"phase": "Running"},
    }


def terminated(exit_code: int, reason: str, message: str = "", finished: str = ENDED_AT) -> list[dict[str, Any]]:
    """`status.containerStatuses` of a driver whose container ended."""
    state: dict[str, Any] = {"exitCode": exit_code, "reason": reason, "finishedAt": finished,
                             "startedAt": "2026-01-01T00:01:00Z"}
    if message:
        state["message"] = message
    return [{"name": DRIVER_CONTAINER, "image": "repo/spark:t", "imageID": "", "ready": False, "restartCount": 0,
             "state": {"terminated": state}}]


def disruption(reason: str, message: str) -> dict[str, Any]:
    return {"type": "DisruptionTarget", "status": "True", "reason": reason, "message": message,
            "lastTransitionTime": "2026-01-01T00:09:00Z"}


# Pod statuses of the ways a driver ends, as the kubelet and the controllers write them
# (kubernetes.io/docs/concepts/workloads/pods/disruptions/#pod-disruption-conditions;
# .../tasks/configure-pod-container/assign-memory-resource/ for OOMKilled; kubelet eviction for
# Evicted; the kubelet's ContainerStatusUnknown when a pod's node vanished).
def succeeded() -> dict[str, Any]:
    return {"phase": "Succeeded", "containerStatuses": terminated(0, "Completed")}


def app_failed() -> dict[str, Any]:
    return {"phase": "Failed", "containerStatuses": terminated(1, "Error")}


def oom_killed() -> dict[str, Any]:
    return {"phase": "Failed", "containerStatuses": terminated(137, "OOMKilled")}


def evicted() -> dict[str, Any]:
    return {"phase": "Failed", "reason": "Evicted",
            "message": "The node was low on resource: memory. Threshold quantity: 100Mi, available: 91Mi.",
            "conditions": [disruption("TerminationByKubelet", "The node was low on resource: memory.")],
            "containerStatuses": terminated(137, "Error")}


def node_gone() -> dict[str, Any]:
    """What the pod garbage collector leaves of a pod whose node no longer exists: Failed, with
    the DisruptionTarget it adds before deleting, the container status unknown."""
    return {"phase": "Failed",
            "conditions": [disruption("DeletionByPodGC", "PodGC: node no longer exists")],
            "containerStatuses": terminated(137, "ContainerStatusUnknown",
                                            "The container could not be located when the pod was terminated")}
