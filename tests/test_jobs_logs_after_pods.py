"""Logs that outlast pods: `jobs logs` reads a driver's pod while it exists, saves it to the
bucket once the driver has ended, and reads the bucket after the pod is gone (the saved console,
else Spark's own driver log); `--executor ID` reads an executor's pod while it exists.

The Kubernetes side is the loopback recorder's FakeNamespace (a deleted pod is gone, its log
404s); the bucket is moto's S3 server.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from jobs.__main__ import main
from jobs.kube import COMPLETED, DRIVER_CONTAINER, core_api, write_pod_log
from jobs.records import Records, SubmissionRecord, pod_log_key, spark_driver_log_key
from tests.conftest import TEST_REGION, kube_outputs, kubeconfig_for, s3
from tests.k8s_recorder import FakeNamespace, K8sRecorder, spark_pod, succeeded

CONSOLE = "26/01/01 00:01:00 INFO SparkContext: Running Spark version 4.3.0\n1234 words, 56 distinct; top 10:\n"
SPARK_COPY = "26/01/01 00:01:00.100 main INFO SparkContext: Running Spark version 4.3.0\n"


@pytest.fixture
def outputs(recorder: K8sRecorder, bucket: str, tmp_path: Path) -> Path:
    return kube_outputs(tmp_path, recorder.url, bucketName=bucket, region=TEST_REGION)


def test_a_finished_drivers_log_is_saved_then_read_from_the_bucket_after_its_pod_is_gone(
        cluster: FakeNamespace, outputs: Path, bucket: str, aws_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    """While the pod exists its log is what `logs` prints, and a driver that has ended gets its log
    saved under spark-events/jobs/ with its record; after the pod is deleted the same command
    prints the saved copy, saying where it comes from."""
    cluster.add(spark_pod("wordcount-d1-driver", submission="d1", app="spark-feed", status=succeeded()))
    cluster.logs["wordcount-d1-driver"] = CONSOLE
    assert main(["logs", "wordcount", "--outputs", str(outputs)]) == 0
    captured = capsys.readouterr()
    assert captured.out == CONSOLE and captured.err == ""
    records = Records(s3(aws_env), bucket)
    record = records.get("wordcount", "d1")
    assert record is not None and (record.state, record.app_id, record.pod_log) == (
        COMPLETED, "spark-feed", pod_log_key("wordcount", "d1"))

    assert cluster.names("pods") == ["wordcount-d1-driver"]
    cluster._delete("pods", "wordcount-d1-driver")
    assert main(["logs", "wordcount", "--outputs", str(outputs)]) == 0
    captured = capsys.readouterr()
    assert captured.out == CONSOLE
    assert captured.err == (f"jobs: the driver pod of submission d1 is gone; its log as saved at "
                            f"s3://{bucket}/spark-events/jobs/wordcount/d1.driver.log\n")


def test_without_a_saved_console_sparks_own_driver_log_is_read_and_said_to_lack_python_output(
        cluster: FakeNamespace, outputs: Path, bucket: str, aws_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Spark's DriverLogger writes `<dfsDir>/<app id>_driver.log` (spark.driver.log.dfsDir; the
    app id is the pod's spark-app-selector, kept in the record): the fallback when no console was saved."""
    client = s3(aws_env)
    Records(client, bucket).put(SubmissionRecord(job="wordcount", submission="e1", run="e1", attempt=1, max_attempts=1,
                                                 state="SUBMITTED", app_id="spark-0f0f"))
    client.put_object(Bucket=bucket, Key=spark_driver_log_key("spark-0f0f"), Body=SPARK_COPY.encode())
    assert spark_driver_log_key("spark-0f0f") == "spark-events/driver-logs/spark-0f0f_driver.log"
    assert main(["logs", "wordcount", "--outputs", str(outputs)]) == 0
    captured = capsys.readouterr()
    assert captured.out == SPARK_COPY
    assert "Spark's copy of the JVM log" in captured.err and "without the Python output" in captured.err


