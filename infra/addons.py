"""The EKS managed add-ons the cluster relies on: vpc-cni, kube-proxy and CoreDNS.

They are created after the system node group, where CoreDNS runs. CoreDNS is a Deployment: created before
any node exists, the add-on stays DEGRADED and the AWS provider waits for ACTIVE until it
times out (pulumi-eks nodejs/eks/cluster/cluster.ts, pulumi-eks#1819). Until the managed
add-ons take over (resolve conflicts OVERWRITE), the nodes run on the self-managed copies
EKS installs with every new cluster (bootstrapSelfManagedAddons).

Each add-on is pinned to the default version EKS publishes for the cluster's Kubernetes
minor in the cluster's region (DescribeAddonVersions, `aws.eks.get_addon_version` with
`most_recent` false): it changes with `kubernetesVersion`, not whenever a newer build appears.

CoreDNS is pinned to the system group through the add-on's configuration values: a
`nodeSelector` and `tolerations` (both in the CoreDNS add-on's configuration schema, as
`aws eks describe-addon-configuration --addon-name coredns` prints it). Setting `tolerations`
replaces the add-on's default list, `CriticalAddonsOnly` Exists and the control-plane taint,
so both defaults are kept and the system taint is tolerated through the first. vpc-cni and
kube-proxy are DaemonSets that tolerate every taint and run on every node.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.nodegroups import SYSTEM_NODE_SELECTOR, SYSTEM_TOLERATION

# In the order EKS needs them: pod networking, service routing, then cluster DNS.
ADDONS = ("vpc-cni", "kube-proxy", "coredns")
# The CoreDNS add-on's default tolerations (its configuration schema's `tolerations.default`).
COREDNS_DEFAULT_TOLERATIONS = (
    {"key": "CriticalAddonsOnly", "operator": "Exists"},
    {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
)


def coredns_configuration() -> dict[str, Any]:
    """CoreDNS on the system group: its node selector, and the default tolerations plus the system one."""
    tolerations = [dict(t) for t in COREDNS_DEFAULT_TOLERATIONS]
    if dict(SYSTEM_TOLERATION) not in tolerations:
        tolerations.append(dict(SYSTEM_TOLERATION))
    return {"nodeSelector": dict(SYSTEM_NODE_SELECTOR), "tolerations": tolerations}


# Configuration values per add-on (JSON, as the EKS API takes them); the others keep EKS's defaults.
ADDON_CONFIGURATION = {"coredns": coredns_configuration}


@dataclass(frozen=True)
class ClusterAddonsArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    # The node group the add-ons' pods run on (the system group); they are created once it exists.
    system_nodes: pulumi.Resource


class ClusterAddons(pulumi.ComponentResource):
    addons: dict[str, aws.eks.Addon]

    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spark-eks-spot:infra:ClusterAddons", name, None, opts)
        self.addons = {}
        for addon in ADDONS:
            version = aws.eks.get_addon_version_output(
                addon_name=addon,
                kubernetes_version=args.kubernetes_version,
                most_recent=False,
                opts=pulumi.InvokeOutputOptions(parent=self),
            ).version
            self.addons[addon] = aws.eks.Addon(
                f"{name}-{addon}",
                cluster_name=args.cluster_name,
                addon_name=addon,
                addon_version=version,
                # Take over the self-managed copy EKS installed, and keep EKS's settings on update.
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                configuration_values=(
                    json.dumps(ADDON_CONFIGURATION[addon](), sort_keys=True) if addon in ADDON_CONFIGURATION else None
                ),
                # Deleting the add-on must not delete the CNI and DNS the nodes run on.
                preserve=True,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[args.system_nodes]),
            )
        self.register_outputs({addon: resource.addon_version for addon, resource in self.addons.items()})
