"""Budget gates that see the risk (issue 13, items 7 and 8).

Item 7: a change the tool cannot price (a load balancer, a Spot group whose types are unknown
until apply) used to pass `--fail-above` as if it cost nothing. Item 8: raising the executors'
maxSize from 20 to 1000 showed "(no change)" and passed, though the autoscaler may then run 980
more nodes. The exit codes are the project's: 3 when a gate trips, with one line per reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cost.cli import main
from tests.cost_helpers import AS_OF, H, SNAPSHOT_PATH, node_group_inputs, provider_step, state, step, urn

EXECUTOR_TYPES = ["m5.xlarge", "m5a.xlarge", "m5d.xlarge", "m5ad.xlarge", "m4.xlarge"]
SPOT_NODE = (0.073 + 0.0688 + 0.0836 + 0.0742 + 0.066) / 5 * H + 100 * 0.10  # us-west-2, 100 GiB gp2: $63.38


def cluster_step() -> dict[str, Any]:
    cluster = state("aws:eks/cluster:Cluster", {"version": "1.34", "upgradePolicy": {"supportType": "STANDARD"}})
    return step("same", urn("aws:eks/cluster:Cluster", "cluster"), cluster, cluster)


def max_size_preview(old_max: int, new_max: int) -> dict[str, Any]:
    group = "eks:index:ManagedNodeGroup"
    old = state(group, node_group_inputs("SPOT", EXECUTOR_TYPES, 0, 0, old_max))
    new = state(group, node_group_inputs("SPOT", EXECUTOR_TYPES, 0, 0, new_max))
    return {"steps": [provider_step(), cluster_step(), step("update", urn(group, "nodegroups-executors"), old, new)],
            "changeSummary": {"same": 2, "update": 1}}


def unpriced_preview() -> dict[str, Any]:
    hidden_types = node_group_inputs("SPOT", ["04da6b54-80e4-46f7-96ec-b56ff0331ba9"], 0, 2, 10)  # type: ignore[list-item]
    return {"steps": [
        provider_step(), cluster_step(),
        step("create", urn("aws:lb/loadBalancer:LoadBalancer", "ingress"), new=state("aws:lb/loadBalancer:LoadBalancer", {"loadBalancerType": "network"})),
        step("create", urn("aws:eks/nodeGroup:NodeGroup", "batch"), new=state("aws:eks/nodeGroup:NodeGroup", hidden_types)),
        step("create", urn("aws:ec2/natGateway:NatGateway", "nat"), new=state("aws:ec2/natGateway:NatGateway", {})),
    ]}


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], document: dict[str, Any], *flags: str) -> tuple[int, str, str]:
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(document))
    code = main(["diff", str(path), "--prices", str(SNAPSHOT_PATH), *AS_OF, *flags])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_an_unpriced_change_fails_the_gate_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The NAT gateway (+$32.85) is under the $100 budget, but the load balancer and the Spot group
    with unknown types could cost anything: exit 3 naming them; --allow-unpriced gates on the rest."""
    code, out, err = run(tmp_path, capsys, unpriced_preview(), "--fail-above", "100")
    assert code == 3 and out.startswith("Monthly cost:")
    assert err.strip() == ("budget: 2 changed resources could not be priced (ingress, batch), so the gate cannot see their cost; "
                           "price them or pass --allow-unpriced")
    code, _, err = run(tmp_path, capsys, unpriced_preview(), "--fail-above", "100", "--allow-unpriced")
    assert (code, err) == (0, "")
    code, _, err = run(tmp_path, capsys, unpriced_preview(), "--fail-above", "10", "--allow-unpriced")
    assert code == 3 and "the monthly increase +$32.85 is above --fail-above $10.00" in err
    # No gate asked for: the report is printed and the exit is 0, as before.
    assert run(tmp_path, capsys, unpriced_preview())[0] == 0


