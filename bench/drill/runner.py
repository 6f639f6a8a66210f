"""One real Spark run on `local-cluster[N,C,M]`, interrupting executors at chosen points.

The run is the pyspark wheel's own spark-submit (SPARK_HOME = the installed package), bound
to 127.0.0.1. While it runs, the driver's REST API (`/api/v1`, on a port chosen here) says
which stage is active and how far it is; at each interruption point the drill picks busy
executors of that stage and interrupts them as a Spot reclaim on EKS does:

- decommissioning on: Spark adds the preStop hook `decom.sh` to executor pods, which sends
  SIGPWR to the executor JVM (apache/spark resource-managers/kubernetes/docker/src/main/
  dockerfiles/spark/decom.sh; the hook is added by BasicExecutorFeatureStep only when
  `spark.decommission.enabled`); decom.sh then waits for the JVM to exit, so the kubelet's
  SIGKILL at the end of the grace period is what ends an executor that is still busy;
- decommissioning off: no preStop hook, so the kubelet sends SIGTERM at once and SIGKILL
  at the end of the grace period (kubernetes.io/docs/concepts/workloads/pods/pod-termination/).

EKS drains a Spot node when its two-minute interruption notice arrives
(docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html, "Managed node group
capacity types"); the pod's grace period is what the executor gets of those two minutes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from bench.drill.executors import ExecutorHandle, executor_pids

POLL_SECONDS = 0.2


class DrillError(RuntimeError):
    """A run that could not be carried out (not a wrong answer: that is a figure)."""


@dataclass(frozen=True)
class Point:
    """Interrupt `executors` busy executors once `fraction` of a stage's tasks have finished.

    `stage` is "map" (a stage writing shuffle output and reading none) or "read" (a stage
    reading shuffle output); what a stage does is read from its finished tasks' metrics.
    """

    stage: str
    fraction: float
    executors: int = 1

    def describe(self) -> str:
        where = "the map stage" if self.stage == "map" else "the shuffle read"
        return f"{self.executors} executor{'s' if self.executors > 1 else ''} during {where}"


@dataclass
class Interruption:
    """What was done to one executor, and when (seconds since spark-submit started)."""

    point: Point
    executor_id: str
    pid: int
    stage_id: int
    tasks_done: str
    first_signal: str
    signalled_at: float
    signalled_epoch_ms: int  # wall clock, to compare with the event log's timestamps
    exited_at: float | None = None
    killed_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "point": self.point.stage,
            "executor": self.executor_id,
            "stage": self.stage_id,
            "stageTasksDone": self.tasks_done,
            "firstSignal": self.first_signal,
            "signalledAt": round(self.signalled_at, 1),
            "signalledEpochMs": self.signalled_epoch_ms,
            "exitedWithinGraceAfter": None if self.exited_at is None else round(self.exited_at - self.signalled_at, 1),
            "sigkillAfter": None if self.killed_at is None else round(self.killed_at - self.signalled_at, 1),
        }


@dataclass
class RunOutcome:
    exit_code: int
    event_log: Path
    interruptions: list[Interruption] = field(default_factory=list)
    missed: list[Point] = field(default_factory=list)
    log_tail: str = ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stage_kind(stage: Mapping[str, Any]) -> str | None:
    if stage.get("shuffleReadBytes", 0) > 0 or stage.get("shuffleReadRecords", 0) > 0:
        return "read"
    if stage.get("shuffleWriteBytes", 0) > 0:
        return "map"
    return None


class _Driver:
    """The driver's REST API on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v1"
        self.app_id: str | None = None

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=2) as response:
            return json.load(response)

    def app(self) -> str | None:
        if self.app_id is None:
            try:
                apps = self.get("/applications")
            except (OSError, ValueError):
                return None
            self.app_id = apps[0]["id"] if apps else None
        return self.app_id


