"""`python -m infra.deploy`: preview, up, destroy, refresh or read the outputs of a stack.

A thin CLI over `infra.automation` (the Pulumi Automation API, local program, work dir = the
project root). Examples:

    python -m infra.deploy preview --stack dev --preview-out preview.json
    python -m infra.deploy up --stack dev            # previews, then asks before changing anything
    python -m infra.deploy outputs --stack dev --outputs-out outputs.json --show-secrets
    python -m infra.deploy destroy --stack dev       # asks you to type the stack name
    python -m infra.deploy up --help                 # each action's own flags

`--stack NAME` is asked of the Pulumi engine (the stack's backend: Pulumi Cloud or the one
`pulumi login` chose), not read from Pulumi.NAME.yaml alone. `up` and `destroy` ask on stdin
unless --yes; `destroy` refuses a stack named prod* unless --yes-really. Output files are written atomically and never replace an existing file unless
--force. Secrets are never printed: only `--outputs-out FILE --show-secrets` writes them, to an
owner-only file.

Exit codes: 0 ok; 1 a step failed (engine error, invalid stack config, confirmation declined);
2 bad input or missing tool (a flag, the stack name, an existing output file, the prod guard,
no such stack, no pulumi CLI), one line each: `infra.deploy: error: …`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

from cli_common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    STACK_ONLINE_HELP,
    CliError,
    Parser,
    exit_codes,
    print_error,
)
from infra import automation

TOOL = "infra.deploy"
COMMANDS = ("preview", "up", "destroy", "refresh", "outputs")
_STACK_NAME = re.compile(r"^(?:[A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+$")

# Which flags each action takes; a flag of another action is refused by name, not ignored.
_ALLOWED: dict[str, frozenset[str]] = {
    "yes": frozenset({"up", "destroy"}),
    "yes_really": frozenset({"destroy"}),
    "create": frozenset({"preview", "up"}),
    "diff": frozenset({"preview", "up", "destroy", "refresh"}),
    "preview_out": frozenset({"preview"}),
    "outputs_out": frozenset({"outputs", "up"}),
    "show_secrets": frozenset({"outputs", "up"}),
    "force": frozenset({"preview", "outputs", "up"}),
}
_HELP = {
    "preview": "show what `up` would change (nothing is changed)",
    "up": "preview, ask, then create or update the stack's resources",
    "destroy": "preview the deletion, ask for the stack name, then delete every resource",
    "refresh": "read the real state of the stack's resources into the stack's state",
    "outputs": "print the stack's outputs (secrets masked), or write them to a file",
}
EXIT_CODES = exit_codes("a step failed (engine error, invalid stack config, confirmation declined)")


def _add_flag(command: argparse.ArgumentParser, name: str, dest: str, **kwargs: object) -> None:
    if name in _ALLOWED[dest]:
        command.add_argument(f"--{dest.replace('_', '-')}", **kwargs)  # type: ignore[arg-type]


def build_parser() -> Parser:
    parser = Parser(prog=f"python -m {TOOL}", description=__doc__.split("\n\nExit codes:")[0], epilog=EXIT_CODES)
    commands = parser.add_subparsers(dest="command", metavar="command", required=True, parser_class=Parser,
                                     title="commands (each has its own --help)")
    for name in COMMANDS:
        command = commands.add_parser(name, help=_HELP[name], description=f"{_HELP[name]}.", epilog=EXIT_CODES)
        command.add_argument("--stack", required=True, metavar="NAME",
                             help=f"{STACK_ONLINE_HELP}; e.g. dev, or org/project/dev")
        _add_flag(command, name, "create", action="store_true", help="create the stack if it does not exist")
        _add_flag(command, name, "yes", action="store_true", help="do not ask for confirmation")
        _add_flag(command, name, "yes_really", action="store_true", help="allow destroying a stack named prod*")
        _add_flag(command, name, "diff", action="store_true", help="show a rich diff of every change")
        command.add_argument("--json", action="store_true", help="print JSON on stdout (the engine's own output goes to stderr)")
        _add_flag(command, name, "preview_out", type=Path, metavar="FILE",
                  help="write the steps as `pulumi preview --json --show-sames` does")
        _add_flag(command, name, "outputs_out", type=Path, metavar="FILE",
                  help="write the outputs as `pulumi stack output --json` does" + (" (after the update)" if name == "up" else ""))
        _add_flag(command, name, "show_secrets", action="store_true",
                  help="with --outputs-out: write secrets in plain text (owner-only file); never printed")
        _add_flag(command, name, "force", action="store_true",
                  help=f"replace an existing {'--preview-out' if name == 'preview' else '--outputs-out'} file")
        # Flags this action does not take read as unset, so the runner asks every action alike.
        command.set_defaults(**{dest: None for dest, actions in _ALLOWED.items() if name not in actions})
    return parser


def misplaced_flag(argv: list[str]) -> str | None:
    """A flag given to an action that does not take it, named with the actions that do."""
    command = next((token for token in argv if not token.startswith("-")), None)
    if command not in COMMANDS:
        return None
    for token in argv:
        dest = token.split("=", 1)[0].removeprefix("--").replace("-", "_")
        if token.startswith("--") and dest in _ALLOWED and command not in _ALLOWED[dest]:
            return f"--{dest.replace('_', '-')} only applies to {' and '.join(sorted(_ALLOWED[dest]))}, not {command}"
    return None


def is_protected(stack_name: str) -> bool:
    """Stacks whose name (last path segment) starts with 'prod' need --yes-really to destroy."""
    return stack_name.rsplit("/", 1)[-1].lower().startswith("prod")


def output_path_problem(path: Path, *, force: bool, flag: str) -> str | None:
    """Why `path` cannot take the output, checked before anything runs."""
    if path.is_dir():
        return f"{flag} {path}: is a directory; give a file name"
    if not path.parent.is_dir():
        return f"{flag} {path}: directory {path.parent} does not exist; create it first"
    if path.exists() and not force:
        return f"{flag} {path}: the file exists; pass --force to replace it (nothing was run)"
    return None


def usage_problem(args: argparse.Namespace) -> str | None:
    """The first thing wrong with the command line, as one line; None if it can run."""
    if not _STACK_NAME.match(args.stack):
        return f"--stack {args.stack!r}: a stack name is letters, digits, '-', '_' and '.' (optionally org/project/name)"
    if args.show_secrets and not args.outputs_out:
        return "--show-secrets only applies with --outputs-out FILE: secrets are never printed"
    if args.force and not (args.preview_out or args.outputs_out):
        return "--force only applies with --preview-out or --outputs-out"
    if args.command == "destroy" and is_protected(args.stack) and not args.yes_really:
        return f"refusing to destroy stack {args.stack}: its name starts with 'prod'; pass --yes-really if you mean it"
    for flag, path in (("--preview-out", args.preview_out), ("--outputs-out", args.outputs_out)):
        if path is not None:
            problem = output_path_problem(path, force=args.force, flag=flag)
            if problem:
                return problem
    return None


def _printer(stream: TextIO) -> Callable[[str], None]:
    def emit(line: str) -> None:
        print(line, file=stream, flush=True)

    return emit


def _ask(question: str, stdin: TextIO, stderr: TextIO) -> str | None:
    """The answer to a question on stdin; None when stdin is closed (nobody to ask)."""
    print(question, end="", file=stderr, flush=True)
    answer = stdin.readline()
    if not answer or not _is_terminal(stdin):
        print(file=stderr)  # a terminal echoed the user's Enter; piped input did not
    return answer.strip() if answer else None


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _Declined(Exception):
    def __init__(self, message: str, code: int) -> None:
        self.code = code
        super().__init__(message)


def _confirm(question: str, accepted: Callable[[str], bool], command: str, stdin: TextIO, stderr: TextIO) -> None:
    answer = _ask(question, stdin, stderr)
    if answer is None:
        raise _Declined(f"stdin is closed, so nobody can confirm; pass --yes to {command} without asking", 2)
    if not accepted(answer):
        raise _Declined(f"{command} cancelled; nothing was changed", 1)


def _write(path: Path, document: Any, *, force: bool, private: bool, stderr: TextIO, what: str) -> None:
    automation.write_json_atomic(path, document, overwrite=force, private=private)
    print(f"wrote {what} to {path}", file=stderr, flush=True)


def _print_json(document: Any, stdout: TextIO) -> None:
    json.dump(document, stdout, indent=4)
    stdout.write("\n")
    stdout.flush()


def _write_outputs(args: argparse.Namespace, outputs: dict[str, Any], stderr: TextIO) -> None:
    document = automation.outputs_document(outputs, reveal_secrets=args.show_secrets)
    note = "outputs (secrets in plain text, owner-only file)" if args.show_secrets else "outputs (secrets masked)"
    _write(args.outputs_out, document, force=args.force, private=args.show_secrets, stderr=stderr, what=note)


def _run(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    stack = args.stack
    streams = {
        "on_output": _printer(stderr if args.json else stdout),
        "on_error": _printer(stderr),
    }

    if args.command == "preview":
        report = automation.preview(stack, create=args.create, diff=args.diff, **streams)
        if args.preview_out:
            _write(args.preview_out, report.document, force=args.force, private=False, stderr=stderr, what="preview steps")
        if args.json:
            _print_json(report.document, stdout)
        print(f"stack {stack}: {automation.describe_changes(report.change_summary)}", file=stderr, flush=True)
        return 0

    if args.command == "up":
        previewed = False
        if not args.yes:
            report = automation.preview(stack, create=args.create, diff=args.diff, **streams)
            previewed = True
            changes = automation.describe_changes(report.change_summary)
            _confirm(f"Update stack {stack} ({changes})? [y/N] ", lambda a: a.lower() in ("y", "yes"), "up", stdin, stderr)
        # The preview has just validated the config; with --yes, up checks it itself.
        result = automation.up(stack, create=args.create, diff=args.diff, check=not previewed, **streams)
    elif args.command == "destroy":
        if not args.yes:
            report = automation.preview_destroy(stack, diff=args.diff, **streams)
            changes = automation.describe_changes(report.change_summary)
            _confirm(f"Destroy stack {stack} ({changes})? Type the stack name to confirm: ",
                     lambda answer: answer == stack, "destroy", stdin, stderr)
        result = automation.destroy(stack, diff=args.diff, **streams)
    elif args.command == "refresh":
        result = automation.refresh(stack, diff=args.diff, **streams)
    else:
        outputs = automation.stack_outputs(stack)
        if args.outputs_out:
            _write_outputs(args, outputs, stderr)
        masked = automation.outputs_document(outputs, reveal_secrets=False)
        if args.json:
            _print_json(masked, stdout)
        else:
            width = max((len(name) for name in masked), default=0)
            for name, value in masked.items():
                shown = value if isinstance(value, str) else json.dumps(value)
                print(f"{name:<{width}}  {shown}", file=stdout)
        return 0

    if args.command == "up" and args.outputs_out:
        _write_outputs(args, automation.stack_outputs(stack), stderr)
    if args.json:
        _print_json(result.as_json(), stdout)
    print(f"stack {stack}: {result.operation} {result.result}: {automation.describe_changes(result.resource_changes)}",
          file=stderr, flush=True)
    return 0 if result.result == "succeeded" else 1


def main(
    argv: list[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> int:
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    argv = sys.argv[1:] if argv is None else list(argv)

    def fail(message: object, code: int = EXIT_BAD_INPUT) -> int:
        print_error(TOOL, message, stderr)
        return code

    try:
        misplaced = misplaced_flag(argv)
        if misplaced:
            return fail(misplaced)
        args = build_parser().parse_args(argv)
    except CliError as error:
        return fail(error, error.exit_code)
    try:
        # Before anything else: every command needs the CLI the Automation API drives.
        automation.require_cli(args.stack, args.command, which)
    except automation.PulumiCliMissing as error:
        return fail(error)
    problem = usage_problem(args)
    if problem:
        return fail(problem)
    try:
        return _run(args, stdin, stdout, stderr)
    except _Declined as declined:
        return fail(declined, declined.code)
    except automation.AutomationError as error:
        missing = isinstance(error, (automation.PulumiCliMissing, automation.StackNotFound))
        return fail(error, EXIT_BAD_INPUT if missing else EXIT_FAILED)
    except FileExistsError as error:
        return fail(f"{error.filename}: the file appeared while the engine ran; pass --force to replace it")
    except OSError as error:  # only our own file writes get here; the engine's are AutomationErrors
        return fail(f"cannot write {error.filename or 'the output file'}: {error.strerror or error}", EXIT_FAILED)
    except KeyboardInterrupt:
        return fail(f"interrupted; if an update of {args.stack} was running, `pulumi cancel` releases its lock", EXIT_FAILED)


if __name__ == "__main__":
    sys.exit(main())
