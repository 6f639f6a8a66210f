"""What a Spark application lost and redid, read from its own event log (pure: events in, figures out).

Spark writes one JSON object per line (`spark.eventLog.enabled`); the drill turns compression
and rolling off so the log is plain JSON lines, but a rolling log's folder (`eventlog_v2_*`,
files `events_N_*`) is read too. The facts used, as Spark writes them:

- `SparkListenerApplicationStart`/`End` carry `Timestamp` (ms): the run time.
- `SparkListenerExecutorRemoved` carries `Removed Reason`; an executor that finished
  decommissioning is removed with a reason starting "Executor decommission"
  (ExecutorLossMessage.decommissionFinished in Spark's CoarseGrainedExecutorBackend).
- `SparkListenerTaskEnd.Task End Reason.Reason` is `Success`, or why the attempt failed
  (`ExecutorLostFailure`, `FetchFailed`, `TaskKilled`, …); `Resubmitted` marks a task that
  had finished but whose shuffle output was lost with its executor, so it runs again.
- `SparkListenerStageSubmitted` with `Stage Attempt ID` > 0 is a stage run again.
- `SparkListenerBlockUpdated` (only with `spark.eventLog.logBlockUpdates.enabled`): RDD
  blocks as executors cache them, and shuffle blocks (`shuffle_S_M_R.data/.index`) when a
  decommissioning executor hands them to a peer (or to `fallback`): map outputs are not
  reported to the driver's block manager otherwise, so every shuffle block update is a
  migration.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

DECOMMISSION_REASON = "Executor decommission"
COMPRESSED_SUFFIXES = (".zstd", ".lz4", ".lzf", ".snappy", ".zst", ".gz")
_ROLLING_FILE = re.compile(r"^events_(\d+)_")
_SHUFFLE_DATA_BLOCK = re.compile(r"^shuffle_(\d+)_(\d+)_\d+\.data$")


class EventLogError(ValueError):
    """An event log the drill cannot read; the message is one line naming the file and the fix."""


def _log_files(path: Path) -> list[Path]:
    if path.is_dir():
        parts = sorted(
            (int(match.group(1)), child)
            for child in path.iterdir()
            if (match := _ROLLING_FILE.match(child.name)) is not None
        )
        if not parts:
            raise EventLogError(f"{path}: no events_N_* files; is this a Spark event log folder?")
        return [child for _, child in parts]
    if not path.is_file():
        raise EventLogError(f"{path}: no such event log")
    return [path]


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Every event of the log at `path` (a plain JSON-lines file, or a rolling log's folder), in order."""
    for part in _log_files(path):
        if part.name.endswith(COMPRESSED_SUFFIXES):
            raise EventLogError(
                f"{part}: compressed event log; run with spark.eventLog.compress=false or decompress it first"
            )
        with part.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    raise EventLogError(f"{part}:{number}: not a JSON event; is this a Spark event log?") from None


def _valid(storage_level: dict[str, Any]) -> bool:
    return bool(storage_level.get("Use Memory") or storage_level.get("Use Disk")) and storage_level.get("Replication", 1) > 0


@dataclass(frozen=True)
class LostOutput:
    """A finished map task re-run because its output went with its executor (TaskEnd Resubmitted)."""

    executor: str
    task_id: int  # also the map id of its output (Spark's default fetch protocol)
    finished_ms: int
    migrated_to: str | None  # where a decommissioning executor had moved that output when it was lost, if anywhere


@dataclass(frozen=True)
class RunFigures:
    """What one application run did, from its event log."""

    app_id: str
    seconds: float
    executors_added: int
    executors_lost: dict[str, str]  # executor id → removal reason, in removal order
    tasks_launched: int
    task_reruns: int  # launches beyond the first of each (stage, partition)
    failed_tasks: dict[str, int]  # failure reason → attempts (Resubmitted excluded)
    lost_outputs: tuple[LostOutput, ...]
    unfetched: tuple[tuple[str, int, str | None], ...]  # (executor, map id, migrated to then) a reducer failed to fetch
    wasted_task_seconds: float  # run time of attempts that failed or whose output was lost
    stage_reattempts: int
    shuffle_bytes_written: int  # by the attempts that succeeded
    migrated: dict[int, str]  # map id → where its output was last handed over (executor id or "fallback")
    rdd_blocks_migrated: int = 0  # cached blocks copied to another executor while their holder had them
    rdd_blocks_lost: int = 0  # cached blocks whose only copy went with a removed executor

    @property
    def decommissioned(self) -> int:
        return sum(reason.startswith(DECOMMISSION_REASON) for reason in self.executors_lost.values())

    @property
    def shuffle_outputs_migrated(self) -> int:
        return len(self.migrated)

    @property
    def migration_targets(self) -> dict[str, int]:
        return dict(sorted(Counter(self.migrated.values()).items()))

    @property
    def outputs_lost(self) -> int:
        return len(self.lost_outputs)

    @property
    def rerun_though_migrated(self) -> int:
        """Re-run although moved to a peer: Spark keeps a decommissioned executor's map output only
        if it now lives on another host (TaskSetManager.executorLost), and on local-cluster every
        executor's host is 127.0.0.1. The fallback storage's host is "remote", so it counts."""
        return sum(lost.migrated_to not in (None, "fallback") for lost in self.lost_outputs)

    @property
    def tasks_failed(self) -> int:
        return sum(self.failed_tasks.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "appId": self.app_id,
            "seconds": round(self.seconds, 1),
            "executorsAdded": self.executors_added,
            "executorsLost": len(self.executors_lost),
            "executorsDecommissioned": self.decommissioned,
            "removalReasons": self.executors_lost,
            "tasksLaunched": self.tasks_launched,
            "taskReruns": self.task_reruns,
            "tasksFailed": self.tasks_failed,
            "failedTasksByReason": self.failed_tasks,
            "finishedTasksLost": self.outputs_lost,
            "finishedTasksLostThoughMigrated": self.rerun_though_migrated,
            "unfetchedMapOutputs": [
                {"executor": executor, "mapId": map_id, "migratedTo": target} for executor, map_id, target in self.unfetched
            ],
            "wastedTaskSeconds": round(self.wasted_task_seconds, 1),
            "stageReattempts": self.stage_reattempts,
            "shuffleBytesWritten": self.shuffle_bytes_written,
            "shuffleOutputsMigrated": self.shuffle_outputs_migrated,
            "migrationTargets": self.migration_targets,
            "rddBlocksMigrated": self.rdd_blocks_migrated,
            "rddBlocksLost": self.rdd_blocks_lost,
        }


