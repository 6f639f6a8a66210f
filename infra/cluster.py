"""The EKS control plane (pulumi-eks `Cluster`) and the Kubernetes provider built from it.

pulumi-eks's own managed add-ons are switched off: it would create them with the control
plane, before any node exists, and CoreDNS then stays DEGRADED until `pulumi up` times out
(pulumi-eks nodejs/eks/cluster/cluster.ts, pulumi-eks#1819). `infra.addons` creates them
after the On-Demand node group instead; until then the nodes run on the self-managed
vpc-cni, kube-proxy and CoreDNS that EKS installs with every new cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from infra.settings import ApiEndpointSettings

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

# Control-plane logs worth their CloudWatch cost: who did what, and who authenticated.
CONTROL_PLANE_LOG_TYPES = ("audit", "authenticator")


@dataclass(frozen=True)
class ClusterArgs:
    cluster_name: str
    kubernetes_version: str
    # STANDARD or EXTENDED: what EKS does when the version leaves standard support.
    support_type: str
    api_endpoint: ApiEndpointSettings
    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[list[str]]
    public_subnet_ids: pulumi.Input[list[str]]
    control_plane_log_retention_days: int


class Cluster(pulumi.ComponentResource):
    eks_cluster: eks.Cluster
    name: pulumi.Output[str]
    provider: k8s.Provider
    endpoint: pulumi.Output[str]
    kubeconfig_json: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_provider_url: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spark-eks-spot:infra:Cluster", name, None, opts)
        endpoint = args.api_endpoint
        # EKS creates this group on first log line and keeps it forever; create it with a retention.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.control_plane_log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.eks_cluster = eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.kubernetes_version,
            # EKS's default is EXTENDED, which quietly bills $0.60 instead of $0.10 per hour
            # once the version leaves standard support (API UpgradePolicyRequest).
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=args.support_type),
            vpc_id=args.vpc_id,
            private_subnet_ids=args.private_subnet_ids,
            public_subnet_ids=args.public_subnet_ids,
            node_associate_public_ip_address=False,
            skip_default_node_group=True,
            create_oidc_provider=True,
            # Access entries: EKS maps the managed node groups' role itself, so no instanceRoles here.
            authentication_mode=eks.AuthenticationMode.API,
            access_entries={
                f"admin-{index}": eks.AccessEntryArgs(
                    principal_arn=arn,
                    access_policies={
                        "cluster-admin": eks.AccessPolicyAssociationArgs(
                            policy_arn=CLUSTER_ADMIN_POLICY,
                            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                        )
                    },
                )
                for index, arn in enumerate(endpoint.admin_role_arns)
            }
            or None,
            # Managed add-ons come from infra.addons, after the nodes (see the module docstring).
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(enabled=False),
            use_default_vpc_cni=True,
            endpoint_public_access=endpoint.public_access,
            endpoint_private_access=endpoint.private_access,
            public_access_cidrs=list(endpoint.public_access_cidrs) if endpoint.public_access else None,
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group]),
        )
        for index, cidr in enumerate(endpoint.private_access_cidrs if endpoint.private_access else ()):
            aws.ec2.SecurityGroupRule(
                f"{name}-api-from-{index}",
                type="ingress",
                protocol="tcp",
                from_port=443,
                to_port=443,
                cidr_blocks=[cidr],
                security_group_id=self.eks_cluster.cluster_security_group_id,
                description=f"Kubernetes API over the private endpoint from {cidr}",
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.kubeconfig_json = pulumi.Output.secret(self.eks_cluster.kubeconfig_json)
        # Every Kubernetes resource goes through this provider, never the ambient kubeconfig.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig_json,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = self.eks_cluster.eks_cluster.name
        self.endpoint = self.eks_cluster.eks_cluster.endpoint
        self.oidc_provider_arn = self.eks_cluster.oidc_provider_arn
        self.oidc_provider_url = self.eks_cluster.oidc_provider_url
        self.register_outputs({"endpoint": self.endpoint, "oidcProviderArn": self.oidc_provider_arn})
