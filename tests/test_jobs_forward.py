"""`jobs ui NAME` and `jobs history`: a local port-forward made with the Kubernetes Python client.

The loopback recorder plays the pod's `portforward` subresource the way the kubelet speaks it
(tests/k8s_recorder.py `_port_forward`) and pipes channel 0 to a small HTTP server standing in
for the Spark UI. The CLI runs as a process of its own so Ctrl-C is a real SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from jobs import PROJECT_ROOT
from jobs.__main__ import main
from jobs.forward import forward_until_stopped
from jobs.kube import core_api
from tests.conftest import free_port, kube_outputs, kubeconfig_for
from tests.k8s_recorder import FakeNamespace, K8sRecorder, spark_pod, succeeded

DRIVER = "wordcount-u1-driver"
HISTORY_POD = "spark-history-5d9c7b6f4-abcde"
HISTORY = {"namespace": "spark", "service": "spark-history", "port": 18080,
           "podSelector": "app.kubernetes.io/name=spark-history-server"}


class _UiStandIn(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        body = json.dumps({"served": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def backend() -> Iterator[tuple[str, int]]:
    """What listens on the pod's port: answers every GET with the path it got."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _UiStandIn)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield ("127.0.0.1", server.server_address[1])
    server.shutdown()
    server.server_close()


def history_pod(status: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": HISTORY_POD, "namespace": "spark", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"app.kubernetes.io/name": "spark-history-server"}},
            "spec": {"containers": [{"name": "history-server", "image": "repo/spark:img-0123"}]},
            "status": status}


READY = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}


def outputs_file(tmp_path: Path, recorder: K8sRecorder, **extra: Any) -> Path:
    return kube_outputs(tmp_path, recorder.url, **extra)


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=20) as response:
        return json.loads(response.read())


