"""Snapshot 2026-12-01: every figure says where it came from, and the stacks price completely.

The file's instance prices are copies of AWS's own price data (Karpenter's generated price table for
us-east-1, the SkyPilot catalog's AWS price-list rows for us-west-2 and eu-west-1) and its Spot
prices estimates from the Spot Instance Advisor's savings; its notes and per-region fields say so.
These tests hold the file to what it states, and the cost tool to pricing every node group of the
dev and prod stacks with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any

import pytest
from botocore.stub import Stubber

from cost.refresh import refreshed_snapshot
from cost.snapshot import PRICES_DIR, latest_snapshot_path, load_snapshot
from infra.instance_types import INSTANCE_SPECS
from infra.plan import run_plan, stack_config
from tests.cost_helpers import ROOT
from tests.test_cost_refresh import client, expect_region

SNAPSHOT = PRICES_DIR / "aws-2026-12-01.json"
UNITS = {"medium": 0.25, "large": 0.5, "xlarge": 1, "2xlarge": 2, "4xlarge": 4}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(SNAPSHOT.read_text())


def test_it_is_the_newest_and_the_older_snapshot_is_kept() -> None:
    """Nothing overwritten: 2026-11-25 is still there, unchanged in date, and 2026-12-01 is what
    `cost` uses by default."""
    assert latest_snapshot_path() == SNAPSHOT
    assert load_snapshot(PRICES_DIR / "aws-2026-11-25.json").date == "2026-11-25"


def test_every_spot_price_is_its_stated_fraction_of_on_demand(document: dict[str, Any]) -> None:
    """Spot = On-Demand × (1 − s/100), s the advisor's savings recorded per type; nothing is measured,
    and the source says it is an estimate."""
    for region, prices in document["regions"].items():
        assert prices["spotMeasured"] == {}
        assert prices["spotSource"].startswith("estimate, not measured")
        assert set(prices["spotHour"]) == set(prices["spotSavingsPercent"]) <= set(prices["onDemandHour"])
        for instance_type, spot in prices["spotHour"].items():
            fraction = 1 - prices["spotSavingsPercent"][instance_type] / 100
            assert spot == round(prices["onDemandHour"][instance_type] * fraction, 4), (region, instance_type)


def test_us_east_1_prices_every_offered_type_on_demand(document: dict[str, Any]) -> None:
    """Karpenter's table (AWS Pricing API, us-east-1) has every type of infra/instance_types.py."""
    assert set(document["regions"]["us-east-1"]["onDemandHour"]) == set(INSTANCE_SPECS)


def test_derived_sizes_are_the_stated_multiple_of_a_read_size(document: dict[str, Any]) -> None:
    """A size not read from the catalog is its family's read size scaled by vCPU (AWS prices these
    families linearly; in us-east-1, where every size is read, each is within $0.0002 of that rule, AWS rounding to 4 places)."""
    east = document["regions"]["us-east-1"]["onDemandHour"]
    for instance_type, price in east.items():
        family, size = instance_type.split(".")
        assert price == pytest.approx(east[f"{family}.xlarge"] * UNITS[size], abs=2.1e-4), instance_type
    for region in ("us-west-2", "eu-west-1"):
        prices = document["regions"][region]
        assert prices["onDemandDerived"]
        for instance_type, rule in prices["onDemandDerived"].items():
            factor, _, base = rule.partition(" x ")
            assert prices["onDemandHour"][instance_type] == pytest.approx(prices["onDemandHour"][base] * float(factor), abs=1e-5)
            assert base not in prices["onDemandDerived"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stacks_price_completely(stack: str, tmp_path: Any) -> None:
    """`python -m cost estimate` of each stack's offline plan lists no node group as not priced (the
    free S3 gateway endpoint is the only resource cost cannot price yet); the only type it prices
    around is the prod Graviton group's m8g.2xlarge, which the snapshot has for us-east-1 only."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(run_plan(stack_config(stack), stack=stack).as_json()))
    done = subprocess.run([sys.executable, "-m", "cost", "estimate", str(plan), "--format", "json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["priceSnapshot"] == "2026-12-01"
    assert [u for u in report["notInTotals"] if "ManagedNodeGroup" in u] == []
    groups = {r["name"]: r["details"]["after"] for r in report["resources"] if r["type"] == "eks:index:ManagedNodeGroup"}
    assert {"nodegroups-system", "nodegroups-drivers", "nodegroups-executors"} <= set(groups)
    lacking = {name: a for name, group in groups.items() for a in group.get("assumptions", []) if "no " in a and "price" in a}
    assert lacking == ({} if stack == "dev" else {
        "nodegroups-executors-arm64": "no Spot price for m8g.2xlarge in the snapshot: priced over the other types"})


def test_refresh_carries_the_stated_fractions_with_the_estimates() -> None:
    """`refresh-prices` without --spot keeps each region's Spot estimates and the savings they were made
    from, so a refreshed file still states how every Spot figure was made."""
    previous = json.loads(SNAPSHOT.read_text())
    pricing = client("pricing", "us-east-1")
    with Stubber(pricing) as stub:
        expect_region(stub, "us-west-2", "USW2-", {"m5.xlarge": 0.192}, (0.045, 0.045), {"gp2": 0.1, "gp3": 0.08})
        document, _warnings = refreshed_snapshot(previous, ["us-west-2"], ["m5.xlarge"], pricing, None,
                                                 datetime(2027, 1, 5, tzinfo=timezone.utc))
    west, old = document["regions"]["us-west-2"], previous["regions"]["us-west-2"]
    assert (west["spotHour"], west["spotSavingsPercent"], west["spotSource"]) == (
        old["spotHour"], old["spotSavingsPercent"], old["spotSource"])
    assert "onDemandDerived" not in west  # every On-Demand price is the Pricing API's own now
