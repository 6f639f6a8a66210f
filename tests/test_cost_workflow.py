"""The pull-request workflow: its shape, and its steps' shell run for real.

No GitHub runner here, so the workflow's own `run:` scripts are executed with bash in a
temporary folder, with the variables the runner would set, against the real `python -m
cost`, the loopback GitHub API recorder (tests/github_recorder.py) and the pulumi CLI
recorder (tests/pulumi_recorder.py). The OIDC and setup actions cannot run here.
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
from tests.github_recorder import REPO, GitHubRecorder, comment, github  # noqa: F401  (github is a fixture)
from tests.pulumi_recorder import Recorder

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
    """Run one step's `run:` script as the runner would (bash -e), with the real python -m cost on PATH
    (and whatever else a test put in `folder`/bin, such as the pulumi recorder)."""
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
        "COST_BUDGET_MAX_USD": "",
        "COST_ALLOW_UNPRICED": "",
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
    assert (tmp_path / "cost-full.md").read_text() == markdown  # small enough: the comment is the whole report


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


def test_pulumi_install_runs_before_the_preview_with_show_sames(tmp_path: Path) -> None:
    """Pulumi.yaml runs the program from the virtualenv `.venv`, which a fresh checkout lacks: the
    preview then stops with "The 'virtualenv' option in Pulumi.yaml is set to ".venv", but ...
    doesn't exist" (pulumi sdk/python/toolchain/pip.go, NewVirtualEnvError) until `pulumi install`
    creates it. The cloud steps, run in order against the pulumi CLI recorder: install, then
    `preview --json --show-sames`, whose JSON lands in preview.json for the pricing step."""
    names = [s.get("name") for s in steps()]
    assert names.index("Pulumi CLI") < names.index("Pulumi install") < names.index("Pulumi preview")
    assert step("Pulumi install")["if"] == step("Pulumi preview")["if"] == "env.CLOUD == 'true'"
    preview = (FIXTURES / "preview_eks_children.json").read_text()
    pulumi = Recorder(tmp_path).install({"install": {"stdout": "Finished installing dependencies"},
                                         "preview": {"stdout": " ".join(preview.split())}})
    for name in ("Pulumi install", "Pulumi preview"):
        result, _ = run_step(name, tmp_path, {"CLOUD": "true", "STACK": "dev"})
        assert result.returncode == 0, result.stderr
    argvs = [call["argv"] for call in pulumi.calls]
    assert argvs[0] == ["install"]
    assert argvs[1][0] == "preview" and {"--json", "--show-sames", "--non-interactive"} <= set(argvs[1])
    assert argvs[1][argvs[1].index("--stack") + 1] == "dev"
    assert json.loads((tmp_path / "preview.json").read_text()) == json.loads(preview)
    priced, outputs = run_step("Price the change", tmp_path, {"CLOUD": "true"})
    assert outputs["status"] == "0", priced.stderr


def test_a_preview_without_sames_fails_the_pricing_step(tmp_path: Path) -> None:
    """Should the flag ever go, the pricing step refuses the preview (status 2), never a low total."""
    document = json.loads((FIXTURES / "preview_eks_children.json").read_text())
    document["steps"] = [s for s in document["steps"] if s["op"] != "same"]
    (tmp_path / "preview.json").write_text(json.dumps(document))
    result, outputs = run_step("Price the change", tmp_path, {"CLOUD": "true"})
    assert outputs["status"] == "2" and "--show-sames" in result.stderr
    assert not (tmp_path / "cost.json").exists()


def test_failure_note_runs_whenever_pricing_did_not_finish() -> None:
    """The note's condition: not cancelled, this repository's pull request, and pricing neither ok (0)
    nor gated (3); an empty status means an earlier step (preview or plans) failed."""
    note = step("Failure note on the pull request")
    condition = note["if"].replace("${{", "").replace("}}", "").split()
    assert " ".join(condition) == ("!cancelled() && env.SAME_REPO == 'true' && steps.cost.outputs.status != '0' "
                                   "&& steps.cost.outputs.status != '3'")
    assert note["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    names = [s.get("name") for s in steps()]
    assert names.index("Comment on the pull request") < names.index("Failure note on the pull request") < names.index("Budget and input check")


def test_failure_note_replaces_the_stale_comment_after_a_pricing_error(tmp_path: Path, github: GitHubRecorder) -> None:
    """The pricing step fails (an empty preview.json, status 2); the failure-note step, run against the
    loopback GitHub API, PATCHes the bot's comment that still shows the previous commit's figures."""
    github.pages = [[comment(11, "LGTM", "octocat"), comment(12, f"{MARKER}\n### Monthly cost: $254.66 → $1,070.10")]]
    (tmp_path / "preview.json").write_text("")
    _result, outputs = run_step("Price the change", tmp_path, {"CLOUD": "true"})
    assert outputs["status"] == "2"
    env = {"GITHUB_API_URL": github.base, "GITHUB_TOKEN": "ghs_token", "GITHUB_REPOSITORY": REPO, "PR_NUMBER": "7",
           "STATUS": outputs["status"], "GITHUB_SERVER_URL": "https://github.example.com", "GITHUB_RUN_ID": "77"}
    result, _ = run_step("Failure note on the pull request", tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert [(r.method, r.path) for r in github.writes()] == [("PATCH", f"/api/v3/repos/{REPO}/issues/comments/12")]
    note = github.find(12)["body"]
    assert note.startswith(f"{MARKER}\n### Monthly cost: not available for this commit")
    assert "pricing exited with status 2: cost: error: preview.json: is empty; did the command that writes it fail?" in note
    assert "$1,070.10" not in note and github.find(11)["body"] == "LGTM"


def test_failure_note_after_a_failed_preview(tmp_path: Path, github: GitHubRecorder) -> None:
    """`pulumi preview` itself failed, so the pricing step never ran (no status): the note says so, and
    with no earlier comment it is created."""
    result, _ = run_step("Failure note on the pull request", tmp_path, {
        "GITHUB_API_URL": github.base, "GITHUB_TOKEN": "ghs_token", "GITHUB_REPOSITORY": REPO, "PR_NUMBER": "7", "STATUS": ""})
    assert result.returncode == 0, result.stderr
    (created,) = github.writes()
    assert created.method == "POST"
    assert "The cost check failed: the preview or the offline plans failed before pricing; see the run's log." in created.body["body"]


def test_the_workflow_passes_usage_and_both_gates(tmp_path: Path) -> None:
    """cost-usage.yml is read when committed; COST_BUDGET_MAX_USD gates the at-max increase."""
    (tmp_path / "base.json").write_text(json.dumps(plan(1)))
    (tmp_path / "head.json").write_text(json.dumps(plan(3)))
    (tmp_path / "cost-usage.yml").write_text("version: 1\nnetwork: {natDataProcessedGb: 100}\n")
    result, outputs = run_step("Price the change", tmp_path, {"CLOUD": "false", "COST_BUDGET_MAX_USD": "50"})
    assert outputs["status"] == "3"
    assert "above --fail-above-max $50.00" in result.stderr
    assert "Usage counted from `cost-usage.yml`" in (tmp_path / "cost.md").read_text()
