"""The Spot interruption drill (`python -m bench drill`): its event-log reading, its choice of
processes to signal, and one small real interrupted run.

The event logs under tests/fixtures/drill/ are real: the three shuffle-cache runs of the full
drill whose table is in docs/reliability.md (`python -m bench drill --work-dir DIR`, then
`gzip -9n` of DIR/shuffle-cache/<mode>/eventlog/app-*), byte for byte as Spark 4.3.0 wrote
them; shuffle-cache-interruptions.json is that run's record of its interruptions (from
bench/results.json). The full drill is a command, not a test: it takes minutes.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bench.__main__ as bench_main
from bench.drill import cli
from bench.drill.eventlog import EventLogError, figures, read_events, read_figures
from bench.drill.executors import EXECUTOR_CLASS, ExecutorHandle, executor_pids
from bench.drill.runner import Interruption, Point, RunOutcome
from bench.drill.workloads import Workload, differing_rows, output_rows, wordcount
from jobs.launch import find_spark
from jobs.spot import decommission_conf
from tests.test_jobs_local import python_word_count

pytestmark = pytest.mark.jvm  # starts Spark JVMs: scheduled first (tests/conftest.py)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "drill"


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The recorded event logs, unzipped: mode → path."""
    folder = tmp_path_factory.mktemp("drill-logs")
    unpacked = {}
    for packed in sorted(FIXTURES.glob("shuffle-cache-*.json.gz")):
        mode = packed.name.removeprefix("shuffle-cache-").removesuffix(".json.gz")
        unpacked[mode] = folder / f"{mode}.json"
        unpacked[mode].write_bytes(gzip.decompress(packed.read_bytes()))
    assert set(unpacked) == {"undisturbed", "decommissioning", "noDecommissioning"}
    return unpacked


def _raw_events(path: Path, name: str) -> list[dict]:
    """The events of one kind, found by a plain text search rather than by the reader under test."""
    return [json.loads(line) for line in path.read_text().splitlines() if f'"Event":"{name}"' in line]


def test_undisturbed_run_loses_and_redoes_nothing(logs: dict[str, Path]) -> None:
    """An undisturbed run: every task launched once, none failed, no executor removed, no block moved."""
    run = read_figures(logs["undisturbed"])
    assert run.tasks_launched == len(_raw_events(logs["undisturbed"], "SparkListenerTaskStart")) == 36
    assert (run.task_reruns, run.tasks_failed, run.outputs_lost, run.stage_reattempts) == (0, 0, 0, 0)
    assert run.executors_lost == {} and run.executors_added == 3
    assert (run.shuffle_outputs_migrated, run.rdd_blocks_migrated, run.rdd_blocks_lost) == (0, 0, 0)
    start, end = (_raw_events(logs["undisturbed"], kind)[0]["Timestamp"] for kind in ("SparkListenerApplicationStart", "SparkListenerApplicationEnd"))
    assert run.seconds == (end - start) / 1000


def test_decommissioning_run_reads_migrations_from_block_updates(logs: dict[str, Path]) -> None:
    """With decommissioning, the removed executors' reason is Spark's decommission message
    (ExecutorLossMessage.decommissionFinished, apache/spark core/.../executor/
    CoarseGrainedExecutorBackend.scala), and every shuffle block update is a migration: map
    outputs reach the driver's block manager only when a decommissioning executor hands them
    over (core/.../storage/BlockManagerDecommissioner.scala), to a peer or the fallback storage."""
    path = logs["decommissioning"]
    run = read_figures(path)
    assert len(run.executors_lost) == 2
    assert all(reason.startswith("Executor decommission") for reason in run.executors_lost.values())
    assert run.decommissioned == 2
    updates = [event["Block Updated Info"] for event in _raw_events(path, "SparkListenerBlockUpdated")]
    data_blocks = {update["Block ID"] for update in updates if re.fullmatch(r"shuffle_\d+_\d+_\d+\.data", update["Block ID"])}
    assert run.shuffle_outputs_migrated == len(data_blocks) > 0
    assert sum(run.migration_targets.values()) == run.shuffle_outputs_migrated
    assert "fallback" in run.migration_targets  # the local fallback folder took some
    # A decommissioning executor drops each cached block (replication 0) once a peer has it.
    drops = [update for update in updates if update["Block ID"].startswith("rdd_") and update["Storage Level"]["Replication"] == 0]
    assert run.rdd_blocks_migrated == len(drops) > 0
    assert run.rdd_blocks_lost == 0


