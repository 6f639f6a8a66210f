"""The pull-request workflow: its shape, and its pricing step's shell run for real.

No GitHub runner here, so the workflow's own `run:` scripts are executed with bash in a
temporary folder, with the variables the runner would set, against the real `python -m
cost`. Cloud-only steps (OIDC, Pulumi CLI) cannot run here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from cost.cli import build_parser
from cost.render import MARKER

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "preview.yml"
FIXTURES = Path(__file__).parent / "fixtures" / "cost"


def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def steps() -> list[dict[str, Any]]:
    return workflow()["jobs"]["cost"]["steps"]


def step(name: str) -> dict[str, Any]:
    return next(s for s in steps() if s.get("name") == name)


def test_triggers_and_permissions_are_least_privilege() -> None:
    """pull_request (never pull_request_target, which would hand fork code the secrets); read-only by default."""
    document = workflow()
    triggers = document.get("on", document.get(True))
    assert set(triggers) == {"pull_request"}
    assert document["permissions"] == {"contents": "read"}
    assert workflow()["jobs"]["cost"]["permissions"] == {"contents": "read", "pull-requests": "write", "id-token": "write"}


def test_both_paths_and_the_comment_are_wired() -> None:
    """Cloud: pulumi preview --json --show-sames. No credentials: infra.plan of base and head. Comment only from this repository."""
    preview = step("Pulumi preview")
    assert preview["if"] == "env.CLOUD == 'true'"
    assert "pulumi preview" in preview["run"] and "--json --show-sames" in preview["run"]
    offline = step("Offline plans of base and head")
    assert offline["if"] == "env.CLOUD != 'true'"
    assert offline["run"].count("python -m infra.plan --stack \"$STACK\" --json") == 2
    comment = step("Comment on the pull request")
    assert comment["if"].startswith("env.SAME_REPO == 'true'")
    assert comment["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    assert "python -m cost comment cost.md" in comment["run"]
    text = WORKFLOW.read_text()
    assert "api.github.com" not in text and "github.com/repos" not in text  # the API base comes from GITHUB_API_URL


def test_every_cost_flag_the_workflow_uses_exists() -> None:
    """Each `python -m cost <command> --flag` in a run script is one the CLI defines."""
    parser = build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command").choices  # type: ignore[attr-defined]
    used = re.findall(r"python -m cost (\S+)([^\n]*)", "\n".join(s.get("run", "") for s in steps()))
    assert {command for command, _ in used} == {"diff", "comment"}
    for command, rest in used:
        known = {option for action in subcommands[command]._actions for option in action.option_strings}
        for flag in re.findall(r"(--[a-z-]+)", rest):
            assert flag in known, f"{command} {flag}"


def run_step(name: str, folder: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run one step's `run:` script as the runner would (bash -e), with the real python -m cost on PATH."""
    script = step(name)["run"]
    output = folder / "github_output"
    output.write_text("")
    bin_dir = folder / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python").write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} \"$@\"\n")
    (bin_dir / "python").chmod(0o755)
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "GITHUB_OUTPUT": str(output),
        "COST_BUDGET_USD": "",
        **env,
    }
    result = subprocess.run(["bash", "-e", "-c", script], cwd=folder, env=environment, capture_output=True, text=True, timeout=120)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return result, outputs


def plan(nat_gateways: int) -> dict[str, Any]:
    resources = [{"type": "pulumi:providers:aws", "name": "aws", "inputs": {"region": "us-west-2"}}]
    for index in range(nat_gateways):
        resources += [{"type": "aws:ec2/natGateway:NatGateway", "name": f"nat-{index}", "inputs": {}},
                      {"type": "aws:ec2/eip:Eip", "name": f"nat-{index}", "inputs": {"domain": "vpc"}}]
    return {"resources": resources, "outputs": {"region": "us-west-2"}}


def test_pricing_step_offline_writes_the_comment_and_json(tmp_path: Path) -> None:
    """Without credentials: base.json + head.json → cost.md (starts with the marker) and cost.json, status 0."""
    (tmp_path / "base.json").write_text(json.dumps(plan(1)))
    (tmp_path / "head.json").write_text(json.dumps(plan(3)))
    result, outputs = run_step("Price the change", tmp_path, {"CLOUD": "false"})
    assert result.returncode == 0, result.stderr
    assert outputs["status"] == "0"
    markdown = (tmp_path / "cost.md").read_text()
    assert markdown.startswith(MARKER)
    assert "### Monthly cost: $36.50 → $109.50 (+$73.00, +200.0%)" in markdown  # (0.045 + 0.005) × 730 per NAT and its IPv4
    assert json.loads((tmp_path / "cost.json").read_text())["deltaMonthly"] == 73.0


def test_pricing_step_with_a_preview_and_a_budget(tmp_path: Path) -> None:
    """Cloud path with COST_BUDGET_USD below the increase: status 3 is recorded, the comment is still written."""
    (tmp_path / "preview.json").write_text((FIXTURES / "preview_eks_children.json").read_text())
    result, outputs = run_step("Price the change", tmp_path, {"CLOUD": "true", "COST_BUDGET_USD": "500"})
    assert result.returncode == 0, result.stderr
    assert outputs["status"] == "3"
    assert "above --fail-above $500.00" in result.stderr
    assert (tmp_path / "cost.md").read_text().startswith(MARKER)
    final, _ = run_step("Budget and input check", tmp_path, {"STATUS": outputs["status"], "COST_BUDGET_USD": "500"})
    assert final.returncode == 3 and "::error::" in final.stdout


def test_pricing_step_on_unreadable_input_fails_the_check(tmp_path: Path) -> None:
    """An empty preview (pulumi preview failed): status 2, no comment file worth posting, the job fails."""
    (tmp_path / "preview.json").write_text("")
    result, outputs = run_step("Price the change", tmp_path, {"CLOUD": "true"})
    assert outputs["status"] == "2"
    assert "preview.json: is empty" in result.stderr
    assert not (tmp_path / "cost.json").exists()
    final, _ = run_step("Budget and input check", tmp_path, {"STATUS": "2"})
    assert final.returncode == 2
