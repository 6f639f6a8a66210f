"""`python -m jobs ... --stack NAME`: outputs through infra.automation and the Automation API SDK.

The SDK drives the `pulumi` CLI, which cannot be installed here; the recorder in
tests/pulumi_recorder.py stands in for it on PATH and answers `stack output --show-secrets`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


from jobs.__main__ import main
from tests.conftest import stack_outputs

SPEC = Path(__file__).resolve().parent.parent / "examples" / "wordcount.yaml"


def test_submit_dry_run_reads_the_stack_through_the_automation_api(pulumi_cli: Any, capsys) -> None:
    """--stack dev: the outputs come from `pulumi stack output --show-secrets` run by the SDK."""
    outputs = stack_outputs()
    pulumi_cli.install(
        {
            "stack select": {},
            "stack output": {"stdout": json.dumps({**outputs, "kubeconfig": "[secret]"})},
            "stack output --show-secrets": {"stdout": json.dumps(outputs)},
        }
    )
    assert main(["submit", str(SPEC), "--stack", "dev", "--dry-run", "--json", "--set", "image.tag=t1"]) == 0
    document = json.loads(capsys.readouterr().out)
    argv = document["argv"]
    assert argv[argv.index("--master") + 1] == f"k8s://{outputs['apiServerUrl']}"
    assert f"spark.kubernetes.container.image={outputs['imageRepositoryUrl']}:t1" in argv
    assert "stack output --show-secrets" in pulumi_cli.commands
    assert "kubeconfig-secret-token" not in json.dumps(document)


def test_a_stack_that_was_never_deployed_names_the_key_and_the_fix(pulumi_cli: Any, capsys) -> None:
    """A stack with no outputs yet: one line naming the missing output and `pulumi up`."""
    pulumi_cli.install({"stack select": {}, "stack output": {"stdout": "{}"}, "stack output --show-secrets": {"stdout": "{}"}})
    assert main(["submit", str(SPEC), "--stack", "dev", "--dry-run"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert "apiServerUrl" in error and "pulumi up" in error
