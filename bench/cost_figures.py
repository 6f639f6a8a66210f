"""Figures 1-3 of the node layout: what the design costs, priced by the cost package from the real plans.

Every price comes from the committed snapshot through cost's own functions (`price_state`
for one node group, `build_report` for a whole plan, as `python -m cost estimate` does);
every size and instance type comes from the offline plans of the stack files. The blog
post's floor and the reference workload are the dev plan edited, never hand-priced items. Each
figure names its price basis: the snapshot, and whether its Spot prices are measured (EC2
Spot price history) or estimates (how, from the snapshot's `spotSource`).

1. Executor vCPU-hour, one figure per stack file (dev, prod): the cheapest Spot group the
   stack configures, priced as cost prices a Spot group (the mean Spot hour over its types),
   per vCPU of its node, against one vCPU-hour of the drivers' On-Demand type, in the
   stack's region. Target ≤ 0.35×. The other snapshot regions are in the details.
2. Idle floor: the dev plan at its minimum sizes (control plane, NAT, the system node) against
   the floor of the AWS blog post this design follows ("Running cost optimized Spark workloads on
   Kubernetes using EC2 Spot Instances"): the same plan with one On-Demand and one Spot m5.xlarge
   always on, one NAT gateway and its IPv4. Target ≤ 0.5×.
3. Reference workload: four word counts in parallel, 20 executors each, for one hour. One pod
   per node (an executor sized to its node, one driver node per job) on the dev plan's
   cheapest Spot group, priced for that hour with the control plane, NAT, IPv4, the system
   node and root volumes. Against all On-Demand on the drivers' On-Demand type, the baseline
   of figure 1 (m5.xlarge in dev, the blog post's node type): the same plan with the executor
   nodes On-Demand on that type, as many vCPUs as the Spot group's nodes; drivers and the
   system node are On-Demand already. Target ≤ 0.4×. The details also give the
   ratio against the same executor group On-Demand (cost prices it at its first type), so the
   part of the saving that is the cheaper architecture (Graviton's On-Demand price) shows
   apart from the part that is Spot.

These are computations over prices, not timings: `quick` changes nothing. The control plane is
priced in the support phase of the snapshot's own date, so a figure depends on the snapshot
alone, not on the day it is run (cost's `--as-of`).
"""

from __future__ import annotations

import copy
import math
from datetime import date
from functools import lru_cache
from typing import Any

from bench.figures import Figure
from cost.inputs import State, changes_from_plans, estimate_changes, plan_states
from cost.pricing import PricingContext, price_state
from cost.report import CostReport, build_report
from cost.snapshot import PriceSnapshot, load_snapshot
from infra.instance_types import instance_size
from infra.plan import run_plan, stack_config

NODE_GROUP = "eks:index:ManagedNodeGroup"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
PUBLIC_IPV4 = "aws:ec2/eip:Eip"

STACKS = ("dev", "prod")
SPOT_TARGET = 0.35
FLOOR_TARGET = 0.5
WORKLOAD_TARGET = 0.4

BLOG_POST_INSTANCE_TYPE = "m5.xlarge"
WORKLOAD_JOBS = 4
EXECUTORS_PER_JOB = 20


class PlanShapeError(LookupError):
    """The plan lacks something a figure prices (a node group, the NAT gateway)."""


@lru_cache(maxsize=None)
def _plan_cached(stack: str) -> dict[str, Any]:
    return run_plan(stack_config(stack), stack=stack).as_json()


def stack_plan(stack: str) -> dict[str, Any]:
    """The offline plan of Pulumi.<stack>.yaml (evaluated once per process); a copy callers may edit."""
    return copy.deepcopy(_plan_cached(stack))


def dev_plan() -> dict[str, Any]:
    return stack_plan("dev")


def stack_region(stack: str) -> str:
    return str(stack_config(stack)["aws:region"])


