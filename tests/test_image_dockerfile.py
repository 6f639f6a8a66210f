"""The Spark image's Dockerfile: linted by hadolint, and consistent with the pyspark we pin."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyspark

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "image" / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def _args(instructions: list[tuple[str, str]]) -> dict[str, str]:
    return dict(value.split("=", 1) for keyword, value in instructions if keyword == "ARG" and "=" in value)


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, check=False)


def test_hadolint_passes() -> None:
    """No hadolint finding at its default threshold (info and above)."""
    result = _hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_an_unpinned_base(tmp_path: Path) -> None:
    """The lint is real: a `latest` base image fails it."""
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text().replace("apache/spark:4.3.0-scala2.13-java17-python3-ubuntu", "apache/spark:latest"))
    result = _hadolint(broken)
    assert result.returncode != 0
    assert "DL3007" in result.stdout


def test_base_image_is_the_pinned_pyspark_version_with_python() -> None:
    """The base tag names exactly the Spark version pyspark has, Scala 2.13, Java 17, Python."""
    [base] = [value for keyword, value in _instructions(DOCKERFILE.read_text()) if keyword == "FROM"]
    image, _, tag = base.partition(":")
    assert image == "apache/spark"
    assert tag == f"{pyspark.__version__}-scala2.13-java17-python3-ubuntu"


def test_s3a_jars_match_sparks_hadoop() -> None:
    """hadoop-aws equals the Hadoop client that this Spark ships (read from the pyspark wheel's jars)."""
    [client_jar] = (Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar")
    hadoop_version = client_jar.stem.removeprefix("hadoop-client-api-")
    args = _args(_instructions(DOCKERFILE.read_text()))
    assert args["HADOOP_VERSION"] == hadoop_version
    # hadoop-project 3.5.0 builds against AWS SDK v2 2.35.4; a different Hadoop needs a re-check.
    assert (hadoop_version, args["AWS_SDK_VERSION"]) == ("3.5.0", "2.35.4")


def test_jars_are_checked_and_the_image_runs_unprivileged() -> None:
    """Every fetched jar is digest-checked; the last USER is the non-root spark uid; apps are copied."""
    instructions = _instructions(DOCKERFILE.read_text())
    [install] = [value for keyword, value in instructions if keyword == "RUN"]
    assert install.count("wget -q -O \"${jar}\"") == 1 and "sha1sum --check --strict" in install
    assert 'test -f "hadoop-client-api-${HADOOP_VERSION}.jar"' in install
    users = [value for keyword, value in instructions if keyword == "USER"]
    assert users[-1] == "185"
    assert ("COPY", "jobs/apps/ /opt/spark-eks-spot/apps/") in instructions


def test_build_context_re_includes_only_the_apps() -> None:
    """.dockerignore excludes everything (venv, outputs files with a kubeconfig, .git) but jobs/apps/."""
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*"
    assert [p for p in patterns if p.startswith("!")] == ["!jobs/apps/"]
