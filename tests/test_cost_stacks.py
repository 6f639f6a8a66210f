"""`python -m cost diff` over the offline plans of the project's own dev and prod stack files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cost.cli import main as cost_main
from cost.snapshot import load_snapshot
from tests.cost_helpers import AS_OF
from tests.infra_plans import stack_plan

HOURS = 730


@pytest.fixture(scope="module")
def plan_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("plans")
    base, head = directory / "dev.json", directory / "prod.json"
    base.write_text(json.dumps(stack_plan("dev").as_json()))
    head.write_text(json.dumps(stack_plan("prod").as_json()))
    return base, head


def test_dev_to_prod_prices_the_extra_nat_gateways_and_driver(plan_files: tuple[Path, Path], capsys) -> None:
    """Prod adds two NAT gateways (one per AZ) and a second On-Demand driver; each is priced from the snapshot."""
    assert cost_main(["diff", str(plan_files[0]), str(plan_files[1]), "--format", "json", *AS_OF]) == 0
    report = json.loads(capsys.readouterr().out)
    prices = load_snapshot()
    by_name = {r["name"]: r for r in report["resources"]}

    nat_month = round(prices.hourly("us-west-2", "natGatewayHour") * HOURS, 2)
    # nat-0 exists in both (its Name tag follows the cluster name, hence an update).
    assert [by_name[f"network-nat-{i}"]["op"] for i in range(3)] == ["update", "create", "create"]
    assert by_name["network-nat-0"]["deltaMonthly"] == 0
    assert by_name["network-nat-2"]["monthlyAfter"] == nat_month

    driver_hour = prices.instance_hour("us-west-2", "m5.xlarge", "ON_DEMAND")
    drivers = by_name["nodegroups-drivers"]
    assert drivers["op"] == "update"
    # One more m5.xlarge On-Demand node, plus its root volume.
    assert drivers["deltaMonthly"] >= round(driver_hour * HOURS, 2)
    assert report["totalMonthlyAfter"] > report["totalMonthlyBefore"]


def test_markdown_comment_for_dev_to_prod_starts_with_the_marker(plan_files: tuple[Path, Path], capsys) -> None:
    """The PR comment for the dev→prod change: hidden marker first, then the headline."""
    assert cost_main(["diff", str(plan_files[0]), str(plan_files[1]), "--format", "markdown", *AS_OF]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "<!-- spark-eks-spot:cost -->"
    assert lines[1].startswith("### Monthly cost: $")
