"""spark-submit argv from a spec and the stack outputs; the golden seed command; dry runs."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path
from typing import Callable

import pytest

from jobs import POD_TEMPLATE_DIR, PROJECT_ROOT
from jobs.__main__ import main
from jobs.command import (
    INSTANCE_PROFILE_PROVIDER,
    REDACTED,
    WEB_IDENTITY_PROVIDER,
    PodTemplates,
    app_upload,
    cluster_argv,
    cluster_env,
    local_argv,
    output_location,
    redact_argv,
    shell_command,
)
from jobs.outputs import SUBMIT_KEYS, parse_outputs
from jobs.spec import load_spec, spec_from_mapping
from jobs.tags import default_image_tag
from tests.conftest import REPO_ROOT, stack_outputs

EXAMPLE = REPO_ROOT / "examples" / "wordcount.yaml"
TEMPLATES = PodTemplates(Path("/templates/driver.yaml"), Path("/templates/executor.yaml"))
OUTPUTS = parse_outputs(stack_outputs(), required=SUBMIT_KEYS, source="test")

# The seed's command from the blog this project replaces, with its placeholders.
SEED_ARGV = [
    "spark-submit",
    "--master", "k8s://<api>",
    "--deploy-mode", "cluster",
    "--name", "wordcount",
    "--conf", "spark.kubernetes.container.image=<image>",
    "--conf", "spark.kubernetes.namespace=<namespace>",
    "--conf", "spark.kubernetes.authenticate.driver.serviceAccountName=<service-account>",
    "--conf", "spark.dynamicAllocation.enabled=true",
    "--conf", "spark.dynamicAllocation.shuffleTracking.enabled=true",
    "--conf", "spark.dynamicAllocation.maxExecutors=100",
    "--conf", "spark.dynamicAllocation.executorAllocationRatio=0.33",
    "--conf", "spark.dynamicAllocation.sustainedSchedulerBacklogTimeout=30",
    "--conf", "spark.dynamicAllocation.executorIdleTimeout=60s",
    "--conf", "spark.driver.memory=8g",
    "--conf", "spark.kubernetes.driver.request.cores=2",
    "--conf", "spark.kubernetes.driver.limit.cores=4",
    "--conf", "spark.executor.memory=8g",
    "--conf", "spark.kubernetes.executor.request.cores=2",
    "--conf", "spark.kubernetes.executor.limit.cores=4",
    "--conf", "spark.hadoop.fs.s3a.fast.upload=true",
    "--conf", "spark.hadoop.fs.s3a.connection.ssl.enabled=false",
    "--conf", "spark.kubernetes.driver.podTemplateFile=<driver-template>",
    "--conf", "spark.kubernetes.executor.podTemplateFile=<executor-template>",
    "--conf", "spark.eventLog.enabled=true",
    "--conf", "spark.eventLog.dir=s3a://<bucket>/spark-events/",
    "<app>", "<input>", "<output>",
]
INSECURE = ["--conf", "spark.hadoop.fs.s3a.connection.ssl.enabled=false"]
# Hadoop 3.5's S3A always uploads in blocks; the magic committer replaces commit-by-rename.
NO_OP = ["--conf", "spark.hadoop.fs.s3a.fast.upload=true"]
# The default executor shape for the executors group's m5.xlarge (jobs.sizing; 4 vCPU, 16 GiB):
# one executor per node with 4 task slots, instead of the seed's 2 slots and 8g.
SHAPE = {
    "spark.executor.memory=8g": "spark.executor.memory=10112m",
    "spark.kubernetes.executor.request.cores=2": "spark.kubernetes.executor.request.cores=3790m",
}
SPOT_ADDITIONS = [
    "spark.decommission.enabled=true",
    "spark.storage.decommission.enabled=true",
    "spark.storage.decommission.shuffleBlocks.enabled=true",
    "spark.storage.decommission.rddBlocks.enabled=true",
    "spark.storage.decommission.fallbackStorage.path=s3a://<bucket>/spark-decommission/",
    "spark.storage.decommission.fallbackStorage.cleanUp=true",
    "spark.kubernetes.executor.terminationGracePeriodSeconds=90s",
    "spark.dynamicAllocation.shuffleTracking.timeout=300s",
    f"spark.hadoop.fs.s3a.aws.credentials.provider={WEB_IDENTITY_PROVIDER}",
    "spark.hadoop.fs.s3a.committer.name=magic",
    "spark.hadoop.fs.s3a.committer.magic.enabled=true",
    "spark.sql.sources.commitProtocolClass=org.apache.spark.internal.io.cloud.PathOutputCommitProtocol",
    "spark.sql.parquet.output.committer.class=org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter",
]
SUBMITTER_ADDITIONS = [
    "spark.dynamicAllocation.minExecutors=0",
    "spark.executor.cores=4",
    "spark.kubernetes.authenticate.executor.serviceAccountName=<executor-service-account>",
    "spark.kubernetes.driver.ownPersistentVolumeClaim=false",
    "spark.kubernetes.driver.reusePersistentVolumeClaim=false",
    "spark.hadoop.fs.s3a.endpoint.region=<region>",
    "spark.kubernetes.driver.label.spark-eks-spot/job=wordcount",
    "spark.kubernetes.executor.label.spark-eks-spot/job=wordcount",
    "spark.kubernetes.driver.label.spark-eks-spot/submission=<submission>",
    "spark.kubernetes.executor.label.spark-eks-spot/submission=<submission>",
    "spark.kubernetes.driver.label.spark-eks-spot/run=<submission>",
    "spark.kubernetes.driver.label.spark-eks-spot/attempt=1",
    # The image's Python, whatever PYSPARK_PYTHON the submitting machine has (test_jobs_more_files).
    "spark.pyspark.python=/opt/spark-eks-spot/python/bin/python3",
    "spark.pyspark.driver.python=/opt/spark-eks-spot/python/bin/python3",
    "spark.driver.log.persistToDfs.enabled=true",
    "spark.driver.log.dfsDir=s3a://<bucket>/spark-events/driver-logs/",
    "spark.kubernetes.submission.waitAppCompletion=false",
]


def expected_from_seed(values: dict[str, str]) -> list[str]:
    """The seed's argv less the insecure and no-op confs, with the executor shape of the node,
    plus the Spot and submitter additions, filled in."""
    argv = [SHAPE.get(item, item) for item in SEED_ARGV]
    for dropped in (INSECURE, NO_OP):
        at = argv.index(dropped[1]) - 1
        assert argv[at : at + 2] == dropped
        del argv[at : at + 2]
    tail = argv.index("<app>")
    for conf in SPOT_ADDITIONS + SUBMITTER_ADDITIONS:
        argv[tail:tail] = ["--conf", conf]
        tail += 2
    filled = []
    for item in argv:
        for name, value in values.items():
            item = item.replace(f"<{name}>", value)
        filled.append(item)
    assert not any(re.search(r"<[a-z-]+>", item) for item in filled), filled
    return filled


def seed_values(tag: str, submission: str, spark_submit: str, templates: PodTemplates, digest: str) -> dict[str, str]:
    bucket = OUTPUTS.bucket_name
    return {
        "api": OUTPUTS.api_server_url,
        "image": f"{OUTPUTS.image_repository_url}:{tag}",
        "namespace": "spark",
        "service-account": "spark",
        "executor-service-account": "spark-executor",
        "driver-template": str(templates.driver),
        "executor-template": str(templates.executor),
        "bucket": bucket,
        "region": "us-west-2",
        "submission": submission,
        "app": f"s3a://{bucket}/apps/wordcount/{digest}/wordcount.py",
        "input": f"s3a://{bucket}/data/amazon-reviews/",
        "output": f"s3a://{bucket}/output/wordcount/",
    }


def test_golden_seed_command_from_the_example_spec() -> None:
    """examples/wordcount.yaml reproduces the seed's spark-submit, less the insecure conf and the
    no-op fast upload, with the executor cut to fill the Spot node, plus the Spot additions
    (decommissioning, the 90 s executor grace Spark sets itself since 4.1, fallback storage,
    finite shuffle tracking, IRSA credentials, the S3A magic committer) and the submitter's own
    labels, executor identity, no PVCs and detach."""
    spec = load_spec(EXAMPLE).with_image_tag("golden")
    upload = app_upload(spec, OUTPUTS.bucket_name, "0123456789abcdef")
    assert upload is not None
    argv = cluster_argv(
        "spark-submit", spec, OUTPUTS, app_uri=upload.s3a_uri, pod_templates=TEMPLATES, submission_id="sub12345"
    )
    assert argv == expected_from_seed(seed_values("golden", "sub12345", "spark-submit", TEMPLATES, "0123456789abcdef"))


def test_cli_dry_run_json_is_the_golden_command(capsys: pytest.CaptureFixture[str], write_outputs: Callable[..., Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI wires the real pieces: pyspark's spark-submit, the repo's pod templates, the
    app's content hash, a fresh submission id, the redacted kubeconfig variable."""
    monkeypatch.chdir(PROJECT_ROOT)
    code = main(["submit", "examples/wordcount.yaml", "--outputs", str(write_outputs(bucketName=OUTPUTS.bucket_name)),
                 "--dry-run", "--json", "--set", "image.tag=golden"])
    out = capsys.readouterr().out
    assert code == 0
    document = json.loads(out)
    argv = document["argv"]
    submission = next(a.split("=", 1)[1] for a in argv if a.startswith("spark.kubernetes.driver.label.spark-eks-spot/submission="))
    assert re.fullmatch(r"[0-9a-f]{8}", submission)
    digest = hashlib.sha256((PROJECT_ROOT / "jobs/apps/wordcount.py").read_bytes()).hexdigest()[:16]
    templates = PodTemplates(POD_TEMPLATE_DIR / "driver.yaml", POD_TEMPLATE_DIR / "executor.yaml")
    expected = expected_from_seed(seed_values("golden", submission, argv[0], templates, digest))
    assert argv[0].endswith("pyspark/bin/spark-submit") and Path(argv[0]).is_file()
    assert argv[1:] == expected[1:]
    assert document["env"]["KUBECONFIG"].startswith("<private temporary kubeconfig")
    assert document["env"]["SPARK_DIST_CLASSPATH"].startswith("<private temporary directory")
    assert Path(document["env"]["SPARK_HOME"]) == Path(argv[0]).parent.parent
    assert document["uploads"] == [
        {"source": "jobs/apps/wordcount.py", "target": f"s3://{OUTPUTS.bucket_name}/apps/wordcount/{digest}/wordcount.py"}
    ]
    assert document["podTemplates"] == {"driver": str(templates.driver), "executor": str(templates.executor)}


