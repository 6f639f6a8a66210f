"""The executor pod as a real Spark driver builds it, from the submitter's own conf.

The executor pod spec is written by Spark's driver (BasicExecutorFeatureStep and the pod
template), not by us, so it is proven on a real one: pyspark's spark-submit runs the driver in
client mode on this machine with `k8s://` pointing at the loopback Kubernetes API recorder
(tests/k8s_recorder.py, which also holds fabric8's websocket watches open), and the conf is
`jobs.command.cluster_conf` for the example job, changed only where a local driver must differ
(deploy mode, no S3 for event logs and fallback blocks, a driver pod name so it runs the
cluster-mode code paths, the memory overhead factor a cluster-mode driver hands its
executors, and this machine's Python instead of the image's). The driver then POSTs the executor pod, which the tests read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import kubernetes_validate
import pytest

from infra.spark_rbac import ROLE_NAME, rbac_manifests
from jobs import POD_TEMPLATE_DIR, PROJECT_ROOT
from jobs.command import PodTemplates, cluster_conf
from jobs.launch import find_spark
from jobs.outputs import SUBMIT_KEYS, parse_outputs
from jobs.sizing import NON_JVM_OVERHEAD_FACTOR, pod_memory_mib
from jobs.spec import load_spec
from jobs.spot import EXECUTOR_TERMINATION_GRACE_SECONDS, SPOT_NOTICE_SECONDS
from tests.conftest import stack_outputs
from tests.k8s_recorder import RecordedRequest, RunningRecorder, pod_list_route
from tests.test_jobs_pod_templates import cluster_kubernetes_version

pytestmark = pytest.mark.jvm  # starts Spark JVMs: scheduled first (tests/conftest.py)

NAMESPACE = "spark"
PODS = f"/api/v1/namespaces/{NAMESPACE}/pods"
DRIVER = "wordcount-driver"
# Starts a session, waits until the allocator has POSTed the first executor (the recorder leaves
# the file named by argv[1] then), stops.
APP = """import sys, time
from pathlib import Path
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
deadline = time.monotonic() + 60
while not Path(sys.argv[1]).exists() and time.monotonic() < deadline:
    time.sleep(0.1)
spark.stop()
"""


@dataclass
class DriverRun:
    code: int
    stderr: str
    requests: list[RecordedRequest]
    conf: dict[str, str]

    def executor_pod(self) -> dict[str, Any]:
        posts = [r.body for r in self.requests if r.method == "POST" and r.path == PODS]
        assert len(posts) == 1, self.stderr[-3000:]
        return posts[0]


def _driver_pod() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": DRIVER, "namespace": NAMESPACE, "uid": "0f1e2d3c-0000-4000-8000-000000000001",
                         "labels": {"spark-role": "driver"}},
            "spec": {"containers": [{"name": "spark-kubernetes-driver", "image": "spark:test"}]},
            "status": {"phase": "Running"}}


@pytest.fixture(scope="module")
def driver_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DriverRun]:
    scratch = tmp_path_factory.mktemp("client-driver")
    app = scratch / "app.py"
    app.write_text(APP)
    outputs = parse_outputs(stack_outputs(), required=SUBMIT_KEYS, source="test")
    spec = load_spec(PROJECT_ROOT / "examples" / "wordcount.yaml", sets=["dynamicAllocation.initialExecutors=1"])
    templates = PodTemplates(POD_TEMPLATE_DIR / "driver.yaml", POD_TEMPLATE_DIR / "executor.yaml")
    conf = cluster_conf(spec.with_image_tag("executor-test"), outputs, pod_templates=templates, submission_id="abcd1234")
    local_driver = {
        "spark.eventLog.enabled": "false",
        "spark.driver.memory": "1g",
        "spark.driver.host": "127.0.0.1",
        "spark.kubernetes.driver.pod.name": DRIVER,
        # What BasicDriverFeatureStep.getAdditionalPodSystemProperties hands executors of a Python app.
        "spark.kubernetes.memoryOverheadFactor": str(NON_JVM_OVERHEAD_FACTOR),
        "spark.kubernetes.resource.type": "python",
        "spark.scheduler.maxRegisteredResourcesWaitingTime": "1s",
        # The image's interpreter (jobs.command.IMAGE_PYTHON) is not on this machine.
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }
    run_conf = {k: v for k, v in conf.items() if not k.startswith("spark.storage.decommission.fallbackStorage.")}
    run_conf.update(local_driver)
    spark = find_spark()
    executor_posted = scratch / "executor-posted"

    def create_pod(request: RecordedRequest) -> tuple[int, Any]:
        executor_posted.touch()
        return 201, request.body

    with RunningRecorder() as recorder:
        recorder.accept_watches = True
        recorder.route("GET", f"{PODS}/{DRIVER}", lambda request: (200, _driver_pod()))
        recorder.route("GET", PODS, pod_list_route(lambda: [_driver_pod()]))
        recorder.route("POST", PODS, create_pod)
        argv = [str(spark.submit), "--master", f"k8s://{recorder.url}", "--deploy-mode", "client"]
        for key, value in run_conf.items():
            argv += ["--conf", f"{key}={value}"]
        done = subprocess.run(argv + [str(app), str(executor_posted)], env={**os.environ, "SPARK_HOME": str(spark.home)},
                              capture_output=True, text=True, timeout=180, check=False)
        yield DriverRun(done.returncode, done.stderr, list(recorder.requests), conf)


def test_executor_grace_is_what_the_submitter_sets(driver_run: DriverRun) -> None:
    """Spark 4.1+ writes every executor pod's terminationGracePeriodSeconds from
    spark.kubernetes.executor.terminationGracePeriodSeconds (default 30s) and overrides the pod
    template's value (apache/spark resource-managers/kubernetes/core BasicExecutorFeatureStep;
    Config.scala KUBERNETES_EXECUTOR_TERMINATION_GRACE_PERIOD_SECONDS, "4.1.0", default "30s").
    The pod the real driver POSTs has our 90 s, inside the 120 s Spot notice."""
    assert driver_run.code == 0, driver_run.stderr[-3000:]
    pod = driver_run.executor_pod()
    assert pod["spec"]["terminationGracePeriodSeconds"] == EXECUTOR_TERMINATION_GRACE_SECONDS
    assert 30 < EXECUTOR_TERMINATION_GRACE_SECONDS < SPOT_NOTICE_SECONDS
    # The decommission hook Spark adds when spark.decommission.enabled is on runs inside that grace.
    assert pod["spec"]["containers"][0]["lifecycle"]["preStop"]["exec"]["command"] == ["/opt/decom.sh"]


def test_executor_pod_has_the_default_shape_and_fits_the_node(driver_run: DriverRun) -> None:
    """The executor pod's requests are what jobs.sizing predicts from Spark's rules (heap plus
    max(384 MiB, 0.4 x heap) for a Python app; the CPU request as given), and that pod fits the
    allocatable of the executors group's m5.xlarge (infra/capacity.py)."""
    from infra.capacity import node_allocatable

    container = driver_run.executor_pod()["spec"]["containers"][0]
    memory = driver_run.conf["spark.executor.memory"]
    expected = pod_memory_mib("executor", memory, {}, python=True)
    assert container["resources"]["requests"] == {"cpu": "3790m", "memory": f"{expected}Mi"}
    assert container["resources"]["limits"]["memory"] == f"{expected}Mi"
    node = node_allocatable("m5.xlarge")
    assert 3790 <= node.cpu_millicores and expected <= node.memory_mib


