"""Every CLI follows one convention (cli_common.py, architecture.md "Contracts"):

- every `--help`, each subcommand's too, lists the exit codes (0, 2, and 1 or 3 only where the
  tool returns them), with the shared meanings;
- `--stack NAME` names a stack and says whether it reads Pulumi.NAME.yaml (offline tools) or asks
  the Pulumi engine (online ones); `--stack-file PATH` reads a stack file; `--json` prints JSON;
  long commands take `--quiet`;
- an error is one line `<tool>: error: …` on stderr, <tool> being the module run with `python -m`,
  argparse's own errors included, exit 2; a path is printed as given; broken YAML names the file,
  line and column;
- no jargon a user cannot know ("the seed", issue numbers) in any help;
- the progress line (rich) shows only on a terminal and never with --quiet.

Everything runs in-process through each CLI's `build_parser()`/`main(argv)`; one test runs every
`python -m` entry point's --help through runpy, as the interpreter would.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import bench.__main__
import bench.drill.cli
import cost.cli
import infra.deploy
import infra.generate_eni_limits
import infra.plan
import jobs.__main__
import jobs.generate_conf_keys
import policy.check
import policy.manifests
from cli_common import QUIET_HELP, progress, walk_parsers
from jobs.launch import run_spark_submit

# module run with `python -m` → (its parser builders, its main)
CLIS: dict[str, tuple[tuple[Callable[[], argparse.ArgumentParser], ...], Callable[..., int]]] = {
    "infra.plan": ((infra.plan.build_parser,), infra.plan.main),
    "infra.deploy": ((infra.deploy.build_parser,), infra.deploy.main),
    "policy.check": ((policy.check.build_parser,), policy.check.main),
    "policy.manifests": ((policy.manifests.build_parser,), policy.manifests.main),
    "cost": ((cost.cli.build_parser,), cost.cli.main),
    "jobs": ((jobs.__main__.build_parser,), jobs.__main__.main),
    "bench": ((bench.__main__.build_parser, bench.drill.cli.build_parser), bench.__main__.main),
    "jobs.generate_conf_keys": ((jobs.generate_conf_keys.build_parser,), jobs.generate_conf_keys.main),
    "infra.generate_eni_limits": ((infra.generate_eni_limits.build_parser,), infra.generate_eni_limits.main),
}
OFFLINE = {"infra.plan", "policy.check", "policy.manifests", "cost"}
ONLINE = {"infra.deploy", "jobs"}
# The long commands: each takes --quiet for its progress line.
LONG = {"python -m infra.plan", "python -m policy.check", "python -m bench", "python -m bench drill",
        "python -m jobs submit", "python -m cost estimate"}
JARGON = re.compile(r"\bseed\b|\bissue \d+|\brooms?\b", re.IGNORECASE)


def every_parser() -> list[tuple[str, argparse.ArgumentParser]]:
    return [(module, parser) for module, (builders, _) in CLIS.items() for build in builders for parser in walk_parsers(build())]


PARSERS = every_parser()
IDS = [parser.prog.removeprefix("python -m ") for _, parser in PARSERS]


def option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((action for action in parser._actions if flag in action.option_strings), None)


def takes_gate(parser: argparse.ArgumentParser) -> bool:
    """Whether the parser or a subcommand under it has a budget gate (--fail-above)."""
    return any(option(sub, "--fail-above") for sub in walk_parsers(parser))


@pytest.mark.parametrize(("module", "parser"), PARSERS, ids=IDS)
def test_help_lists_the_exit_codes(module: str, parser: argparse.ArgumentParser) -> None:
    """0 and 2 always, with the shared meanings and the tool's error line; 3 exactly where a
    budget gate can trip; 1, when listed, says what failed."""
    assert parser.prog.startswith(f"python -m {module}")
    text = parser.format_help()
    codes = text[text.index("exit codes:"):].splitlines()
    assert codes[1] == "  0  ok"
    assert f"  2  bad input, or a missing tool or credentials (one line on stderr: {module}: error: ...)" in codes
    assert any(line.startswith("  3  a budget gate tripped") for line in codes) == takes_gate(parser)
    ones = [line for line in codes if line.startswith("  1  ")]
    assert all(len(line) > len("  1  ") + 5 for line in ones)


@pytest.mark.parametrize(("module", "parser"), PARSERS, ids=IDS)
def test_stack_stack_file_json_and_quiet_mean_one_thing(module: str, parser: argparse.ArgumentParser) -> None:
    """--stack says offline (Pulumi.NAME.yaml) or online (the Pulumi engine) as its tool is;
    --stack-file reads a file; --json prints JSON; --quiet is the progress switch of long commands."""
    stack, stack_file = option(parser, "--stack"), option(parser, "--stack-file")
    if stack is not None:
        assert stack.metavar == "NAME"
        offline = "reads Pulumi.NAME.yaml" in stack.help and "offline" in stack.help
        online = "asked of the Pulumi engine" in stack.help
        assert (offline, online) == (module in OFFLINE, module in ONLINE)
    if stack_file is not None:
        assert stack_file.metavar == "PATH" and stack_file.type is Path
        assert stack_file.help.startswith("read this stack file")
        assert stack is not None  # a stack file is the offline --stack's alternative
    json_flag = option(parser, "--json")
    if json_flag is not None:
        assert "print JSON on stdout" in json_flag.help
    quiet = option(parser, "--quiet")
    assert (quiet is not None) == (parser.prog in LONG)
    if quiet is not None:
        assert quiet.help == QUIET_HELP


@pytest.mark.parametrize(("module", "parser"), PARSERS, ids=IDS)
def test_help_has_no_jargon(module: str, parser: argparse.ArgumentParser) -> None:
    """A user knows no "seed" (it is the AWS blog post this design follows) and no issue numbers."""
    assert not JARGON.search(parser.format_help())


@pytest.mark.parametrize(("module", "parser"), PARSERS, ids=IDS)
def test_a_bad_flag_is_one_error_line_naming_the_tool(
    module: str, parser: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse's own error, at every level: one line `<module>: error: …` naming the --help to
    read, exit 2, nothing on stdout."""
    _, main = CLIS[module]
    argv = [*parser.prog.split()[3:], "--no-such-flag"]
    if module == "infra.deploy":  # it takes its streams as arguments
        stdout, stderr = io.StringIO(), io.StringIO()
        code = main(argv, stdin=io.StringIO(), stdout=stdout, stderr=stderr)
        out, err = stdout.getvalue(), stderr.getvalue()
    else:
        code = main(argv)
        out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"{module}: error: ")
    assert err.rstrip().endswith(f"(see `{parser.prog} --help`)")


