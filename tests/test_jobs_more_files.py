"""Jobs of more than one file (pyFiles, jars, files), `{bucket}` in a local run, the local run's
Spark settings, and Spark conf keys that Spark does not know."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from xml.etree import ElementTree

import pyspark
import pytest
import yaml

import jobs.__main__ as jobs_main
from jobs import PROJECT_ROOT
from jobs.__main__ import main
from jobs.command import IMAGE_PYTHON, LOCAL_PARTITIONS_PER_CORE
from jobs.conf_keys import KEYS_FILE, is_known, unknown_conf_lines
from jobs.launch import client_classpath, find_spark, run_spark_submit
from jobs.spec import load_spec
from tests.conftest import ecr_image, kubeconfig_for, new_bucket, s3, stack_outputs
from tests.jobs_guard_helpers import driver_properties, drivers_succeed, posted_driver
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


@dataclass
class ClientJvm:
    """What spark-submit's process was handed: its environment and its classpath directory as it
    was while the process ran (it is deleted afterwards)."""

    env: dict[str, str]
    classpath_mode: int
    classpath_files: dict[str, str]


def submit_recorded(aws_env: str, recorder: K8sRecorder, spec: Path, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, list[ClientJvm]]:
    """`python -m jobs submit SPEC` through the real spark-submit against the recorder, the app and
    its files uploaded to moto; spark-submit's launch is watched, then run as it is."""
    bucket = json.loads(spec.with_suffix(".bucket").read_text())
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(stack_outputs(
        apiServerUrl=recorder.url, kubeconfig=json.dumps(kubeconfig_for(recorder.url)), bucketName=bucket,
        imageRepositoryUrl=ecr_image(aws_env, "deps"))))
    drivers_succeed(recorder)
    launches: list[ClientJvm] = []

    def watched(argv: list[str], env: dict[str, str], on_output: Any = None, without: tuple[str, ...] = ()) -> int:
        directory = Path(env["SPARK_DIST_CLASSPATH"])
        launches.append(ClientJvm(dict(env), directory.stat().st_mode & 0o777,
                                  {item.name: item.read_text() for item in directory.iterdir()}))
        return run_spark_submit(argv, env, on_output=on_output, without=without)

    monkeypatch.setattr(jobs_main, "run_spark_submit", watched)
    code = main(["submit", str(spec), "--outputs", str(outputs)])
    return code, bucket, launches


def write_cluster_job(directory: Path, bucket: str, *, shared: str = "") -> Path:
    """The shout job for the cluster: its helper and words file local, a jar, and (given) a
    dependency already in the bucket."""
    spec_path = write_job(directory)
    spec = yaml.safe_load(spec_path.read_text())
    (directory / "lib.jar").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip: a jar spark-submit never opens
    spec["jars"] = [str(directory / "lib.jar")]
    if shared:
        spec["pyFiles"].append(shared)
    spec_path.write_text(yaml.safe_dump(spec))
    spec_path.with_suffix(".bucket").write_text(json.dumps(bucket))
    return spec_path


