"""Job states with reasons: what a driver pod says about how it ended (jobs.kube.waiting_reason,
pod_state), the exception line of a driver's log, and `describe`/`list` joining the pods with
the records the submitter keeps in the bucket (moto's S3) once pods are gone.

Pods are shaped like the API server's (tests/k8s_recorder.py spark_pod and the failure
statuses next to it) and served by the loopback recorder's FakeNamespace to the real
Kubernetes Python client.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from jobs.__main__ import main
from jobs.kube import (
    CAUSE_DELETED,
    CAUSE_EVICTED,
    CAUSE_EXIT,
    CAUSE_NODE_LOST,
    CAUSE_OOM,
    COMPLETED,
    FAILED,
    RUNNING,
    SUBMITTED,
    core_api,
    follow_submission,
    pod_state,
    waiting_reason,
)
from jobs.records import Records, SubmissionRecord, pod_log_key, record_key
from jobs.runs import log_failure
from tests.conftest import TEST_REGION, kube_outputs, kubeconfig_for, s3
from tests.k8s_recorder import (
    FakeNamespace,
    K8sRecorder,
    RecordedRequest,
    app_failed,
    disruption,
    evicted,
    node_gone,
    oom_killed,
    pod_list_route,
    spark_pod,
    succeeded,
    terminated,
)

TRACEBACK_LOG = """26/01/01 00:01:00 INFO SparkContext: Running Spark version 4.3.0
Traceback (most recent call last):
  File "/opt/spark-eks-spot/apps/wordcount.py", line 80, in <module>
    sys.exit(main(sys.argv[1:]))
  File "/opt/spark-eks-spot/apps/wordcount.py", line 50, in main
    raise ValueError("no review_body in s3a://bucket/data/")
