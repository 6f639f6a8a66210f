"""The proof on this machine: one local Spark run, with the submitter's driver-log settings, writes
its event log and Spark's copy of its driver log; then Spark's own History Server, from the
pyspark wheel, started on 127.0.0.1 with the stack's History Server settings (infra/history.py),
lists the run through its REST API, and forgets it once its log is gone, as it will when the
bucket's expiry rule removes it.

One run and one server serve every test here (module-scoped), to keep the suite's time down.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from infra.history import HISTORY_SERVER_CLASS, history_properties, properties_text
from jobs.command import DRIVER_LOG_PREFIX, EVENT_LOG_PREFIX, SUBMISSIONS_PREFIX, driver_log_conf
from jobs.launch import find_spark
from jobs.runs import log_failure
from tests.conftest import C1_ONLY, free_port

pytestmark = pytest.mark.jvm  # starts Spark JVMs: scheduled first (tests/conftest.py)

# Runs a tiny job, then fails in the driver's Python code, as a broken app does.
APP = """from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("history-proof").getOrCreate()
assert spark.range(100).count() == 100
raise ValueError("boom from the app")
"""
POLL_SECONDS = 120


@dataclass
class LocalRun:
    code: int
    console: str
    events: Path  # the event-log folder, laid out as the bucket's spark-events/ prefix
    app_id: str


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> LocalRun:
    """spark-submit in client mode, as the driver pod runs it (apache/spark-docker entrypoint.sh,
    `driver)` case: `spark-submit --deploy-mode client`), with event logs and the submitter's
    driver-log settings pointing at a local copy of the bucket's layout."""
    scratch = tmp_path_factory.mktemp("history-proof")
    events = scratch / EVENT_LOG_PREFIX.rstrip("/")
    driver_logs = scratch / DRIVER_LOG_PREFIX.rstrip("/")
    driver_logs.mkdir(parents=True)  # Spark needs the folder (the submitter puts a marker object on S3)
    records = scratch / SUBMISSIONS_PREFIX / "history-proof"
    records.mkdir(parents=True)
    (records / "0a1b2c3d.json").write_text('{"job": "history-proof"}')  # what the submitter keeps beside the logs
    app = scratch / "app.py"
    app.write_text(APP)
    spark = find_spark()
    conf = {"spark.eventLog.enabled": "true", "spark.eventLog.dir": events.as_uri(), "spark.ui.enabled": "false",
            "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
            **driver_log_conf(driver_logs.as_uri())}
    argv = [str(spark.submit), "--master", "local[1]", "--deploy-mode", "client"]
    for key, value in conf.items():
        argv += ["--conf", f"{key}={value}"]
    done = subprocess.run(argv + [str(app)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SPARK_HOME": str(spark.home), "PYSPARK_PYTHON": sys.executable})
    folders = [p.name for p in events.iterdir() if p.name.startswith("eventlog_v2_")]
    assert len(folders) == 1, (folders, done.stderr[-3000:])
    return LocalRun(done.returncode, done.stdout + done.stderr, events, folders[0].removeprefix("eventlog_v2_"))


@dataclass
class HistoryServer:
    url: str
    process: subprocess.Popen[str]
    log: Path

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def applications(self) -> list[dict[str, Any]]:
        return self.get("/api/v1/applications")


def _poll(what: str, check: Any, server: HistoryServer) -> Any:
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline:
        assert server.process.poll() is None, server.log.read_text()[-3000:]
        try:
            found = check()
        except (urllib.error.URLError, ConnectionError, TimeoutError):  # not up yet, or busy starting its REST API
            found = None
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} within {POLL_SECONDS}s; server log: {server.log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def history_server(local_run: LocalRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HistoryServer]:
    """`java -cp <pyspark>/jars/* org.apache.spark.deploy.history.HistoryServer --properties-file F`
    (what spark-class runs in the pod; C1 only, as every test JVM: tests/conftest.py), with the
    stack's properties: only the log directory, the port and the scan interval (1s, so the expiry
    test need not wait the stack's 30s) differ. The web UI binds to SPARK_LOCAL_IP when set
    (org.apache.spark.ui.WebUI), so 127.0.0.1 here."""
    scratch = tmp_path_factory.mktemp("history-server")
    port = free_port()
    properties = history_properties(local_run.events.as_uri() + "/", "us-west-2", "irsa", 50)
    properties.update({"spark.history.ui.port": str(port), "spark.history.fs.update.interval": "1s"})
    conf = scratch / "spark-history.conf"
    conf.write_text(properties_text(properties))
    log = scratch / "history-server.log"
    java = Path(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else Path(shutil.which("java") or "java")
    with log.open("w") as handle:
        process = subprocess.Popen(
            [str(java), "-Xmx512m", C1_ONLY, "-cp", str(find_spark().home / "jars" / "*"), HISTORY_SERVER_CLASS,
             "--properties-file", str(conf)],
            stdout=handle, stderr=subprocess.STDOUT, text=True, env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"},
        )
    server = HistoryServer(f"http://127.0.0.1:{port}", process, log)
    try:
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # The JVM's handler ran ("RECEIVED SIGNAL TERM") and it exited with 128 + 15, as in the pod.
    assert process.returncode == 143, log.read_text()[-2000:]


def test_the_run_failed_and_wrote_its_event_log_and_sparks_copy_of_its_driver_log(local_run: LocalRun) -> None:
    """A PySpark app that raises: spark-submit exits 1 (PythonRunner passes the Python exit code
    on). Spark's DriverLogger, enabled by the submitter's settings, wrote `<dfsDir>/<app id>_driver.log`
    (DriverLogger.DfsAsyncWriter) with the JVM's log, but not the Python traceback, which only the
    console (the pod's log on the cluster) holds; the reason read from the console's tail is the
    exception, not Spark's shutdown lines after it."""
    assert local_run.code == 1
    copy = local_run.events / "driver-logs" / f"{local_run.app_id}_driver.log"
    text = copy.read_text()
    assert "SparkContext" in text and "Traceback" not in text and "boom from the app" not in text
    assert "Traceback (most recent call last):" in local_run.console
    assert log_failure(local_run.console) == "ValueError: boom from the app"


def test_sparks_history_server_lists_the_run_through_its_rest_api(history_server: HistoryServer,
                                                                   local_run: LocalRun) -> None:
    """GET /api/v1/applications (apache/spark docs/monitoring.md, REST API) lists the run once the
    first scan is done (poll: the port answers before that). The submitter's folders beside the
    event logs (driver-logs/, jobs/) are skipped: the server reads only files and eventlog_v2_*
    folders (EventLogFileReader.apply returns None for other folders)."""
    applications = _poll("the History Server listed no application", history_server.applications, history_server)
    assert [app["id"] for app in applications] == [local_run.app_id]
    [attempt] = applications[0]["attempts"]
    assert applications[0]["name"] == "history-proof" and attempt["completed"] is True
    assert history_server.get("/api/v1/version") == {"spark": "4.3.0"}
    assert "Bound HistoryServer to 127.0.0.1" in history_server.log.read_text()


def test_an_expired_log_leaves_the_listing_at_the_next_scan(history_server: HistoryServer, local_run: LocalRun) -> None:
    """The server may only read the bucket, so Spark's cleaner is off and the bucket's expiry rule is
    the retention: FsHistoryProvider.checkForLogs drops applications "whose log files disappeared
    from storage" at the next scan. Removing the log here stands for the expiry."""
    _poll("the History Server listed no application", history_server.applications, history_server)
    shutil.rmtree(local_run.events / f"eventlog_v2_{local_run.app_id}")
    _poll("the expired application stayed listed", lambda: history_server.applications() == [], history_server)
    assert history_server.process.poll() is None
