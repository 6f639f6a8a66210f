"""`--wait` on a driver that cannot start: the reason Kubernetes records is shown, an image that
cannot be pulled ends the wait with exit 1, and `--timeout` bounds it.

The pods and events are shaped like the API server's (the condition, container state and
event fields of core/v1), served by the loopback recorder (tests/k8s_recorder.py) and read
through the real Kubernetes Python client.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

import jobs.kube as jobs_kube
from jobs.__main__ import main
from jobs.kube import KubeError, core_api, follow_submission, waiting_reason
from jobs.runs import failure_line
from tests.conftest import kubeconfig_for
from tests.k8s_recorder import K8sRecorder, event_list_route, pod_list_route

NAMESPACE = "spark"
PODS = f"/api/v1/namespaces/{NAMESPACE}/pods"
EVENTS = f"/api/v1/namespaces/{NAMESPACE}/events"
DRIVER = "wordcount-0123-driver"
UNSCHEDULABLE = "0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint {spark-eks-spot/spot: true}."


def driver(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": DRIVER, "namespace": NAMESPACE, "creationTimestamp": "2026-01-01T00:00:00Z",
                     "labels": {"spark-role": "driver", "spark-eks-spot/job": "wordcount",
                                "spark-eks-spot/submission": "s1", "spark-app-selector": "spark-0123"}},
        "spec": {"containers": [{"name": "spark-kubernetes-driver", "image": "repo/spark:t"}]},
        "status": status,
    }


def unschedulable() -> dict[str, Any]:
    return {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": UNSCHEDULABLE}]}


def waiting(reason: str, message: str) -> dict[str, Any]:
    return {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}], "containerStatuses": [{
        "name": "spark-kubernetes-driver", "image": "repo/spark:t", "imageID": "", "ready": False, "restartCount": 0,
        "state": {"waiting": {"reason": reason, "message": message}}}]}


def event(reason: str, message: str, kind: str = "Warning", at: str = "2026-01-01T00:01:00Z") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{DRIVER}.{reason}", "namespace": NAMESPACE},
            "involvedObject": {"kind": "Pod", "name": DRIVER, "namespace": NAMESPACE},
            "reason": reason, "message": message, "type": kind, "lastTimestamp": at}


# --- the pure reason reader -------------------------------------------------------------------


def test_the_schedulers_verdict_is_the_reason() -> None:
    """The scheduler sets PodScheduled=False, reason Unschedulable, with its per-node message
    (kubernetes pkg/scheduler/schedule_one.go, handleSchedulingFailure → PodScheduled condition)."""
    reason = waiting_reason(driver(unschedulable()))
    assert reason is not None and not reason.fatal
    assert reason.text() == f"Unschedulable: {UNSCHEDULABLE}"


@pytest.mark.parametrize(("state", "fatal"), [("ImagePullBackOff", True), ("ErrImagePull", True),
                                              ("InvalidImageName", True), ("CreateContainerConfigError", False)])
def test_container_waiting_reasons_and_which_are_fatal(state: str, fatal: bool) -> None:
    """The kubelet's waiting reasons (pkg/kubelet/images/types.go ErrImagePull, ImagePullBackOff,
    InvalidImageName; kuberuntime CreateContainerConfigError): an image that cannot be pulled
    will not heal; a missing ConfigMap can (Spark creates the driver's right after the pod)."""
    reason = waiting_reason(driver(waiting(state, "rpc error: not found")))
    assert reason is not None and reason.reason == state and reason.fatal is fatal


def test_a_starting_pod_has_no_reason_and_events_fill_the_gap() -> None:
    assert waiting_reason(driver(waiting("ContainerCreating", ""))) is None
    events = [event("Scheduled", "assigned", kind="Normal"), event("FailedScheduling", "older", at="2026-01-01T00:00:30Z"),
              event("FailedMount", 'configmap "x" not found', at="2026-01-01T00:02:00Z")]
    reason = waiting_reason(driver({"phase": "Pending"}), events)
    assert reason is not None and reason.text() == 'FailedMount: configmap "x" not found'


# --- following a driver through the client ----------------------------------------------------


def follow(recorder: K8sRecorder, pods: Callable[[], list[dict[str, Any]]], events: list[dict[str, Any]],
           timeout: float | None = None) -> tuple[Any, str]:
    recorder.route("GET", PODS, pod_list_route(pods))
    recorder.route("GET", EVENTS, event_list_route(lambda: events))
    ticks = iter(range(0, 100000, 60))
    out = io.StringIO()
    final = follow_submission(core_api(kubeconfig_for(recorder.url)), NAMESPACE, "wordcount", "s1", out=out,
                              interval=0, timeout=timeout, clock=lambda: float(next(ticks)), sleep=lambda s: None)
    return final, out.getvalue()


def test_an_unschedulable_driver_is_explained_and_the_timeout_ends_the_wait(recorder: K8sRecorder) -> None:
    """Pending forever (no node fits): the line shows the scheduler's reason, and after
    --timeout the wait ends with one line that says it keeps running and how to stop it."""
    with pytest.raises(KubeError) as raised:
        follow(recorder, lambda: [driver(unschedulable())], [event("FailedScheduling", UNSCHEDULABLE)], timeout=600)
    assert raised.value.exit_code == 1
    message = str(raised.value)
    assert message.startswith("wordcount: still not finished after 10m (")
    assert f"Pending (Unschedulable: {UNSCHEDULABLE})" in message
    assert message.endswith("`python -m jobs kill wordcount` stops it")
    queries = [r.query for r in recorder.requests if r.path == EVENTS]
    assert queries and queries[0]["fieldSelector"] == [f"involvedObject.kind=Pod,involvedObject.name={DRIVER}"]


def test_an_image_that_cannot_be_pulled_ends_the_wait_at_once(recorder: K8sRecorder) -> None:
    """A driver in ImagePullBackOff never starts: the follow ends at the first poll with state
    FAILED (cause image), and `submit --wait` says what to check and how to remove the pod."""
    pulled = waiting("ImagePullBackOff", 'Back-off pulling image "repo/spark:t"')
    final, _ = follow(recorder, lambda: [driver(pulled)], [])
    assert (final.state, final.reason.cause) == ("FAILED", "image")
    assert failure_line("wordcount", final) == (
        f'wordcount: driver {DRIVER} cannot start (ImagePullBackOff: Back-off pulling image "repo/spark:t"); '
        "check that the image is in the repository, then `python -m jobs kill wordcount` removes the pod"
    )
    assert len([r for r in recorder.requests if r.path == PODS and "driver" in r.query["labelSelector"][0]]) == 1


def test_a_driver_that_starts_after_waiting_is_followed_to_the_end(recorder: K8sRecorder) -> None:
    phases = iter([unschedulable(), waiting("ContainerCreating", ""), {"phase": "Running"}, {"phase": "Succeeded"}])
    state = [unschedulable()]

    def pods() -> list[dict[str, Any]]:
        return [driver(state[0])]

    def answer(request: Any) -> Any:
        if "spark-role=driver" in request.query["labelSelector"][0]:
            state[0] = next(phases)
        return pod_list_route(pods)(request)

    recorder.route("GET", EVENTS, event_list_route(lambda: []))
    recorder.route("GET", PODS, answer)
    out = io.StringIO()
    final = follow_submission(core_api(kubeconfig_for(recorder.url)), NAMESPACE, "wordcount", "s1", out=out,
                              interval=0, timeout=3600, sleep=lambda s: None)
    assert final.phase == "Succeeded"
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"wordcount: {DRIVER} Pending (Unschedulable: 0/3 nodes are available")