def test_cli_dry_run_prints_a_pasteable_command(capsys: pytest.CaptureFixture[str], write_outputs: Callable[..., Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --json: one shell-quoted line that splits back into the same argv; no secret in it."""
    monkeypatch.chdir(PROJECT_ROOT)
    code = main(["submit", "examples/wordcount.yaml", "--outputs", str(write_outputs()), "--dry-run",
                 "--set", "image.tag=golden"])
    out = capsys.readouterr().out
    assert code == 0
    command, upload_note, shape_note = out.strip().splitlines()
    assert shape_note.startswith("# executor shape: 1 executor per m5.xlarge node (3795m CPU, 14162 MiB allocatable")
    words = shlex.split(command)
    assert words[0].startswith("SPARK_HOME=") and words[1].startswith("KUBECONFIG=<private temporary kubeconfig")
    assert words[2].startswith("SPARK_DIST_CLASSPATH=<private temporary directory")
    assert words[3].endswith("spark-submit") and "--deploy-mode" in words
    assert "kubeconfig-secret-token" not in out
    assert upload_note.startswith("# uploads jobs/apps/wordcount.py to s3://spark-dev-data/apps/wordcount/")


def test_default_image_tag_is_the_checkout_commit(capsys: pytest.CaptureFixture[str], write_outputs: Callable[..., Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A spec without image.tag runs the image built from this checkout (jobs.tags)."""
    monkeypatch.chdir(PROJECT_ROOT)
    assert main(["submit", "examples/wordcount.yaml", "--outputs", str(write_outputs()), "--dry-run", "--json"]) == 0
    argv = json.loads(capsys.readouterr().out)["argv"]
    image = next(a for a in argv if a.startswith("spark.kubernetes.container.image="))
    assert image.endswith(":" + default_image_tag(PROJECT_ROOT))


def test_node_role_access_uses_the_instance_profile_provider() -> None:
    """sparkRoleArn "" and s3AccessVia nodeRole: S3A takes the node's instance-profile credentials."""
    outputs = parse_outputs(stack_outputs(sparkRoleArn="", s3AccessVia="nodeRole"), required=SUBMIT_KEYS, source="t")
    spec = load_spec(EXAMPLE).with_image_tag("t")
    argv = cluster_argv("spark-submit", spec, outputs, app_uri="s3a://b/a.py", pod_templates=TEMPLATES, submission_id="s")
    assert f"spark.hadoop.fs.s3a.aws.credentials.provider={INSTANCE_PROFILE_PROVIDER}" in argv
    assert not any(WEB_IDENTITY_PROVIDER in item for item in argv)


def conf_of(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, item in enumerate(argv) if item == "--conf")


def test_spec_fields_overrides_and_conf_reach_the_command() -> None:
    """Spec sizes and bounds become their Spark settings; conf (and --conf) adds or overrides."""
    spec = spec_from_mapping(
        {
            "name": "etl",
            "app": "s3a://code/etl.py",
            "args": ["--day", "2024-01-01", "--from", "{input}", "--bucket", "{bucket}"],
            "input": "s3a://{bucket}/raw/",
            "output": "s3a://{bucket}/clean/",
            "image": {"tag": "v7"},
            "executor": {"cores": 4, "coresLimit": 4, "memory": "14g"},
            "dynamicAllocation": {"minExecutors": 1, "initialExecutors": 2, "maxExecutors": 20, "shuffleTrackingTimeout": "10min"},
            "conf": {"spark.sql.shuffle.partitions": 400, "spark.eventLog.enabled": False},
        },
        source="t",
        sets=["driver.memory=2g"],
        confs=["spark.kubernetes.submission.waitAppCompletion=true"],
    )
    argv = cluster_argv("spark-submit", spec, OUTPUTS, app_uri=spec.app, pod_templates=TEMPLATES, submission_id="s1")
    conf = conf_of(argv)
    assert conf["spark.kubernetes.container.image"].endswith("/spark-dev/spark:v7")
    assert conf["spark.executor.memory"] == "14g" and conf["spark.executor.cores"] == "4"
    assert conf["spark.kubernetes.executor.request.cores"] == "4" and conf["spark.kubernetes.executor.limit.cores"] == "4"
    assert conf["spark.driver.memory"] == "2g"
    assert conf["spark.dynamicAllocation.minExecutors"] == "1"
    assert conf["spark.dynamicAllocation.initialExecutors"] == "2"
    assert conf["spark.dynamicAllocation.maxExecutors"] == "20"
    assert conf["spark.dynamicAllocation.shuffleTracking.timeout"] == "10min"
    assert conf["spark.sql.shuffle.partitions"] == "400"
    assert conf["spark.eventLog.enabled"] == "false"
    assert conf["spark.kubernetes.submission.waitAppCompletion"] == "true"
    assert argv[-7:] == ["s3a://code/etl.py", "--day", "2024-01-01", "--from", "s3a://spark-dev-data/raw/", "--bucket", "spark-dev-data"]
    assert argv.count("--conf") == len(conf)  # each key once: overrides replace, never duplicate


def test_jar_app_gets_its_main_class() -> None:
    spec = spec_from_mapping(
        {"name": "pi", "app": "local:///opt/spark/examples/jars/spark-examples.jar", "mainClass": "org.apache.spark.examples.SparkPi", "args": ["100"]},
        source="t",
    ).with_image_tag("t")
    assert app_upload(spec, "b", "d") is None  # used in place, inside the image
    argv = cluster_argv("spark-submit", spec, OUTPUTS, app_uri=spec.app, pod_templates=TEMPLATES, submission_id="s")
    assert argv[7:9] == ["--class", "org.apache.spark.examples.SparkPi"]
    assert argv[-2:] == ["local:///opt/spark/examples/jars/spark-examples.jar", "100"]


def test_local_command_uses_local_paths_and_no_cluster_settings() -> None:
    spec = load_spec(EXAMPLE, local=True)
    argv = local_argv("spark-submit", spec, 4)
    assert argv[:5] == ["spark-submit", "--master", "local[*]", "--name", "wordcount"]
    assert argv[-3:] == ["jobs/apps/wordcount.py", "examples/data/amazon_reviews_sample.tsv", "output/wordcount"]
    assert not any("kubernetes" in item or "s3a" in item for item in argv)


def test_image_tag_must_be_resolved_first() -> None:
    with pytest.raises(ValueError, match="image tag must be resolved"):
        cluster_argv("s", load_spec(EXAMPLE), OUTPUTS, app_uri="a", pod_templates=TEMPLATES, submission_id="s")


def test_printed_commands_redact_secret_looking_settings() -> None:
    """Like Spark's own redaction: a secret-looking conf value or variable is never printed."""
    argv = ["spark-submit", "--conf", "spark.hadoop.fs.s3a.secret.key=abc", "--conf", "spark.x.tokenFile=/var/t", "app.py"]
    assert redact_argv(argv) == ["spark-submit", "--conf", f"spark.hadoop.fs.s3a.secret.key={REDACTED}",
                                 "--conf", "spark.x.tokenFile=/var/t", "app.py"]
    line = shell_command(argv, {**cluster_env("/spark", "/tmp/real/kubeconfig"), "MY_PASSWORD": "pw"})
    assert "abc" not in line and "/tmp/real/kubeconfig" not in line and "=pw" not in line


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("s3a://b/output/wordcount/", ("b", "output/wordcount/")),
        ("s3a://b/output/wordcount", ("b", "output/wordcount/")),
        ("s3a://b/", ("b", "")),
    ],
)
def test_output_location(uri: str, expected: tuple[str, str]) -> None:
    assert output_location(uri) == expected


def test_missing_app_file_stops_the_dry_run(capsys: pytest.CaptureFixture[str], write_outputs: Callable[..., Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A local app that is not there is one line (exit 2), before anything is printed or sent."""
    monkeypatch.chdir(PROJECT_ROOT)
    code = main(["submit", "examples/wordcount.yaml", "--outputs", str(write_outputs()), "--dry-run",
                 "--set", "image.tag=t", "--set", "app=jobs/apps/nope.py"])
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert captured.err == "jobs: error: app: jobs/apps/nope.py not found (paths are relative to the current directory)\n"


def test_missing_java_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Without java on PATH or JAVA_HOME, a run stops with the fix instead of spark-submit's error."""
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    code = main(["submit", "examples/wordcount.yaml", "--local", "--set", f"output={tmp_path / 'out'}"])
    assert code == 2
    assert capsys.readouterr().err == (
        "jobs: error: java not found: spark-submit needs Java 17; install a JDK or JRE 17 and put java on PATH or set JAVA_HOME\n"
    )
    assert not (tmp_path / "out").exists()
