"""`python -m bench drill [--quick]`: lose executors mid-job on a real local Spark cluster, lose no output.

Each job runs three ways in one go on `local-cluster[3,1,1024]` (three executor JVMs):
undisturbed; interrupted with the project's decommissioning settings (jobs/spot.py, the
keys the cluster submission sends); interrupted with decommissioning off. Outputs are
compared byte for byte after sorting; the figures come from each run's Spark event log.
`--quick` runs the word count on small data, undisturbed and interrupted once with
decommissioning, and writes no results file (CI); a full run writes its figures into
bench/results.json (key "drill"), or --output FILE.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bench.drill.eventlog import EventLogError, RunFigures, read_figures
from cli_common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, CliError, Parser, add_quiet, exit_codes, print_error, progress
from bench.drill.runner import DrillError, Point, RunOutcome, run_spark
from bench.drill.workloads import Workload, differing_rows, output_rows, shuffle_cache, wordcount
from jobs.command import local_env
from jobs.launch import LaunchError, find_spark, require_java
from jobs.spot import decommission_conf

TOOL = "bench"
RESULTS = Path(__file__).resolve().parent.parent / "results.json"
RESULTS_SHOWN = "bench/results.json"  # how messages name the default results file
EXECUTORS = 3
MASTER = f"local-cluster[{EXECUTORS},1,1024]"

FULL_WORDCOUNT_ROWS = 600_000
FULL_SHUFFLE_ROWS = 8_000_000
QUICK_WORDCOUNT_ROWS = 60_000
# Spot gives two minutes' notice and Spark 4.1+ gives an executor pod 30 s to stop
# (spark.kubernetes.executor.terminationGracePeriodSeconds): about a tenth of a five-minute
# job. The drill's jobs run about a minute here, so a tenth of that: a warmed-up task (about
# a second) and the block migration fit, and the SIGKILL lands while the job still runs.
GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Mode:
    key: str
    label: str
    conf: dict[str, str]
    first_signal: signal.Signals | None  # None: not interrupted


def modes(fallback_uri: str, quick: bool) -> list[Mode]:
    undisturbed = Mode("undisturbed", "undisturbed", {}, None)
    # The cluster's keys, with a local folder where the cluster has s3a://<bucket>/…: blocks
    # no peer can take land there, as they would in S3.
    decommissioning = Mode("decommissioning", "decommissioning", decommission_conf(fallback_uri), signal.SIGPWR)
    off = Mode("noDecommissioning", "no decommissioning", {"spark.decommission.enabled": "false"}, signal.SIGTERM)
    return [undisturbed, decommissioning] if quick else [undisturbed, decommissioning, off]


@dataclass
class RunResult:
    mode: Mode
    outcome: RunOutcome
    figures: RunFigures
    rows: list[bytes]


def base_conf() -> dict[str, str]:
    """What every run of every mode gets."""
    return {
        "spark.log.level": "WARN",
        "spark.ui.showConsoleProgress": "false",
        "spark.executor.memory": "1g",
        # Runs of a minute are mostly JVM warm-up on two cores: the quick C1 compiler alone
        # halves them here (as `jobs submit --local` does for its driver).
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
        "spark.executor.extraJavaOptions": "-XX:TieredStopAtLevel=1",
        # Running tasks' metrics reach the driver with each heartbeat (10 s by default): at 1 s
        # the drill sees a shuffle read start, not only its first finished task.
        "spark.executor.heartbeatInterval": "1s",
    }


def spark_env(spark_home: Path) -> dict[str, str]:
    """The pyspark wheel's Spark, this interpreter for Python workers, everything on 127.0.0.1."""
    return {**local_env(str(spark_home), sys.executable), "SPARK_LOCAL_IP": "127.0.0.1"}


