"""Shared fixtures: moto's S3 server on 127.0.0.1, the Kubernetes API recorder, stack outputs.

AWS here is moto's real server (started once per session on a free loopback port); boto3
finds it through AWS_ENDPOINT_URL, as it would any endpoint, so product code has no test
switch. The Kubernetes API is the loopback recorder in tests/k8s_recorder.py.

The suite runs on pytest-xdist workers (pytest.ini): "session" is one worker's session, so
each worker starts its own moto server and recorders on free ports, and every test writes
only under its tmp_path. `--dist loadfile` keeps a module's tests on one worker, so a
module-scoped fixture (one real Spark run shared by its tests) runs once. Modules that start
Spark JVMs are marked `jvm` and handed out first.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests import pulumi_recorder
from tests.k8s_recorder import FakeNamespace, K8sRecorder, RunningRecorder

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_REGION = "us-west-2"

# The spark-submit JVMs of the tests live for seconds: C2's compiler threads cost more CPU than
# they return in that time (measured here: a recorded cluster submission 7.6 -> 5.3 s of CPU, a
# SparkSession start and stop 9.1 -> 5.2 s). spark-submit passes SPARK_SUBMIT_OPTS to its JVM
# (bin/spark-class, launcher SparkSubmitCommandBuilder); the JIT level changes speed only. A
# local run (`jobs submit --local`) already sets it for its driver; the History Server test
# passes it to its own `java`.
C1_ONLY = "-XX:TieredStopAtLevel=1"
if C1_ONLY not in os.environ.get("SPARK_SUBMIT_OPTS", ""):
    os.environ["SPARK_SUBMIT_OPTS"] = f"{os.environ.get('SPARK_SUBMIT_OPTS', '')} {C1_ONLY}".strip()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules marked `jvm` first: each of their tests takes seconds, so handing them out first
    lets the xdist workers end together (pytest.ini's --no-loadscope-reorder keeps this order)."""
    items.sort(key=lambda item: item.get_closest_marker("jvm") is None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """`moto_server -H 127.0.0.1 -p PORT` for the whole session."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("moto_server did not start")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)


def aws_test_environment(moto_url: str, scratch: Path) -> dict[str, str]:
    """Fake credentials and moto's endpoint; no user profile or config file can leak in."""
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": TEST_REGION,
        "AWS_CONFIG_FILE": str(scratch / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def aws_env(moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in aws_test_environment(moto_url, tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    return moto_url


def s3(moto_url: str) -> Any:
    import boto3

    return boto3.client(
        "s3", region_name=TEST_REGION, endpoint_url=moto_url, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def new_bucket(moto_url: str) -> str:
    name = f"spark-test-{uuid.uuid4().hex[:12]}"
    s3(moto_url).create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": TEST_REGION})
    return name


def ecr_image(moto_url: str, tag: str) -> str:
    """A fresh repository in moto's ECR holding `tag` (as after `jobs image push`); its URL."""
    import boto3

    ecr = boto3.client("ecr", region_name=TEST_REGION, endpoint_url=moto_url,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    name = f"spark-test-{uuid.uuid4().hex[:8]}/spark"
    url = ecr.create_repository(repositoryName=name)["repository"]["repositoryUri"]
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                           "digest": "sha256:" + uuid.uuid4().hex * 2}, "layers": []}
    ecr.put_image(repositoryName=name, imageManifest=json.dumps(manifest), imageTag=tag)
    return url


@pytest.fixture
def bucket(aws_env: str) -> str:
    return new_bucket(aws_env)


@pytest.fixture
def recorder() -> Iterator[K8sRecorder]:
    with RunningRecorder() as running:
        yield running


@pytest.fixture
def cluster(recorder: K8sRecorder) -> FakeNamespace:
    """The recorder serving a `spark` namespace whose pods and objects a test adds (FakeNamespace)."""
    return FakeNamespace().install(recorder)


def kube_outputs(tmp_path: Path, server: str, **extra: Any) -> Path:
    """An outputs file for the commands that only talk to the cluster (and, given bucketName and
    region in `extra`, to the bucket): kubeconfig and namespace."""
    path = tmp_path / f"outputs-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps({"kubeconfig": json.dumps(kubeconfig_for(server)), "sparkNamespace": "spark", **extra}))
    return path


def kubeconfig_for(server: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": server}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": "spark"}}],
        "current-context": "test",
        "users": [{"name": "test", "user": {"token": "kubeconfig-secret-token"}}],
    }


def stack_outputs(**overrides: Any) -> dict[str, Any]:
    """The outputs as `pulumi stack output --json --show-secrets` prints them (kubeconfig as JSON text)."""
    outputs: dict[str, Any] = {
        "apiServerUrl": "https://eks-api.example.invalid",
        "kubeconfig": json.dumps(kubeconfig_for("https://eks-api.example.invalid")),
        "clusterName": "spark-dev",
        "region": TEST_REGION,
        "imageRepositoryUrl": "registry.example.invalid/spark-dev/spark",
        "bucketName": "spark-dev-data",
        "sparkNamespace": "spark",
        "sparkServiceAccount": "spark",
        "sparkExecutorServiceAccount": "spark-executor",
        "sparkRoleArn": "arn:aws:iam::123456789012:role/spark-dev-spark-s3",
        "s3AccessVia": "irsa",
        # The shape infra/nodegroups.py exports (NodeGroups.summary) for the default settings.
        "nodeGroups": {
            "drivers": {"capacityType": "ON_DEMAND", "instanceTypes": ["m5.xlarge"], "minSize": 1, "maxSize": 3,
                        "role": "driver"},
            "executors": {"capacityType": "SPOT", "instanceTypes": ["m5.xlarge", "m5a.xlarge", "m5d.xlarge",
                                                                     "m5ad.xlarge", "m4.xlarge"],
                          "minSize": 0, "maxSize": 20, "role": "executor"},
        },
    }
    outputs.update(overrides)
    return outputs


@pytest.fixture
def write_outputs(tmp_path: Path) -> Callable[..., Path]:
    """Write stack outputs (defaults plus overrides) to a file for --outputs."""

    def write(**overrides: Any) -> Path:
        path = tmp_path / f"outputs-{uuid.uuid4().hex[:6]}.json"
        path.write_text(json.dumps(stack_outputs(**overrides)), encoding="utf-8")
        return path

    return write


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a throwaway identity (tests that build commits of their own)."""
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        capture_output=True, text=True, check=True,
    ).stdout.strip()


@pytest.fixture
def pulumi_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A recorder standing in for the `pulumi` CLI, first on PATH (tests/pulumi_recorder.py)."""
    recorder = pulumi_recorder.Recorder(tmp_path)
    monkeypatch.setenv("PATH", f"{recorder.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return recorder


@pytest.fixture(autouse=True, scope="session")
def _judge_the_support_calendar_on_its_own_date() -> Iterator[None]:
    """The program refuses a Kubernetes version past EKS standard support on the day it runs
    (infra.settings.check_support_phase). Tests plan on the support calendar's own date, so a
    committed stack file does not start failing on a day in the calendar; tests of that rule pass
    their own day."""
    from cost.calendar import load_calendar
    from infra.settings import SUPPORT_DAY

    token = SUPPORT_DAY.set(date.fromisoformat(load_calendar().date))
    yield
    SUPPORT_DAY.reset(token)
