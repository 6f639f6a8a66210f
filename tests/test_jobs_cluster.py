"""A real cluster-mode submission: `python -m jobs submit --wait` runs pyspark's spark-submit
against the loopback Kubernetes API recorder, with the app uploaded to moto's S3, and the
recorded driver Pod and ConfigMaps are checked (the Pod strictly, by kubernetes_validate).
Then status, list, logs and kill run through the Kubernetes client against the same pods."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import kubernetes_validate
import pytest
import yaml

from jobs import PROJECT_ROOT
from jobs.__main__ import main
from jobs.kube import KubeError, core_api, follow_submission
from jobs.launch import private_kubeconfig
from jobs.outputs import parse_kubeconfig
from tests.conftest import aws_test_environment, ecr_image, kubeconfig_for, new_bucket, s3, stack_outputs
from tests.k8s_recorder import K8sRecorder, RecordedRequest, RunningRecorder, pod_list_route

pytestmark = pytest.mark.jvm  # starts Spark JVMs: scheduled first (tests/conftest.py)

NAMESPACE = "spark"
PODS = f"/api/v1/namespaces/{NAMESPACE}/pods"
TOKEN = "kubeconfig-secret-token"
APP = PROJECT_ROOT / "jobs" / "apps" / "wordcount.py"


def cluster_version() -> str:
    return str(yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text())["config"]["spark-eks-spot:kubernetesVersion"])


def with_status(pod: dict[str, Any], phase: str, created: str = "2026-01-01T00:00:00Z", **status: Any) -> dict[str, Any]:
    """A pod as the API server would return it later: a creation time and a phase."""
    pod = copy.deepcopy(pod)
    pod["metadata"].setdefault("namespace", NAMESPACE)
    pod["metadata"]["creationTimestamp"] = created
    pod["status"] = {"phase": phase, **status}
    return pod


@dataclass
class Submission:
    code: int
    out: str
    err: str
    seconds: float
    requests: list[RecordedRequest]
    bucket: str
    repository: str
    moto_url: str
    leftover_temp: list[str]

    def posted_driver(self) -> dict[str, Any]:
        posts = [r for r in self.requests if r.method == "POST" and r.path == PODS]
        assert len(posts) == 1
        return posts[0].body

    def patched(self, suffix: str) -> dict[str, Any]:
        found = [r.body for r in self.requests if r.method == "PATCH" and r.path.endswith(suffix)]
        assert len(found) == 1, [r.path for r in self.requests]
        return found[0]


@pytest.fixture(scope="module")
def submission(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Submission]:
    """One `submit examples/wordcount.yaml --wait` through the real CLI and spark-submit."""
    scratch = tmp_path_factory.mktemp("cluster")
    temp = scratch / "tmp"
    temp.mkdir()
    bucket = new_bucket(moto_url)
    with RunningRecorder() as recorder:
        # The driver "runs" once POSTed: the follower then sees it Succeeded.
        recorder.route("GET", PODS, pod_list_route(
            lambda: [with_status(r.body, "Succeeded") for r in recorder.requests if r.method == "POST" and r.path == PODS]
        ))
        outputs = scratch / "outputs.json"
        repository = ecr_image(moto_url, "cluster-test")
        outputs.write_text(json.dumps(stack_outputs(
            apiServerUrl=recorder.url, kubeconfig=json.dumps(kubeconfig_for(recorder.url)), bucketName=bucket,
            imageRepositoryUrl=repository,
        )))
        env = {**os.environ, **aws_test_environment(moto_url, scratch), "TMPDIR": str(temp)}
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "jobs", "submit", "examples/wordcount.yaml", "--outputs", str(outputs),
             "--wait", "--set", "image.tag=cluster-test"],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=180,
        )
        seconds = time.monotonic() - started
        yield Submission(done.returncode, done.stdout, done.stderr, seconds, list(recorder.requests), bucket, repository,
                         moto_url,
                         [p.name for p in temp.iterdir() if p.name.startswith("spark-eks-spot-")])


def test_submit_wait_succeeds_and_reports(submission: Submission) -> None:
    """Exit 0 once the followed driver Succeeded; the wall time is printed for the report."""
    assert submission.code == 0, submission.err[-3000:]
    assert "submitted wordcount (submission " in submission.out
    assert "Succeeded" in submission.out
    print(f"\nrecorded cluster submission wall time: {submission.seconds:.1f}s", file=sys.stderr)


def test_driver_pod_is_complete_and_valid(submission: Submission) -> None:
    """The POSTed driver Pod: On-Demand, not evictable, the stack's service account, namespace,
    image and the seed's resources; it passes kubernetes_validate in strict mode."""
    pod = submission.posted_driver()
    kubernetes_validate.validate(pod, cluster_version(), strict=True)
    spec = pod["spec"]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "eks.amazonaws.com/capacityType", "operator": "In", "values": ["ON_DEMAND"]}]}]
    assert pod["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
    assert spec["serviceAccountName"] == "spark"
    # The templates' hardening survives spark-submit's merge.
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    labels = pod["metadata"]["labels"]
    assert labels["spark-role"] == "driver" and labels["spark-eks-spot/job"] == "wordcount"
    container = spec["containers"][0]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert container["image"] == f"{submission.repository}:cluster-test"
    assert container["resources"]["requests"]["cpu"] == "2"
    assert container["resources"]["limits"]["cpu"] == "4"
    # 8g heap plus Spark's 40% overhead for a Python driver.
    assert container["resources"]["requests"]["memory"] == container["resources"]["limits"]["memory"] == "11468Mi"
    digest = hashlib.sha256(APP.read_bytes()).hexdigest()[:16]
    bucket = submission.bucket
    assert container["args"][-3:] == [
        f"s3a://{bucket}/apps/wordcount/{digest}/wordcount.py",
        f"s3a://{bucket}/data/amazon-reviews/",
        f"s3a://{bucket}/output/wordcount/",
    ]


def test_executor_template_config_map_carries_spot(submission: Submission) -> None:
    """The executor template reaches the cluster verbatim: SPOT only, tolerating the taint."""
    config_map = submission.patched("-driver-podspec-conf-map")
    template = yaml.safe_load(config_map["data"]["podspec-configmap-key"])
    assert template == yaml.safe_load((PROJECT_ROOT / "pod_templates" / "executor.yaml").read_text())
    terms = template["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == ["SPOT"]
    assert template["spec"]["tolerations"][0]["key"] == "spark-eks-spot/spot"


def test_driver_conf_has_the_spot_settings_and_no_secret(submission: Submission) -> None:
    """spark.properties in the driver's ConfigMap: decommissioning to the bucket, event logs,
    IRSA credentials; not the insecure TLS switch; no kubeconfig token anywhere sent."""
    properties = _driver_properties(submission)
    bucket = submission.bucket
    assert "spark.decommission.enabled=true" in properties
    assert "spark.storage.decommission.shuffleBlocks.enabled=true" in properties
    assert f"spark.storage.decommission.fallbackStorage.path=s3a\\://{bucket}/spark-decommission/" in properties
    assert f"spark.eventLog.dir=s3a\\://{bucket}/spark-events/" in properties
    assert "spark.dynamicAllocation.shuffleTracking.timeout=300s" in properties
    assert "WebIdentityTokenFileCredentialsProvider" in properties
    assert "ssl.enabled" not in properties
    for request in submission.requests:
        assert TOKEN not in json.dumps(request.body)
    assert TOKEN not in submission.out + submission.err


def _driver_properties(submission: Submission) -> str:
    maps = [r.body for r in submission.requests if r.method == "PATCH" and "/configmaps/" in r.path]
    found = [m["data"]["spark.properties"] for m in maps if "spark.properties" in m.get("data", {})]
    assert len(found) == 1
    return found[0]


def test_private_kubeconfig_was_used_then_removed(submission: Submission) -> None:
    """spark-submit and the follower both authenticated with the kubeconfig's credentials,
    and the private temporary file is gone after the run."""
    posts = [r for r in submission.requests if r.method == "POST"]
    gets = [r for r in submission.requests if r.method == "GET"]
    assert posts and all(r.authorization == f"Bearer {TOKEN}" for r in posts)
    assert gets and all(r.authorization == f"Bearer {TOKEN}" for r in gets)
    assert submission.leftover_temp == []


def test_wait_follows_this_submission_by_label(submission: Submission) -> None:
    pod_labels = submission.posted_driver()["metadata"]["labels"]
    selectors = [r.query["labelSelector"][0] for r in submission.requests if r.method == "GET" and r.path == PODS]
    expected = (f"spark-role=driver,spark-eks-spot/job=wordcount,"
                f"spark-eks-spot/submission={pod_labels['spark-eks-spot/submission']}")
    assert expected in selectors


def test_app_was_uploaded_content_addressed(submission: Submission) -> None:
    digest = hashlib.sha256(APP.read_bytes()).hexdigest()[:16]
    body = s3(submission.moto_url).get_object(Bucket=submission.bucket, Key=f"apps/wordcount/{digest}/wordcount.py")["Body"]
    assert body.read() == APP.read_bytes()
    assert f"uploaded jobs/apps/wordcount.py at s3://{submission.bucket}/apps/wordcount/{digest}/wordcount.py" in submission.out


def test_private_kubeconfig_file_is_owner_only_and_deleted() -> None:
    kubeconfig = kubeconfig_for("http://127.0.0.1:1")
    with private_kubeconfig(kubeconfig) as path:
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
        assert parse_kubeconfig(path.read_text(), "file") == kubeconfig
    assert not path.exists() and not path.parent.exists()
    with pytest.raises(RuntimeError):
        with private_kubeconfig(kubeconfig) as path:
            raise RuntimeError("spark-submit blew up")
    assert not path.parent.exists()


# --- status, list, logs, kill against pods shaped like the recorded driver ----------------


@pytest.fixture
def cluster_pods(submission: Submission) -> list[dict[str, Any]]:
    """The recorded driver (Running) and two running executors of the same application."""
    driver = with_status(submission.posted_driver(), "Running")
    executors = []
    for index in (1, 2):
        executor = copy.deepcopy(driver)
        executor["metadata"]["name"] = driver["metadata"]["name"].replace("-driver", f"-exec-{index}")
        executor["metadata"]["labels"]["spark-role"] = "executor"
        executors.append(executor)
    return [driver, *executors]


@pytest.fixture
def kube_outputs(recorder: K8sRecorder, tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"kubeconfig": json.dumps(kubeconfig_for(recorder.url)), "sparkNamespace": NAMESPACE}))
    return path


