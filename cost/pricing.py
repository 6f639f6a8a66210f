"""Price one resource state with a snapshot: a monthly figure, or why there is none.

Every resource lands in exactly one category, so nothing is dropped silently:
`fixed` (an hourly price: EKS control plane, node groups, NAT gateways, public IPv4),
`usage` (billed by use: S3, ECR, logs), `free`, `component` (a grouping whose
children carry the cost), `included` (priced through its child, set by the report),
or `unpriced` (with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import fmean
from typing import Any, Callable

from cost.inputs import State, is_hidden
from cost.snapshot import PriceSnapshot

# EKS defaults for a managed node group created without these settings (CreateNodegroup API).
DEFAULT_INSTANCE_TYPES = ("t3.medium",)
DEFAULT_SCALING = {"minSize": 1, "desiredSize": 2, "maxSize": 2}
DEFAULT_DISK_GIB = 20
# EKS's own launch template (used when the group names none) gives nodes a gp2 root volume
# (aws/containers-roadmap#1417).
ROOT_VOLUME_TYPE = "gp2"

NODE_GROUP_TYPES = frozenset({"eks:index:ManagedNodeGroup", "aws:eks/nodeGroup:NodeGroup"})
CLUSTER_TYPES = frozenset({"eks:index:Cluster", "aws:eks/cluster:Cluster"})
# A child that is the real AWS resource of a priced pulumi-eks component: when both are in
# a preview, the child is priced and the component marked `included`, never both.
CHILD_OF = {"aws:eks/nodeGroup:NodeGroup": "eks:index:ManagedNodeGroup", "aws:eks/cluster:Cluster": "eks:index:Cluster"}

USAGE_BASED = {
    "aws:s3/bucket:Bucket": "S3 storage, requests and transfer",
    "aws:s3/bucketV2:BucketV2": "S3 storage, requests and transfer",
    "aws:s3/bucketObject:BucketObject": "S3 storage",
    "aws:s3/bucketObjectv2:BucketObjectv2": "S3 storage",
    "aws:ecr/repository:Repository": "ECR image storage and transfer",
    "aws:cloudwatch/logGroup:LogGroup": "CloudWatch Logs ingestion and storage",
}
FREE_TYPES = frozenset({
    "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/routeTable:RouteTable",
    "aws:ec2/routeTableAssociation:RouteTableAssociation", "aws:ec2/route:Route",
    "aws:ec2/internetGateway:InternetGateway", "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/securityGroupRule:SecurityGroupRule", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:ec2/tag:Tag", "aws:autoscaling/tag:Tag", "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy", "aws:eks/accessEntry:AccessEntry",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "aws:eks/addon:Addon",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation",
})
# Whole families without an hourly price of their own: IAM, the engine's own, and
# Kubernetes objects (they run on the nodes, which are priced).
FREE_PREFIXES = ("aws:iam/", "pulumi:", "kubernetes:", "random:", "tls:")
PROVIDER_PACKAGES = frozenset({"aws", "eks", "kubernetes", "pulumi", "random", "tls", "awsx", "command"})


@dataclass(frozen=True)
class Priced:
    category: str
    monthly: float | None
    details: dict[str, Any] = field(default_factory=dict)


class MissingRegion(LookupError):
    """A priced resource whose region neither its provider nor --region names."""


def _get(inputs: dict[str, Any], camel: str) -> Any:
    """An input by its engine (camelCase) name, or the snake_case spelling of it."""
    if camel in inputs:
        return inputs[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return inputs.get(snake)


def _unpriced(reason: str, **details: Any) -> Priced:
    return Priced("unpriced", None, {"reason": reason, **details})


def _whole(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _region(state: State, snapshot: PriceSnapshot) -> str:
    if not state.region:
        raise MissingRegion(
            f"no AWS region for {state.type}: the input names no aws provider region; pass --region REGION"
        )
    snapshot.region(state.region)  # raises RegionNotInSnapshot with the fix
    return state.region


def price_node_group(state: State, snapshot: PriceSnapshot) -> Priced:
    """desired × hourly × hours + root volumes; the mean over all types for Spot, with ranges."""
    inputs = state.inputs
    region = _region(state, snapshot)
    hours = snapshot.hours_per_month
    assumptions: list[str] = []

    capacity = _get(inputs, "capacityType")
    if capacity is None:
        capacity = "ON_DEMAND"
        assumptions.append("capacityType not set: EKS's default ON_DEMAND")
    if is_hidden(capacity):
        return _unpriced("capacityType is not known until apply")
    if capacity not in ("ON_DEMAND", "SPOT"):
        return _unpriced(f"capacityType {capacity!r} has no hourly list price here (only ON_DEMAND and SPOT)")

    types = _get(inputs, "instanceTypes")
    if types is None:
        types = list(DEFAULT_INSTANCE_TYPES)
        assumptions.append(f"instanceTypes not set: EKS's default {DEFAULT_INSTANCE_TYPES[0]}")
    if is_hidden(types) or not isinstance(types, list) or any(is_hidden(t) or not isinstance(t, str) for t in types) or not types:
        return _unpriced("instanceTypes is not known until apply")

    scaling = _get(inputs, "scalingConfig")
    if scaling is None:
        scaling = dict(DEFAULT_SCALING)
        assumptions.append("scalingConfig not set: EKS's default min 1, desired 2, max 2")
    if is_hidden(scaling) or not isinstance(scaling, dict):
        return _unpriced("scalingConfig is not known until apply")
    min_size = _whole(_get(scaling, "minSize"))
    max_size = _whole(_get(scaling, "maxSize"))
    desired = _whole(_get(scaling, "desiredSize"))
    if min_size is None:
        return _unpriced("scalingConfig.minSize is not known until apply")
    if desired is None:
        desired = min_size
        assumptions.append("scalingConfig.desiredSize not known: priced at minSize")
    if max_size is None:
        max_size = max(desired, min_size)
        assumptions.append("scalingConfig.maxSize not known: range capped at the desired size")

    disk = _get(inputs, "diskSize")
    if disk is None and _get(inputs, "launchTemplate") is None:
        disk = DEFAULT_DISK_GIB
        assumptions.append(f"diskSize not set: EKS's default {DEFAULT_DISK_GIB} GiB")
    disk_gib = _whole(disk) if not is_hidden(disk) else None
    gb_month = snapshot.ebs_gb_month(region, ROOT_VOLUME_TYPE) or 0.0
    if disk_gib is None:
        assumptions.append("root volume comes from a launch template or is unknown: not priced")
    volume_month = (disk_gib or 0) * gb_month

    own_prices = {t: snapshot.instance_hour(region, t, capacity) for t in types}
    on_demand = {t: snapshot.instance_hour(region, t, "ON_DEMAND") for t in types}
    priced = {t: p for t, p in own_prices.items() if p is not None}
    missing = [t for t, p in own_prices.items() if p is None]
    kind = "Spot" if capacity == "SPOT" else "On-Demand"
    if not priced:
        return _unpriced(
            f"no {kind} price for {', '.join(types)} in {region} in snapshot {snapshot.date}",
            capacityType=capacity,
            instanceTypes=list(types),
        )
    if missing:
        assumptions.append(f"no {kind} price for {', '.join(missing)} in the snapshot: priced over the other types")

    values = list(priced.values())
    if capacity == "SPOT":
        # EKS spreads Spot capacity over every listed type, so the mean is the expectation.
        expected, basis = fmean(values), "mean over the group's instance types"
    else:
        # On-Demand capacity follows the list order (prioritized allocation): the first type.
        expected, basis = next(iter(priced.values())), "first instance type (EKS On-Demand allocation is prioritized)"
    per_node = expected * hours + volume_month

    def at(nodes: int, hourly: float = expected) -> float:
        return nodes * (hourly * hours + volume_month)

    details: dict[str, Any] = {
        "kind": "nodeGroup",
        "region": region,
        "capacityType": capacity,
        "instanceTypes": list(types),
        "nodes": {"min": min_size, "desired": desired, "max": max_size},
        "hourlyPerNode": {
            "expected": round(expected, 6),
            "basis": basis,
            "mean": round(fmean(values), 6),
            "min": min(values),
            "max": max(values),
            "byType": priced,
        },
        "rootVolume": {"sizeGib": disk_gib, "type": ROOT_VOLUME_TYPE, "monthlyPerNode": round(volume_month, 2)},
        "monthlyPerNode": round(per_node, 2),
        "monthlyAtMin": round(at(min_size), 2),
        "monthlyAtMax": round(at(max_size), 2),
        "monthlyRangeAtDesired": [round(at(desired, min(values)), 2), round(at(desired, max(values)), 2)],
    }
    if capacity == "SPOT":
        comparable = [price for t in priced if (price := on_demand[t]) is not None]
        if comparable:
            od_hour = fmean(comparable)
            spot_instances = expected * hours
            od_instances = od_hour * hours
            details["spot"] = {
                "onDemandHourlyPerNode": round(od_hour, 6),
                "onDemandEquivalentMonthly": round(at(desired, od_hour), 2),
                "savingMonthly": round(desired * (od_instances - spot_instances), 2),
                "onDemandEquivalentMonthlyAtMax": round(at(max_size, od_hour), 2),
                "savingMonthlyAtMax": round(max_size * (od_instances - spot_instances), 2),
                "savingPercent": round(100 * (1 - expected / od_hour), 1),
            }
    if assumptions:
        details["assumptions"] = assumptions
    return Priced("fixed", desired * per_node, details)


def price_cluster(state: State, snapshot: PriceSnapshot) -> Priced:
    region = _region(state, snapshot)
    hourly = snapshot.hourly(region, "eksClusterHour")
    notes = ["standard support; a version in extended support costs more"]
    if _get(state.inputs, "enabledClusterLogTypes"):
        notes.append("control-plane logs go to CloudWatch Logs (usage-based)")
    if state.type == "eks:index:Cluster" and _get(state.inputs, "skipDefaultNodeGroup") is not True:
        notes.append("pulumi-eks also creates a default node group unless skipDefaultNodeGroup is true; it is not priced here")
    details = {"kind": "eksControlPlane", "region": region, "hourly": hourly, "notes": notes}
    return Priced("fixed", hourly * snapshot.hours_per_month, details)


def price_nat_gateway(state: State, snapshot: PriceSnapshot) -> Priced:
    region = _region(state, snapshot)
    hourly = snapshot.hourly(region, "natGatewayHour")
    details = {"kind": "natGateway", "region": region, "hourly": hourly, "notes": ["hours only; data processed per GB is usage-based"]}
    return Priced("fixed", hourly * snapshot.hours_per_month, details)


def price_public_ipv4(state: State, snapshot: PriceSnapshot) -> Priced:
    region = _region(state, snapshot)
    hourly = snapshot.hourly(region, "publicIpv4Hour")
    details = {"kind": "publicIpv4", "region": region, "hourly": hourly, "notes": ["every public IPv4 address is billed by the hour, attached or not"]}
    return Priced("fixed", hourly * snapshot.hours_per_month, details)


PRICERS: dict[str, Callable[[State, PriceSnapshot], Priced]] = {
    **{t: price_node_group for t in NODE_GROUP_TYPES},
    **{t: price_cluster for t in CLUSTER_TYPES},
    "aws:ec2/natGateway:NatGateway": price_nat_gateway,
    "aws:ec2/eip:Eip": price_public_ipv4,
}


def _looks_like_component(type_token: str) -> bool:
    """`pkg:module:Name` with no `/` in the module and no provider package: a ComponentResource."""
    parts = type_token.split(":")
    return len(parts) == 3 and "/" not in parts[1] and parts[0] not in PROVIDER_PACKAGES


def price_state(state: State, snapshot: PriceSnapshot) -> Priced:
    """The monthly cost of one resource state, or the category that explains why it has none."""
    pricer = PRICERS.get(state.type)
    if pricer is not None:
        return pricer(state, snapshot)
    if state.type in USAGE_BASED:
        return Priced("usage", 0.0, {"billedBy": USAGE_BASED[state.type]})
    if state.type.startswith("aws:s3/bucket"):
        return Priced("free", 0.0, {"note": "bucket configuration; the bucket itself is usage-based"})
    if state.type in FREE_TYPES or state.type.startswith(FREE_PREFIXES):
        return Priced("free", 0.0)
    if state.custom is False or (state.custom is None and _looks_like_component(state.type)):
        return Priced("component", 0.0, {"note": "a grouping; its children carry the cost"})
    return _unpriced(f"{state.type} has no price in this tool; check its pricing page")