def run_workload(
    workload: Workload, run_modes: list[Mode], spark_submit: Path, env: dict[str, str], work: Path, grace: float
) -> list[RunResult]:
    results: list[RunResult] = []
    for mode in run_modes:
        run_dir = work / workload.name / mode.key
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        output = run_dir / "output"
        print(f"  {workload.name}: {mode.label} …", flush=True)
        outcome = run_spark(
            spark_submit,
            MASTER,
            workload.app,
            workload.arguments(output),
            {**base_conf(), **workload.conf, **mode.conf},
            env,
            run_dir,
            plan=workload.plan if mode.first_signal else (),
            first_signal=mode.first_signal or signal.SIGPWR,
            grace=grace,
        )
        if outcome.exit_code != 0:
            print(outcome.log_tail, file=sys.stderr)
            raise DrillError(
                f"{workload.name} ({mode.label}): spark-submit exited {outcome.exit_code} (the end of its log is above; "
                f"--work-dir keeps all of it)"
            )
        results.append(RunResult(mode, outcome, read_figures(outcome.event_log), output_rows(output)))
    return results


def interruption_ends(result: RunResult) -> list[str]:
    """How each interrupted executor ended: "killed" at the grace end, "exited" within it
    (decommissioning finished, or the JVM stopped on SIGTERM), or "outlived the job" (the job
    finished within the grace, so the event log never removed it)."""
    ends = []
    for interruption in result.outcome.interruptions:
        if interruption.executor_id not in result.figures.executors_lost:
            ends.append("outlived the job")
        else:
            ends.append("killed" if interruption.killed_at is not None else "exited")
    return ends


def _ends_cell(result: RunResult) -> str:
    ends = interruption_ends(result)
    return " / ".join(str(ends.count(end)) for end in ("killed", "exited", "outlived the job"))


ROWS: tuple[tuple[str, Callable[[RunResult], str]], ...] = (
    ("run time (s, event log)", lambda r: f"{r.figures.seconds:.1f}"),
    ("interrupted: killed / exited / outlived job", _ends_cell),
    ("executors lost (decommissioned)", lambda r: f"{len(r.figures.executors_lost)} ({r.figures.decommissioned})"),
    ("tasks failed", lambda r: str(r.figures.tasks_failed)),
    ("finished tasks re-run (of them migrated)", lambda r: f"{r.figures.outputs_lost} ({r.figures.rerun_though_migrated})"),
    ("task re-runs", lambda r: str(r.figures.task_reruns)),
    ("task time wasted (s)", lambda r: f"{r.figures.wasted_task_seconds:.1f}"),
    ("stages re-attempted", lambda r: str(r.figures.stage_reattempts)),
    ("map outputs migrated", lambda r: str(r.figures.shuffle_outputs_migrated)),
    ("cached blocks migrated / lost", lambda r: f"{r.figures.rdd_blocks_migrated} / {r.figures.rdd_blocks_lost}"),
)


def table(workload: Workload, results: list[RunResult], grace: float) -> str:
    """The per-job table: one column per run, figures from the event logs."""
    base = results[0]
    lines = [["", *(result.mode.label for result in results)]]
    lines += [[label, *(cell(result) for result in results)] for label, cell in ROWS]
    lines.insert(2, ["time added over undisturbed (s)", "-", *(f"{r.figures.seconds - base.figures.seconds:+.1f}" for r in results[1:])])
    lines.append(["differing rows vs undisturbed", "-", *(str(differing_rows(base.rows, r.rows)) for r in results[1:])])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]
    text.insert(1, "  ".join("-" * width for width in widths))
    plan = "; ".join(point.describe() for point in workload.plan)
    title = (
        f"{workload.name}: {workload.size}, {len(base.rows):,} output rows, {MASTER}; "
        f"interrupted: {plan}; SIGKILL {grace:g} s after the first signal"
    )
    return "\n".join([title, *text])


def _why_reruns(result: RunResult) -> str:
    """What the event log says the decommissioning run re-ran, and why."""
    figures = result.figures
    why = [f"{count} attempts failed with {reason}" for reason, count in figures.failed_tasks.items()]
    interrupted = {interruption.executor_id for interruption in result.outcome.interruptions}
    for executor, map_id, target in figures.unfetched:
        if executor in interrupted:
            where = f"migrated to {target}, but still asked of the killed executor" if target else "not migrated before the SIGKILL"
            why.append(f"reducers could not fetch map output {map_id} of executor {executor} ({where})")
    signalled = {interruption.executor_id: interruption.signalled_epoch_ms for interruption in result.outcome.interruptions}
    unmigrated = [lost for lost in figures.lost_outputs if lost.migrated_to is None and lost.executor in signalled]
    late = sum(lost.finished_ms >= signalled[lost.executor] for lost in unmigrated)
    if figures.outputs_lost:
        why.append(f"{figures.outputs_lost} finished map tasks re-run (Resubmitted)")
    if figures.rerun_though_migrated:
        why.append(
            f"{figures.rerun_though_migrated} of them although their output had moved to a peer: Spark keeps "
            "a decommissioned executor's output only if it moved to another host, and every local-cluster "
            "executor is on 127.0.0.1 (on EKS each pod is its own host)"
        )
    if late:
        why.append(
            f"{late} finished after the SIGPWR, when the decommissioner had made its first pass (it looks "
            "again every spark.storage.decommission.replicationReattemptInterval, 30 s by default)"
        )
    if len(unmigrated) > late:
        why.append(f"{len(unmigrated) - late} finished before the SIGPWR but were not migrated before the SIGKILL")
    return "; ".join(why) or "no task failed and no output was lost"


