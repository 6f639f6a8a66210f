"""Jobs on the cluster, through the Kubernetes Python client: states, reasons, logs, list, kill, follow.

A job's pods carry the submitter's labels (`spark-eks-spot/job`, `spark-eks-spot/submission`,
`spark-eks-spot/run`, `spark-eks-spot/attempt`) next to Spark's own (`spark-role`,
`spark-app-selector`), so a job is found by name and a submission by its id without knowing
Spark's generated pod names. Pods are read as API JSON; why a pod waits or ended and which
state that is are pure functions of it (`waiting_reason`, `pod_state`); the rest is thin calls
on the client.
"""

from __future__ import annotations

import codecs
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence, TextIO

from jobs.command import ATTEMPT_LABEL, JOB_LABEL, RUN_LABEL, SUBMISSION_LABEL

ROLE_LABEL = "spark-role"
APP_SELECTOR_LABEL = "spark-app-selector"
EXECUTOR_ID_LABEL = "spark-exec-id"
# The containers Spark names (resource-managers/kubernetes Constants: DEFAULT_DRIVER_CONTAINER_NAME,
# DEFAULT_EXECUTOR_CONTAINER_NAME); a pod template may add sidecars next to them.
DRIVER_CONTAINER = "spark-kubernetes-driver"
EXECUTOR_CONTAINER = "spark-kubernetes-executor"
FINISHED_PHASES = ("Succeeded", "Failed")
ACTIVE_PHASES = ("Pending", "Running", "Unknown")

# A submission's states, as EMR on EKS names a job run's (emr-eks-jobs-states): PENDING before
# the driver pod exists, SUBMITTED while it waits for a node or its image, RUNNING, then one of
# COMPLETED, FAILED (with a reason) or CANCELLED (`jobs kill`).
PENDING, SUBMITTED, RUNNING, COMPLETED, FAILED, CANCELLED = (
    "PENDING", "SUBMITTED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED",
)
FINAL_STATES = (COMPLETED, FAILED, CANCELLED)

# Why a driver failed, in the terms a retry decision needs.
CAUSE_OOM = "OOMKilled"
CAUSE_EVICTED = "evicted"
CAUSE_NODE_LOST = "node lost"
CAUSE_EXIT = "exit code"
CAUSE_IMAGE = "image"
CAUSE_DELETED = "deleted"
# A new attempt on another node can fix these; an app that exits non-zero fails again.
RETRYABLE_CAUSES = (CAUSE_EVICTED, CAUSE_NODE_LOST)


# (connect, read) seconds for each API call: kubernetes-client 36.x sets no timeout of its own, so
# a connection the server (or a proxy) stops answering would block `--wait`, and its --timeout,
# for ever. urllib3 retries a timed-out GET up to 3 times (Retry.DEFAULT), so one poll gives up
# after at most 4 reads. A followed log stream may be quiet for long: it bounds only the connect.
REQUEST_TIMEOUT: tuple[float, float] = (10.0, 30.0)


class KubeError(RuntimeError):
    """A Kubernetes call that failed; one line, with the exit code for the CLI."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        self.exit_code = exit_code
        super().__init__(message)


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


def _timed_out(error: Exception) -> bool:
    from urllib3.exceptions import MaxRetryError, TimeoutError as Urllib3Timeout

    return isinstance(error, Urllib3Timeout) or (
        isinstance(error, MaxRetryError) and isinstance(error.reason, Urllib3Timeout)
    )


def call(action: str, function: Callable[..., Any], *args: Any, passing: tuple[int, ...] = (), **kwargs: Any) -> Any:
    """A client call, bounded by REQUEST_TIMEOUT unless the caller gives its own, whose API or
    network failure becomes one KubeError line; None when the API answers a status in `passing`."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
    try:
        return function(*args, **kwargs)
    except ApiException as error:
        if error.status in passing:
            return None
        raise KubeError(f"{action}: the Kubernetes API answered {error.status} {error.reason}") from None
    except HTTPError as error:
        if _timed_out(error):
            limit = kwargs["_request_timeout"]
            limits = zip(("connect", "read"), limit if isinstance(limit, tuple) else (limit, limit))
            within = ", ".join(f"{kind} timeout {seconds:g}s" for kind, seconds in limits if seconds is not None)
            raise KubeError(f"{action}: the Kubernetes API did not answer ({within}); check the network to the "
                            "cluster and retry") from None
        raise KubeError(f"{action}: cannot reach the Kubernetes API ({error.__class__.__name__})") from None



