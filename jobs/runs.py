"""A job's submissions: what the pods say while they exist, what the bucket's records say after.

Each submission gets one row: its state (PENDING, SUBMITTED, RUNNING, COMPLETED, FAILED,
CANCELLED), start and end, its attempt within its run, and for a failure the reason Kubernetes
recorded (jobs.kube.waiting_reason) plus the exception line of the driver's log tail. When a
driver has ended and its pod still exists, `finalize` saves the pod's log to the bucket and the
final state into the submission's record, so `describe` and `logs` still answer after
`jobs clean` or Spark's garbage collection took the pod.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence, TextIO

from jobs.kube import (
    CANCELLED,
    CAUSE_EXIT,
    CAUSE_IMAGE,
    DRIVER_CONTAINER,
    EXECUTOR_CONTAINER,
    FAILED,
    FINAL_STATES,
    RUNNING,
    SUBMITTED,
    DriverStatus,
    KubeError,
    job_statuses,
    label_selector,
    list_pods,
    newest_first,
    parse_time,
    pod_log,
    write_pod_log,
)
from jobs.records import Records, SubmissionRecord, spark_driver_log_key

# How much of a failed driver's log `describe` reads for the reason.
TAIL_LINES = 400
REASON_CHARS = 300
GONE = "driver pod gone before its end was recorded (deleted, or lost with its node)"

_TRACEBACK = "Traceback (most recent call last):"
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\w*)(:.*)?$")
_JVM_UNCAUGHT = re.compile(r'^Exception in thread "[^"]*" (\S+?)(:.*)?$')


def log_failure(text: str) -> str | None:
    """The exception a failed driver's log ends with: the last line of its last Python traceback
    (`pkg.Error: message`), else the JVM's `Exception in thread "main" ...` line, else the last
    line that names an exception. The log goes on after it (Spark's shutdown lines), so the
    last line is not the answer."""
    lines = text.splitlines()
    starts = [index for index, line in enumerate(lines) if line.startswith(_TRACEBACK)]
    if starts:
        for line in lines[starts[-1] + 1:]:
            if line and not line[0].isspace() and _EXCEPTION_LINE.match(line.strip()):
                return _short(line)
    for line in reversed(lines):
        match = _JVM_UNCAUGHT.match(line.strip())
        if match:
            return _short(match.group(1) + (match.group(2) or ""))
    for line in reversed(lines):
        stripped = line.strip()
        if _EXCEPTION_LINE.match(stripped) and ":" in stripped:
            return _short(stripped)
    return None


def _short(line: str) -> str:
    line = " ".join(line.split())
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 1] + "…"


@dataclass(frozen=True)
class SubmissionView:
    job: str
    submission: str
    run: str
    attempt: int
    max_attempts: int  # 0 when no record says
    state: str
    reason: str
    cause: str
    start: datetime | None
    end: datetime | None
    driver_pod: str
    app_id: str
    executors: int
    log: str  # where the driver's log is: "pod", an s3:// URI, or ""

    def as_json(self) -> dict[str, Any]:
        return {
            "job": self.job, "submission": self.submission, "run": self.run, "attempt": self.attempt,
            "maxAttempts": self.max_attempts or None, "state": self.state, "reason": self.reason, "cause": self.cause,
            "start": _iso(self.start), "end": _iso(self.end), "driverPod": self.driver_pod, "appId": self.app_id,
            "executors": self.executors, "log": self.log,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if moment else None


def merge(status: DriverStatus | None, record: SubmissionRecord | None, records: Records | None = None) -> SubmissionView:
    """One submission's row from its driver pod (if it still exists) and its record (if any)."""
    assert status is not None or record is not None
    if status is not None:
        state, reason = status.state, status.detail
        cause = status.reason.cause if status.reason is not None else ""
        if record is not None and record.state == FAILED and state == FAILED and record.reason:
            reason, cause = record.reason, record.cause or cause  # it may carry the log's line
    else:
        assert record is not None
        state, reason, cause = record.state, record.reason, record.cause
        if state in (SUBMITTED, RUNNING):
            state, reason, cause = FAILED, GONE, "deleted"
    if record is not None and record.state == CANCELLED:
        state, reason, cause = CANCELLED, record.reason or "killed with `python -m jobs kill`", ""
    log = "pod" if status is not None else (records.uri(record.pod_log) if records and record and record.pod_log else "")
    return SubmissionView(
        job=status.job if status else record.job,  # type: ignore[union-attr]
        submission=status.submission if status else record.submission,  # type: ignore[union-attr]
        run=(record.run if record else "") or (status.run if status else ""),
        attempt=record.attempt if record else (status.attempt if status else 1),
        max_attempts=record.max_attempts if record else 0,
        state=state,
        reason=reason,
        cause=cause,
        start=(status.created if status else None) or parse_time(record.submitted_at if record else None),
        end=(status.ended if status else None) or parse_time(record.ended_at if record else None),
        driver_pod=status.pod if status else (record.driver_pod if record else ""),
        app_id=(status.app_id if status else "") or (record.app_id if record else ""),
        executors=status.executors if status else 0,
        log=log,
    )


def submission_views(statuses: Sequence[DriverStatus], records: Sequence[SubmissionRecord],
                     bucket: Records | None = None) -> list[SubmissionView]:
    """Pods and records joined by submission id, newest first."""
    by_pod = {status.submission: status for status in statuses}
    by_record = {record.submission: record for record in records}
    views = [merge(by_pod.get(key), by_record.get(key), bucket) for key in {**by_record, **by_pod}]
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(views, key=lambda view: view.start or oldest, reverse=True)


def _time(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


HEADER = ("JOB", "SUBMISSION", "ATTEMPT", "STATE", "START", "END", "EXECUTORS", "DRIVER POD", "REASON")


def render_table(views: Iterable[SubmissionView]) -> str:
    """`list` and `describe`: one row per submission, columns aligned."""
    rows = [HEADER] + [
        (v.job, v.submission, f"{v.attempt}/{v.max_attempts}" if v.max_attempts else str(v.attempt), v.state,
         _time(v.start), _time(v.end), str(v.executors), v.driver_pod or "-", v.reason or "-")
        for v in views
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADER))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


# --- the end of a driver ------------------------------------------------------------------


def new_record(status: DriverStatus) -> SubmissionRecord:
    """A record for a driver the submitter never recorded (submitted before records existed)."""
    return SubmissionRecord(job=status.job, submission=status.submission, run=status.run or status.submission,
                            attempt=status.attempt or 1, max_attempts=0, state=status.state,
                            submitted_at=_iso(status.created) or "")


def finalize(core: Any, namespace: str, records: Records | None, status: DriverStatus,
             record: SubmissionRecord | None) -> SubmissionRecord | None:
    """Once a driver has ended: save its pod's log to the bucket (while the pod exists) and its
    final state, reason (with the log's exception line) and end into its record. Done once."""
    if records is None or status.state not in FINAL_STATES:
        return record
    if record is not None and record.state in FINAL_STATES and (record.pod_log or record.state == CANCELLED):
        return record
    base = record or new_record(status)
    text: str | None = None
    try:
        text = pod_log(core, namespace, status.pod, DRIVER_CONTAINER)
    except KubeError:
        text = None  # the pod is gone (or never started): nothing to save
    key = records.save_pod_log(status.job, status.submission, text) if text else base.pod_log
    reason, cause = status.detail, status.reason.cause if status.reason else ""
    if status.state == FAILED and cause == CAUSE_EXIT and text:
        line = log_failure(text)
        if line:
            reason = f"{reason}; log: {line}"
    state = CANCELLED if base.state == CANCELLED else status.state
    final = base.updated(
        state=state, reason=base.reason if state == CANCELLED else reason, cause=cause,
        ended_at=_iso(status.ended) or _iso(datetime.now(timezone.utc)) or "",
        app_id=status.app_id or base.app_id, driver_pod=status.pod, pod_log=key,
    )
    records.put(final)
    return final


def failure_line(job: str, final: DriverStatus) -> str:
    """The one line `submit --wait` prints for a driver that did not complete."""
    reason = final.reason
    if reason is not None and reason.cause == CAUSE_IMAGE:
        return (f"{job}: driver {final.pod} cannot start ({reason.text()}); check that the image is in the "
                f"repository, then `python -m jobs kill {job}` removes the pod")
    detail = f" ({final.detail})" if final.detail else ""
    return f"{job} {final.state.lower()}{detail}; see python -m jobs logs {job}"


def with_log_reason(core: Any, namespace: str, view: SubmissionView) -> SubmissionView:
    """A failed row whose reason is an exit code, with the exception line of the pod's log tail."""
    if view.state != FAILED or view.cause != CAUSE_EXIT or "; log: " in view.reason or view.log != "pod":
        return view
    try:
        line = log_failure(pod_log(core, namespace, view.driver_pod, DRIVER_CONTAINER, tail_lines=TAIL_LINES))
    except KubeError:
        return view
    return replace(view, reason=f"{view.reason}; log: {line}") if line else view


def describe(core: Any, namespace: str, records: Records | None, job: str | None) -> list[SubmissionView]:
    """Every submission of `job` (or of every job) the pods and the bucket know, newest first;
    ended drivers still in the cluster are finalized on the way."""
    statuses = job_statuses(core, namespace, job)
    stored = {r.submission: r for r in (records.newest(job) if records is not None else [])}
    for status in statuses:
        if status.state in FINAL_STATES:
            final = finalize(core, namespace, records, status, stored.get(status.submission))
            if final is not None:
                stored[status.submission] = final
    return submission_views(statuses, list(stored.values()), records)


# --- logs ------------------------------------------------------------------------------------


def write_driver_log(core: Any, namespace: str, records: Records | None, job: str, submission: str | None,
                     follow: bool, out: TextIO, notes: TextIO | None = None) -> None:
    """The driver's log: from its pod while it exists (saved to the bucket once the driver has
    ended), after that from the bucket: the saved pod log, else Spark's own copy."""
    notes = notes or sys.stderr
    statuses = [s for s in job_statuses(core, namespace, job) if submission in (None, s.submission)]
    if statuses:
        status = statuses[0]
        record = records.get(job, status.submission) if records is not None else None
        if status.state in FINAL_STATES and not follow:
            final = finalize(core, namespace, records, status, record)
            text = records.read_text(final.pod_log) if records is not None and final and final.pod_log else None
            out.write(text if text is not None else pod_log(core, namespace, status.pod, DRIVER_CONTAINER))
            out.flush()
            return
        write_pod_log(core, namespace, status.pod, DRIVER_CONTAINER, follow, out)
        return
    which = f"submission {submission} of job {job}" if submission else f"job {job}"
    if records is None:
        raise KubeError(f"{which} has no driver pod in namespace {namespace}, and the outputs name no bucket "
                        "(bucketName, region) to read a saved log from")
    stored = [records.get(job, submission)] if submission else records.newest(job, limit=1)
    record = stored[0] if stored else None
    if record is None:
        raise KubeError(f"{which} has no driver pod in namespace {namespace} and no record in "
                        f"{records.uri('spark-events/jobs/')}; `python -m jobs list` shows the jobs")
    if record.pod_log and (text := records.read_text(record.pod_log)) is not None:
        notes.write(f"jobs: the driver pod of submission {record.submission} is gone; its log as saved at "
                    f"{records.uri(record.pod_log)}\n")
        out.write(text)
        return
    if record.app_id and (text := records.read_text(spark_driver_log_key(record.app_id))) is not None:
        notes.write(f"jobs: the driver pod of submission {record.submission} is gone and its console was not saved; "
                    f"Spark's copy of the JVM log ({records.uri(spark_driver_log_key(record.app_id))}) follows, "
                    "without the Python output\n")
        out.write(text)
        return
    raise KubeError(
        f"no log kept for submission {record.submission} of job {job}: its driver pod is gone, its log was not saved "
        "(a driver that is OOMKilled or loses its node before `submit --wait`, `describe` or `logs` see it end "
        "leaves none) and Spark wrote no copy"
    )


def write_executor_log(core: Any, namespace: str, job: str, executor_id: str, follow: bool, out: TextIO) -> None:
    """An executor's log, from its pod while it exists (Spark deletes executor pods when they end:
    spark.kubernetes.executor.deleteOnTermination, default true; their logs are not kept)."""
    drivers = list_pods(core, namespace, label_selector("driver", job=job), "list drivers")
    if not drivers:
        raise KubeError(f"no driver pod for job {job} in namespace {namespace}; `python -m jobs list` shows the jobs")
    submission = newest_first(drivers)[0]["metadata"]["labels"].get("spark-eks-spot/submission")
    pods = list_pods(core, namespace, label_selector("executor", job=job, submission=submission, executor_id=executor_id),
                     "list executors")
    if not pods:
        raise KubeError(
            f"executor {executor_id} of job {job} (submission {submission}) has no pod: Spark deletes an executor's pod "
            "when it ends, and its log goes with it; `python -m jobs describe` lists the submission"
        )
    write_pod_log(core, namespace, pods[0]["metadata"]["name"], EXECUTOR_CONTAINER, follow, out)


def views_json(views: Iterable[SubmissionView]) -> list[Mapping[str, Any]]:
    return [view.as_json() for view in views]