def verdict(results: list[RunResult]) -> str:
    """Whether decommissioning re-ran fewer tasks than no decommissioning, and why, from the event logs."""
    by_key = {result.mode.key: result for result in results}
    decom, off = by_key.get("decommissioning"), by_key.get("noDecommissioning")
    if decom is None:
        return ""
    d = decom.figures
    migrated = f"{d.shuffle_outputs_migrated} map outputs and {d.rdd_blocks_migrated} cached blocks migrated"
    outlived = interruption_ends(decom).count("outlived the job")
    caveat = f"; {outlived} decommissioned executor(s) outlived the job, which ended within the grace" if outlived else ""
    reruns = f"{d.task_reruns} task re-runs ({_why_reruns(decom)})" if d.task_reruns else "0 task re-runs"
    if off is None:
        return f"decommissioning: {reruns}; {migrated}{caveat}"
    o = off.figures
    outcome = "re-ran fewer tasks" if d.task_reruns < o.task_reruns else "did NOT re-run fewer tasks"
    return f"decommissioning {outcome}: {reruns} vs {o.task_reruns} without it; {migrated}{caveat}"


def _machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "processor": platform.machine(), "cores": os.cpu_count()}


def _workload_json(workload: Workload, results: list[RunResult]) -> dict[str, Any]:
    base = results[0]
    return {
        "name": workload.name,
        "size": workload.size,
        "outputRows": len(base.rows),
        "plan": [point.describe() for point in workload.plan],
        "runs": {
            result.mode.key: {
                **result.figures.as_json(),
                "secondsAdded": round(result.figures.seconds - base.figures.seconds, 1),
                "differingRows": differing_rows(base.rows, result.rows),
                "interruptions": [
                    {**interruption.as_json(), "end": end}
                    for interruption, end in zip(result.outcome.interruptions, interruption_ends(result))
                ],
            }
            for result in results
        },
        "verdict": verdict(results),
    }


class BadInput(ValueError):
    """A bad argument: one line, exit 2, before any Spark runs."""


def read_results(path: Path) -> dict[str, Any]:
    """The results document at `path` ({} if there is none); BadInput if it is not a JSON object."""
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        document = None
    if not isinstance(document, dict):
        raise BadInput(f"--output: {shown_path(path)} is not a JSON object; fix or remove it (the drill will not overwrite it)")
    return document


def write_results(path: Path, drill: dict[str, Any]) -> None:
    """Put the drill's figures under "drill" in `path`, keeping every other figure there."""
    document = read_results(path)
    document["drill"] = drill
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def shown_path(path: Path) -> str:
    """A results path as the user gave it; the default one relative to the project."""
    return RESULTS_SHOWN if path == RESULTS else str(path)


