"""Price one resource state with a snapshot: a monthly figure, or why there is none.

Every resource lands in exactly one category, so nothing is dropped silently:
`fixed` (an hourly price: EKS control plane, node groups, NAT gateways, public IPv4),
`usage` (billed by use: S3, ECR, logs), `free`, `component` (a grouping whose
children carry the cost), `included` (priced through its child, set by the report),
or `unpriced` (with the reason).

A `PricingContext` carries what is not in the resource's inputs: the day whose EKS
support phase applies, the support calendar, and the usage file's figures for this
resource (a node group's average size, a bucket's storage and requests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from statistics import fmean
from typing import Any, Callable

from cost.calendar import SupportCalendar, load_calendar
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

VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
BUCKET_TYPES = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
# EKS CreateCluster and pulumi-eks both default the upgrade policy to EXTENDED.
DEFAULT_SUPPORT_TYPE = "EXTENDED"
# A support phase that changes within this many days is named next to the figure.
SUPPORT_WARNING_DAYS = 30

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
    "aws:ec2/vpcEndpointRouteTableAssociation:VpcEndpointRouteTableAssociation",
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
    at_max: float | None = None  # the month at every node group's maximum size; None: same as `monthly`

    @property
    def monthly_at_max(self) -> float | None:
        return self.monthly if self.at_max is None or self.monthly is None else self.at_max


@dataclass(frozen=True)
class BucketUsage:
    """A bucket's monthly use, from the usage file."""

    storage_gb: float = 0.0
    put_requests: float = 0.0  # PUT, COPY, POST, LIST
    get_requests: float = 0.0  # GET, SELECT and the rest


@dataclass(frozen=True)
class PricingContext:
    """What pricing needs besides the inputs: the day, the calendar, the usage file's figures."""

    on: date
    calendar: SupportCalendar | None = None
    average_nodes: float | None = None  # the usage file's average size of this node group
    bucket_usage: BucketUsage | None = None  # the usage file's figures for this bucket
    usage_counted: bool = False  # a usage file is in use

    @property
    def support_calendar(self) -> SupportCalendar:
        return self.calendar or load_calendar()


def today_context() -> PricingContext:
    """Price as of today (UTC) with the newest calendar and no usage file."""
    return PricingContext(on=datetime.now(timezone.utc).date())


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


def _clamped_nodes(min_size: int, desired: int, max_size: int, assumptions: list[str]) -> int:
    """The size AWS runs: a desired size outside [min, max] is moved to the nearer bound.

    botocore's autoscaling model, UpdateAutoScalingGroup: a new MinSize above the group's
    size sets DesiredCapacity to MinSize; a new MaxSize below it sets it to MaxSize.
    (pulumi-eks ignores desiredSize changes after creation, so a raised minSize is the way
    a preview shows a larger group.)
    """
    if desired < min_size:
        assumptions.append(f"desiredSize {desired} is below minSize {min_size}: AWS raises the group to {min_size}")
        return min_size
    if desired > max_size:
        assumptions.append(f"desiredSize {desired} is above maxSize {max_size}: AWS lowers the group to {max_size}")
        return max_size
    return desired


