"""What a node can hold (infra/capacity.py), what a Spark pod requests (jobs/sizing.py), the
default executor shape, and specs refused because their pods fit no node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from infra.capacity import EKS_DAEMONSETS, kube_reserved_cpu_millicores, kube_reserved_memory_mib, max_pods
from infra.capacity import node_allocatable
from infra.instance_types import INSTANCE_TYPES
from jobs import PROJECT_ROOT
from jobs.__main__ import main
from jobs.command import executor_settings
from jobs.sizing import nodes_of, pod_memory_mib, shape_for_node
from jobs.spec import load_spec
from tests.conftest import stack_outputs

EXAMPLE = PROJECT_ROOT / "examples" / "wordcount.yaml"
NODE_GROUPS = stack_outputs()["nodeGroups"]


@pytest.mark.parametrize(("vcpu", "reserved"), [(1, 60), (2, 70), (4, 80), (8, 90), (16, 110)])
def test_kube_reserved_cpu_is_nodeadms_formula(vcpu: int, reserved: int) -> None:
    """awslabs/amazon-eks-ami nodeadm/internal/kubelet/config.go getCPUMillicoresToReserve:
    6 % of the first core, 1 % of the second, 0.5 % of the third and fourth, 0.25 % above."""
    assert kube_reserved_cpu_millicores(vcpu) == reserved


@pytest.mark.parametrize(("instance_type", "pods"), [("m5.large", 29), ("m5.xlarge", 58), ("m5.4xlarge", 234),
                                                      ("m4.large", 20), ("c5.2xlarge", 58),
                                                      ("t3.medium", 17), ("t3.large", 35)])
def test_max_pods_and_reserved_memory_follow_nodeadm(instance_type: str, pods: int) -> None:
    """nodeadm eni_max_pods.go: ENIs x (IPv4 per ENI - 1) + 2, with instance-info.jsonl's ENI
    data (m5.xlarge: 4 ENIs of 15 addresses); config.go getMemoryMebibytesToReserve: 11 MiB per
    pod + 255 MiB."""
    assert max_pods(instance_type) == pods
    assert kube_reserved_memory_mib(pods) == 11 * pods + 255


def test_m5_xlarge_allocatable() -> None:
    """16 GiB less the VM overhead Karpenter models (7.5 %), kube-reserved 893 MiB and the
    100Mi hard eviction threshold (nodeadm config.go evictionHard memory.available); 4 vCPU less
    80m kube-reserved and the DaemonSets' requests (aws-node 25m, kube-proxy 100m)."""
    node = node_allocatable("m5.xlarge")
    assert node.kubelet_allocatable_memory_mib == int(16 * 1024 * 0.925) - 893 - 100 == 14162
    assert node.kubelet_allocatable_cpu_millicores == 3920
    assert node.daemonset_cpu_millicores == sum(d.cpu_millicores for d in EKS_DAEMONSETS) == 125
    assert (node.cpu_millicores, node.memory_mib) == (3795, 14162)


def test_every_offered_type_has_an_allocatable() -> None:
    for instance_type, size in INSTANCE_TYPES.items():
        node = node_allocatable(instance_type)
        assert 0 < node.cpu_millicores < size.vcpu * 1000 and 0 < node.memory_mib < size.memory_gib * 1024
    with pytest.raises(KeyError):
        node_allocatable("x9.huge")


def test_pod_memory_follows_sparks_overhead_rules() -> None:
    """Spark 4.3 (BasicDriverFeatureStep / ResourceProfile.getResourcesForClusterManager): heap +
    max(minMemoryOverhead 384 MiB, factor x heap); factor 0.4 for Python, 0.1 for JVM apps, or
    the configured one; an explicit memoryOverhead wins; pyspark.memory adds for Python executors.
    The 8g Python driver's 11468 MiB is what the real spark-submit put on the driver pod
    (tests/test_jobs_cluster.py)."""
    assert pod_memory_mib("driver", "8g", {}, python=True) == 11468
    assert pod_memory_mib("executor", "8g", {}, python=False) == 8192 + 819
    assert pod_memory_mib("executor", "1g", {}, python=False) == 1024 + 384
    assert pod_memory_mib("executor", "8g", {"spark.executor.memoryOverheadFactor": "0.2"}, python=True) == 8192 + 1638
    assert pod_memory_mib("executor", "8g", {"spark.executor.memoryOverhead": "1g"}, python=True) == 8192 + 1024
    assert pod_memory_mib("executor", "8g", {"spark.executor.pyspark.memory": "2g"}, python=True) == 11468 + 2048
    assert pod_memory_mib("executor", "8g", {"spark.memory.offHeap.enabled": "true",
                                             "spark.memory.offHeap.size": "1g"}, python=False) == 9011 + 1024