def node_group(document: dict[str, Any], key: str) -> dict[str, Any]:
    """The node group of `key` (`drivers`, `executors`): infra names it `<component>-<key>`."""
    matches = [r for r in document["resources"] if r["type"] == NODE_GROUP and r["name"].endswith(f"-{key}")]
    if len(matches) != 1:
        raise PlanShapeError(f"the plan has {len(matches)} {NODE_GROUP} named *-{key}; expected one")
    return matches[0]


def _set_size(group: dict[str, Any], nodes: int, minimum: int | None = None) -> None:
    scaling = group["inputs"]["scalingConfig"]
    if minimum is not None:
        scaling["minSize"] = minimum
    scaling["desiredSize"] = nodes
    # A plan whose desired size is above its maximum is not one EKS would accept.
    scaling["maxSize"] = max(scaling["maxSize"], nodes)


def at_minimum_sizes(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of the plan with every node group at its minimum size: the idle floor."""
    floor = copy.deepcopy(document)
    for resource in floor["resources"]:
        if resource["type"] == NODE_GROUP:
            _set_size(resource, resource["inputs"]["scalingConfig"]["minSize"])
    return floor


def blog_post_floor_plan(document: dict[str, Any]) -> dict[str, Any]:
    """The blog post's always-on floor as a plan: the dev plan with one On-Demand and one Spot
    m5.xlarge node, one NAT gateway and its public IPv4, and no other node group.

    Root volumes keep the dev groups' sizes, so the two floors differ only by design choices.
    """
    floor = at_minimum_sizes(document)
    drivers, executors = node_group(floor, "drivers"), node_group(floor, "executors")
    for group, capacity in ((drivers, "ON_DEMAND"), (executors, "SPOT")):
        group["inputs"]["capacityType"] = capacity
        group["inputs"]["instanceTypes"] = [BLOG_POST_INSTANCE_TYPE]
        _set_size(group, 1, minimum=1)
    kept_ids = {id(drivers), id(executors)}
    nat = _first(floor, NAT_GATEWAY)
    ipv4 = _first(floor, PUBLIC_IPV4)
    floor["resources"] = [
        r for r in floor["resources"]
        if (r["type"] != NODE_GROUP or id(r) in kept_ids)
        and (r["type"] != NAT_GATEWAY or r is nat)
        and (r["type"] != PUBLIC_IPV4 or r is ipv4)
    ]
    return floor


def _first(document: dict[str, Any], type_token: str) -> dict[str, Any]:
    matches = sorted((r for r in document["resources"] if r["type"] == type_token), key=lambda r: r["name"])
    if not matches:
        raise PlanShapeError(f"the plan has no {type_token}; the blog post's floor needs one")
    return matches[0]


def workload_plan(document: dict[str, Any], executor_capacity: str = "SPOT", executors: str = "executors") -> dict[str, Any]:
    """The plan sized for the reference workload: a driver node per job, a node per executor in the
    group `executors` (the one the priority expander grows first), that group's capacity type set."""
    workload = copy.deepcopy(document)
    _set_size(node_group(workload, "drivers"), WORKLOAD_JOBS)
    group = node_group(workload, executors)
    _set_size(group, WORKLOAD_JOBS * EXECUTORS_PER_JOB)
    group["inputs"]["capacityType"] = executor_capacity
    return workload


def all_on_demand_plan(document: dict[str, Any], executors: str = "executors") -> dict[str, Any]:
    """The workload plan with every node On-Demand on the drivers' On-Demand type: the executor group
    `executors` becomes that type (its AMI too), with as many nodes as give the same vCPUs."""
    workload = workload_plan(document, "ON_DEMAND", executors)
    drivers = node_group(workload, "drivers")["inputs"]
    baseline_type = drivers["instanceTypes"][0]
    group = node_group(workload, executors)
    inputs = group["inputs"]
    ours, theirs = instance_size(inputs["instanceTypes"][0]), instance_size(baseline_type)
    if ours is None or theirs is None:
        unknown = inputs["instanceTypes"][0] if ours is None else baseline_type
        raise PlanShapeError(f"{unknown} is not in the instance table; the all On-Demand baseline needs its vCPUs")
    inputs["instanceTypes"] = [baseline_type]
    if "amiType" in drivers:
        inputs["amiType"] = drivers["amiType"]
    _set_size(group, math.ceil(WORKLOAD_JOBS * EXECUTORS_PER_JOB * ours.vcpu / theirs.vcpu))
    return workload


def group_key(resource: dict[str, Any]) -> str:
    """`nodegroups-executors-arm64` → `executors-arm64` (infra names a group `<component>-<key>`)."""
    return str(resource["name"]).split("-", 1)[1]


def spot_groups(document: dict[str, Any]) -> list[dict[str, Any]]:
    groups = [r for r in document["resources"] if r["type"] == NODE_GROUP and r["inputs"].get("capacityType") == "SPOT"]
    if not groups:
        raise PlanShapeError(f"the plan has no {NODE_GROUP} with capacityType SPOT")
    return groups


def node_hour(group: dict[str, Any], snapshot: PriceSnapshot, region: str, capacity: str | None = None) -> dict[str, Any]:
    """One node of `group` for an hour, as cost prices it (Spot: the mean over the types it prices;
    On-Demand: the first type), and per vCPU of the node. None figures when cost cannot price it."""
    inputs = copy.deepcopy(group["inputs"])
    if capacity:
        inputs["capacityType"] = capacity
    inputs["scalingConfig"] = {"minSize": 1, "desiredSize": 1, "maxSize": 1}
    priced = price_state(State(NODE_GROUP, inputs, region=region), snapshot, priced_on(snapshot))
    types = list(inputs["instanceTypes"])
    size = instance_size(types[0])
    if priced.monthly is None or size is None:
        return {"key": group_key(group), "instanceTypes": types, "hourly": None, "perVcpu": None,
                "reason": priced.details.get("reason", f"{types[0]} is not in the instance table")}
    hourly = priced.details["hourlyPerNode"]
    return {
        "key": group_key(group),
        "capacityType": inputs["capacityType"],
        "instanceTypes": types,
        "vcpu": size.vcpu,
        "hourly": hourly["expected"],
        "perVcpu": round(hourly["expected"] / size.vcpu, 6),
        "basis": hourly["basis"],
        "pricedTypes": sorted(hourly["byType"]),
        "unpricedTypes": [t for t in types if t not in hourly["byType"]],
    }


def spot_basis(snapshot: PriceSnapshot, region: str, types: list[str]) -> str:
    """`measured`, `estimate`, or how many of each, for the Spot prices of `types` in the snapshot."""
    measured = [t for t in types if snapshot.spot_measured(region, t) is not None]
    if not measured:
        return "estimate"
    return "measured" if len(measured) == len(types) else f"{len(measured)} of {len(types)} measured, the rest estimates"


def cheapest_spot_group(document: dict[str, Any], snapshot: PriceSnapshot, region: str) -> dict[str, Any]:
    """The Spot group with the lowest priced vCPU-hour (the one the priority expander grows first)."""
    priced = [node_hour(g, snapshot, region) for g in spot_groups(document)]
    usable = [p for p in priced if p["perVcpu"] is not None]
    if not usable:
        raise PlanShapeError(f"no Spot group of the plan has a Spot price in {region}: "
                             + "; ".join(f"{p['key']}: {p['reason']}" for p in priced))
    return min(usable, key=lambda p: p["perVcpu"])


def priced_on(snapshot: PriceSnapshot) -> PricingContext:
    """Price as of the snapshot's date (`python -m cost estimate --as-of <snapshot date>`)."""
    return PricingContext(on=date.fromisoformat(snapshot.date))


def estimate(document: dict[str, Any], snapshot: PriceSnapshot) -> CostReport:
    """What `python -m cost estimate PLAN.json --as-of <snapshot date>` computes: the plan's monthly cost."""
    return build_report(estimate_changes(changes_from_plans({}, plan_states(document, "plan"))), snapshot, "estimate",
                        priced_on(snapshot))


def _priced_items(report: CostReport) -> dict[str, float]:
    return {f"{r.name} ({r.type.rsplit(':', 1)[-1]})": round(r.monthly_after or 0.0, 2)
            for r in report.resources if (r.monthly_after or 0.0) > 0}


def _not_in_totals(report: CostReport) -> list[str]:
    return [r.urn for r in report.unpriced]


def executor_vcpu_figure(stack: str, document: dict[str, Any], snapshot: PriceSnapshot, region: str) -> Figure:
    """Figure 1: the stack's cheapest Spot group per vCPU-hour against the drivers' On-Demand type."""
    cheapest = cheapest_spot_group(document, snapshot, region)
    drivers = node_hour(node_group(document, "drivers"), snapshot, region, capacity="ON_DEMAND")
    if drivers["perVcpu"] is None:
        raise PlanShapeError(f"the drivers group cannot be priced On-Demand in {region}: {drivers['reason']}")
    ratio = cheapest["perVcpu"] / drivers["perVcpu"]
    basis = spot_basis(snapshot, region, cheapest["pricedTypes"])
    others = {}
    for other in sorted(snapshot.regions):
        if other == region:
            continue
        group = node_hour(node_group(document, cheapest["key"]), snapshot, other)
        driver = node_hour(node_group(document, "drivers"), snapshot, other, capacity="ON_DEMAND")
        others[other] = (round(group["perVcpu"] / driver["perVcpu"], 4)
                         if group["perVcpu"] is not None and driver["perVcpu"] is not None else None)
    every_group = {p["key"]: p for p in (node_hour(g, snapshot, region) for g in spot_groups(document))}
    return Figure(
        name=(f"executor vCPU-hour, {stack} ({region}): cheapest Spot group {cheapest['key']} "
              f"${cheapest['perVcpu']:.4f} vs the drivers' {drivers['instanceTypes'][0]} On-Demand "
              f"${drivers['perVcpu']:.4f} [Spot: {basis}; snapshot {snapshot.date}]"),
        value=round(ratio, 4),
        unit="×",
        target=f"≤ {SPOT_TARGET}×",
        passed=ratio <= SPOT_TARGET,
        details={
            "stack": stack,
            "region": region,
            "priceSnapshot": snapshot.date,
            "cheapestSpotGroup": cheapest,
            "driversOnDemand": drivers,
            "spotGroups": every_group,
            "spotPriceBasis": basis,
            "spotSource": snapshot.spot_source(region),
            "onDemandSource": str(snapshot.regions[region].get("onDemandSource", "not stated")),
            "ratioInOtherRegions": others,
            "basis": "cost's Spot figure for one node (mean Spot hour over the group's priced types) per vCPU, "
                     "against the drivers' first instance type On-Demand per vCPU; instance hours only",
        },
    )


def idle_floor_figure(document: dict[str, Any], snapshot: PriceSnapshot) -> Figure:
    """Figure 2: the dev stack at its minimum sizes against the blog post's always-on floor."""
    ours, blog = estimate(at_minimum_sizes(document), snapshot), estimate(blog_post_floor_plan(document), snapshot)
    ratio = ours.total_after / blog.total_after
    region = next(iter(ours.region_dates), None)
    blog_spot = spot_basis(snapshot, region, [BLOG_POST_INSTANCE_TYPE]) if region else "not priced"
    return Figure(
        name=(f"idle floor: dev at minimum sizes ${ours.total_after:,.2f}/mo vs the AWS blog post's design "
              f"${blog.total_after:,.2f}/mo [On-Demand list prices; the blog post's Spot node: {blog_spot}; "
              f"snapshot {snapshot.date}]"),
        value=ratio,
        unit="×",
        target=f"≤ {FLOOR_TARGET}×",
        passed=ratio <= FLOOR_TARGET,
        details={
            "region": region,
            "priceSnapshot": snapshot.date,
            "blogPostSpotPriceBasis": blog_spot,
            "monthlyDev": round(ours.total_after, 2),
            "monthlyBlogPost": round(blog.total_after, 2),
            "devItems": _priced_items(ours),
            "blogPostItems": _priced_items(blog),
            "notInTotals": _not_in_totals(ours) + _not_in_totals(blog),
        },
    )


def workload_figure(document: dict[str, Any], snapshot: PriceSnapshot) -> Figure:
    """Figure 3: one hour of the reference workload, this design against all On-Demand on the drivers' type."""
    hours = snapshot.hours_per_month
    region = next(iter(estimate(document, snapshot).region_dates))
    executors = cheapest_spot_group(document, snapshot, region)["key"]
    ours = estimate(workload_plan(document, "SPOT", executors), snapshot)
    baseline_plan = all_on_demand_plan(document, executors)
    on_demand = estimate(baseline_plan, snapshot)
    same_types = estimate(workload_plan(document, "ON_DEMAND", executors), snapshot)
    hour_ours, hour_on_demand, hour_same_types = (r.total_after / hours for r in (ours, on_demand, same_types))
    ratio = hour_ours / hour_on_demand
    group = node_group(document, executors)["inputs"]["instanceTypes"]
    baseline_group = node_group(baseline_plan, executors)["inputs"]
    baseline_type = baseline_group["instanceTypes"][0]
    basis = spot_basis(snapshot, region, [t for t in group if snapshot.instance_hour(region, t, "SPOT") is not None])
    return Figure(
        name=(f"reference workload: {WORKLOAD_JOBS} word counts × {EXECUTORS_PER_JOB} executors, 1 h, "
              f"${hour_ours:,.2f} on Spot {executors} vs ${hour_on_demand:,.2f} all On-Demand {baseline_type} "
              f"[Spot: {basis}; snapshot {snapshot.date}]"),
        value=ratio,
        unit="×",
        target=f"≤ {WORKLOAD_TARGET}×",
        passed=ratio <= WORKLOAD_TARGET,
        details={
            "region": region,
            "priceSnapshot": snapshot.date,
            "executorGroup": executors,
            "executorInstanceTypes": list(group),
            "executorNodeHours": WORKLOAD_JOBS * EXECUTORS_PER_JOB,
            "driverNodeHours": WORKLOAD_JOBS,
            "hourDesign": round(hour_ours, 4),
            "hourAllOnDemand": round(hour_on_demand, 4),
            "allOnDemandType": baseline_type,
            "allOnDemandExecutorNodeHours": baseline_group["scalingConfig"]["desiredSize"],
            "hourSameTypesOnDemand": round(hour_same_types, 4),
            "ratioAgainstSameTypesOnDemand": round(hour_ours / hour_same_types, 4),
            "spotPriceBasis": basis,
            "spotSource": snapshot.spot_source(region),
            "basis": "the dev plan at the workload's sizes priced by cost (control plane, NAT, IPv4, system node, "
                     "root volumes included) for one hour; executors on the plan's cheapest Spot group. All "
                     f"On-Demand = the same plan with the executor nodes On-Demand {baseline_type} (the drivers' "
                     "On-Demand type, figure 1's baseline), as many vCPUs as the Spot nodes; drivers and the system "
                     "node are On-Demand already. ratioAgainstSameTypesOnDemand = against the same plan with the "
                     "executor group itself ON_DEMAND (cost prices it at its first type, as EKS's prioritized "
                     "On-Demand allocation runs it): the Spot discount alone",
            "notInTotals": _not_in_totals(ours) + _not_in_totals(on_demand) + _not_in_totals(same_types),
        },
    )


def measure(quick: bool = False) -> list[Figure]:
    del quick  # prices, not timings: a quick run computes the same thing
    snapshot = load_snapshot()
    figures = [executor_vcpu_figure(stack, stack_plan(stack), snapshot, stack_region(stack)) for stack in STACKS]
    document = dev_plan()
    return [*figures, idle_floor_figure(document, snapshot), workload_figure(document, snapshot)]