def test_an_unchanged_unpriced_resource_does_not_trip_the_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A load balancer that exists and does not change cannot change this pull request's cost: the
    headline still counts it as unpriced, the gate looks only at what changes."""
    balancer = state("aws:lb/loadBalancer:LoadBalancer", {"loadBalancerType": "network"})
    document = {"steps": [provider_step(), step("same", urn("aws:lb/loadBalancer:LoadBalancer", "ingress"), balancer, balancer),
                          step("create", urn("aws:ec2/eip:Eip", "ip"), new=state("aws:ec2/eip:Eip", {"domain": "vpc"}))]}
    code, out, err = run(tmp_path, capsys, document, "--fail-above", "100")
    assert (code, err) == (0, "")
    assert out.splitlines()[0].endswith(", +1 unpriced")


@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])
def test_every_format_shows_the_unpriced_count_in_the_headline(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    _code, out, _err = run(tmp_path, capsys, unpriced_preview(), "--format", fmt)
    if fmt == "json":
        document = json.loads(out)
        assert document["unpriced"] == 2 and document["headline"].endswith(", +2 unpriced")
        assert sorted(u.rsplit("::", 1)[1] for u in document["unpricedChanges"]) == ["batch", "ingress"]
    else:
        line = out.splitlines()[1 if fmt == "markdown" else 0]
        assert line.endswith(", +2 unpriced"), line


def test_raising_max_size_is_a_worst_case_change_and_has_its_own_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """executors maxSize 20 → 1000 at desired 0: nothing changes at the desired size (so --fail-above 0
    passes), but at max size 980 more Spot nodes of $63.38 each may run: +$62,110.05 a month, which
    --fail-above-max catches."""
    document = max_size_preview(20, 1000)
    worst = 980 * SPOT_NODE
    code, out, err = run(tmp_path, capsys, document, "--fail-above", "0")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "Monthly cost: $73.00 → $73.00 (no change) · at max size $1,340.55 → $63,450.60 (+$62,110.05)"
    assert f"{worst:,.2f}" == "62,110.05"
    row = next(line for line in out.splitlines() if line.startswith("nodegroups-executors"))
    assert row.split()[-2:] == ["$0.00", f"+${worst:,.2f}"]
    code, _, err = run(tmp_path, capsys, document, "--fail-above", "0", "--fail-above-max", "1000")
    assert code == 3
    assert err.strip() == f"budget: the monthly increase at max size +${worst:,.2f} is above --fail-above-max $1,000.00"
    assert run(tmp_path, capsys, document, "--fail-above-max", "70000")[0] == 0


def test_markdown_and_json_show_the_at_max_totals_next_to_the_desired(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = max_size_preview(20, 1000)
    before_max, after_max = 73 + 20 * SPOT_NODE, 73 + 1000 * SPOT_NODE
    _code, out, _err = run(tmp_path, capsys, document, "--format", "markdown")
    assert out.splitlines()[1] == (f"### Monthly cost: $73.00 → $73.00 (no change) · at max size ${before_max:,.2f} → "
                                   f"${after_max:,.2f} (+${after_max - before_max:,.2f})")
    assert f"| `nodegroups-executors` | ManagedNodeGroup: SPOT 5 types, nodes 0/0/20 → 0/0/1000 | update | $0.00 | $0.00 | $0.00 | +${980 * SPOT_NODE:,.2f} |" in out
    _code, out, _err = run(tmp_path, capsys, document, "--format", "json")
    report = json.loads(out)
    assert (report["totalMonthlyBefore"], report["totalMonthlyAfter"], report["deltaMonthly"]) == (73.0, 73.0, 0.0)
    assert report["totalMonthlyBeforeAtMax"] == pytest.approx(before_max, abs=0.01)
    assert report["totalMonthlyAfterAtMax"] == pytest.approx(after_max, abs=0.01)
    assert report["deltaMonthlyAtMax"] == pytest.approx(980 * SPOT_NODE, abs=0.01)
    executors = next(r for r in report["resources"] if r["name"] == "nodegroups-executors")
    assert executors["details"]["deltaMonthlyAtMax"] == pytest.approx(980 * SPOT_NODE, abs=0.01)


def test_help_lists_the_gates_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["diff", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--fail-above USD", "--fail-above-max USD", "--allow-unpriced", "--usage FILE", "--as-of YYYY-MM-DD", "--max-bytes N"):
        assert flag in text
    with pytest.raises(SystemExit):
        main(["--help"])
    assert ("exit codes: 0 ok 1 a step failed (AWS or GitHub refused the request or could not be reached) "
            "2 bad input, or a missing tool or credentials (one line on stderr: cost: error: ...) "
            "3 a budget gate tripped") in " ".join(capsys.readouterr().out.split())
