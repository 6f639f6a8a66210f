"""The submitter's I/O: find Spark and Java, upload the app, guard the output, run spark-submit.

Everything that touches the machine, S3 or a process lives here so `jobs.command` stays
pure. Failures raise `LaunchError` carrying one line and the exit code for the CLI.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from cli_common import EXIT_BAD_INPUT, EXIT_FAILED
from jobs.command import AppUpload, output_location
from jobs.outputs import named_entry


class LaunchError(RuntimeError):
    """A step that cannot go on; `exit_code` 2 for bad input or a missing tool, 1 for a failure."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        self.exit_code = exit_code
        super().__init__(message)


@dataclass(frozen=True)
class SparkInstall:
    home: Path
    submit: Path


def find_spark() -> SparkInstall:
    """The pyspark wheel's own Spark: its bin/spark-submit with SPARK_HOME at the package."""
    found = importlib.util.find_spec("pyspark")
    locations = list(found.submodule_search_locations or []) if found else []
    for location in locations:
        submit = Path(location) / "bin" / "spark-submit"
        if submit.is_file():
            return SparkInstall(Path(location), submit)
    raise LaunchError("spark-submit not found: install pyspark (`.venv/bin/pip install -r requirements-dev.txt`)")


def require_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return
    if shutil.which("java") is None:
        raise LaunchError("java not found: spark-submit needs Java 17; install a JDK or JRE 17 and put java on PATH or set JAVA_HOME")