def drill(quick: bool, grace: float, work: Path, output: Path | None, per_point: int = 1, quiet: bool = False) -> int:
    spark = find_spark()
    require_java()
    env = spark_env(spark.home)
    run_modes = modes((work / "fallback").resolve().as_uri() + "/", quick)
    map_point = Point("map", 0.25, per_point)
    if quick:
        workloads = [wordcount(QUICK_WORDCOUNT_ROWS, work / "data", (map_point,))]
    else:
        workloads = [
            wordcount(FULL_WORDCOUNT_ROWS, work / "data", (map_point,)),
            shuffle_cache(FULL_SHUFFLE_ROWS, (map_point, Point("read", 0.0, per_point))),
        ]
    print(f"bench drill: {'quick' if quick else 'full'} run on {MASTER}, work in {work}", flush=True)
    failures: list[str] = []
    tables: list[str] = []
    documents: list[dict[str, Any]] = []
    for number, workload in enumerate(workloads, start=1):
        with progress(quiet) as shown:
            # Each run prints a line as it starts; the progress line says which job is running.
            shown.step(f"job {number} of {len(workloads)}, {workload.name}: {len(run_modes)} runs on {MASTER} "
                       f"({', '.join(mode.label for mode in run_modes)})")
            results = run_workload(workload, run_modes, spark.submit, env, work, grace)
        tables.append(table(workload, results, grace))
        documents.append(_workload_json(workload, results))
        for result in results[1:]:
            differing = differing_rows(results[0].rows, result.rows)
            if differing:
                failures.append(f"{workload.name} ({result.mode.label}): {differing} rows differ from the undisturbed run")
            if result.outcome.missed:
                missed = "; ".join(point.describe() for point in result.outcome.missed)
                failures.append(f"{workload.name} ({result.mode.label}): interruption never landed ({missed})")
        line = verdict(results)
        tables.append(line)
    print()
    print("\n\n".join(tables))
    if output is not None and not failures:
        write_results(
            output,
            {
                "date": datetime.date.today().isoformat(),
                "machine": _machine(),
                "master": MASTER,
                "graceSeconds": grace,
                "basis": "measured: one run of each job per mode on this machine; times from the event logs",
                "workloads": documents,
                "table": "\n\n".join(tables),
            },
        )
        print(f"\nwrote the drill's figures into {shown_path(output)} (key \"drill\")")
    elif quick:
        print(f"\nquick run: no results written ({RESULTS_SHOWN} is updated only by a full run)")
    for failure in failures:
        print_error(TOOL, f"drill: {failure}")
    return EXIT_FAILED if failures else EXIT_OK


def build_parser() -> Parser:
    parser = Parser(
        prog=f"python -m {TOOL} drill",
        description=__doc__,
        epilog=exit_codes("an interrupted run's output differed, a run failed or an interruption never landed"),
    )
    parser.add_argument("--quick", action="store_true", help="small word count, one interruption, no results file (CI)")
    parser.add_argument("--grace", type=float, default=GRACE_SECONDS, help="seconds from the first signal to SIGKILL (default 5)")
    parser.add_argument(
        "--executors", type=int, default=1, help=f"executors interrupted at each point (1 to {EXECUTORS - 1}, default 1)"
    )
    parser.add_argument(
        "--work-dir", type=Path, help="keep data, outputs and logs here, replacing earlier runs' (default: a temporary folder)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, metavar="FILE",
                        help=f"results file of a full run (key \"drill\"; default: {RESULTS_SHOWN})")
    add_quiet(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.grace <= 0:
            raise BadInput("--grace must be more than 0 seconds")
        if not 1 <= args.executors <= EXECUTORS - 1:
            raise BadInput(f"--executors must be 1 to {EXECUTORS - 1}: one executor of {EXECUTORS} keeps running")
        if args.work_dir and args.work_dir.exists() and not args.work_dir.is_dir():
            raise BadInput(f"--work-dir: {args.work_dir} is a file; give a folder (it is created if missing)")
        if not args.quick:
            read_results(args.output)  # a results file the drill could not update stops it now, not at the end
    except (BadInput, CliError) as error:
        print_error(TOOL, error)
        return EXIT_BAD_INPUT
    scratch = None if args.work_dir else tempfile.TemporaryDirectory(prefix="bench-drill-")
    work = args.work_dir or Path(scratch.name)  # type: ignore[union-attr]
    try:
        work.mkdir(parents=True, exist_ok=True)
        return drill(args.quick, args.grace, work.resolve(), None if args.quick else args.output, args.executors,
                     quiet=args.quiet)
    except LaunchError as error:
        print_error(TOOL, error)
        return error.exit_code
    except BadInput as error:
        print_error(TOOL, error)
        return EXIT_BAD_INPUT
    except (DrillError, EventLogError, FileNotFoundError) as error:
        print_error(TOOL, error)
        return EXIT_FAILED
    finally:
        if scratch is not None:
            scratch.cleanup()
