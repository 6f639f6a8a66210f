"""Pure core: a validated job spec + the stack's outputs → the spark-submit argv and env.

No I/O here. The caller passes in what the edges found (where spark-submit lives, the
app file's digest, the pod template paths, a submission id), so every function is a
plain mapping from values to values and the golden test can pin the whole command.

The Spark settings start from the spark-submit command of the AWS blog post this design
follows ("Running cost optimized Spark workloads on Kubernetes using EC2 Spot Instances"),
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
from jobs.sizing import BLOG_POST_CORES, BLOG_POST_CORES_LIMIT, BLOG_POST_MEMORY, ExecutorShape, executor_node, shape_for_node
from jobs.spec import DEPENDENCY_FIELDS, JobSpec
from jobs.spot import decommission_conf, executor_grace_conf

# Bucket prefixes with their own lifecycle rules (infra/storage.py).
EVENT_LOG_PREFIX = "spark-events/"
DECOMMISSION_PREFIX = "spark-decommission/"
APP_PREFIX = "apps/"
# Under the event-log prefix, so the bucket's event-log expiry is their retention too. The
# History Server skips them: in its log directory it reads only files and `eventlog_v2_*`
# folders (EventLogFileReader.apply), and these are other folders.
DRIVER_LOG_PREFIX = f"{EVENT_LOG_PREFIX}driver-logs/"  # Spark's own driver logs (spark.driver.log.dfsDir)
SUBMISSIONS_PREFIX = f"{EVENT_LOG_PREFIX}jobs/"  # the submitter's records and driver pod logs
OUTPUT_CLAIMS_PREFIX = f"{EVENT_LOG_PREFIX}output-claims/"  # which run last took an output

EVENT_LOG_KEY = "spark.eventLog.dir"
DRIVER_LOG_ENABLED_KEY = "spark.driver.log.persistToDfs.enabled"
DRIVER_LOG_DIR_KEY = "spark.driver.log.dfsDir"

JOB_LABEL = "spark-eks-spot/job"
SUBMISSION_LABEL = "spark-eks-spot/submission"
# A run is one `submit`: its attempts share the run id (the first attempt's submission id).
RUN_LABEL = "spark-eks-spot/run"
ATTEMPT_LABEL = "spark-eks-spot/attempt"

# hadoop-aws 3.4+ speaks AWS SDK v2: these are the SDK's web-identity provider (IRSA
# injects AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE) and Hadoop's instance-profile one.
WEB_IDENTITY_PROVIDER = "software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider"
INSTANCE_PROFILE_PROVIDER = "org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider"

# Output committed by S3A's magic committer instead of rename (a copy on S3): the committer
# name from Hadoop's S3A committer docs (hadoop-aws/tools/hadoop-aws/committers.md) and the two
# SQL classes of spark-hadoop-cloud from Spark's docs/cloud-integration.md.
S3A_COMMITTER_CONF = {
    "spark.hadoop.fs.s3a.committer.name": "magic",
    "spark.hadoop.fs.s3a.committer.magic.enabled": "true",
    "spark.sql.sources.commitProtocolClass": "org.apache.spark.internal.io.cloud.PathOutputCommitProtocol",
    "spark.sql.parquet.output.committer.class": "org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter",
}
# Jobs use no PersistentVolumeClaims, and the Spark Role grants none: without these the driver
# lists and deletes claims by label (ExecutorPodsAllocator.getReusablePVCs, defaults true).
NO_PVC_CONF = {
    "spark.kubernetes.driver.ownPersistentVolumeClaim": "false",
    "spark.kubernetes.driver.reusePersistentVolumeClaim": "false",
}
# spark-submit's flag for each dependency field of the spec.
DEPENDENCY_FLAGS = {"pyFiles": "--py-files", "jars": "--jars", "files": "--files"}
# The image's Python (image/Dockerfile: its venv, ENV PYSPARK_PYTHON). Spark on Kubernetes
# copies PYSPARK_PYTHON and PYSPARK_DRIVER_PYTHON from the SUBMITTING machine's environment into
# the driver pod unless spark.pyspark.python / spark.pyspark.driver.python are set
# (DriverCommandFeatureStep.configureForPython reads the conf first, then sys.env), so a
# laptop's venv path would replace the image's interpreter.
IMAGE_PYTHON = "/opt/spark-eks-spot/python/bin/python3"
PYTHON_CONF = {"spark.pyspark.python": IMAGE_PYTHON, "spark.pyspark.driver.python": IMAGE_PYTHON}

# The blog post's settings that no spec field controls (overridable through `conf`).
BLOG_POST_SUSTAINED_BACKLOG_TIMEOUT = "30"
BLOG_POST_EXECUTOR_IDLE_TIMEOUT = "60s"

LOCAL_PARTITIONS_PER_CORE = 2

REDACTED = "*********(redacted)"
# Spark's default spark.redaction.regex, applied to what we print.
_SECRET_KEY = re.compile(r"(?i)secret|password|token|access[.]key")
KUBECONFIG_PLACEHOLDER = "<private temporary kubeconfig, mode 0600, deleted after the run>"
CLIENT_CLASSPATH_PLACEHOLDER = "<private temporary directory with spark-submit's client core-site.xml, deleted after the run>"
# Left out of a cluster spark-submit's environment: the launcher puts both on the client's
# classpath ahead of SPARK_DIST_CLASSPATH (AbstractCommandBuilder.buildClassPath), so a
# core-site.xml in them would hide the client's own, and Spark on Kubernetes mounts
# HADOOP_CONF_DIR into the driver pod (HadoopConfDriverFeatureStep): this machine's Hadoop
# settings have no business on the cluster, whose S3A settings are spark.hadoop.* confs.
LOCAL_HADOOP_VARIABLES = ("HADOOP_CONF_DIR", "YARN_CONF_DIR")


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


def upload_of(job: str, path: str, bucket: str, digest: str) -> AppUpload:
    source = Path(path)
    return AppUpload(source, bucket, f"{APP_PREFIX}{job}/{digest}/{source.name}")


def app_upload(spec: JobSpec, bucket: str, digest: str) -> AppUpload | None:
    """Where a local app is uploaded; None for an s3a:// or local:// app, which is used as it is."""
    if not is_local_app(spec.app):
        return None
    return upload_of(spec.name, spec.app, bucket, digest)