ValueError: no review_body in s3a://bucket/data/
26/01/01 00:01:05 INFO SparkContext: Invoking stop() from shutdown hook
26/01/01 00:01:05 INFO SparkContext: SparkContext is stopping with exitCode 0 from run at Executors.java:545.
26/01/01 00:01:06 INFO ShutdownHookManager: Shutdown hook called
"""


# --- how a pod ended -------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "state", "cause", "reason"), [
    (succeeded(), COMPLETED, None, None),
    (app_failed(), FAILED, CAUSE_EXIT, "exit code 1: Error"),
    (oom_killed(), FAILED, CAUSE_OOM, "OOMKilled: exit code 137"),
    (evicted(), FAILED, CAUSE_EVICTED, "TerminationByKubelet: The node was low on resource: memory."),
    (node_gone(), FAILED, CAUSE_NODE_LOST, "DeletionByPodGC: PodGC: node no longer exists"),
    ({"phase": "Failed", "reason": "Evicted", "message": "The node had condition: [DiskPressure]."},
     FAILED, CAUSE_EVICTED, "Evicted: The node had condition: [DiskPressure]."),
    ({"phase": "Failed", "containerStatuses": terminated(137, "ContainerStatusUnknown", "gone")},
     FAILED, CAUSE_NODE_LOST, "ContainerStatusUnknown: gone"),
    ({"phase": "Failed", "containerStatuses": terminated(137, "Error")}, FAILED, CAUSE_EXIT, "exit code 137: Error"),
    ({"phase": "Running"}, RUNNING, None, None),
    ({"phase": "Pending"}, SUBMITTED, None, None),
])
def test_a_driver_pods_end_is_classified_by_what_kubernetes_wrote(status: dict[str, Any], state: str,
                                                                   cause: str | None, reason: str | None) -> None:
    """Kubernetes says why a pod ended in three places, read most specific first: a DisruptionTarget
    condition (kubernetes.io/docs/concepts/workloads/pods/disruptions/#pod-disruption-conditions:
    DeletionByTaintManager and DeletionByPodGC for an unreachable or vanished node,
    EvictionByEvictionAPI, PreemptionByScheduler, TerminationByKubelet for node pressure and node
    shutdown), the pod's status reason (Evicted from the kubelet's eviction manager), then the
    container's termination: OOMKilled (exit 137; "eviction due to exceeding Pod container limits"
    gets no DisruptionTarget), ContainerStatusUnknown (the kubelet could not find the container
    of a pod whose node went away), or the exit code. Exit 137 with reason Error is not an OOM kill."""
    pod = spark_pod("wordcount-1-driver", status=status)
    found_state, found = pod_state(pod)
    assert found_state == state
    assert (found.cause if found else None) == (cause if reason else None)
    assert (found.text() if found else None) == reason


def test_a_node_lost_under_a_running_driver_is_named_while_it_terminates_and_ends_it_when_it_vanishes(
        recorder: K8sRecorder) -> None:
    """The taint manager adds DisruptionTarget (DeletionByTaintManager) to the pod before it
    deletes it (KEP-3329: the condition is written "before the Pod delete request"); a pod on an
    unreachable node keeps phase Running while it terminates, then goes. The follower shows the
    reason while it terminates and ends with FAILED, cause node lost, once it is gone."""
    terminating = spark_pod("wordcount-1-driver", status={"phase": "Running", "conditions": [
        disruption("DeletionByTaintManager", "Taint manager: deleting due to NoExecute taint")]})
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:09:30Z"
    state, reason = pod_state(terminating)
    assert state == RUNNING and reason is not None and reason.cause == CAUSE_NODE_LOST and not reason.fatal
    polls = iter([[terminating], []])  # what each poll of the driver finds
    seen: list[list[dict[str, Any]]] = [[]]

    def answer(request: RecordedRequest) -> Any:
        if request.query["labelSelector"][0].startswith("spark-role=driver"):
            seen[0] = next(polls)
        return pod_list_route(lambda: seen[0])(request)

    recorder.route("GET", "/api/v1/namespaces/spark/pods", answer)
    out = io.StringIO()
    final = follow_submission(core_api(kubeconfig_for(recorder.url)), "spark", "wordcount", "s1", out=out,
                              interval=0, sleep=lambda s: None)
    assert (final.state, final.reason.cause, final.reason.reason) == (FAILED, CAUSE_NODE_LOST, "DeletionByTaintManager")
    assert final.reason.retryable and final.reason.fatal
    assert "Running (DeletionByTaintManager: Taint manager: deleting due to NoExecute taint)" in out.getvalue()


def _follow_until_gone(recorder: K8sRecorder, nodes: set[str], node_reads: int = 200) -> Any:
    """A driver Running on node-a that the next poll no longer finds; `nodes` is what the API has,
    and `node_reads` what it answers this identity for a node it has (403: not allowed)."""
    namespace = FakeNamespace(nodes=nodes)
    namespace.add(spark_pod("wordcount-1-driver") | {"spec": {"nodeName": "node-a", "containers": [
        {"name": "spark-kubernetes-driver", "image": "repo/spark:t"}]}})

    def vanish(fake: FakeNamespace, listed: list[dict[str, Any]]) -> None:
        if any(pod["metadata"]["labels"].get("spark-role") == "driver" for pod in listed):
            fake.delete("pods", "wordcount-1-driver")  # a delete nothing explains

    namespace.after_pod_list = vanish
    namespace.install(recorder)
    if node_reads != 200:
        recorder.route_prefix("GET", "/api/v1/nodes/", lambda request: (node_reads, {
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": node_reads,
            "message": 'nodes "node-a" is forbidden'}))
    out = io.StringIO()
    return follow_submission(core_api(kubeconfig_for(recorder.url)), "spark", "wordcount", "s1", out=out,
                             interval=0, sleep=lambda s: None)


def test_a_driver_that_vanishes_with_its_node_is_a_lost_node(recorder: K8sRecorder) -> None:
    """The pod garbage collector deletes the pods of a node the API no longer has with grace 0,
    its DisruptionTarget DeletionByPodGC written in the same call (kubernetes
    pkg/controller/podgc/gc_controller.go: gcOrphaned, after checkIfNodeExists gets NotFound, then
    markFailedAndDeletePodWithCondition): a poller sees Running, then nothing. The node the driver
    was bound to (spec.nodeName) is read: 404 makes it node lost, which --retries acts on."""
    final = _follow_until_gone(recorder, nodes=set())
    assert (final.state, final.reason.cause, final.reason.reason) == (FAILED, CAUSE_NODE_LOST, "node gone")
    assert final.reason.retryable and final.reason.message.startswith("node node-a, where it ran, no longer exists")
    assert [r.path for r in recorder.requests if r.path.startswith("/api/v1/nodes/")] == ["/api/v1/nodes/node-a"]


@pytest.mark.parametrize(("nodes", "reads", "detail"), [
    ({"node-a"}, 200, ""),
    ({"node-a"}, 403, "; node node-a could not be read"),
])
def test_a_driver_deleted_from_a_node_that_is_still_there_or_unreadable_is_deleted(
        recorder: K8sRecorder, nodes: set[str], reads: int, detail: str) -> None:
    """The node still there (`kubectl delete`, `jobs kill`), or nodes not readable by this identity
    (nodes are cluster-scoped; a namespaced Role grants none): cause `deleted`, never retried."""
    final = _follow_until_gone(recorder, nodes=nodes, node_reads=reads)
    assert (final.state, final.reason.cause, final.reason.reason) == (FAILED, CAUSE_DELETED, "deleted while running")
    assert final.reason.message.endswith(f"Running, 0 executors running{detail}")


def test_a_disruption_that_did_not_go_ahead_is_not_a_failure() -> None:
    """"A DisruptionTarget may be added and later cleared if the disruption did not go ahead"
    (Pod disruption conditions): on a running pod that nobody is deleting it is not a reason."""
    pod = spark_pod("d", status={"phase": "Running", "conditions": [disruption("PreemptionByScheduler", "x")]})
    assert pod_state(pod) == (RUNNING, None)
    assert waiting_reason(pod) is None


# --- the reason in the log --------------------------------------------------------------------


def test_the_log_reason_is_the_last_traceback_line_not_the_last_line() -> None:
    """PySpark prints the traceback, then Spark's shutdown hook logs on (SparkContext is stopping
    with exitCode 0): the reason is the traceback's exception line."""
    assert log_failure(TRACEBACK_LOG) == "ValueError: no review_body in s3a://bucket/data/"
    chained = TRACEBACK_LOG + "Traceback (most recent call last):\n  File \"x\", line 1\nKeyError: 'x'\nINFO done\n"
    assert log_failure(chained) == "KeyError: 'x'"


