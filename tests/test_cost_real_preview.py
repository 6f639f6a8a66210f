"""What a real `pulumi preview --json` holds that the hand-made previews did not (issue 13, items 1, 3, 4, 5).

Each test builds the preview the way pulumi prints it (pulumi pkg/display/json.go PreviewDigest
and PreviewStep; pkg/backend/display/json.go fills them) and names the rule it depends on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cost.cli import main
from cost.inputs import InputError, changes_from_plans, changes_from_preview, plan_states
from cost.report import build_report
from tests.cost_helpers import (
    AS_OF,
    H,
    PROVIDER_URN,
    SNAPSHOT_PATH,
    by_name,
    context,
    fixture,
    node_group_inputs,
    provider_step,
    report_of_document,
    snapshot,
    state,
    step,
    urn,
)

ROOT_STACK = "pulumi:pulumi:Stack"


def without_sames(document: dict[str, Any]) -> dict[str, Any]:
    """The same preview as `pulumi preview --json` prints it WITHOUT --show-sames: pulumi's
    `shouldShow` (pkg/backend/display/display.go) drops every `same` step unless its `protect`
    changed, and ShowPreviewDigest always keeps the root stack; changeSummary still counts them all."""
    kept = [s for s in document["steps"] if s["op"] != "same" or s["urn"].split("::")[2] == ROOT_STACK]
    return {**document, "steps": kept}


def write(tmp_path: Path, document: dict[str, Any], name: str = "preview.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


# ---- item 1: unchanged resources left out ---------------------------------------------------


def test_a_preview_without_show_sames_is_refused_with_one_line_naming_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 13 item 1. The fixture with --show-sames costs $254.66 → $1,070.10; without the flag the
    control plane, NAT gateway and IPv4 ($109.50) are not listed and the old code printed
    $145.16 → $960.60 with exit 0. changeSummary.same (8) > listed sames (1, the root stack): exit 2."""
    full = fixture("preview_eks_children.json")
    assert full["changeSummary"]["same"] == sum(s["op"] == "same" for s in full["steps"]) == 8
    code = main(["diff", write(tmp_path, without_sames(full)), "--region", "us-west-2", "--prices", str(SNAPSHOT_PATH), *AS_OF])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1
    assert "changeSummary counts 8 unchanged resources but only 1 `same` steps are listed" in captured.err
    assert captured.err.rstrip().endswith("rerun `pulumi preview --json --show-sames`")


def test_the_full_preview_is_priced_with_every_unchanged_resource() -> None:
    """With --show-sames the unchanged control plane, NAT gateway and its IPv4 are in both totals."""
    report = report_of_document(fixture("preview_eks_children.json"))
    assert (round(report.total_before, 2), round(report.total_after, 2)) == (254.66, 1070.10)
    unchanged = [r for r in report.resources if r.op == "same" and (r.monthly_before or 0) > 0]
    assert sorted(r.name for r in unchanged) == ["cluster-eks-eksCluster", "network-nat-0", "network-nat-0"]
    assert sum(r.monthly_before or 0 for r in unchanged) == pytest.approx((0.10 + 0.045 + 0.005) * H)  # 109.50


def test_sames_the_flag_does_not_hide_never_trip_the_check() -> None:
    """The root stack is listed without the flag, as is a `same` whose protect changed: a preview whose
    only unchanged resources are those is complete, and one without changeSummary (older tools) is read."""
    stack = urn(ROOT_STACK, "spark-eks-spot-dev")
    protected = state("aws:ec2/eip:Eip", {"domain": "vpc"}, protect=True)
    document = {
        "steps": [step("same", stack, state(ROOT_STACK, {}), state(ROOT_STACK, {})),
                  step("same", urn("aws:ec2/eip:Eip", "ip"), {**protected, "protect": False}, protected),
                  step("create", urn("aws:ec2/natGateway:NatGateway", "nat"), new=state("aws:ec2/natGateway:NatGateway", {}))],
        "changeSummary": {"same": 2, "create": 1},
    }
    assert len(changes_from_preview(document, "p", "us-west-2")) == 3
    del document["changeSummary"]
    assert len(changes_from_preview(document, "p", "us-west-2")) == 3
    document["changeSummary"] = {"same": 3, "create": 1}
    with pytest.raises(InputError, match="--show-sames"):
        changes_from_preview(document, "p", "us-west-2")