def dependency_paths(spec: JobSpec) -> dict[str, list[str]]:
    """pyFiles, jars and files as the spec lists them (spec field name → paths)."""
    return {field: list(getattr(spec, attribute)) for field, (attribute, _) in DEPENDENCY_FIELDS.items()}


def local_files(spec: JobSpec) -> list[str]:
    """Every local file a cluster submission uploads: the app and its dependencies."""
    paths = [spec.app] + [path for paths in dependency_paths(spec).values() for path in paths]
    return [path for path in paths if is_local_app(path)]


def dependency_uploads(
    spec: JobSpec, bucket: str, digests: Mapping[str, str]
) -> tuple[dict[str, list[str]], list[AppUpload]]:
    """Each dependency's URI for spark-submit and the uploads it needs: a local file goes beside
    the app in the bucket and is handed over as its s3a:// URI, which the driver pod's S3A reads
    with the job's own credentials (spark-submit on this machine passes it through with the
    client classpath of jobs.launch.client_classpath); s3a:// and local:// paths pass as they are."""
    uris: dict[str, list[str]] = {}
    uploads: list[AppUpload] = []
    for field, paths in dependency_paths(spec).items():
        uris[field] = []
        for path in paths:
            if is_local_app(path):
                upload = upload_of(spec.name, path, bucket, digests[path])
                uploads.append(upload)
                uris[field].append(upload.s3a_uri)
            else:
                uris[field].append(path)
    return uris, uploads


def dependency_flags(uris: Mapping[str, Sequence[str]]) -> list[str]:
    """`--py-files a,b --jars c --files d` for the non-empty lists."""
    flags: list[str] = []
    for field, flag in DEPENDENCY_FLAGS.items():
        if uris.get(field):
            flags += [flag, ",".join(uris[field])]
    return flags


@dataclass(frozen=True)
class ExecutorSettings:
    """The executor size that goes into spark-submit, and the default shape it was cut from, if any."""

    cores: int
    cpu_request: str
    cores_limit: int
    memory: str
    shape: ExecutorShape | None  # the default shape, when it filled a field the spec left out
    node_known: bool  # whether the stack's nodeGroups output names an executors group of a known size

    def describe(self) -> str:
        size = f"{self.cores} task slots, CPU request {self.cpu_request}, memory {self.memory}"
        if self.shape is not None:
            return f"executor shape: {self.shape.describe()}"
        if self.node_known:
            return f"executor: {size} (as the spec sets it)"
        return (f"executor: {size} (the AWS blog post's shape: the stack's nodeGroups output names no executors "
                "group of a known instance size)")