def test_dependencies_reach_the_driver_as_s3a_uris_byte_for_byte(
    aws_env: str, recorder: K8sRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Local pyFiles, jars and files go to s3://BUCKET/apps/<job>/<content hash>/<name> and reach
    the driver's spark.submit.pyFiles, spark.jars and spark.files as those s3a:// URIs exactly, no
    query string: the driver pod's spark-submit reads them with S3A and the job's own credentials.

    Presigned https URLs cannot work: Spark rebuilds every dependency URI as
    `new URI(scheme, getSchemeSpecificPart, null)` (core DependencyUtils.splitOnFragment, on the
    client and again in the driver), which decodes the query, so X-Amz-Security-Token's `%2B`
    reaches S3 as `+` and every user of temporary credentials gets 403. spark-submit on this
    machine globs each entry through Hadoop's FileSystem (DependencyUtils.resolveGlobPath skips only
    local/http/https/ftp) and the pyspark wheel has no S3A: its own JVM gets a core-site.xml, through
    SPARK_DIST_CLASSPATH (launcher AbstractCommandBuilder.buildClassPath), mapping s3a to Hadoop's
    HttpsFileSystem, whose getFileStatus does no I/O. That directory is private while spark-submit
    runs, gone after, and nothing of it reaches the cluster. HADOOP_CONF_DIR would be mounted into
    the driver pod (HadoopConfDriverFeatureStep) and its core-site.xml would come first on the
    client's classpath: it is left out, with a warning."""
    bucket = new_bucket(aws_env)
    shared = f"s3a://{bucket}/libs/common.zip"
    spec = write_cluster_job(tmp_path, bucket, shared=shared)
    hadoop_conf = tmp_path / "hadoop-conf"
    hadoop_conf.mkdir()
    (hadoop_conf / "core-site.xml").write_text("<configuration/>\n")
    monkeypatch.setenv("HADOOP_CONF_DIR", str(hadoop_conf))
    code, bucket, launches = submit_recorded(aws_env, recorder, spec, tmp_path, monkeypatch)
    err = capfd.readouterr().err
    assert code == 0, err[-3000:]
    assert "jobs: warning: HADOOP_CONF_DIR is set; spark-submit runs without it" in err
    keys = sorted(item["Key"] for item in s3(aws_env).list_objects_v2(Bucket=bucket)["Contents"])
    uploaded = {key.rsplit("/", 1)[-1]: key for key in keys if key.startswith("apps/shout/")}
    assert set(uploaded) == {"job.py", "helper.py", "words.txt", "lib.jar"}
    for name, local in (("helper.py", "lib/helper.py"), ("words.txt", "words.txt"), ("lib.jar", "lib.jar")):
        body = s3(aws_env).get_object(Bucket=bucket, Key=uploaded[name])["Body"].read()
        assert body == (tmp_path / local).read_bytes()
    properties = driver_properties(recorder)
    assert properties["spark.submit.pyFiles"] == f"s3a://{bucket}/{uploaded['helper.py']},{shared}"
    assert properties["spark.jars"] == f"s3a://{bucket}/{uploaded['lib.jar']}"
    assert properties["spark.files"] == f"s3a://{bucket}/{uploaded['words.txt']}"
    # The client's classpath: private while spark-submit ran, deleted after, never sent.
    [launch] = launches
    classpath = launch.env["SPARK_DIST_CLASSPATH"]
    assert launch.classpath_mode == 0o700 and list(launch.classpath_files) == ["core-site.xml"]
    assert "<name>fs.s3a.impl</name>" in launch.classpath_files["core-site.xml"]
    assert not Path(classpath).exists()
    sent = json.dumps([request.body for request in recorder.requests])
    for private in ("HttpsFileSystem", "fs.s3a.impl", classpath, str(hadoop_conf), "?X-Amz"):
        assert private not in sent
    assert not [request.path for request in recorder.requests if "hadoop-config" in request.path]