def file_digest(path: Path, field: str = "app") -> str:
    """A file's content hash: the upload key changes exactly when the file does."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise LaunchError(f"{field}: {path} not found (paths are relative to the current directory)") from None
    except OSError as error:
        raise LaunchError(f"{field}: {path} cannot be read ({error.__class__.__name__}); check the path") from None
    return digest[:16]


def require_local_input(path: str, field: str) -> None:
    if not Path(path).exists():
        raise LaunchError(f"{field}: {path} not found (paths are relative to the current directory)")


# --- S3 ---------------------------------------------------------------------------------


def s3_client(region: str) -> Any:
    """A boto3 S3 client for the stack's region, with the caller's usual AWS credentials."""
    import boto3

    # A session of its own: boto3's module-level default session caches credentials.
    return boto3.session.Session(region_name=region).client("s3")


def s3_failure(action: str, error: Exception) -> LaunchError:
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError, PartialCredentialsError

    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return LaunchError(f"{action}: no AWS credentials; configure them (aws configure, AWS_PROFILE or SSO login)")
    if isinstance(error, NoRegionError):
        return LaunchError(f"{action}: no AWS region; the stack output region is empty")
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "error")
        message = error.response.get("Error", {}).get("Message", "")
        return LaunchError(f"{action}: S3 refused ({code}{': ' + message if message else ''})", EXIT_FAILED)
    first_line = (str(error).splitlines() or [""])[0]
    return LaunchError(f"{action}: {error.__class__.__name__}: {first_line}", EXIT_FAILED)


def s3_call(action: str, call: Any, **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call(**kwargs)
    except (BotoCoreError, ClientError) as error:
        raise s3_failure(action, error) from None


def output_holds_objects(s3: Any, output_uri: str) -> bool:
    """True when the output prefix (or an object with exactly that key) already exists."""
    bucket, prefix = output_location(output_uri)
    listing = s3_call(f"output {output_uri}", s3.list_objects_v2, Bucket=bucket, Prefix=prefix, MaxKeys=1)
    if listing.get("KeyCount", 0) > 0:
        return True
    if prefix:
        exact = s3_call(
            f"output {output_uri}", s3.list_objects_v2, Bucket=bucket, Prefix=prefix.rstrip("/"), MaxKeys=1
        )
        return any(item["Key"] == prefix.rstrip("/") for item in exact.get("Contents", []))
    return False


def guard_output(
    s3: Any, output_uri: str, overwrite: bool, *, own_run: tuple[str, str] | None = None,
    claim: Mapping[str, Any] | None = None,
) -> None:
    """Refuse an output that already holds objects, unless --overwrite, or unless they are the
    partial output of an earlier attempt of the same run: `own_run` is (job, run) of a retry and
    `claim` the output's claim in the bucket (jobs.records), which every attempt writes before it
    submits; a claim by any other job or run (a later `--overwrite` submission) refuses."""
    if overwrite or not output_holds_objects(s3, output_uri):
        return
    if own_run is not None and claim is not None and (claim.get("job"), claim.get("run")) == own_run:
        return
    if own_run is not None:
        taken = f"job {claim.get('job')}, run {claim.get('run')}" if claim else "nothing this run recorded"
        raise LaunchError(
            f"output: {output_uri} holds objects that no earlier attempt of run {own_run[1]} claimed (last claim: "
            f"{taken}); not retrying over them", EXIT_FAILED,
        )
    raise LaunchError(
        f"output: {output_uri} already holds objects; choose a new output (--set output=...) "
        "or pass --overwrite to replace them"
    )


def ensure_folder(s3: Any, uri: str) -> str:
    """Make an s3a:// folder exist for Hadoop: put S3A's empty-directory marker, the zero-byte
    object whose key is the prefix with its trailing '/'; its key.

    Spark 4.3 refuses to start when `spark.eventLog.dir` is not an existing directory
    (EventLogFileWriter.requireLogBaseDirAsDirectory) and never creates it; on S3 a folder
    exists only while some object has its prefix (S3A's getFileStatus lists the prefix). The
    bucket's expiry rule spares zero-byte objects (infra/storage.py); the marker is still put
    before every submission, so one deleted by hand cannot fail the next job."""
    bucket, prefix = output_location(uri)
    s3_call(f"event log folder {uri}", s3.put_object, Bucket=bucket, Key=prefix, Body=b"")
    return prefix


def upload_app(s3: Any, upload: AppUpload) -> bool:
    """Put the app at its content-addressed key unless that object is already there."""
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=upload.bucket, Key=upload.key)
        return False
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise s3_failure(f"upload {upload.s3_uri}", error) from None
    except Exception as error:  # BotoCoreError: credentials, endpoint
        raise s3_failure(f"upload {upload.s3_uri}", error) from None
    s3_call(
        f"upload {upload.s3_uri}",
        s3.put_object,
        Bucket=upload.bucket,
        Key=upload.key,
        Body=upload.source.read_bytes(),
        ContentType="text/x-python" if upload.source.suffix == ".py" else "application/java-archive",
    )
    return True


# --- local output -----------------------------------------------------------------------


def guard_local_output(path: str, overwrite: bool) -> None:
    target = Path(path)
    occupied = target.is_file() or (target.is_dir() and any(target.iterdir()))
    if occupied and not overwrite:
        raise LaunchError(
            f"output: {path} already holds files; choose a new output (--set local.output=...) "
            "or pass --overwrite to replace them"
        )


# --- kubeconfig and the process -----------------------------------------------------------


def _current_user(kubeconfig: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """The current context's user entry and the API host it authenticates to (parse_kubeconfig
    has already checked that the context, cluster and user exist)."""
    from urllib.parse import urlsplit

    context = named_entry(kubeconfig.get("contexts"), kubeconfig.get("current-context"), "context") or {}
    cluster = named_entry(kubeconfig.get("clusters"), context.get("cluster"), "cluster") or {}
    user = named_entry(kubeconfig.get("users"), context.get("user"), "user") or {}
    return user, urlsplit(str(cluster.get("server", ""))).hostname or "the API server"


def require_cluster_access(kubeconfig: Mapping[str, Any]) -> None:
    """Before anything talks to the cluster: the kubeconfig's exec credential plugin is installed
    and, for `aws eks get-token` (what an EKS kubeconfig runs), AWS credentials are there.

    Without the command, client-go and fabric8 send requests with no token at all; without
    credentials, the plugin fails and the clients report a network error."""
    user, host = _current_user(kubeconfig)
    plugin = user.get("exec")
    if not isinstance(plugin, dict) or not isinstance(plugin.get("command"), str):
        return
    command = plugin["command"]
    if shutil.which(command) is None:
        hint = "install the AWS CLI v2" if Path(command).name == "aws" else f"install {command}"
        raise LaunchError(
            f"the kubeconfig gets its token for {host} from `{command}`, which is not on PATH; {hint} and retry"
        )
    if Path(command).name != "aws":
        return
    import boto3
    from botocore.exceptions import BotoCoreError

    variables = {
        item["name"]: item.get("value", "")
        for item in plugin.get("env") or []
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    }
    try:
        session = boto3.session.Session(profile_name=variables.get("AWS_PROFILE") or None)
        credentials = session.get_credentials()
    except BotoCoreError as error:
        raise LaunchError(
            f"`aws eks get-token` for {host} cannot find AWS credentials ({error.__class__.__name__}); "
            "configure them (aws configure, AWS_PROFILE or SSO login)"
        ) from None
    if credentials is None:
        raise LaunchError(
            f"no AWS credentials for `aws eks get-token`, which the kubeconfig runs to reach {host}; "
            "configure them (aws configure, AWS_PROFILE or SSO login)"
        )


@contextmanager
def _private_directory() -> Iterator[Path]:
    """A temporary directory only this user can enter (mkdtemp: mode 0700), removed however the
    block ends."""
    directory = Path(tempfile.mkdtemp(prefix="spark-eks-spot-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def private_kubeconfig(kubeconfig: Mapping[str, Any]) -> Iterator[Path]:
    """The kubeconfig in a file only this user can read, removed however the block ends."""
    with _private_directory() as directory:
        path = directory / "kubeconfig"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(kubeconfig, handle)  # JSON is YAML: every kubeconfig reader takes it
        yield path


# The Hadoop configuration of spark-submit's own JVM on this machine, never of the cluster's.
# spark-submit resolves every --py-files, --jars and --files entry through Hadoop's FileSystem
# here (SparkSubmit.prepareSubmitEnvironment → DependencyUtils.resolveGlobPaths; only local:,
# http:, https: and ftp: are skipped), and the pyspark wheel has no S3A connector, so an s3a://
# dependency fails with ClassNotFoundException S3AFileSystem. Mapped to Hadoop's HTTPS
# FileSystem, which the wheel's hadoop-client-api has and whose getFileStatus builds a status
# from the path alone (a file, no I/O), the glob returns each s3a:// URI as it was given. The
# driver pod's own spark-submit, with the image's hadoop-aws, reads them through S3A.
CLIENT_S3A_FILESYSTEM = "org.apache.hadoop.fs.http.HttpsFileSystem"
CLIENT_CORE_SITE = f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- spark-submit's client JVM only: s3a:// dependency URIs pass its glob without S3A. -->
<configuration>
  <property>
    <name>fs.s3a.impl</name>
    <value>{CLIENT_S3A_FILESYSTEM}</value>
  </property>
</configuration>
"""


