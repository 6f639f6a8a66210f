"""Pricing hand-made `pulumi preview --json --show-sames` files, checked against sums done by hand.

Every expected figure below is written out from the committed snapshot's prices
(cost/prices/aws-2026-11-25.json), 730 hours a month; `test_the_prices_used_here_are_the_snapshots`
pins those prices so a changed snapshot shows up as one clear failure.
"""

from __future__ import annotations

from typing import Any

import pytest

from cost.pricing import MissingRegion
from tests.cost_helpers import PROVIDER_URN, H, by_name, provider_step, report_of, report_of_document, snapshot, state, step, urn


def test_the_prices_used_here_are_the_snapshots() -> None:
    """The literal prices of the hand sums are the snapshot's (a refresh writes a new file; this one stays)."""
    s = snapshot()
    west, east, eu = s.regions["us-west-2"], s.regions["us-east-1"], s.regions["eu-west-1"]
    assert (west["natGatewayHour"], west["publicIpv4Hour"], west["eksClusterHour"]) == (0.045, 0.005, 0.10)
    assert west["ebsGbMonth"]["gp2"] == 0.10 and east["ebsGbMonth"]["gp2"] == 0.10 and eu["ebsGbMonth"]["gp2"] == 0.11
    assert west["onDemandHour"]["m5.xlarge"] == 0.192
    assert [west["spotHour"][t] for t in ("m5.xlarge", "m5a.xlarge", "m5d.xlarge", "m5ad.xlarge", "m4.xlarge")] == [
        0.073, 0.0688, 0.0836, 0.0742, 0.066]
    assert [west["onDemandHour"][t] for t in ("m5.xlarge", "m5a.xlarge", "m5d.xlarge", "m5ad.xlarge", "m4.xlarge")] == [
        0.192, 0.172, 0.226, 0.206, 0.2]
    assert (east["onDemandHour"]["m5.xlarge"], east["onDemandHour"]["m5a.xlarge"], east["onDemandHour"]["r5.large"]) == (0.192, 0.172, 0.126)
    assert (east["spotHour"]["m5.xlarge"], east["spotHour"]["m5a.xlarge"]) == (0.0806, 0.0757)
    assert [eu["spotHour"][t] for t in ("m5.2xlarge", "m5a.2xlarge", "m5d.2xlarge", "m6i.2xlarge")] == [0.1712, 0.1613, 0.1915, 0.184]
    assert [eu["onDemandHour"][t] for t in ("m5.2xlarge", "m5a.2xlarge", "m5d.2xlarge", "m6i.2xlarge")] == [0.428, 0.384, 0.504, 0.428]
    assert (eu["onDemandHour"]["m5.xlarge"], eu["onDemandHour"]["m5a.xlarge"]) == (0.214, 0.192)


def test_every_op_is_priced_once_with_the_right_sides() -> None:
    """create/update/replace/delete/same/read/refresh/import: before and after as each op means."""
    report = report_of("preview_ops.json")
    nat, eip, cluster = 0.045 * H, 0.005 * H, 0.10 * H  # 32.85, 3.65, 73.00
    expected = {
        "nat-new": ("create", 0.0, nat),
        "nat-tags": ("update", nat, nat),
        "eip-swap": ("replace", eip, eip),
        "nat-old": ("delete", nat, 0.0),
        "cluster": ("same", cluster, cluster),
        "eip-refreshed": ("refresh", eip, eip),
        "eip-imported": ("import", eip, eip),
        "eip-new": ("create", 0.0, eip),
    }
    for name, (op, before, after) in expected.items():
        resource = by_name(report, name)
        assert resource.op == op, name
        assert resource.monthly_before == pytest.approx(before), name
        assert resource.monthly_after == pytest.approx(after), name
    # The replacement's three steps are one resource, counted once.
    assert [r.name for r in report.resources].count("eip-swap") == 1
    read = by_name(report, "existing-vpc")
    assert (read.op, read.before, read.after, read.category) == ("read", None, None, "external")
    assert report.total_before == pytest.approx(nat + eip + nat + cluster + eip + eip)  # 149.65
    assert report.total_after == pytest.approx(nat + nat + eip + cluster + eip + eip + eip)  # 153.30
    assert report.delta == pytest.approx(eip)


