"""The submitter never runs a shell.

Real code paths run with a spy on every process launch (tests/jobs_guard_helpers.py): the
dry runs (which start no process at all), a cluster submission through the real
spark-submit against the loopback Kubernetes API recorder, and a local word count (in
tests/test_jobs_local.py, which shares one local run between its checks). Each
launch must be an argv list with shell=False, and values full of shell syntax, whose
interpretation would create canary files, must arrive verbatim where they go (Spark's
conf, the driver's arguments, the output directory's name) while no canary appears.
A static scan of jobs/ backs this up for code paths no test reaches.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from jobs import PROJECT_ROOT
from jobs.__main__ import main
from tests.conftest import ecr_image, kubeconfig_for, stack_outputs
from tests.jobs_guard_helpers import (
    ProcessSpy,
    cluster_spec,
    driver_properties,
    drivers_succeed,
    posted_driver,
)
from tests.k8s_recorder import K8sRecorder

pytestmark = pytest.mark.jvm  # starts Spark JVMs: scheduled first (tests/conftest.py)

def hostile_values(canaries: Path) -> dict[str, str]:
    """Shell syntax that would create a file under `canaries` if anything interpreted it."""
    return {
        "substitution": f"$(touch {canaries}/substitution)",
        "backticks": f"`touch {canaries}/backticks`",
        "semicolon": f"x; touch {canaries}/semicolon",
        "and": f"x && touch {canaries}/and",
        "pipe": f"x | tee {canaries}/pipe",
        "redirect": f"x > {canaries}/redirect",
        "newline": f"x\ntouch {canaries}/newline",
        "quotes": f"x' \"; touch {canaries}/quotes; echo \"'",
    }


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> ProcessSpy:
    return ProcessSpy().install(monkeypatch)


def test_dry_runs_start_no_process_and_never_a_shell(
    spy: ProcessSpy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """--dry-run (text and --json, cluster and --local) with hostile conf values: no process
    starts at all; nothing interprets the values, which are printed shell-quoted."""
    canaries = tmp_path / "canaries"
    canaries.mkdir()
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(stack_outputs()), encoding="utf-8")
    monkeypatch.chdir(PROJECT_ROOT)
    confs = [f"--conf=spark.guard.{name}={value}" for name, value in hostile_values(canaries).items()]
    assert main(["submit", "examples/wordcount.yaml", "--outputs", str(outputs), "--dry-run", *confs]) == 0
    assert main(["submit", "examples/wordcount.yaml", "--outputs", str(outputs), "--dry-run", "--json", *confs]) == 0
    assert main(["submit", "examples/wordcount.yaml", "--local", "--dry-run", *confs]) == 0
    printed = capfd.readouterr()
    # The only complaint: Spark does not know these made-up keys (jobs.conf_keys), one line each.
    assert all(line.startswith("jobs: warning: conf.spark.guard.") for line in printed.err.splitlines())
    assert "'spark.guard.substitution=$(touch " in printed.out  # quoted in the pasteable command

    spy.assert_no_shell()
    assert spy.launches == []  # the image tag hashes files: not even git runs
    assert list(canaries.iterdir()) == []


def test_cluster_submission_runs_spark_submit_as_an_argv_list(
    bucket: str, aws_env: str, recorder: K8sRecorder, spy: ProcessSpy, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """`submit --wait` for real: spark-submit is launched once, as an argv list whose conf and
    argument elements are the hostile values verbatim; the recorded driver Pod carries the
    arguments and its spark.properties the conf, unchanged; no canary file appears."""
    canaries = tmp_path / "canaries"
    canaries.mkdir()
    values = hostile_values(canaries)
    spec = cluster_spec(tmp_path, bucket, conf={f"spark.guard.{name}": value for name, value in values.items()},
                        args=[values["substitution"], values["semicolon"], values["newline"]])
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(stack_outputs(
        apiServerUrl=recorder.url, kubeconfig=json.dumps(kubeconfig_for(recorder.url)), bucketName=bucket,
        imageRepositoryUrl=ecr_image(aws_env, "guard-test"))))
    drivers_succeed(recorder)

    code = main(["submit", str(spec), "--outputs", str(outputs), "--wait"])
    printed = capfd.readouterr()
    assert code == 0, printed.err[-3000:]

    spy.assert_no_shell()
    [launch] = spy.of("spark-submit")
    assert [launch.program for launch in spy.launches] == ["spark-submit"]
    for name, value in values.items():
        assert list(launch.args).count(f"spark.guard.{name}={value}") == 1
    assert list(launch.args[-3:]) == [values["substitution"], values["semicolon"], values["newline"]]

    container = posted_driver(recorder)["spec"]["containers"][0]
    assert container["args"][-3:] == [values["substitution"], values["semicolon"], values["newline"]]
    properties = driver_properties(recorder)
    assert {name: properties[f"spark.guard.{name}"] for name in values} == values
    assert list(canaries.iterdir()) == []


# `submit --local` for real, with names that are shell syntax: tests/test_jobs_local.py shares one
# local run between that check and the word count's.


# --- no code path can reach a shell ---------------------------------------------------------

SHELL_CALLS = {
    ("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"),
    ("pty", "spawn"), ("asyncio", "create_subprocess_shell"),
}
SHELL_PREFIXES = (("os", "exec"), ("os", "spawn"), ("os", "posix_spawn"))


def _called_name(call: ast.Call) -> tuple[str, str] | None:
    function = call.func
    if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
        return function.value.id, function.attr
    return None


@pytest.mark.parametrize("path", sorted((PROJECT_ROOT / "jobs").rglob("*.py")), ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_no_shell_in_the_submitter_source(path: Path) -> None:
    """No `shell=True`, os.system, os.popen, os.exec*/spawn*, getoutput, pty.spawn or
    create_subprocess_shell anywhere in jobs/, and subprocess is always given a list."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
        name = _called_name(call)
        where = f"{path.name}:{call.lineno}"
        assert name not in SHELL_CALLS, where
        assert not (name and any(name[0] == module and name[1].startswith(prefix) for module, prefix in SHELL_PREFIXES)), where
        for keyword in call.keywords:
            assert not (keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False)), where
        if name and name[0] == "subprocess" and call.args:
            assert not isinstance(call.args[0], (ast.Constant, ast.JoinedStr, ast.BinOp)), f"{where}: a command string"
