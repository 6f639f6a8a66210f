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
from typing import Any, Iterator, Mapping, Sequence

from jobs.command import AppUpload, output_location

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


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


def file_digest(path: Path) -> str:
    """The app's content hash: the upload key changes exactly when the file does."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise LaunchError(f"app: {path} not found (paths are relative to the current directory)") from None
    except OSError as error:
        raise LaunchError(f"app: {path} cannot be read ({error.__class__.__name__}); check the path") from None
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


def _s3_failure(action: str, error: Exception) -> LaunchError:
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


def _s3_call(action: str, call: Any, **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call(**kwargs)
    except (BotoCoreError, ClientError) as error:
        raise _s3_failure(action, error) from None


def output_holds_objects(s3: Any, output_uri: str) -> bool:
    """True when the output prefix (or an object with exactly that key) already exists."""
    bucket, prefix = output_location(output_uri)
    listing = _s3_call(f"output {output_uri}", s3.list_objects_v2, Bucket=bucket, Prefix=prefix, MaxKeys=1)
    if listing.get("KeyCount", 0) > 0:
        return True
    if prefix:
        exact = _s3_call(
            f"output {output_uri}", s3.list_objects_v2, Bucket=bucket, Prefix=prefix.rstrip("/"), MaxKeys=1
        )
        return any(item["Key"] == prefix.rstrip("/") for item in exact.get("Contents", []))
    return False


def guard_output(s3: Any, output_uri: str, overwrite: bool) -> None:
    if not overwrite and output_holds_objects(s3, output_uri):
        raise LaunchError(
            f"output: {output_uri} already holds objects; choose a new output (--set output=...) "
            "or pass --overwrite to replace them"
        )


def upload_app(s3: Any, upload: AppUpload) -> bool:
    """Put the app at its content-addressed key unless that object is already there."""
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=upload.bucket, Key=upload.key)
        return False
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise _s3_failure(f"upload {upload.s3_uri}", error) from None
    except Exception as error:  # BotoCoreError: credentials, endpoint
        raise _s3_failure(f"upload {upload.s3_uri}", error) from None
    _s3_call(
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


@contextmanager
def private_kubeconfig(kubeconfig: Mapping[str, Any]) -> Iterator[Path]:
    """The kubeconfig in a file only this user can read, removed however the block ends."""
    directory = Path(tempfile.mkdtemp(prefix="spark-eks-spot-"))  # mode 0700
    path = directory / "kubeconfig"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(kubeconfig, handle)  # JSON is YAML: every kubeconfig reader takes it
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run_spark_submit(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run spark-submit with our variables added to the caller's environment; its exit code."""
    try:
        return subprocess.run(list(argv), env={**os.environ, **env}, check=False).returncode
    except FileNotFoundError:
        raise LaunchError(f"spark-submit not found at {argv[0]}; reinstall pyspark") from None
    except PermissionError:
        raise LaunchError(f"spark-submit at {argv[0]} is not executable; reinstall pyspark") from None
