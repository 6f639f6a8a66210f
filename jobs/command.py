"""Pure core: a validated job spec + the stack's outputs → the spark-submit argv and env.

No I/O here. The caller passes in what the edges found (where spark-submit lives, the
app file's digest, the pod template paths, a submission id), so every function is a
plain mapping from values to values and the golden test can pin the whole command.

The Spark settings start from the seed's command (the blog this project replaces),
drop its `fs.s3a.connection.ssl.enabled=false`, and add what executors on Spot need:
decommissioning that moves blocks to peers or to fallback storage on the bucket, a
finite shuffle-tracking timeout, and S3A credentials from IRSA (or the node role).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from jobs.outputs import StackOutputs
from jobs.spec import JobSpec
from jobs.spot import decommission_conf

# Bucket prefixes with their own lifecycle rules (infra/storage.py).
EVENT_LOG_PREFIX = "spark-events/"
DECOMMISSION_PREFIX = "spark-decommission/"
APP_PREFIX = "apps/"

JOB_LABEL = "spark-eks-spot/job"
SUBMISSION_LABEL = "spark-eks-spot/submission"

# hadoop-aws 3.4+ speaks AWS SDK v2: these are the SDK's web-identity provider (IRSA
# injects AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE) and Hadoop's instance-profile one.
WEB_IDENTITY_PROVIDER = "software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider"
INSTANCE_PROFILE_PROVIDER = "org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider"

# The seed's settings that no spec field controls (overridable through `conf`).
SEED_SUSTAINED_BACKLOG_TIMEOUT = "30"
SEED_EXECUTOR_IDLE_TIMEOUT = "60s"

REDACTED = "*********(redacted)"
# Spark's default spark.redaction.regex, applied to what we print.
_SECRET_KEY = re.compile(r"(?i)secret|password|token|access[.]key")
KUBECONFIG_PLACEHOLDER = "<private temporary kubeconfig, mode 0600, deleted after the run>"


@dataclass(frozen=True)
class PodTemplates:
    driver: Path
    executor: Path


@dataclass(frozen=True)
class AppUpload:
    """A local app file and where it goes: s3://BUCKET/apps/<job>/<content hash>/<file name>."""

    source: Path
    bucket: str
    key: str

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def s3a_uri(self) -> str:
        return f"s3a://{self.bucket}/{self.key}"


def is_local_app(app: str) -> bool:
    return "://" not in app


def app_upload(spec: JobSpec, bucket: str, digest: str) -> AppUpload | None:
    """Where a local app is uploaded; None for an s3a:// or local:// app, which is used as it is."""
    if not is_local_app(spec.app):
        return None
    source = Path(spec.app)
    return AppUpload(source, bucket, f"{APP_PREFIX}{spec.name}/{digest}/{source.name}")


def expand(template: str, values: Mapping[str, str]) -> str:
    """Fill {input}/{output}/{bucket}; the spec has already rejected unknown placeholders."""
    return template.format_map(dict(values))


def data_paths(spec: JobSpec, bucket: str | None) -> dict[str, str]:
    """The job's input and output with {bucket} filled in (cluster) or as given (local)."""
    values: dict[str, str] = {}
    for field in ("input", "output"):
        value = getattr(spec, field)
        if value is not None:
            values[field] = expand(value, {"bucket": bucket}) if bucket is not None else value
    return values


def app_arguments(spec: JobSpec, bucket: str | None) -> list[str]:
    values = {**data_paths(spec, bucket), **({"bucket": bucket} if bucket is not None else {})}
    return [expand(arg, values) for arg in spec.args]


def s3a_uri(bucket: str, prefix: str) -> str:
    return f"s3a://{bucket}/{prefix}"


def cluster_conf(
    spec: JobSpec, outputs: StackOutputs, *, pod_templates: PodTemplates, submission_id: str
) -> dict[str, str]:
    """Every --conf of a cluster submission, in a stable order: seed, Spot, submitter, spec."""
    if spec.image.tag is None:
        raise ValueError("the spec's image tag must be resolved before building the command")
    bounds, driver, executor = spec.dynamic_allocation, spec.driver, spec.executor
    bucket = outputs.bucket_name
    conf: dict[str, str] = {
        # The seed's command, in its order (less fs.s3a.connection.ssl.enabled=false).
        "spark.kubernetes.container.image": f"{outputs.image_repository_url}:{spec.image.tag}",
        "spark.kubernetes.namespace": outputs.spark_namespace,
        "spark.kubernetes.authenticate.driver.serviceAccountName": outputs.spark_service_account,
        "spark.dynamicAllocation.enabled": "true",
        "spark.dynamicAllocation.shuffleTracking.enabled": "true",
        "spark.dynamicAllocation.maxExecutors": str(bounds.max_executors),
        "spark.dynamicAllocation.executorAllocationRatio": f"{bounds.executor_allocation_ratio:g}",
        "spark.dynamicAllocation.sustainedSchedulerBacklogTimeout": SEED_SUSTAINED_BACKLOG_TIMEOUT,
        "spark.dynamicAllocation.executorIdleTimeout": SEED_EXECUTOR_IDLE_TIMEOUT,
        "spark.driver.memory": driver.memory,
        "spark.kubernetes.driver.request.cores": str(driver.cores),
        "spark.kubernetes.driver.limit.cores": str(driver.cores_limit),
        "spark.executor.memory": executor.memory,
        "spark.kubernetes.executor.request.cores": str(executor.cores),
        "spark.kubernetes.executor.limit.cores": str(executor.cores_limit),
        "spark.hadoop.fs.s3a.fast.upload": "true",
        "spark.kubernetes.driver.podTemplateFile": str(pod_templates.driver),
        "spark.kubernetes.executor.podTemplateFile": str(pod_templates.executor),
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": s3a_uri(bucket, EVENT_LOG_PREFIX),
        # Spot: on a reclaim notice, executors hand their blocks to peers or to S3.
        **decommission_conf(s3a_uri(bucket, DECOMMISSION_PREFIX)),
        "spark.dynamicAllocation.shuffleTracking.timeout": bounds.shuffle_tracking_timeout,
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            WEB_IDENTITY_PROVIDER if outputs.s3_access_via == "irsa" else INSTANCE_PROFILE_PROVIDER
        ),
        # The submitter's own: the remaining spec fields, identity, labels, detach.
        "spark.dynamicAllocation.minExecutors": str(bounds.min_executors),
        # Task slots match the requested cores (Spark's default is one slot per executor).
        "spark.executor.cores": str(executor.cores),
        "spark.kubernetes.authenticate.executor.serviceAccountName": outputs.spark_service_account,
        "spark.hadoop.fs.s3a.endpoint.region": outputs.region,
        f"spark.kubernetes.driver.label.{JOB_LABEL}": spec.name,
        f"spark.kubernetes.executor.label.{JOB_LABEL}": spec.name,
        f"spark.kubernetes.driver.label.{SUBMISSION_LABEL}": submission_id,
        f"spark.kubernetes.executor.label.{SUBMISSION_LABEL}": submission_id,
        # `--wait` follows the driver through the Kubernetes client instead.
        "spark.kubernetes.submission.waitAppCompletion": "false",
    }
    if bounds.initial_executors is not None:
        conf["spark.dynamicAllocation.initialExecutors"] = str(bounds.initial_executors)
    conf.update(spec.conf)
    return conf