def test_executor_runs_as_its_own_account_on_spot(driver_run: DriverRun) -> None:
    """The executor pod: the executors' service account (no Role bound), Spot only, tolerating the
    taint, valid for the cluster's Kubernetes version in strict mode."""
    pod = driver_run.executor_pod()
    assert pod["spec"]["serviceAccountName"] == "spark-executor"
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == ["SPOT"]
    assert pod["spec"]["tolerations"][0]["key"] == "spark-eks-spot/spot"
    named = {**pod, "metadata": {**pod["metadata"], "namespace": NAMESPACE}}
    kubernetes_validate.validate(named, cluster_kubernetes_version(), strict=True)
    bindings = [m for m in rbac_manifests(NAMESPACE, "spark", None) if m["kind"] == "RoleBinding"]
    assert all(subject["name"] != "spark-executor" for binding in bindings for subject in binding["subjects"])


def _verb(request: RecordedRequest) -> tuple[str, str]:
    """(resource, RBAC verb) of one request, as the API server's authorizer names them."""
    parts = request.path.strip("/").split("/")
    resource = parts[4]
    named = len(parts) > 5
    verb = {"POST": "create", "PATCH": "patch", "PUT": "update"}.get(request.method)
    if request.method == "GET":
        verb = "watch" if request.query.get("watch") == ["true"] else "get" if named else "list"
    if request.method == "DELETE":
        verb = "delete" if named else "deletecollection"
    return resource, str(verb)


def test_the_driver_needs_no_pvc_and_only_what_the_role_grants(driver_run: DriverRun) -> None:
    """Spark's driver lists and deletes PersistentVolumeClaims by label unless
    spark.kubernetes.driver.ownPersistentVolumeClaim/reusePersistentVolumeClaim are off
    (ExecutorPodsAllocator.getReusablePVCs, KubernetesClusterSchedulerBackend.stop). With the
    submitter's conf the real driver sends no claim request at all, and every request it sends
    is a verb on a resource the namespaced Role (infra/spark_rbac.py) grants."""
    used = {_verb(r) for r in driver_run.requests if r.path.startswith(f"/api/v1/namespaces/{NAMESPACE}/")}
    assert not [resource for resource, _ in used if resource == "persistentvolumeclaims"]
    [role] = [m for m in rbac_manifests(NAMESPACE, "spark", None) if m["kind"] == "Role"]
    assert role["metadata"]["name"] == ROLE_NAME
    granted = {(resource, verb) for rule in role["rules"] for resource in rule["resources"] for verb in rule["verbs"]}
    assert used and used <= granted, used - granted
    assert ("pods", "create") in used and ("pods", "watch") in used
    print(f"\ndriver API calls: {sorted(used)}", file=sys.stderr)
