"""infra.automation's stack functions against the real Automation API SDK.

The SDK drives the `pulumi` CLI, which cannot be installed here; a recorder on PATH
(tests/pulumi_recorder.py) stands in for it: it logs what the SDK ran and
answers from a scenario, streaming recorded engine events over the SDK's own gRPC event
service on 127.0.0.1. No AWS, no network beyond loopback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra import automation

FIXTURES = Path(__file__).parent / "fixtures" / "automation"

KUBECONFIG = '{"apiVersion": "v1", "kind": "Config", "users": [{"name": "aws"}]}'
OUTPUTS = {"clusterName": "spark-dev", "kubeconfig": KUBECONFIG, "region": "us-west-2"}
CONFIG = {"aws:region": {"value": "us-west-2", "secret": False}}



@pytest.fixture
def no_pulumi_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def outputs_scenario() -> dict[str, Any]:
    masked = {**OUTPUTS, "kubeconfig": "[secret]"}
    return {
        "stack select": {},
        "stack output": {"stdout": json.dumps(masked)},
        "stack output --show-secrets": {"stdout": json.dumps(OUTPUTS)},
    }


def test_read_stack_outputs_gives_plain_values_with_secrets(pulumi_cli: Any) -> None:
    """The jobs submitter's contract: plain values, the secret kubeconfig revealed."""
    pulumi_cli.install(outputs_scenario())
    assert automation.read_stack_outputs("dev") == OUTPUTS
    assert pulumi_cli.commands == ["version", "stack select", "stack output", "stack output --show-secrets"]


def test_the_local_program_runs_from_the_project_root(pulumi_cli: Any) -> None:
    """work_dir is the project root, so the CLI reads Pulumi.yaml (python runtime, .venv)."""
    pulumi_cli.install(outputs_scenario())
    automation.read_stack_outputs("dev")
    assert {call["cwd"] for call in pulumi_cli.calls} == {str(automation.ROOT)}
    assert ["--stack", "dev"] == pulumi_cli.calls[1]["argv"][-2:]


def test_missing_cli_is_one_line_naming_stack_step_and_install(no_pulumi_cli: None) -> None:
    with pytest.raises(automation.PulumiCliMissing) as raised:
        automation.read_stack_outputs("dev")
    message = str(raised.value)
    assert message.startswith("stack dev: select stack: the pulumi CLI is not installed")
    assert "Download & install" in message and "PATH" in message
    assert "\n" not in message and "http" not in message
    assert isinstance(raised.value, automation.AutomationError)


def test_unknown_stack_raises_stack_not_found(pulumi_cli: Any) -> None:
    pulumi_cli.install({"stack select": {"exit": 255, "stderr": "error: no stack named 'qa' found"}})
    with pytest.raises(automation.StackNotFound) as raised:
        automation.read_stack_outputs("qa")
    assert str(raised.value) == (
        "stack qa: select stack: no such stack; create it with `pulumi stack init qa` "
        "or ask for it to be created (create=True, --create)"
    )


def test_create_initialises_a_missing_stack(pulumi_cli: Any) -> None:
    pulumi_cli.install({
        "stack select": {"exit": 255, "stderr": "error: no stack named 'qa' found"},
        "stack init": {},
    })
    stack = automation.open_stack("qa", create=True)
    assert stack.name == "qa"
    assert pulumi_cli.commands == ["version", "stack select", "stack init qa"]


def test_locked_stack_raises_stack_busy(pulumi_cli: Any) -> None:
    pulumi_cli.install({
        "stack select": {},
        "config": {"stdout": json.dumps(CONFIG)},
        "preview": {"exit": 255, "stderr": "error: [409] Conflict: Another update is currently in progress."},
    })
    with pytest.raises(automation.StackBusy, match="^stack dev: preview: another update holds the stack's lock"):
        automation.preview("dev", on_output=None, on_error=None)


