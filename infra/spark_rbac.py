"""Spark's Kubernetes identity: namespace, the driver's and the executors' ServiceAccounts
(both IRSA-annotated for S3), and the drivers' Role and RoleBinding.

The driver creates executor pods, their services and config maps in its own namespace
only, so a namespaced Role is enough; the AWS blog post's cluster-wide ClusterRole `edit`
would let any Spark job change anything in every namespace. Executors never call the
Kubernetes API (the driver's ExecutorPodsAllocator does the pod work), so they run as an
account of their own that no Role is bound to; S3 still reaches them through IRSA.

No PersistentVolumeClaim rights: jobs use no claims, and the submitter turns off the
driver's claim reuse (spark.kubernetes.driver.ownPersistentVolumeClaim and
reusePersistentVolumeClaim, which otherwise make it list and delete claims by label).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

SPARK_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
SPARK_RESOURCES = ("pods", "services", "configmaps")
ROLE_NAME = "spark-driver"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
EXECUTOR_ACCOUNT_SUFFIX = "-executor"


def executor_service_account(service_account: str) -> str:
    """The executors' account, named after the driver's (`spark` → `spark-executor`)."""
    return f"{service_account}{EXECUTOR_ACCOUNT_SUFFIX}"


def rbac_manifests(namespace: str, service_account: str, role_arn: pulumi.Input[str] | None) -> list[dict[str, Any]]:
    """The five manifests, as plain dicts: the component creates them, tests validate them."""
    labels = {"app.kubernetes.io/part-of": "spark-eks-spot"}
    annotations = {"annotations": {IRSA_ANNOTATION: role_arn}} if role_arn is not None else {}
    account_metadata: dict[str, Any] = {"name": service_account, "namespace": namespace, "labels": labels, **annotations}
    executor_metadata: dict[str, Any] = {
        "name": executor_service_account(service_account), "namespace": namespace, "labels": labels, **annotations,
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": account_metadata},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": ROLE_NAME, "namespace": namespace, "labels": labels},
            "rules": [{"apiGroups": [""], "resources": list(SPARK_RESOURCES), "verbs": list(SPARK_VERBS)}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": ROLE_NAME, "namespace": namespace, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE_NAME},
            "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
        },
        # Bound to no Role: executors have no Kubernetes API rights beyond what every
        # authenticated identity has (discovery). Its token stays mounted: the IRSA webhook's
        # projected token has been reported missing in pods that turn automounting off
        # (aws/amazon-eks-pod-identity-webhook#67).
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": executor_metadata},
    ]


@dataclass(frozen=True)
class SparkRbacArgs:
    namespace: str
    service_account: str
    # None when S3 access goes through the node role instead of IRSA.
    role_arn: pulumi.Input[str] | None


class SparkRbac(pulumi.ComponentResource):
    namespace: pulumi.Output[str]
    service_account: pulumi.Output[str]
    executor_service_account: pulumi.Output[str]

    def __init__(self, name: str, args: SparkRbacArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spark-eks-spot:infra:SparkRbac", name, None, opts)
        namespace_doc, account_doc, role_doc, binding_doc, executor_doc = rbac_manifests(
            args.namespace, args.service_account, args.role_arn
        )
        child = pulumi.ResourceOptions(parent=self)
        namespace = k8s.core.v1.Namespace(f"{name}-namespace", metadata=namespace_doc["metadata"], opts=child)
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        account = k8s.core.v1.ServiceAccount(f"{name}-service-account", metadata=account_doc["metadata"], opts=in_namespace)
        role = k8s.rbac.v1.Role(f"{name}-role", metadata=role_doc["metadata"], rules=role_doc["rules"], opts=in_namespace)
        k8s.rbac.v1.RoleBinding(
            f"{name}-role-binding",
            metadata=binding_doc["metadata"],
            role_ref=binding_doc["roleRef"],
            subjects=binding_doc["subjects"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role, account]),
        )
        executor_account = k8s.core.v1.ServiceAccount(
            f"{name}-executor-service-account", metadata=executor_doc["metadata"], opts=in_namespace
        )
        self.namespace = namespace.metadata.name
        self.service_account = account.metadata.name
        self.executor_service_account = executor_account.metadata.name
        self.register_outputs({
            "namespace": self.namespace,
            "serviceAccount": self.service_account,
            "executorServiceAccount": self.executor_service_account,
        })