def test_every_poll_reaches_the_progress_line_and_each_change_stdout(recorder: K8sRecorder) -> None:
    """`submit --wait` shows the driver's current line (with its age) on the progress line at every
    poll; stdout gets a line only when the state or reason changes, so a log stays short."""
    phases = iter([unschedulable(), unschedulable(), {"phase": "Running"}, {"phase": "Running"}, {"phase": "Succeeded"}])
    state = [unschedulable()]

    def answer(request: Any) -> Any:
        if "spark-role=driver" in request.query["labelSelector"][0]:
            state[0] = next(phases)
        return pod_list_route(lambda: [driver(state[0])])(request)

    recorder.route("GET", EVENTS, event_list_route(lambda: []))
    recorder.route("GET", PODS, answer)
    out, polled = io.StringIO(), []
    final = follow_submission(core_api(kubeconfig_for(recorder.url)), NAMESPACE, "wordcount", "s1", out=out,
                              on_status=polled.append, interval=0, sleep=lambda s: None)
    assert final.phase == "Succeeded"
    assert len(polled) == 5 and all(line.startswith(f"wordcount: {DRIVER} ") and ", age " in line for line in polled)
    changes = out.getvalue().splitlines()
    assert [line.split()[2].rstrip(",") for line in changes] == ["Pending", "Running", "Succeeded"]


