"""The first job on a fresh stack: the event-log folder, the image in ECR, and the cluster's
credentials are there before anything is submitted, or one line says what is missing.

AWS is moto's server on 127.0.0.1 (fresh buckets, an ECR repository without the tag); the
Kubernetes API is the loopback recorder; spark-submit is pyspark's own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from infra.storage import EVENT_LOG_PREFIX
from jobs import PROJECT_ROOT
from jobs.__main__ import main
from jobs.launch import ensure_folder, s3_client
from tests.conftest import TEST_REGION, ecr_image, kubeconfig_for, new_bucket, s3, stack_outputs
from tests.infra_plans import only, stack_plan
from tests.jobs_guard_helpers import ProcessSpy, drivers_succeed
from tests.k8s_recorder import K8sRecorder

pytestmark = pytest.mark.jvm  # starts Spark JVMs: scheduled first (tests/conftest.py)


def _keys(moto_url: str, bucket: str) -> dict[str, dict[str, Any]]:
    return {item["Key"]: item for item in s3(moto_url).list_objects_v2(Bucket=bucket).get("Contents", [])}


def _outputs(tmp_path: Path, recorder_url: str, **overrides: Any) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(stack_outputs(
        apiServerUrl=recorder_url, kubeconfig=json.dumps(kubeconfig_for(recorder_url)), **overrides)))
    return path


def test_a_submission_creates_the_event_log_folder_on_a_fresh_bucket(
    aws_env: str, recorder: K8sRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Spark 4.3 checks at start-up that spark.eventLog.dir is a directory and never creates it
    (core/.../deploy/history/EventLogFileWriters.scala, requireLogBaseDirAsDirectory), and S3A
    sees a "directory" only where an object has the prefix (hadoop-aws S3AFileSystem
    getFileStatus lists `key/`). On a fresh bucket a real submission leaves S3A's
    empty-directory marker `spark-events/` (zero bytes) before spark-submit runs."""
    bucket = new_bucket(aws_env)
    assert _keys(aws_env, bucket) == {}
    drivers_succeed(recorder)
    outputs = _outputs(tmp_path, recorder.url, bucketName=bucket, imageRepositoryUrl=ecr_image(aws_env, "t1"))
    monkeypatch.chdir(PROJECT_ROOT)
    assert main(["submit", "examples/wordcount.yaml", "--outputs", str(outputs), "--set", "image.tag=t1"]) == 0, \
        capfd.readouterr().err[-2000:]
    marker = _keys(aws_env, bucket)[EVENT_LOG_PREFIX]
    assert marker["Size"] == 0
    assert recorder.sent("POST", "/pods")  # and the driver was submitted after it


def _rule_applies(rule_filter: dict[str, Any], key: str, size: int) -> bool:
    """Whether an S3 lifecycle Filter selects an object (S3 user guide, "Lifecycle configuration
    elements": Prefix selects keys that start with it; ObjectSizeGreaterThan selects objects
    strictly larger than the number of bytes; And requires every condition)."""
    conditions = rule_filter.get("and", rule_filter)
    if not key.startswith(conditions.get("prefix", "")):
        return False
    return size > conditions.get("objectSizeGreaterThan", -1)


