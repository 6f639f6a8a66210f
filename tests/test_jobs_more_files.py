"""Jobs of more than one file (pyFiles, jars, files), `{bucket}` in a local run, the local run's
Spark settings, and Spark conf keys that Spark does not know."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyspark
import pytest
import yaml

from jobs import PROJECT_ROOT
from jobs.__main__ import main
from jobs.command import LOCAL_PARTITIONS_PER_CORE
from jobs.conf_keys import KEYS_FILE, is_known, unknown_conf_lines
from tests.conftest import ecr_image, kubeconfig_for, new_bucket, s3, stack_outputs
from tests.jobs_guard_helpers import driver_properties, drivers_succeed
from tests.k8s_recorder import K8sRecorder

pytestmark = pytest.mark.jvm  # starts Spark JVMs: scheduled first (tests/conftest.py)

APP = """import sys
from pyspark import SparkFiles
from pyspark.sql import SparkSession
import helper

spark = SparkSession.builder.getOrCreate()
with open(SparkFiles.get("words.txt"), encoding="utf-8") as handle:
    words = handle.read().split()
result = spark.sparkContext.parallelize(words).map(helper.shout).collect()
print("RESULT " + " ".join(result))
spark.stop()
"""


def write_job(directory: Path) -> Path:
    (directory / "lib").mkdir(parents=True)
    (directory / "lib" / "helper.py").write_text("def shout(word):\n    return word.upper() + '!'\n")
    (directory / "words.txt").write_text("spot on demand\n")
    (directory / "job.py").write_text(APP)
    spec = {"name": "shout", "app": str(directory / "job.py"), "args": [],
            "pyFiles": [str(directory / "lib" / "helper.py")], "files": [str(directory / "words.txt")],
            "image": {"tag": "deps"}}
    path = directory / "job.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_local_run_uses_py_files_and_files_in_place(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """spark-submit --py-files puts the module on the Python path of the driver and executors and
    --files ships the file to SparkFiles (Spark's submitting-applications docs); a real local run
    of a job that imports one and reads the other."""
    spec = write_job(tmp_path)
    assert main(["submit", str(spec), "--local"]) == 0, capfd.readouterr().err[-3000:]
    assert "RESULT SPOT! ON! DEMAND!" in capfd.readouterr().out


def test_a_cluster_run_uploads_each_file_beside_the_app(aws_env: str, recorder: K8sRecorder, tmp_path: Path,
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    """Local dependencies go to s3://BUCKET/apps/<job>/<content hash>/<name>, and reach the driver as
    spark.submit.pyFiles and spark.files holding presigned https URLs of those objects: spark-submit
    on this machine resolves every dependency but local/http(s)/ftp ones with Hadoop's FileSystem
    (core DependencyUtils.resolveGlobPath) and the pyspark wheel has no S3A, so s3a:// fails here
    (ClassNotFoundException S3AFileSystem; tried with the real spark-submit). The URLs serve the
    uploaded bytes."""
    spec = write_job(tmp_path)
    bucket = new_bucket(aws_env)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(stack_outputs(
        apiServerUrl=recorder.url, kubeconfig=json.dumps(kubeconfig_for(recorder.url)), bucketName=bucket,
        imageRepositoryUrl=ecr_image(aws_env, "deps"))))
    drivers_succeed(recorder)
    assert main(["submit", str(spec), "--outputs", str(outputs)]) == 0, capfd.readouterr().err[-3000:]
    keys = sorted(item["Key"] for item in s3(aws_env).list_objects_v2(Bucket=bucket)["Contents"])
    uploaded = {key.rsplit("/", 1)[-1]: key for key in keys if key.startswith("apps/shout/")}
    assert set(uploaded) == {"job.py", "helper.py", "words.txt"}
    properties = driver_properties(recorder)
    for conf, name in (("spark.submit.pyFiles", "helper.py"), ("spark.files", "words.txt")):
        url = properties[conf]
        assert url.startswith(f"{aws_env}/{bucket}/{uploaded[name]}?") and "X-Amz-Signature=" in url
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - moto on 127.0.0.1
            assert response.read() == (tmp_path / ("lib/helper.py" if name == "helper.py" else name)).read_bytes()



def test_a_driver_in_client_mode_runs_with_presigned_dependencies(aws_env: str, bucket: str, tmp_path: Path,
                                                                   capfd: pytest.CaptureFixture[str]) -> None:
    """The driver pod runs spark-submit in client mode, which downloads remote --py-files/--files
    into its working directory (SparkSubmit.prepareSubmitEnvironment, "In client mode, download
    remote files") and names them by the URL's path, not its signature query. The same code path
    runs here: the real spark-submit with presigned URLs of moto objects (made by
    jobs.launch.presigned_url), importing the module and reading the file."""
    from jobs.command import upload_of
    from jobs.launch import find_spark, presigned_url, s3_client, upload_app

    write_job(tmp_path)
    client = s3_client("us-west-2")
    urls = {}
    for name, path in (("helper", tmp_path / "lib" / "helper.py"), ("words", tmp_path / "words.txt")):
        upload = upload_of("shout", str(path), bucket, "0123456789abcdef")
        upload_app(client, upload)
        urls[name] = presigned_url("us-west-2", upload)
    spark = find_spark()
    done = subprocess.run([str(spark.submit), "--master", "local[2]", "--py-files", urls["helper"], "--files", urls["words"],
                           str(tmp_path / "job.py")], env={**os.environ, "SPARK_HOME": str(spark.home)},
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RESULT SPOT! ON! DEMAND!" in done.stdout


def test_dependency_paths_are_checked_like_the_app(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump({"name": "x", "app": "jobs/apps/wordcount.py", "args": [],
                                    "pyFiles": ["lib/a.txt", "s3://b/c.py"], "jars": ["x.jar", "y/x.jar"]}))
    assert main(["submit", str(spec), "--local", "--dry-run"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"jobs: spec {spec}: pyFiles[0]: 'lib/a.txt' must be a .py, .zip, .egg file",
        f"jobs: spec {spec}: pyFiles[1]: 's3://b/c.py' uses s3://; Spark's S3 connector reads s3a:// (same bucket and key)",
        f"jobs: spec {spec}: jars[1]: 'y/x.jar' has the same file name as jars[0]; rename one of them",
    ]


def test_bucket_in_args_is_one_line_for_a_local_run(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A local run has no stack bucket: `{bucket}` in args was a KeyError traceback, even with
    --dry-run; it is one line naming the argument."""
    monkeypatch.chdir(PROJECT_ROOT)
    code = main(["submit", "examples/wordcount.yaml", "--local", "--dry-run", "--set", 'args=["{input}", "s3a://{bucket}/x/"]'])
    assert code == 2
    assert capsys.readouterr().err == (
        "jobs: spec examples/wordcount.yaml: args[1]: {bucket} is the stack's bucket, which a --local run does not "
        "have; use {input}/{output} or a local path in this argument\n"
    )


def test_a_local_run_sizes_shuffles_to_the_machine_and_shows_progress(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """spark.sql.shuffle.partitions defaults to 200 (SQLConf SHUFFLE_PARTITIONS) and
    spark.ui.showConsoleProgress to false outside a shell (core internal/config/UI.scala; both
    read from the pyspark 4.3.0 jars). A local run gets a few partitions per core and the
    progress bar; the spec's conf still wins."""
    monkeypatch.chdir(PROJECT_ROOT)
    assert main(["submit", "examples/wordcount.yaml", "--local", "--dry-run", "--json"]) == 0
    argv = json.loads(capsys.readouterr().out)["argv"]
    assert f"spark.sql.shuffle.partitions={LOCAL_PARTITIONS_PER_CORE * (os.cpu_count() or 1)}" in argv
    assert "spark.ui.showConsoleProgress=true" in argv
    assert main(["submit", "examples/wordcount.yaml", "--local", "--dry-run", "--json",
                 "--conf", "spark.sql.shuffle.partitions=7"]) == 0
    argv = json.loads(capsys.readouterr().out)["argv"]
    assert [a for a in argv if a.startswith("spark.sql.shuffle.partitions=")] == ["spark.sql.shuffle.partitions=7"]


# --- conf keys Spark does not know ---------------------------------------------------------------


def test_a_misspelt_key_is_a_warning_naming_the_closest_and_strict_refuses_it(
    write_outputs: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Spark reads a setting only through its exact key and ignores others silently (SparkConf.get
    by key; ConfigEntry.knownConfigs holds every key Spark defines)."""
    monkeypatch.chdir(PROJECT_ROOT)
    args = ["submit", "examples/wordcount.yaml", "--outputs", str(write_outputs()), "--dry-run", "--set", "image.tag=t",
            "--conf", "spark.dynamicAllocation.maxExecutor=5"]
    assert main(args) == 0
    line = ("conf.spark.dynamicAllocation.maxExecutor: Spark does not know this key and would ignore it; did you mean "
            "spark.dynamicAllocation.maxExecutors? The spec field dynamicAllocation.maxExecutors sets it")
    assert capsys.readouterr().err == f"jobs: warning: {line} (--strict makes this an error)\n"
    assert main([*args, "--strict"]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"jobs: spec examples/wordcount.yaml: {line}\n")


def test_every_key_the_submitter_sets_is_known(write_outputs: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The list is a real check: the submitter's own cluster and local settings (decommissioning,
    executor grace, committers, labels by prefix) all pass, and a made-up one does not."""
    monkeypatch.chdir(PROJECT_ROOT)
    for flags in (["--outputs", str(write_outputs()), "--set", "image.tag=t"], ["--local"]):
        assert main(["submit", "examples/wordcount.yaml", *flags, "--dry-run", "--json"]) == 0
        argv = json.loads(capsys.readouterr().out)["argv"]
        keys = [argv[i + 1].split("=", 1)[0] for i, item in enumerate(argv) if item == "--conf"]
        assert keys and unknown_conf_lines(keys) == []
    assert is_known("spark.kubernetes.executor.label.anything") and not is_known("spark.kubernetes.executor.label.")
    assert not is_known("spark.executor.memoryy")


@dataclass
class Generated:
    code: int
    stderr: str
    text: str


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """One run of `python -m jobs.generate_conf_keys` over the installed wheel's jars (the JVM
    starts here), shared by the tests below."""
    target = tmp_path_factory.mktemp("conf-keys") / "keys.txt"
    done = subprocess.run([os.sys.executable, "-m", "jobs.generate_conf_keys", "--output", str(target)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180, check=False)
    return Generated(done.returncode, done.stderr, target.read_text(encoding="utf-8") if target.exists() else "")


def test_the_key_list_is_what_the_generator_makes_from_the_installed_pyspark(generated: Generated) -> None:
    """jobs/spark_conf_keys.txt names the pyspark it was made from and equals a fresh run of
    `python -m jobs.generate_conf_keys` over the installed wheel's jars."""
    text = KEYS_FILE.read_text(encoding="utf-8")
    assert f"# pyspark {pyspark.__version__}\n" in text
    assert generated.text == text, generated.stderr[-2000:]


def test_the_generator_runs_as_a_module(generated: Generated) -> None:
    assert generated.code == 0, generated.stderr[-2000:]
    assert generated.text == KEYS_FILE.read_text(encoding="utf-8")
