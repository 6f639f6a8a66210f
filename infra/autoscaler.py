"""The Kubernetes cluster-autoscaler (Helm chart), with its own IRSA role and priority ConfigMap.

It discovers the node groups by their ASG tags, grows the cheapest Spot group first (the
priority expander, infra/priorities.py), balances similar Spot groups, and runs on the
On-Demand system group so a Spot reclaim never takes the scaler down with the nodes.

The stack declares the expander's ConfigMap itself (its patterns are ASG names only AWS
knows, as Outputs) and leaves the chart's `expanderPriorities` empty, so the chart renders
no ConfigMap of the same name; with `priority` among the expanders the chart's Role still
lets the autoscaler get, list and watch it (kubernetes/autoscaler
cluster-autoscaler/charts/cluster-autoscaler/templates/priority-expander-configmap.yaml and
role.yaml, the same in charts 9.53.0 and 9.59.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.iam import AttachedPolicy, IrsaRole, IrsaRoleArgs, PolicyAttachmentArgs, autoscaler_policy
from infra.nodegroups import SYSTEM_NODE_SELECTOR, SYSTEM_TOLERATION
from infra.priorities import CONFIG_MAP_KEY, CONFIG_MAP_NAME

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
# The chart's home; Helm fetches from it on the user's machine at `pulumi up`.
CHART_REPOSITORY = "https://kubernetes.github.io/autoscaler"
CHART = "cluster-autoscaler"


@dataclass(frozen=True)
class AutoscalerArgs:
    cluster_name: str
    region: str
    chart_version: str
    image_tag: str
    expander: str
    scale_down_unneeded_time: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]
    # The priority expander's `priorities` YAML (infra.priorities.render_priorities); None without it.
    priorities: pulumi.Input[str] | None = None


def autoscaler_values(args: AutoscalerArgs, role_arn: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "cloudProvider": "aws",
        "awsRegion": args.region,
        "autoDiscovery": {"clusterName": args.cluster_name},
        "image": {"tag": args.image_tag},
        "fullnameOverride": "cluster-autoscaler",
        "rbac": {
            "create": True,
            "serviceAccount": {
                "create": True,
                "name": SERVICE_ACCOUNT,
                "annotations": {"eks.amazonaws.com/role-arn": role_arn},
            },
        },
        "extraArgs": {
            "balance-similar-node-groups": True,
            "skip-nodes-with-system-pods": False,
            "expander": args.expander,
            "scale-down-unneeded-time": args.scale_down_unneeded_time,
        },
        # The system group: On-Demand, tainted for add-ons only.
        "nodeSelector": dict(SYSTEM_NODE_SELECTOR),
        "tolerations": [dict(SYSTEM_TOLERATION)],
        "podAnnotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
        "priorityClassName": "system-cluster-critical",
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
    }


class ClusterAutoscaler(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AutoscalerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spark-eks-spot:infra:ClusterAutoscaler", name, None, opts)
        role = IrsaRole(
            f"{name}-irsa",
            IrsaRoleArgs(args.oidc_provider_arn, args.oidc_provider_url, NAMESPACE, (SERVICE_ACCOUNT,)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        scaling_policy = AttachedPolicy(
            f"{name}-scaling",
            PolicyAttachmentArgs(
                document=autoscaler_policy(args.cluster_name),
                role_name=role.role.name,
                description=f"cluster-autoscaler for {args.cluster_name}",
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        waits_for: list[pulumi.Resource] = [scaling_policy]
        if args.priorities is not None:
            waits_for.append(
                k8s.core.v1.ConfigMap(
                    f"{name}-priorities",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=CONFIG_MAP_NAME, namespace=NAMESPACE),
                    data={CONFIG_MAP_KEY: args.priorities},
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        k8s.helm.v3.Release(
            f"{name}-chart",
            name="cluster-autoscaler",
            chart=CHART,
            version=args.chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            namespace=NAMESPACE,
            values=autoscaler_values(args, role.arn),
            atomic=True,
            # Without its policy the pod starts, gets AccessDenied and crash-loops the atomic install;
            # with the priorities in place first, its first scale-up already follows them.
            opts=pulumi.ResourceOptions(parent=self, depends_on=waits_for),
        )
        self.role_arn = role.arn
        self.register_outputs({"roleArn": self.role_arn})
