"""The EKS control plane (pulumi-eks `Cluster`) and the Kubernetes provider built from it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from infra.settings import ApiEndpointSettings

# Control-plane logs worth their CloudWatch cost: who did what, and who authenticated.
CONTROL_PLANE_LOG_TYPES = ("audit", "authenticator")


@dataclass(frozen=True)
class ClusterArgs:
    cluster_name: str
    kubernetes_version: str
    api_endpoint: ApiEndpointSettings
    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[list[str]]
    public_subnet_ids: pulumi.Input[list[str]]
    node_role: aws.iam.Role


class Cluster(pulumi.ComponentResource):
    eks_cluster: eks.Cluster
    provider: k8s.Provider
    endpoint: pulumi.Output[str]
    kubeconfig_json: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_provider_url: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spark-eks-spot:infra:Cluster", name, None, opts)
        endpoint = args.api_endpoint
        public_subnets = pulumi.Output.from_input(args.public_subnet_ids)
        self.eks_cluster = eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.kubernetes_version,
            vpc_id=args.vpc_id,
            private_subnet_ids=args.private_subnet_ids,
            # An existing VPC may have no public subnets: then the cluster is private-only.
            public_subnet_ids=public_subnets.apply(lambda ids: ids or None),
            node_associate_public_ip_address=False,
            skip_default_node_group=True,
            create_oidc_provider=True,
            authentication_mode=eks.AuthenticationMode.API,
            instance_roles=[args.node_role],
            endpoint_public_access=endpoint.public_access,
            endpoint_private_access=endpoint.private_access,
            public_access_cidrs=list(endpoint.public_access_cidrs) if endpoint.public_access else None,
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
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
        self.endpoint = self.eks_cluster.eks_cluster.endpoint
        self.oidc_provider_arn = self.eks_cluster.oidc_provider_arn
        self.oidc_provider_url = self.eks_cluster.oidc_provider_url
        self.register_outputs({"endpoint": self.endpoint, "oidcProviderArn": self.oidc_provider_arn})