def label_selector(role: str | None = None, **labels: str | None) -> str:
    """`spark-role=ROLE,<our label>=VALUE,...` for the labels given (job, submission, run, app)."""
    keys = {"job": JOB_LABEL, "submission": SUBMISSION_LABEL, "run": RUN_LABEL, "app": APP_SELECTOR_LABEL,
            "executor_id": EXECUTOR_ID_LABEL}
    parts = {ROLE_LABEL: role, **{keys[name]: value for name, value in labels.items()}}
    return ",".join(f"{key}={value}" for key, value in parts.items() if value is not None)


def list_pods(core: Any, namespace: str, selector: str, action: str = "list pods") -> list[dict[str, Any]]:
    """Pods as API JSON (camelCase keys, times as ISO text), as the server sent them."""
    listing = call(action, core.list_namespaced_pod, namespace, label_selector=selector)
    return [core.api_client.sanitize_for_serialization(pod) for pod in listing.items]


def labels_of(pod: Mapping[str, Any]) -> Mapping[str, str]:
    return (pod.get("metadata") or {}).get("labels") or {}


def name_of(item: Mapping[str, Any]) -> str:
    return str((item.get("metadata") or {}).get("name") or "")


def parse_time(value: Any) -> datetime | None:
    """An API timestamp (RFC 3339 text, or a datetime) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


# --- why a pod waits, or why it ended ----------------------------------------------------

# Waiting reasons the kubelet gives a container whose image cannot be pulled: retrying cannot
# help (kubernetes pkg/kubelet/images/types.go: ErrImagePull, ImagePullBackOff, ErrImageNeverPull,
# InvalidImageName).
IMAGE_PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")
# Waiting reasons that are only a pod starting normally.
STARTING = ("ContainerCreating", "PodInitializing")
# DisruptionTarget reasons (kubernetes.io/docs/concepts/workloads/pods/disruptions, "Pod
# disruption conditions"): the taint manager and the pod garbage collector act on pods whose
# node is unreachable or gone; the others evict or preempt from a node that is still there.
NODE_GONE_DISRUPTIONS = ("DeletionByTaintManager", "DeletionByPodGC")
EVICTING_DISRUPTIONS = ("EvictionByEvictionAPI", "PreemptionByScheduler", "TerminationByKubelet")
# Pod status reasons: node-pressure eviction (kubelet eviction manager), a node lost to the node
# controller (pkg/util/node NodeUnreachablePodReason), graceful node shutdown (v1.22+).
NODE_GONE_REASONS = ("NodeLost", "Terminated", "Shutdown", "NodeShutdown")


@dataclass(frozen=True)
class WaitReason:
    """Why a pod is not running (yet, or any more): a reason, the system's message, whether
    waiting can help, and for a pod that failed or cannot start, its cause (CAUSE_*)."""

    reason: str
    message: str
    fatal: bool
    cause: str = ""

    def text(self) -> str:
        message = " ".join(self.message.split())
        return f"{self.reason}: {message}" if message else self.reason

    @property
    def retryable(self) -> bool:
        return self.cause in RETRYABLE_CAUSES


def _event_time(event: Mapping[str, Any]) -> str:
    metadata = event.get("metadata") or {}
    return str(event.get("lastTimestamp") or event.get("eventTime") or metadata.get("creationTimestamp") or "")


def main_container(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The status of Spark's container (by its name), else of the first container."""
    statuses = list((pod.get("status") or {}).get("containerStatuses") or [])
    for status in statuses:
        if status.get("name") in (DRIVER_CONTAINER, EXECUTOR_CONTAINER):
            return status
    return statuses[0] if statuses else None