def test_the_marker_outlives_the_event_log_expiry_and_is_put_before_every_submission(
    aws_env: str, bucket: str
) -> None:
    """The bucket's event-log rule (infra/storage.py) expires event logs under `spark-events/` but
    not the zero-byte marker: its filter is And(prefix, ObjectSizeGreaterThan 0), and S3 applies a
    rule only to objects its whole filter selects (S3 user guide, "Lifecycle configuration
    elements", Filter/And/ObjectSizeGreaterThan). The submitter still puts the marker before each
    submission, so a marker deleted by hand comes back, dated now."""
    config = only(stack_plan("dev"), "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    expiring = [rule for rule in config.inputs["rules"] if (rule.get("expiration") or {}).get("days")]
    assert expiring, "infra/storage.py has no expiry rule"
    assert not [r["id"] for r in expiring if _rule_applies(r["filter"], EVENT_LOG_PREFIX, 0)]
    assert [r["id"] for r in expiring if _rule_applies(r["filter"], f"{EVENT_LOG_PREFIX}spark-0123", 5_000)] == [
        "expire-event-logs"
    ]

    client = s3_client(TEST_REGION)
    uri = f"s3a://{bucket}/{EVENT_LOG_PREFIX}"
    assert ensure_folder(client, uri) == EVENT_LOG_PREFIX
    s3(aws_env).delete_object(Bucket=bucket, Key=EVENT_LOG_PREFIX)
    assert EVENT_LOG_PREFIX not in _keys(aws_env, bucket)
    ensure_folder(client, uri)
    marker = _keys(aws_env, bucket)[EVENT_LOG_PREFIX]
    age = datetime.now(timezone.utc) - marker["LastModified"]
    assert age.total_seconds() < 300 and marker["Size"] == 0


def test_a_rolling_event_logs_zero_byte_parts_expire_with_it() -> None:
    """Spark 4.3 rolls event logs by default (spark.eventLog.rolling.enabled): an app writes a folder
    `eventlog_v2_<app>/` (S3A puts a zero-byte marker for it) with `events_*` files, and a zero-byte
    `appstatus_<app>` (apache/spark core/.../deploy/history/EventLogFileWriters.scala,
    RollingEventLogFilesWriter; prefixes read from the 4.3.0 jar). The size filter that spares the
    `spark-events/` marker would keep those zero-byte parts forever, so rules on their prefixes expire
    them with the logs; the folder marker itself is still spared."""
    config = only(stack_plan("dev"), "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    expiring = [rule for rule in config.inputs["rules"] if (rule.get("expiration") or {}).get("days")]
    app = "spark-0123456789abcdef"
    for key, size in ((f"{EVENT_LOG_PREFIX}eventlog_v2_{app}/", 0), (f"{EVENT_LOG_PREFIX}appstatus_{app}", 0),
                      (f"{EVENT_LOG_PREFIX}eventlog_v2_{app}/events_1_{app}", 4_000)):
        assert [r for r in expiring if _rule_applies(r["filter"], key, size)], key
    assert not [r["id"] for r in expiring if _rule_applies(r["filter"], EVENT_LOG_PREFIX, 0)]


def test_a_tag_missing_from_ecr_stops_before_anything_is_sent(
    aws_env: str, bucket: str, recorder: K8sRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """ECR's DescribeImages answers ImageNotFoundException for a tag the repository lacks (ECR API
    reference, DescribeImages errors). Then submit exits 2 with one line naming the build and push
    to run, uploads nothing and starts no spark-submit (the driver would sit in ImagePullBackOff)."""
    repository = ecr_image(aws_env, "some-other-tag")
    outputs = _outputs(tmp_path, recorder.url, bucketName=bucket, imageRepositoryUrl=repository)
    spy = ProcessSpy().install(monkeypatch)
    monkeypatch.chdir(PROJECT_ROOT)
    assert main(["submit", "examples/wordcount.yaml", "--outputs", str(outputs), "--set", "image.tag=v9"]) == 2
    assert capfd.readouterr().err == (
        f"jobs: error: image tag v9 is not in the ECR repository {repository}; build and push it first: "
        f"python -m jobs image build --tag v9 && python -m jobs image push --tag v9 --outputs {outputs}\n"
    )
    assert _keys(aws_env, bucket) == {}
    assert spy.of("spark-submit") == [] and recorder.requests == []


def _exec_kubeconfig(server: str, command: str, env: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """An EKS kubeconfig as pulumi-eks writes it: the token comes from `aws eks get-token`."""
    config = kubeconfig_for(server)
    config["users"] = [{"name": "test", "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": command,
        "args": ["eks", "get-token", "--cluster-name", "spark-dev", "--output", "json"], "env": env}}}]
    return config


def _exec_outputs(tmp_path: Path, env: list[dict[str, str]] | None = None) -> Path:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(stack_outputs(
        kubeconfig=json.dumps(_exec_kubeconfig("https://eks-api.example.invalid", "aws", env)))))
    return outputs


def _fake_aws(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    aws = directory / "aws"
    aws.write_text("#!/bin/sh\nexit 1\n")
    aws.chmod(0o755)
    return directory


@pytest.mark.parametrize("command", [["list"], ["status", "wordcount"], ["submit", "examples/wordcount.yaml"]])
def test_without_the_aws_cli_one_line_names_it_and_the_api_host(
    command: list[str], aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:
    """The EKS kubeconfig's exec plugin runs `aws eks get-token`; without `aws` on PATH client-go
    and fabric8 would send requests with no token (kubernetes client-go exec credential plugins).
    Every command that talks to the cluster says so first, in one line, naming the API host."""
    outputs = _exec_outputs(tmp_path)
    java = shutil.which("java")
    assert java is not None
    monkeypatch.setenv("JAVA_HOME", str(Path(java).resolve().parent.parent))  # java stays found
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.chdir(PROJECT_ROOT)
    extra = ["--set", "image.tag=t"] if command[0] == "submit" else []
    assert main([*command, "--outputs", str(outputs), *extra]) == 2
    assert capfd.readouterr().err == (
        "jobs: error: the kubeconfig gets its token for eks-api.example.invalid from `aws`, which is not on PATH; "
        "install the AWS CLI v2 and retry\n"
    )


@pytest.mark.parametrize(("profile", "line"), [
    (None, "jobs: error: no AWS credentials for `aws eks get-token`, which the kubeconfig runs to reach "
           "eks-api.example.invalid; configure them (aws configure, AWS_PROFILE or SSO login)\n"),
    ("no-such-profile", "jobs: error: `aws eks get-token` for eks-api.example.invalid cannot find AWS credentials "
                        "(ProfileNotFound); configure them (aws configure, AWS_PROFILE or SSO login)\n"),
])
def test_without_aws_credentials_list_says_so_instead_of_blaming_the_network(
    profile: str | None, line: str, aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """With `aws` installed but no credentials (no keys; or the AWS_PROFILE that pulumi-eks puts in
    the exec env when the stack used a profile, and that does not exist here), `aws eks get-token`
    fails and the Python client reports a connection problem; the check names the credentials."""
    outputs = _exec_outputs(tmp_path, [{"name": "AWS_PROFILE", "value": profile}] if profile else None)
    monkeypatch.setenv("PATH", f"{_fake_aws(tmp_path / 'bin')}{os.pathsep}{os.environ['PATH']}")
    if profile is None:
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert main(["list", "--outputs", str(outputs)]) == 2
    assert capfd.readouterr().err == line


def test_outputs_files_are_ignored_by_git() -> None:
    """`pulumi stack output --json --show-secrets > outputs.json` (the README's step) writes the
    kubeconfig into the checkout: git must never pick it up (.gitignore `outputs*.json`)."""
    for name in ("outputs.json", "outputs-prod.json"):
        done = subprocess.run(["git", "-C", str(PROJECT_ROOT), "check-ignore", "-q", name], check=False)
        assert done.returncode == 0, name