def test_nothing_is_dropped_usage_free_and_unknown_types_are_listed() -> None:
    """S3 is usage-based, IAM free, a load balancer unknown to the tool is reported as not priced."""
    report = report_of("preview_ops.json")
    assert by_name(report, "logs").category == "usage"
    assert by_name(report, "reader").category == "free"
    balancer = by_name(report, "ingress")
    assert balancer.category == "unpriced" and not balancer.complete
    assert "aws:lb/loadBalancer:LoadBalancer" in balancer.after.details["reason"]
    assert [r.name for r in report.unpriced] == ["ingress"]


def test_mixed_spot_group_is_priced_over_all_its_types() -> None:
    """Mean of the four types' Spot prices, their range, min-max sizes, gp2 root volumes, saving vs On-Demand."""
    report = report_of("preview_spot_mixed.json")
    executors = by_name(report, "executors")
    details = executors.after.details
    spot_mean = (0.1712 + 0.1613 + 0.1915 + 0.184) / 4  # 0.177
    volume = 100 * 0.11  # eu-west-1 gp2, per node-month
    per_node = spot_mean * H + volume  # 129.21 + 11 = 140.21
    assert details["region"] == "eu-west-1"
    assert details["hourlyPerNode"]["mean"] == pytest.approx(0.177)
    assert (details["hourlyPerNode"]["min"], details["hourlyPerNode"]["max"]) == (0.1613, 0.1915)
    assert sorted(details["hourlyPerNode"]["byType"]) == ["m5.2xlarge", "m5a.2xlarge", "m5d.2xlarge", "m6i.2xlarge"]
    assert executors.monthly_after == pytest.approx(4 * per_node)  # 560.84
    assert details["monthlyAtMin"] == 0.0
    assert details["monthlyAtMax"] == pytest.approx(20 * per_node, abs=0.01)  # 2804.20
    assert details["monthlyRangeAtDesired"] == pytest.approx([4 * (0.1613 * H + volume), 4 * (0.1915 * H + volume)], abs=0.01)
    od_mean = (0.428 + 0.384 + 0.504 + 0.428) / 4  # 0.436
    assert details["spot"]["onDemandHourlyPerNode"] == pytest.approx(od_mean)
    assert details["spot"]["onDemandEquivalentMonthly"] == pytest.approx(4 * (od_mean * H + volume), abs=0.01)  # 1317.12
    assert details["spot"]["savingMonthly"] == pytest.approx(4 * H * (od_mean - spot_mean), abs=0.01)  # 756.28
    # The saving as a share of the same capacity On-Demand (root volumes on both sides), and on instance-hours alone.
    assert details["spot"]["savingPercent"] == pytest.approx(round(100 * 756.28 / 1317.12, 1))  # 57.4
    assert details["spot"]["instanceSavingPercent"] == pytest.approx(59.4)


def test_on_demand_group_is_priced_at_its_first_type_with_the_range_of_all() -> None:
    """EKS's On-Demand allocation is prioritized: the first type is the expectation, the others the range."""
    drivers = by_name(report_of("preview_spot_mixed.json"), "drivers")
    details = drivers.after.details
    assert drivers.op == "same"
    assert drivers.monthly_after == pytest.approx(0.214 * H + 50 * 0.11)  # 161.72
    assert details["monthlyRangeAtDesired"] == pytest.approx([0.192 * H + 5.5, 0.214 * H + 5.5], abs=0.01)
    assert "spot" not in details


def test_replace_that_moves_a_group_from_on_demand_to_spot() -> None:
    """A capacity-type change forces a replacement: before On-Demand, after the Spot mean."""
    report = report_of("preview_replace_capacity.json", region="us-east-1")
    workers = by_name(report, "workers")
    assert workers.op == "replace"
    assert workers.before.details["capacityType"] == "ON_DEMAND"
    assert workers.after.details["capacityType"] == "SPOT"
    before = 3 * (0.192 * H + 50 * 0.10)  # 435.48
    after = 3 * ((0.0806 + 0.0757) / 2 * H + 50 * 0.10)  # 186.15
    assert workers.monthly_before == pytest.approx(before)
    assert workers.monthly_after == pytest.approx(after)
    assert report.delta == pytest.approx(after - before)  # -249.33
    assert workers.after.details["spot"]["savingMonthly"] == pytest.approx(3 * H * ((0.192 + 0.172) / 2 - 0.07815), abs=0.01)