def _terminated(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    container = main_container(pod)
    return ((container or {}).get("state") or {}).get("terminated")


def _end_reason(pod: Mapping[str, Any]) -> WaitReason | None:
    """Why a pod failed, or is being taken away, from what Kubernetes records, most specific first:
    a DisruptionTarget condition (node lost, evicted, preempted), the pod's status reason (Evicted,
    NodeLost, a node shutdown), then Spark's container: OOMKilled, ContainerStatusUnknown (the
    kubelet could not find the container because its node went away) or a non-zero exit code.

    An OOM kill is the container exceeding its own memory limit: such pods get no DisruptionTarget
    (Pod disruption conditions) and the kubelet gives reason OOMKilled with exit code 137; a 137
    alone is not an OOM kill, so the cause is read from the reason."""
    status = pod.get("status") or {}
    if status.get("phase") == "Succeeded":
        return None
    deleting = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    ended = status.get("phase") == "Failed"
    fatal = ended
    conditions = status.get("conditions") or []
    disruption = next(
        (c for c in conditions if c.get("type") == "DisruptionTarget" and c.get("status") == "True"), None
    )
    status_reason = status.get("reason") or ""
    if disruption is not None and (ended or deleting):
        kind = disruption.get("reason") or "DisruptionTarget"
        node_gone = kind in NODE_GONE_DISRUPTIONS or (kind == "TerminationByKubelet" and status_reason in NODE_GONE_REASONS)
        cause = CAUSE_NODE_LOST if node_gone else CAUSE_EVICTED
        return WaitReason(kind, disruption.get("message") or status.get("message") or "", fatal, cause)
    if status_reason == "Evicted":
        return WaitReason("Evicted", status.get("message") or "", fatal, CAUSE_EVICTED)
    if status_reason in NODE_GONE_REASONS:
        return WaitReason(status_reason, status.get("message") or "", fatal, CAUSE_NODE_LOST)
    terminated = _terminated(pod)
    if terminated is not None:
        code = terminated.get("exitCode")
        reason = terminated.get("reason") or ""
        if reason == "OOMKilled":
            return WaitReason("OOMKilled", f"exit code {code}", True, CAUSE_OOM)
        if reason == "ContainerStatusUnknown":
            return WaitReason(reason, terminated.get("message") or "", True, CAUSE_NODE_LOST)
        if code not in (0, None):
            detail = " ".join(part for part in (reason, terminated.get("message") or "") if part)
            return WaitReason(f"exit code {code}", detail, True, CAUSE_EXIT)
    if ended:
        return WaitReason(status_reason or "Failed", status.get("message") or "", True, CAUSE_EXIT)
    return None


def waiting_reason(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = ()) -> WaitReason | None:
    """Why a pod (API JSON) is not running, from what Kubernetes records, most specific first:

    0. for a pod that failed or is being taken away, why (`_end_reason`: node lost, evicted,
       OOMKilled, exit code);
    1. a container's waiting reason from the kubelet (ImagePullBackOff, ErrImagePull,
       CreateContainerConfigError, ...: `status.containerStatuses[].state.waiting`);
    2. the scheduler's verdict, the `PodScheduled` condition with status False (reason
       Unschedulable and a message such as "0/3 nodes are available: 3 Insufficient memory");
    3. the newest Warning event about the pod (FailedScheduling, FailedMount, Failed, ...).

    Only an image-pull failure is fatal while waiting: the others can clear (a node arrives, a
    ConfigMap Spark creates right after the pod appears)."""
    ended = _end_reason(pod)
    if ended is not None:
        return ended
    status = pod.get("status") or {}
    statuses = list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])
    for container in statuses:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason and reason not in STARTING:
            image = reason in IMAGE_PULL_FAILURES
            return WaitReason(reason, waiting.get("message") or "", image, CAUSE_IMAGE if image else "")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return WaitReason(condition.get("reason") or "Unschedulable", condition.get("message") or "", False)
    warnings = [event for event in events if event.get("type") == "Warning" and event.get("reason")]
    if warnings:
        newest = max(warnings, key=_event_time)
        return WaitReason(newest["reason"], newest.get("message") or "", False)
    return None


def pod_state(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = ()) -> tuple[str, WaitReason | None]:
    """A driver pod's submission state and its reason, as the Spark operator reads a driver pod
    (kubeflow/spark-operator pkg/util GetDriverState): Pending → SUBMITTED, Running → RUNNING,
    Succeeded → COMPLETED, Failed → FAILED; a terminated driver container decides before the
    phase catches up (exit 0 → COMPLETED). A Pending pod whose image cannot be pulled never
    starts: FAILED."""
    phase = (pod.get("status") or {}).get("phase") or "Unknown"
    reason = waiting_reason(pod, events)
    terminated = _terminated(pod)
    if phase == "Succeeded" or (terminated is not None and terminated.get("exitCode") == 0):
        return COMPLETED, None
    if phase == "Failed" or (reason is not None and reason.fatal):
        return FAILED, reason or WaitReason("Failed", "", True, CAUSE_EXIT)
    if phase == "Pending":
        return SUBMITTED, reason
    return RUNNING, reason