def test_status_and_list(recorder: K8sRecorder, kube_outputs: Path, cluster_pods: list[dict[str, Any]],
                         capsys: pytest.CaptureFixture[str]) -> None:
    recorder.route("GET", PODS, pod_list_route(lambda: cluster_pods))
    driver = cluster_pods[0]["metadata"]["name"]
    assert main(["status", "wordcount", "--outputs", str(kube_outputs)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"wordcount: {driver} Running, 2 executors running, age ")
    assert main(["list", "--outputs", str(kube_outputs)]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert table[0].split() == ["JOB", "SUBMISSION", "ATTEMPT", "STATE", "START", "END", "EXECUTORS", "DRIVER", "POD",
                                "REASON"]
    submission = cluster_pods[0]["metadata"]["labels"]["spark-eks-spot/submission"]
    row = table[1].split()
    assert row[:4] == ["wordcount", submission, "1", "RUNNING"]
    assert row[-3:] == ["2", driver, "-"]
    assert main(["status", "other-job", "--outputs", str(kube_outputs)]) == 1
    assert capsys.readouterr().err == (
        f"jobs: error: no driver pod for job other-job in namespace {NAMESPACE}; `python -m jobs list` shows the jobs\n"
    )


def test_failed_driver_status_exits_1_with_the_reason(recorder: K8sRecorder, kube_outputs: Path,
                                                      cluster_pods: list[dict[str, Any]],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    failed = with_status(cluster_pods[0], "Failed", containerStatuses=[{
        "name": "spark-kubernetes-driver", "image": "i", "imageID": "", "ready": False, "restartCount": 0,
        "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}])
    recorder.route("GET", PODS, pod_list_route(lambda: [failed]))
    assert main(["status", "wordcount", "--outputs", str(kube_outputs)]) == 1
    assert "Failed (exit code 1: Error), 0 executors running" in capsys.readouterr().out


def test_logs(recorder: K8sRecorder, kube_outputs: Path, cluster_pods: list[dict[str, Any]],
              capsys: pytest.CaptureFixture[str]) -> None:
    driver = cluster_pods[0]["metadata"]["name"]
    recorder.route("GET", PODS, pod_list_route(lambda: cluster_pods))
    recorder.route("GET", f"{PODS}/{driver}/log", lambda request: (200, "line one\nline two\n"))
    assert main(["logs", "wordcount", "--outputs", str(kube_outputs)]) == 0
    assert capsys.readouterr().out == "line one\nline two\n"
    assert main(["logs", "wordcount", "--follow", "--outputs", str(kube_outputs)]) == 0
    assert capsys.readouterr().out == "line one\nline two\n"
    follow = [r for r in recorder.requests if r.path.endswith("/log") and r.query.get("follow") == ["True"]]
    assert len(follow) == 1


def test_kill_deletes_the_running_driver_only(recorder: K8sRecorder, kube_outputs: Path,
                                              cluster_pods: list[dict[str, Any]],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    driver = cluster_pods[0]["metadata"]["name"]
    finished = with_status(cluster_pods[0], "Succeeded", created="2025-12-01T00:00:00Z")
    finished["metadata"]["name"] = "wordcount-old-driver"
    recorder.route("GET", PODS, pod_list_route(lambda: [finished, *cluster_pods]))
    assert main(["kill", "wordcount", "--outputs", str(kube_outputs)]) == 0
    assert capsys.readouterr().out == f"deleted driver pod {driver}; its executors go with it\n"
    assert [r.path for r in recorder.requests if r.method == "DELETE"] == [f"{PODS}/{driver}"]

    recorder.route("GET", PODS, pod_list_route(lambda: [finished]))
    assert main(["kill", "wordcount", "--outputs", str(kube_outputs)]) == 1
    assert capsys.readouterr().err == (
        f"jobs: error: job wordcount has no pending or running driver in namespace {NAMESPACE}; nothing to kill\n"
    )


def test_follow_prints_each_change_and_returns_the_end(recorder: K8sRecorder, cluster_pods: list[dict[str, Any]]) -> None:
    """The follower polls until the driver ends: Pending, Running with executors, Failed."""
    phases = iter(["Pending", "Pending", "Running", "Failed"])
    phase = ["?"]

    def answer(request: RecordedRequest) -> tuple[int, Any]:
        if request.query["labelSelector"][0].startswith("spark-role=driver"):
            phase[0] = next(phases)  # each poll starts with the driver, then its executors
        executors = [with_status(p, "Running") for p in cluster_pods[1:]] if phase[0] == "Running" else []
        return pod_list_route(lambda: [with_status(cluster_pods[0], phase[0]), *executors])(request)

    recorder.route("GET", PODS, answer)
    submission_id = cluster_pods[0]["metadata"]["labels"]["spark-eks-spot/submission"]
    out = io.StringIO()
    final = follow_submission(core_api(kubeconfig_for(recorder.url)), NAMESPACE, "wordcount", submission_id,
                              out=out, interval=0, sleep=lambda seconds: None)
    assert final.phase == "Failed"
    lines = out.getvalue().splitlines()
    assert [line.split(" ")[2].rstrip(",") for line in lines] == ["Pending", "Running", "Failed"]
    assert "2 executors running" in lines[1]


def test_follow_gives_up_when_no_driver_appears(recorder: K8sRecorder) -> None:
    recorder.route("GET", PODS, pod_list_route(lambda: []))
    ticks = iter([0.0, 0.0, 50.0, 130.0])
    with pytest.raises(KubeError, match="no driver pod for submission abc appeared in namespace spark within 120s"):
        follow_submission(core_api(kubeconfig_for(recorder.url)), NAMESPACE, "wordcount", "abc",
                          out=io.StringIO(), interval=0, clock=lambda: next(ticks), sleep=lambda s: None)


def test_follow_reports_a_deleted_driver(recorder: K8sRecorder, cluster_pods: list[dict[str, Any]]) -> None:
    """A driver that vanishes mid-run with nothing on it saying why ends the follow as FAILED,
    cause `deleted`, with what was last seen; not as a timeout."""
    answers = iter([[cluster_pods[0]], [], []])
    recorder.route("GET", PODS, pod_list_route(lambda: next(answers)))
    submission_id = cluster_pods[0]["metadata"]["labels"]["spark-eks-spot/submission"]
    out = io.StringIO()
    final = follow_submission(core_api(kubeconfig_for(recorder.url)), NAMESPACE, "wordcount", submission_id,
                              out=out, interval=0, sleep=lambda s: None)
    assert (final.state, final.reason.cause, final.reason.reason) == ("FAILED", "deleted", "deleted while running")
    assert final.reason.message == f"last seen: wordcount: {cluster_pods[0]['metadata']['name']} Running, 0 executors running"
    assert out.getvalue().splitlines()[-1].startswith(f"wordcount: {cluster_pods[0]['metadata']['name']} is gone (")
