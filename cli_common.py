"""The command-line convention every CLI of the project follows, kept in one place.

- Errors are one line on stderr: `<tool>: error: <message>`, where <tool> is the module the
  user runs with `python -m` (`infra.plan`, `jobs`, `cost`, `bench`, ...); argparse's own usage
  errors too (`Parser`), naming the `--help` to read.
- Exit codes (listed in every `--help` by `Parser`'s default epilog): 0 ok; 1 a check or step
  failed (policy violation, invalid config, a job failed, a remote service refused); 2 bad
  input, or a missing tool or credentials; 3 a budget gate tripped (only the tools that have
  gates list it).
- `--stack NAME` names a stack: offline tools read Pulumi.NAME.yaml, online ones ask the Pulumi
  engine, and the help says which; `--stack-file PATH` reads a stack file; `--json` prints
  JSON on stdout; `--quiet` turns off the progress line.
- Progress: a spinner with the current step on stderr (rich), only when stderr is a terminal
  and `--quiet` is not given, so captured stderr and `--json` stdout never see it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TextIO

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_BUDGET = 0, 1, 2, 3

MEANINGS = {
    EXIT_OK: "ok",
    EXIT_FAILED: "a check or step failed",
    EXIT_BAD_INPUT: "bad input, or a missing tool or credentials",
    EXIT_BUDGET: "a budget gate tripped",
}

STACK_OFFLINE_HELP = "the stack NAME: reads Pulumi.NAME.yaml here (offline: no Pulumi engine, no credentials)"
STACK_ONLINE_HELP = "the stack NAME, asked of the Pulumi engine (Automation API: needs the pulumi CLI and the stack's backend)"
STACK_FILE_HELP = "read this stack file (a Pulumi.NAME.yaml elsewhere; its file name gives the stack name)"
QUIET_HELP = "no progress line on stderr (it only shows when stderr is a terminal)"


def exit_codes(failed: str | None = "a check or step failed", *, budget: bool = False) -> str:
    """The `--help` epilog: the codes this tool returns, with the meanings every tool shares.

    `failed` says what exit 1 means for this tool (None: it never returns 1)."""
    lines = [f"  {EXIT_OK}  {MEANINGS[EXIT_OK]}"]
    if failed:
        lines.append(f"  {EXIT_FAILED}  {failed}")
    lines.append(f"  {EXIT_BAD_INPUT}  {MEANINGS[EXIT_BAD_INPUT]} (one line on stderr: TOOL: error: ...)")
    if budget:
        lines.append(f"  {EXIT_BUDGET}  {MEANINGS[EXIT_BUDGET]}")
    return "\n".join(["exit codes:", *lines])


def tool_of(prog: str) -> str:
    """`python -m jobs submit` → `jobs`: the module the user runs names the tool in error lines."""
    words = prog.split()
    if words[:2] == ["python", "-m"] and len(words) > 2:
        return words[2]
    return words[0] if words else prog


def one_line(message: object) -> str:
    """A message as one line: its lines joined with a space."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def error_line(tool: str, message: object) -> str:
    return f"{tool}: error: {one_line(message)}"


def warning_line(tool: str, message: object) -> str:
    return f"{tool}: warning: {one_line(message)}"


def print_error(tool: str, message: object, stream: TextIO | None = None) -> None:
    print(error_line(tool, message), file=stream if stream is not None else sys.stderr, flush=True)


def print_warning(tool: str, message: object, stream: TextIO | None = None) -> None:
    print(warning_line(tool, message), file=stream if stream is not None else sys.stderr, flush=True)


