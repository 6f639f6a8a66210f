"""The Spark History Server the stack declares: its manifests in the offline plan (strictly valid
Kubernetes objects), its read-only IRSA policy, its settings, and why it runs the project's image."""

from __future__ import annotations

import json
import zipfile

import kubernetes_validate
import pytest

from infra.history import CONF_DIR, CONF_FILE, HISTORY_SERVER_CLASS, NAME, SPARK_CLASS, UI_PORT
from infra.plan import Plan, PlannedResource
from infra.settings import ConfigError, settings_from_values
from jobs import PROJECT_ROOT
from jobs.command import INSTANCE_PROFILE_PROVIDER, WEB_IDENTITY_PROVIDER
from infra.asg_tags import SYSTEM_NODE_SELECTOR, SYSTEM_TOLERATION
from jobs.launch import find_spark
from jobs.tags import default_image_tag
from tests.infra_plans import plan_with, policy_document, stack_plan
from tests.test_jobs_pod_templates import cluster_kubernetes_version

KINDS = {
    "kubernetes:core/v1:ServiceAccount": "history-service-account",
    "kubernetes:core/v1:ConfigMap": "history-conf",
    "kubernetes:apps/v1:Deployment": "history-deployment",
    "kubernetes:core/v1:Service": "history-service",
}


@pytest.fixture(scope="module")
def dev() -> Plan:
    return stack_plan("dev")


def manifest(plan: Plan, type_token: str) -> dict:
    return plan.named(KINDS[type_token]).inputs


def properties(plan: Plan) -> dict[str, str]:
    text = manifest(plan, "kubernetes:core/v1:ConfigMap")["data"][CONF_FILE]
    return dict(line.split("=", 1) for line in text.splitlines())


def container(plan: Plan) -> dict:
    [only] = manifest(plan, "kubernetes:apps/v1:Deployment")["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_plan_holds_the_history_server_and_its_manifests_are_strictly_valid(stack: str) -> None:
    """ServiceAccount, ConfigMap, Deployment and Service in the Spark namespace, as the engine
    receives them, pass kubernetes-validate in strict mode for the stack's Kubernetes version."""
    plan = stack_plan(stack)
    for type_token in KINDS:
        document = manifest(plan, type_token)
        assert document["metadata"]["namespace"] == "spark"
        kubernetes_validate.validate(document, cluster_kubernetes_version(), strict=True)
    assert plan.outputs["historyServer"] == {
        "namespace": "spark", "service": NAME, "port": UI_PORT, "podSelector": "app.kubernetes.io/name=spark-history-server",
    }


def test_strict_validation_would_catch_a_misspelt_probe() -> None:
    """The schema check above can fail: a misspelt key in the Deployment is rejected."""
    deployment = json.loads(json.dumps(manifest(stack_plan("dev"), "kubernetes:apps/v1:Deployment")))
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["httpGett"] = probe.pop("httpGet")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, cluster_kubernetes_version(), strict=True)