def _run_until_sigint(argv: list[str], paths: list[str]) -> tuple[str, str, int, list[dict[str, Any]], str]:
    """Start the CLI, read its announced URL, GET `paths` through it at once, then Ctrl-C it."""
    # A child inherits an ignored SIGINT (pytest started as `... &` from a script) and Python then
    # never raises KeyboardInterrupt in it: start it with SIGINT handled, as from a terminal.
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen([sys.executable, "-m", "jobs", *argv], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        first = process.stdout.readline()  # type: ignore[union-attr]
        url = first.split(" at ", 1)[1].split(" ", 1)[0] if " at " in first else json.loads(first)["url"]
        answers: list[dict[str, Any]] = [{}] * len(paths)

        def fetch(index: int, path: str) -> None:
            answers[index] = _get(url + path.lstrip("/"))

        threads = [threading.Thread(target=fetch, args=(i, p)) for i, p in enumerate(paths)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return first, out, process.returncode, answers, err


def test_ui_forwards_each_connection_over_its_own_websocket_and_stops_on_ctrl_c(
        cluster: FakeNamespace, recorder: K8sRecorder, backend: tuple[str, int], tmp_path: Path) -> None:
    """kubernetes-client/python 36.0.3 ws_client.PortForward carries one TCP stream per port per
    websocket, so every accepted local connection gets its own port-forward: a GET to
    /api/v1/namespaces/spark/pods/<driver>/portforward?ports=4040 upgraded to a websocket with the
    subprotocols v5.channel.k8s.io,v4.channel.k8s.io and the kubeconfig's token. Two requests at
    once both get their answer; SIGINT ends the process with exit 0 and a last line."""
    cluster.add(spark_pod(DRIVER, submission="u1"))
    recorder.forwards[f"/api/v1/namespaces/spark/pods/{DRIVER}"] = backend
    outputs = outputs_file(tmp_path, recorder)
    first, out, code, answers, err = _run_until_sigint(
        ["ui", "wordcount", "--outputs", str(outputs), "--port", "0"], ["/jobs/", "/api/v1/applications"])
    assert first.startswith("Spark UI of wordcount at http://127.0.0.1:")
    assert first.rstrip().endswith(f"(port-forward to {DRIVER}:4040; Ctrl-C stops it)")
    assert answers == [{"served": "/jobs/"}, {"served": "/api/v1/applications"}]
    assert code == 0, err
    assert out.strip().splitlines()[-1] == "stopped the port-forward after 2 connections"
    assert len(recorder.port_forwards) == 2
    for request in recorder.port_forwards:
        assert (request.path, request.query) == (f"/api/v1/namespaces/spark/pods/{DRIVER}/portforward",
                                                 {"ports": ["4040"]})
        assert request.protocols == "v5.channel.k8s.io,v4.channel.k8s.io"
        assert request.authorization == "Bearer kubeconfig-secret-token"


def test_history_forwards_to_the_ready_history_server_pod(
        cluster: FakeNamespace, recorder: K8sRecorder, backend: tuple[str, int], tmp_path: Path) -> None:
    """The pod comes from the stack's historyServer output (namespace, port, pod selector);
    --json announces the URL on one line."""
    cluster.add(history_pod(READY))
    recorder.forwards[f"/api/v1/namespaces/spark/pods/{HISTORY_POD}"] = backend
    outputs = outputs_file(tmp_path, recorder, historyServer=HISTORY)
    first, _, code, answers, err = _run_until_sigint(["history", "--outputs", str(outputs), "--port", "0", "--json"],
                                                     ["/api/v1/applications?status=completed"])
    announced = json.loads(first)
    assert announced["pod"] == HISTORY_POD and announced["port"] == 18080
    assert answers == [{"served": "/api/v1/applications?status=completed"}]
    assert code == 0, err
    assert recorder.port_forwards[0].query == {"ports": ["18080"]}
    selectors = [r.query["labelSelector"] for r in recorder.requests if r.path == "/api/v1/namespaces/spark/pods"]
    assert selectors == [["app.kubernetes.io/name=spark-history-server"]]


def test_a_refused_port_comes_back_on_the_error_channel_and_the_listener_closes_cleanly(
        cluster: FakeNamespace, recorder: K8sRecorder, tmp_path: Path) -> None:
    """When nothing listens on the pod's port the kubelet writes `error forwarding port N to pod
    P, uid U: ...` on the port's error channel (kubernetes pkg/kubelet/cri/streaming/portforward
    websocket.go); the client closes the local socket and keeps the text (PortForward.error). The
    local connection ends without an answer and the text is said once; closing the listener
    (stop) ends the forward."""
    cluster.add(spark_pod(DRIVER, submission="u1"))
    recorder.forwards[f"/api/v1/namespaces/spark/pods/{DRIVER}"] = ("127.0.0.1", free_port())
    warnings: list[str] = []
    urls: list[str] = []
    stop = threading.Event()
    announced = threading.Event()

    def announce(url: str) -> None:
        urls.append(url)
        announced.set()

    thread = threading.Thread(target=forward_until_stopped, kwargs=dict(
        core=core_api(kubeconfig_for(recorder.url)), namespace="spark", pod=DRIVER, remote_port=4040, local_port=0,
        announce=announce, warn=warnings.append, stop=stop))
    thread.start()
    try:
        assert announced.wait(10)
        with pytest.raises(Exception):
            _get(urls[0])
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(warnings) == 1 and warnings[0].startswith(f"error forwarding port 4040 to pod {DRIVER}, uid ")
    assert warnings[0].endswith("Connection refused")


def test_a_pod_that_is_gone_gets_a_warning_per_connection(cluster: FakeNamespace, recorder: K8sRecorder) -> None:
    """The API server answers 404 to the upgrade of a pod that does not exist; the client raises
    ApiException(status 0) with the handshake status, said as one warning."""
    warnings: list[str] = []
    stop = threading.Event()
    urls: list[str] = []
    thread = threading.Thread(target=forward_until_stopped, kwargs=dict(
        core=core_api(kubeconfig_for(recorder.url)), namespace="spark", pod="gone-driver", remote_port=4040,
        local_port=0, announce=urls.append, warn=warnings.append, stop=stop))
    thread.start()
    try:
        while not urls:
            threading.Event().wait(0.05)
        with pytest.raises(Exception):
            _get(urls[0])
    finally:
        stop.set()
        thread.join(timeout=10)
    assert len(warnings) == 1 and warnings[0].startswith("port-forward to gone-driver:4040 failed (")
    assert "404" in warnings[0]


def test_ui_needs_a_running_driver(cluster: FakeNamespace, recorder: K8sRecorder, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    cluster.add(spark_pod(DRIVER, submission="u1", status=succeeded()))
    assert main(["ui", "wordcount", "--outputs", str(outputs_file(tmp_path, recorder))]) == 1
    assert capsys.readouterr().err == (
        f"jobs: error: the newest driver of wordcount, {DRIVER}, is COMPLETED: the Spark UI lives only while the driver "
        "runs; `python -m jobs history` shows finished applications\n")
    assert not recorder.port_forwards


@pytest.mark.parametrize(("outputs", "pods", "code", "message"), [
    ({}, [], 2, "jobs: error: the stack outputs have no historyServer: the stack runs no History Server (history.enabled is "
                "false, or the stack predates it); set history.enabled: true and run `pulumi up`, then export the outputs again\n"),
    ({"historyServer": {"namespace": "spark"}}, [], 2,
     "jobs: error: stack output historyServer must be an object with namespace, podSelector and port; export the outputs "
     "again with `pulumi stack output --json --show-secrets`\n"),
    ({"historyServer": HISTORY}, [], 1,
     "jobs: error: no History Server pod in namespace spark (selector app.kubernetes.io/name=spark-history-server); "
     "`kubectl -n spark describe deployment spark-history` shows why\n"),
    ({"historyServer": HISTORY}, [history_pod({"phase": "Pending", "containerStatuses": [
        {"name": "history-server", "image": "i", "imageID": "", "ready": False, "restartCount": 0,
         "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]})], 1,
     f"jobs: error: the History Server pod {HISTORY_POD} is not ready (ImagePullBackOff: Back-off pulling image); it runs "
     "the project's image: push it with `python -m jobs image build && python -m jobs image push` (same "
     "--outputs/--stack), or set history.image\n"),
])
def test_history_says_why_there_is_nothing_to_forward_to(
        outputs: dict[str, Any], pods: list[dict[str, Any]], code: int, message: str, cluster: FakeNamespace,
        recorder: K8sRecorder, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for pod in pods:
        cluster.add(pod)
    assert main(["history", "--outputs", str(outputs_file(tmp_path, recorder, **outputs))]) == code
    assert capsys.readouterr().err == message
    assert not recorder.port_forwards