def test_a_migrated_output_can_still_be_rerun_on_one_host(logs: dict[str, Path]) -> None:
    """Spark keeps a decommissioned executor's finished map output only if it now lives on
    another host (apache/spark core/.../scheduler/TaskSetManager.scala, executorLost:
    `locationOpt.exists(_.host != host)`); every local-cluster executor is on 127.0.0.1, so an
    output moved to a peer before its executor was lost is re-run all the same. The reader ties
    each Resubmitted task to the migration of its output that came before it in the log, by the
    task id, which is the map id under Spark's default fetch protocol."""
    path = logs["decommissioning"]
    run = read_figures(path)
    moved_to_peer: set[int] = set()
    expected = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event["Event"] == "SparkListenerBlockUpdated":
            update = event["Block Updated Info"]
            match = re.fullmatch(r"shuffle_\d+_(\d+)_\d+\.data", update["Block ID"])
            if match and update["Block Manager ID"]["Executor ID"] != "fallback":
                moved_to_peer.add(int(match.group(1)))
        elif event["Event"] == "SparkListenerTaskEnd" and event["Task End Reason"]["Reason"] == "Resubmitted":
            expected.append(event["Task Info"]["Task ID"] in moved_to_peer)
    assert len(run.lost_outputs) == len(expected) > 0
    assert run.rerun_though_migrated == sum(expected) > 0


def test_run_without_decommissioning_reads_lost_work(logs: dict[str, Path]) -> None:
    """Without decommissioning the executors die on SIGTERM (exit 143): running tasks fail with
    ExecutorLostFailure, finished map outputs are Resubmitted, reducers hit FetchFailed and the
    stage is re-attempted; every extra launch of a (stage, partition) is a re-run."""
    path = logs["noDecommissioning"]
    run = read_figures(path)
    assert set(run.executors_lost.values()) == {"Command exited with code 143"}
    starts = _raw_events(path, "SparkListenerTaskStart")
    distinct = {(event["Stage ID"], event["Task Info"]["Partition ID"]) for event in starts}
    assert run.task_reruns == len(starts) - len(distinct) > 0
    ends = [event["Task End Reason"]["Reason"] for event in _raw_events(path, "SparkListenerTaskEnd")]
    assert run.outputs_lost == ends.count("Resubmitted") > 0
    assert run.failed_tasks["ExecutorLostFailure"] == ends.count("ExecutorLostFailure") > 0
    assert run.tasks_failed == len(ends) - ends.count("Success") - ends.count("Resubmitted")
    resubmitted = [event for event in _raw_events(path, "SparkListenerStageSubmitted") if event["Stage Info"]["Stage Attempt ID"] > 0]
    assert run.stage_reattempts == len(resubmitted) > 0
    assert run.rdd_blocks_lost > 0 and run.rdd_blocks_migrated == 0
    assert run.wasted_task_seconds > 0