@contextmanager
def client_classpath() -> Iterator[Path]:
    """A private directory holding CLIENT_CORE_SITE as core-site.xml, for SPARK_DIST_CLASSPATH.

    The launcher puts SPARK_DIST_CLASSPATH on the classpath of spark-submit's JVM only
    (launcher AbstractCommandBuilder.buildClassPath); unlike HADOOP_CONF_DIR, which Spark on
    Kubernetes mounts into the driver pod (HadoopConfDriverFeatureStep), nothing ships it to
    the cluster. Removed however the block ends."""
    with _private_directory() as directory:
        (directory / "core-site.xml").write_text(CLIENT_CORE_SITE, encoding="utf-8")
        yield directory


def run_spark_submit(
    argv: Sequence[str],
    env: Mapping[str, str],
    on_output: Callable[[str], None] | None = None,
    without: Sequence[str] = (),
) -> int:
    """Run spark-submit with our variables added to the caller's environment, less the variables
    named in `without`; its exit code.

    With `on_output`, its stdout and stderr are read line by line and handed over (to print
    them above a progress line); otherwise they go straight to ours."""
    merged = {**{name: value for name, value in os.environ.items() if name not in without}, **env}
    try:
        if on_output is None:
            return subprocess.run(list(argv), env=merged, check=False).returncode
        with subprocess.Popen(list(argv), env=merged, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace") as process:
            assert process.stdout is not None
            for line in process.stdout:
                on_output(line.rstrip("\n"))
            return process.wait()
    except FileNotFoundError:
        raise LaunchError(f"spark-submit not found at {argv[0]}; reinstall pyspark") from None
    except PermissionError:
        raise LaunchError(f"spark-submit at {argv[0]} is not executable; reinstall pyspark") from None