def test_the_driver_runs_the_images_python_whatever_this_machine_names(
    aws_env: str, recorder: K8sRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Spark on Kubernetes sets the driver container's PYSPARK_PYTHON from spark.pyspark.python,
    else from the SUBMITTING machine's PYSPARK_PYTHON, and PYSPARK_DRIVER_PYTHON from
    spark.pyspark.driver.python, spark.pyspark.python, then this machine's PYSPARK_DRIVER_PYTHON and
    PYSPARK_PYTHON (DriverCommandFeatureStep.configureForPython, read with javap from
    spark-kubernetes_2.13-4.3.0.jar). A laptop's venv path or `jupyter` would replace the image's
    interpreter (image/Dockerfile, ENV PYSPARK_PYTHON) and the driver would not start: the
    submission names the image's own, and the real spark-submit puts that in the pod."""
    monkeypatch.setenv("PYSPARK_PYTHON", "/home/me/.venv/bin/python")
    monkeypatch.setenv("PYSPARK_DRIVER_PYTHON", "jupyter")
    spec = write_cluster_job(tmp_path, new_bucket(aws_env))
    code, _, _ = submit_recorded(aws_env, recorder, spec, tmp_path, monkeypatch)
    assert code == 0, capfd.readouterr().err[-3000:]
    [container] = posted_driver(recorder)["spec"]["containers"]
    python = {item["name"]: item.get("value") for item in container["env"] if item["name"].startswith("PYSPARK_")}
    assert python == {"PYSPARK_PYTHON": IMAGE_PYTHON, "PYSPARK_DRIVER_PYTHON": IMAGE_PYTHON}
    properties = driver_properties(recorder)
    assert properties["spark.pyspark.python"] == properties["spark.pyspark.driver.python"] == IMAGE_PYTHON


def test_without_the_client_classpath_spark_submit_cannot_pass_s3a(
    aws_env: str, recorder: K8sRecorder, tmp_path: Path,
) -> None:
    """What the client classpath is for, with the same real spark-submit: an s3a:// --py-files
    entry alone fails on this machine with ClassNotFoundException S3AFileSystem, before anything
    reaches the API (the wheel's hadoop-client jars have no S3A)."""
    spark = find_spark()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(kubeconfig_for(recorder.url)))
    done = subprocess.run(
        [str(spark.submit), "--master", f"k8s://{recorder.url}", "--deploy-mode", "cluster", "--name", "x",
         "--conf", "spark.kubernetes.container.image=img:1", "--conf", "spark.kubernetes.namespace=spark",
         "--py-files", "s3a://bucket/apps/x/0123/helper.py", "s3a://bucket/apps/x/0123/job.py"],
        env={**os.environ, "SPARK_HOME": str(spark.home), "KUBECONFIG": str(kubeconfig)},
        capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode != 0
    assert "ClassNotFoundException: Class org.apache.hadoop.fs.s3a.S3AFileSystem not found" in done.stderr
    assert not recorder.sent("POST")


def test_the_client_classpath_is_private_and_removed() -> None:
    """core-site.xml maps only the s3a scheme, in a mode-0700 directory removed however the
    block ends."""
    with client_classpath() as directory:
        assert directory.stat().st_mode & 0o777 == 0o700
        root = ElementTree.fromstring((directory / "core-site.xml").read_text())
        assert [(p.findtext("name"), p.findtext("value")) for p in root.iter("property")] == [
            ("fs.s3a.impl", "org.apache.hadoop.fs.http.HttpsFileSystem")]
    assert not directory.exists()
    with pytest.raises(RuntimeError):
        with client_classpath() as directory:
            raise RuntimeError("spark-submit blew up")
    assert not directory.exists()


@pytest.mark.parametrize(("entry", "line"), [
    ("lib/my helper.py", "pyFiles[0]: 'lib/my helper.py' has ' ' in its file name"),
    ("lib/helper[1].py", "pyFiles[0]: 'lib/helper[1].py' has '[' in its file name"),
    ("s3a://b/libs/100%25.py", "pyFiles[0]: 's3a://b/libs/100%25.py' has '%' in its path"),
])
def test_a_name_spark_submit_cannot_pass_as_a_uri_is_one_line(entry: str, line: str, tmp_path: Path,
                                                             write_outputs: Callable[..., Path],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A blank or '[' makes spark-submit read the URI as a local path (URISyntaxException, or
    `Please specify spark.kubernetes.file.upload.path`; tried with the real spark-submit) and a
    '%' escape is decoded on the way (DependencyUtils.splitOnFragment), naming another key: one
    line, before anything is uploaded. A --local run uses the files in place and keeps them."""
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump({"name": "x", "app": "jobs/apps/wordcount.py", "args": [], "pyFiles": [entry],
                                    "image": {"tag": "t"}}))
    assert main(["submit", str(spec), "--outputs", str(write_outputs()), "--dry-run"]) == 2
    assert capsys.readouterr().err == (f"jobs: error: spec {spec}: {line}, which spark-submit cannot pass on in a URI; "
                                       "rename it (letters, digits, '.', '_', '-', '+' and '=' are safe)\n")
    if not entry.startswith("s3a://"):
        load_spec(spec, local=True)  # no complaint


def test_dependency_paths_are_checked_like_the_app(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump({"name": "x", "app": "jobs/apps/wordcount.py", "args": [],
                                    "pyFiles": ["lib/a.txt", "s3://b/c.py"], "jars": ["x.jar", "y/x.jar"]}))
    assert main(["submit", str(spec), "--local", "--dry-run"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"jobs: error: spec {spec}: pyFiles[0]: 'lib/a.txt' must be a .py, .zip, .egg file",
        f"jobs: error: spec {spec}: pyFiles[1]: 's3://b/c.py' uses s3://; Spark's S3 connector reads s3a:// (same bucket and key)",
        f"jobs: error: spec {spec}: jars[1]: 'y/x.jar' has the same file name as jars[0]; rename one of them",
    ]


def test_bucket_in_args_is_one_line_for_a_local_run(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A local run has no stack bucket: `{bucket}` in args was a KeyError traceback, even with
    --dry-run; it is one line naming the argument."""
    monkeypatch.chdir(PROJECT_ROOT)
    code = main(["submit", "examples/wordcount.yaml", "--local", "--dry-run", "--set", 'args=["{input}", "s3a://{bucket}/x/"]'])
    assert code == 2
    assert capsys.readouterr().err == (
        "jobs: error: spec examples/wordcount.yaml: args[1]: {bucket} is the stack's bucket, which a --local run does not "
        "have; use {input}/{output} or a local path in this argument\n"
    )


def test_a_local_run_sizes_shuffles_to_the_machine_and_shows_progress(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """spark.sql.shuffle.partitions defaults to 200 (SQLConf SHUFFLE_PARTITIONS) and
    spark.ui.showConsoleProgress to false outside a shell (core internal/config/UI.scala; both
    read from the pyspark 4.3.0 jars). A local run gets a few partitions per core, and the
    progress bar when stderr is a terminal and --quiet is not given: SparkContext starts a
    ConsoleProgressBar whenever the key is true, and it draws with carriage returns on
    System.err without asking whether that is a terminal (core ui/ConsoleProgressBar.scala,
    SparkContext.scala; read in the pyspark 4.3.0 spark-core jar), so a log or a pipe would get
    the bar's redraws. The spec's conf still wins."""
    monkeypatch.chdir(PROJECT_ROOT)

    def local_argv(*flags: str) -> list[str]:
        assert main(["submit", "examples/wordcount.yaml", "--local", "--dry-run", "--json", *flags]) == 0
        return json.loads(capsys.readouterr().out)["argv"]

    argv = local_argv()
    assert f"spark.sql.shuffle.partitions={LOCAL_PARTITIONS_PER_CORE * (os.cpu_count() or 1)}" in argv
    assert "spark.ui.showConsoleProgress=false" in argv  # captured stderr is not a terminal
    monkeypatch.setattr(jobs_main, "is_terminal", lambda stream: True)
    assert "spark.ui.showConsoleProgress=true" in local_argv()
    assert "spark.ui.showConsoleProgress=false" in local_argv("--quiet")
    argv = local_argv("--conf", "spark.sql.shuffle.partitions=7")
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
    assert (captured.out, captured.err) == ("", f"jobs: error: spec examples/wordcount.yaml: {line}\n")


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


@pytest.mark.parametrize("key", [
    "spark.kubernetes.authenticate.driver.oauthTokenFile",
    "spark.kubernetes.authenticate.submission.caCertFile",
    "spark.kubernetes.authenticate.executor.clientKeyFile",
    "spark.kubernetes.authenticate.driver.mounted.caCertFile",
    "spark.kubernetes.authenticate.oauthTokenFile",
    "spark.ui.proxyBase",
])
def test_keys_spark_builds_from_a_prefix_or_reads_in_code_pass_strict(key: str) -> None:
    """Spark's Kubernetes client reads `<prefix>.<suffix>` keys (deploy/k8s Config:
    KUBERNETES_AUTH_{DRIVER,DRIVER_MOUNTED,EXECUTOR,SUBMISSION}_CONF_PREFIX and
    KUBERNETES_AUTH_CLIENT_MODE_PREFIX, each without a trailing dot, joined to OAUTH_TOKEN_CONF_SUFFIX,
    OAUTH_TOKEN_FILE_CONF_SUFFIX, CLIENT_KEY_FILE_CONF_SUFFIX, CLIENT_CERT_FILE_CONF_SUFFIX,
    CA_CERT_FILE_CONF_SUFFIX in SparkKubernetesClientFactory; Spark's running-on-kubernetes docs list
    them) and spark.ui.proxyBase from the system properties (ui/UIUtils.uiRoot, javap of
    spark-core_2.13-4.3.0.jar): all known, while a misspelt one is still not."""
    assert is_known(key) and unknown_conf_lines([key]) == []
    assert not is_known(key[:-1])
    assert not is_known("spark.kubernetes.authenticate.driver.anything")


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