def pod_events(core: Any, namespace: str, pod: str) -> list[dict[str, Any]]:
    """The events about one pod, as API JSON; none when this identity may not read events (the
    pod's own conditions and container states still explain most waits)."""
    listing = call(f"events of {pod}", core.list_namespaced_event, namespace, passing=(403, 404),
                   field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod}")
    if listing is None:
        return []
    return [core.api_client.sanitize_for_serialization(event) for event in listing.items]


def driver_wait_reason(core: Any, namespace: str, driver: Mapping[str, Any]) -> WaitReason | None:
    """waiting_reason for a pod, with its events fetched."""
    return waiting_reason(driver, pod_events(core, namespace, name_of(driver)))


# --- one driver's status -----------------------------------------------------------------


@dataclass(frozen=True)
class DriverStatus:
    job: str
    pod: str
    submission: str
    phase: str
    created: datetime | None
    executors: int
    detail: str  # why a pod waits or failed; "" when nothing to say
    state: str = ""
    reason: WaitReason | None = None
    app_id: str = ""
    run: str = ""
    attempt: int = 0
    ended: datetime | None = None
    manifest: Mapping[str, Any] | None = None  # the pod as last seen (API JSON)


def _attempt(labels: Mapping[str, str]) -> int:
    value = labels.get(ATTEMPT_LABEL, "")
    return int(value) if value.isdigit() else 1


def ended_at(pod: Mapping[str, Any]) -> datetime | None:
    terminated = _terminated(pod)
    return parse_time((terminated or {}).get("finishedAt"))


def summarize(driver: Mapping[str, Any], executor_pods: Iterable[Mapping[str, Any]],
              events: Sequence[Mapping[str, Any]] = ()) -> DriverStatus:
    """A driver pod and its executor pods (API JSON) → one status (executors counted while running)."""
    labels = labels_of(driver)
    app = labels.get(APP_SELECTOR_LABEL)
    running = sum(
        1 for pod in executor_pods
        if labels_of(pod).get(APP_SELECTOR_LABEL) == app and (pod.get("status") or {}).get("phase") == "Running"
    )
    state, reason = pod_state(driver, events)
    metadata = driver.get("metadata") or {}
    return DriverStatus(
        job=labels.get(JOB_LABEL, "?"),
        pod=name_of(driver),
        submission=labels.get(SUBMISSION_LABEL, ""),
        phase=(driver.get("status") or {}).get("phase") or "Unknown",
        created=parse_time(metadata.get("creationTimestamp")),
        executors=running,
        detail=reason.text() if reason is not None else "",
        state=state,
        reason=reason,
        app_id=app or "",
        run=labels.get(RUN_LABEL, labels.get(SUBMISSION_LABEL, "")),
        attempt=_attempt(labels),
        ended=ended_at(driver),
        manifest=driver,
    )


