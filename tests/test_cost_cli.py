"""The `python -m cost` command line: formats, the JSON contract, exit codes and one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cost.cli import main
from cost.render import MARKER
from tests.cost_helpers import AS_OF, FIXTURES, ROOT, SNAPSHOT_PATH

SNAPSHOT = SNAPSHOT_PATH
CHILDREN = str(FIXTURES / "preview_eks_children.json")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--prices", str(SNAPSHOT), *AS_OF] if argv and argv[0] in ("diff", "estimate") else list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_output_follows_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    """currency, priceSnapshot, totals and per-resource figures are there, as JSON numbers."""
    code, out, _ = run(capsys, "diff", CHILDREN, "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["currency"] == "USD"
    assert document["priceSnapshot"] == "2026-11-25"
    assert document["hoursPerMonth"] == 730
    assert (document["totalMonthlyBefore"], document["totalMonthlyAfter"], document["deltaMonthly"]) == (254.66, 1070.1, 815.44)
    for resource in document["resources"]:
        assert set(resource) == {"urn", "type", "name", "op", "monthlyBefore", "monthlyAfter", "deltaMonthly", "details"}
        for key in ("monthlyBefore", "monthlyAfter", "deltaMonthly"):
            assert isinstance(resource[key], (int, float)), (resource["urn"], key)
    executors = next(r for r in document["resources"] if r["type"] == "aws:eks/nodeGroup:NodeGroup" and r["name"] == "nodegroups-executors")
    assert executors["deltaMonthly"] == 633.78
    assert executors["details"]["after"]["hourlyPerNode"]["byType"]["m5d.xlarge"] == 0.0836
    assert document["usageBased"] == [
        "urn:pulumi:dev::spark-eks-spot::spark-eks-spot:infra:Storage$aws:s3/bucket:Bucket::storage-data"]


def test_json_marks_what_is_left_out_of_the_totals(capsys: pytest.CaptureFixture[str]) -> None:
    """A resource that cannot be priced has null figures and is named in notInTotals."""
    code, out, _ = run(capsys, "diff", str(FIXTURES / "preview_unknowns.json"), "--format", "json")
    document = json.loads(out)
    assert code == 0
    assert sorted(u.rsplit("::", 1)[1] for u in document["notInTotals"]) == ["batch", "hidden-scaling"]
    batch = next(r for r in document["resources"] if r["name"] == "batch")
    assert (batch["monthlyAfter"], batch["deltaMonthly"], batch["details"]["inTotals"]) == (None, None, False)


def test_table_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", str(FIXTURES / "preview_delete.json"))
    assert code == 0
    assert out.splitlines()[0] == "Monthly cost: $301.46 → $0.00 (-$301.46, -100.0%) · at max size $493.42 → $0.00 (-$493.42)"
    assert "AWS price snapshot 2026-11-25" in out.splitlines()[1]
    # Two r5.large drivers now, up to four at max size: the delta at the desired size, then at max.
    assert any(line.split()[:3] == ["drivers", "NodeGroup", "delete"] and line.split()[-2:] == ["-$191.96", "-$383.92"]
               for line in out.splitlines())


def test_markdown_starts_with_the_marker_and_says_the_snapshot(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", CHILDREN, "--format", "markdown")
    assert code == 0
    assert out.splitlines()[0] == MARKER
    assert out.splitlines()[1] == "### Monthly cost: $254.66 → $1,070.10 (+$815.44, +320.2%) · at max size $1,812.53 → $4,040.68 (+$2,228.15)"
    assert "AWS price snapshot 2026-11-25" in out
    assert "#### Spot saving: $920.38/month at the priced size, $4,601.92/month at max size" in out
    # The eks:index components are included in their children, not shown as $0 rows.
    assert out.count("`nodegroups-executors` | NodeGroup") == 1
    assert "ManagedNodeGroup" not in out.split("#### Spot saving")[0]


def test_estimate_prices_the_after_side(capsys: pytest.CaptureFixture[str]) -> None:
    """estimate of a preview: what the stack costs once the preview is applied."""
    code, out, _ = run(capsys, "estimate", CHILDREN, "--format", "json")
    document = json.loads(out)
    assert code == 0
    assert document["mode"] == "estimate"
    assert (document["totalMonthlyBefore"], document["totalMonthlyAfter"]) == (0.0, 1070.1)


def test_region_flag_serves_previews_without_a_provider_step(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "diff", str(FIXTURES / "preview_replace_capacity.json"))
    assert code == 2 and err.count("\n") == 1 and "--region" in err
    code, out, _ = run(capsys, "diff", str(FIXTURES / "preview_replace_capacity.json"), "--region", "us-east-1", "--format", "json")
    assert code == 0 and json.loads(out)["deltaMonthly"] == -249.33


def test_budget_gate(capsys: pytest.CaptureFixture[str]) -> None:
    """--fail-above exits 3 above the budget, after printing the report; a decrease never trips it."""
    code, out, err = run(capsys, "diff", CHILDREN, "--fail-above", "800")
    assert code == 3 and out.startswith("Monthly cost:") and "above --fail-above $800.00" in err
    assert run(capsys, "diff", CHILDREN, "--fail-above", "815.44")[0] == 0
    assert run(capsys, "diff", str(FIXTURES / "preview_delete.json"), "--fail-above", "0")[0] == 0


@pytest.mark.parametrize(
    ("make", "argv", "expected"),
    [
        (None, ["diff", "{tmp}/missing.json"], "missing.json: no such file"),
        ("{", ["diff", "{file}"], "not JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
        ("", ["diff", "{file}"], "is empty; did the command that writes it fail?"),
        ('{"steps": [{"op": "create"}]}', ["diff", "{file}"], "steps[0].urn is missing"),
        ('{"steps": [{"op": "create", "urn": "u", "newState": []}]}', ["diff", "{file}"], "steps[0].newState must be an object"),
        ('{"resources": []}', ["diff", "{file}"], "one offline plan has nothing to compare; pass BASE.json HEAD.json, or use `estimate`"),
        ('{"steps": []}', ["diff", "{file}", "{file}"], "diff of two files needs two offline plans"),
        ('{"resources": [{"type": "t"}]}', ["diff", "{file}", "{file}"], "resources[0].name is missing"),
        ('[1, 2]', ["estimate", "{file}"], "neither a preview (`steps`) nor an offline plan (`resources`)"),
        ('{"steps": []}', ["diff", "{file}", "{file}", "{file}"], "diff takes PREVIEW.json, or BASE.json HEAD.json"),
        ('{"steps": []}', ["diff", "{file}", "--format", "html"], "invalid choice: 'html'"),
        ('{"steps": []}', ["diff", "{file}", "--fail-above", "-5"], "'-5' must be zero or more"),
        ('{"steps": []}', ["diff", "{file}", "--fail-above", "lots"], "'lots' is not an amount in USD"),
        ('{"steps": []}', ["diff", "{file}", "--prices", "{tmp}/nope.json"], "nope.json: no such price snapshot"),
        ('{"schema": 1, "date": "2026-01-01", "regions": {"us-east-1": {}}}', ["diff", CHILDREN, "--prices", "{file}"],
         "regions.us-east-1.eksClusterHour is missing"),
        ('{"steps": [{"op": "create", "urn": "urn:pulumi:s::p::aws:ec2/eip:Eip::ip", "newState": {"type": "aws:ec2/eip:Eip", "inputs": {}}}]}',
         ["diff", "{file}", "--region", "ap-south-1"],
         "region ap-south-1 is not in price snapshot 2026-11-25 (it has eu-west-1, us-east-1, us-west-2); run `python -m cost refresh-prices --region ap-south-1`"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: str | None, argv: list[str], expected: str
) -> None:
    """Every unreadable input: exit 2, one line on stderr naming the file or field, no traceback, nothing on stdout."""
    file = tmp_path / "input.json"
    if make is not None:
        file.write_text(make)
    args = [a.format(tmp=tmp_path, file=file) for a in argv]
    if "--prices" not in args:
        args += ["--prices", str(SNAPSHOT)]
    code = main(args)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("cost: error: ")
    assert expected in captured.err
    assert "Traceback" not in captured.err


def test_a_directory_is_not_a_json_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "diff", str(tmp_path))
    assert code == 2 and "is a directory" in err


def test_stdin_is_read_for_dash(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`pulumi preview --json | python -m cost diff -`."""
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO((FIXTURES / "preview_delete.json").read_text()))
    code, out, _ = run(capsys, "diff", "-", "--format", "json")
    assert code == 0 and json.loads(out)["deltaMonthly"] == -301.46


