"""Figure: the default executor shape against the AWS blog post's, per Spot node of the executors group.

Both shapes are what `python -m jobs submit examples/wordcount.yaml` would send for the dev
stack: the default from `jobs.command.executor_settings` (cut to the executors group's node by
jobs.sizing), the blog post's with `--set executor.cores=2 --set executor.memory=8g` (8g heap, 0.4
Python overhead, 2 task slots). Each is packed onto one node of the group's instance type
(allocatable from infra/capacity.py: kubelet reserve, eviction threshold, DaemonSets): as many
executor pods as fit both the CPU and the memory, times each one's task slots. The cost of a
task-slot-hour is the node's Spot hour divided by its task slots, priced from the committed
snapshot in cost/prices/ (the mean Spot price of the group's types in the dev region, as the
cost package prices a mixed Spot group; the figure says whether those are measured or estimates).
The figure is the default's cost per task-slot-hour over the blog post's, computed in one run;
the target is ≤ 0.5× (the blog post's shape leaves half the vCPUs idle). The blog post is the one
this design follows: AWS Compute Blog, "Running cost optimized Spark workloads on Kubernetes
using EC2 Spot Instances".
"""

from __future__ import annotations

from pathlib import Path

from bench.cost_figures import spot_basis
from bench.figures import Figure
from cost.snapshot import load_snapshot
from infra.capacity import NodeAllocatable, node_allocatable
from infra.plan import run_plan, stack_config
from jobs import PROJECT_ROOT
from jobs.command import ExecutorSettings, executor_settings
from jobs.sizing import cpu_millicores, pod_memory_mib
from jobs.spec import load_spec

SPEC = PROJECT_ROOT / "examples" / "wordcount.yaml"
BLOG_POST_SETS = ("executor.cores=2", "executor.memory=8g")
TARGET = 0.5


def slots_per_node(settings: ExecutorSettings, node: NodeAllocatable, python: bool) -> tuple[int, int]:
    """(executor pods that fit one node, task slots they give)."""
    pod_memory = pod_memory_mib("executor", settings.memory, {}, python)
    pods = min(node.cpu_millicores // cpu_millicores(settings.cpu_request), node.memory_mib // pod_memory)
    return pods, pods * settings.cores


def measure(quick: bool = False) -> list[Figure]:
    plan = run_plan(stack_config("dev"), stack="dev")
    group = plan.outputs["nodeGroups"]["executors"]
    region = str(stack_config("dev")["aws:region"])
    node = node_allocatable(group["instanceTypes"][0])
    snapshot = load_snapshot()
    priced = [t for t in group["instanceTypes"] if snapshot.instance_hour(region, t, "SPOT") is not None]
    node_hour = sum(snapshot.instance_hour(region, t, "SPOT") or 0.0 for t in priced) / len(priced)

    spec = load_spec(SPEC)
    default = executor_settings(spec, plan.outputs["nodeGroups"])
    blog = executor_settings(load_spec(SPEC, sets=list(BLOG_POST_SETS)), plan.outputs["nodeGroups"])
    default_pods, default_slots = slots_per_node(default, node, spec.is_python)
    blog_pods, blog_slots = slots_per_node(blog, node, spec.is_python)
    default_cost, blog_cost = node_hour / default_slots, node_hour / blog_slots
    ratio = default_cost / blog_cost
    return [
        Figure(
            name=(
                f"executor shape on a Spot {node.instance_type}: default {default_slots} task slots "
                f"(${default_cost:.4f}/slot-hour) vs the AWS blog post's {blog_slots} (${blog_cost:.4f}/slot-hour)"
            ),
            value=ratio,
            unit="×",
            target=f"≤ {TARGET}× cost per task-slot-hour (the blog post's shape idles half the node)",
            passed=ratio <= TARGET and default_slots >= 2 * blog_slots,
            details={
                "instanceType": node.instance_type,
                "allocatableCpuMillicores": node.cpu_millicores,
                "allocatableMemoryMiB": node.memory_mib,
                "default": {"executorsPerNode": default_pods, "taskSlots": default_slots, "cores": default.cores,
                            "cpuRequest": default.cpu_request, "memory": default.memory},
                "blogPost": {"executorsPerNode": blog_pods, "taskSlots": blog_slots, "cores": blog.cores,
                             "cpuRequest": blog.cpu_request, "memory": blog.memory},
                "spotNodeHourUsd": round(node_hour, 5),
                "priceBasis": (f"{Path(snapshot.source).name or snapshot.date}: mean Spot hour of the "
                               f"{len(priced)} of {len(group['instanceTypes'])} types it prices in {region}, "
                               f"{spot_basis(snapshot, region, priced)} ({snapshot.spot_source(region)})"),
            },
        )
    ]
