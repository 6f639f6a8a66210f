"""Offline plan → cost round trip: the project's own program under Pulumi's mocks, dev against a prod-sized head.

The base is the dev stack (Pulumi.dev.yaml). The head is the same config grown the way
a production stack grows: three AZs with a NAT gateway each, two drivers, and ten Spot
executors of four 2xlarge types. Figures are hand sums over snapshot 2026-12-01, the first
that prices the system group's t3.medium: the dev floor is the control plane, one NAT gateway
and its IPv4, and one system node; drivers and executors idle at zero nodes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cost.cli import main
from cost.inputs import changes_from_plans, plan_states
from cost.render import MARKER, render_markdown
from cost.report import build_report
from cost.snapshot import PRICES_DIR, load_snapshot
from infra.plan import run_plan, stack_config
from tests.cost_helpers import AS_OF, context

H = 730
SNAPSHOT = PRICES_DIR / "aws-2026-12-01.json"
EXECUTOR_TYPES = ["m5.2xlarge", "m5a.2xlarge", "m5d.2xlarge", "m6i.2xlarge"]


def prod_sized(config: dict[str, str]) -> dict[str, str]:
    grown = dict(config)
    network = json.loads(grown["spark-eks-spot:network"])
    network.update(availabilityZones=3, natGateways="perAz")
    drivers = json.loads(grown["spark-eks-spot:drivers"])
    drivers.update(minSize=2, desiredSize=2, maxSize=5)
    executors = json.loads(grown["spark-eks-spot:executors"])
    executors.update(instanceTypes=EXECUTOR_TYPES, minSize=0, desiredSize=10, maxSize=50)
    grown.update({
        "spark-eks-spot:network": json.dumps(network),
        "spark-eks-spot:drivers": json.dumps(drivers),
        "spark-eks-spot:executors": json.dumps(executors),
    })
    return grown


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both plans, as `python -m infra.plan --json` would print them, also written to files."""
    dev = stack_config("dev")
    base = run_plan(dev, stack="dev").as_json()
    head = run_plan(prod_sized(dev), stack="dev").as_json()
    folder = tmp_path_factory.mktemp("plans")
    (folder / "base.json").write_text(json.dumps(base))
    (folder / "head.json").write_text(json.dumps(head))
    return {"base": base, "head": head, "dir": folder}


def test_the_prices_used_here_are_the_snapshots() -> None:
    """The hand sums below use these us-west-2 prices; each Spot price is the snapshot's stated
    estimate, On-Demand × (1 − the Spot Instance Advisor's savings), rounded to 4 places."""
    west = load_snapshot(SNAPSHOT).regions["us-west-2"]
    assert [west["spotHour"][t] for t in EXECUTOR_TYPES] == [0.1574, 0.1514, 0.1401, 0.1421]
    for t in EXECUTOR_TYPES:
        assert west["spotHour"][t] == round(west["onDemandHour"][t] * (1 - west["spotSavingsPercent"][t] / 100), 4)
    assert (west["onDemandHour"]["m5.xlarge"], west["onDemandHour"]["t3.medium"]) == (0.192, 0.0416)
    assert (west["natGatewayHour"], west["publicIpv4Hour"], west["eksClusterHour"], west["ebsGbMonth"]["gp2"]) == (0.045, 0.005, 0.10, 0.10)


SYSTEM_NODE = 0.0416 * H + 20 * 0.10  # one t3.medium and its 20 GiB gp2 root volume: 32.37
DEV_FLOOR = 0.10 * H + 0.045 * H + 0.005 * H + SYSTEM_NODE  # 141.87


def test_dev_plan_costs_the_control_plane_one_nat_and_the_system_node(plans: dict[str, Any]) -> None:
    """dev: EKS 73.00 + NAT 32.85 + its IPv4 3.65 + the system node 32.37; drivers and executors at zero."""
    states = plan_states(plans["base"], "base")
    report = build_report(changes_from_plans({}, states), load_snapshot(SNAPSHOT), "estimate", context())
    assert report.total_after == pytest.approx(DEV_FLOOR)
    system = next(r for r in report.resources if r.name == "nodegroups-system")
    assert system.monthly_after == pytest.approx(SYSTEM_NODE)
    assert {r.urn for r in report.unpriced} <= {"aws:ec2/vpcEndpoint:VpcEndpoint::network-s3"}
    executors = next(r for r in report.resources if r.name == "nodegroups-executors")
    assert executors.monthly_after == 0.0
    # Every one of the 15 default executor types has a Spot price in us-west-2 now.
    west = load_snapshot(SNAPSHOT).regions["us-west-2"]["spotHour"]
    types = executors.after.details["instanceTypes"]
    assert len(types) == 15 and all(t in west for t in types)
    assert executors.after.details["monthlyAtMax"] == pytest.approx(20 * (sum(west[t] for t in types) / 15 * H + 100 * 0.10), abs=0.01)