def test_an_api_that_never_answers_ends_the_wait_instead_of_hanging(recorder: K8sRecorder,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """kubernetes-client 36.0.3 sends every call with no timeout unless `_request_timeout` is given
    (kubernetes/client/rest.py RESTClientObject.request: no timeout → urllib3 waits for ever), so a
    connection the server stops answering held `--wait --timeout` past its deadline. Each call now
    carries REQUEST_TIMEOUT (shortened here); urllib3 retries a timed-out GET 3 times
    (Retry.DEFAULT), then the follow ends with one line: a bounded number of requests, not a hang."""
    release = threading.Event()
    hung: list[Any] = []

    def never(request: Any) -> Any:
        hung.append(request)
        release.wait(timeout=60)
        return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []}

    monkeypatch.setattr(jobs_kube, "REQUEST_TIMEOUT", (1.0, 1.0))
    recorder.route("GET", PODS, never)
    try:
        with pytest.raises(KubeError) as raised:
            follow_submission(core_api(kubeconfig_for(recorder.url)), NAMESPACE, "wordcount", "s1", out=io.StringIO(),
                              interval=0, timeout=600, sleep=lambda s: None)
    finally:
        release.set()
    assert str(raised.value) == ("follow driver: the Kubernetes API did not answer (connect timeout 1s, read timeout "
                                 "1s); check the network to the cluster and retry")
    assert raised.value.exit_code == 1
    assert 1 <= len(hung) <= 4


def test_status_shows_why_the_driver_waits(recorder: K8sRecorder, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    recorder.route("GET", PODS, pod_list_route(lambda: [driver(unschedulable())]))
    recorder.route("GET", EVENTS, event_list_route(lambda: []))
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"kubeconfig": json.dumps(kubeconfig_for(recorder.url)), "sparkNamespace": NAMESPACE}))
    assert main(["status", "wordcount", "--outputs", str(outputs)]) == 0
    assert capsys.readouterr().out.startswith(f"wordcount: {DRIVER} Pending (Unschedulable: {UNSCHEDULABLE}), 0 executors")


@pytest.mark.parametrize(("flags", "line"), [
    (["--timeout", "10m"], "jobs: error: --timeout bounds --wait; add --wait\n"),
    (["--wait", "--timeout", "soon"],
     "jobs: error: --timeout: 'soon' is not a finite duration; use a number with a unit, like 300s, 10min or 1h\n"),
])
def test_timeout_flag_is_checked_first(flags: list[str], line: str, write_outputs: Callable[..., Path],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit", "examples/wordcount.yaml", "--outputs", str(write_outputs()), *flags]) == 2
    assert capsys.readouterr().err == line
