"""The two managed node groups, and the Auto Scaling group tags the cluster-autoscaler reads.

Drivers (and cluster add-ons) run On-Demand so a Spot reclaim never kills a job's
driver; executors run on Spot across several same-size instance types. Managed node
group tags do not reach the Auto Scaling group (aws/containers-roadmap#608), so the
autoscaler's discovery and node-template tags are put on the ASG directly; without the
node-template tags the autoscaler cannot scale a group up from zero.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks

from infra.settings import NodeGroupSettings

CAPACITY_TYPE_LABEL = "eks.amazonaws.com/capacityType"
ROLE_LABEL = "spark-eks-spot/role"
# Executors' Spot nodes repel everything that does not tolerate this taint (add-ons, drivers).
SPOT_TAINT = {"key": "spark-eks-spot/spot", "value": "true", "effect": "NO_SCHEDULE"}
_TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
AMI_TYPE = "AL2023_x86_64_STANDARD"


@dataclass(frozen=True)
class NodeGroupSpec:
    """One group as the cluster needs it: settings plus its fixed role."""

    key: str
    role: str
    capacity_type: str
    settings: NodeGroupSettings
    taints: tuple[dict[str, str], ...] = ()

    @property
    def labels(self) -> dict[str, str]:
        return {ROLE_LABEL: self.role, **self.settings.labels}


def node_group_specs(
    drivers: NodeGroupSettings,
    executors: NodeGroupSettings,
    extra_executors: Mapping[str, NodeGroupSettings] | None = None,
) -> list[NodeGroupSpec]:
    """The On-Demand driver group, the Spot executor group, and any extra Spot pools."""
    return [
        NodeGroupSpec("drivers", "driver", "ON_DEMAND", drivers),
        NodeGroupSpec("executors", "executor", "SPOT", executors, taints=(SPOT_TAINT,)),
        *(
            NodeGroupSpec(f"executors-{name}", "executor", "SPOT", group, taints=(SPOT_TAINT,))
            for name, group in (extra_executors or {}).items()
        ),
    ]


def autoscaler_asg_tags(cluster_name: str, spec: NodeGroupSpec) -> dict[str, str]:
    """Discovery tags plus a node-template tag for every label and taint a pod may select on."""
    template = "k8s.io/cluster-autoscaler/node-template"
    tags = {
        "k8s.io/cluster-autoscaler/enabled": "true",
        f"k8s.io/cluster-autoscaler/{cluster_name}": "owned",
        f"{template}/label/{CAPACITY_TYPE_LABEL}": spec.capacity_type,
        f"{template}/resources/ephemeral-storage": f"{spec.settings.disk_size_gib}G",
    }
    for key, value in spec.labels.items():
        tags[f"{template}/label/{key}"] = value
    for taint in spec.taints:
        tags[f"{template}/taint/{taint['key']}"] = f"{taint['value']}:{_TAINT_EFFECTS[taint['effect']]}"
    return tags


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _first_asg_name(node_group: Any) -> pulumi.Output[str]:
    return node_group.resources.apply(lambda resources: resources[0].autoscaling_groups[0].name)


@dataclass(frozen=True)
class NodeGroupsArgs:
    cluster: eks.Cluster
    cluster_name: str
    node_role: aws.iam.Role
    subnet_ids: pulumi.Input[list[str]]
    drivers: NodeGroupSettings
    executors: NodeGroupSettings
    extra_executors: Mapping[str, NodeGroupSettings] = field(default_factory=dict)


class NodeGroups(pulumi.ComponentResource):
    groups: dict[str, eks.ManagedNodeGroup]
    summary: dict[str, dict[str, Any]]

    def __init__(self, name: str, args: NodeGroupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spark-eks-spot:infra:NodeGroups", name, None, opts)
        self.groups = {}
        self.summary = {}
        for spec in node_group_specs(args.drivers, args.executors, args.extra_executors):
            settings = spec.settings
            group = eks.ManagedNodeGroup(
                f"{name}-{spec.key}",
                cluster=args.cluster,
                node_role=args.node_role,
                subnet_ids=args.subnet_ids,
                capacity_type=spec.capacity_type,
                instance_types=list(settings.instance_types),
                ami_type=AMI_TYPE,
                disk_size=settings.disk_size_gib,
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
            for key, value in autoscaler_asg_tags(args.cluster_name, spec).items():
                aws.autoscaling.Tag(
                    f"{name}-{spec.key}-{_slug(key.removeprefix('k8s.io/cluster-autoscaler/'))}",
                    autoscaling_group_name=asg_name,
                    tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            self.groups[spec.key] = group
            self.summary[spec.key] = {
                "capacityType": spec.capacity_type,
                "instanceTypes": list(settings.instance_types),
                "minSize": settings.min_size,
                "maxSize": settings.max_size,
                "role": spec.role,
            }
        self.register_outputs({"nodeGroups": self.summary})