def test_module_entry_point_runs_as_a_process(tmp_path: Path) -> None:
    """The real `python -m cost` process: exit codes 0, 3 and 2 reach the shell."""
    command = [sys.executable, "-m", "cost", "diff", CHILDREN, "--format", "json", "--prices", str(SNAPSHOT), *AS_OF]
    ok = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and json.loads(ok.stdout)["deltaMonthly"] == 815.44
    gate = subprocess.run([*command, "--fail-above", "10"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert gate.returncode == 3
    bad = subprocess.run([sys.executable, "-m", "cost", "diff", str(tmp_path / "none.json")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_readme_example_is_the_current_rendering_of_the_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    """The README shows a real comment: the markdown of tests/fixtures/cost/preview_eks_children.json.

    The README's cost section or docs/cost.md must carry it.
    """
    code, out, _ = run(capsys, "diff", CHILDREN, "--format", "markdown")
    readmes = [p.read_text() for p in (ROOT / "docs" / "cost.md", ROOT / "README.md") if p.exists()]
    assert code == 0
    assert any(out.strip() in readme for readme in readmes)


def test_markdown_is_inert_whatever_the_preview_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A pull request controls resource names: they cannot add HTML, mentions or table rows to the comment."""
    name = "nat`|<img src=x onerror=alert(1)>@octo/team\n| forged | row |"
    preview = {"steps": [
        {"op": "sneaky<b>op", "urn": f"urn:pulumi:dev::p::aws:ec2/natGateway:NatGateway::{name}",
         "oldState": {"type": "aws:ec2/natGateway:NatGateway", "inputs": {}},
         "newState": {"type": "aws:ec2/natGateway:NatGateway", "inputs": {}}},
        {"op": "create", "urn": "urn:pulumi:dev::p::aws:weird/x:X::<script>",
         "newState": {"type": "aws:weird/x:X", "inputs": {}}},
    ]}
    file = tmp_path / "preview.json"
    file.write_text(json.dumps(preview))
    code, out, _ = run(capsys, "diff", str(file), "--region", "us-west-2", "--format", "markdown")
    assert code == 0
    # Inside a code span GitHub shows text as text; everywhere else nothing active may remain.
    outside_code = re.sub(r"`[^`\n]*`", "", out)
    assert "<img" not in outside_code and "<script>" not in outside_code and "<b>" not in outside_code
    assert "@octo" not in outside_code
    assert "`nat'" in out  # the name's own backtick cannot end its code span
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert not any(line.startswith("| forged") for line in rows)
    row = next(line for line in rows if "NatGateway" in line)
    assert len(re.split(r"(?<!\\)\|", row)) == 9  # seven cells (plus the empty ends): the name's pipes are escaped