def price_node_group(state: State, snapshot: PriceSnapshot, context: PricingContext | None = None) -> Priced:
    """nodes × (hourly × hours + root volume): at the desired size clamped to [min, max], or at
    the usage file's average; also at min and at max. Spot groups at the mean over all types."""
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
    if max_size < min_size:
        return _unpriced(f"scalingConfig.maxSize {max_size} is below minSize {min_size}; EKS refuses such a group")
    declared = desired
    desired = _clamped_nodes(min_size, desired, max_size, assumptions)
    nodes: float = desired
    basis = "desired size"
    context = context or today_context()
    if context.average_nodes is not None:
        nodes = min(max(context.average_nodes, min_size), max_size)
        basis = f"usage file: {context.average_nodes:g} nodes on average"
        if nodes != context.average_nodes:
            basis += f", within min {min_size} and max {max_size}: {nodes:g}"

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
        hint = f"; run `python -m cost refresh-prices --spot --region {region}`" if capacity == "SPOT" else ""
        return _unpriced(
            f"no {kind} price for {', '.join(types)} in {region} in snapshot {snapshot.date}{hint}",
            capacityType=capacity,
            instanceTypes=list(types),
        )
    if missing:
        assumptions.append(f"no {kind} price for {', '.join(missing)} in the snapshot: priced over the other types")

    values = list(priced.values())
    if capacity == "SPOT":
        # EKS spreads Spot capacity over every listed type, so the mean is the expectation.
        expected, hourly_basis = fmean(values), "mean over the group's instance types"
    else:
        # On-Demand capacity follows the list order (prioritized allocation): the first type.
        expected, hourly_basis = next(iter(priced.values())), "first instance type (EKS On-Demand allocation is prioritized)"
    per_node = expected * hours + volume_month

    def at(count: float, hourly: float = expected) -> float:
        return count * (hourly * hours + volume_month)

    node_counts: dict[str, Any] = {"min": min_size, "desired": desired, "max": max_size}
    if declared != desired:
        node_counts["declaredDesired"] = declared
    details: dict[str, Any] = {
        "kind": "nodeGroup",
        "region": region,
        "capacityType": capacity,
        "instanceTypes": list(types),
        "nodes": node_counts,
        "nodesPriced": nodes,
        "nodesBasis": basis,
        "hourlyPerNode": {
            "expected": round(expected, 6),
            "basis": hourly_basis,
            "mean": round(fmean(values), 6),
            "min": min(values),
            "max": max(values),
            "byType": priced,
        },
        "rootVolume": {"sizeGib": disk_gib, "type": ROOT_VOLUME_TYPE, "monthlyPerNode": round(volume_month, 2)},
        "monthlyPerNode": round(per_node, 2),
        "monthlyAtMin": round(at(min_size), 2),
        "monthlyAtMax": round(at(max_size), 2),
        "monthlyRangeAtDesired": [round(at(nodes, min(values)), 2), round(at(nodes, max(values)), 2)],
    }
    if capacity == "SPOT":
        comparable = [price for t in priced if (price := on_demand[t]) is not None]
        if comparable:
            # The same capacity On-Demand: as many nodes of the same types, same root volumes.
            od_hour = fmean(comparable)
            od_month, od_max = at(nodes, od_hour), at(max_size, od_hour)
            details["spot"] = {
                "onDemandHourlyPerNode": round(od_hour, 6),
                "onDemandEquivalentMonthly": round(od_month, 2),
                "savingMonthly": round(od_month - at(nodes), 2),
                "onDemandEquivalentMonthlyAtMax": round(od_max, 2),
                "savingMonthlyAtMax": round(od_max - at(max_size), 2),
                "savingPercent": round(100 * (1 - at(nodes) / od_month), 1) if od_month else None,
                "instanceSavingPercent": round(100 * (1 - expected / od_hour), 1),
                "measuredTypes": sorted(t for t in priced if snapshot.spot_measured(region, t) is not None),
            }
    if assumptions:
        details["assumptions"] = assumptions
    return Priced("fixed", nodes * per_node, details, at_max=at(max_size))


def _support_type(inputs: dict[str, Any], notes: list[str]) -> str:
    policy = _get(inputs, "upgradePolicy")
    support = _get(policy, "supportType") if isinstance(policy, dict) else None
    if policy is None or support is None:
        notes.append(f"upgradePolicy not set: EKS's default {DEFAULT_SUPPORT_TYPE}")
        return DEFAULT_SUPPORT_TYPE
    if is_hidden(policy) or is_hidden(support):
        notes.append(f"upgradePolicy.supportType not known until apply: assumed {DEFAULT_SUPPORT_TYPE} (the dearer)")
        return DEFAULT_SUPPORT_TYPE
    return str(support).upper()


