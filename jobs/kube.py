"""Jobs on the cluster, through the Kubernetes Python client: status, logs, list, kill, follow.

A job's pods carry the submitter's labels (`spark-eks-spot/job`, `spark-eks-spot/submission`)
next to Spark's own (`spark-role`, `spark-app-selector`), so a job is found by name and a
submission by its id without knowing Spark's generated pod names. Summaries and the
table are pure functions of pod objects; the rest is thin calls on the client.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence, TextIO

from jobs.command import JOB_LABEL, SUBMISSION_LABEL

ROLE_LABEL = "spark-role"
APP_SELECTOR_LABEL = "spark-app-selector"
FINISHED_PHASES = ("Succeeded", "Failed")
ACTIVE_PHASES = ("Pending", "Running", "Unknown")


class KubeError(RuntimeError):
    """A Kubernetes call that failed; one line, with the exit code for the CLI."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        self.exit_code = exit_code
        super().__init__(message)


@dataclass(frozen=True)
class DriverStatus:
    job: str
    pod: str
    submission: str
    phase: str
    created: datetime | None
    executors: int
    detail: str  # why a pod waits or failed, from container states; "" when nothing to say


def core_api(kubeconfig: Mapping[str, Any]) -> Any:
    """A CoreV1Api for the stack's cluster, configured from the kubeconfig in memory."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        api_client = config.new_client_from_config_dict(dict(kubeconfig), persist_config=False)
    except (ConfigException, ValueError, KeyError, TypeError) as error:
        # The message may quote the kubeconfig; say only which kind of problem it was.
        raise KubeError(
            f"kubeconfig output cannot configure a Kubernetes client ({error.__class__.__name__}); "
            "re-export the stack outputs",
            exit_code=2,
        ) from None
    return client.CoreV1Api(api_client)


def _call(action: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return function(*args, **kwargs)
    except ApiException as error:
        raise KubeError(f"{action}: the Kubernetes API answered {error.status} {error.reason}") from None
    except HTTPError as error:
        raise KubeError(f"{action}: cannot reach the Kubernetes API ({error.__class__.__name__})") from None


def _label_selector(role: str, job: str | None = None, submission: str | None = None, app: str | None = None) -> str:
    parts = {ROLE_LABEL: role, JOB_LABEL: job, SUBMISSION_LABEL: submission, APP_SELECTOR_LABEL: app}
    return ",".join(f"{key}={value}" for key, value in parts.items() if value is not None)


def _labels(pod: Any) -> Mapping[str, str]:
    return pod.metadata.labels or {}


def _detail(pod: Any) -> str:
    """The first container's waiting reason or termination reason/exit code, if any."""
    status = pod.status
    for container in (getattr(status, "container_statuses", None) or []):
        state = container.state
        if state is None:
            continue
        if state.waiting is not None and state.waiting.reason:
            return state.waiting.reason
        if state.terminated is not None:
            reason = state.terminated.reason or "terminated"
            return f"{reason}, exit code {state.terminated.exit_code}"
    if status is not None and getattr(status, "reason", None):
        return status.reason
    return ""


# Waiting reasons the kubelet gives a container whose image cannot be pulled: retrying cannot
# help (kubernetes pkg/kubelet/images/types.go: ErrImagePull, ImagePullBackOff, ErrImageNeverPull,
# InvalidImageName).
IMAGE_PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")
# Waiting reasons that are only a pod starting normally.
STARTING = ("ContainerCreating", "PodInitializing")


@dataclass(frozen=True)
class WaitReason:
    """Why a pod is not running yet: a reason, the system's message, and whether waiting can help."""

    reason: str
    message: str
    fatal: bool

    def text(self) -> str:
        message = " ".join(self.message.split())
        return f"{self.reason}: {message}" if message else self.reason


def _event_time(event: Mapping[str, Any]) -> str:
    metadata = event.get("metadata") or {}
    return str(event.get("lastTimestamp") or event.get("eventTime") or metadata.get("creationTimestamp") or "")


