"""Retries: `submit --wait --retries N` resubmits only what a new driver pod can fix.

The decision is pure (jobs.retry); the overwrite guard's claim check runs on moto's S3; and the
whole loop runs through the real CLI and pyspark's spark-submit against the loopback recorder,
whose FakeNamespace gives each POSTed driver its fate (OOMKilled, node lost, app failure,
success) the way the kubelet and the pod garbage collector write it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from jobs import PROJECT_ROOT
from jobs.__main__ import main
from jobs.kube import CAUSE_DELETED, CAUSE_EVICTED, CAUSE_EXIT, CAUSE_IMAGE, CAUSE_NODE_LOST, CAUSE_OOM
from jobs.launch import LaunchError, guard_output
from jobs.records import Records
from jobs.retry import decide, retry_interval
from jobs.sizing import pod_memory_mib
from jobs.spec import load_spec
from tests.conftest import TEST_REGION, ecr_image, kubeconfig_for, s3, stack_outputs
from tests.k8s_recorder import FakeNamespace, K8sRecorder, app_failed, node_gone, oom_killed, succeeded

pytestmark = pytest.mark.jvm  # starts Spark JVMs: scheduled first (tests/conftest.py)

EXAMPLE = PROJECT_ROOT / "examples" / "wordcount.yaml"
NODE_GROUPS = stack_outputs()["nodeGroups"]
TRACEBACK = 'Traceback (most recent call last):\n  File "app.py", line 3, in <module>\nValueError: boom\nINFO stopping\n'


# --- the decision ---------------------------------------------------------------------------


def _decide(cause: str, attempt: int = 1, factor: float | None = None, sets: tuple[str, ...] = (),
            confs: tuple[str, ...] = ()) -> Any:
    spec = load_spec(EXAMPLE, sets=list(sets), confs=list(confs))
    return decide(cause=cause, reason="why", attempt=attempt, max_attempts=3, spec=spec, oom_factor=factor,
                  node_groups=NODE_GROUPS)


@pytest.mark.parametrize("cause", [CAUSE_NODE_LOST, CAUSE_EVICTED])
def test_a_lost_node_or_an_eviction_is_retried_as_it_was(cause: str) -> None:
    decision = _decide(cause)
    assert decision.retry and decision.spec == load_spec(EXAMPLE)
    assert decision.why == "attempt 1 of 3 failed (why); a new driver pod can fix that: attempt 2"


@pytest.mark.parametrize("cause", [CAUSE_EXIT, CAUSE_IMAGE, CAUSE_DELETED, ""])
def test_an_app_failure_a_missing_image_or_a_deleted_driver_is_never_retried(cause: str) -> None:
    """A PySpark app that raises exits non-zero (spark-submit passes the Python exit code on); a new
    pod runs the same code on the same data. A plain DELETE (`kubectl delete`, `jobs kill`) leaves no
    DisruptionTarget (Pod disruption conditions list only disruptions Kubernetes itself starts)."""
    decision = _decide(cause, factor=2)
    assert not decision.retry and decision.why.endswith("not retried: a new attempt fails the same way")


def test_an_oom_kill_is_retried_only_with_a_factor_and_then_with_more_memory() -> None:
    """BasicDriverFeatureStep: the pod's memory is spark.driver.memory plus spark.driver.memoryOverhead
    when set, else max(384 MiB, factor x memory). So the factor grows both with the heap; an explicit
    overhead is grown with it, or the room that ran out would stay the same."""
    assert not _decide(CAUSE_OOM).retry
    assert "only --retry-on-oom FACTOR retries that" in _decide(CAUSE_OOM).why
    by_factor = _decide(CAUSE_OOM, factor=1.5, sets=("driver.memory=2g",))
    assert by_factor.retry and by_factor.spec.driver.memory == "3072m"
    assert "spark.driver.memoryOverhead" not in by_factor.spec.conf
    assert by_factor.why.endswith("attempt 2 with 1.5x driver memory: 3072m (a 4300 MiB pod instead of 2867 MiB)")
    explicit = _decide(CAUSE_OOM, factor=1.5, sets=("driver.memory=2g",), confs=("spark.driver.memoryOverhead=1g",))
    assert explicit.spec.conf["spark.driver.memoryOverhead"] == "1536m"
    assert pod_memory_mib("driver", explicit.spec.driver.memory, explicit.spec.conf, True) == 3072 + 1536


def test_no_retry_when_the_bigger_driver_fits_no_node_or_none_are_left() -> None:
    """8g x 1.5 is a 17203 MiB pod; an m5.xlarge on-demand node has 14162 MiB allocatable (infra/capacity.py)."""
    too_big = _decide(CAUSE_OOM, factor=1.5)
    assert not too_big.retry and "fits no node" in too_big.why
    assert _decide(CAUSE_NODE_LOST, attempt=3).why.endswith("no retries left (--retries 2)")


def test_the_interval_doubles_up_to_six_minutes() -> None:
    """EMR on EKS retry policies: 10 s, doubling, at most 6 minutes between attempts."""
    assert [retry_interval(10, attempt) for attempt in (1, 2, 3, 6, 9)] == [10, 20, 40, 320, 360]


# --- the overwrite guard ---------------------------------------------------------------------


def test_a_retry_may_replace_only_its_own_runs_partial_output(bucket: str, aws_env: str) -> None:
    """Every attempt writes a claim on its output (spark-events/output-claims/) before it submits.
    A later attempt of the same run finds its run's claim and may go over the partial output; a
    claim by another run, or none, refuses; --overwrite always may."""
    client = s3(aws_env)
    output = f"s3a://{bucket}/output/wordcount/"
    records = Records(client, bucket)
    guard_output(client, output, overwrite=False)  # empty: the first attempt may write
    records.claim_output(output, "wordcount", "run1", 1, "2026-01-01T00:00:00Z")
    client.put_object(Bucket=bucket, Key="output/wordcount/part-00000.csv", Body=b"partial")
    with pytest.raises(LaunchError, match="already holds objects"):
        guard_output(client, output, overwrite=False)
    guard_output(client, output, False, own_run=("wordcount", "run1"), claim=records.claim_of(output))
    records.claim_output(output, "other-job", "run9", 1, "2026-01-01T00:05:00Z")
    with pytest.raises(LaunchError) as refused:
        guard_output(client, output, False, own_run=("wordcount", "run1"), claim=records.claim_of(output))
    assert refused.value.exit_code == 1
    assert str(refused.value) == (f"output: {output} holds objects that no earlier attempt of run run1 claimed "
                                  "(last claim: job other-job, run run9); not retrying over them")
    with pytest.raises(LaunchError, match="last claim: nothing this run recorded"):
        guard_output(client, f"s3a://{bucket}/output/", False, own_run=("wordcount", "run1"), claim=None)
    guard_output(client, output, True, own_run=("wordcount", "run1"), claim=records.claim_of(output))


# --- the loop through spark-submit ---------------------------------------------------------


@pytest.fixture
def submit(recorder: K8sRecorder, bucket: str, aws_env: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, FakeNamespace]]:
    """`python -m jobs submit examples/wordcount.yaml --wait ...` with real spark-submit; each driver
    POSTed meets `fates[n]`, bound to `nodes[n]` when given (the cluster's nodes), and
    `after_pod_list` sees each pod list as it is answered."""
    monkeypatch.chdir(PROJECT_ROOT)
    tag = "retry-test"
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(stack_outputs(
        apiServerUrl=recorder.url, kubeconfig=json.dumps(kubeconfig_for(recorder.url)), bucketName=bucket,
        region=TEST_REGION, imageRepositoryUrl=ecr_image(aws_env, tag))))

    def run(fates: list[Callable[[], dict[str, Any]]], *flags: str, log: str = "driver console\n",
            on_first: Callable[[], None] = lambda: None, nodes: tuple[str, ...] = (),
            after_pod_list: Callable[[FakeNamespace, list[dict[str, Any]]], None] | None = None,
            ) -> tuple[int, FakeNamespace]:
        def fate(pod: dict[str, Any], index: int) -> dict[str, Any]:
            if index == 0:
                on_first()
            if nodes:
                pod["spec"]["nodeName"] = nodes[index]
            return fates[index]()

        namespace = FakeNamespace(fate=fate, default_log=log, nodes=set(nodes),
                                  after_pod_list=after_pod_list).install(recorder)
        code = main(["submit", "examples/wordcount.yaml", "--outputs", str(outputs), "--set", f"image.tag={tag}",
                     "--wait", *flags])
        return code, namespace

    return run


def _drivers(recorder: K8sRecorder) -> list[dict[str, Any]]:
    return [r.body for r in recorder.sent("POST") if r.path.endswith("/pods")]


def test_an_oom_then_a_lost_node_are_retried_and_the_third_attempt_completes(
        submit: Callable[..., tuple[int, FakeNamespace]], recorder: K8sRecorder, bucket: str, aws_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Attempt 1 is OOMKilled: with --retry-on-oom 1.5 attempt 2 asks for 1.5x the memory, the
    explicit memoryOverhead too, and Spark's own pod request shows it (2g + 1g → 3072Mi; 3072m +
    1536m → 4608Mi). Attempt 2 loses its node (the pod garbage collector's DisruptionTarget):
    attempt 3, same memory, completes. Each attempt is a new submission of the same job, with the
    run's id and its attempt number in its labels; its partial output (written before its node died)
    is replaced by the next attempt of the same run only."""
    client = s3(aws_env)
    code, _ = submit(
        [oom_killed, node_gone, succeeded], "--retries", "2", "--retry-on-oom", "1.5", "--retry-interval", "1s",
        "--set", "driver.memory=2g", "--conf", "spark.driver.memoryOverhead=1g",
        on_first=lambda: client.put_object(Bucket=bucket, Key="output/wordcount/part-0.csv", Body=b"partial"),
    )
    out = capsys.readouterr().out
    assert code == 0, out
    drivers = _drivers(recorder)
    labels = [d["metadata"]["labels"] for d in drivers]
    assert [label["spark-eks-spot/attempt"] for label in labels] == ["1", "2", "3"]
    run = labels[0]["spark-eks-spot/submission"]
    assert {label["spark-eks-spot/run"] for label in labels} == {run}
    assert {label["spark-eks-spot/job"] for label in labels} == {"wordcount"}
    assert len({label["spark-eks-spot/submission"] for label in labels}) == 3
    memory = [d["spec"]["containers"][0]["resources"]["requests"]["memory"] for d in drivers]
    assert memory == ["3072Mi", "4608Mi", "4608Mi"]
    assert "attempt 1 of 3 failed (OOMKilled: exit code 137); attempt 2 with 1.5x driver memory: 3072m, " \
           "memoryOverhead 1536m (a 4608 MiB pod instead of 3072 MiB)" in out
    assert "attempt 2 of 3 failed (DeletionByPodGC: PodGC: node no longer exists); a new driver pod can fix that: " \
           "attempt 3" in out
    records = {r.attempt: r for r in Records(client, bucket).newest("wordcount")}
    assert [(records[n].state, records[n].cause, records[n].run) for n in (1, 2, 3)] == [
        ("FAILED", CAUSE_OOM, run), ("FAILED", CAUSE_NODE_LOST, run), ("COMPLETED", "", run)]
    assert all(records[n].pod_log and records[n].max_attempts == 3 for n in (1, 2, 3))
    assert Records(client, bucket).claim_of(f"s3a://{bucket}/output/wordcount/")["attempt"] == 3
    assert f"submitted wordcount (attempt 3 of 3, submission {labels[2]['spark-eks-spot/submission']})" in out
    # Spark's DriverLogger needs its folder: the zero-byte marker the event-log expiry spares.
    assert client.head_object(Bucket=bucket, Key="spark-events/driver-logs/")["ContentLength"] == 0


def test_a_driver_whose_node_vanished_is_retried_as_a_lost_node(
        submit: Callable[..., tuple[int, FakeNamespace]], recorder: K8sRecorder, bucket: str, aws_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The most common node loss leaves nothing to read: the pod garbage collector force-deletes a
    gone node's pods (kubernetes pkg/controller/podgc/gc_controller.go gcOrphaned →
    markFailedAndDeletePodWithCondition), so `--wait` sees the driver Running on node-a, then no pod.
    node-a answers 404: attempt 1 failed as node lost, attempt 2 runs (on node-b) and completes."""

    def node_a_goes(namespace: FakeNamespace, listed: list[dict[str, Any]]) -> None:
        if any(pod["spec"].get("nodeName") == "node-a" for pod in listed):
            namespace.lose_node("node-a")  # after this answer: the next poll finds nothing

    code, _ = submit([lambda: {"phase": "Running"}, succeeded], "--retries", "1", "--retry-interval", "1s",
                     nodes=("node-a", "node-b"), after_pod_list=node_a_goes)
    out = capsys.readouterr().out
    assert code == 0, out
    assert [d["metadata"]["labels"]["spark-eks-spot/attempt"] for d in _drivers(recorder)] == ["1", "2"]
    assert ("attempt 1 of 2 failed (driver pod gone: node gone: node node-a, where it ran, no longer exists (the "
            "pod garbage collector deletes the pods of a node that is gone)); a new driver pod can fix that: "
            "attempt 2") in out
    records = {r.attempt: r for r in Records(s3(aws_env), bucket).newest("wordcount")}
    assert [(records[n].state, records[n].cause) for n in (1, 2)] == [("FAILED", CAUSE_NODE_LOST), ("COMPLETED", "")]
    assert recorder.sent("GET", "/api/v1/nodes/node-a")


def test_an_app_failure_is_not_retried(submit: Callable[..., tuple[int, FakeNamespace]], recorder: K8sRecorder,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The driver exits 1 with a Python traceback in its log: one attempt, exit 1, and the reason
    names the exception."""
    code, _ = submit([app_failed, succeeded], "--retries", "2", log=TRACEBACK)
    captured = capsys.readouterr()
    assert code == 1
    assert len(_drivers(recorder)) == 1
    assert ("attempt 1 of 3 failed (exit code 1: Error; log: ValueError: boom); not retried: a new attempt fails the "
            "same way") in captured.out
    assert "jobs: error: wordcount failed (exit code 1: Error); see python -m jobs logs wordcount" in captured.err


@pytest.mark.parametrize(("flags", "line"), [
    (["--retries", "2"], "jobs: error: --retries resubmits after a failure that --wait sees; add --wait\n"),
    (["--local", "--retries", "1"], "jobs: error: --retries resubmits a cluster run; drop it with --local\n"),
    (["--wait", "--retry-on-oom", "1.5"], "jobs: error: --retry-on-oom raises the memory of a retry; add --retries N\n"),
    (["--wait", "--retries", "1", "--retry-interval", "soon"],
     "jobs: error: --retry-interval: 'soon' is not a finite duration; use a number with a unit, like 300s, 10min or 1h\n"),
])
def test_retry_flags_are_checked_first(flags: list[str], line: str, write_outputs: Callable[..., Path],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    where = [] if "--local" in flags else ["--outputs", str(write_outputs())]
    assert main(["submit", "examples/wordcount.yaml", *where, *flags]) == 2
    assert capsys.readouterr().err == line


@pytest.mark.parametrize("value", ["11", "-1", "two"])
def test_retries_and_factor_are_bounded(value: str, write_outputs: Callable[..., Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit", "examples/wordcount.yaml", "--outputs", str(write_outputs()), "--wait", "--retries", value]) == 2
    assert "--retries" in capsys.readouterr().err
    assert main(["submit", "examples/wordcount.yaml", "--wait", "--retries", "1", "--retry-on-oom", "1"]) == 2