def test_a_preview_without_a_region_needs_one() -> None:
    """No aws provider step and no --region: a clear error instead of a guess."""
    with pytest.raises(MissingRegion, match="pass --region"):
        report_of("preview_replace_capacity.json")


def test_delete_takes_the_monthly_cost_to_zero() -> None:
    """Tearing a stack down: every priced resource before, nothing after, -100%."""
    report = report_of("preview_delete.json")
    drivers = 2 * (0.126 * H + 40 * 0.10)  # r5.large in us-east-1: 191.96
    assert by_name(report, "drivers").monthly_before == pytest.approx(drivers)
    assert report.total_before == pytest.approx(0.10 * H + drivers + 0.045 * H + 0.005 * H)  # 301.46
    assert report.total_after == 0.0
    assert report.delta_percent == pytest.approx(-100.0)


def test_unknowns_and_secrets() -> None:
    """Hidden values come from the current state when there is one; otherwise the resource is listed, not guessed."""
    report = report_of("preview_unknowns.json")
    executors = by_name(report, "executors")
    spot = (0.073 + 0.0688) / 2 * H + 100 * 0.10
    assert executors.assumed == ["scalingConfig.desiredSize"]
    assert executors.monthly_before == pytest.approx(2 * spot)  # 123.51
    assert executors.monthly_after == pytest.approx(2 * spot)  # desired size assumed unchanged
    assert executors.after.details["nodes"] == {"min": 0, "desired": 2, "max": 30}

    drivers = by_name(report, "drivers")  # capacityType is [secret] in the new state
    assert drivers.assumed == ["capacityType"]
    assert drivers.after.details["capacityType"] == "ON_DEMAND"
    assert drivers.monthly_after == pytest.approx(2 * (0.192 * H + 5))  # 290.32

    batch, hidden = by_name(report, "batch"), by_name(report, "hidden-scaling")
    assert batch.after.details["reason"] == "instanceTypes is not known until apply"
    assert hidden.after.details["reason"] == "scalingConfig is not known until apply"
    assert {r.name for r in report.unpriced} == {"batch", "hidden-scaling"}
    assert by_name(report, "nat-secret").monthly_after == pytest.approx(0.045 * H)  # its hidden inputs do not matter
    assert report.total_before == pytest.approx(2 * spot + 0.192 * H + 5)  # 268.67
    assert report.total_after == pytest.approx(2 * spot + 2 * (0.192 * H + 5) + 0.045 * H)  # 446.68


def test_pulumi_eks_component_and_its_child_are_counted_once() -> None:
    """The real aws:eks child is priced; its eks:index component is marked included, with or without a parent field."""
    report = report_of("preview_eks_children.json")
    child = by_name(report, "nodegroups-executors", "aws:eks/nodeGroup:NodeGroup")
    component = by_name(report, "nodegroups-executors", "eks:index:ManagedNodeGroup")
    assert component.category == "included" and component.after.details["pricedThrough"] == child.urn
    # The drivers' child has no `parent` field: found through its URN's type chain and name.
    assert by_name(report, "nodegroups-drivers", "eks:index:ManagedNodeGroup").category == "included"
    assert by_name(report, "cluster-eks", "eks:index:Cluster").category == "included"
    executors = 10 * ((0.073 + 0.0688 + 0.0836 + 0.0742 + 0.066) / 5 * H + 100 * 0.10)  # 633.78
    drivers = 0.192 * H + 50 * 0.10  # 145.16 per node
    fixed = 0.10 * H + 0.045 * H + 0.005 * H
    assert child.monthly_after == pytest.approx(executors)
    assert report.total_before == pytest.approx(fixed + drivers)  # 254.66
    assert report.total_after == pytest.approx(fixed + 0.045 * H + 0.005 * H + executors + 2 * drivers)  # 1070.10


