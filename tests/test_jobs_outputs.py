"""Stack outputs: every missing or unusable output names its key and the fix; secrets stay hidden."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from jobs.__main__ import main
from jobs.outputs import KUBE_KEYS, SUBMIT_KEYS, OutputsError, parse_outputs, read_outputs_file
from tests.conftest import kubeconfig_for, stack_outputs

SOURCE = "outputs.json"
FILE_FIX = "run `pulumi up`, then `pulumi stack output --json --show-secrets > FILE`, or pass --stack NAME"


def error_of(raw: dict[str, Any], required: tuple[str, ...] = SUBMIT_KEYS) -> str:
    with pytest.raises(OutputsError) as raised:
        parse_outputs(raw, required=required, source=SOURCE)
    message = str(raised.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("key", SUBMIT_KEYS)
def test_missing_output_names_the_key_and_the_fix(key: str) -> None:
    """Each output a submission needs, when absent, is named with how to get it."""
    raw = stack_outputs()
    del raw[key]
    assert error_of(raw) == f"stack output {key} is missing from {SOURCE}; {FILE_FIX}"


@pytest.mark.parametrize("key", SUBMIT_KEYS)
def test_empty_output_names_the_key(key: str) -> None:
    raw = stack_outputs(**{key: ""})
    assert error_of(raw) == f"stack output {key} is empty in {SOURCE}; {FILE_FIX}"


@pytest.mark.parametrize("key", KUBE_KEYS)
def test_kube_commands_need_only_kubeconfig_and_namespace(key: str) -> None:
    """status/logs/list/kill work from a partial file, but not without these two."""
    partial = {k: v for k, v in stack_outputs().items() if k in KUBE_KEYS}
    outputs = parse_outputs(partial, required=KUBE_KEYS, source=SOURCE)
    assert outputs.spark_namespace == "spark"
    del partial[key]
    assert error_of(partial, KUBE_KEYS).startswith(f"stack output {key} is missing from {SOURCE}")


def test_irsa_needs_the_role_arn() -> None:
    """With s3AccessVia irsa the role ARN must be there; with nodeRole it may be empty."""
    assert error_of(stack_outputs(sparkRoleArn="")) == (
        f"stack output sparkRoleArn in {SOURCE} is missing, but s3AccessVia is irsa; {FILE_FIX}"
    )
    outputs = parse_outputs(stack_outputs(sparkRoleArn="", s3AccessVia="nodeRole"), required=SUBMIT_KEYS, source=SOURCE)
    assert outputs.s3_access_via == "nodeRole" and outputs.spark_role_arn == ""


@pytest.mark.parametrize(
    "override, expected",
    [
        ({"region": "Oregon"}, "stack output region in outputs.json is 'Oregon', not an AWS region such as us-west-2"),
        ({"apiServerUrl": "eks-api.example.invalid"}, "stack output apiServerUrl in outputs.json is 'eks-api.example.invalid'; it must be the API server's https:// URL"),
        ({"imageRepositoryUrl": "registry.example.invalid/spark:latest"}, "stack output imageRepositoryUrl in outputs.json is 'registry.example.invalid/spark:latest'; it must be a repository (HOST/NAME) without a tag"),
        ({"bucketName": "Bad_Bucket"}, "stack output bucketName in outputs.json is 'Bad_Bucket', not an S3 bucket name"),
        ({"sparkNamespace": "Spark NS"}, "stack output sparkNamespace in outputs.json is 'Spark NS', not a Kubernetes name"),
        ({"s3AccessVia": "keys"}, "stack output s3AccessVia in outputs.json is 'keys'; expected one of irsa, nodeRole"),
        ({"sparkRoleArn": "spark-role"}, "stack output sparkRoleArn in outputs.json is 'spark-role', not an IAM role ARN, but s3AccessVia is irsa"),
        ({"region": 5}, "stack output region in outputs.json must be text, not int"),
    ],
)
def test_unusable_output_values(override: dict[str, Any], expected: str) -> None:
    assert error_of(stack_outputs(**override)).startswith(expected)


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(lambda k: json.dumps(k), id="JSON text (pulumi --show-secrets)"),
        pytest.param(lambda k: yaml.safe_dump(k), id="YAML text"),
        pytest.param(lambda k: k, id="object"),
    ],
)
def test_kubeconfig_in_every_form(form: Callable[[dict[str, Any]], Any]) -> None:
    """The kubeconfig output may be JSON text, YAML text or an object; all give the same mapping."""
    kubeconfig = kubeconfig_for("https://example.invalid")
    outputs = parse_outputs(stack_outputs(kubeconfig=form(kubeconfig)), required=SUBMIT_KEYS, source=SOURCE)
    assert outputs.kubeconfig == kubeconfig


def test_hidden_secret_says_to_show_secrets() -> None:
    """Exported without --show-secrets, the kubeconfig reads "[secret]": say how to export it."""
    assert error_of(stack_outputs(kubeconfig="[secret]")) == (
        f"stack output kubeconfig in {SOURCE} is hidden as [secret]; export it with "
        "`pulumi stack output --json --show-secrets`"
    )


@pytest.mark.parametrize("value", ["{not json but has token-abc", "token-abc: [a, list", "plain text token-abc"])
def test_bad_kubeconfig_never_echoes_its_text(value: str) -> None:
    """A kubeconfig that is not one is reported without quoting it: it may hold a secret."""
    message = error_of(stack_outputs(kubeconfig=value))
    assert message.startswith("stack output kubeconfig in outputs.json is")
    assert "token-abc" not in message


def test_repr_hides_the_kubeconfig() -> None:
    outputs = parse_outputs(stack_outputs(), required=SUBMIT_KEYS, source=SOURCE)
    assert "kubeconfig-secret-token" not in repr(outputs)
    assert outputs.kubeconfig["users"][0]["user"]["token"] == "kubeconfig-secret-token"


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "not found; write it with `pulumi stack output --json --show-secrets > "),
        ("{nope", "not JSON (line 1, column 2); write it with `pulumi stack output --json --show-secrets`"),
        ("[1, 2]", "must be a JSON object of outputs, not a list"),
    ],
)
def test_unreadable_outputs_file(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "outputs.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(OutputsError) as raised:
        read_outputs_file(path)
    assert str(raised.value).startswith(f"--outputs {path}: {expected}")


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_missing_output_exits_2_with_one_line(
    write_outputs: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_outputs(bucketName="")
    code, out, err = run_cli(["submit", "examples/wordcount.yaml", "--outputs", str(path), "--dry-run"], capsys)
    assert (code, out) == (2, "")
    assert err == f"jobs: error: stack output bucketName is empty in {path}; {FILE_FIX}\n"


def test_cli_needs_outputs_or_stack(capsys: pytest.CaptureFixture[str], write_outputs: Callable[..., Path]) -> None:
    code, _, err = run_cli(["status", "wordcount"], capsys)
    assert code == 2 and err.startswith("jobs: error: this command needs the stack's outputs: pass --outputs FILE")
    code, _, err = run_cli(["list", "--outputs", str(write_outputs()), "--stack", "dev"], capsys)
    assert code == 2 and err == "jobs: error: pass either --outputs FILE or --stack NAME, not both\n"


def test_cli_stack_without_automation_module(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """--stack when infra.automation cannot be imported: one line pointing at --outputs (exit 2).

    Only the absent-module case is exercised: the module itself belongs to another issue.
    """
    monkeypatch.setitem(sys.modules, "infra.automation", None)  # makes the import fail
    code, out, err = run_cli(["submit", "examples/wordcount.yaml", "--stack", "dev", "--dry-run"], capsys)
    assert (code, out) == (2, "")
    assert err.startswith("jobs: error: --stack dev: the Automation API helper (infra.automation) cannot be loaded")
    assert err.endswith("pass --outputs FILE instead\n") and err.count("\n") == 1