def waiting_reason(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = ()) -> WaitReason | None:
    """Why a pod (API JSON) waits, from what Kubernetes records, most specific first:

    1. a container's waiting reason from the kubelet (ImagePullBackOff, ErrImagePull,
       CreateContainerConfigError, ...: `status.containerStatuses[].state.waiting`);
    2. the scheduler's verdict, the `PodScheduled` condition with status False (reason
       Unschedulable and a message such as "0/3 nodes are available: 3 Insufficient memory");
    3. the newest Warning event about the pod (FailedScheduling, FailedMount, Failed, ...).

    Only an image-pull failure is fatal: the others can clear (a node arrives, a ConfigMap
    Spark creates right after the pod appears)."""
    status = pod.get("status") or {}
    statuses = list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])
    for container in statuses:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason and reason not in STARTING:
            return WaitReason(reason, waiting.get("message") or "", reason in IMAGE_PULL_FAILURES)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return WaitReason(condition.get("reason") or "Unschedulable", condition.get("message") or "", False)
    warnings = [event for event in events if event.get("type") == "Warning" and event.get("reason")]
    if warnings:
        newest = max(warnings, key=_event_time)
        return WaitReason(newest["reason"], newest.get("message") or "", False)
    return None


def pod_events(core: Any, namespace: str, pod: str) -> list[dict[str, Any]]:
    """The events about one pod, as API JSON; none when this identity may not read events (the
    pod's own conditions and container states still explain most waits)."""
    from kubernetes.client.exceptions import ApiException

    try:
        listing = core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod}"
        )
    except ApiException as error:
        if error.status in (403, 404):
            return []
        raise KubeError(f"events of {pod}: the Kubernetes API answered {error.status} {error.reason}") from None
    return [core.api_client.sanitize_for_serialization(event) for event in listing.items]


def driver_wait_reason(core: Any, namespace: str, driver: Any) -> WaitReason | None:
    """waiting_reason for a pod object from the client, with its events fetched."""
    pod = core.api_client.sanitize_for_serialization(driver)
    return waiting_reason(pod, pod_events(core, namespace, driver.metadata.name))


def summarize(driver: Any, executor_pods: Iterable[Any]) -> DriverStatus:
    """A driver pod and its executor pods → one status row (executors counted while running)."""
    labels = _labels(driver)
    app = labels.get(APP_SELECTOR_LABEL)
    running = sum(
        1
        for pod in executor_pods
        if _labels(pod).get(APP_SELECTOR_LABEL) == app and (pod.status and pod.status.phase == "Running")
    )
    return DriverStatus(
        job=labels.get(JOB_LABEL, "?"),
        pod=driver.metadata.name,
        submission=labels.get(SUBMISSION_LABEL, ""),
        phase=(driver.status.phase if driver.status and driver.status.phase else "Unknown"),
        created=driver.metadata.creation_timestamp,
        executors=running,
        detail=_detail(driver) if driver.status else "",
    )


def _newest_first(pods: Iterable[Any]) -> list[Any]:
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(pods, key=lambda pod: pod.metadata.creation_timestamp or oldest, reverse=True)


def _drivers_with_statuses(core: Any, namespace: str, job: str | None) -> list[tuple[Any, DriverStatus]]:
    drivers = _call(
        "list drivers", core.list_namespaced_pod, namespace, label_selector=_label_selector("driver", job=job)
    ).items
    executors = _call(
        "list executors", core.list_namespaced_pod, namespace, label_selector=_label_selector("executor", job=job)
    ).items
    return [(driver, summarize(driver, executors)) for driver in _newest_first(drivers) if JOB_LABEL in _labels(driver)]


def job_statuses(core: Any, namespace: str, job: str | None = None) -> list[DriverStatus]:
    """Every driver of `job` (or of every submitted job), newest first."""
    return [status for _, status in _drivers_with_statuses(core, namespace, job)]


def latest_status(core: Any, namespace: str, job: str, explain: bool = False) -> DriverStatus:
    """The newest driver's status; with `explain`, a Pending driver's detail says why it waits."""
    found = _drivers_with_statuses(core, namespace, job)
    if not found:
        raise KubeError(f"no driver pod for job {job} in namespace {namespace}; `python -m jobs list` shows the jobs")
    driver, status = found[0]
    if explain and status.phase == "Pending":
        reason = driver_wait_reason(core, namespace, driver)
        if reason is not None:
            return replace(status, detail=reason.text())
    return status