def test_a_jvm_app_gives_its_uncaught_exception_and_a_clean_log_gives_nothing() -> None:
    log = "INFO starting\nException in thread \"main\" java.lang.IllegalStateException: no input\n\tat X.main(X.java:3)\n"
    assert log_failure(log) == "java.lang.IllegalStateException: no input"
    assert log_failure("INFO all good\nINFO SparkContext: Successfully stopped SparkContext\n") is None


# --- describe and list through the CLI --------------------------------------------------------


def outputs_file(tmp_path: Path, recorder: K8sRecorder, bucket: str) -> Path:
    return kube_outputs(tmp_path, recorder.url, bucketName=bucket, region=TEST_REGION)


def test_describe_shows_each_attempt_with_its_reason_and_keeps_it_in_the_bucket(
        cluster: FakeNamespace, recorder: K8sRecorder, bucket: str, aws_env: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Run r1: attempt 1 lost its node, attempt 2 failed in the app; an older run's submission is
    known only from its record (its pod was cleaned). describe shows all three, newest first, with
    the attempt, the state, the times and the reason (the log's exception line for the app
    failure), and saves each ended driver's log and final state to the bucket."""
    records = Records(s3(aws_env), bucket)
    records.put(SubmissionRecord(job="wordcount", submission="old00001", run="old00001", attempt=1, max_attempts=1,
                                 state=COMPLETED, submitted_at="2025-12-20T10:00:00Z", ended_at="2025-12-20T10:04:00Z",
                                 driver_pod="wordcount-old-driver"))
    cluster.add(spark_pod("wordcount-a1-driver", submission="a1", run="a1", attempt=1, status=node_gone(),
                          created="2026-01-01T00:00:00Z"))
    cluster.add(spark_pod("wordcount-a2-driver", submission="a2", run="a1", attempt=2, status=app_failed(),
                          created="2026-01-01T00:20:00Z"))
    cluster.logs["wordcount-a2-driver"] = TRACEBACK_LOG
    records.put(SubmissionRecord(job="wordcount", submission="a2", run="a1", attempt=2, max_attempts=3,
                                 state="SUBMITTED", submitted_at="2026-01-01T00:20:00Z"))
    outputs = outputs_file(tmp_path, recorder, bucket)

    assert main(["describe", "wordcount", "--outputs", str(outputs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "wordcount: 3 submissions in 2 runs"
    header, newest, first, old = lines[1:5]
    assert header.split()[:6] == ["JOB", "SUBMISSION", "ATTEMPT", "STATE", "START", "END"]
    assert newest.split()[:4] == ["wordcount", "a2", "2/3", "FAILED"]
    assert newest.endswith("exit code 1: Error; log: ValueError: no review_body in s3a://bucket/data/")
    assert first.split()[:4] == ["wordcount", "a1", "1", "FAILED"]
    assert first.endswith("DeletionByPodGC: PodGC: node no longer exists")
    assert old.split()[:4] == ["wordcount", "old00001", "1/1", "COMPLETED"]
    assert "2025-12-20 10:00:00Z  2025-12-20 10:04:00Z" in old

    saved = records.get("wordcount", "a2")
    assert saved is not None and saved.state == FAILED and saved.pod_log == pod_log_key("wordcount", "a2")
    assert records.read_text(saved.pod_log) == TRACEBACK_LOG
    assert saved.reason.endswith("log: ValueError: no review_body in s3a://bucket/data/")
    lost = records.get("wordcount", "a1")  # a driver the submitter never recorded gets a record now
    assert lost is not None and (lost.state, lost.cause, lost.attempt) == (FAILED, CAUSE_NODE_LOST, 1)

    assert main(["describe", "wordcount", "--json", "--outputs", str(outputs)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [(d["submission"], d["state"], d["cause"]) for d in document] == [
        ("a2", FAILED, CAUSE_EXIT), ("a1", FAILED, CAUSE_NODE_LOST), ("old00001", COMPLETED, "")]
    assert document[0]["log"] == "pod" and document[2]["end"] == "2025-12-20T10:04:00Z"


def test_list_shows_every_jobs_submissions_with_the_same_columns(
        cluster: FakeNamespace, recorder: K8sRecorder, bucket: str, aws_env: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A running job from its pod, a finished one from its record alone; list reads, it does
    not save anything."""
    Records(s3(aws_env), bucket).put(SubmissionRecord(
        job="etl", submission="e1", run="e1", attempt=1, max_attempts=1, state=FAILED, reason="OOMKilled: exit code 137",
        cause=CAUSE_OOM, submitted_at="2025-12-31T00:00:00Z", ended_at="2025-12-31T00:30:00Z"))
    cluster.add(spark_pod("wordcount-b1-driver", submission="b1"))
    cluster.add(spark_pod("wordcount-b1-exec-1", role="executor", submission="b1", executor_id="1"))
    outputs = outputs_file(tmp_path, recorder, bucket)
    assert main(["list", "--outputs", str(outputs)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["JOB", "SUBMISSION", "ATTEMPT", "STATE", "START", "END", "EXECUTORS", "DRIVER", "POD", "REASON"]
    assert rows[1][:4] == ["wordcount", "b1", "1", "RUNNING"] and rows[1][-3:] == ["1", "wordcount-b1-driver", "-"]
    assert rows[2][:4] == ["etl", "e1", "1/1", "FAILED"] and rows[2][-5:] == ["-", "OOMKilled:", "exit", "code", "137"]
    assert main(["list", "--json", "--outputs", str(outputs)]) == 0
    assert [row["state"] for row in json.loads(capsys.readouterr().out)] == [RUNNING, FAILED]
    assert s3(aws_env).list_objects_v2(Bucket=bucket, Prefix=pod_log_key("wordcount", "b1"))["KeyCount"] == 0


def test_a_driver_gone_without_an_end_and_a_job_nobody_knows(
        cluster: FakeNamespace, recorder: K8sRecorder, bucket: str, aws_env: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A record left at SUBMITTED whose pod is gone is FAILED, saying so; an unknown job is one line, exit 1."""
    Records(s3(aws_env), bucket).put(SubmissionRecord(job="wordcount", submission="c1", run="c1", attempt=1,
                                                      max_attempts=1, state="SUBMITTED",
                                                      submitted_at="2026-01-01T00:00:00Z"))
    outputs = outputs_file(tmp_path, recorder, bucket)
    assert main(["describe", "wordcount", "--json", "--outputs", str(outputs)]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["state"], row["reason"]) == (FAILED, "driver pod gone before its end was recorded "
                                                     "(deleted, or lost with its node)")
    assert main(["describe", "nothing", "--outputs", str(outputs)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jobs: error: job nothing has no driver pod in namespace spark or records in s3://") and err.count("\n") == 1
    assert record_key("nothing", "x").startswith("spark-events/jobs/")


def test_kill_marks_the_submission_cancelled_and_status_speaks_json(
        cluster: FakeNamespace, recorder: K8sRecorder, bucket: str, aws_env: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`kill` records CANCELLED before it deletes the driver (a plain delete leaves no
    DisruptionTarget, so the pod alone could not tell a kill from a crash); describe shows it."""
    cluster.add(spark_pod("wordcount-k1-driver", submission="k1"))
    outputs = outputs_file(tmp_path, recorder, bucket)
    assert main(["status", "wordcount", "--json", "--outputs", str(outputs)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["state"], status["submission"], status["attempt"], status["pod"]) == (
        RUNNING, "k1", 1, "wordcount-k1-driver")
    assert main(["kill", "wordcount", "--outputs", str(outputs)]) == 0
    assert capsys.readouterr().out == "deleted driver pod wordcount-k1-driver; its executors go with it\n"
    assert cluster.names("pods") == []
    record = Records(s3(aws_env), bucket).get("wordcount", "k1")
    assert record is not None and record.state == "CANCELLED" and record.reason.startswith("killed with `python -m jobs kill`")
    assert main(["describe", "wordcount", "--json", "--outputs", str(outputs)]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["state"], row["driverPod"]) == ("CANCELLED", "wordcount-k1-driver")