def price_cluster(state: State, snapshot: PriceSnapshot, context: PricingContext | None = None) -> Priced:
    """The control plane by the hour: standard or extended support, from the version, the
    upgrade policy and the EKS support calendar on the context's day.

    EKS API UpgradePolicyRequest: EXTENDED (the default) enters extended support at the end of
    standard support; STANDARD is upgraded automatically then. Extended support costs
    `eksExtendedClusterHour` ($0.60 instead of $0.10 per cluster-hour, AWS EKS pricing).
    """
    region = _region(state, snapshot)
    context = context or today_context()
    notes: list[str] = []
    support_type = _support_type(state.inputs, notes)
    if support_type not in ("STANDARD", "EXTENDED"):
        return _unpriced(f"upgradePolicy.supportType {support_type!r} is neither STANDARD nor EXTENDED")
    version = _get(state.inputs, "version")
    calendar = context.support_calendar
    details: dict[str, Any] = {"kind": "eksControlPlane", "region": region, "supportType": support_type,
                               "pricedOn": context.on.isoformat(), "supportCalendar": calendar.date}
    standard, extended = snapshot.hourly(region, "eksClusterHour"), snapshot.hourly(region, "eksExtendedClusterHour")
    warnings: list[str] = []
    if version is None:
        hourly, phase = standard, "standard"
        notes.append("version not set: EKS creates the cluster on its default version, which is in standard support")
    elif is_hidden(version):
        return _unpriced("version is not known until apply, so neither is the support phase")
    else:
        support = calendar.get(str(version))
        if support is None:
            return _unpriced(
                f"Kubernetes {version} is not in the EKS support calendar of {calendar.date}; "
                "add it with its dates and source to cost/prices/eks-support-YYYY-MM-DD.json"
            )
        details["version"] = str(version)
        phase = support.phase(context.on)
        if phase == "standard":
            hourly = standard
            end = support.end_of_standard
            if end - context.on <= timedelta(days=SUPPORT_WARNING_DAYS):
                later = extended if support_type == "EXTENDED" else standard
                what = ("enters extended support" if support_type == "EXTENDED"
                        else "is upgraded by EKS to the next version (upgradePolicy STANDARD)")
                warnings.append(f"Kubernetes {version} leaves standard support on {end.isoformat()}: the cluster then {what}, "
                                f"${later * snapshot.hours_per_month:,.2f}/month")
        elif support_type == "EXTENDED":
            hourly = extended
            notes.append(f"Kubernetes {version} left standard support on {support.end_of_standard.isoformat()}: extended support "
                         f"${extended:g}/h instead of ${standard:g}/h")
            if phase == "ended":
                notes.append(f"extended support ended on {support.end_of_extended.isoformat()}: EKS upgrades the cluster automatically")
        else:
            hourly = standard
            notes.append(f"Kubernetes {version} left standard support on {support.end_of_standard.isoformat()}; with upgradePolicy "
                         "STANDARD EKS upgrades the cluster automatically instead of charging for extended support")
        details["supportEnds"] = {"standard": support.end_of_standard.isoformat(), "extended": support.end_of_extended.isoformat()}
    details.update(supportPhase=phase, hourly=hourly)
    if _get(state.inputs, "enabledClusterLogTypes"):
        notes.append("control-plane logs go to CloudWatch Logs (usage-based)")
    if state.type == "eks:index:Cluster" and _get(state.inputs, "skipDefaultNodeGroup") is not True:
        notes.append("pulumi-eks also creates a default node group unless skipDefaultNodeGroup is true; it is not priced here")
    details["notes"] = notes
    if warnings:
        details["warnings"] = warnings
    return Priced("fixed", hourly * snapshot.hours_per_month, details)


def price_nat_gateway(state: State, snapshot: PriceSnapshot, context: PricingContext | None = None) -> Priced:
    region = _region(state, snapshot)
    hourly = snapshot.hourly(region, "natGatewayHour")
    details = {"kind": "natGateway", "region": region, "hourly": hourly,
               "notes": ["hours; data processed per GB is usage-based (the usage file's network figures)"]}
    return Priced("fixed", hourly * snapshot.hours_per_month, details)


def price_public_ipv4(state: State, snapshot: PriceSnapshot, context: PricingContext | None = None) -> Priced:
    region = _region(state, snapshot)
    hourly = snapshot.hourly(region, "publicIpv4Hour")
    details = {"kind": "publicIpv4", "region": region, "hourly": hourly, "notes": ["every public IPv4 address is billed by the hour, attached or not"]}
    return Priced("fixed", hourly * snapshot.hours_per_month, details)


def endpoint_type(inputs: dict[str, Any]) -> str:
    """A VPC endpoint's type: EC2 CreateVpcEndpoint and pulumi-aws default it to Gateway."""
    kind = _get(inputs, "vpcEndpointType")
    return "Gateway" if kind is None else ("unknown" if is_hidden(kind) else str(kind))