class _Interrupter:
    """Delivers the plan's points in order and the SIGKILLs at the end of each grace period."""

    def __init__(self, plan: Sequence[Point], first_signal: signal.Signals, grace: float, ancestor: int) -> None:
        self.pending = list(plan)
        self.first_signal = first_signal
        self.grace = grace
        self.ancestor = ancestor
        self.done: list[Interruption] = []
        self.handles: list[tuple[Interruption, ExecutorHandle]] = []

    def tick(self, driver: _Driver, now: float) -> None:
        self._finish_graces(now)
        if self.pending and driver.app() is not None:
            try:
                self._maybe_interrupt(driver, now)
            except (OSError, ValueError, KeyError):
                pass  # the REST API is busy or the stage just ended: look again next tick

    def _finish_graces(self, now: float) -> None:
        for interruption, handle in list(self.handles):
            if handle.exited():
                interruption.exited_at = interruption.exited_at or now
            elif now - interruption.signalled_at >= self.grace:
                # The instance is gone: nothing of this executor survives past here.
                if handle.send(signal.SIGKILL):
                    interruption.killed_at = now
                else:
                    interruption.exited_at = now
            else:
                continue
            handle.close()
            self.handles.remove((interruption, handle))

    def _maybe_interrupt(self, driver: _Driver, now: float) -> None:
        point = self.pending[0]
        app = driver.app_id
        for stage in driver.get(f"/applications/{app}/stages?status=active"):
            total, finished = stage["numTasks"], stage["numCompleteTasks"]
            if total < 3 or _stage_kind(stage) != point.stage or finished < math.ceil(point.fraction * total):
                continue
            tasks = driver.get(f"/applications/{app}/stages/{stage['stageId']}/{stage['attemptId']}/taskList?length=100000")
            busy = {task["executorId"] for task in tasks if task["status"] == "RUNNING"}
            wins: dict[str, int] = {}
            for task in tasks:
                if task["status"] == "SUCCESS":
                    wins[task["executorId"]] = wins.get(task["executorId"], 0) + 1
            taken = {interruption.executor_id for interruption in self.done}
            # The busy executor holding most of this stage's finished work loses the most.
            candidates = sorted(busy - taken, key=lambda executor: (-wins.get(executor, 0), int(executor)))
            if len(candidates) < point.executors:
                continue
            pids = executor_pids(app, self.ancestor)
            for executor in candidates[: point.executors]:
                handle = ExecutorHandle.open(executor, pids[executor], app, self.ancestor) if executor in pids else None
                if handle is None:
                    continue
                if not handle.send(self.first_signal):
                    handle.close()
                    continue
                interruption = Interruption(
                    point,
                    executor,
                    handle.pid,
                    stage["stageId"],
                    f"{finished}/{total}",
                    self.first_signal.name,
                    now,
                    int(time.time() * 1000),
                )
                self.done.append(interruption)
                self.handles.append((interruption, handle))
            if any(interruption.point is point for interruption in self.done):
                self.pending.pop(0)
            return

    def finish(self, now: float) -> None:
        for interruption, handle in self.handles:
            interruption.exited_at = interruption.exited_at or now
            handle.close()
        self.handles.clear()


def run_spark(
    spark_submit: Path,
    master: str,
    app: Path,
    app_args: Sequence[str],
    conf: Mapping[str, str],
    env: Mapping[str, str],
    work: Path,
    plan: Sequence[Point] = (),
    first_signal: signal.Signals = signal.SIGPWR,
    grace: float = 10.0,
    timeout: float = 900.0,
) -> RunOutcome:
    """Run `app` with `conf`, interrupt per `plan`, wait for the end; the event log is in `work`."""
    event_dir = work / "eventlog"
    event_dir.mkdir(parents=True, exist_ok=True)  # Spark never creates it
    port = free_port()
    full_conf = {
        **conf,
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": event_dir.resolve().as_uri(),
        # Plain JSON lines, one file: readable without a codec. Block updates show migrations.
        "spark.eventLog.compress": "false",
        "spark.eventLog.rolling.enabled": "false",
        "spark.eventLog.logBlockUpdates.enabled": "true",
        "spark.ui.enabled": "true",
        "spark.ui.port": str(port),
        "spark.port.maxRetries": "0",  # the REST API must be where the drill looks
    }
    argv = [str(spark_submit), "--master", master]
    for key, value in full_conf.items():
        argv += ["--conf", f"{key}={value}"]
    argv += [str(app), *app_args]
    log_path = work / "spark-submit.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        driver = _Driver(port)
        interrupter = _Interrupter(plan, first_signal, grace, process.pid)
        try:
            while process.poll() is None:
                now = time.monotonic() - started
                if now > timeout:
                    raise DrillError(f"{app.name} did not finish in {timeout:.0f} s; its log: {log_path}")
                interrupter.tick(driver, now)
                time.sleep(POLL_SECONDS)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)  # the session the drill started, nothing else
                process.wait()
            interrupter.finish(time.monotonic() - started)
    tail = log_path.read_text(errors="replace")[-3000:]
    logs = sorted(event_dir.iterdir())
    if len(logs) != 1:
        raise DrillError(f"{app.name}: expected one event log in {event_dir}, found {len(logs)}; its log: {log_path}")
    # local-cluster's workers keep executor logs under SPARK_HOME/work/<app id> (the installed
    # pyspark package): move this run's into its own folder rather than leave them there.
    worker_logs = Path(env["SPARK_HOME"]) / "work" / logs[0].name.removesuffix(".inprogress")
    if worker_logs.is_dir():
        shutil.move(str(worker_logs), str(work / "executors"))
    return RunOutcome(
        exit_code=process.returncode,
        event_log=logs[0],
        interruptions=interrupter.done,
        missed=list(interrupter.pending),
        log_tail=tail,
    )
