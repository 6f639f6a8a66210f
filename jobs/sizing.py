"""Pure sizing: what a Spark pod requests, the default executor shape, and whether pods can fit.

Spark turns `spark.{driver,executor}.memory` into a pod memory request by adding an overhead
(resource-managers/kubernetes/core/.../features/BasicDriverFeatureStep.scala and
BasicExecutorFeatureStep.scala with core's ResourceProfile.getResourcesForClusterManager,
Spark 4.3.0): `spark.<role>.memoryOverhead` when set, else the larger of
`spark.<role>.minMemoryOverhead` (384 MiB) and factor x memory. The factor is
`spark.<role>.memoryOverheadFactor` when set, else `spark.kubernetes.memoryOverheadFactor`
when set, else 0.4 for a Python or R app and 0.1 for a JVM app (the driver computes it and
hands it to the executors as `spark.kubernetes.memoryOverheadFactor`). A Python executor also
adds `spark.executor.pyspark.memory`, and any pod adds `spark.memory.offHeap.size` when
off-heap memory is enabled. The CPU request is `spark.kubernetes.<role>.request.cores`.

The default executor shape fills a Spot node of the executors group (allocatable from
infra/capacity.py): one executor per 4 vCPU, each with the node's share of the CPU as its
request, its vCPU as task slots, and the largest heap whose pod still fits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from infra.capacity import NodeAllocatable, node_allocatable

# The executor of the AWS blog post this design follows ("Running cost optimized Spark workloads on
# Kubernetes using EC2 Spot Instances"): used when the stack names no executors group of a known size.
BLOG_POST_CORES = 2
BLOG_POST_CORES_LIMIT = 4
BLOG_POST_MEMORY = "8g"
MIN_MEMORY_OVERHEAD_MIB = 384
JVM_OVERHEAD_FACTOR = 0.1
NON_JVM_OVERHEAD_FACTOR = 0.4
# Spark's tuning guide: a few cores per executor; more executors per node only split the node.
TASK_SLOTS_PER_EXECUTOR = 4
HEAP_GRANULE_MIB = 64
CPU_GRANULE_MILLICORES = 10
EXECUTOR_GROUP = "executors"

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgtp]?)i?b?\s*$", re.IGNORECASE)
_MIB_PER_UNIT = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024, "p": 1024**3}
_CPU = re.compile(r"^\s*(\d+(?:\.\d+)?)(m?)\s*$")


def size_mib(text: str, default_unit: str = "m") -> int:
    """A Spark size string (`8g`, `512m`, `1024`) in MiB; bare numbers take `default_unit`."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a size")
    unit = (match.group(2) or default_unit).lower()
    return int(int(match.group(1)) * _MIB_PER_UNIT[unit])


def cpu_millicores(text: str) -> int:
    """A Kubernetes CPU quantity (`2`, `3.5`, `3790m`) in millicores."""
    match = _CPU.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a CPU quantity")
    value = float(match.group(1))
    return int(value) if match.group(2) else int(round(value * 1000))


def overhead_factor(role: str, conf: Mapping[str, str], python: bool) -> float:
    """The memory overhead factor Spark applies to a `role` ("driver" or "executor") pod."""
    for key in (f"spark.{role}.memoryOverheadFactor", "spark.kubernetes.memoryOverheadFactor"):
        if key in conf:
            return float(conf[key])
    return NON_JVM_OVERHEAD_FACTOR if python else JVM_OVERHEAD_FACTOR


def pod_memory_mib(role: str, memory: str, conf: Mapping[str, str], python: bool) -> int:
    """The pod's memory request (= limit) Spark sets for `memory` of heap."""
    heap = size_mib(memory)
    explicit = conf.get(f"spark.{role}.memoryOverhead")
    if explicit is not None:
        overhead = size_mib(explicit)
    else:
        minimum = size_mib(conf.get(f"spark.{role}.minMemoryOverhead", f"{MIN_MEMORY_OVERHEAD_MIB}m"))
        overhead = max(minimum, int(overhead_factor(role, conf, python) * heap))
    total = heap + overhead
    if role == "executor" and python and "spark.executor.pyspark.memory" in conf:
        total += size_mib(conf["spark.executor.pyspark.memory"])
    if conf.get("spark.memory.offHeap.enabled", "false").strip().lower() == "true":
        off_heap = conf.get("spark.memory.offHeap.size", "0").strip()
        # A bytes setting: a bare number is bytes.
        total += int(off_heap) // (1024 * 1024) if off_heap.isdigit() else size_mib(off_heap)
    return total