def executor_settings(spec: JobSpec, node_groups: Any) -> ExecutorSettings:
    """executor.cores/coresLimit/memory as the spec sets them; each field it leaves out comes from
    the default shape of the executors group's node (jobs.sizing), or the blog post's shape without one."""
    node = executor_node(node_groups)
    shape = shape_for_node(node, spec.conf, spec.is_python) if node is not None else None
    given = spec.executor
    if given.cores is not None:
        cores, request = given.cores, str(given.cores)
    elif shape is not None:
        cores, request = shape.task_slots, shape.cpu_request
    else:
        cores, request = BLOG_POST_CORES, str(BLOG_POST_CORES)
    memory = given.memory or (shape.memory if shape is not None else BLOG_POST_MEMORY)
    limit = given.cores_limit or max(cores, node.vcpu if node is not None else BLOG_POST_CORES_LIMIT)
    used = shape if shape is not None and (given.cores is None or given.memory is None) else None
    return ExecutorSettings(cores, request, limit, memory, used, node is not None)


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


def driver_log_conf(dfs_dir: str) -> dict[str, str]:
    """Spark's driver log copied to `dfs_dir` as `<app id>_driver.log` (DriverLogger, Spark 3.0+).

    Spark enables it only in client mode, and the driver pod runs spark-submit with
    `--deploy-mode client` (apache/spark-docker entrypoint.sh, `driver)`), so it is active on
    the cluster. The folder must exist. The copy holds the JVM's log only, not the Python
    console, and on S3 it appears when the driver stops cleanly: the submitter also saves the
    pod's log (jobs/records.py)."""
    return {DRIVER_LOG_ENABLED_KEY: "true", DRIVER_LOG_DIR_KEY: dfs_dir}


def cluster_conf(
    spec: JobSpec, outputs: StackOutputs, *, pod_templates: PodTemplates, submission_id: str,
    run_id: str | None = None, attempt: int = 1,
) -> dict[str, str]:
    """Every --conf of a cluster submission, in a stable order: the blog post's, Spot, submitter, spec."""
    if spec.image.tag is None:
        raise ValueError("the spec's image tag must be resolved before building the command")
    bounds, driver = spec.dynamic_allocation, spec.driver
    executor = executor_settings(spec, outputs.node_groups)
    bucket = outputs.bucket_name
    conf: dict[str, str] = {
        # The blog post's command, in its order (less fs.s3a.connection.ssl.enabled=false, and less
        # fs.s3a.fast.upload, which Hadoop 3.5's S3A ignores: it always uploads in blocks).
        "spark.kubernetes.container.image": f"{outputs.image_repository_url}:{spec.image.tag}",
        "spark.kubernetes.namespace": outputs.spark_namespace,
        "spark.kubernetes.authenticate.driver.serviceAccountName": outputs.spark_service_account,
        "spark.dynamicAllocation.enabled": "true",
        "spark.dynamicAllocation.shuffleTracking.enabled": "true",
        "spark.dynamicAllocation.maxExecutors": str(bounds.max_executors),
        "spark.dynamicAllocation.executorAllocationRatio": f"{bounds.executor_allocation_ratio:g}",
        "spark.dynamicAllocation.sustainedSchedulerBacklogTimeout": BLOG_POST_SUSTAINED_BACKLOG_TIMEOUT,
        "spark.dynamicAllocation.executorIdleTimeout": BLOG_POST_EXECUTOR_IDLE_TIMEOUT,
        "spark.driver.memory": driver.memory,
        "spark.kubernetes.driver.request.cores": str(driver.cores),
        "spark.kubernetes.driver.limit.cores": str(driver.cores_limit),
        "spark.executor.memory": executor.memory,
        "spark.kubernetes.executor.request.cores": executor.cpu_request,
        "spark.kubernetes.executor.limit.cores": str(executor.cores_limit),
        "spark.kubernetes.driver.podTemplateFile": str(pod_templates.driver),
        "spark.kubernetes.executor.podTemplateFile": str(pod_templates.executor),
        "spark.eventLog.enabled": "true",
        EVENT_LOG_KEY: s3a_uri(bucket, EVENT_LOG_PREFIX),
        # Spot: on a reclaim notice, executors hand their blocks to peers or to S3, within the grace.
        **decommission_conf(s3a_uri(bucket, DECOMMISSION_PREFIX)),
        **executor_grace_conf(),
        "spark.dynamicAllocation.shuffleTracking.timeout": bounds.shuffle_tracking_timeout,
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            WEB_IDENTITY_PROVIDER if outputs.s3_access_via == "irsa" else INSTANCE_PROFILE_PROVIDER
        ),
        **S3A_COMMITTER_CONF,
        # The submitter's own: the remaining spec fields, identity, labels, detach.
        "spark.dynamicAllocation.minExecutors": str(bounds.min_executors),
        # Task slots: the executor's cores, whatever share of a CPU it requests.
        "spark.executor.cores": str(executor.cores),
        "spark.kubernetes.authenticate.executor.serviceAccountName": (
            outputs.spark_executor_service_account or outputs.spark_service_account
        ),
        **NO_PVC_CONF,
        "spark.hadoop.fs.s3a.endpoint.region": outputs.region,
        f"spark.kubernetes.driver.label.{JOB_LABEL}": spec.name,
        f"spark.kubernetes.executor.label.{JOB_LABEL}": spec.name,
        f"spark.kubernetes.driver.label.{SUBMISSION_LABEL}": submission_id,
        f"spark.kubernetes.executor.label.{SUBMISSION_LABEL}": submission_id,
        f"spark.kubernetes.driver.label.{RUN_LABEL}": run_id or submission_id,
        f"spark.kubernetes.driver.label.{ATTEMPT_LABEL}": str(attempt),
        # The image's Python, not the one this machine's environment names.
        **PYTHON_CONF,
        # The driver's log kept in the bucket (the submitter also saves the pod's console).
        **driver_log_conf(s3a_uri(bucket, DRIVER_LOG_PREFIX)),
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
    dependency_uris: Mapping[str, Sequence[str]] | None = None,
    run_id: str | None = None,
    attempt: int = 1,
) -> list[str]:
    """The cluster-mode spark-submit argv (a list: never joined into a shell string to run)."""
    argv = [spark_submit, "--master", f"k8s://{outputs.api_server_url}", "--deploy-mode", "cluster", "--name", spec.name]
    if spec.main_class:
        argv += ["--class", spec.main_class]
    argv += dependency_flags(dependency_uris if dependency_uris is not None else dependency_paths(spec))
    argv += _conf_flags(cluster_conf(spec, outputs, pod_templates=pod_templates, submission_id=submission_id,
                                     run_id=run_id, attempt=attempt))
    return argv + [app_uri, *app_arguments(spec, outputs.bucket_name)]


