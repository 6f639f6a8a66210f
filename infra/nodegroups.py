"""The managed node groups, and the Auto Scaling group tags the cluster-autoscaler reads.

Three kinds of group. A small On-Demand `system` group runs the cluster add-ons (CoreDNS,
the cluster-autoscaler) and is tainted so Spark never lands there: its one node is the
cluster's only always-on compute. Drivers run On-Demand, so a Spot reclaim never kills a
job's driver, in a group that scales from zero when a driver is pending. Executors run on
Spot across several same-size instance types, x86_64 or arm64 (Graviton), one
architecture per group. Each kind of group is one `NodeGroupSpec` (`node_group_specs`),
so another kind is one more entry.

EKS tags a managed node group's Auto Scaling group for the autoscaler's auto-discovery
itself (EKS user guide, managed-node-groups: "Amazon EKS tags managed node group resources
so that they are configured to use the Kubernetes Cluster Autoscaler"), so those tags are
not declared here. The node-template tags are: EKS does not add them, managed node group
tags do not reach the ASG (aws/containers-roadmap#608), and without them the autoscaler
cannot scale a group up from zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks

from infra.asg_tags import (
    CAPACITY_TYPE_LABEL,
    ROLE_LABEL,
    SPOT_TAINT,
    SYSTEM_NODE_SELECTOR,
    SYSTEM_ROLE,
    SYSTEM_TAINT,
    SYSTEM_TOLERATION,
    TAINT_EFFECTS,
    label_tag_key,
    resource_tag_key,
    tag_name_suffix,
    taint_tag_key,
)
from infra.settings import NodeGroupSettings

__all__ = [
    "CAPACITY_TYPE_LABEL", "ROLE_LABEL", "SPOT_TAINT", "SYSTEM_TAINT", "SYSTEM_NODE_SELECTOR", "SYSTEM_TOLERATION",
    "AMI_TYPES", "AMI_TYPE", "NodeGroups", "NodeGroupsArgs",
]

# EKS AMI type per CPU architecture (CreateNodegroup amiType; pulumi-eks nodejs/eks/nodes/ami.ts
# gives AL2023_ARM_64_STANDARD the arm64 architecture).
AMI_TYPES = {"x86_64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}
# The default architecture's AMI (the architecture `jobs image build` targets unless told more).
AMI_TYPE = AMI_TYPES["x86_64"]

# What the kubelet of an AL2023 EKS node keeps from its root disk (ephemeral storage):
# nodeadm sets kubeReserved ephemeral-storage 1Gi and evictionHard nodefs.available 10%
# (awslabs/amazon-eks-ami nodeadm/internal/kubelet/config.go), and the kubelet subtracts
# both from the filesystem's capacity: allocatable = capacity - reserved - hard eviction
# threshold (kubernetes/community design-proposals/node/node-allocatable.md).
KUBE_RESERVED_EPHEMERAL_MIB = 1024
EVICTION_HARD_NODEFS_AVAILABLE = 0.10
# The root filesystem is the disk less its boot partitions and filesystem metadata (XFS
# log): an estimate, kept as a margin so the tag never promises more than a node has.
ROOT_FILESYSTEM_OVERHEAD_MIB = 1024


def allocatable_ephemeral_storage(disk_size_gib: int) -> str:
    """The ephemeral storage a new node offers pods, as a Kubernetes quantity in binary units.

    The autoscaler takes a node-template `resources/ephemeral-storage` tag as the template
    node's capacity and uses it as allocatable unchanged (kubernetes/autoscaler
    cluster-autoscaler/cloudprovider/aws/aws_manager.go buildNodeFromTemplate), so the tag
    must say what the kubelet will really allow, not the disk size.
    """
    capacity_mib = disk_size_gib * 1024 - ROOT_FILESYSTEM_OVERHEAD_MIB
    allocatable_mib = capacity_mib - KUBE_RESERVED_EPHEMERAL_MIB - capacity_mib * EVICTION_HARD_NODEFS_AVAILABLE
    return f"{int(allocatable_mib)}Mi"


@dataclass(frozen=True)
class NodeGroupSpec:
    """One group as the cluster needs it: settings plus its fixed role."""

    key: str
    role: str
    capacity_type: str
    settings: NodeGroupSettings
    taints: tuple[dict[str, str], ...] = ()
    # Where its settings live in the stack config (for messages): system, drivers, extraExecutorGroups.<name>…
    config_key: str = ""

    @property
    def labels(self) -> dict[str, str]:
        return {ROLE_LABEL: self.role, **self.settings.labels}

    @property
    def ami_type(self) -> str:
        return AMI_TYPES[self.settings.architecture]


def node_group_specs(
    system: NodeGroupSettings,
    drivers: NodeGroupSettings,
    executors: NodeGroupSettings,
    extra_executors: Mapping[str, NodeGroupSettings] | None = None,
) -> list[NodeGroupSpec]:
    """The On-Demand system and driver groups, the Spot executor group, and any extra Spot pools."""
    return [
        NodeGroupSpec("system", SYSTEM_ROLE, "ON_DEMAND", system, (SYSTEM_TAINT,), "system"),
        NodeGroupSpec("drivers", "driver", "ON_DEMAND", drivers, (), "drivers"),
        NodeGroupSpec("executors", "executor", "SPOT", executors, (SPOT_TAINT,), "executors"),
        *(
            NodeGroupSpec(f"executors-{name}", "executor", "SPOT", group, (SPOT_TAINT,), f"extraExecutorGroups.{name}")
            for name, group in (extra_executors or {}).items()
        ),
    ]


def autoscaler_asg_tags(spec: NodeGroupSpec) -> dict[str, str]:
    """A node-template tag for every label and taint a pod may select on, and the node's ephemeral storage."""
    tags = {
        label_tag_key(CAPACITY_TYPE_LABEL): spec.capacity_type,
        resource_tag_key("ephemeral-storage"): allocatable_ephemeral_storage(spec.settings.disk_size_gib),
    }
    for key, value in spec.labels.items():
        tags[label_tag_key(key)] = value
    for taint in spec.taints:
        tags[taint_tag_key(taint["key"])] = f"{taint['value']}:{TAINT_EFFECTS[taint['effect']]}"
    return tags


