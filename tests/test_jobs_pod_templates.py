"""Pod templates: drivers On-Demand and never evicted, executors on tainted Spot nodes with a
grace period inside the Spot notice; they match the node groups infra/ declares."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest
import yaml

from infra.nodegroups import CAPACITY_TYPE_LABEL, ROLE_LABEL, SPOT_TAINT
from infra.storage import DECOMMISSION_PREFIX, EVENT_LOG_PREFIX
from jobs import POD_TEMPLATE_DIR
from jobs import command
from tests.conftest import REPO_ROOT

SPOT_NOTICE_SECONDS = 120
TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


def template(role: str) -> dict[str, Any]:
    return yaml.safe_load((POD_TEMPLATE_DIR / f"{role}.yaml").read_text(encoding="utf-8"))


def required_terms(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]


def cluster_kubernetes_version() -> str:
    config = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8"))["config"]
    return str(config["spark-eks-spot:kubernetesVersion"])


def test_driver_runs_on_demand_and_is_never_evicted() -> None:
    driver = template("driver")
    assert required_terms(driver) == [
        {"matchExpressions": [{"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": ["ON_DEMAND"]}]}
    ]
    assert driver["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
    preferred = driver["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred[0]["preference"]["matchExpressions"][0] == {"key": ROLE_LABEL, "operator": "In", "values": ["driver"]}
    assert "tolerations" not in driver["spec"]  # a driver must never land on a tainted Spot node


def test_executor_runs_on_spot_tolerates_the_taint_and_stops_inside_the_notice() -> None:
    executor = template("executor")
    assert required_terms(executor) == [
        {"matchExpressions": [{"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": ["SPOT"]}]}
    ]
    # The exact taint infra/nodegroups.py puts on the Spot group.
    assert executor["spec"]["tolerations"] == [
        {"key": SPOT_TAINT["key"], "operator": "Equal", "value": SPOT_TAINT["value"], "effect": TAINT_EFFECTS[SPOT_TAINT["effect"]]}
    ]
    assert 0 < executor["spec"]["terminationGracePeriodSeconds"] < SPOT_NOTICE_SECONDS
    preferred = executor["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred[0]["preference"]["matchExpressions"][0] == {"key": ROLE_LABEL, "operator": "In", "values": ["executor"]}


@pytest.mark.parametrize("role", ["driver", "executor"])
def test_templates_are_valid_pods_in_strict_mode(role: str) -> None:
    """A completed copy (Spark adds name and container) validates strictly for the cluster's version,
    so a misspelt key such as nodeAfinity would fail here."""
    pod = copy.deepcopy(template(role))
    pod["metadata"]["name"] = f"wordcount-{role}"
    pod["spec"]["containers"] = [{"name": f"spark-kubernetes-{role}", "image": "spark:test"}]
    kubernetes_validate.validate(pod, cluster_kubernetes_version(), strict=True)


def test_strict_validation_catches_a_misspelt_affinity() -> None:
    pod = copy.deepcopy(template("executor"))
    pod["metadata"]["name"] = "x"
    pod["spec"]["containers"] = [{"name": "c", "image": "i"}]
    pod["spec"]["affinity"]["nodeAfinity"] = pod["spec"]["affinity"].pop("nodeAffinity")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, cluster_kubernetes_version(), strict=True)


def test_bucket_prefixes_match_the_lifecycle_rules() -> None:
    """Event logs and decommission blocks go where infra/storage.py expires them."""
    assert command.EVENT_LOG_PREFIX == EVENT_LOG_PREFIX == "spark-events/"
    assert command.DECOMMISSION_PREFIX == DECOMMISSION_PREFIX == "spark-decommission/"