def test_no_log_anywhere_is_one_line(cluster: FakeNamespace, outputs: Path, bucket: str, aws_env: str,
                                     recorder: K8sRecorder, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An OOMKilled driver whose pod went before anyone saw it end left no console and no Spark copy
    (Spark's copy reaches S3 only when the driver stops cleanly): the command says so, exit 1. Without
    a bucket in the outputs it says that instead."""
    Records(s3(aws_env), bucket).put(SubmissionRecord(job="wordcount", submission="f1", run="f1", attempt=1,
                                                      max_attempts=1, state="SUBMITTED", app_id="spark-dead"))
    assert main(["logs", "wordcount", "--outputs", str(outputs)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jobs: error: no log kept for submission f1 of job wordcount: its driver pod is gone") and err.count("\n") == 1
    assert main(["logs", "wordcount", "--outputs", str(kube_outputs(tmp_path, recorder.url))]) == 1
    assert "the outputs name no bucket (bucketName, region)" in capsys.readouterr().err


def test_an_older_submission_is_chosen_by_id(cluster: FakeNamespace, outputs: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    cluster.add(spark_pod("wordcount-g1-driver", submission="g1", status=succeeded(), created="2026-01-01T00:00:00Z"))
    cluster.add(spark_pod("wordcount-g2-driver", submission="g2", created="2026-01-02T00:00:00Z"))
    cluster.logs.update({"wordcount-g1-driver": "first run\n", "wordcount-g2-driver": "second run\n"})
    assert main(["logs", "wordcount", "--submission", "g1", "--outputs", str(outputs)]) == 0
    assert capsys.readouterr().out == "first run\n"
    assert main(["logs", "wordcount", "--outputs", str(outputs)]) == 0
    assert capsys.readouterr().out == "second run\n"


def test_an_executors_log_while_its_pod_exists_and_one_line_after(
        cluster: FakeNamespace, outputs: Path, recorder: K8sRecorder, capsys: pytest.CaptureFixture[str]) -> None:
    """Executor pods carry spark-exec-id (Spark's SPARK_EXECUTOR_ID_LABEL); Spark deletes them when
    they end (spark.kubernetes.executor.deleteOnTermination, default true), and their logs with them."""
    cluster.add(spark_pod("wordcount-h1-driver", submission="h1"))
    cluster.add(spark_pod("wordcount-h1-exec-2", role="executor", submission="h1", executor_id="2"))
    cluster.logs["wordcount-h1-exec-2"] = "executor 2 says hello\n"
    assert main(["logs", "wordcount", "--executor", "2", "--outputs", str(outputs)]) == 0
    assert capsys.readouterr().out == "executor 2 says hello\n"
    log_reads = [r for r in recorder.requests if r.path.endswith("/wordcount-h1-exec-2/log")]
    assert log_reads and log_reads[0].query["container"] == ["spark-kubernetes-executor"]
    assert main(["logs", "wordcount", "--executor", "3", "--outputs", str(outputs)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jobs: error: executor 3 of job wordcount (submission h1) has no pod: Spark deletes") and err.count("\n") == 1


@pytest.mark.parametrize("follow", [False, True])
def test_a_character_split_across_read_chunks_is_printed_whole(cluster: FakeNamespace, recorder: K8sRecorder,
                                                               follow: bool) -> None:
    """The log is read in 4096-byte chunks and UTF-8 gives 'é' two bytes and '🚀' four: a
    character whose bytes straddle a chunk boundary must come out whole, not as two or more
    U+FFFD (Python's codecs incremental decoder keeps the unfinished bytes for the next chunk).
    The reads are bounded by REQUEST_TIMEOUT; a followed stream only on connect."""
    text = "a" * 4095 + "é and 🚀 " + "b" * 4094 + "🚀\n"
    assert len(text[:4096].encode("utf-8")) > 4096  # 'é' starts at byte 4095: split by the first read
    cluster.add(spark_pod("wordcount-u1-driver", submission="u1"))
    cluster.logs["wordcount-u1-driver"] = text
    out = io.StringIO()
    write_pod_log(core_api(kubeconfig_for(recorder.url)), "spark", "wordcount-u1-driver", DRIVER_CONTAINER, follow, out)
    assert out.getvalue() == text