def is_s3_gateway_endpoint(state: State) -> bool:
    """A gateway endpoint for S3: its service name is `com.amazonaws.<region>.s3`."""
    service = _get(state.inputs, "serviceName")
    return (state.type == VPC_ENDPOINT and endpoint_type(state.inputs) == "Gateway"
            and isinstance(service, str) and not is_hidden(service) and service.endswith(".s3"))


def price_vpc_endpoint(state: State, snapshot: PriceSnapshot, context: PricingContext | None = None) -> Priced:
    """Gateway endpoints (S3, DynamoDB) are free (AWS prescriptive guidance WKLD.12, "come at no
    additional charge"); interface endpoints are billed per AZ-hour and GB, not in the snapshot."""
    kind = endpoint_type(state.inputs)
    if kind == "Gateway":
        service = _get(state.inputs, "serviceName")
        return Priced("free", 0.0, {"kind": "gatewayEndpoint", "service": None if is_hidden(service) else service,
                                    "note": "gateway endpoints have no hourly or per-GB charge"})
    return _unpriced(f"a VPC endpoint of type {kind} is billed per AZ-hour and per GB; its prices are not in the snapshot")


def price_bucket(state: State, snapshot: PriceSnapshot, context: PricingContext | None = None) -> Priced:
    """A bucket is usage-based: priced from the usage file's storage and requests, else listed as not counted."""
    usage = (context or today_context()).bucket_usage
    billed = USAGE_BASED[state.type]
    if usage is None:
        return Priced("usage", 0.0, {"billedBy": billed, "counted": False})
    region = _region(state, snapshot)
    prices = {key: snapshot.optional(region, key) for key in ("s3StandardGbMonth", "s3PutPer1000", "s3GetPer1000")}
    lacking = [key for key, value in prices.items() if value is None]
    if lacking:
        return _unpriced(f"the snapshot has no {', '.join(lacking)} for {region}", billedBy=billed)
    storage = usage.storage_gb * (prices["s3StandardGbMonth"] or 0.0)
    requests = usage.put_requests / 1000 * (prices["s3PutPer1000"] or 0.0) + usage.get_requests / 1000 * (prices["s3GetPer1000"] or 0.0)
    details = {"billedBy": billed, "counted": True, "region": region, "storageGb": usage.storage_gb,
               "putRequests": usage.put_requests, "getRequests": usage.get_requests,
               "monthlyStorage": round(storage, 2), "monthlyRequests": round(requests, 2)}
    return Priced("usage", storage + requests, details)


Pricer = Callable[[State, PriceSnapshot, "PricingContext | None"], Priced]
PRICERS: dict[str, Pricer] = {
    **{t: price_node_group for t in NODE_GROUP_TYPES},
    **{t: price_cluster for t in CLUSTER_TYPES},
    **{t: price_bucket for t in BUCKET_TYPES},
    NAT_GATEWAY: price_nat_gateway,
    "aws:ec2/eip:Eip": price_public_ipv4,
    VPC_ENDPOINT: price_vpc_endpoint,
}


def _looks_like_component(type_token: str) -> bool:
    """`pkg:module:Name` with no `/` in the module and no provider package: a ComponentResource."""
    parts = type_token.split(":")
    return len(parts) == 3 and "/" not in parts[1] and parts[0] not in PROVIDER_PACKAGES


def price_state(state: State, snapshot: PriceSnapshot, context: PricingContext | None = None) -> Priced:
    """The monthly cost of one resource state, or the category that explains why it has none."""
    pricer = PRICERS.get(state.type)
    if pricer is not None:
        return pricer(state, snapshot, context)
    if state.type in USAGE_BASED:
        return Priced("usage", 0.0, {"billedBy": USAGE_BASED[state.type]})
    if state.type.startswith("aws:s3/bucket"):
        return Priced("free", 0.0, {"note": "bucket configuration; the bucket itself is usage-based"})
    if state.type in FREE_TYPES or state.type.startswith(FREE_PREFIXES):
        return Priced("free", 0.0)
    if state.custom is False or (state.custom is None and _looks_like_component(state.type)):
        return Priced("component", 0.0, {"note": "a grouping; its children carry the cost"})
    return _unpriced(f"{state.type} has no price in this tool; check its pricing page")
