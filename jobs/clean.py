"""`jobs clean`: delete finished driver pods, and what Spark left behind with them.

What a Spark application leaves in its namespace (spark-submit's requests, recorded against the
loopback API; apache/spark KubernetesClientApplication and KubernetesClusterSchedulerBackend):
the driver pod, and owned by it through `ownerReferences` (kind Pod, controller true) the
driver's conf ConfigMap (`spark-drv-…-conf-map`), the pod-template ConfigMap
(`…-driver-podspec-conf-map`) and a NetworkPolicy; after an abnormal end also the driver
Service (`…-driver-svc`, which a clean stop deletes) and the executors' ConfigMap
(`spark-exec-…-conf-map`). The ConfigMaps have no labels, so they are found by owner.
Deleting the driver pod with background propagation lets the garbage collector delete what it
owns. An object whose owner pod is gone but which is still there (an owner reference that never
matched a pod's uid, or a Spark-labelled object without owner) is an orphan, deleted by itself.

Running and pending drivers are never touched. A driver's log is saved to the bucket before
its pod goes (jobs.runs.finalize).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Sequence

from jobs.kube import (
    APP_SELECTOR_LABEL,
    FINISHED_PHASES,
    ROLE_LABEL,
    KubeError,
    call,
    labels_of,
    name_of,
    parse_time,
    summarize,
)
from jobs.records import Records
from jobs.runs import finalize

_AGE = re.compile(r"^([1-9][0-9]{0,4})(m|h|d)$")
_AGE_SECONDS = {"m": 60, "h": 3600, "d": 86400}
KINDS = ("Service", "ConfigMap", "NetworkPolicy")


def age_seconds(text: str) -> int:
    """`--older-than`: minutes, hours or days (`90m`, `12h`, `7d`)."""
    match = _AGE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"--older-than: {text!r} is not an age; use a number with m, h or d, like 7d or 12h")
    return int(match.group(1)) * _AGE_SECONDS[match.group(2)]


def finished_at(pod: Mapping[str, Any]) -> datetime | None:
    """When a finished pod ended: its containers' latest finishedAt, else its latest condition
    change, else its creation."""
    status = pod.get("status") or {}
    ends = [parse_time(((c.get("state") or {}).get("terminated") or {}).get("finishedAt"))
            for c in status.get("containerStatuses") or []]
    ends += [parse_time(c.get("lastTransitionTime")) for c in status.get("conditions") or []]
    known = [moment for moment in ends if moment is not None]
    return max(known) if known else parse_time((pod.get("metadata") or {}).get("creationTimestamp"))


def _owner_refs(item: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [ref for ref in (item.get("metadata") or {}).get("ownerReferences") or [] if isinstance(ref, Mapping)]


def owned_by(item: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    metadata = pod.get("metadata") or {}
    for ref in _owner_refs(item):
        if ref.get("kind") != "Pod":
            continue
        if ref.get("uid") and metadata.get("uid"):
            if ref["uid"] == metadata["uid"]:
                return True
        elif ref.get("name") == metadata.get("name"):
            return True
    return False


@dataclass(frozen=True)
class Removal:
    kind: str
    name: str
    why: str
    goes_with: tuple[tuple[str, str], ...] = ()  # (kind, name) the garbage collector removes with it
    state: str = ""
    log: str = ""

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"kind": self.kind, "name": self.name, "why": self.why}
        if self.kind == "Pod":
            document.update(state=self.state, goesWith=[{"kind": k, "name": n} for k, n in self.goes_with],
                            log=self.log or None)
        return document


@dataclass
class CleanPlan:
    drivers: list[tuple[Mapping[str, Any], Removal]] = field(default_factory=list)
    orphans: list[Removal] = field(default_factory=list)
    active: list[str] = field(default_factory=list)  # drivers left alone: pending or running
    recent: list[str] = field(default_factory=list)  # finished, but not long enough ago


def plan_clean(pods: Sequence[Mapping[str, Any]], objects: Mapping[str, Sequence[Mapping[str, Any]]],
               now: datetime, older_than: timedelta) -> CleanPlan:
    """Pure: which driver pods and orphans go, given every pod and every object of KINDS."""
    plan = CleanPlan()
    cutoff = now - older_than
    uids = {(p.get("metadata") or {}).get("uid") for p in pods} - {None}
    names = {name_of(p) for p in pods}
    apps = {labels_of(p).get(APP_SELECTOR_LABEL) for p in pods} - {None}
    for pod in pods:
        if labels_of(pod).get(ROLE_LABEL) != "driver":
            continue
        phase = (pod.get("status") or {}).get("phase")
        if phase not in FINISHED_PHASES:
            plan.active.append(name_of(pod))
            continue
        ended = finished_at(pod)
        if ended is None or ended > cutoff:
            plan.recent.append(name_of(pod))
            continue
        goes_with = tuple(
            (kind, name_of(item)) for kind in ("Pod", *KINDS)
            for item in (pods if kind == "Pod" else objects.get(kind, ())) if owned_by(item, pod)
        )
        days = (now - ended).total_seconds() / 86400
        plan.drivers.append((pod, Removal("Pod", name_of(pod), f"{phase}, ended {days:.1f} days ago", goes_with)))
    taken = {item for _, removal in plan.drivers for item in removal.goes_with}
    for kind in KINDS:
        for item in objects.get(kind, ()):
            if (kind, name_of(item)) in taken:
                continue
            created = parse_time((item.get("metadata") or {}).get("creationTimestamp"))
            if created is None or created > cutoff:
                continue
            refs = [ref for ref in _owner_refs(item) if ref.get("kind") == "Pod"]
            app = labels_of(item).get(APP_SELECTOR_LABEL)
            if refs and all(ref.get("uid") not in uids and ref.get("name") not in names for ref in refs):
                plan.orphans.append(Removal(kind, name_of(item), f"its owner pod {refs[0].get('name')} is gone"))
            elif not _owner_refs(item) and app and app not in apps:
                plan.orphans.append(Removal(kind, name_of(item), f"no pod of application {app} is left"))
    return plan


def _listers(core: Any) -> dict[str, Callable[[str], Any]]:
    from kubernetes import client

    networking = client.NetworkingV1Api(core.api_client)
    return {
        "Service": core.list_namespaced_service,
        "ConfigMap": core.list_namespaced_config_map,
        "NetworkPolicy": networking.list_namespaced_network_policy,
    }


def _deleters(core: Any) -> dict[str, Callable[..., Any]]:
    from kubernetes import client

    networking = client.NetworkingV1Api(core.api_client)
    return {
        "Pod": core.delete_namespaced_pod,
        "Service": core.delete_namespaced_service,
        "ConfigMap": core.delete_namespaced_config_map,
        "NetworkPolicy": networking.delete_namespaced_network_policy,
    }


def _kind_plural(kind: str) -> str:
    return {"Service": "services", "ConfigMap": "configmaps", "NetworkPolicy": "networkpolicies"}[kind]


def read_namespace(core: Any, namespace: str, warn: Callable[[str], None]) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Every pod and every object of KINDS, as API JSON; a kind this identity may not list is skipped, said once."""
    from kubernetes.client.exceptions import ApiException

    serialize = core.api_client.sanitize_for_serialization
    pods = [serialize(p) for p in call("list pods", core.list_namespaced_pod, namespace).items]
    objects: dict[str, list[dict[str, Any]]] = {}
    for kind, lister in _listers(core).items():
        try:
            objects[kind] = [serialize(item) for item in lister(namespace).items]
        except ApiException as error:
            if error.status not in (403, 404):
                raise KubeError(f"list {_kind_plural(kind)}: the Kubernetes API answered {error.status} {error.reason}") from None
            warn(f"cannot list {_kind_plural(kind)} in {namespace} ({error.status} {error.reason}); they are not checked")
            objects[kind] = []
    return pods, objects


def clean(core: Any, namespace: str, records: Records | None, plan: CleanPlan, dry_run: bool) -> list[Removal]:
    """Delete what `plan` names (driver pods first, each after its log is saved); what was (or, with
    `dry_run`, would be) deleted."""
    from kubernetes import client

    deleters = _deleters(core)
    done: list[Removal] = []
    for pod, removal in plan.drivers:
        log = ""
        if not dry_run:
            status = summarize(pod, [])
            record = records.get(status.job, status.submission) if records is not None and status.submission else None
            final = finalize(core, namespace, records, status, record) if status.submission else None
            log = records.uri(final.pod_log) if records is not None and final is not None and final.pod_log else ""
            call(f"delete pod {removal.name}", deleters["Pod"], removal.name, namespace,
                 body=client.V1DeleteOptions(propagation_policy="Background"))
        state = summarize(pod, []).state
        done.append(Removal(removal.kind, removal.name, removal.why, removal.goes_with, state, log))
    for orphan in plan.orphans:
        if not dry_run:
            call(f"delete {orphan.kind} {orphan.name}", deleters[orphan.kind], orphan.name, namespace)
        done.append(orphan)
    return done
