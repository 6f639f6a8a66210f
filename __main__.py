"""spark-eks-spot: an EKS cluster for Apache Spark, drivers On-Demand and executors on Spot.

Loads the stack's settings, wires the components and exports the outputs that the
`jobs` submitter and the cost estimator read. Nothing else belongs here.
"""

import pulumi
import pulumi_aws as aws

from cost.snapshot import load_snapshot
from infra.addons import ClusterAddons, ClusterAddonsArgs
from infra.asg_tags import SYSTEM_NODE_SELECTOR, SYSTEM_TOLERATION
from infra.autoscaler import AutoscalerArgs, ClusterAutoscaler
from infra.cluster import Cluster, ClusterArgs
from infra.history import HistoryServer, HistoryServerArgs, project_image
from infra.iam import NodeRole, SparkS3Access, SparkS3AccessArgs
from infra.network import Network, NetworkArgs
from infra.nodegroups import NodeGroups, NodeGroupsArgs
from infra.priorities import group_priorities, render_priorities
from infra.settings import ConfigError, check_admin_roles, check_support_phase, load_settings, support_day
from infra.spark_rbac import SparkRbac, SparkRbacArgs, executor_service_account
from infra.storage import Storage, StorageArgs
from jobs import PROJECT_ROOT
from jobs.tags import default_image_tag

try:
    settings = load_settings()
    check_support_phase(settings, support_day())
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None

aws_provider = aws.Provider("aws", region=settings.region, default_tags={"tags": settings.resource_tags})
on_aws = pulumi.ResourceOptions(providers={"aws": aws_provider})

if settings.api_endpoint.admin_role_arns:
    # Before anything is declared: an admin entry for the identity creating the cluster fails with
    # 409. Only the creation gives the creator its own entry; once the cluster exists, every entry
    # is in the state and a listed admin (a CI role, say) may run `pulumi up` like anyone else.
    on_aws_invoke = pulumi.InvokeOptions(provider=aws_provider)
    if settings.cluster_name not in aws.eks.get_clusters(opts=on_aws_invoke).names:
        caller = aws.get_caller_identity(opts=on_aws_invoke)
        try:
            check_admin_roles(settings, caller.arn)
        except ConfigError as error:
            raise pulumi.RunError(str(error)) from None

storage = Storage(
    "storage",
    StorageArgs(settings.cluster_name, settings.bucket, settings.image_retention_count),
    opts=on_aws,
)
network = Network("network", NetworkArgs(settings.network, settings.cluster_name), opts=on_aws)
node_role = NodeRole("nodes", opts=on_aws)
cluster = Cluster(
    "cluster",
    ClusterArgs(
        cluster_name=settings.cluster_name,
        kubernetes_version=settings.kubernetes_version,
        support_type=settings.upgrade_policy.support_type,
        api_endpoint=settings.api_endpoint,
        vpc_id=network.vpc_id,
        private_subnet_ids=network.private_subnet_ids,
        public_subnet_ids=network.public_subnet_ids,
        control_plane_log_retention_days=settings.control_plane_log_retention_days,
    ),
    opts=on_aws,
)
node_groups = NodeGroups(
    "nodegroups",
    NodeGroupsArgs(
        cluster=cluster.eks_cluster,
        node_role=node_role.role,
        subnet_ids=network.private_subnet_ids,
        kubernetes_version=settings.kubernetes_version,
        system=settings.system,
        drivers=settings.drivers,
        executors=settings.executors,
        extra_executors=settings.extra_executor_groups,
        pods_use_instance_credentials=settings.s3_access_via == "nodeRole",
    ),
    # Nodes join only once the role's worker policies are attached.
    opts=pulumi.ResourceOptions.merge(on_aws, pulumi.ResourceOptions(depends_on=[node_role])),
)
addons = ClusterAddons(
    "addons",
    ClusterAddonsArgs(cluster.name, settings.kubernetes_version, node_groups.system),
    opts=on_aws,
)
spark_s3 = SparkS3Access(
    "spark-s3",
    SparkS3AccessArgs(
        bucket_arn=storage.bucket_arn,
        via=settings.s3_access_via,
        node_role_name=node_role.role.name,
        oidc_provider_arn=cluster.oidc_provider_arn,
        oidc_provider_url=cluster.oidc_provider_url,
        namespace=settings.spark_namespace,
        service_accounts=(settings.spark_service_account, executor_service_account(settings.spark_service_account)),
    ),
    opts=on_aws,
)
on_cluster = pulumi.ResourceOptions(providers={"aws": aws_provider, "kubernetes": cluster.provider})
priorities = None
if settings.uses_priority_expander:
    prices = load_snapshot()
    ranked = group_priorities(node_groups.specs, prices, settings.region)
    source = f"price snapshot {prices.date} ({settings.region})"
    priorities = pulumi.Output.all(**node_groups.asg_names).apply(
        lambda names: render_priorities(ranked, names, source)
    )
