"""Figure 5: what the submitter adds before spark-submit's JVM starts, against one real submission.

Without the JVM: read the outputs file, load and validate the spec, build the argv and
write (then delete) the private kubeconfig and client classpath: everything `python -m jobs submit` does before
it execs spark-submit, timed over many runs (median, p95). With the JVM: one real
cluster-mode spark-submit from the pyspark wheel against the loopback Kubernetes API
recorder (tests/k8s_recorder.py, the same stand-in the tests use). The figure is the p95
overhead as a share of that submission: the submitter should be noise next to the JVM.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.figures import Figure
from jobs import POD_TEMPLATE_DIR, PROJECT_ROOT
from jobs.command import PodTemplates, cluster_argv, cluster_env
from jobs.launch import client_classpath, find_spark, private_kubeconfig, run_spark_submit
from jobs.outputs import SUBMIT_KEYS, load_outputs
from jobs.spec import load_spec
from tests.k8s_recorder import RunningRecorder

SPEC = PROJECT_ROOT / "examples" / "wordcount.yaml"
# The app inside the image: nothing to upload, so no S3 is involved in either measurement.
APP_IN_IMAGE = "local:///opt/spark-eks-spot/apps/wordcount.py"
TARGET_SHARE = 0.05


def _outputs_file(directory: Path, api_server_url: str) -> Path:
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bench", "cluster": {"server": api_server_url}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench", "namespace": "spark"}}],
        "current-context": "bench",
        "users": [{"name": "bench", "user": {"token": "bench-token"}}],
    }
    outputs = {
        "apiServerUrl": api_server_url,
        "kubeconfig": json.dumps(kubeconfig),
        "clusterName": "spark-bench",
        "region": "us-west-2",
        "imageRepositoryUrl": "registry.example.invalid/spark-bench/spark",
        "bucketName": "spark-bench-data",
        "sparkNamespace": "spark",
        "sparkServiceAccount": "spark",
        "sparkRoleArn": "arn:aws:iam::123456789012:role/spark-bench",
        "s3AccessVia": "irsa",
    }
    path = directory / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path


def _ready_to_exec(outputs_file: Path, spark_submit: str) -> tuple[list[str], dict[str, str]]:
    """Everything the CLI does before it execs spark-submit, for a spec whose app is in the image."""
    outputs = load_outputs(outputs_file=outputs_file, stack=None, required=SUBMIT_KEYS)
    spec = load_spec(SPEC, sets=[f"app={APP_IN_IMAGE}", "image.tag=bench"])
    templates = PodTemplates(POD_TEMPLATE_DIR / "driver.yaml", POD_TEMPLATE_DIR / "executor.yaml")
    argv = cluster_argv(spark_submit, spec, outputs, app_uri=spec.app, pod_templates=templates, submission_id="bench")
    with private_kubeconfig(outputs.kubeconfig) as kubeconfig, client_classpath() as classpath:
        env = cluster_env(str(Path(spark_submit).parent.parent), str(kubeconfig), str(classpath))
    return argv, env


def measure(quick: bool = False) -> list[Figure]:
    spark = find_spark()
    runs = 10 if quick else 100
    with tempfile.TemporaryDirectory() as scratch, RunningRecorder() as recorder:
        outputs_file = _outputs_file(Path(scratch), recorder.url)
        _ready_to_exec(outputs_file, str(spark.submit))  # warm-up: imports, pydantic schemas
        seconds = []
        for _ in range(runs):
            started = time.perf_counter()
            _ready_to_exec(outputs_file, str(spark.submit))
            seconds.append(time.perf_counter() - started)

        outputs = load_outputs(outputs_file=outputs_file, stack=None, required=SUBMIT_KEYS)
        argv, _ = _ready_to_exec(outputs_file, str(spark.submit))
        with private_kubeconfig(outputs.kubeconfig) as kubeconfig, client_classpath() as classpath:
            started = time.perf_counter()
            code = run_spark_submit(argv, cluster_env(str(spark.home), str(kubeconfig), str(classpath)))
            jvm_seconds = time.perf_counter() - started
        driver_posted = bool(recorder.sent("POST", "/namespaces/spark/pods"))

    median = statistics.median(seconds)
    p95 = statistics.quantiles(seconds, n=20)[-1] if len(seconds) >= 20 else max(seconds)
    share = p95 / jvm_seconds
    return [
        Figure(
            name=(
                f"submit overhead without the JVM: median {median * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms "
                f"({runs} runs) vs a recorded cluster submission {jvm_seconds:.1f} s"
            ),
            value=share,
            unit="×",
            target=f"≤ {TARGET_SHARE}× of the submission, which must reach the API",
            passed=share <= TARGET_SHARE and code == 0 and driver_posted,
            details={
                "runs": runs,
                "medianMs": round(median * 1000, 2),
                "p95Ms": round(p95 * 1000, 2),
                "jvmSubmissionSeconds": round(jvm_seconds, 2),
                "sparkSubmitExitCode": code,
                "driverPodPosted": driver_posted,
            },
        )
    ]
