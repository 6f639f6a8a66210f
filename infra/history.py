"""The Spark History Server: a Deployment and a Service in the Spark namespace that serve the UI
of finished (and running) applications from their event logs in the bucket.

- Image: it needs Spark with the S3A connector. The apache/spark images are the Spark
  distribution, whose jars have no hadoop-aws (the pyspark wheel's jars are the same set), so
  by default it runs the project's own image (image/Dockerfile adds hadoop-aws and the AWS SDK)
  from the stack's ECR repository, at the tag `python -m jobs image build/push` give this
  checkout (jobs/tags.py); `history.image` names another. The pod pulls it once it is pushed,
  so the first `pulumi up` does not wait for the rollout (`pulumi.com/skipAwait`,
  pulumi-kubernetes#417): the Deployment and Service would otherwise time out after 10 minutes
  while ECR is still empty. `python -m jobs history` says why the pod is not ready.
- Command: the container runs `spark-class org.apache.spark.deploy.history.HistoryServer`. The
  image's entrypoint passes any command that is not `driver` or `executor` through with `exec`
  (apache/spark-docker entrypoint.sh), so java is the process that gets SIGTERM.
- Access: its own service account with an IRSA role that may only list and read the event-log
  prefix (infra/iam.py event_log_read_policy); with `s3AccessVia: nodeRole` it uses the node role.
- Retention: the bucket's expiry rule is the retention. Spark's cleaner deletes logs, which the
  read-only role cannot do; with the cleaner on, FsHistoryProvider.deleteAttemptLogs drops the
  listing entry, the delete fails and the next scan lists the app again. So the cleaner is off,
  and an expired log leaves the listing at the next scan (checkForLogs drops applications "whose
  log files disappeared from storage").
- Scheduling is an input: `__main__.py` passes the node selector and tolerations of the nodes
  the cluster add-ons run on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.iam import EventLogReader, EventLogReaderArgs
from infra.settings import HistorySettings
from infra.spark_rbac import IRSA_ANNOTATION
from infra.storage import EVENT_LOG_PREFIX
from jobs.command import INSTANCE_PROFILE_PROVIDER, WEB_IDENTITY_PROVIDER

NAME = "spark-history"
UI_PORT = 18080
CONTAINER = "history-server"
SELECTOR_LABELS = {"app.kubernetes.io/name": "spark-history-server"}
LABELS = {**SELECTOR_LABELS, "app.kubernetes.io/component": "history-server", "app.kubernetes.io/part-of": "spark-eks-spot"}
CONF_DIR = "/etc/spark-history"
CONF_FILE = "spark-history.conf"
SPARK_CLASS = "/opt/spark/bin/spark-class"
HISTORY_SERVER_CLASS = "org.apache.spark.deploy.history.HistoryServer"
# The image's `spark` user (apache/spark-docker Dockerfile: useradd --uid 185).
SPARK_UID = 185
# A scan lists the log prefix (one S3 LIST per 1000 keys); Spark's default is 10s.
UPDATE_INTERVAL = "30s"
# The JVM heap (SPARK_DAEMON_MEMORY) as a share of the container's memory limit: the rest is
# metaspace, threads and Jetty's buffers.
HEAP_SHARE = 0.75
CONF_HASH_ANNOTATION = "spark-eks-spot/conf-sha256"
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}


def history_properties(
    log_directory: str, region: str, s3_access_via: str, retained_applications: int
) -> dict[str, str]:
    """The server's Spark settings (its --properties-file)."""
    return {
        "spark.history.fs.logDirectory": log_directory,
        "spark.history.ui.port": str(UI_PORT),
        "spark.history.fs.update.interval": UPDATE_INTERVAL,
        "spark.history.retainedApplications": str(retained_applications),
        # Read-only: the bucket's expiry rule removes logs, and the listing follows at the next scan.
        "spark.history.fs.cleaner.enabled": "false",
        "spark.history.fs.driverlog.cleaner.enabled": "false",
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            WEB_IDENTITY_PROVIDER if s3_access_via == "irsa" else INSTANCE_PROFILE_PROVIDER
        ),
        "spark.hadoop.fs.s3a.endpoint.region": region,
    }


def properties_text(properties: Mapping[str, str]) -> str:
    """A Java properties file; the values hold no backslash, newline or leading blank to escape."""
    for key, value in properties.items():
        if any(character in value for character in "\\\n\r") or value != value.strip():
            raise ValueError(f"{key}: {value!r} would need escaping in a properties file")
    return "".join(f"{key}={value}\n" for key, value in properties.items())


def heap_mib(settings: HistorySettings) -> int:
    return int(settings.memory_mib * HEAP_SHARE) // 64 * 64


@dataclass(frozen=True)
class HistoryManifests:
    service_account: dict[str, Any]
    config_map: dict[str, Any]
    deployment: dict[str, Any]
    service: dict[str, Any]

    def all(self) -> list[dict[str, Any]]:
        return [self.service_account, self.config_map, self.deployment, self.service]