def figures(events: Iterable[dict[str, Any]]) -> RunFigures:
    """Fold one application's events into its figures; raises EventLogError if the run never ended."""
    app_id = ""
    started: int | None = None
    ended: int | None = None
    executors_added = 0
    lost: dict[str, str] = {}
    launches: Counter[tuple[int, int]] = Counter()  # (stage, partition) → attempts, over stage attempts
    failed: Counter[str] = Counter()
    lost_outputs: list[LostOutput] = []
    unfetched: list[tuple[str, int, str | None]] = []
    wasted_ms = 0
    stage_reattempts = 0
    shuffle_bytes = 0
    migrated: dict[int, str] = {}  # map ids (task ids) are unique in an application
    # Cached RDD blocks → the executors holding them now. A block appearing on one executor
    # while another still holds it was copied over (replication is 1 here: a migration); a
    # block whose only holder is removed is lost, to be recomputed if it is needed again.
    rdd_holders: dict[str, set[str]] = {}
    rdd_migrated = rdd_lost = 0

    for event in events:
        kind = event.get("Event")
        if kind == "SparkListenerApplicationStart":
            app_id = event.get("App ID", "")
            started = event["Timestamp"]
        elif kind == "SparkListenerApplicationEnd":
            ended = event["Timestamp"]
        elif kind == "SparkListenerExecutorAdded":
            executors_added += 1
        elif kind == "SparkListenerExecutorRemoved":
            executor = event["Executor ID"]
            lost[executor] = event.get("Removed Reason", "")
            for holders in rdd_holders.values():
                if holders == {executor}:
                    rdd_lost += 1
                holders.discard(executor)
        elif kind == "SparkListenerTaskStart":
            info = event["Task Info"]
            partition = info.get("Partition ID", info["Index"])
            launches[(event["Stage ID"], partition)] += 1
        elif kind == "SparkListenerTaskEnd":
            reason = event["Task End Reason"]["Reason"]
            if reason == "Success":
                metrics = event.get("Task Metrics") or {}
                shuffle_bytes += metrics.get("Shuffle Write Metrics", {}).get("Shuffle Bytes Written", 0)
            else:
                # Wasted work; a Resubmitted event carries the finished attempt whose output was lost.
                info = event["Task Info"]
                wasted_ms += max(0, info.get("Finish Time", 0) - info.get("Launch Time", 0))
                if reason == "Resubmitted":
                    # Where the output was at this moment: it may move on later (a peer decommissioning too).
                    task = info["Task ID"]
                    lost_outputs.append(LostOutput(info["Executor ID"], task, info["Finish Time"], migrated.get(task)))
                else:
                    failed[reason] += 1
                if reason == "FetchFailed":
                    detail = event["Task End Reason"]
                    map_id = detail["Map ID"]
                    unfetched.append((detail["Block Manager Address"]["Executor ID"], map_id, migrated.get(map_id)))
        elif kind == "SparkListenerStageSubmitted":
            if event["Stage Info"]["Stage Attempt ID"] > 0:
                stage_reattempts += 1
        elif kind == "SparkListenerBlockUpdated":
            update = event["Block Updated Info"]
            block = update["Block ID"]
            executor = update["Block Manager ID"]["Executor ID"]
            valid = _valid(update["Storage Level"])
            if (match := _SHUFFLE_DATA_BLOCK.match(block)) and valid:
                migrated[int(match.group(2))] = executor
            elif block.startswith("rdd_"):
                holders = rdd_holders.setdefault(block, set())
                if not valid:
                    holders.discard(executor)
                elif executor not in holders:
                    rdd_migrated += bool(holders)
                    holders.add(executor)

    if started is None or ended is None:
        raise EventLogError("event log has no application start or end: the run did not finish")

    return RunFigures(
        app_id=app_id,
        seconds=(ended - started) / 1000,
        executors_added=executors_added,
        executors_lost=lost,
        tasks_launched=sum(launches.values()),
        task_reruns=sum(count - 1 for count in launches.values()),
        failed_tasks=dict(sorted(failed.items())),
        lost_outputs=tuple(lost_outputs),
        unfetched=tuple(dict.fromkeys(unfetched)),
        wasted_task_seconds=wasted_ms / 1000,
        stage_reattempts=stage_reattempts,
        shuffle_bytes_written=shuffle_bytes,
        migrated=migrated,
        rdd_blocks_migrated=rdd_migrated,
        rdd_blocks_lost=rdd_lost,
    )


def read_figures(path: Path) -> RunFigures:
    """The figures of the event log at `path`."""
    try:
        return figures(read_events(path))
    except EventLogError as error:
        if str(error).startswith(str(path)):
            raise
        raise EventLogError(f"{path}: {error}") from None