@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")  # runpy, as `python -m` would not warn
def test_every_entry_point_prints_its_help(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m MODULE --help` (and `python -m bench drill --help`), run as the interpreter runs
    them: exit 0 and the exit codes at the end."""
    for argv in ([module, "--help"] for module in CLIS), (["bench", "drill", "--help"],):
        for module, *args in argv:
            monkeypatch.setattr(sys, "argv", [module, *args])
            with pytest.raises(SystemExit) as exited:
                runpy.run_module(module, run_name="__main__", alter_sys=False)
            assert exited.value.code == 0, module
            assert "exit codes:\n  0  ok\n" in capsys.readouterr().out, module


def test_deploy_has_each_actions_own_flags() -> None:
    """`python -m infra.deploy ACTION --help` lists that action's flags only."""
    flags = {parser.prog.split()[-1]: {flag for action in parser._actions for flag in action.option_strings}
             for parser in walk_parsers(infra.deploy.build_parser())}
    common = {"-h", "--help", "--stack", "--json"}
    assert flags["preview"] == common | {"--create", "--diff", "--preview-out", "--force"}
    assert flags["up"] == common | {"--create", "--yes", "--diff", "--outputs-out", "--show-secrets", "--force"}
    assert flags["destroy"] == common | {"--yes", "--yes-really", "--diff"}
    assert flags["refresh"] == common | {"--diff"}
    assert flags["outputs"] == common | {"--outputs-out", "--show-secrets", "--force"}


# --- a path as given, broken YAML with line and column -------------------------------------------

BROKEN = "config:\n  aws:region: us-west-2\n  spark-eks-spot:executors: {instanceTypes: [m5.xlarge\n"


@pytest.mark.parametrize("tool", ["infra.plan", "policy.check", "policy.manifests", "cost"])
def test_a_broken_stack_file_names_the_path_as_given_with_line_and_column(
    tool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """PyYAML's problem_mark (0-based line and column) becomes "line L, column C"; the path is the
    relative one the user typed, not resolved."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.broken.yaml").write_text(BROKEN)
    given = "stacks/Pulumi.broken.yaml"
    argv = {"infra.plan": ["--stack-file", given], "policy.check": ["--stack-file", given],
            "policy.manifests": ["out", "--stack-file", given], "cost": ["estimate", "--stack-file", given]}[tool]
    assert CLIS[tool][1](argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"{tool}: error: {given}: not valid YAML at line 4, column 1: expected ',' or ']'")
    assert str(tmp_path) not in err


def test_a_missing_stack_file_is_named_as_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert infra.plan.main(["--stack-file", "nowhere/Pulumi.x.yaml"]) == 2
    assert capsys.readouterr().err == (
        "infra.plan: error: --stack-file nowhere/Pulumi.x.yaml: no such file; pass the path of a Pulumi.NAME.yaml\n")


def test_a_broken_usage_file_names_the_path_with_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("plan.json").write_text(json.dumps({"resources": [], "outputs": {}}))
    Path("usage.yml").write_text("version: 1\nnodeGroups:\n  executors: {averageNodes: 2\n")
    assert cost.cli.main(["estimate", "plan.json", "--usage", "usage.yml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cost: error: usage.yml: not valid YAML at line 4, column 1: ") and err.count("\n") == 1


def test_a_broken_job_spec_names_the_path_with_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("job.yaml").write_text("name: wordcount\napp: app.py\n  args: [1]\n")
    assert jobs.__main__.main(["submit", "job.yaml", "--local", "--dry-run"]) == 2
    assert capsys.readouterr().err == (
        "jobs: error: spec job.yaml: not valid YAML at line 3, column 7: mapping values are not allowed here\n")


# --- flags that mean the same everywhere ---------------------------------------------------------


def test_cost_json_is_format_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--json` prints what `--format json` prints; the two may agree but not disagree."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"resources": [], "outputs": {}}))
    assert cost.cli.main(["estimate", str(plan), "--format", "json", "--as-of", "2026-12-01"]) == 0
    by_format = json.loads(capsys.readouterr().out)
    assert cost.cli.main(["estimate", str(plan), "--json", "--as-of", "2026-12-01"]) == 0
    assert json.loads(capsys.readouterr().out) == by_format
    assert cost.cli.main(["estimate", str(plan), "--json", "--format", "json", "--as-of", "2026-12-01"]) == 0
    capsys.readouterr()
    assert cost.cli.main(["estimate", str(plan), "--json", "--format", "table"]) == 2
    assert capsys.readouterr().err == "cost: error: --json prints JSON; drop --format table or --json\n"


def test_cost_estimate_of_a_stack_is_the_estimate_of_its_offline_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cost estimate --stack dev` prices what `infra.plan --stack dev --json` plans, offline."""
    assert infra.plan.main(["--stack", "dev", "--json"]) == 0
    plan = tmp_path / "plan.json"
    plan.write_text(capsys.readouterr().out)
    assert cost.cli.main(["estimate", str(plan), "--json", "--as-of", "2026-12-01"]) == 0
    from_file = json.loads(capsys.readouterr().out)
    assert cost.cli.main(["estimate", "--stack", "dev", "--json", "--as-of", "2026-12-01"]) == 0
    from_stack = json.loads(capsys.readouterr().out)
    assert from_stack["totalMonthlyAfter"] == from_file["totalMonthlyAfter"] > 0
    assert cost.cli.main(["estimate", str(plan), "--stack", "dev"]) == 2
    assert capsys.readouterr().err.startswith("cost: error: estimate takes one of FILE, --stack NAME or --stack-file PATH")


def test_policy_check_json_lists_the_violations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints one document: the stack, its resource count and every violation; the exit
    code is the same as without it (1 on a mandatory violation)."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"resources": [
        {"type": "aws:s3/bucket:Bucket", "name": "open", "inputs": {}}], "outputs": {}}))
    code = policy.check.main([str(plan), "--stack-name", "dev"])
    text = capsys.readouterr().out
    assert policy.check.main([str(plan), "--stack-name", "dev", "--json"]) == code
    document = json.loads(capsys.readouterr().out)
    assert (document["stack"], document["resources"]) == ("dev", 1)
    assert document["mandatory"] + document["advisory"] == len(document["violations"]) == len(text.splitlines()) - 1
    assert code == (1 if document["mandatory"] else 0)


# --- the progress line ---------------------------------------------------------------------------


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as a real one does."""

    def isatty(self) -> bool:
        return True


def test_progress_shows_on_a_terminal_only_and_never_with_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """The step text reaches a terminal (rich draws it, then clears the line); a pipe (StringIO,
    as under pytest or in CI) and --quiet get nothing at all."""
    for name in ("TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    screen = Terminal()
    with progress(stream=screen) as shown:
        assert shown.shown
        shown.step("running the program of stack dev under Pulumi's mock engine")
        shown.echo("a line from spark-submit")
    assert "running the program of stack dev" in screen.getvalue()
    assert "a line from spark-submit" in screen.getvalue()
    for quiet, stream in ((False, io.StringIO()), (True, Terminal())):
        with progress(quiet, stream=stream) as shown:
            assert not shown.shown
            shown.step("nothing to see")
            shown.echo("nothing either")
        assert stream.getvalue() == ""


def test_spark_submit_output_can_be_read_line_by_line(tmp_path: Path) -> None:
    """With a progress line shown, spark-submit's stdout and stderr come through a pipe, a line at
    a time (printed above the progress line), and its exit code is kept."""
    child = tmp_path / "child.py"
    child.write_text("import sys\nprint('to stdout', flush=True)\nprint('to stderr', file=sys.stderr, flush=True)\nsys.exit(3)\n")
    lines: list[str] = []
    assert run_spark_submit([sys.executable, str(child)], {}, on_output=lines.append) == 3
    assert lines == ["to stdout", "to stderr"]