def test_rolling_log_folder_reads_its_parts_in_number_order(logs: dict[str, Path], tmp_path: Path) -> None:
    """A rolling event log (eventlog_v2_*/events_N_*) is read part by part in N order, 10 after 2."""
    lines = logs["noDecommissioning"].read_text().splitlines(keepends=True)
    folder = tmp_path / "eventlog_v2_app-1"
    folder.mkdir()
    thirds = [lines[: len(lines) // 3], lines[len(lines) // 3 : 2 * len(lines) // 3], lines[2 * len(lines) // 3 :]]
    for number, chunk in zip((1, 2, 10), thirds):
        (folder / f"events_{number}_app-1").write_text("".join(chunk))
    (folder / "appstatus_app-1").write_text("")
    assert read_figures(folder) == read_figures(logs["noDecommissioning"])


def test_unreadable_logs_fail_with_one_line(logs: dict[str, Path], tmp_path: Path) -> None:
    """A compressed log, a log cut before the application ended, and a non-JSON line each
    raise one line naming the file and what to do."""
    compressed = tmp_path / "events_1_app-1.zstd"
    compressed.write_bytes(b"\x28\xb5\x2f\xfd")
    with pytest.raises(EventLogError, match=r"compressed event log; run with spark.eventLog.compress=false"):
        read_figures(compressed)
    cut = tmp_path / "cut.json"
    cut.write_text("".join(logs["undisturbed"].read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(EventLogError, match=r"cut.json: .*did not finish"):
        read_figures(cut)
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"Event":"SparkListenerLogStart"}\nnot json\n')
    with pytest.raises(EventLogError, match=r"garbage.json:2: not a JSON event"):
        list(read_events(garbage))
    with pytest.raises(EventLogError, match="no such event log"):
        figures(read_events(tmp_path / "missing"))


def test_outputs_compare_as_sorted_bytes(tmp_path: Path) -> None:
    """Two outputs agree when their part files hold the same lines in any order and split;
    every row in one and not the other counts, repeats included."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    (first / "part-00000").write_bytes(b"b\t2\na\t1\n")
    (second / "part-00000").write_bytes(b"a\t1\n")
    (second / "part-00001").write_bytes(b"b\t2\n")
    assert differing_rows(output_rows(first), output_rows(second)) == 0
    (second / "part-00001").write_bytes(b"b\t3\na\t1\n")
    assert differing_rows(output_rows(first), output_rows(second)) == 3
    with pytest.raises(FileNotFoundError, match="no part files"):
        output_rows(tmp_path)


def test_verdict_names_each_cause_the_event_log_shows(logs: dict[str, Path]) -> None:
    """The verdict says whether decommissioning re-ran fewer tasks than no decommissioning and,
    from the decommissioning run's event log and the drill's record of when it signalled each
    executor (tests/fixtures/drill/shuffle-cache-interruptions.json, from the same run), why
    it re-ran what it did."""
    recorded = json.loads((FIXTURES / "shuffle-cache-interruptions.json").read_text())
    results = []
    for mode in cli.modes("file:///fallback/", quick=False):
        interruptions = [
            Interruption(Point(item["point"], 0), item["executor"], 0, item["stage"], item["stageTasksDone"],
                         item["firstSignal"], item["signalledAt"], item["signalledEpochMs"])
            for item in recorded[mode.key]
        ]
        results.append(cli.RunResult(mode, RunOutcome(0, logs[mode.key], interruptions), read_figures(logs[mode.key]), []))
    decom, off = results[1].figures, results[2].figures
    text = cli.verdict(results)
    assert decom.task_reruns < off.task_reruns
    assert text.startswith(f"decommissioning re-ran fewer tasks: {decom.task_reruns} task re-runs (")
    assert f") vs {off.task_reruns} without it;" in text
    for reason, count in decom.failed_tasks.items():
        assert f"{count} attempts failed with {reason}" in text
    for executor, map_id, target in decom.unfetched:
        where = f"migrated to {target}, but still asked of the killed executor" if target else "not migrated before the SIGKILL"
        assert f"could not fetch map output {map_id} of executor {executor} ({where})" in text
    assert f"{decom.outputs_lost} finished map tasks re-run (Resubmitted)" in text
    assert (f"{decom.rerun_though_migrated} of them although their output had moved to a peer" in text) == (decom.rerun_though_migrated > 0)
    signalled = {item["executor"]: item["signalledEpochMs"] for item in recorded["decommissioning"]}
    late = [lost for lost in decom.lost_outputs if lost.migrated_to is None and lost.finished_ms >= signalled[lost.executor]]
    assert (f"{len(late)} finished after the SIGPWR" in text) == bool(late)
    assert f"{decom.shuffle_outputs_migrated} map outputs and {decom.rdd_blocks_migrated} cached blocks migrated" in text


# --- which processes the drill may signal ------------------------------------------------


def _pretend_executor(*args: str) -> subprocess.Popen[bytes]:
    """A real process whose command line carries the given arguments after a sleeping Python."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *args])


def test_only_this_apps_executors_under_this_submit_are_found() -> None:
    """An executor is ours only if the executor class is an argument of its own, --app-id is
    this run's and it descends from our spark-submit; look-alikes never match."""
    ours = _pretend_executor(EXECUTOR_CLASS, "--executor-id", "7", "--app-id", "app-ours")
    other_app = _pretend_executor(EXECUTOR_CLASS, "--executor-id", "8", "--app-id", "app-other")
    mention = _pretend_executor(f"--note={EXECUTOR_CLASS}", "--executor-id", "9", "--app-id", "app-ours")
    unrelated = _pretend_executor()
    try:
        deadline = time.monotonic() + 10
        while "7" not in executor_pids("app-ours", os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.05)  # until the child has exec'd Python
        assert executor_pids("app-ours", os.getpid()) == {"7": ours.pid}
        assert executor_pids("app-other", os.getpid()) == {"8": other_app.pid}
        assert executor_pids("app-ours", unrelated.pid) == {}  # not descendants of that process
        assert executor_pids("app-none", os.getpid()) == {}
    finally:
        for process in (ours, other_app, mention, unrelated):
            process.kill()
            process.wait()


def test_signals_reach_the_checked_process_only() -> None:
    """A handle opens only on a process that is the named executor of the app; its SIGKILL
    ends that process, and a handle on an exited process sends nothing."""
    process = _pretend_executor(EXECUTOR_CLASS, "--executor-id", "3", "--app-id", "app-handle")
    try:
        deadline = time.monotonic() + 10
        while not executor_pids("app-handle", os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ExecutorHandle.open("4", process.pid, "app-handle", os.getpid()) is None
        assert ExecutorHandle.open("3", process.pid, "app-other", os.getpid()) is None
        handle = ExecutorHandle.open("3", process.pid, "app-handle", os.getpid())
        assert handle is not None and not handle.exited()
        assert handle.send(signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
        assert handle.exited()
        assert not handle.send(signal.SIGKILL)
        handle.close()
    finally:
        process.kill()
        process.wait()


# --- the CLI ----------------------------------------------------------------------------------


def test_results_keep_every_other_figure(tmp_path: Path) -> None:
    """The full drill writes under "drill" and keeps the file's other figures; a file that is
    not JSON is left as it is, with one line saying so."""
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"date": "2026-11-25", "figures": [{"name": "f", "value": 1}]}))
    cli.write_results(results, {"graceSeconds": 5})
    assert json.loads(results.read_text()) == {
        "date": "2026-11-25",
        "figures": [{"name": "f", "value": 1}],
        "drill": {"graceSeconds": 5},
    }
    results.write_text("{broken")
    with pytest.raises(cli.BadInput, match="is not a JSON object; fix or remove it"):
        cli.write_results(results, {})
    assert results.read_text() == "{broken"


def test_bench_keeps_the_drill_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m bench` rewrites its own figures but keeps the drill's beside them."""
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"figures": [], "drill": {"graceSeconds": 5}}))
    monkeypatch.setattr(bench_main, "SUITES", ())
    assert bench_main.main(["--output", str(results)]) == 0
    assert json.loads(results.read_text())["drill"] == {"graceSeconds": 5}


def test_quick_writes_no_results_and_bad_input_stops_before_spark(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`bench drill --quick` never writes results; a full run writes the results file; a
    grace of 0 s, a work folder that is a file and a results file that is not JSON are each
    refused with one line and exit 2 before any Spark runs."""
    seen: list[tuple[bool, Path | None]] = []
    monkeypatch.setattr(cli, "drill", lambda quick, grace, work, output, per_point, quiet: seen.append((quick, output)) or 0)
    assert bench_main.main(["drill", "--quick", "--work-dir", str(tmp_path)]) == 0
    assert bench_main.main(["drill", "--work-dir", str(tmp_path)]) == 0
    assert seen == [(True, None), (False, cli.RESULTS)]
    capsys.readouterr()
    broken = tmp_path / "broken.json"
    broken.write_text("[1, 2]")
    for argv, message in (
        (["--grace", "0"], "--grace must be more than 0 seconds"),
        (["--executors", "3"], "--executors must be 1 to 2: one executor of 3 keeps running"),
        (["--work-dir", str(broken)], f"--work-dir: {broken} is a file; give a folder (it is created if missing)"),
        (["--output", str(broken)], f"--output: {broken} is not a JSON object; fix or remove it (the drill will not overwrite it)"),
    ):
        assert bench_main.main(["drill", *argv]) == 2
        assert capsys.readouterr().err == f"bench: error: {message}\n"
    assert len(seen) == 2 and broken.read_text() == "[1, 2]"


def test_a_differing_output_or_a_missed_interruption_fails_the_drill(
    logs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The drill exits 1 with one line per problem when an interrupted run's sorted output
    differs from the undisturbed one or a planned interruption never landed, and then writes
    no results (the runs themselves are the recorded ones; only their outputs are made up)."""
    rows = {"undisturbed": [b"a,1", b"b,2"], "decommissioning": [b"a,1", b"b,3"], "noDecommissioning": [b"b,2", b"a,1"]}

    def recorded_runs(workload, run_modes, spark_submit, env, work, grace):  # type: ignore[no-untyped-def]
        missed = {"noDecommissioning": [Point("read", 0.0)]}
        return [
            cli.RunResult(mode, RunOutcome(0, logs[mode.key], [], missed.get(mode.key, [])), read_figures(logs[mode.key]), sorted(rows[mode.key]))
            for mode in run_modes
        ]

    monkeypatch.setattr(cli, "run_workload", recorded_runs)
    monkeypatch.setattr(cli, "wordcount", lambda rows, data_dir, plan: Workload("wordcount", Path("wc.py"), "small", list, plan))
    monkeypatch.setattr(cli, "shuffle_cache", lambda rows, plan: Workload("shuffle-cache", Path("sc.py"), "small", list, plan))
    results = tmp_path / "results.json"
    assert cli.drill(quick=False, grace=5, work=tmp_path, output=results) == 1
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        "bench: error: drill: wordcount (decommissioning): 2 rows differ from the undisturbed run",
        "bench: error: drill: wordcount (no decommissioning): interruption never landed (1 executor during the shuffle read)",
        "bench: error: drill: shuffle-cache (decommissioning): 2 rows differ from the undisturbed run",
        "bench: error: drill: shuffle-cache (no decommissioning): interruption never landed (1 executor during the shuffle read)",
    ]
    assert not results.exists()


# --- one small real interrupted run -----------------------------------------------------------


def test_interrupted_word_count_still_counts_every_word(tmp_path: Path) -> None:
    """A real word count on local-cluster[3,1,1024] with the project's decommissioning confs:
    one busy executor gets SIGPWR during the map stage (as decom.sh sends it on EKS), Spark's
    driver logs the decommission (apache/spark CoarseGrainedExecutorBackend registers the
    SIGPWR handler when spark.decommission.enabled), and the output still equals a plain
    Python count of the same data."""
    spark = find_spark()
    job = wordcount(20_000, tmp_path / "data", (Point("map", 0.25),))
    decommissioning = cli.modes((tmp_path / "fallback").as_uri() + "/", quick=True)[1]
    assert decommissioning.conf == decommission_conf((tmp_path / "fallback").as_uri() + "/")
    [result] = cli.run_workload(job, [decommissioning], spark.submit, cli.spark_env(spark.home), tmp_path, grace=3)
    assert result.outcome.exit_code == 0 and result.outcome.missed == []
    [interruption] = result.outcome.interruptions
    assert interruption.first_signal == "SIGPWR" and interruption.point.stage == "map"
    driver_log = (tmp_path / "wordcount" / "decommissioning" / "spark-submit.log").read_text()
    assert f"Received executor {interruption.executor_id} decommissioned message" in driver_log
    assert result.figures.executors_added >= 3
    # The executors' logs moved out of the installed pyspark package into the run's folder.
    assert not (spark.home / "work" / result.figures.app_id).exists()
    assert (tmp_path / "wordcount" / "decommissioning" / "executors").is_dir()
    assert set(result.figures.executors_lost) <= {interruption.executor_id}
    counted = dict(line.decode().split(",") for line in result.rows if line != b"word,count")
    assert {word: int(count) for word, count in counted.items()} == python_word_count(tmp_path / "data" / "reviews-20000.tsv")
