"""The guardrails as pure functions over plain resource records.

Every rule reads `Resource` records (type token, logical name, URN, props as plain
JSON-like values, property dependencies as URNs) and returns messages; nothing here
touches `pulumi_policy`, the engine or the disk. `policy.policies` wraps these rules
as CrossGuard policies for `pulumi preview --policy-pack policy`, and `policy.check`
runs those same policies over the offline plan.

A value the engine does not know yet (a preview's unknowns, the offline plan's
"(known after up)") arrives as `UNKNOWN`; a rule never fails on what it cannot see,
it decides again when `pulumi up` knows the value.

How resources are related to one another (the same in a real preview, after `up`,
and in the offline plan, strongest evidence first):
- an autoscaling `Tag` belongs to the node group whose ASG it names: the group's own
  ASG name when known (outputs after `up`), else an ASG name that starts with
  `eks-<node group name>-` (EKS names a managed group's ASG `eks-<group>-<uuid>`;
  the plan's mocks return `eks-<logical name>-asg`), else the engine's property
  dependency, else the Tag's logical name starting with `<group logical name>-`
  (infra/nodegroups.py names them so); the longest matching group name wins;
- a bucket's public-access block, encryption and lifecycle resources belong to the
  bucket their `bucket` input depends on (the engine's property dependency), else
  whose id or name equals that input, else the bucket of the same logical name;
- a subnet is public when it maps public IPs, carries the `kubernetes.io/role/elb`
  tag, is named `*-public-*` or is one of the cluster's public subnets; private
  when tagged `kubernetes.io/role/internal-elb`, named `*-private-*`, one of the
  cluster's private subnets, or configured (`privateSubnetIds`, for an existing VPC).
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from infra.instance_types import instance_architecture, instance_size

# Kept equal to infra/nodegroups.py and infra/storage.py by tests/test_policy_rules.py;
# the pack runs in its own venv where the Pulumi program's providers are not installed.
CAPACITY_TYPE_LABEL = "eks.amazonaws.com/capacityType"
ROLE_LABEL = "spark-eks-spot/role"
EVENT_LOG_PREFIX = "spark-events/"

AUTOSCALER_PREFIX = "k8s.io/cluster-autoscaler/"
NODE_TEMPLATE = f"{AUTOSCALER_PREFIX}node-template"
MIN_SPOT_TYPES = 3

NODE_GROUP_COMPONENT = "eks:index:ManagedNodeGroup"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NODE_GROUP_TYPES = (NODE_GROUP_COMPONENT, NODE_GROUP)
CLUSTER_COMPONENT = "eks:index:Cluster"
CLUSTER = "aws:eks/cluster:Cluster"
ASG_TAG = "aws:autoscaling/tag:Tag"
SUBNET = "aws:ec2/subnet:Subnet"
BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ACCOUNT_PUBLIC_ACCESS_BLOCK = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
ENCRYPTION_TYPES = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
LIFECYCLE_TYPES = (
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
)
ECR_REPOSITORY = "aws:ecr/repository:Repository"
POLICY_DOCUMENT_TYPES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
    "aws:s3/bucketPolicy:BucketPolicy",
)
IAM_ROLE = "aws:iam/role:Role"
POLICY_ATTACHMENT_TYPES = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
RBAC_BINDING = re.compile(r"^kubernetes:rbac\.authorization\.k8s\.io/v[^:]*:(Cluster)?RoleBinding$")

# AWS managed policies that grant `*`, `iam:*` or `s3:*` (or all but IAM).
BROAD_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess", "AmazonS3FullAccess")
BROAD_CLUSTER_ROLES = ("cluster-admin", "admin", "edit")
# IAM action verbs that only read; anything else is treated as a write.
READ_ONLY_VERBS = ("Describe", "Get", "List", "Head", "BatchGet", "BatchCheck", "Search", "Lookup", "View")
AUTOSCALER_SCALING_ACTIONS = frozenset(
    {"autoscaling:setdesiredcapacity", "autoscaling:terminateinstanceinautoscalinggroup"}
)
_RESOURCE_TAG_PREFIX = "aws:resourcetag/k8s.io/cluster-autoscaler/"
_EKS_CLUSTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
_REPELLING_EFFECTS = ("NO_SCHEDULE", "NO_EXECUTE")
# Cluster add-ons tolerate this taint: the EKS CoreDNS add-on by default, and the autoscaler
# through infra/autoscaler.py's values (the system group carries it).
_ADDON_TOLERATED_TAINT = "CriticalAddonsOnly"
# The node group roles infra/nodegroups.py labels (ROLE_LABEL); kept equal by tests/test_policy_rules.py.
DRIVER_ROLE, EXECUTOR_ROLE, SYSTEM_ROLE = "driver", "executor", "system"
_SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")


class _Unknown:
    """A value only `pulumi up` will know."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


