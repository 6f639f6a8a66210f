"""Which pod `jobs ui` and `jobs history` forward to, and why there is none to forward to.

The driver's Spark UI listens on `spark.ui.port` (4040, Spark's default) while the driver runs.
The History Server is found through the stack's `historyServer` output (namespace, service,
port, pod selector; infra/history.py); a pod that is not ready gets the reason Kubernetes
records (jobs.kube.waiting_reason).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from jobs.kube import CAUSE_IMAGE, name_of, pod_events, waiting_reason
from jobs.outputs import OutputsError

SPARK_UI_PORT = 4040
# What `jobs history` listens on by default: the History Server's own port (infra/history.py UI_PORT).
HISTORY_UI_PORT = 18080
_FIELDS = {"namespace": str, "podSelector": str, "port": int}


def history_endpoint(value: Any) -> dict[str, Any]:
    """The `historyServer` output, checked; one line naming the fix when it is absent or malformed."""
    if value in (None, ""):
        raise OutputsError(
            "the stack outputs have no historyServer: the stack runs no History Server (history.enabled is false, or "
            "the stack predates it); set history.enabled: true and run `pulumi up`, then export the outputs again"
        )
    if not isinstance(value, Mapping) or any(not isinstance(value.get(k), t) or isinstance(value.get(k), bool)
                                             for k, t in _FIELDS.items()):
        raise OutputsError("stack output historyServer must be an object with namespace, podSelector and port; "
                           "export the outputs again with `pulumi stack output --json --show-secrets`")
    return dict(value)


def pod_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )


def history_not_ready(core: Any, server: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> str:
    """One line: why no History Server pod can take a port-forward."""
    namespace = server["namespace"]
    if not pods:
        service = server.get("service", "spark-history")
        return (f"no History Server pod in namespace {namespace} (selector {server['podSelector']}); "
                f"`kubectl -n {namespace} describe deployment {service}` shows why")
    pod = pods[0]
    reason = waiting_reason(pod, pod_events(core, namespace, name_of(pod)))
    why = reason.text() if reason is not None else f"phase {(pod.get('status') or {}).get('phase')}, not ready yet"
    hint = ""
    if reason is not None and reason.cause == CAUSE_IMAGE:
        hint = ("; it runs the project's image: push it with `python -m jobs image build && python -m jobs image push`"
                " (same --outputs/--stack), or set history.image")
    return f"the History Server pod {name_of(pod)} is not ready ({why}){hint}"
