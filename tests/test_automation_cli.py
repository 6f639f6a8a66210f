"""`python -m infra.deploy`: argument handling, the missing-CLI line, the prod guard,
confirmation on stdin, and the preview/outputs files.

`main()` takes stdin/stdout/stderr streams; the Automation API SDK runs a recorder standing in
for the `pulumi` CLI (tests/pulumi_recorder.py) found on PATH, so the
recorder's log shows exactly what ran, and what did not.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import pulumi_recorder as recorder_module
from infra import automation
from infra.deploy import main

FIXTURES = Path(__file__).parent / "fixtures" / "automation"

KUBECONFIG = '{"apiVersion": "v1", "kind": "Config", "users": [{"name": "aws", "token": "k8s-aws-v1.c2VjcmV0"}]}'
OUTPUTS = {"clusterName": "spark-dev", "kubeconfig": KUBECONFIG, "region": "us-west-2"}
CONFIG = {"aws:region": {"value": "us-west-2", "secret": False}}


def history(kind: str, changes: dict[str, int]) -> dict[str, Any]:
    return {"stdout": json.dumps([{
        "kind": kind, "startTime": "2026-01-01T10:00:00.000Z", "endTime": "2026-01-01T10:20:00.000Z",
        "message": "", "environment": {}, "config": {}, "result": "succeeded", "resourceChanges": changes,
    }])}


# Everything a session may ask of the CLI, answered as a healthy dev stack would.
SCENARIO: dict[str, Any] = {
    "stack select": {},
    "config": {"stdout": json.dumps(CONFIG)},
    "preview": {"stdout": ["Previewing update (dev):"], "events": str(FIXTURES / "preview-events.jsonl")},
    "up": {"stdout": ["Updating (dev):"]},
    "destroy --preview-only": {"stdout": ["Previewing destroy (dev):"], "events": str(FIXTURES / "preview-destroy-events.jsonl")},
    "destroy": {"stdout": ["Destroying (dev):"]},
    "refresh": {"stdout": ["Refreshing (dev):"]},
    "stack output": {"stdout": json.dumps({**OUTPUTS, "kubeconfig": "[secret]"})},
    "stack output --show-secrets": {"stdout": json.dumps(OUTPUTS)},
    "stack history": history("update", {"create": 5, "same": 2}),
}


class Run:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.code, self.stdout, self.stderr = code, stdout, stderr

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("infra.deploy: error:")]


class Unreadable(io.StringIO):
    """stdin that must not be read (--yes means nobody is asked)."""

    def readline(self, *args: Any) -> str:  # type: ignore[override]
        raise AssertionError("stdin was read")


def deploy(*argv: str, stdin: io.StringIO | None = None) -> Run:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=stdin if stdin is not None else io.StringIO(""), stdout=stdout, stderr=stderr)
    return Run(code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture
def pulumi_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    recorder = recorder_module.Recorder(tmp_path).install(SCENARIO)
    monkeypatch.setenv("PATH", f"{recorder.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return recorder


@pytest.fixture
def no_pulumi_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


# ---- the missing CLI -------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["preview", "up", "destroy", "refresh", "outputs"])
def test_missing_cli_is_one_line_and_exit_2(no_pulumi_cli: None, command: str) -> None:
    run = deploy(command, "--stack", "dev", "--yes" if command in ("up", "destroy") else "--diff" if command != "outputs" else "--json")
    assert run.code == 2
    assert run.stderr.count("\n") == 1 and run.stdout == ""
    assert run.stderr.startswith(f"infra.deploy: error: stack dev: {command}: the pulumi CLI is not installed")
    assert "install the Pulumi CLI (see the Pulumi docs, 'Download & install') and put it on PATH" in run.stderr
    assert "http" not in run.stderr


def test_missing_cli_is_checked_before_anything_else(no_pulumi_cli: None, tmp_path: Path) -> None:
    """Even a command line that parses but would be refused later (the prod guard, an existing
    output file) gets the missing-CLI line first."""
    existing = tmp_path / "preview.json"
    existing.write_text("{}")
    for argv in (("destroy", "--stack", "prod"), ("preview", "--stack", "dev", "--preview-out", str(existing))):
        run = deploy(*argv)
        assert run.code == 2 and "pulumi CLI is not installed" in run.stderr


def test_missing_cli_from_the_real_entry_point(tmp_path: Path) -> None:
    """`python -m infra.deploy` itself: one line on stderr, no traceback, exit 2."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty), "PYTHONPATH": str(automation.ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "infra.deploy", "preview", "--stack", "dev"],
        cwd=automation.ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "infra.deploy: error: stack dev: preview: the pulumi CLI is not installed (not found on PATH); "
        "install the Pulumi CLI (see the Pulumi docs, 'Download & install') and put it on PATH"
    ]