def cluster_env(spark_home: str, kubeconfig_path: str = KUBECONFIG_PLACEHOLDER,
                client_classpath: str = CLIENT_CLASSPATH_PLACEHOLDER) -> dict[str, str]:
    """Added to the caller's environment (less LOCAL_HADOOP_VARIABLES): the pyspark wheel's Spark,
    the private kubeconfig, and the client JVM's own classpath directory (jobs.launch.client_classpath)."""
    return {"SPARK_HOME": spark_home, "KUBECONFIG": kubeconfig_path, "SPARK_DIST_CLASSPATH": client_classpath}


def local_argv(spark_submit: str, spec: JobSpec, local_cores: int, console_progress: bool = True) -> list[str]:
    """The same job on this machine: spark-submit --master local[*] with local paths.

    `console_progress`: Spark's stage progress bar on stderr (for a terminal; Spark draws it
    with carriage returns whatever stderr is, so a log or a pipe gets it off)."""
    argv = [spark_submit, "--master", "local[*]", "--name", spec.name]
    if spec.main_class:
        argv += ["--class", spec.main_class]
    argv += dependency_flags(dependency_paths(spec))
    conf = {
        # Local runs are for trying a job out: Spark's INFO chatter would bury the app's output,
        # but the progress bar shows the job moving (Spark's default is off outside a shell).
        "spark.log.level": "WARN",
        "spark.ui.showConsoleProgress": "true" if console_progress else "false",
        # Spark's 200 shuffle partitions are for a cluster; a few per local core is plenty here.
        "spark.sql.shuffle.partitions": str(LOCAL_PARTITIONS_PER_CORE * max(1, local_cores)),
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


_PRIVATE_PATHS = {"KUBECONFIG": KUBECONFIG_PLACEHOLDER, "SPARK_DIST_CLASSPATH": CLIENT_CLASSPATH_PLACEHOLDER}


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """Private temporary paths are never shown (they are gone after the run), nor are secret-looking vars."""
    return {
        name: _PRIVATE_PATHS.get(name) or (REDACTED if _SECRET_KEY.search(name) else value)
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