# ---- item 3: a resource's own region ---------------------------------------------------------


def test_a_resource_is_priced_in_its_own_region_not_the_providers() -> None:
    """pulumi-aws 7 gives most resources a `region` input that overrides the provider's region
    (pulumi registry: aws how-to-guides, "Enhanced Region Support"). A NAT gateway and a node group
    declared with region eu-west-1 in a us-west-2 stack cost eu-west-1's prices."""
    provider = f"{PROVIDER_URN}::id"
    nat_eu = state("aws:ec2/natGateway:NatGateway", {"region": "eu-west-1", "subnetId": "subnet-1"}, provider=provider)
    nat_home = state("aws:ec2/natGateway:NatGateway", {"subnetId": "subnet-2"}, provider=provider)
    group = state("aws:eks/nodeGroup:NodeGroup", {**node_group_inputs("ON_DEMAND", ["m5.xlarge"], 1, 1, 1, disk=50), "region": "eu-west-1"},
                  provider=provider)
    hidden = state("aws:ec2/natGateway:NatGateway", {"region": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"}, provider=provider)
    report = report_of_document({"steps": [
        provider_step("us-west-2"),
        step("create", urn("aws:ec2/natGateway:NatGateway", "nat-eu"), new=nat_eu),
        step("create", urn("aws:ec2/natGateway:NatGateway", "nat-home"), new=nat_home),
        step("create", urn("aws:eks/nodeGroup:NodeGroup", "drivers-eu"), new=group),
        step("create", urn("aws:ec2/natGateway:NatGateway", "nat-unknown-region"), new=hidden),
    ]})
    assert by_name(report, "nat-eu").monthly_after == pytest.approx(0.048 * H)  # eu-west-1, not us-west-2's 0.045
    assert by_name(report, "nat-home").monthly_after == pytest.approx(0.045 * H)
    assert by_name(report, "drivers-eu").monthly_after == pytest.approx(0.214 * H + 50 * 0.11)  # eu m5.xlarge and gp2
    assert by_name(report, "nat-unknown-region").after.details["region"] == "us-west-2"  # unknown until apply: the provider's
    assert report.region_dates == {"eu-west-1": "2026-11-25", "us-west-2": "2026-11-25"}


def test_an_offline_plan_resource_with_its_own_region() -> None:
    """The offline plan carries the same inputs: a resource's `region` wins over the plan's region."""
    plan = {"resources": [{"type": "aws:ec2/natGateway:NatGateway", "name": "nat", "inputs": {"region": "eu-west-1"}}],
            "outputs": {"region": "us-west-2"}}
    report = build_report(changes_from_plans({}, plan_states(plan)), snapshot(), "estimate", context())
    assert report.resources[0].monthly_after == pytest.approx(0.048 * H)


# ---- item 4: a desired size outside [min, max] -------------------------------------------------


def test_desired_size_below_a_raised_min_is_priced_at_min() -> None:
    """botocore's autoscaling model, UpdateAutoScalingGroup: a new MinSize above the group's size sets
    DesiredCapacity to MinSize (and a MaxSize below it sets it to MaxSize). pulumi-eks ignores
    desiredSize changes (ignoreScalingChanges), so raising minSize from 1 to 3 leaves desiredSize 1 in
    the preview while AWS runs 3 nodes."""
    old = node_group_inputs("ON_DEMAND", ["m5.xlarge"], 1, 1, 5, disk=50)
    new = node_group_inputs("ON_DEMAND", ["m5.xlarge"], 3, 1, 5, disk=50)
    lowered = node_group_inputs("ON_DEMAND", ["m5.xlarge"], 0, 4, 2, disk=50)
    report = report_of_document({"steps": [
        provider_step(),
        step("update", urn("aws:eks/nodeGroup:NodeGroup", "drivers"), state("aws:eks/nodeGroup:NodeGroup", old),
             state("aws:eks/nodeGroup:NodeGroup", new)),
        step("create", urn("aws:eks/nodeGroup:NodeGroup", "batch"), new=state("aws:eks/nodeGroup:NodeGroup", lowered)),
    ]})
    node = 0.192 * H + 50 * 0.10  # 145.16
    drivers = by_name(report, "drivers")
    assert drivers.monthly_before == pytest.approx(node)
    assert drivers.monthly_after == pytest.approx(3 * node)  # not 1 node
    assert drivers.after.details["nodes"] == {"min": 3, "desired": 3, "max": 5, "declaredDesired": 1}
    assert "desiredSize 1 is below minSize 3: AWS raises the group to 3" in drivers.after.details["assumptions"]
    batch = by_name(report, "batch")
    assert batch.monthly_after == pytest.approx(2 * node)
    assert batch.after.details["nodes"]["desired"] == 2


def test_max_below_min_is_not_priced() -> None:
    """EKS refuses a scaling config whose maxSize is below minSize: listed as unpriced, not guessed."""
    bad = node_group_inputs("SPOT", ["m5.xlarge"], 5, 5, 2)
    report = report_of_document({"steps": [provider_step(), step("create", urn("aws:eks/nodeGroup:NodeGroup", "x"),
                                                                 new=state("aws:eks/nodeGroup:NodeGroup", bad))]})
    assert "maxSize 2 is below minSize 5" in by_name(report, "x").after.details["reason"]


# ---- item 5: retainOnDelete -----------------------------------------------------------------------


def test_a_retained_delete_keeps_its_bill_and_a_retained_replacement_adds_one() -> None:
    """Pulumi docs, resource option retainOnDelete: "Pulumi will not call through to the resource
    provider's Delete method when deleting or replacing the resource" (the state's `retainOnDelete`,
    sdk/go/common/apitype/core.go ResourceV3). A retained NAT gateway removed from the program keeps
    costing; a retained one replaced costs twice (the old stays beside the new)."""
    nat = "aws:ec2/natGateway:NatGateway"
    retained = state(nat, {"subnetId": "subnet-1"}, retainOnDelete=True)
    replaced_old = state(nat, {"subnetId": "subnet-2"}, retainOnDelete=True)
    replaced_new = state(nat, {"subnetId": "subnet-3"}, retainOnDelete=True)
    swap = urn(nat, "nat-swap")
    report = report_of_document({"steps": [
        provider_step(),
        step("delete", urn(nat, "nat-kept"), old=retained),
        step("delete", urn(nat, "nat-gone"), old=state(nat, {"subnetId": "subnet-4"})),
        step("create-replacement", swap, replaced_old, replaced_new),
        step("replace", swap, replaced_old, replaced_new),
        step("delete-replaced", swap, old=replaced_old),
    ]})
    hour = 0.045 * H
    kept, gone, swapped = by_name(report, "nat-kept"), by_name(report, "nat-gone"), by_name(report, "nat-swap")
    assert (kept.op, kept.retained, kept.monthly_after, kept.delta) == ("delete", True, pytest.approx(hour), 0.0)
    assert "retainOnDelete" in kept.after.details["retained"]
    assert gone.delta == pytest.approx(-hour)
    assert (swapped.op, swapped.monthly_before, swapped.monthly_after) == ("replace", pytest.approx(hour), pytest.approx(2 * hour))
    assert report.delta == pytest.approx(-hour + hour)  # one NAT really gone, one more kept beside its replacement


def test_the_table_marks_a_retained_delete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nat = "aws:ec2/natGateway:NatGateway"
    document = {"steps": [provider_step(), step("delete", urn(nat, "nat-kept"), old=state(nat, {}, retainOnDelete=True))]}
    assert main(["diff", write(tmp_path, document), "--prices", str(SNAPSHOT_PATH), *AS_OF]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("nat-kept"))
    assert row.split()[2:4] == ["delete", "(retained)"] and row.split()[-2:] == ["$0.00", "$0.00"]