def newest_first(pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(
        pods, key=lambda pod: parse_time((pod.get("metadata") or {}).get("creationTimestamp")) or oldest, reverse=True
    )


def _drivers_with_statuses(core: Any, namespace: str, job: str | None) -> list[DriverStatus]:
    drivers = list_pods(core, namespace, label_selector("driver", job=job), "list drivers")
    executors = list_pods(core, namespace, label_selector("executor", job=job), "list executors")
    return [summarize(driver, executors) for driver in newest_first(drivers) if JOB_LABEL in labels_of(driver)]


def job_statuses(core: Any, namespace: str, job: str | None = None) -> list[DriverStatus]:
    """Every driver of `job` (or of every submitted job), newest first."""
    return _drivers_with_statuses(core, namespace, job)


def latest_status(core: Any, namespace: str, job: str, explain: bool = False) -> DriverStatus:
    """The newest driver's status; with `explain`, a Pending driver's detail says why it waits
    (its events read too)."""
    found = _drivers_with_statuses(core, namespace, job)
    if not found:
        raise KubeError(f"no driver pod for job {job} in namespace {namespace}; `python -m jobs list` shows the jobs")
    status = found[0]
    if explain and status.phase == "Pending" and status.manifest is not None:
        reason = driver_wait_reason(core, namespace, status.manifest)
        if reason is not None:
            return replace(status, detail=reason.text(), reason=reason)
    return status


def age_text(created: datetime | None, now: datetime) -> str:
    if created is None:
        return "?"
    seconds = max(0, int((now - created).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def status_line(status: DriverStatus, now: datetime) -> str:
    detail = f" ({status.detail})" if status.detail else ""
    executors = "1 executor" if status.executors == 1 else f"{status.executors} executors"
    return f"{status.job}: {status.pod} {status.phase}{detail}, {executors} running, age {age_text(status.created, now)}"


def status_json(status: DriverStatus) -> dict[str, Any]:
    return {
        "job": status.job, "submission": status.submission, "run": status.run, "attempt": status.attempt,
        "state": status.state, "reason": status.detail, "cause": status.reason.cause if status.reason else "",
        "pod": status.pod, "phase": status.phase, "appId": status.app_id, "executors": status.executors,
        "created": status.created.isoformat() if status.created else None,
        "ended": status.ended.isoformat() if status.ended else None,
    }


def active_drivers(core: Any, namespace: str, job: str) -> list[DriverStatus]:
    return [s for s in job_statuses(core, namespace, job) if s.phase in ACTIVE_PHASES]


def kill(core: Any, namespace: str, job: str, drivers: Sequence[DriverStatus] | None = None) -> list[str]:
    """Delete the job's active drivers; Spark's owner references take the executors with them."""
    active = list(drivers) if drivers is not None else active_drivers(core, namespace, job)
    if not active:
        raise KubeError(f"job {job} has no pending or running driver in namespace {namespace}; nothing to kill")
    for status in active:
        call(f"delete {status.pod}", core.delete_namespaced_pod, status.pod, namespace)
    return [status.pod for status in active]


# --- logs --------------------------------------------------------------------------------


def write_pod_log(core: Any, namespace: str, pod: str, container: str, follow: bool, out: TextIO) -> None:
    """A pod's log; with `follow`, streamed until the container ends."""
    # Raw bytes, decoded here: the client (36.x) turns a preloaded log into "b'...'" text. The
    # decoder keeps a character whose UTF-8 bytes straddle two chunks whole.
    response = call(
        f"logs of {pod}", core.read_namespaced_pod_log, pod, namespace, container=container, follow=follow,
        _preload_content=False, _request_timeout=(REQUEST_TIMEOUT[0], None) if follow else REQUEST_TIMEOUT,
    )
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    try:
        for chunk in response.stream(amt=4096, decode_content=True):
            out.write(decoder.decode(chunk))
            out.flush()
        out.write(decoder.decode(b"", final=True))
        out.flush()
    finally:
        response.release_conn()


def pod_log(core: Any, namespace: str, pod: str, container: str, tail_lines: int | None = None) -> str:
    """A pod's whole log (or its last `tail_lines`) as text."""
    kwargs: dict[str, Any] = {"container": container, "_preload_content": False}
    if tail_lines is not None:
        kwargs["tail_lines"] = tail_lines
    response = call(f"logs of {pod}", core.read_namespaced_pod_log, pod, namespace, **kwargs)
    try:
        return response.data.decode("utf-8", errors="replace")
    finally:
        response.release_conn()


def write_logs(core: Any, namespace: str, job: str, follow: bool, out: TextIO) -> None:
    """The newest driver's log; with `follow`, streamed until the driver ends."""
    write_pod_log(core, namespace, latest_status(core, namespace, job).pod, DRIVER_CONTAINER, follow, out)


# --- following a submission ----------------------------------------------------------------


def _seconds_text(seconds: float) -> str:
    return f"{seconds / 60:g}m" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g}s"


def follow_submission(
    core: Any,
    namespace: str,
    job: str,
    submission: str,
    *,
    out: TextIO = sys.stdout,
    on_status: Callable[[str], None] | None = None,
    interval: float = 3.0,
    appear_timeout: float = 120.0,
    timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DriverStatus:
    """Poll one submission's driver until it ends, writing a line to `out` each time its state
    changes; its final status. `on_status` gets every poll's line (with the driver's age), for a
    progress line.

    A Pending driver's line says why it waits (waiting_reason); an image that cannot be pulled
    ends the follow at once, and `timeout` (seconds) bounds the whole wait (each call is bounded by
    REQUEST_TIMEOUT). A driver that vanishes ends as FAILED with the reason last seen on it (a
    DisruptionTarget condition, for a lost node), else as `vanished_reason` finds it: node lost when
    the node it ran on is gone, else cause `deleted`."""
    started = clock()
    last_line = ""
    last: DriverStatus | None = None
    while True:
        drivers = list_pods(core, namespace, label_selector("driver", job=job, submission=submission), "follow driver")
        if not drivers:
            if last is not None:
                reason = last.reason if last.reason is not None and last.reason.cause else vanished_reason(
                    core, last, _without_age(last_line))
                reason = replace(reason, fatal=True)
                gone = replace(last, state=FAILED, reason=reason, detail=f"driver pod gone: {reason.text()}")
                out.write(f"{job}: {last.pod} is gone ({reason.text()})\n")
                out.flush()
                return gone
            if on_status is not None:
                on_status(f"{job}: waiting for the driver pod of submission {submission} to appear")
            if clock() - started > appear_timeout:
                raise KubeError(
                    f"no driver pod for submission {submission} appeared in namespace {namespace} "
                    f"within {appear_timeout:.0f}s; check `python -m jobs list`"
                )
        else:
            driver = newest_first(drivers)[0]
            executors = list_pods(
                core, namespace, label_selector("executor", job=job, submission=submission), "follow executors"
            )
            phase = (driver.get("status") or {}).get("phase")
            events = pod_events(core, namespace, name_of(driver)) if phase == "Pending" else ()
            status = summarize(driver, executors, events)
            last = status
            line = status_line(status, datetime.now(timezone.utc))
            if on_status is not None:
                on_status(line)
            if _without_age(line) != _without_age(last_line):
                out.write(line + "\n")
                out.flush()
            last_line = line
            if status.state in FINAL_STATES:
                return status
        if timeout is not None and clock() - started > timeout:
            state = f"{last_line.split(': ', 1)[-1]}" if last_line else "no driver pod yet"
            raise KubeError(
                f"{job}: still not finished after {_seconds_text(timeout)} ({_without_age(state)}); it keeps running: "
                f"`python -m jobs status {job}` follows up, `python -m jobs kill {job}` stops it"
            )
        sleep(interval)


def node_exists(core: Any, node: str) -> bool | None:
    """Whether the API still has `node`: False on 404, None when this identity may not read nodes
    (they are cluster-scoped: the stack's admin access entry may, a namespaced Role may not)."""
    try:
        found = call(f"read node {node}", core.read_node, node, passing=(404,))
    except KubeError:
        return None  # 403 for an identity without cluster-wide reads, or no answer: cannot tell
    return found is not None


def vanished_reason(core: Any, last: DriverStatus, last_seen: str) -> WaitReason:
    """Why a driver pod went without a word on it. The pod garbage collector force-deletes the pods
    of a node the API no longer has, adding DisruptionTarget DeletionByPodGC in the same call
    (kubernetes pkg/controller/podgc/gc_controller.go: gcOrphaned, once checkIfNodeExists gets
    NotFound, then markFailedAndDeletePodWithCondition), so a poller sees Running, then nothing.
    The node the driver was bound to (spec.nodeName) answers: gone (404) is a lost node, which a
    retry can fix; still there, or unreadable, it was deleted (`kubectl delete`, `jobs kill`)."""
    node = str(((last.manifest or {}).get("spec") or {}).get("nodeName") or "")
    exists = node_exists(core, node) if node else True
    if exists is False:
        return WaitReason("node gone", f"node {node}, where it ran, no longer exists (the pod garbage collector "
                                       "deletes the pods of a node that is gone)", True, CAUSE_NODE_LOST)
    unknown = f"; node {node} could not be read" if exists is None else ""
    return WaitReason("deleted while running", f"last seen: {last_seen}{unknown}", True, CAUSE_DELETED)


def _without_age(line: str) -> str:
    return line.rsplit(", age ", 1)[0]