def test_preview_streams_output_and_collects_the_events(pulumi_cli: Any) -> None:
    """Events travel CLI -> gRPC -> SDK -> our collector; the report holds the preview document."""
    pulumi_cli.install({
        "stack select": {},
        "config": {"stdout": json.dumps(CONFIG)},
        "preview": {"stdout": ["Previewing update (dev):", "Resources: + 5 to create"],
                    "events": str(FIXTURES / "preview-events.jsonl")},
    })
    lines: list[str] = []
    report = automation.preview("dev", on_output=lines.append, on_error=None)
    assert lines == ["Previewing update (dev):", "Resources: + 5 to create"]
    assert len(report.events) == 22
    assert [s["op"] for s in report.document["steps"]][-5:] == ["update", "replace", "delete", "read", "refresh"]
    assert report.change_summary["create"] == 5 and report.has_changes
    assert pulumi_cli.commands == ["version", "stack select", "config --show-secrets", "preview"]


def test_preview_checks_config_before_the_engine_runs(pulumi_cli: Any) -> None:
    bad = {**CONFIG, "spark-eks-spot:executors": {"value": '{"instanceTypes": ["m5.xlarge", "c5.2xlarge"], "minSize": 0, "maxSize": 5}', "secret": False}}
    pulumi_cli.install({"stack select": {}, "config": {"stdout": json.dumps(bad)}})
    with pytest.raises(automation.StackConfigInvalid) as raised:
        automation.preview("dev", on_output=None, on_error=None)
    assert raised.value.key.startswith("executors")
    assert str(raised.value).startswith("stack dev: check config: config spark-eks-spot:executors")
    assert "preview" not in pulumi_cli.commands


def test_failed_up_reports_the_engines_first_error(pulumi_cli: Any) -> None:
    pulumi_cli.install({
        "stack select": {},
        "config": {"stdout": json.dumps(CONFIG)},
        "up": {"exit": 255, "events": str(FIXTURES / "up-failed-events.jsonl"),
               "stdout": ["Updating (dev):"], "stderr": "error: update failed"},
    })
    with pytest.raises(automation.AutomationError) as raised:
        automation.up("dev", on_output=None, on_error=None)
    assert str(raised.value) == (
        "stack dev: up: error: creating EKS Cluster (spark-dev): operation error EKS: CreateCluster, "
        "AccessDeniedException: not authorized to perform eks:CreateCluster"
    )


def test_failed_command_without_events_uses_the_clis_error_line(pulumi_cli: Any) -> None:
    pulumi_cli.install({
        "stack select": {},
        "refresh": {"exit": 255, "stderr": ["warning: A new version of Pulumi is available.",
                                             "error: getting credentials: no valid credential sources found"]},
    })
    with pytest.raises(automation.AutomationError, match="^stack dev: refresh: getting credentials: no valid credential sources found$"):
        automation.refresh("dev", on_output=None, on_error=None)


def history(kind: str, changes: dict[str, int]) -> dict[str, Any]:
    return {"stdout": json.dumps([{
        "kind": kind, "startTime": "2026-01-01T10:00:00.000Z", "endTime": "2026-01-01T10:20:00.000Z",
        "message": "", "environment": {}, "config": {}, "result": "succeeded", "resourceChanges": changes,
    }])}


def test_up_reports_what_the_engine_did(pulumi_cli: Any) -> None:
    pulumi_cli.install({
        **outputs_scenario(),
        "config": {"stdout": json.dumps(CONFIG)},
        "up": {"stdout": ["Updating (dev):"]},
        "stack history": history("update", {"create": 61}),
    })
    report = automation.up("dev", on_output=None, on_error=None)
    assert report.as_json() == {"stack": "dev", "operation": "up", "result": "succeeded", "resourceChanges": {"create": 61}}


def test_set_config_uses_the_project_namespace_and_paths(pulumi_cli: Any) -> None:
    pulumi_cli.install({"stack select": {}, "config set": {}})
    stack = automation.open_stack("dev")
    automation.set_config(stack, "drivers.maxSize", 5)
    automation.set_config(stack, "aws:region", "eu-west-1")
    set_calls = [call["argv"] for call in pulumi_cli.calls if "set" in call["argv"]]
    assert "spark-eks-spot:drivers.maxSize" in set_calls[0] and "--path" in set_calls[0]
    assert set_calls[0][-2:] == ["--", "5"] and "--plaintext" in set_calls[0]
    assert "aws:region" in set_calls[1] and "--path" not in set_calls[1] and set_calls[1][-2:] == ["--", "eu-west-1"]
