"""`jobs clean --older-than AGE`: finished driver pods go (their logs saved to the bucket first),
with what they own through ownerReferences; orphans Spark left go too; running and recent
drivers and other objects stay. Against the loopback recorder's FakeNamespace, which removes an
owner's dependents on delete as the garbage collector does, and moto's S3."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from jobs.__main__ import main
from jobs.clean import age_seconds
from jobs.records import Records, pod_log_key
from tests.conftest import TEST_REGION, kube_outputs, s3
from tests.k8s_recorder import FakeNamespace, K8sRecorder, spark_pod, succeeded, terminated


def ago(days: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def owned(kind: str, name: str, owner: dict[str, Any], created: str, labels: dict[str, str] | None = None,
          api: str = "v1") -> dict[str, Any]:
    """An object Spark creates for a driver: ownerReferences to the pod, as spark-submit sends them
    (apiVersion v1, kind Pod, name, uid from the POST's answer, controller true)."""
    metadata: dict[str, Any] = {"name": name, "creationTimestamp": created, "ownerReferences": [
        {"apiVersion": "v1", "kind": "Pod", "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
         "controller": True}]}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": api, "kind": kind, "metadata": metadata}


@pytest.fixture
def namespace_objects(cluster: FakeNamespace) -> FakeNamespace:
    """Old and new, finished and running drivers, what they own, orphans and an unrelated object."""
    namespace = cluster
    old = namespace.add(spark_pod("wordcount-old-driver", submission="o1", app="spark-old", created=ago(10),
                                  status={"phase": "Succeeded", "containerStatuses": terminated(0, "Completed", finished=ago(9))}))
    namespace.logs["wordcount-old-driver"] = "the old driver's console\n"
    namespace.add(owned("Pod", "wordcount-old-exec-1", old, ago(10), {"spark-role": "executor"}) | {
        "status": succeeded(), "spec": {"containers": [{"name": "spark-kubernetes-executor", "image": "i"}]}})
    namespace.add(owned("Service", "wordcount-old-driver-svc", old, ago(10), {"spark-app-selector": "spark-old"}))
    namespace.add(owned("ConfigMap", "spark-drv-0a0a0a0a0a0a0a0a-conf-map", old, ago(10)))
    namespace.add(owned("ConfigMap", "wordcount-old-driver-podspec-conf-map", old, ago(10)))
    namespace.add(owned("NetworkPolicy", "wordcount-old-policy", old, ago(10), api="networking.k8s.io/v1"))
    namespace.add(spark_pod("wordcount-new-driver", submission="n1", created=ago(1.5),
                            status={"phase": "Failed", "containerStatuses": terminated(1, "Error", finished=ago(1))}))
    running = namespace.add(spark_pod("etl-driver", job="etl", submission="r1", created=ago(30)))
    namespace.add(owned("ConfigMap", "spark-drv-0b0b0b0b0b0b0b0b-conf-map", running, ago(30)))
    # Orphans: an executor ConfigMap whose owner pod is gone, a labelled Service of a vanished app.
    ghost = spark_pod("ghost-driver", submission="x")
    namespace.add(owned("ConfigMap", "spark-exec-0c0c0c0c0c0c0c0c-conf-map", ghost, ago(12)))
    namespace.add({"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "gone-driver-svc", "creationTimestamp": ago(12), "labels": {"spark-app-selector": "spark-gone"}}})
    namespace.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "creationTimestamp": ago(40)}})
    return namespace


@pytest.fixture
def outputs(recorder: K8sRecorder, bucket: str, tmp_path: Path) -> Path:
    return kube_outputs(tmp_path, recorder.url, bucketName=bucket, region=TEST_REGION)


def test_dry_run_says_what_would_go_and_deletes_nothing(namespace_objects: FakeNamespace, outputs: Path, recorder: K8sRecorder,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clean", "--older-than", "7d", "--dry-run", "--outputs", str(outputs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("would delete driver pod wordcount-old-driver (COMPLETED, Succeeded, ended 9.0 days ago); "
                               "with it, through its owner references: pod wordcount-old-exec-1, service "
                               "wordcount-old-driver-svc, configmap spark-drv-0a0a0a0a0a0a0a0a-conf-map, configmap "
                               "wordcount-old-driver-podspec-conf-map, networkpolicy wordcount-old-policy")
    assert lines[1:] == [
        "would delete service gone-driver-svc (no pod of application spark-gone is left)",
        "would delete configmap spark-exec-0c0c0c0c0c0c0c0c-conf-map (its owner pod ghost-driver is gone)",
        "left alone: 1 pending or running driver",
    ]
    assert not recorder.sent("DELETE") and not namespace_objects.deleted


def test_clean_deletes_finished_old_drivers_with_what_they_own_and_orphans_only(
        namespace_objects: FakeNamespace, outputs: Path, recorder: K8sRecorder, bucket: str, aws_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Deleting the driver pod with background propagation lets the garbage collector take what it
    owns (kubernetes.io/docs/concepts/architecture/garbage-collection, "Cascading deletion"): the
    submitter deletes the pod and the orphans, not the owned objects one by one. The driver's log
    is saved before its pod goes; the running driver, the recent one and unrelated objects stay."""
    assert main(["clean", "--older-than", "7d", "--outputs", str(outputs)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("deleted driver pod wordcount-old-driver (COMPLETED, Succeeded, ended 9.0 days ago); with it")
    assert out.rstrip().endswith("left alone: 1 pending or running driver")
    deletes = recorder.sent("DELETE")
    assert [r.path.rsplit("/", 2)[-2:] for r in deletes] == [
        ["pods", "wordcount-old-driver"], ["services", "gone-driver-svc"],
        ["configmaps", "spark-exec-0c0c0c0c0c0c0c0c-conf-map"]]
    assert deletes[0].body["propagationPolicy"] == "Background"
    assert namespace_objects.names("pods") == ["etl-driver", "wordcount-new-driver"]
    assert namespace_objects.names("configmaps") == ["kube-root-ca.crt", "spark-drv-0b0b0b0b0b0b0b0b-conf-map"]
    assert namespace_objects.names("services") == [] and namespace_objects.names("networkpolicies") == []
    log_read = next(i for i, r in enumerate(recorder.requests) if r.path.endswith("/wordcount-old-driver/log"))
    assert log_read < recorder.requests.index(deletes[0])
    saved = Records(s3(aws_env), bucket).get("wordcount", "o1")
    assert saved is not None and saved.pod_log == pod_log_key("wordcount", "o1")
    assert f"its log is at s3://{bucket}/{pod_log_key('wordcount', 'o1')}" in out


def test_json_and_nothing_to_clean(namespace_objects: FakeNamespace, outputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clean", "--older-than", "60d", "--json", "--outputs", str(outputs)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document == {"dryRun": False, "deleted": [], "keptActive": ["etl-driver"],
                        "keptRecent": ["wordcount-old-driver", "wordcount-new-driver"]}
    assert main(["clean", "--older-than", "60d", "--outputs", str(outputs)]) == 0
    assert capsys.readouterr().out.startswith("nothing to clean in namespace spark: no driver finished more than 60d ago")


@pytest.mark.parametrize("age", ["7", "a week", "0d", "7w"])
def test_a_bad_age_is_one_line_before_anything_is_read(age: str, outputs: Path, recorder: K8sRecorder,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clean", "--older-than", age, "--outputs", str(outputs)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jobs: error: --older-than: ") and err.count("\n") == 1
    assert not recorder.requests
    assert age_seconds("90m") == 5400 and age_seconds("7d") == 604800