def test_it_runs_sparks_history_server_class_from_the_project_image_on_the_system_group(dev: Plan) -> None:
    """The image's entrypoint hands any first argument other than `driver`/`executor` to `exec`
    (apache/spark-docker entrypoint.sh.template, the `*)` pass-through case), so java, started by
    spark-class, receives the pod's SIGTERM. The image is the project's, at the tag this checkout
    builds (for both architectures); the pod goes where the add-ons go: the system group's selector
    and toleration (tests/test_infra_layout.py places it)."""
    spec = manifest(dev, "kubernetes:apps/v1:Deployment")["spec"]["template"]["spec"]
    main = container(dev)
    assert main["args"] == [SPARK_CLASS, HISTORY_SERVER_CLASS, "--properties-file", f"{CONF_DIR}/{CONF_FILE}"]
    assert main["image"] == f"{dev.outputs['imageRepositoryUrl']}:{default_image_tag(PROJECT_ROOT)}"
    assert spec["nodeSelector"] == SYSTEM_NODE_SELECTOR
    assert spec["tolerations"] == [SYSTEM_TOLERATION]
    assert spec["serviceAccountName"] == NAME
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert main["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                       "capabilities": {"drop": ["ALL"]}}
    assert {v["name"]: v for v in spec["volumes"]}["conf"] == {"name": "conf", "configMap": {"name": NAME}}
    assert main["resources"] == {"requests": {"cpu": "250m", "memory": "1536Mi"}, "limits": {"memory": "1536Mi"}}
    assert main["env"] == [{"name": "SPARK_DAEMON_MEMORY", "value": "1152m"}]
    service = manifest(dev, "kubernetes:core/v1:Service")["spec"]
    assert service["selector"] == manifest(dev, "kubernetes:apps/v1:Deployment")["spec"]["selector"]["matchLabels"]
    assert service["ports"] == [{"name": "http", "port": UI_PORT, "targetPort": "http", "protocol": "TCP"}]


def test_the_first_up_does_not_wait_for_an_image_that_is_not_pushed_yet(dev: Plan) -> None:
    """pulumi-kubernetes waits for a Deployment's rollout and a Service's ready endpoints (10
    minutes, then the update fails; registry docs for core/v1 Service and apps/v1 Deployment)
    unless the object carries `pulumi.com/skipAwait: "true"` (pulumi-kubernetes#417). On a new
    stack ECR is empty until `jobs image push`, so both carry it."""
    for type_token in ("kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"):
        assert manifest(dev, type_token)["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}


def test_it_reads_the_event_logs_with_its_own_role_and_never_cleans(dev: Plan) -> None:
    """The server's conf: the event-log prefix Spark writes to, S3A credentials from IRSA, and
    Spark's cleaner off (it deletes logs, which this role may not; the bucket's expiry rule is the
    retention). The ServiceAccount is annotated with the read-only role."""
    conf = properties(dev)
    bucket = dev.outputs["bucketName"]
    assert conf["spark.history.fs.logDirectory"] == f"s3a://{bucket}/spark-events/"
    assert conf["spark.history.fs.cleaner.enabled"] == "false"
    assert conf["spark.history.fs.driverlog.cleaner.enabled"] == "false"
    assert conf["spark.hadoop.fs.s3a.aws.credentials.provider"] == WEB_IDENTITY_PROVIDER
    assert conf["spark.hadoop.fs.s3a.endpoint.region"] == "us-west-2"
    assert conf["spark.history.ui.port"] == str(UI_PORT)
    account = manifest(dev, "kubernetes:core/v1:ServiceAccount")["metadata"]
    assert account["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/history-event-logs-irsa-role"}
    template = manifest(dev, "kubernetes:apps/v1:Deployment")["spec"]["template"]["metadata"]["annotations"]
    changed = properties(plan_with("dev", history={"retainedApplications": 20}))
    assert changed["spark.history.retainedApplications"] == "20"
    other = manifest(plan_with("dev", history={"retainedApplications": 20}), "kubernetes:apps/v1:Deployment")
    assert other["spec"]["template"]["metadata"]["annotations"] != template  # a new conf rolls the pod


def test_its_role_may_only_list_and_read_the_event_log_prefix(dev: Plan) -> None:
    """The IRSA policy, parsed: ListBucket only with an s3:prefix condition on spark-events, GetObject
    only under it (and on the bare key S3A HEADs first, hadoop-aws StatusProbeEnum.ALL = Head, List),
    nothing that writes or deletes; only the server's service account may assume the role."""
    [statement_list, statement_read] = policy_document(dev.named("history-event-logs-read-policy"))["Statement"]
    bucket_arn = f"arn:aws:s3:::{dev.outputs['bucketName']}"
    assert statement_list == {
        "Sid": "ListEventLogPrefix", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn],
        "Condition": {"StringLike": {"s3:prefix": ["spark-events", "spark-events/*"]}},
    }
    assert statement_read == {
        "Sid": "ReadEventLogs", "Effect": "Allow", "Action": ["s3:GetObject"],
        "Resource": [f"{bucket_arn}/spark-events", f"{bucket_arn}/spark-events/*"],
    }
    trust = policy_document(dev.named("history-event-logs-irsa-role"), "assumeRolePolicy")
    [condition] = [s["Condition"]["StringEquals"] for s in trust["Statement"]]
    assert [v for k, v in condition.items() if k.endswith(":sub")] == ["system:serviceaccount:spark:spark-history"]
    attachment = dev.named("history-event-logs-read-attachment").inputs
    assert attachment["role"] == "history-event-logs-irsa-role"


def _history_resources(plan: Plan) -> list[PlannedResource]:
    return [r for r in plan.resources if r.name.startswith("history")]


def test_history_enabled_false_declares_nothing() -> None:
    plan = plan_with("dev", history={"enabled": False})
    assert _history_resources(plan) == []
    assert "historyServer" not in plan.outputs


def test_resources_image_and_node_role_follow_config() -> None:
    """Settings reach the pod: CPU, memory (the JVM heap is 3/4 of it), another image; with
    s3AccessVia nodeRole there is no IRSA role and S3A takes the instance's credentials."""
    image = "123456789012.dkr.ecr.us-west-2.amazonaws.com/other/spark:4.3.0-s3a"
    plan = plan_with("dev", history={"cpu": "1", "memory": "2Gi", "image": image}, s3AccessVia="nodeRole")
    main = container(plan)
    assert main["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}}
    assert main["env"] == [{"name": "SPARK_DAEMON_MEMORY", "value": "1536m"}]
    assert main["image"] == image
    assert properties(plan)["spark.hadoop.fs.s3a.aws.credentials.provider"] == INSTANCE_PROFILE_PROVIDER
    assert not [r for r in _history_resources(plan) if r.type.startswith("aws:")]
    assert "annotations" not in manifest(plan, "kubernetes:core/v1:ServiceAccount")["metadata"]


@pytest.mark.parametrize(("history", "key", "fragment"), [
    ({"memory": "512Mi"}, "history.memory", "at least 768Mi"),
    ({"cpu": "a lot"}, "history.cpu", "CPU quantity"),
    ({"image": "apache/spark:latest"}, "history.image", "fixed tag or digest"),
    ({"image": "apache/spark"}, "history.image", "fixed tag or digest"),
    ({"retainedApplications": 0}, "history.retainedApplications", "greater than or equal to 1"),
    ({"cleaner": True}, "history.cleaner", "is not a setting"),
])
def test_bad_history_settings_name_the_key(history: dict, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_values({"history": history}, stack="dev", region="us-west-2")
    message = str(raised.value)
    assert message.startswith(f"config spark-eks-spot:{key}: ") and fragment in message and "\n" not in message


def test_the_spark_distribution_cannot_read_s3a_so_the_server_needs_the_project_image() -> None:
    """The apache/spark images unpack the Spark distribution's jars (apache/spark-docker
    Dockerfile: `mv jars /opt/spark/`); the pyspark wheel ships the same jars. None holds S3A's
    filesystem class, so an s3a:// log directory needs hadoop-aws, which image/Dockerfile adds."""
    jars = sorted((find_spark().home / "jars").glob("*.jar"))
    assert len(jars) > 100
    s3a = "org/apache/hadoop/fs/s3a/S3AFileSystem.class"
    assert not [jar.name for jar in jars if s3a in zipfile.ZipFile(jar).namelist()]
    assert any(jar.name.startswith("hadoop-client-api-") for jar in jars)
    dockerfile = (PROJECT_ROOT / "image" / "Dockerfile").read_text(encoding="utf-8")
    assert "org/apache/hadoop/hadoop-aws/${HADOOP_VERSION}/hadoop-aws-${HADOOP_VERSION}.jar" in dockerfile


def test_the_event_log_folder_exists_before_the_history_server_starts(dev: Plan) -> None:
    """Spark's History Server exits at start-up when its log directory does not exist
    (apache/spark core/.../deploy/history/FsHistoryProvider.scala, startPolling: "None of the
    specified log directories exist"; seen here with the wheel's HistoryServer class: exit 1), its
    read-only role cannot create it, and S3A sees a folder only where a key has its prefix. So the
    stack declares the zero-byte `spark-events/` marker, and the server waits for it."""
    [marker] = [r for r in dev.of_type("aws:s3/bucketObjectv2:BucketObjectv2") if r.inputs.get("key") == "spark-events/"]
    assert marker.inputs["content"] == ""
    assert marker.name in dev.named("history").depends_on