class CliError(Exception):
    """A failure to report as one error line, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        self.exit_code = exit_code
        super().__init__(message)


class UsageError(CliError):
    """A bad command line (argparse's message, plus which --help to read)."""


_DEEPEST = "_cli_common_deepest_prog"


class Parser(argparse.ArgumentParser):
    """argparse with the project's convention: a usage error raises UsageError (the CLI prints
    it as its one error line, exit 2) instead of printing usage; the epilog lists the exit codes
    unless the caller gives its own; the description keeps its line breaks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("epilog", exit_codes())
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        if self.epilog:
            self.epilog = self.epilog.replace("TOOL: error:", f"{self.tool}: error:")

    @property
    def tool(self) -> str:
        return tool_of(self.prog)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extras = super().parse_known_args(args, namespace)
        # The deepest subcommand parses first: remember it, so a flag it does not know is
        # reported with its --help rather than the top level's.
        if not hasattr(parsed, _DEEPEST):
            setattr(parsed, _DEEPEST, self.prog)
        return parsed, extras

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extras = self.parse_known_args(args, namespace)
        prog = getattr(parsed, _DEEPEST, self.prog)
        delattr(parsed, _DEEPEST)
        if extras:
            raise UsageError(f"unrecognized arguments: {' '.join(extras)} (see `{prog} --help`)")
        return parsed


def walk_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser and every subcommand's parser under it, depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield from walk_parsers(sub)


def finish_subcommands(parser: argparse.ArgumentParser, epilog: str | None = None) -> None:
    """Every subcommand's --help: its one-line help as the description, and the tool's exit codes."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if sub.description is None and helps.get(name):
                    sub.description = f"{helps[name][0].upper()}{helps[name][1:]}."
                if epilog is not None:
                    sub.epilog = epilog.replace("TOOL: error:", f"{tool_of(sub.prog)}: error:")
                finish_subcommands(sub, epilog)


def add_offline_stack_arguments(parser: argparse.ArgumentParser, *, default: str | None = None) -> None:
    """`--stack NAME` (read Pulumi.NAME.yaml, offline) or `--stack-file PATH`, as every offline tool takes them."""
    source = parser.add_mutually_exclusive_group()
    suffix = f" (default: {default})" if default else ""
    source.add_argument("--stack", metavar="NAME", help=STACK_OFFLINE_HELP + suffix)
    source.add_argument("--stack-file", type=Path, metavar="PATH", help=STACK_FILE_HELP)


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", "-q", action="store_true", help=QUIET_HELP)


def yaml_where(error: BaseException) -> str:
    """` at line L, column C` of a PyYAML error (its problem_mark, else its context_mark); ''."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is None:
        return ""
    return f" at line {mark.line + 1}, column {mark.column + 1}"


def yaml_problem(error: BaseException) -> str:
    """What PyYAML says is wrong, without its location lines."""
    return one_line(getattr(error, "problem", None) or error)


def yaml_error(source: str, error: BaseException) -> str:
    """`FILE: not valid YAML at line L, column C: <problem>` for a PyYAML error."""
    return f"{source}: not valid YAML{yaml_where(error)}: {yaml_problem(error)}"


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """The current step of a long command: a spinner line on stderr while it runs (rich).

    `step(text)` replaces the line; `echo(line)` prints a line above it (for output that would
    otherwise cut through the spinner, such as a child process's). When not shown, both do
    nothing, so callers need no condition."""

    def __init__(self, live: Any = None, spinner: Any = None) -> None:
        self._live = live
        self._spinner = spinner

    @property
    def shown(self) -> bool:
        return self._live is not None

    def step(self, text: str) -> None:
        if self._spinner is not None:
            from rich.text import Text

            self._spinner.update(text=Text(one_line(text), overflow="ellipsis", no_wrap=True))

    def echo(self, line: str) -> None:
        if self._live is not None:
            from rich.text import Text

            self._live.console.print(Text(line.rstrip("\n")), soft_wrap=True, highlight=False)


@contextmanager
def progress(quiet: bool = False, stream: TextIO | None = None) -> Iterator[Progress]:
    """A Progress shown on `stream` (stderr) while the block runs; silent with --quiet or when
    the stream is not a terminal (pipes, CI logs, captured test output). The line is cleared
    when the block ends."""
    stream = stream if stream is not None else sys.stderr
    if quiet or not is_terminal(stream):
        yield Progress()
        return
    from rich.console import Console
    from rich.live import Live
    from rich.spinner import Spinner
    from rich.text import Text

    console = Console(file=stream)
    spinner = Spinner("dots", text=Text(""))
    # Our own prints to a terminal stdout go above the spinner instead of through it; a piped
    # stdout is left alone (it is not on the screen, and --json output must stay pure).
    live = Live(spinner, console=console, transient=True, refresh_per_second=8,
                redirect_stdout=is_terminal(sys.stdout), redirect_stderr=True)
    with live:
        yield Progress(live, spinner)