def test_spot_summary_sums_the_spot_groups() -> None:
    """The comment's Spot headline: Spot cost vs the same types On-Demand, at desired and at max size."""
    summary = report_of("preview_eks_children.json").spot_summary("after")
    spot_mean = (0.073 + 0.0688 + 0.0836 + 0.0742 + 0.066) / 5
    od_mean = (0.192 + 0.172 + 0.226 + 0.206 + 0.2) / 5
    assert summary["groups"] == 1
    assert summary["savingMonthly"] == pytest.approx(10 * H * (od_mean - spot_mean), abs=0.02)  # 920.38
    assert summary["savingMonthlyAtMax"] == pytest.approx(50 * H * (od_mean - spot_mean), abs=0.05)  # 4601.92


NAT = "aws:ec2/natGateway:NatGateway"


def _nat(**extra: Any) -> dict[str, Any]:
    return state(NAT, {"subnetId": "subnet-0a1b2c3d"}, provider=f"{PROVIDER_URN}::prov-id", **extra)


def test_a_resource_the_stack_only_reads_is_never_its_to_pay_for() -> None:
    """pulumi's step ops (sdk/go/common/apitype/core.go OpType; steps built in
    pkg/resource/deploy/step.go, step_generator.go GenerateReadSteps): a read's new state is always
    External; `read` of a managed old state with the same ID hands it over ("relinquish"), so the
    stack stops paying; `discard` removes a resource that was read (no saving: it never paid);
    `read-replacement` + `delete-replaced` turn a managed resource into a read (its cost goes);
    `discard-replaced` drops a read replaced by a managed resource (its cost comes). The preview
    marks external states `external: true` (apitype.ResourceV3, pkg/display/json.go). Hand sums:
    before = relinquished + read-replaced NAT gateways, after = the one replacing a read."""
    nat = 0.045 * H
    relinquished, reread, discarded, to_read, from_read = (urn(NAT, name) for name in (
        "relinquished", "reread", "discarded", "to-read", "from-read"))
    document = {"steps": [
        provider_step(),
        step("read", relinquished, _nat(), _nat(external=True)),
        step("read", reread, _nat(external=True), _nat(external=True)),
        step("discard", discarded, _nat(external=True)),
        step("read-replacement", to_read, _nat(), _nat(external=True)),
        step("replace", to_read, _nat(), _nat(external=True)),
        step("delete-replaced", to_read, _nat()),
        step("create-replacement", from_read, _nat(external=True), _nat()),
        step("replace", from_read, _nat(external=True), _nat()),
        step("discard-replaced", from_read, _nat(external=True)),
    ]}
    report = report_of_document(document)
    sides = {r.name: (r.monthly_before, r.monthly_after) for r in report.resources if r.type == NAT}
    assert sides == {"relinquished": (pytest.approx(nat), 0.0), "reread": (0.0, 0.0), "discarded": (0.0, 0.0),
                     "to-read": (pytest.approx(nat), 0.0), "from-read": (0.0, pytest.approx(nat))}
    assert report.total_before == pytest.approx(2 * nat)
    assert report.total_after == pytest.approx(nat)
    assert by_name(report, "discarded").category == "external"


def test_without_external_flags_the_op_says_which_side_was_read() -> None:
    """The Automation API's step events carry no `external` field (pulumi sdk/python
    automation/events.py StepEventStateMetadata): a read, a discard and a discard-replaced are
    still not priced on their read side, and a plain re-read of a `.get()` resource is no saving."""
    nat = 0.045 * H
    document = {"steps": [
        provider_step(),
        step("read", urn(NAT, "reread"), _nat(), _nat()),
        step("discard", urn(NAT, "discarded"), _nat()),
        step("create-replacement", urn(NAT, "from-read"), _nat(), _nat()),
        step("replace", urn(NAT, "from-read"), _nat(), _nat()),
        step("discard-replaced", urn(NAT, "from-read"), _nat()),
    ]}
    report = report_of_document(document)
    assert (report.total_before, report.total_after) == (0.0, pytest.approx(nat))