ClusterAutoscaler(
    "autoscaler",
    AutoscalerArgs(
        cluster_name=settings.cluster_name,
        region=settings.region,
        chart_version=settings.autoscaler_chart_version,
        image_tag=settings.autoscaler_image_tag,
        expander=settings.autoscaler.expander,
        scale_down_unneeded_time=settings.autoscaler.scale_down_unneeded_time,
        oidc_provider_arn=cluster.oidc_provider_arn,
        oidc_provider_url=cluster.oidc_provider_url,
        priorities=priorities,
    ),
    # It runs on the system group, with the cluster's DNS and networking add-ons.
    opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[node_groups.system, addons])),
)
spark_rbac = SparkRbac(
    "spark",
    SparkRbacArgs(settings.spark_namespace, settings.spark_service_account, spark_s3.role_arn),
    opts=on_cluster,
)

history = None
if settings.history.enabled:
    history = HistoryServer(
        "history",
        HistoryServerArgs(
            namespace=spark_rbac.namespace,
            namespace_name=settings.spark_namespace,
            settings=settings.history,
            # The project's image (it has S3A), at the tag `jobs image build/push` give this checkout.
            image=settings.history.image or project_image(
                storage.image_repository_url, default_image_tag(PROJECT_ROOT)
            ),
            bucket_name=storage.bucket_name,
            bucket_arn=storage.bucket_arn,
            region=settings.region,
            s3_access_via=settings.s3_access_via,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_provider_url=cluster.oidc_provider_url,
            # With the cluster add-ons on the system group (the image is built for both architectures).
            node_selector=SYSTEM_NODE_SELECTOR,
            tolerations=(SYSTEM_TOLERATION,),
        ),
        # Like the autoscaler: a node to run on, with the cluster's DNS and networking add-ons;
        # and the event-log folder it reads, or it exits at start-up.
        opts=pulumi.ResourceOptions.merge(
            on_cluster, pulumi.ResourceOptions(depends_on=[node_groups, addons, storage.event_log_folder])
        ),
    )

pulumi.export("apiServerUrl", cluster.endpoint)
pulumi.export("kubeconfig", cluster.kubeconfig_json)
pulumi.export("clusterName", settings.cluster_name)
pulumi.export("region", settings.region)
pulumi.export("imageRepositoryUrl", storage.image_repository_url)
pulumi.export("bucketName", storage.bucket_name)
pulumi.export("sparkNamespace", spark_rbac.namespace)
pulumi.export("sparkServiceAccount", spark_rbac.service_account)
pulumi.export("sparkExecutorServiceAccount", spark_rbac.executor_service_account)
pulumi.export("sparkRoleArn", spark_s3.role_arn or "")
pulumi.export("s3AccessVia", settings.s3_access_via)
pulumi.export("nodeGroups", node_groups.summary)
if history is not None:
    pulumi.export("historyServer", history.endpoint)
