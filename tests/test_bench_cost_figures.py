"""Figures 1-3 price the real dev plan with the committed snapshot, as they say they do.

The expected numbers are recomputed here from the raw snapshot JSON and Pulumi.dev.yaml,
without the cost package, so a figure that priced the wrong group, region or size fails.
Whether a figure meets its target is the benchmark's business, never a test's.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import fmean
from typing import Any

import pytest
import yaml

from bench import cost_figures
from cost.snapshot import latest_snapshot_path, load_snapshot

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def prices() -> dict[str, Any]:
    return json.loads(latest_snapshot_path().read_text())


@pytest.fixture(scope="module")
def dev() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]


def priced(types: list[str], table: dict[str, Any]) -> list[str]:
    """The types the snapshot has a Spot price for: cost prices a Spot group over those and says which
    it lacks (the dev executors list m5n, m5dn, m5zn, m6id, m6in, m6idn and m7a, which snapshot
    2026-11-25 does not price yet)."""
    return [t for t in types if t in table["spotHour"]]


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    """Figures 1-3 as `python -m bench --quick` computes them, by their name's first words."""
    measured = cost_figures.measure(quick=True)
    assert len(measured) == 3
    return {figure.name.split(":")[0]: figure for figure in measured}


def test_executor_capacity_is_priced_per_snapshot_region_from_the_dev_executor_types(
    figures: dict[str, Any], prices: dict[str, Any], dev: dict[str, Any]
) -> None:
    """Spot mean over the dev executors' types against the On-Demand mean, root volumes on both, in every region."""
    figure = figures["executor capacity"]
    executors = dev["spark-eks-spot:executors"]
    types, disk = executors["instanceTypes"], executors["diskSizeGib"]
    hours, nodes = prices.get("hoursPerMonth", 730), figure.details["nodes"]
    assert set(figure.details["regions"]) == set(prices["regions"])
    expected = {}
    for region, table in prices["regions"].items():
        volume = disk * table["ebsGbMonth"]["gp2"]
        spot = nodes * (fmean(table["spotHour"][t] for t in priced(types, table)) * hours + volume)
        on_demand = nodes * (fmean(table["onDemandHour"][t] for t in priced(types, table)) * hours + volume)
        expected[region] = spot / on_demand
        assert figure.details["regions"][region]["ratio"] == pytest.approx(spot / on_demand, abs=1e-4)
    assert figure.value == pytest.approx(max(expected.values()), abs=1e-4)
    assert figure.passed == all(ratio <= cost_figures.SPOT_TARGET for ratio in expected.values())


def test_seed_floor_is_one_on_demand_and_one_spot_m5_xlarge_with_one_nat() -> None:
    """The seed's floor is the dev plan edited, keeping only what the seed ran all the time."""
    seed = cost_figures.seed_floor_plan(cost_figures.dev_plan())
    groups = [r["inputs"] for r in seed["resources"] if r["type"] == cost_figures.NODE_GROUP]
    assert sorted((g["capacityType"], tuple(g["instanceTypes"]), g["scalingConfig"]["desiredSize"]) for g in groups) == [
        ("ON_DEMAND", ("m5.xlarge",), 1),
        ("SPOT", ("m5.xlarge",), 1),
    ]
    for type_token in (cost_figures.NAT_GATEWAY, cost_figures.PUBLIC_IPV4, "eks:index:Cluster"):
        assert sum(r["type"] == type_token for r in seed["resources"]) == 1


