"""The EKS managed add-ons the cluster relies on: vpc-cni, kube-proxy and CoreDNS.

They are created after the On-Demand node group. CoreDNS is a Deployment: created before
any node exists, the add-on stays DEGRADED and the AWS provider waits for ACTIVE until it
times out (pulumi-eks nodejs/eks/cluster/cluster.ts, pulumi-eks#1819). Until the managed
add-ons take over (resolve conflicts OVERWRITE), the nodes run on the self-managed copies
EKS installs with every new cluster (bootstrapSelfManagedAddons).

Each add-on is pinned to the default version EKS publishes for the cluster's Kubernetes
minor in the cluster's region (DescribeAddonVersions, `aws.eks.get_addon_version` with
`most_recent` false): it changes with `kubernetesVersion`, not whenever a newer build appears.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# In the order EKS needs them: pod networking, service routing, then cluster DNS.
ADDONS = ("vpc-cni", "kube-proxy", "coredns")


@dataclass(frozen=True)
class ClusterAddonsArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    # The node group the add-ons' pods run on; they are created once it exists.
    on_demand_nodes: pulumi.Resource


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
                # Deleting the add-on must not delete the CNI and DNS the nodes run on.
                preserve=True,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[args.on_demand_nodes]),
            )
        self.register_outputs({addon: resource.addon_version for addon, resource in self.addons.items()})