def _conf_flags(conf: Mapping[str, str]) -> list[str]:
    flags: list[str] = []
    for key, value in conf.items():
        flags += ["--conf", f"{key}={value}"]
    return flags


def cluster_argv(
    spark_submit: str,
    spec: JobSpec,
    outputs: StackOutputs,
    *,
    app_uri: str,
    pod_templates: PodTemplates,
    submission_id: str,
) -> list[str]:
    """The cluster-mode spark-submit argv (a list: never joined into a shell string to run)."""
    argv = [spark_submit, "--master", f"k8s://{outputs.api_server_url}", "--deploy-mode", "cluster", "--name", spec.name]
    if spec.main_class:
        argv += ["--class", spec.main_class]
    argv += _conf_flags(cluster_conf(spec, outputs, pod_templates=pod_templates, submission_id=submission_id))
    return argv + [app_uri, *app_arguments(spec, outputs.bucket_name)]


def cluster_env(spark_home: str, kubeconfig_path: str = KUBECONFIG_PLACEHOLDER) -> dict[str, str]:
    """Added to the caller's environment: the pyspark wheel's Spark and the private kubeconfig."""
    return {"SPARK_HOME": spark_home, "KUBECONFIG": kubeconfig_path}


def local_argv(spark_submit: str, spec: JobSpec) -> list[str]:
    """The same job on this machine: spark-submit --master local[*] with local paths."""
    argv = [spark_submit, "--master", "local[*]", "--name", spec.name]
    if spec.main_class:
        argv += ["--class", spec.main_class]
    conf = {
        # Local runs are for trying a job out: Spark's INFO chatter would bury the app's output.
        "spark.log.level": "WARN",
        "spark.ui.showConsoleProgress": "false",
        # A short run is mostly JVM warm-up; the quick C1 compiler alone starts faster.
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
        **spec.conf,
    }
    argv += _conf_flags(conf)
    return argv + [spec.app, *app_arguments(spec, None)]


def local_env(spark_home: str, python: str) -> dict[str, str]:
    # The driver and workers must run the interpreter that has pyspark installed.
    return {"SPARK_HOME": spark_home, "PYSPARK_PYTHON": python}


def redact_argv(argv: Sequence[str]) -> list[str]:
    """argv for printing: values of secret-looking conf keys hidden, as Spark itself does."""
    shown = list(argv)
    for index in range(1, len(shown)):
        if shown[index - 1] == "--conf":
            key, _, _ = shown[index].partition("=")
            if _SECRET_KEY.search(key) and not key.endswith("File"):
                shown[index] = f"{key}={REDACTED}"
    return shown


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """The kubeconfig path is a private temporary file: never shown, nor are secret-looking vars."""
    return {
        name: (KUBECONFIG_PLACEHOLDER if name == "KUBECONFIG" else REDACTED if _SECRET_KEY.search(name) else value)
        for name, value in env.items()
    }


def shell_command(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The command a user could paste (env assignments first), quoted and redacted."""
    assignments = [f"{name}={shlex.quote(value)}" for name, value in redact_env(env).items()]
    return " ".join([*assignments, shlex.join(redact_argv(argv))])


def dry_run_document(
    argv: Sequence[str], env: Mapping[str, str], uploads: Sequence[AppUpload], pod_templates: PodTemplates | None
) -> dict[str, Any]:
    """What `submit --dry-run --json` prints."""
    return {
        "argv": redact_argv(argv),
        "env": redact_env(env),
        "uploads": [{"source": str(upload.source), "target": upload.s3_uri} for upload in uploads],
        "podTemplates": (
            {"driver": str(pod_templates.driver), "executor": str(pod_templates.executor)} if pod_templates else {}
        ),
    }


def dry_run_json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2)


def output_location(uri: str) -> tuple[str, str]:
    """(bucket, key prefix ending in '/') of an s3a:// output, for the overwrite guard."""
    without_scheme = uri.split("://", 1)[1]
    bucket, _, key = without_scheme.partition("/")
    key = key.strip("/")
    return bucket, f"{key}/" if key else ""