def test_which_is_injectable(pulumi_cli: Any) -> None:
    """main() takes the PATH lookup as a parameter (default shutil.which); finding nothing means
    the missing-CLI line, and nothing runs."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["outputs", "--stack", "dev"], stdin=io.StringIO(), stdout=stdout, stderr=stderr, which=lambda name: None)
    assert code == 2 and "not installed" in stderr.getvalue()
    assert pulumi_cli.calls == []


# ---- argument handling -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["deploy", "--stack", "dev"], "argument command: invalid choice: 'deploy'"),
        (["preview"], "the following arguments are required: --stack"),
        (["preview", "--stack", "dev", "--bogus"], "unrecognized arguments: --bogus"),
        (["preview", "--stack", "dev stack"], "--stack 'dev stack': a stack name is letters"),
        (["preview", "--stack", "dev", "--yes"], "--yes only applies to destroy and up, not preview"),
        (["up", "--stack", "dev", "--yes-really"], "--yes-really only applies to destroy, not up"),
        (["refresh", "--stack", "dev", "--create"], "--create only applies to preview and up, not refresh"),
        (["outputs", "--stack", "dev", "--diff"], "--diff only applies to destroy and preview and refresh and up"),
        (["outputs", "--stack", "dev", "--preview-out", "p.json"], "--preview-out only applies to preview, not outputs"),
        (["preview", "--stack", "dev", "--outputs-out", "o.json"], "--outputs-out only applies to outputs and up, not preview"),
        (["outputs", "--stack", "dev", "--show-secrets"], "--show-secrets only applies with --outputs-out FILE: secrets are never printed"),
        (["outputs", "--stack", "dev", "--force"], "--force only applies with --preview-out or --outputs-out"),
    ],
)
def test_bad_command_lines_exit_2_in_one_line_and_run_nothing(pulumi_cli: Any, argv: list[str], expected: str) -> None:
    run = deploy(*argv)
    assert run.code == 2
    assert len(run.stderr.splitlines()) == 1 and expected in run.stderr
    assert [c for c in pulumi_cli.commands if c != "version"] == []


def test_existing_output_file_is_refused_before_anything_runs(pulumi_cli: Any, tmp_path: Path) -> None:
    existing = tmp_path / "preview.json"
    existing.write_text('{"steps": []}')
    run = deploy("preview", "--stack", "dev", "--preview-out", str(existing))
    assert run.code == 2
    assert run.error_lines == [f"infra.deploy: error: --preview-out {existing}: the file exists; pass --force to replace it (nothing was run)"]
    assert existing.read_text() == '{"steps": []}' and pulumi_cli.calls == []


def test_output_file_in_a_missing_directory_is_refused(pulumi_cli: Any, tmp_path: Path) -> None:
    run = deploy("outputs", "--stack", "dev", "--outputs-out", str(tmp_path / "nope" / "outputs.json"))
    assert run.code == 2 and "does not exist; create it first" in run.stderr
    assert pulumi_cli.calls == []


# ---- the prod guard --------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["prod", "production", "Prod-eu", "acme/spark-eks-spot/prod"])
def test_destroy_refuses_prod_stacks_without_yes_really(pulumi_cli: Any, stack: str) -> None:
    run = deploy("destroy", "--stack", stack, "--yes")
    assert run.code == 2
    assert run.error_lines == [f"infra.deploy: error: refusing to destroy stack {stack}: its name starts with 'prod'; pass --yes-really if you mean it"]
    assert pulumi_cli.calls == []


def test_yes_really_lifts_the_guard_but_still_asks(pulumi_cli: Any) -> None:
    run = deploy("destroy", "--stack", "prod", "--yes-really", stdin=io.StringIO("prod\n"))
    assert run.code == 0, run.stderr
    assert "Type the stack name to confirm" in run.stderr
    assert engine_commands(pulumi_cli) == ["destroy --preview-only", "destroy"]


def test_a_stack_merely_containing_prod_is_not_guarded(pulumi_cli: Any) -> None:
    run = deploy("destroy", "--stack", "dev-preprod", "--yes")
    assert run.code == 0, run.stderr


# ---- confirmation ----------------------------------------------------------------------------

def engine_commands(recorder: Any) -> list[str]:
    return [c for c in recorder.commands if c.split()[0] in ("preview", "up", "destroy", "refresh")]


def test_up_previews_then_does_nothing_when_declined(pulumi_cli: Any) -> None:
    run = deploy("up", "--stack", "dev", stdin=io.StringIO("n\n"))
    assert run.code == 1
    assert "Update stack dev (5 to create, 1 to update, 1 to replace, 1 to delete, 1 to read, 1 to refresh, 2 unchanged)? [y/N] " in run.stderr
    assert run.error_lines == ["infra.deploy: error: up cancelled; nothing was changed"]
    assert engine_commands(pulumi_cli) == ["preview"]
    assert "Previewing update (dev):" in run.stdout  # the engine's own output reached the user


def test_up_runs_after_yes(pulumi_cli: Any) -> None:
    run = deploy("up", "--stack", "dev", stdin=io.StringIO("yes\n"))
    assert run.code == 0, run.stderr
    assert engine_commands(pulumi_cli) == ["preview", "up"]
    assert "stack dev: up succeeded: 5 to create, 2 unchanged" in run.stderr


def test_up_with_closed_stdin_asks_for_yes(pulumi_cli: Any) -> None:
    run = deploy("up", "--stack", "dev", stdin=io.StringIO(""))
    assert run.code == 2
    assert run.error_lines == ["infra.deploy: error: stdin is closed, so nobody can confirm; pass --yes to up without asking"]
    assert engine_commands(pulumi_cli) == ["preview"]


def test_up_with_yes_asks_nothing_and_skips_the_preview(pulumi_cli: Any) -> None:
    run = deploy("up", "--stack", "dev", "--yes", "--json", stdin=Unreadable())
    assert run.code == 0, run.stderr
    assert engine_commands(pulumi_cli) == ["up"]
    assert json.loads(run.stdout) == {"stack": "dev", "operation": "up", "result": "succeeded", "resourceChanges": {"create": 5, "same": 2}}
    assert "Updating (dev):" in run.stderr  # with --json the engine's text goes to stderr


def test_destroy_needs_the_stack_name_typed(pulumi_cli: Any) -> None:
    run = deploy("destroy", "--stack", "dev", stdin=io.StringIO("y\n"))
    assert run.code == 1
    assert "Destroy stack dev (3 to delete)? Type the stack name to confirm: " in run.stderr
    assert engine_commands(pulumi_cli) == ["destroy --preview-only"]
    run = deploy("destroy", "--stack", "dev", stdin=io.StringIO("dev\n"))
    assert run.code == 0, run.stderr
    assert engine_commands(pulumi_cli)[-2:] == ["destroy --preview-only", "destroy"]


def test_destroy_with_yes_does_not_ask(pulumi_cli: Any) -> None:
    run = deploy("destroy", "--stack", "dev", "--yes", stdin=Unreadable())
    assert run.code == 0, run.stderr
    assert engine_commands(pulumi_cli) == ["destroy"]


def test_refresh_passes_diff_and_needs_no_confirmation(pulumi_cli: Any) -> None:
    run = deploy("refresh", "--stack", "dev", "--diff", stdin=Unreadable())
    assert run.code == 0, run.stderr
    assert engine_commands(pulumi_cli) == ["refresh --diff"]


# ---- preview and outputs files ---------------------------------------------------------------

def test_preview_out_writes_the_preview_json_document(pulumi_cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "preview.json"
    run = deploy("preview", "--stack", "dev", "--preview-out", str(target))
    assert run.code == 0, run.stderr
    written = json.loads(target.read_text())
    assert set(written) == {"config", "steps", "diagnostics", "duration", "changeSummary"}
    assert [s["op"] for s in written["steps"]].count("same") == 2
    assert {s["op"] for s in written["steps"]} == {"same", "create", "update", "replace", "delete", "read", "refresh"}
    assert written["changeSummary"]["create"] == 5
    assert f"wrote preview steps to {target}" in run.stderr
    assert "stack dev: 5 to create" in run.stderr


def test_preview_json_keeps_stdout_pure(pulumi_cli: Any) -> None:
    run = deploy("preview", "--stack", "dev", "--json", "--create")
    assert run.code == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["steps"][0]["urn"].endswith("pulumi:pulumi:Stack::spark-eks-spot-dev")
    assert "Previewing update (dev):" in run.stderr


def test_preview_out_force_replaces_the_file(pulumi_cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "preview.json"
    target.write_text("old")
    run = deploy("preview", "--stack", "dev", "--preview-out", str(target), "--force")
    assert run.code == 0, run.stderr
    assert json.loads(target.read_text())["changeSummary"]["update"] == 1


def test_outputs_are_printed_masked(pulumi_cli: Any) -> None:
    run = deploy("outputs", "--stack", "dev", "--json")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout) == {**OUTPUTS, "kubeconfig": "[secret]"}
    plain = deploy("outputs", "--stack", "dev")
    assert "kubeconfig   [secret]" in plain.stdout and "k8s-aws-v1" not in plain.stdout + plain.stderr


def test_outputs_out_with_show_secrets_writes_an_owner_only_file(pulumi_cli: Any, tmp_path: Path) -> None:
    """What `python -m jobs submit --outputs FILE` reads; the secret never reaches the terminal."""
    target = tmp_path / "outputs.json"
    run = deploy("outputs", "--stack", "dev", "--outputs-out", str(target), "--show-secrets")
    assert run.code == 0, run.stderr
    assert json.loads(target.read_text()) == OUTPUTS
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "k8s-aws-v1" not in run.stdout + run.stderr


def test_outputs_out_without_show_secrets_masks_them(pulumi_cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "outputs.json"
    run = deploy("outputs", "--stack", "dev", "--outputs-out", str(target))
    assert run.code == 0, run.stderr
    assert json.loads(target.read_text())["kubeconfig"] == "[secret]"


def test_up_can_write_the_outputs_afterwards(pulumi_cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "outputs.json"
    run = deploy("up", "--stack", "dev", "--yes", "--outputs-out", str(target), "--show-secrets")
    assert run.code == 0, run.stderr
    assert json.loads(target.read_text())["kubeconfig"] == KUBECONFIG


# ---- failures --------------------------------------------------------------------------------

def test_unknown_stack_is_bad_input(pulumi_cli: Any) -> None:
    pulumi_cli.install({**SCENARIO, "stack select": {"exit": 255, "stderr": "error: no stack named 'qa' found"}})
    run = deploy("outputs", "--stack", "qa")
    assert run.code == 2
    assert run.error_lines == [
        "infra.deploy: error: stack qa: select stack: no such stack; create it with `pulumi stack init qa` or ask for it to be created (create=True, --create)"
    ]


def test_failed_up_is_one_line_and_exit_1(pulumi_cli: Any) -> None:
    pulumi_cli.install({**SCENARIO, "up": {"exit": 255, "events": str(FIXTURES / "up-failed-events.jsonl"), "stderr": "error: update failed"}})
    run = deploy("up", "--stack", "dev", "--yes")
    assert run.code == 1
    assert run.error_lines[-1] == (
        "infra.deploy: error: stack dev: up: error: creating EKS Cluster (spark-dev): operation error EKS: CreateCluster, "
        "AccessDeniedException: not authorized to perform eks:CreateCluster"
    )
    assert "Traceback" not in run.stderr


def test_invalid_config_stops_before_the_engine_with_exit_1(pulumi_cli: Any) -> None:
    bad = {**CONFIG, "spark-eks-spot:system": {"value": '{"instanceTypes": ["t3.medium"], "minSize": 0, "maxSize": 2}', "secret": False}}
    pulumi_cli.install({**SCENARIO, "config": {"stdout": json.dumps(bad)}})
    run = deploy("up", "--stack", "dev", "--yes")
    assert run.code == 1
    assert run.error_lines[0].startswith("infra.deploy: error: stack dev: check config: config spark-eks-spot:system.minSize: must be at least 1")
    assert engine_commands(pulumi_cli) == []


def test_concurrent_update_is_exit_1(pulumi_cli: Any) -> None:
    pulumi_cli.install({**SCENARIO, "refresh": {"exit": 255, "stderr": "error: the stack is currently locked by 1 lock(s)."}})
    run = deploy("refresh", "--stack", "dev")
    assert run.code == 1
    assert "another update holds the stack's lock" in run.stderr