@dataclass(frozen=True)
class ExecutorShape:
    """Executors that fill one node: how many, and each one's task slots, CPU request and heap."""

    node: NodeAllocatable
    executors_per_node: int
    task_slots: int
    cpu_request_millicores: int
    memory: str
    pod_memory_mib: int

    @property
    def cpu_request(self) -> str:
        return f"{self.cpu_request_millicores}m"

    def describe(self) -> str:
        node = self.node
        per_node = "1 executor" if self.executors_per_node == 1 else f"{self.executors_per_node} executors"
        return (
            f"{per_node} per {node.instance_type} node ({node.cpu_millicores}m CPU, {node.memory_mib} MiB "
            f"allocatable after kubelet reserve and DaemonSets): {self.task_slots} task slots, "
            f"CPU request {self.cpu_request}, memory {self.memory} (pod {self.pod_memory_mib} MiB with overhead)"
        )


def shape_for_node(node: NodeAllocatable, conf: Mapping[str, str], python: bool) -> ExecutorShape:
    """The default executor shape for a node: one executor per 4 vCPU, filling CPU and memory."""
    per_node = max(1, node.vcpu // TASK_SLOTS_PER_EXECUTOR)
    cpu = node.cpu_millicores // per_node // CPU_GRANULE_MILLICORES * CPU_GRANULE_MILLICORES
    budget = node.memory_mib // per_node
    heap = budget // HEAP_GRANULE_MIB * HEAP_GRANULE_MIB
    while heap > HEAP_GRANULE_MIB and pod_memory_mib("executor", f"{heap}m", conf, python) > budget:
        heap -= HEAP_GRANULE_MIB
    memory = f"{heap}m"
    return ExecutorShape(node, per_node, node.vcpu // per_node, cpu, memory, pod_memory_mib("executor", memory, conf, python))


def _groups(node_groups: Any) -> dict[str, Mapping[str, Any]]:
    if not isinstance(node_groups, Mapping):
        return {}
    return {str(name): group for name, group in node_groups.items() if isinstance(group, Mapping)}


def group_node(group: Mapping[str, Any]) -> NodeAllocatable | None:
    """The allocatable of a group's node (its first instance type: every type has the same size)."""
    types = group.get("instanceTypes")
    if not isinstance(types, list) or not types or not isinstance(types[0], str):
        return None
    try:
        return node_allocatable(types[0])
    except KeyError:
        return None


def executor_node(node_groups: Any) -> NodeAllocatable | None:
    """The node of the `executors` group (the Spot group the default shape is cut for)."""
    group = _groups(node_groups).get(EXECUTOR_GROUP)
    return group_node(group) if group else None


# The capacity type of each Spark role's groups, for a stack whose nodeGroups output has no role.
_ROLE_CAPACITY = {"driver": "ON_DEMAND", "executor": "SPOT"}


def nodes_of(node_groups: Any, role: str) -> dict[str, NodeAllocatable]:
    """Group name → node allocatable, for the groups that run one Spark role (`driver` or
    `executor`) with a known size. The system group runs only add-ons (its taint keeps Spark
    pods off), so an On-Demand group counts for drivers only when its role says so."""
    if role not in _ROLE_CAPACITY:
        raise ValueError(f"nodes_of: role must be one of {', '.join(_ROLE_CAPACITY)}, not {role!r}")
    found = {}
    for name, group in _groups(node_groups).items():
        runs_role = group.get("role") == role if "role" in group else group.get("capacityType") == _ROLE_CAPACITY[role]
        node = group_node(group) if runs_role else None
        if node is not None:
            found[name] = node
    return found


def fit_problem(
    field: str, cpu_request: str, pod_memory: int, memory: str, nodes: Mapping[str, NodeAllocatable]
) -> str | None:
    """One line when a pod of this size fits no node of `nodes`; None when it fits one."""
    cpu = cpu_millicores(cpu_request)
    if not nodes or any(cpu <= node.cpu_millicores and pod_memory <= node.memory_mib for node in nodes.values()):
        return None
    name, node = max(nodes.items(), key=lambda item: (item[1].memory_mib, item[1].cpu_millicores))
    overhead = pod_memory - size_mib(memory)
    return (
        f"{field}: a pod requesting {cpu}m CPU and {pod_memory} MiB ({memory} + {overhead} MiB overhead) fits no node: "
        f"the largest, group {name} ({node.instance_type}), has {node.cpu_millicores}m CPU and {node.memory_mib} MiB "
        f"allocatable after the kubelet's reserve and the DaemonSets; lower {field}.cores or {field}.memory, "
        "or add a larger node group"
    )

