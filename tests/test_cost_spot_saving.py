"""The Spot saving against the same capacity On-Demand, per group and in total, at the priced size
and at max size, in every format (issue 13, item 13).

"Same capacity": as many nodes of the same instance types On-Demand, with the same root volumes;
the On-Demand price is the mean over the group's types, as the Spot price is (the estimator's rule
for a Spot group, docs/cost.md "What it prices"). Expected figures are summed here from the raw
snapshot file, not by the cost package.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import fmean
from typing import Any

import pytest

from cost.cli import main
from tests.cost_helpers import AS_OF, H, SNAPSHOT_PATH, node_group_inputs, provider_step, report_of_document, snapshot, state, step, urn

XLARGE = ["m5.xlarge", "m5a.xlarge", "m5d.xlarge", "m5ad.xlarge", "m4.xlarge"]
TWO_XLARGE = ["m5.2xlarge", "m5a.2xlarge", "m5d.2xlarge", "m6i.2xlarge"]


def preview() -> dict[str, Any]:
    group = "eks:index:ManagedNodeGroup"
    return {"steps": [
        provider_step(),
        step("create", urn(group, "spot-small"), new=state(group, node_group_inputs("SPOT", XLARGE, 0, 4, 20))),
        step("create", urn(group, "spot-large"), new=state(group, node_group_inputs("SPOT", TWO_XLARGE, 1, 2, 10, disk=200))),
        step("create", urn(group, "drivers"), new=state(group, node_group_inputs("ON_DEMAND", ["m5.xlarge"], 1, 1, 3, disk=50))),
    ]}


def expected() -> dict[str, dict[str, float]]:
    """Hand sums from the raw snapshot (us-west-2), independent of the cost package's own code."""
    west = snapshot().regions["us-west-2"]
    out = {}
    for name, types, nodes, maximum, disk in (("spot-small", XLARGE, 4, 20, 100), ("spot-large", TWO_XLARGE, 2, 10, 200)):
        spot_node = fmean(west["spotHour"][t] for t in types) * H + disk * 0.10
        od_node = fmean(west["onDemandHour"][t] for t in types) * H + disk * 0.10
        out[name] = {"spot": nodes * spot_node, "od": nodes * od_node, "saving": nodes * (od_node - spot_node),
                     "savingAtMax": maximum * (od_node - spot_node), "spotAtMax": maximum * spot_node, "odAtMax": maximum * od_node}
    return out


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> str:
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(preview()))
    assert main(["diff", str(path), "--prices", str(SNAPSHOT_PATH), *AS_OF, "--format", fmt]) == 0
    return capsys.readouterr().out


def test_each_group_and_the_total_at_the_priced_size_and_at_max() -> None:
    report = report_of_document(preview())
    want = expected()
    for name, figures in want.items():
        spot = next(r for r in report.resources if r.name == name).after.details["spot"]
        assert spot["savingMonthly"] == pytest.approx(figures["saving"], abs=0.01)
        assert spot["savingMonthlyAtMax"] == pytest.approx(figures["savingAtMax"], abs=0.01)
        assert spot["savingPercent"] == pytest.approx(100 * figures["saving"] / figures["od"], abs=0.05)
    total = report.spot_summary("after")
    assert total["groups"] == 2  # the On-Demand drivers are not a Spot group
    assert total["savingMonthly"] == pytest.approx(sum(f["saving"] for f in want.values()), abs=0.02)
    assert total["savingMonthlyAtMax"] == pytest.approx(sum(f["savingAtMax"] for f in want.values()), abs=0.02)


def test_markdown_shows_per_group_savings_and_the_total(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(tmp_path, capsys, "markdown")
    want = expected()
    saving, at_max = sum(f["saving"] for f in want.values()), sum(f["savingAtMax"] for f in want.values())
    assert f"#### Spot saving: ${saving:,.2f}/month at the priced size, ${at_max:,.2f}/month at max size, versus the same capacity On-Demand" in out
    for name, f in want.items():
        row = next(line for line in out.splitlines() if line.startswith(f"| `{name}` |") and " vs " in line)
        assert f"${f['spot']:,.2f} vs ${f['od']:,.2f} | ${f['saving']:,.2f} ({100 * f['saving'] / f['od']:.0f}%)" in row
        assert row.endswith(f"${f['spotAtMax']:,.2f} vs ${f['odAtMax']:,.2f} | ${f['savingAtMax']:,.2f} |")
    total = next(line for line in out.splitlines() if line.startswith("| **all Spot groups** |"))
    assert f"**${saving:,.2f}**" in total and total.endswith(f"**${at_max:,.2f}** |")


def test_table_and_json_show_the_same(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    want = expected()
    table = run(tmp_path, capsys, "table").splitlines()
    header = next(i for i, line in enumerate(table) if line.startswith("SPOT GROUP"))
    rows = {line.split()[0]: line.split()[1:] for line in table[header + 1: header + 4]}
    for name, f in want.items():
        assert rows[name] == [f"${f['spot']:,.2f}", f"${f['od']:,.2f}", f"${f['saving']:,.2f}", f"${f['savingAtMax']:,.2f}"]
    assert rows["total"][2] == f"${sum(f['saving'] for f in want.values()):,.2f}"
    document = json.loads(run(tmp_path, capsys, "json"))
    groups = {g["name"]: g for g in document["spotAfter"]["byGroup"]}
    assert set(groups) == set(want)
    for name, f in want.items():
        assert groups[name]["savingMonthly"] == pytest.approx(f["saving"], abs=0.01)
        assert groups[name]["savingMonthlyAtMax"] == pytest.approx(f["savingAtMax"], abs=0.01)
    assert document["spotAfter"]["savingMonthlyAtMax"] == pytest.approx(sum(f["savingAtMax"] for f in want.values()), abs=0.02)