def history_manifests(
    *,
    namespace: pulumi.Input[str],
    image: pulumi.Input[str],
    conf_text: pulumi.Input[str],
    conf_hash: pulumi.Input[str],
    settings: HistorySettings,
    role_arn: pulumi.Input[str] | None,
    node_selector: Mapping[str, str],
    tolerations: Sequence[Mapping[str, Any]],
) -> HistoryManifests:
    """The four objects as plain dicts (values may be Outputs): the component creates them,
    tests validate them against the Kubernetes schema."""
    annotations = {IRSA_ANNOTATION: role_arn} if role_arn is not None else {}
    account_metadata: dict[str, Any] = {"name": NAME, "namespace": namespace, "labels": LABELS}
    if annotations:
        account_metadata["annotations"] = annotations
    probe = {"httpGet": {"path": "/api/v1/version", "port": "http"}}
    container = {
        "name": CONTAINER,
        "image": image,
        "args": [SPARK_CLASS, HISTORY_SERVER_CLASS, "--properties-file", f"{CONF_DIR}/{CONF_FILE}"],
        "env": [{"name": "SPARK_DAEMON_MEMORY", "value": f"{heap_mib(settings)}m"}],
        "ports": [{"name": "http", "containerPort": UI_PORT, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": settings.cpu, "memory": settings.memory},
            "limits": {"memory": settings.memory},
        },
        "readinessProbe": {**probe, "periodSeconds": 10, "timeoutSeconds": 5},
        # The first scan of a big bucket can take a while; only a server that stops answering is restarted.
        "livenessProbe": {**probe, "initialDelaySeconds": 60, "periodSeconds": 30, "timeoutSeconds": 10,
                          "failureThreshold": 4},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "conf", "mountPath": CONF_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # the JVM's and Jetty's scratch files
        ],
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": NAME,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SPARK_UID,
            "runAsGroup": SPARK_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "nodeSelector": dict(node_selector),
        "containers": [container],
        "volumes": [{"name": "conf", "configMap": {"name": NAME}}, {"name": "tmp", "emptyDir": {}}],
    }
    if tolerations:
        pod_spec["tolerations"] = [dict(toleration) for toleration in tolerations]
    return HistoryManifests(
        service_account={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": account_metadata},
        config_map={
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": NAME, "namespace": namespace, "labels": LABELS},
            "data": {CONF_FILE: conf_text},
        },
        deployment={
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": NAME, "namespace": namespace, "labels": LABELS, "annotations": SKIP_AWAIT},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": SELECTOR_LABELS},
                "template": {
                    # A changed conf rolls the pod: the server reads its file only at start.
                    "metadata": {"labels": LABELS, "annotations": {CONF_HASH_ANNOTATION: conf_hash}},
                    "spec": pod_spec,
                },
            },
        },
        service={
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": NAME, "namespace": namespace, "labels": LABELS, "annotations": SKIP_AWAIT},
            "spec": {
                "type": "ClusterIP",
                "selector": SELECTOR_LABELS,
                "ports": [{"name": "http", "port": UI_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
        },
    )


def project_image(repository_url: pulumi.Input[str], tag: str) -> pulumi.Output[str]:
    return pulumi.Output.concat(repository_url, ":", tag)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class HistoryServerArgs:
    namespace: pulumi.Input[str]  # the Spark namespace (the SparkRbac output, so it exists first)
    namespace_name: str  # the same, as text, for the IRSA trust policy
    settings: HistorySettings
    image: pulumi.Input[str]
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    region: str
    s3_access_via: str  # "irsa" or "nodeRole"
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]
    # Where the add-ons run; the server is one of them.
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()


class HistoryServer(pulumi.ComponentResource):
    endpoint: pulumi.Output[dict[str, Any]]

    def __init__(self, name: str, args: HistoryServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spark-eks-spot:infra:HistoryServer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role_arn: pulumi.Output[str] | None = None
        if args.s3_access_via == "irsa":
            role_arn = EventLogReader(
                f"{name}-event-logs",
                EventLogReaderArgs(
                    bucket_arn=args.bucket_arn,
                    prefix=EVENT_LOG_PREFIX,
                    oidc_provider_arn=args.oidc_provider_arn,
                    oidc_provider_url=args.oidc_provider_url,
                    namespace=args.namespace_name,
                    service_account=NAME,
                ),
                opts=child,
            ).role_arn
        conf_text = pulumi.Output.from_input(args.bucket_name).apply(
            lambda bucket: properties_text(
                history_properties(
                    f"s3a://{bucket}/{EVENT_LOG_PREFIX}", args.region, args.s3_access_via,
                    args.settings.retained_applications,
                )
            )
        )
        manifests = history_manifests(
            namespace=args.namespace,
            image=args.image,
            conf_text=conf_text,
            conf_hash=conf_text.apply(_sha256),
            settings=args.settings,
            role_arn=role_arn,
            node_selector=args.node_selector,
            tolerations=args.tolerations,
        )
        account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account", metadata=manifests.service_account["metadata"], opts=child
        )
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-conf", metadata=manifests.config_map["metadata"], data=manifests.config_map["data"], opts=child
        )
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=manifests.deployment["metadata"],
            spec=manifests.deployment["spec"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, config_map]),
        )
        service = k8s.core.v1.Service(
            f"{name}-service", metadata=manifests.service["metadata"], spec=manifests.service["spec"], opts=child
        )
        self.endpoint = pulumi.Output.all(service.metadata.namespace, service.metadata.name).apply(
            lambda values: {
                "namespace": values[0],
                "service": values[1],
                "port": UI_PORT,
                "podSelector": ",".join(f"{key}={value}" for key, value in SELECTOR_LABELS.items()),
            }
        )
        self.register_outputs({"historyServer": self.endpoint})