def test_idle_floors_are_the_snapshot_prices_of_the_always_on_items(
    figures: dict[str, Any], prices: dict[str, Any], dev: dict[str, Any]
) -> None:
    """Control plane, NAT, its IPv4 and the nodes at minimum size (with their root volumes), nothing else.

    The system group's t3.medium has no price in snapshot 2026-11-25, so cost leaves that node out of
    the dev total and lists it as not in totals; until the snapshot prices it this figure is low by
    one t3.medium and its 20 GiB volume."""
    figure = figures["idle floor"]
    table = prices["regions"][dev["aws:region"]]
    hours = prices.get("hoursPerMonth", 730)
    drivers, executors = dev["spark-eks-spot:drivers"], dev["spark-eks-spot:executors"]
    gp2 = table["ebsGbMonth"]["gp2"]
    shared = hours * (table["eksClusterHour"] + table["natGatewayHour"] + table["publicIpv4Hour"])
    driver_node = table["onDemandHour"][drivers["instanceTypes"][0]] * hours + drivers["diskSizeGib"] * gp2
    executor_node = fmean(table["spotHour"][t] for t in priced(executors["instanceTypes"], table)) * hours + executors["diskSizeGib"] * gp2
    ours = shared + drivers["minSize"] * driver_node + executors["minSize"] * executor_node
    seed = (shared + table["onDemandHour"]["m5.xlarge"] * hours + drivers["diskSizeGib"] * gp2
            + table["spotHour"]["m5.xlarge"] * hours + executors["diskSizeGib"] * gp2)
    assert figure.details["monthlyDev"] == pytest.approx(ours, abs=0.01)
    assert figure.details["monthlySeed"] == pytest.approx(seed, abs=0.01)
    assert figure.value == pytest.approx(ours / seed, rel=1e-6)
    # The S3 gateway endpoint is free (AWS Prescriptive Guidance WKLD.12: gateway endpoints "come at
    # no additional charge"); until cost/ prices it at $0 it is left out of the totals, which is the same sum.
    assert set(figure.details["notInTotals"]) <= {
        "aws:ec2/vpcEndpoint:VpcEndpoint::network-s3", "eks:index:ManagedNodeGroup::nodegroups-system"
    }
    if "t3.medium" not in table["onDemandHour"]:
        assert "eks:index:ManagedNodeGroup::nodegroups-system" in figure.details["notInTotals"]


def test_workload_differs_from_all_on_demand_only_by_the_executor_hours(
    figures: dict[str, Any], prices: dict[str, Any], dev: dict[str, Any]
) -> None:
    """80 executor node-hours on Spot (mean) against the same hours On-Demand (the group's first type)."""
    figure = figures["reference workload"]
    table = prices["regions"][dev["aws:region"]]
    types = dev["spark-eks-spot:executors"]["instanceTypes"]
    executor_hours = cost_figures.WORKLOAD_JOBS * cost_figures.EXECUTORS_PER_JOB
    assert figure.details["executorNodeHours"] == executor_hours == 80
    saving = executor_hours * (table["onDemandHour"][types[0]] - fmean(table["spotHour"][t] for t in priced(types, table)))
    assert figure.details["hourAllOnDemand"] - figure.details["hourDesign"] == pytest.approx(saving, abs=1e-3)
    assert figure.value == pytest.approx(figure.details["hourDesign"] / figure.details["hourAllOnDemand"], abs=1e-4)


def test_workload_plan_sizes_the_groups_for_four_jobs_of_twenty_executors() -> None:
    """A driver node per job, a node per executor, and max sizes raised so EKS would accept the sizes."""
    plan = cost_figures.workload_plan(cost_figures.dev_plan(), "ON_DEMAND")
    drivers = cost_figures.node_group(plan, "drivers")["inputs"]
    executors = cost_figures.node_group(plan, "executors")["inputs"]
    assert drivers["scalingConfig"]["desiredSize"] == 4
    assert executors["scalingConfig"]["desiredSize"] == 80 <= executors["scalingConfig"]["maxSize"]
    assert executors["capacityType"] == "ON_DEMAND"
    # The cached plan is never edited in place: the next figure starts from the real one.
    fresh = cost_figures.node_group(cost_figures.dev_plan(), "executors")["inputs"]
    assert (fresh["capacityType"], fresh["scalingConfig"]["desiredSize"]) == ("SPOT", 0)


def test_a_plan_without_the_group_is_refused_with_one_line_naming_it() -> None:
    """A renamed group is named in the error rather than priced as nothing."""
    plan = cost_figures.dev_plan()
    plan["resources"] = [r for r in plan["resources"] if not r["name"].endswith("-executors")]
    with pytest.raises(cost_figures.PlanShapeError, match=r"0 eks:index:ManagedNodeGroup named \*-executors"):
        cost_figures.executor_capacity_figure(plan, load_snapshot())