def _first_asg_name(node_group: Any) -> pulumi.Output[str]:
    return node_group.resources.apply(lambda resources: resources[0].autoscaling_groups[0].name)


@dataclass(frozen=True)
class NodeGroupsArgs:
    cluster: eks.Cluster
    node_role: aws.iam.Role
    subnet_ids: pulumi.Input[list[str]]
    kubernetes_version: str
    system: NodeGroupSettings
    drivers: NodeGroupSettings
    executors: NodeGroupSettings
    extra_executors: Mapping[str, NodeGroupSettings] = field(default_factory=dict)
    # Pods reach the node's instance credentials (s3AccessVia: nodeRole) only with IMDSv2's
    # hop limit at 2; AL2023 managed nodes get 1 without a launch template of our own.
    pods_use_instance_credentials: bool = False


class NodeGroups(pulumi.ComponentResource):
    specs: list[NodeGroupSpec]
    groups: dict[str, eks.ManagedNodeGroup]
    # Each group's Auto Scaling group name (known after up): what the priority expander matches.
    asg_names: dict[str, pulumi.Output[str]]
    system: eks.ManagedNodeGroup
    summary: dict[str, dict[str, Any]]

    def __init__(self, name: str, args: NodeGroupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spark-eks-spot:infra:NodeGroups", name, None, opts)
        self.specs = node_group_specs(args.system, args.drivers, args.executors, args.extra_executors)
        self.groups = {}
        self.asg_names = {}
        self.summary = {}
        for spec in self.specs:
            settings = spec.settings
            group = eks.ManagedNodeGroup(
                f"{name}-{spec.key}",
                cluster=args.cluster,
                node_role=args.node_role,
                subnet_ids=args.subnet_ids,
                capacity_type=spec.capacity_type,
                instance_types=list(settings.instance_types),
                ami_type=spec.ami_type,
                # Nodes follow the control plane: pulumi-eks tracks the cluster version only while
                # no launch template is passed (nodejs/eks/nodes/nodegroup.ts), so say it outright.
                version=args.kubernetes_version,
                disk_size=settings.disk_size_gib,
                # pulumi-eks then builds a launch template with httpTokens required and hop limit 2
                # (createMNGCustomLaunchTemplate); without it the hop limit stays 1, as IRSA wants.
                enable_imd_sv2=True if args.pods_use_instance_credentials else None,
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    min_size=settings.min_size,
                    desired_size=settings.initial_size,
                    max_size=settings.max_size,
                ),
                # The autoscaler owns the desired size after creation; `pulumi up` must not reset it.
                ignore_scaling_changes=True,
                labels=spec.labels,
                taints=[aws.eks.NodeGroupTaintArgs(**taint) for taint in spec.taints] or None,
                opts=pulumi.ResourceOptions(parent=self),
            )
            asg_name = group.node_group.apply(_first_asg_name)
            for key, value in autoscaler_asg_tags(spec).items():
                aws.autoscaling.Tag(
                    f"{name}-{spec.key}-{tag_name_suffix(key)}",
                    autoscaling_group_name=asg_name,
                    tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            self.groups[spec.key] = group
            self.asg_names[spec.key] = asg_name
            self.summary[spec.key] = {
                "capacityType": spec.capacity_type,
                "instanceTypes": list(settings.instance_types),
                "minSize": settings.min_size,
                "maxSize": settings.max_size,
                "role": spec.role,
                "architecture": settings.architecture,
            }
        # Cluster add-ons and the autoscaler wait for this group: it is where they run.
        self.system = self.groups["system"]
        self.register_outputs({"nodeGroups": self.summary})