def test_dev_to_prod_sized_round_trip(plans: dict[str, Any]) -> None:
    """Every priced change of the head appears with its hand-computed figure, and the totals add up."""
    base = plan_states(plans["base"], "base")
    head = plan_states(plans["head"], "head")
    report = build_report(changes_from_plans(base, head), load_snapshot(SNAPSHOT), "diff", context())
    by_key = {r.urn: r for r in report.resources}

    executors = by_key["eks:index:ManagedNodeGroup::nodegroups-executors"]
    spot_mean = (0.1574 + 0.1514 + 0.1401 + 0.1421) / 4  # 0.14775
    assert executors.op == "update"
    assert executors.monthly_after == pytest.approx(10 * (spot_mean * H + 100 * 0.10))  # 1178.58
    assert executors.after.details["instanceTypes"] == EXECUTOR_TYPES

    drivers = by_key["eks:index:ManagedNodeGroup::nodegroups-drivers"]
    assert (drivers.monthly_before, drivers.monthly_after) == (0.0, pytest.approx(2 * 145.16))

    created = sorted(r.urn for r in report.resources if r.op == "create" and r.category == "fixed")
    assert created == [
        "aws:ec2/eip:Eip::network-nat-1", "aws:ec2/eip:Eip::network-nat-2",
        "aws:ec2/natGateway:NatGateway::network-nat-1", "aws:ec2/natGateway:NatGateway::network-nat-2",
    ]
    cluster = by_key["eks:index:Cluster::cluster-eks"]  # a third AZ's subnets: an update that costs nothing more
    assert (cluster.op, cluster.delta) == ("update", 0.0)
    after = 0.10 * H + 3 * (0.045 * H + 0.005 * H) + SYSTEM_NODE + 2 * 145.16 + 10 * (spot_mean * H + 10)  # 1683.76
    assert report.total_before == pytest.approx(DEV_FLOOR)
    assert report.total_after == pytest.approx(after)
    # The S3 gateway endpoint is free (AWS Prescriptive Guidance WKLD.12: gateway endpoints "come at
    # no additional charge"); until cost/ prices it at $0 it is listed unpriced, adding nothing either way.
    assert {r.urn for r in report.unpriced} <= {"aws:ec2/vpcEndpoint:VpcEndpoint::network-s3"}


def test_cli_renders_the_pull_request_comment_for_the_round_trip(plans: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m cost diff BASE HEAD --format markdown` prints the comment: marker, headline, Spot saving."""
    folder = plans["dir"]
    code = main(["diff", str(folder / "base.json"), str(folder / "head.json"), "--format", "markdown", "--prices", str(SNAPSHOT), *AS_OF])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(MARKER + "\n")
    assert "### Monthly cost: $141.87 → $1,683.76 (+$1,541.89, +1086.9%)" in out
    assert "| `nodegroups-executors` | ManagedNodeGroup: SPOT 15 types, nodes 0/0/20 → SPOT 4 types, nodes 0/10/50 | update | $0.00 | $1,178.57 | +$1,178.57 |" in out
    assert "#### Spot saving:" in out and "2026-12-01" in out


def test_budget_gate_on_the_round_trip(plans: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """An increase of $1,541.89 trips a $1,000 budget (exit 3) but not a $1,600 one: every node group
    is priced, so nothing unpriced fails the gate either."""
    folder = plans["dir"]
    files = [str(folder / "base.json"), str(folder / "head.json"), "--prices", str(SNAPSHOT), *AS_OF]
    assert main(["diff", *files, "--fail-above", "1000"]) == 3
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "budget: the monthly increase +$1,541.89 is above --fail-above $1,000.00"
    assert main(["diff", *files, "--fail-above", "1600"]) == 0
    assert "nodegroups-system" not in capsys.readouterr().err


def test_render_is_stable_for_the_same_plans(plans: dict[str, Any]) -> None:
    """Same plans, same comment: the workflow's update is a no-op when nothing changed."""
    snapshot = load_snapshot(SNAPSHOT)
    changes = changes_from_plans(plan_states(plans["base"]), plan_states(plans["head"]))
    assert render_markdown(build_report(changes, snapshot, "diff", context())) == render_markdown(build_report(changes, snapshot, "diff", context()))
