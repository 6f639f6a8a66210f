"""The EKS control plane by its support phase (issue 13, item 2).

Rules, as written in the sources the calendar file names: AWS docs "Understand the Kubernetes
version lifecycle on EKS" (14 months of standard support, then 12 of extended support);
AWS EKS pricing ($0.60 per cluster-hour in extended support instead of $0.10); EKS API
reference UpgradePolicyRequest ("The default value is EXTENDED. Use STANDARD to disable extended
support"; STANDARD clusters are upgraded automatically at the end of standard support); pulumi-eks
4.4.0 ClusterArgs.upgrade_policy ("Defaults to EXTENDED"). Dates come from
cost/prices/eks-support-2026-12-01.json through cost/calendar.py.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cost.calendar import load_calendar
from cost.cli import main
from tests.cost_helpers import H, PROVIDER_URN, SNAPSHOT_PATH, by_name, provider_step, report_of_document, snapshot, state, step, urn

DECEMBER_1 = date(2026, 12, 1)
CLUSTER = "aws:eks/cluster:Cluster"


def cluster_preview(version: str | None, support_type: str | None, component: bool = False) -> dict[str, Any]:
    inputs: dict[str, Any] = {"name": "spark-dev"}
    if version is not None:
        inputs["version"] = version
    if support_type is not None:
        inputs["upgradePolicy"] = {"supportType": support_type}
    steps = [provider_step()]
    chain = ""
    if component:
        # pulumi-eks: the component takes `version` and `upgradePolicy` and passes both to its aws:eks child.
        component_state = state("eks:index:Cluster", {**inputs, "skipDefaultNodeGroup": True})
        steps.append(step("same", urn("eks:index:Cluster", "cluster-eks"), component_state, component_state))
        chain = "eks:index:Cluster"
    child = state(CLUSTER, inputs, provider=f"{PROVIDER_URN}::id")
    steps.append(step("same", urn(CLUSTER, "cluster-eks-eksCluster", chain=chain), child, child))
    return {"steps": steps}


def control_plane(version: str | None, support_type: str | None, on: date, component: bool = False) -> Any:
    report = report_of_document(cluster_preview(version, support_type, component), on=on)
    return by_name(report, "cluster-eks-eksCluster", CLUSTER), report


def test_the_calendar_and_prices_these_tests_rely_on() -> None:
    calendar = load_calendar()
    assert calendar.get("1.33").end_of_standard == date(2026, 7, 29)
    assert calendar.get("1.34").end_of_standard == date(2026, 12, 2)
    west = snapshot().regions["us-west-2"]
    assert (west["eksClusterHour"], west["eksExtendedClusterHour"]) == (0.10, 0.60)


def test_a_version_past_standard_support_costs_the_extended_rate_by_default() -> None:
    """1.33 left standard support on 2026-07-29; with no upgradePolicy (EKS's default EXTENDED) the
    control plane costs $0.60/h: $438.00 a month, not $73.00."""
    cluster, _ = control_plane("1.33", None, DECEMBER_1)
    assert cluster.monthly_after == pytest.approx(0.60 * H)
    details = cluster.after.details
    assert (details["supportPhase"], details["supportType"], details["version"]) == ("extended", "EXTENDED", "1.33")
    assert "upgradePolicy not set: EKS's default EXTENDED" in details["notes"]


def test_standard_policy_is_upgraded_not_charged_extended() -> None:
    """upgradePolicy.supportType STANDARD: EKS upgrades the cluster at the end of standard support,
    so it never pays the extended rate; the note says the version will not stay."""
    cluster, _ = control_plane("1.33", "STANDARD", DECEMBER_1)
    assert cluster.monthly_after == pytest.approx(0.10 * H)
    assert any("upgrades the cluster automatically" in note for note in cluster.after.details["notes"])


def test_the_day_standard_support_ends_changes_the_price_and_the_day_before_warns() -> None:
    """1.34's standard support ends 2026-12-02: on 12-01 it is $73.00 with a warning naming the date
    and the price to come; on 12-02 it is $438.00."""
    before, report = control_plane("1.34", "EXTENDED", DECEMBER_1)
    assert before.monthly_after == pytest.approx(0.10 * H)
    assert report.warnings == ["cluster-eks-eksCluster: Kubernetes 1.34 leaves standard support on 2026-12-02: "
                               "the cluster then enters extended support, $438.00/month"]
    after, report = control_plane("1.34", "EXTENDED", date(2026, 12, 2))
    assert after.monthly_after == pytest.approx(0.60 * H) and report.warnings == []
    far, report = control_plane("1.35", None, DECEMBER_1)
    assert far.monthly_after == pytest.approx(0.10 * H) and report.warnings == []


def test_the_pulumi_eks_component_and_its_child_are_one_control_plane() -> None:
    """The eks:index:Cluster component carries the same inputs as its aws:eks child: priced once, through the child."""
    cluster, report = control_plane("1.33", "EXTENDED", DECEMBER_1, component=True)
    assert by_name(report, "cluster-eks", "eks:index:Cluster").category == "included"
    assert report.total_after == pytest.approx(0.60 * H)


def test_an_unknown_or_missing_version() -> None:
    """Not in the calendar: unpriced, naming the calendar file to extend. Not set: EKS's default
    version, in standard support. Unknown until apply on a new cluster: unpriced."""
    missing, _ = control_plane("1.29", None, DECEMBER_1)
    assert missing.monthly_after is None
    assert "Kubernetes 1.29 is not in the EKS support calendar of 2026-12-01" in missing.after.details["reason"]
    default, _ = control_plane(None, None, DECEMBER_1)
    assert default.monthly_after == pytest.approx(0.10 * H)
    hidden = report_of_document({"steps": [provider_step(), step("create", urn(CLUSTER, "new"), new=state(
        CLUSTER, {"version": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"}))]}, on=DECEMBER_1)
    assert by_name(hidden, "new").after.details["reason"] == "version is not known until apply, so neither is the support phase"


def test_as_of_flag_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--as-of` names the day whose phase applies; the JSON says the day, phase and policy."""
    preview = tmp_path / "preview.json"
    preview.write_text(json.dumps(cluster_preview("1.34", None)))
    base = ["diff", str(preview), "--prices", str(SNAPSHOT_PATH), "--format", "json"]
    assert main([*base, "--as-of", "2026-12-01"]) == 0
    early = json.loads(capsys.readouterr().out)
    assert main([*base, "--as-of", "2026-12-02"]) == 0
    late = json.loads(capsys.readouterr().out)
    assert (early["totalMonthlyAfter"], late["totalMonthlyAfter"]) == (73.0, 438.0)
    assert (early["pricedOn"], late["pricedOn"]) == ("2026-12-01", "2026-12-02")
    details = next(r for r in late["resources"] if r["type"] == CLUSTER)["details"]["after"]
    assert (details["supportPhase"], details["supportType"], details["hourly"]) == ("extended", "EXTENDED", 0.6)
    assert main([*base, "--as-of", "tomorrow"]) == 2
    assert "'tomorrow' is not a date such as 2026-12-01" in capsys.readouterr().err
