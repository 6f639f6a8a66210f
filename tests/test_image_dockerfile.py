"""The Spark image's Dockerfile: linted by hadolint, and consistent with the pyspark we pin."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pyspark
from packaging.requirements import Requirement

from jobs.command import IMAGE_PYTHON

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
    broken.write_text(DOCKERFILE.read_text().replace("apache/spark:4.3.0-scala2.13-java17-ubuntu", "apache/spark:latest"))
    result = _hadolint(broken)
    assert result.returncode != 0
    assert "DL3007" in result.stdout


def test_base_image_is_the_pinned_pyspark_version() -> None:
    """The base tag names exactly the Spark version pyspark has, Scala 2.13, Java 17: Spark's JVM
    image, without the `-python3-` variant (see the next test for why)."""
    [base] = [value for keyword, value in _instructions(DOCKERFILE.read_text()) if keyword == "FROM"]
    image, _, tag = base.partition(":")
    assert image == "apache/spark"
    assert tag == f"{pyspark.__version__}-scala2.13-java17-ubuntu"


def test_python_is_one_pyspark_accepts() -> None:
    """apache/spark 4.x images are built on eclipse-temurin:<java>-jammy and the `-python3-`
    variants `apt-get install python3`, which is 3.10 on Ubuntu 22.04 (apache/spark-docker
    add-dockerfiles.sh and r-python.template; 4.1.2/scala2.13-java17-python3-ubuntu/Dockerfile).
    The pyspark wheel we pin declares Requires-Python >= 3.11 (its METADATA), so the image
    installs python3.11 into a virtual environment that is first on PATH and PYSPARK_PYTHON."""
    metadata = importlib.metadata.metadata("pyspark")
    assert metadata["Requires-Python"] == ">=3.11"
    instructions = _instructions(DOCKERFILE.read_text())
    install = next(value for keyword, value in instructions if keyword == "RUN" and "apt-get" in value)
    assert "apt-get install -y --no-install-recommends python3.11 python3.11-venv" in install
    assert "python3.11 -m venv /opt/spark-eks-spot/python" in install
    [env] = [value for keyword, value in instructions if keyword == "ENV"]
    assert "PATH=/opt/spark-eks-spot/python/bin:${PATH}" in env
    assert f"PYSPARK_PYTHON={IMAGE_PYTHON}" in env  # the interpreter cluster submissions name (jobs.command)


def test_pandas_and_pyarrow_meet_pysparks_minimums() -> None:
    """pandas, pyarrow and numpy are pinned at versions at or above what the pyspark wheel
    requires for its sql/pandas-on-spark extras (Requires-Dist: pandas>=2.2.0, pyarrow>=18.0.0,
    numpy>=1.23.2), and installed with exactly those pins."""
    requirements = {}
    for line in importlib.metadata.requires("pyspark") or []:
        requirement = Requirement(line)
        if requirement.marker is not None and requirement.marker.evaluate({"extra": "sql"}):
            requirements[requirement.name] = requirement.specifier
    args = _args(_instructions(DOCKERFILE.read_text()))
    pins = {"pandas": args["PANDAS_VERSION"], "pyarrow": args["PYARROW_VERSION"], "numpy": args["NUMPY_VERSION"]}
    assert set(requirements) == set(pins)
    for name, version in pins.items():
        assert requirements[name].contains(version), (name, version, requirements[name])
    install = next(value for keyword, value in _instructions(DOCKERFILE.read_text()) if "pip install" in value)
    for name, variable in (("pandas", "PANDAS_VERSION"), ("pyarrow", "PYARROW_VERSION"), ("numpy", "NUMPY_VERSION")):
        assert f'"{name}==${{{variable}}}"' in install


def test_cloud_committers_jar_matches_spark() -> None:
    """spark-hadoop-cloud (PathOutputCommitProtocol, BindingParquetOutputCommitter: Spark's
    docs/cloud-integration.md) for this Spark and Scala 2.13 comes in digest-checked like the
    S3A jars; the versions are read from the pyspark wheel's own jars."""
    [core_jar] = (Path(pyspark.__file__).parent / "jars").glob("spark-core_*.jar")
    scala, spark = core_jar.stem.removeprefix("spark-core_").split("-")
    args = _args(_instructions(DOCKERFILE.read_text()))
    assert (args["SCALA_BINARY_VERSION"], args["SPARK_VERSION"]) == (scala, spark) == ("2.13", pyspark.__version__)
    [install] = [value for keyword, value in _instructions(DOCKERFILE.read_text()) if keyword == "RUN" and "wget" in value]
    assert ("org/apache/spark/spark-hadoop-cloud_${SCALA_BINARY_VERSION}/${SPARK_VERSION}/"
            "spark-hadoop-cloud_${SCALA_BINARY_VERSION}-${SPARK_VERSION}.jar") in install


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
    [install] = [value for keyword, value in instructions if keyword == "RUN" and "wget" in value]
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


def test_the_dockerfile_names_no_architecture() -> None:
    """`python -m jobs image build` runs it once per platform (linux/amd64, linux/arm64): BuildKit picks
    the base image's manifest for each target platform, so a `FROM --platform=`, an architecture in a
    URL or a download of one architecture's binary would give one platform the other's bits.
    apache/spark-docker .github/workflows/main.yml publishes every apache/spark image with
    `platforms: linux/amd64,linux/arm64`."""
    for keyword, value in _instructions(DOCKERFILE.read_text()):
        assert "--platform" not in value, (keyword, value)
        assert not re.search(r"amd64|x86_64|x64|arm64|aarch64|armv8", value), (keyword, value)