@dataclass(frozen=True)
class Resource:
    """One resource as the rules see it: plain values, dependencies by URN."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    deps: Mapping[str, frozenset[str]] = field(default_factory=dict)


Finding = tuple[str, str]  # (URN of the resource at fault, message)


def stack_of(urn: str) -> str:
    """The stack name a URN (`urn:pulumi:<stack>::<project>::<type>::<name>`) was made in."""
    return urn.removeprefix("urn:pulumi:").split("::", 1)[0]


def is_prod(stack: str) -> bool:
    return stack.lower().startswith("prod")


def _get(mapping: Any, *path: str | int) -> Any:
    """A nested value, None when absent, UNKNOWN when any step is unknown."""
    value = mapping
    for step in path:
        if is_unknown(value):
            return UNKNOWN
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return None
        elif not isinstance(value, Mapping):
            return None
        value = value[step] if isinstance(value, list) else value.get(step)
    return value


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


# --- node groups -------------------------------------------------------------------


@dataclass(frozen=True)
class NodeGroupView:
    """What the rules need of a managed node group, component or plain."""

    resource: Resource
    capacity_type: Any
    ami_type: Any
    instance_types: Any
    labels: Any
    taints: Any
    min_size: Any
    subnet_ids: Any
    node_group_name: Any
    asg_names: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.resource.name

    @property
    def role(self) -> Any:
        return UNKNOWN if is_unknown(self.labels) else (self.labels or {}).get(ROLE_LABEL)


def node_group_view(resource: Resource) -> NodeGroupView | None:
    """The group's settings, or None when the record carries none of them.

    A pulumi-eks `ManagedNodeGroup` reaches a stack policy with its outputs only (its
    `nodeGroup` reference), not the inputs; its child `aws:eks/nodeGroup:NodeGroup`
    carries the settings there. Its inputs always include `cluster`, so that key tells
    the two records apart.
    """
    if resource.type not in NODE_GROUP_TYPES:
        return None
    props = resource.props
    if resource.type == NODE_GROUP_COMPONENT and "cluster" not in props:
        return None
    asg_names: list[str] = []
    for group_resources in _as_list(_get(props, "resources")):
        for asg in _as_list(_get(group_resources, "autoscalingGroups")):
            name = _get(asg, "name")
            if isinstance(name, str):
                asg_names.append(name)
    capacity = props.get("capacityType")
    return NodeGroupView(
        resource=resource,
        # ON_DEMAND is the EKS default when capacityType is not set.
        capacity_type="ON_DEMAND" if capacity is None else capacity,
        ami_type=props.get("amiType"),
        instance_types=props.get("instanceTypes"),
        labels={} if props.get("labels") is None else props.get("labels"),
        taints=props.get("taints"),
        min_size=_get(props, "scalingConfig", "minSize"),
        subnet_ids=props.get("subnetIds"),
        node_group_name=props.get("nodeGroupName"),
        asg_names=tuple(asg_names),
    )


def _taint_list(taints: Any) -> list[Mapping[str, Any]]:
    return [t for t in _as_list(taints) if isinstance(t, Mapping)]


def _repels_addons(taints: Any) -> Any:
    """True when add-ons cannot land on the group; UNKNOWN when the taints are unknown."""
    if is_unknown(taints) or any(is_unknown(t) for t in _as_list(taints)):
        return UNKNOWN
    return any(
        taint.get("effect") in _REPELLING_EFFECTS and taint.get("key") != _ADDON_TOLERATED_TAINT
        for taint in _taint_list(taints)
    )


def check_on_demand_for_drivers(resource: Resource) -> list[str]:
    """Drivers and cluster add-ons (the system group) must never run on Spot: a reclaim would kill them."""
    group = node_group_view(resource)
    if group is None or group.capacity_type != "SPOT":
        return []
    problems = []
    if group.role == DRIVER_ROLE:
        problems.append(
            f"runs Spark drivers (label {ROLE_LABEL}={DRIVER_ROLE}) on SPOT capacity, so a Spot reclaim kills "
            "the whole job: set capacityType ON_DEMAND (drivers are always On-Demand in infra/nodegroups.py)"
        )
    elif group.role == SYSTEM_ROLE:
        problems.append(
            f"runs the cluster add-ons (label {ROLE_LABEL}={SYSTEM_ROLE}: CoreDNS, the cluster-autoscaler) on SPOT "
            "capacity, so a Spot reclaim takes DNS and the scaler down with the node: set capacityType ON_DEMAND "
            "(the system group is always On-Demand in infra/nodegroups.py)"
        )
    elif _repels_addons(group.taints) is False:
        problems.append(
            "is SPOT but has no NoSchedule/NoExecute taint, so cluster add-ons (CoreDNS, the autoscaler) "
            "can land on it and die with a reclaim: set capacityType ON_DEMAND, or taint it like the "
            "executor group (spark-eks-spot/spot=true:NoSchedule)"
        )
    return problems


def _type_list(instance_types: Any) -> Any:
    types = _as_list(instance_types)
    if is_unknown(instance_types) or any(not isinstance(t, str) for t in types):
        return UNKNOWN
    return types


def check_spot_executors(resource: Resource) -> list[str]:
    """The executor group is SPOT; every Spot group spans >= 3 instance types of one size."""
    group = node_group_view(resource)
    if group is None:
        return []
    problems = []
    if group.role == EXECUTOR_ROLE and group.capacity_type != "SPOT" and not is_unknown(group.capacity_type):
        problems.append(
            f"is the executor group (label {ROLE_LABEL}=executor) but its capacityType is "
            f"{group.capacity_type}: set capacityType SPOT; executors are the Spot half of the design"
        )
    if group.capacity_type != "SPOT":
        return problems
    types = _type_list(group.instance_types)
    if is_unknown(types):
        return problems
    distinct = list(dict.fromkeys(types))
    if len(distinct) < MIN_SPOT_TYPES:
        problems.append(
            f"is SPOT with {len(distinct)} instance type(s) ({', '.join(distinct) or 'none'}): list at least "
            f"{MIN_SPOT_TYPES} types of one vCPU/memory size (e.g. m5.xlarge, m5a.xlarge, m5d.xlarge) so one "
            "reclaimed Spot pool cannot starve the executors"
        )
    unknown_types = [t for t in distinct if instance_size(t) is None]
    if unknown_types:
        problems.append(
            f"instance type(s) {', '.join(unknown_types)} are not in infra/instance_types.py, so their size "
            "cannot be checked: add them there with their vCPU and memory, or use listed types"
        )
    sizes = {t: instance_size(t) for t in distinct if instance_size(t) is not None}
    if len({(s.vcpu, s.memory_gib) for s in sizes.values()}) > 1:  # type: ignore[union-attr]
        listed = ", ".join(f"{t} ({s.vcpu} vCPU/{s.memory_gib} GiB)" for t, s in sizes.items())  # type: ignore[union-attr]
        problems.append(
            f"mixes instance sizes ({listed}); the cluster-autoscaler models a group by one type: keep "
            "one vCPU/memory size per Spot group, or make one group per size"
        )
    return problems


def ami_architecture(ami_type: Any) -> str | None:
    """x86_64 or arm64 for an EKS AMI type (AL2023_ARM_64_STANDARD, BOTTLEROCKET_x86_64 …), None when it names neither."""
    if not isinstance(ami_type, str):
        return None
    if "ARM_64" in ami_type:
        return "arm64"
    if "x86_64" in ami_type:
        return "x86_64"
    return None


def check_one_architecture(resource: Resource) -> list[str]:
    """Every instance type of a group has the architecture of its AMI type.

    A managed node group runs one AMI; EKS refuses instance types of the other architecture
    ("The architecture 'x86_64' of the specified instance type does not match the architecture
    'arm64' of the specified AMI", eksctl-io/eksctl#4319; mixed groups are an open request,
    aws/containers-roadmap#1241).
    """
    group = node_group_view(resource)
    if group is None:
        return []
    architecture = ami_architecture(group.ami_type)
    types = _type_list(group.instance_types)
    if architecture is None or is_unknown(types):
        return []
    other = [t for t in dict.fromkeys(types) if instance_architecture(t) not in (None, architecture)]
    if not other:
        return []
    listed = ", ".join(f"{t} ({instance_architecture(t)})" for t in other)
    return [
        f"runs AMI type {group.ami_type} ({architecture}) but lists {listed}: EKS refuses a group whose instance "
        f"types do not match its AMI's architecture; list only {architecture} types (architecture setting of the "
        "group in the stack config), or put the others in a group of their own"
    ]


def check_spot_scale_to_zero(resource: Resource) -> list[str]:
    """Advisory: outside prod, idle Spot executors should cost nothing."""
    group = node_group_view(resource)
    if group is None or is_prod(stack_of(resource.urn)):
        return []
    if group.capacity_type != "SPOT" or group.role == DRIVER_ROLE:
        return []
    if isinstance(group.min_size, (int, float)) and group.min_size > 0:
        return [
            f"keeps {int(group.min_size)} Spot executor node(s) running when no job runs: set "
            "executors.minSize: 0 in the stack config; the autoscaler adds nodes when a job asks"
        ]
    return []


def expected_asg_tags(group: NodeGroupView) -> dict[str, Any]:
    """The node-template tags the cluster-autoscaler needs on the group's ASG (values UNKNOWN when unknown).

    The discovery tags are not among them: EKS puts them on a managed node group's ASG
    itself (EKS user guide, managed-node-groups).
    """
    expected: dict[str, Any] = {f"{NODE_TEMPLATE}/label/{CAPACITY_TYPE_LABEL}": group.capacity_type}
    if isinstance(group.labels, Mapping):
        for key, value in group.labels.items():
            expected[f"{NODE_TEMPLATE}/label/{key}"] = value
    if not is_unknown(group.taints):
        for taint in _taint_list(group.taints):
            if isinstance(taint.get("key"), str):
                effect = taint.get("effect")
                value = (
                    f"{taint.get('value', '')}:{_TAINT_EFFECTS.get(effect, effect)}"
                    if isinstance(effect, str) and isinstance(taint.get("value", ""), str)
                    else UNKNOWN
                )
                expected[f"{NODE_TEMPLATE}/taint/{taint['key']}"] = value
    return expected


def is_discovery_tag(key: str) -> bool:
    """`k8s.io/cluster-autoscaler/enabled` or `k8s.io/cluster-autoscaler/<cluster>`: what EKS tags itself."""
    return key.startswith(AUTOSCALER_PREFIX) and not key.startswith(f"{NODE_TEMPLATE}/")


def _longest(groups: Iterable[NodeGroupView]) -> list[NodeGroupView]:
    groups = list(groups)
    if not groups:
        return []
    longest = max(len(g.name) for g in groups)
    return [g for g in groups if len(g.name) == longest]


def groups_of_tag(tag: Resource, groups: list[NodeGroupView]) -> list[NodeGroupView]:
    """The node group(s) whose ASG a Tag resource tags (see the module docstring)."""
    asg = tag.props.get("autoscalingGroupName")
    if isinstance(asg, str):
        exact = [g for g in groups if asg in g.asg_names]
        if exact:
            return exact
        by_physical = [
            g for g in groups if isinstance(g.node_group_name, str) and asg.startswith(f"eks-{g.node_group_name}-")
        ]
        if by_physical:
            return by_physical
        by_logical = _longest(g for g in groups if asg.startswith(f"eks-{g.name}-"))
        if by_logical:
            return by_logical
        if any(g.asg_names for g in groups):
            return []  # the ASGs are known and this is none of them
    depended = tag.deps.get("autoscalingGroupName", frozenset())
    by_dependency = [g for g in groups if g.resource.urn in depended]
    if by_dependency:
        return by_dependency
    return _longest(g for g in groups if tag.name.startswith(f"{g.name}-"))


def check_asg_tags(resources: list[Resource]) -> list[Finding]:
    """Every node group's ASG carries the node-template tags, and no discovery tag of its own.

    EKS tags a managed node group's ASG for auto-discovery itself; a Tag resource for the
    same key would, when deleted, take EKS's tag off the ASG and the autoscaler would lose it.
    """
    groups = [g for g in map(node_group_view, resources) if g is not None]
    tags_by_group: dict[str, dict[str, list[Any]]] = {g.resource.urn: {} for g in groups}
    for tag in (r for r in resources if r.type == ASG_TAG):
        key, value = _get(tag.props, "tag", "key"), _get(tag.props, "tag", "value")
        if not isinstance(key, str):
            continue
        for group in groups_of_tag(tag, groups):
            tags_by_group[group.resource.urn].setdefault(key, []).append(value)
    findings: list[Finding] = []
    for group in groups:
        present = tags_by_group[group.resource.urn]
        expected = expected_asg_tags(group)
        missing = [key for key in expected if key not in present]
        wrong = [
            f"{key}={values[0]!r} (want {expected[key]!r})"
            for key, values in present.items()
            if key in expected
            and not is_unknown(expected[key])
            and all(not is_unknown(v) for v in values)
            and expected[key] not in values
        ]
        declared_discovery = sorted(key for key in present if is_discovery_tag(key))
        if missing:
            findings.append(
                (
                    group.resource.urn,
                    f"its Auto Scaling group lacks the cluster-autoscaler tag(s) {', '.join(missing)}: add an "
                    "aws.autoscaling.Tag per tag on the group's ASG (infra/nodegroups.autoscaler_asg_tags); managed "
                    "node group tags do not reach the ASG, and without them the autoscaler cannot scale the "
                    "group up from zero",
                )
            )
        if wrong:
            findings.append(
                (
                    group.resource.urn,
                    f"its Auto Scaling group has wrong cluster-autoscaler tag value(s) {'; '.join(wrong)}: make the "
                    "node-template tags match the group's capacity type, labels and taints",
                )
            )
        if declared_discovery:
            findings.append(
                (
                    group.resource.urn,
                    f"declares the discovery tag(s) {', '.join(declared_discovery)} on its Auto Scaling group, which "
                    "EKS already puts on a managed node group's ASG; deleting such a Tag resource strips EKS's own "
                    "tag and the autoscaler stops finding the group: remove the Tag resources",
                )
            )
    return findings


# --- network and endpoint ------------------------------------------------------------


def _name_tokens(name: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", name.lower()))


def _subnet_kind(subnet: Resource) -> str | None:
    props = subnet.props
    tags = props.get("tags") if isinstance(props.get("tags"), Mapping) else {}
    tokens = _name_tokens(subnet.name)
    if props.get("mapPublicIpOnLaunch") is True or "kubernetes.io/role/elb" in tags or "public" in tokens:
        return "public"
    if "kubernetes.io/role/internal-elb" in tags or "private" in tokens:
        return "private"
    return None


def _known_strings(value: Any) -> list[str]:
    return [v for v in _as_list(value) if isinstance(v, str)]


def check_private_subnets(resources: list[Resource], configured_private: Iterable[str] = ()) -> list[Finding]:
    """Node groups only in private subnets (no node gets a path from the internet)."""
    public_ids: dict[str, str] = {}
    private_ids: set[str] = set(configured_private)
    public_urns: dict[str, str] = {}
    for resource in resources:
        if resource.type == CLUSTER_COMPONENT:
            for source in (resource.props, _get(resource.props, "core")):
                if isinstance(source, Mapping):
                    private_ids.update(_known_strings(source.get("privateSubnetIds")))
                    for subnet_id in _known_strings(source.get("publicSubnetIds")):
                        public_ids[subnet_id] = f"{subnet_id} (a public subnet of {resource.name})"
        elif resource.type == SUBNET:
            kind = _subnet_kind(resource)
            subnet_id = resource.props.get("id")
            if kind == "public":
                public_urns[resource.urn] = resource.name
                if isinstance(subnet_id, str):
                    public_ids[subnet_id] = resource.name
            elif kind == "private" and isinstance(subnet_id, str):
                private_ids.add(subnet_id)
    private_ids -= set(public_ids)
    findings: list[Finding] = []
    for group in filter(None, map(node_group_view, resources)):
        # Name the subnets by resource when the engine relates them, else by id.
        public = sorted(
            {public_urns[urn] for urn in group.resource.deps.get("subnetIds", frozenset()) if urn in public_urns}
        ) or sorted({public_ids[s] for s in _known_strings(group.subnet_ids) if s in public_ids})
        unproven = [s for s in _known_strings(group.subnet_ids) if s not in public_ids and s not in private_ids]
        if public:
            findings.append(
                (
                    group.resource.urn,
                    f"places nodes in public subnet(s) {', '.join(public)}: pass only the private subnets "
                    "(network.private_subnet_ids, or network.privateSubnetIds of an existing VPC)",
                )
            )
        elif private_ids and unproven:
            findings.append(
                (
                    group.resource.urn,
                    f"places nodes in subnet(s) {', '.join(unproven)} that are not among the private subnets "
                    f"({', '.join(sorted(private_ids))}): use only those, or add the subnet to "
                    "network.privateSubnetIds if it really is private",
                )
            )
    return findings


def _endpoint_settings(resource: Resource) -> tuple[Any, Any] | None:
    if resource.type == CLUSTER_COMPONENT:
        props: Any = resource.props
    elif resource.type == CLUSTER:
        props = _get(resource.props, "vpcConfig") or {}
    else:
        return None
    if is_unknown(props):
        return None
    public = props.get("endpointPublicAccess")
    return (True if public is None else public), props.get("publicAccessCidrs")


def check_prod_endpoint(resource: Resource) -> list[str]:
    """In prod, a public API endpoint is reachable only from an allow-list."""
    settings = _endpoint_settings(resource)
    if settings is None or not is_prod(stack_of(resource.urn)):
        return []
    public, cidrs = settings
    if public is not True or is_unknown(cidrs):
        return []
    fix = (
        "set apiEndpoint.publicAccessCidrs in the stack config to your office/VPN ranges, "
        "or apiEndpoint.publicAccess: false"
    )
    listed = _as_list(cidrs)
    if not listed:
        return [f"opens the public API endpoint of a prod cluster to the whole internet (no publicAccessCidrs): {fix}"]
    problems = []
    for cidr in listed:
        if is_unknown(cidr):
            continue
        try:
            network = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            problems.append(f"publicAccessCidrs entry {cidr!r} is not a CIDR: {fix}")
            continue
        if network.prefixlen == 0:
            problems.append(f"opens the public API endpoint of a prod cluster to {cidr} (everyone): {fix}")
    return problems


# --- IAM ----------------------------------------------------------------------------------


def _is_read_only(action: str) -> bool:
    verb = action.split(":", 1)[1] if ":" in action else action
    return any(verb.startswith(prefix) for prefix in READ_ONLY_VERBS)


def _is_all_resources(resource: Any) -> bool:
    return isinstance(resource, str) and (resource == "*" or re.fullmatch(r"arn:[^:]*:\*(:\*)*", resource) is not None)


def _scopes_to_own_cluster(condition: Any) -> bool:
    """The autoscaler's exception: StringEquals aws:ResourceTag/k8s.io/cluster-autoscaler/<cluster> = owned."""
    equals = condition.get("StringEquals") if isinstance(condition, Mapping) else None
    if not isinstance(equals, Mapping):
        return False
    for key, value in equals.items():
        if not isinstance(key, str) or not key.lower().startswith(_RESOURCE_TAG_PREFIX):
            continue
        cluster = key[len(_RESOURCE_TAG_PREFIX):]
        values = _as_list(value)
        if _EKS_CLUSTER_NAME.fullmatch(cluster) and values == ["owned"]:
            return True
    return False


def is_autoscaler_exception(statement: Mapping[str, Any]) -> bool:
    """Only SetDesiredCapacity/TerminateInstanceInAutoScalingGroup, only on this cluster's groups."""
    actions = _as_list(statement.get("Action"))
    return (
        bool(actions)
        and all(isinstance(a, str) and a.lower() in AUTOSCALER_SCALING_ACTIONS for a in actions)
        and _scopes_to_own_cluster(statement.get("Condition"))
    )


def statement_problems(statement: Any, label: str) -> list[str]:
    """What is too broad in one policy statement (Deny statements never are)."""
    if not isinstance(statement, Mapping):
        return [f"{label} is not a JSON object: write each statement as {{\"Effect\", \"Action\", \"Resource\"}}"]
    if str(statement.get("Effect", "Allow")).lower() == "deny":
        return []
    problems = []
    if "NotAction" in statement:
        problems.append(f"{label} allows NotAction, i.e. every action not listed: list the allowed actions in Action")
    actions = [a for a in _as_list(statement.get("Action")) if isinstance(a, str)]
    for action in actions:
        if action == "*" or re.fullmatch(r"[A-Za-z0-9-]+:\*", action) or action == "*:*":
            scope = "every AWS action" if action.startswith("*") else f"every {action.split(':')[0]} action"
            problems.append(f"{label} allows Action {action!r} ({scope}): list only the actions the role needs")
    resources = _as_list(statement.get("Resource"))
    everything = "NotResource" in statement or any(_is_all_resources(r) for r in resources)
    if everything and not is_autoscaler_exception(statement):
        writes = [a for a in actions if not _is_read_only(a)]
        if writes:
            problems.append(
                f"{label} allows write action(s) {', '.join(writes)} on Resource '*': scope Resource to the "
                "ARNs they act on (the only exception is the cluster-autoscaler's SetDesiredCapacity/"
                "TerminateInstanceInAutoScalingGroup with StringEquals "
                "aws:ResourceTag/k8s.io/cluster-autoscaler/<cluster> = owned)"
            )
    return problems


def document_problems(document: Any, where: str) -> list[str]:
    """Problems of one policy document given as JSON text or an object."""
    if document is None or is_unknown(document):
        return []
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return [f"{where} is not valid JSON: fix the policy document"]
    if not isinstance(document, Mapping):
        return [f"{where} is not a JSON object with a Statement list: fix the policy document"]
    statements = document.get("Statement")
    if is_unknown(statements):
        return []
    problems = []
    for index, statement in enumerate(_as_list(statements)):
        sid = statement.get("Sid") if isinstance(statement, Mapping) else None
        label = f"{where} statement {sid!r}" if isinstance(sid, str) and sid else f"{where} statement #{index + 1}"
        problems.extend(statement_problems(statement, label))
    return problems


def _broad_managed_policy(arn: Any) -> str | None:
    if not isinstance(arn, str):
        return None
    for name in BROAD_MANAGED_POLICIES:
        if re.fullmatch(rf"arn:[^:]+:iam::aws:policy/(.*/)?{name}", arn):
            return name
    return None


def check_iam(resource: Resource) -> list[str]:
    """No Action `*`/`<service>:*`, no write on Resource `*` (bar the autoscaler), no admin-class managed policy."""
    props = resource.props
    problems: list[str] = []
    if resource.type in POLICY_DOCUMENT_TYPES:
        problems.extend(document_problems(props.get("policy"), "the policy"))
    elif resource.type == IAM_ROLE:
        inline = props.get("inlinePolicies")
        for index, entry in enumerate(_as_list(inline) if not is_unknown(inline) else []):
            if isinstance(entry, Mapping):
                name = entry.get("name") if isinstance(entry.get("name"), str) else f"#{index + 1}"
                problems.extend(document_problems(entry.get("policy"), f"inline policy {name}"))
        arns = props.get("managedPolicyArns")
        for arn in _as_list(arns) if not is_unknown(arns) else []:
            if (name := _broad_managed_policy(arn)) is not None:
                problems.append(
                    f"attaches AWS managed {name}, which grants far more than Spark needs: attach a policy "
                    "scoped to the role's work instead (see infra/iam.py)"
                )
    elif resource.type in POLICY_ATTACHMENT_TYPES:
        if (name := _broad_managed_policy(props.get("policyArn"))) is not None:
            problems.append(
                f"attaches AWS managed {name}, which grants far more than Spark needs: attach a policy "
                "scoped to the role's work instead (see infra/iam.py)"
            )
    return problems


# --- storage and images ---------------------------------------------------------------------


def check_ecr_scan_on_push(resource: Resource) -> list[str]:
    if resource.type != ECR_REPOSITORY:
        return []
    scan = _get(resource.props, "imageScanningConfiguration", "scanOnPush")
    if is_unknown(scan) or scan is True:
        return []
    return [
        "does not scan images on push: set image_scanning_configuration="
        "aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True)"
    ]


def _bucket_ids(bucket: Resource) -> set[str]:
    return {v for v in (bucket.props.get("id"), bucket.props.get("bucket")) if isinstance(v, str)}


def belongs_to(config: Resource, bucket: Resource) -> bool:
    """Whether a bucket-level configuration resource configures `bucket` (module docstring)."""
    depended = config.deps.get("bucket")
    if depended:
        return bucket.urn in depended
    value = config.props.get("bucket")
    ids = _bucket_ids(bucket)
    if isinstance(value, str) and ids:
        return value in ids
    return config.name == bucket.name


def check_buckets(resources: list[Resource]) -> list[Finding]:
    """Every bucket blocks all public access and is encrypted at rest."""
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    account_blocks = [r for r in resources if r.type == ACCOUNT_PUBLIC_ACCESS_BLOCK]
    account_covers = any(all(r.props.get(f) is True for f in flags) for r in account_blocks)
    findings: list[Finding] = []
    for bucket in (r for r in resources if r.type in BUCKET_TYPES):
        blocks = [r for r in resources if r.type == PUBLIC_ACCESS_BLOCK and belongs_to(r, bucket)]
        if not account_covers:
            if not blocks:
                findings.append(
                    (
                        bucket.urn,
                        "has no public access block: add aws.s3.BucketPublicAccessBlock(bucket=<bucket>.id, "
                        "block_public_acls=True, block_public_policy=True, ignore_public_acls=True, "
                        "restrict_public_buckets=True)",
                    )
                )
            for block in blocks:
                off = [f for f in flags if block.props.get(f) is not True and not is_unknown(block.props.get(f))]
                if off:
                    findings.append(
                        (
                            block.urn,
                            f"leaves public access open ({', '.join(f'{f}={block.props.get(f)!r}' for f in off)}): "
                            "set all four of blockPublicAcls, blockPublicPolicy, ignorePublicAcls, "
                            "restrictPublicBuckets to true",
                        )
                    )
        inline = _get(bucket.props, "serverSideEncryptionConfiguration", "rule", "applyServerSideEncryptionByDefault", "sseAlgorithm")
        algorithms = [inline]
        for config in (r for r in resources if r.type in ENCRYPTION_TYPES and belongs_to(r, bucket)):
            rules = config.props.get("rules")
            if is_unknown(rules):
                algorithms.append(UNKNOWN)
            for rule in _as_list(rules) if not is_unknown(rules) else []:
                algorithms.append(_get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm"))
        if not any(a in _SSE_ALGORITHMS or is_unknown(a) for a in algorithms):
            findings.append(
                (
                    bucket.urn,
                    "is not encrypted at rest by configuration: add aws.s3.BucketServerSideEncryptionConfiguration"
                    "(bucket=<bucket>.id) with sse_algorithm aws:kms (or AES256)",
                )
            )
    return findings


def _expires(rule: Mapping[str, Any], enabled: bool) -> bool:
    expiration = rule.get("expiration")
    if isinstance(expiration, list):
        expiration = expiration[0] if expiration else None
    if not enabled or not isinstance(expiration, Mapping):
        return False
    days = expiration.get("days")
    return (isinstance(days, (int, float)) and days > 0) or isinstance(expiration.get("date"), str) or is_unknown(days)


def _covers_event_logs(prefix: Any) -> bool:
    return is_unknown(prefix) or (isinstance(prefix, str) and EVENT_LOG_PREFIX.startswith(prefix))


def check_event_log_lifecycle(resources: list[Resource]) -> list[Finding]:
    """Advisory: Spark event logs (spark-events/) expire instead of piling up forever."""
    findings: list[Finding] = []
    for bucket in (r for r in resources if r.type in BUCKET_TYPES):
        covered = False
        for rule in _as_list(bucket.props.get("lifecycleRules")):
            if isinstance(rule, Mapping) and _expires(rule, rule.get("enabled") is True):
                covered = covered or _covers_event_logs(rule.get("prefix") or "")
        for config in (r for r in resources if r.type in LIFECYCLE_TYPES and belongs_to(r, bucket)):
            rules = config.props.get("rules")
            if is_unknown(rules):
                covered = True
                continue
            for rule in _as_list(rules):
                if not isinstance(rule, Mapping) or not _expires(rule, rule.get("status") == "Enabled"):
                    continue
                prefix = _get(rule, "filter", "prefix")
                if prefix is None:
                    prefix = _get(rule, "filter", "and", "prefix")
                if prefix is None:
                    prefix = rule.get("prefix") if "prefix" in rule else ("" if not rule.get("filter") else None)
                covered = covered or _covers_event_logs(prefix)
        if not covered:
            findings.append(
                (
                    bucket.urn,
                    f"keeps Spark event logs ({EVENT_LOG_PREFIX}) forever: add an enabled lifecycle rule with "
                    f"filter prefix {EVENT_LOG_PREFIX} and an expiration (bucket.eventLogRetentionDays)",
                )
            )
    return findings


# --- Kubernetes RBAC ---------------------------------------------------------------------


def _mentions_spark(*values: Any) -> bool:
    return any(isinstance(v, str) and "spark" in v.lower() for v in values)


def check_spark_rbac(resource: Resource) -> list[str]:
    """Spark's identities get a namespaced Role, never cluster-admin, admin or edit."""
    if not RBAC_BINDING.match(resource.type):
        return []
    props = resource.props
    role_kind, role_name = _get(props, "roleRef", "kind"), _get(props, "roleRef", "name")
    if role_kind != "ClusterRole" or role_name not in BROAD_CLUSTER_ROLES:
        return []
    subjects = [s for s in _as_list(props.get("subjects")) if isinstance(s, Mapping)]
    labels = _get(props, "metadata", "labels")
    for_spark = (
        _mentions_spark(_get(props, "metadata", "namespace"), _get(props, "metadata", "name"))
        or (isinstance(labels, Mapping) and labels.get("app.kubernetes.io/part-of") == "spark-eks-spot")
        or any(s.get("kind") == "ServiceAccount" or _mentions_spark(s.get("name"), s.get("namespace")) for s in subjects)
    )
    if not for_spark:
        return []
    return [
        f"binds ClusterRole {role_name!r} to Spark (or another workload's service account), which lets a job "
        "change anything it reaches: bind a namespaced Role with only pods, services, configmaps and "
        "persistentvolumeclaims verbs instead (infra/spark_rbac.py)"
    ]