def test_default_shape_fills_the_spot_node() -> None:
    """One executor per 4 vCPU: on m5.xlarge one executor with 4 task slots, the node's CPU as its
    request, and the largest heap (64 MiB steps) whose pod still fits the allocatable memory."""
    node = node_allocatable("m5.xlarge")
    shape = shape_for_node(node, {}, python=True)
    assert (shape.executors_per_node, shape.task_slots, shape.cpu_request) == (1, 4, "3790m")
    assert shape.pod_memory_mib <= node.memory_mib
    bigger = f"{int(shape.memory.removesuffix('m')) + 64}m"
    assert pod_memory_mib("executor", bigger, {}, python=True) > node.memory_mib
    big = shape_for_node(node_allocatable("m5.4xlarge"), {}, python=True)
    assert (big.executors_per_node, big.task_slots) == (4, 4)
    assert 4 * big.pod_memory_mib <= node_allocatable("m5.4xlarge").memory_mib


def test_the_seeds_shape_wastes_half_the_node() -> None:
    """8g with the 0.4 Python overhead is an 11468 MiB pod: one per m5.xlarge (two would need
    22936 MiB), so 2 of its 4 vCPUs run no task. The default shape runs 4."""
    node = node_allocatable("m5.xlarge")
    seed_pod = pod_memory_mib("executor", "8g", {}, python=True)
    assert node.memory_mib // seed_pod == 1
    assert shape_for_node(node, {}, python=True).task_slots == 2 * 2


def test_the_seeds_shape_is_one_set_away() -> None:
    spec = load_spec(EXAMPLE, sets=["executor.cores=2", "executor.memory=8g"])
    settings = executor_settings(spec, NODE_GROUPS)
    assert (settings.cores, settings.cpu_request, settings.cores_limit, settings.memory) == (2, "2", 4, "8g")
    assert settings.shape is None


def test_without_node_groups_the_seed_shape_is_used_and_said() -> None:
    settings = executor_settings(load_spec(EXAMPLE), None)
    assert (settings.cores, settings.cpu_request, settings.memory) == (2, "2", "8g")
    assert "the AWS blog post's shape" in settings.describe()


def test_dry_run_shows_the_chosen_shape(write_outputs: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    outputs = write_outputs()
    assert main(["submit", "examples/wordcount.yaml", "--outputs", str(outputs), "--dry-run", "--json",
                 "--set", "image.tag=t"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["executor"]["cores"] == 4 and document["executor"]["cpuRequest"] == "3790m"
    assert document["executor"]["shape"].startswith("executor shape: 1 executor per m5.xlarge node")
    assert "spark.executor.cores=4" in document["argv"]


@pytest.mark.parametrize(("sets", "line"), [
    (["executor.memory=12g"],
     "executor: a pod requesting 3790m CPU and 17203 MiB (12g + 4915 MiB overhead) fits no node: the largest, "
     "group executors (m5.xlarge), has 3795m CPU and 14162 MiB allocatable"),
    (["executor.cores=4"],
     "executor: a pod requesting 4000m CPU and 14156 MiB (10112m + 4044 MiB overhead) fits no node"),
    (["driver.memory=12g"],
     "driver: a pod requesting 2000m CPU and 17203 MiB (12g + 4915 MiB overhead) fits no node: the largest, "
     "group drivers (m5.xlarge)"),
])
def test_a_pod_that_fits_no_node_is_refused_before_anything(
    sets: list[str], line: str, write_outputs: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Requests (cores; memory plus Spark's overhead) against the largest allocatable node of the
    capacity type the pod template requires (drivers ON_DEMAND, executors SPOT), with the numbers,
    exit 2, even for --dry-run, before any upload or submission."""
    monkeypatch.chdir(PROJECT_ROOT)
    args = ["submit", "examples/wordcount.yaml", "--outputs", str(write_outputs()), "--dry-run", "--set", "image.tag=t"]
    for assignment in sets:
        args += ["--set", assignment]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [message] = captured.err.splitlines()
    assert message.startswith(f"jobs: error: spec examples/wordcount.yaml: {line}")


def test_drivers_are_sized_against_the_driver_group_not_the_system_group() -> None:
    """The system group is On-Demand too, but its CriticalAddonsOnly taint keeps Spark pods off
    (infra/nodegroups.py; a pod lands on a tainted node only if it tolerates the taint: Kubernetes
    docs, "Taints and Tolerations"). A driver is checked against the groups whose role is
    `driver`; a stack output without roles falls back to the capacity type."""
    groups = {
        "system": {"capacityType": "ON_DEMAND", "instanceTypes": ["t3.medium"], "role": "system"},
        "drivers": {"capacityType": "ON_DEMAND", "instanceTypes": ["m5.xlarge"], "role": "driver"},
        "executors": {"capacityType": "SPOT", "instanceTypes": ["m5.2xlarge"], "role": "executor"},
    }
    assert set(nodes_of(groups, "driver")) == {"drivers"}
    assert set(nodes_of(groups, "executor")) == {"executors"}
    legacy = {name: {k: v for k, v in group.items() if k != "role"} for name, group in groups.items()}
    assert set(nodes_of(legacy, "driver")) == {"system", "drivers"}