def _age(created: datetime | None, now: datetime) -> str:
    if created is None:
        return "?"
    seconds = max(0, int((now - created).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def render_table(statuses: Iterable[DriverStatus], now: datetime) -> str:
    """`list`: one row per driver, columns aligned."""
    header = ("JOB", "DRIVER POD", "PHASE", "EXECUTORS", "AGE", "SUBMISSION", "DETAIL")
    rows = [header] + [
        (s.job, s.pod, s.phase, str(s.executors), _age(s.created, now), s.submission, s.detail) for s in statuses
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def status_line(status: DriverStatus, now: datetime) -> str:
    detail = f" ({status.detail})" if status.detail else ""
    executors = "1 executor" if status.executors == 1 else f"{status.executors} executors"
    return f"{status.job}: {status.pod} {status.phase}{detail}, {executors} running, age {_age(status.created, now)}"


def kill(core: Any, namespace: str, job: str) -> list[str]:
    """Delete the job's active drivers; Spark's owner references take the executors with them."""
    active = [s for s in job_statuses(core, namespace, job) if s.phase in ACTIVE_PHASES]
    if not active:
        raise KubeError(f"job {job} has no pending or running driver in namespace {namespace}; nothing to kill")
    for status in active:
        _call(f"delete {status.pod}", core.delete_namespaced_pod, status.pod, namespace)
    return [status.pod for status in active]


def write_logs(core: Any, namespace: str, job: str, follow: bool, out: TextIO) -> None:
    """The newest driver's log; with `follow`, streamed until the driver ends."""
    pod = latest_status(core, namespace, job).pod
    # Raw bytes, decoded here: the client (36.x) turns a preloaded log into "b'...'" text.
    response = _call(
        f"logs of {pod}", core.read_namespaced_pod_log, pod, namespace, follow=follow, _preload_content=False
    )
    try:
        for chunk in response.stream(amt=4096, decode_content=True):
            out.write(chunk.decode("utf-8", errors="replace"))
            out.flush()
    finally:
        response.release_conn()


def _seconds_text(seconds: float) -> str:
    return f"{seconds / 60:g}m" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g}s"


def follow_submission(
    core: Any,
    namespace: str,
    job: str,
    submission: str,
    *,
    out: TextIO = sys.stdout,
    interval: float = 3.0,
    appear_timeout: float = 120.0,
    timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DriverStatus:
    """Poll one submission's driver until it ends, keeping one live status line; its final status.

    A Pending driver's line says why it waits (waiting_reason); an image that cannot be pulled
    ends the follow at once, and `timeout` (seconds) bounds the whole wait."""
    live = out.isatty()
    started = clock()
    last_line = ""
    while True:
        drivers = _call(
            "follow driver",
            core.list_namespaced_pod,
            namespace,
            label_selector=_label_selector("driver", job=job, submission=submission),
        ).items
        if not drivers:
            if last_line:
                raise KubeError(f"the driver of submission {submission} was deleted while running (last seen: {last_line})")
            if clock() - started > appear_timeout:
                raise KubeError(
                    f"no driver pod for submission {submission} appeared in namespace {namespace} "
                    f"within {appear_timeout:.0f}s; check `python -m jobs list`"
                )
        else:
            driver = _newest_first(drivers)[0]
            executors = _call(
                "follow executors",
                core.list_namespaced_pod,
                namespace,
                label_selector=_label_selector("executor", job=job, submission=submission),
            ).items
            status = summarize(driver, executors)
            reason = driver_wait_reason(core, namespace, driver) if status.phase == "Pending" else None
            if reason is not None:
                status = replace(status, detail=reason.text())
            line = status_line(status, datetime.now(timezone.utc))
            if live:
                out.write("\r\033[K" + line)
            elif _without_age(line) != _without_age(last_line):
                out.write(line + "\n")
            out.flush()
            last_line = line
            if status.phase in FINISHED_PHASES or (reason is not None and reason.fatal):
                if live:
                    out.write("\n")
                if reason is not None and reason.fatal:
                    raise KubeError(
                        f"{job}: driver {status.pod} cannot start ({reason.text()}); check that the image is in the "
                        f"repository, then `python -m jobs kill {job}` removes the pod"
                    )
                return status
        if timeout is not None and clock() - started > timeout:
            state = f"{last_line.split(': ', 1)[-1]}" if last_line else "no driver pod yet"
            raise KubeError(
                f"{job}: still not finished after {_seconds_text(timeout)} ({_without_age(state)}); it keeps running: "
                f"`python -m jobs status {job}` follows up, `python -m jobs kill {job}` stops it"
            )
        sleep(interval)


def _without_age(line: str) -> str:
    return line.rsplit(", age ", 1)[0]
