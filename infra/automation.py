"""Stacks from Python: the Automation API front door for preview, up, destroy, refresh and outputs.

Scripts import this module to drive a stack of this project's local program: the work dir is
the project root, so the CLI reads `Pulumi.yaml` (python runtime, virtualenv `.venv`) and
`Pulumi.<stack>.yaml` exactly as `pulumi up` would. The engine's text output is streamed to the
caller line by line; its structured events are collected and turned into the document that
`pulumi preview --json --show-sames` prints, so the cost estimator reads either.

Every failure comes back as `AutomationError` (or a subclass) whose message is one line naming
the stack and the step that failed, never a raw CLI dump. The Automation API drives the `pulumi`
CLI, so it must be on PATH; `require_cli` says so, and how to install it, before anything runs.

The core (engine events -> preview document, outputs -> JSON, change summaries) is pure and
fed with real `pulumi.automation.events` objects in the tests; I/O lives in the stack functions
and `write_json_atomic`.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol

from pulumi import automation as auto
from pulumi.automation import events as engine_events

from infra.settings import PROJECT, ConfigError, Settings, settings_from_values

ROOT = Path(__file__).resolve().parent.parent

# What the engine and `pulumi preview --json` print for a value known only after `up`.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET = "[secret]"
# The engine serialises a secret as {SIG_KEY: SECRET_SIG, "ciphertext"|"plaintext": ...};
# engine events carry it blinded ("ciphertext": "[secret]").
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

INSTALL_HINT = "install the Pulumi CLI (see the Pulumi docs, 'Download & install') and put it on PATH"

# Steps the engine takes on behalf of a logical replace; `pulumi preview --json` shows only the
# logical "replace" step unless asked for replacement steps.
REPLACEMENT_OPS = frozenset(
    {"create-replacement", "delete-replaced", "read-replacement", "discard-replaced", "import-replacement"}
)

Line = Callable[[str], object]


class AutomationError(Exception):
    """A stack operation that could not run or failed. `str()` is one line: stack, step, problem."""

    def __init__(self, stack: str, step: str, problem: str) -> None:
        self.stack = stack
        self.step = step
        self.problem = _one_line(problem)
        super().__init__(f"stack {stack}: {step}: {self.problem}")


class PulumiCliMissing(AutomationError):
    """The `pulumi` CLI, which the Automation API drives, is not on PATH."""


class StackNotFound(AutomationError):
    """The stack does not exist in the current backend (from the SDK's StackNotFoundError)."""


class StackBusy(AutomationError):
    """Another update holds the stack's lock (from the SDK's ConcurrentUpdateError)."""


class StackConfigInvalid(AutomationError):
    """The stack's config does not validate; `key` names the offending config key."""

    def __init__(self, stack: str, step: str, problem: str, key: str) -> None:
        self.key = key
        super().__init__(stack, step, problem)


# --------------------------------------------------------------------------------------------
# Pure core: engine events -> the `pulumi preview --json --show-sames` document


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return " ".join(lines) if len(lines) <= 3 else f"{lines[0]} … {lines[-1]}"


_COLOR_TAG = re.compile(r"<\{%[^%]*%\}>")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_colors(text: str) -> str:
    """Remove Pulumi's colour directives (`<{%fg 1%}>`) and ANSI escapes from engine text."""
    return _ANSI.sub("", _COLOR_TAG.sub("", text))


def is_secret(value: Any) -> bool:
    """True for the engine's serialised secret (blinded or not)."""
    return isinstance(value, dict) and value.get(_SIG_KEY) == _SECRET_SIG


def mask_secrets(value: Any) -> Any:
    """Replace every secret with "[secret]"; unknowns (already the magic string) and everything
    else, resource references and assets included, stay as the engine sent them."""
    if is_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {key: mask_secrets(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    return value


def state_document(state: engine_events.StepEventStateMetadata) -> dict[str, Any]:
    """One resource state as `pulumi preview --json` prints it (apitype.ResourceV3: empty
    optional fields are left out, `custom` is always there)."""
    document: dict[str, Any] = {"urn": state.urn, "custom": bool(state.custom)}
    if state.delete:
        document["delete"] = True
    if state.id:
        document["id"] = state.id
    document["type"] = state.type
    if state.inputs:
        document["inputs"] = mask_secrets(dict(state.inputs))
    if state.outputs:
        document["outputs"] = mask_secrets(dict(state.outputs))
    if state.parent:
        document["parent"] = state.parent
    if state.protect:
        document["protect"] = True
    if state.init_errors:
        document["initErrors"] = list(state.init_errors)
    if state.provider:
        document["provider"] = state.provider
    if state.retain_on_delete:
        document["retainOnDelete"] = True
    if state.taint:
        document["taint"] = True
    return document


def step_document(metadata: engine_events.StepEventMetadata) -> dict[str, Any]:
    """One step as `pulumi preview --json` prints it."""
    op = metadata.op.value if isinstance(metadata.op, engine_events.OpType) else str(metadata.op)
    step: dict[str, Any] = {"op": op, "urn": metadata.urn}
    if metadata.provider:
        step["provider"] = metadata.provider
    if metadata.old is not None:
        step["oldState"] = state_document(metadata.old)
    if metadata.new is not None:
        step["newState"] = state_document(metadata.new)
    if metadata.diffs:
        step["diffReasons"] = list(metadata.diffs)
    if metadata.keys:
        step["replaceReasons"] = list(metadata.keys)
    # The preview document renames the events' `diffKind` to `kind`; an absent diff is null.
    step["detailedDiff"] = (
        {
            path: {"kind": _diff_kind(diff.diff_kind), "inputDiff": bool(diff.input_diff)}
            for path, diff in sorted(metadata.detailed_diff.items())
        }
        if metadata.detailed_diff
        else None
    )
    return step


def _diff_kind(kind: Any) -> str:
    return kind.value if isinstance(kind, engine_events.DiffKind) else str(kind)


def _shown(metadata: engine_events.StepEventMetadata, show_replacement_steps: bool) -> bool:
    op = metadata.op.value if isinstance(metadata.op, engine_events.OpType) else str(metadata.op)
    if op in REPLACEMENT_OPS and not metadata.logical:
        return show_replacement_steps
    return True  # "same" included: this is the --show-sames document


def _in_order(events: Iterable[engine_events.EngineEvent]) -> list[engine_events.EngineEvent]:
    return sorted(events, key=lambda event: event.sequence)


def preview_document(
    events: Iterable[engine_events.EngineEvent], *, show_replacement_steps: bool = False
) -> dict[str, Any]:
    """Engine events of a preview -> what `pulumi preview --json --show-sames` prints:
    `{config?, steps: [{op, urn, provider?, oldState?, newState?, diffReasons?, replaceReasons?,
    detailedDiff}], diagnostics?, duration?, changeSummary, maybeCorrupt?}`."""
    config: dict[str, str] = {}
    steps: list[dict[str, Any]] = []
    diagnostics: list[dict[str, Any]] = []
    summary: engine_events.SummaryEvent | None = None
    for event in _in_order(events):
        if event.cancel_event is not None:
            break
        if event.prelude_event is not None:
            config = dict(event.prelude_event.config or {})
        elif event.diagnostic_event is not None:
            diagnostic = event.diagnostic_event
            if not diagnostic.ephemeral and diagnostic.severity != "debug":
                entry: dict[str, Any] = {}
                if diagnostic.urn:
                    entry["urn"] = diagnostic.urn
                entry["message"] = strip_colors((diagnostic.prefix or "") + diagnostic.message)
                entry["severity"] = diagnostic.severity
                diagnostics.append(entry)
        elif event.stdout_event is not None:
            diagnostics.append({"message": strip_colors(event.stdout_event.message), "severity": "info"})
        elif event.resource_pre_event is not None:
            metadata = event.resource_pre_event.metadata
            if _shown(metadata, show_replacement_steps):
                steps.append(step_document(metadata))
        elif event.summary_event is not None:
            summary = event.summary_event

    document: dict[str, Any] = {}
    if config:
        document["config"] = {key: config[key] for key in sorted(config)}
    document["steps"] = steps
    if diagnostics:
        document["diagnostics"] = diagnostics
    if summary is not None:
        if summary.duration_seconds:
            document["duration"] = int(summary.duration_seconds) * 1_000_000_000  # Go: nanoseconds
        changes = {str(op): int(count) for op, count in (summary.resource_changes or {}).items()}
    else:
        changes = count_ops(steps)
    document["changeSummary"] = {op: changes[op] for op in sorted(changes)}
    if summary is not None and summary.maybe_corrupt:
        document["maybeCorrupt"] = True
    return document


def count_ops(steps: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Steps per op, for when the engine sent no summary."""
    counts: dict[str, int] = {}
    for step in steps:
        counts[step["op"]] = counts.get(step["op"], 0) + 1
    return counts


def first_error(events: Iterable[engine_events.EngineEvent]) -> str | None:
    """The engine's first error diagnostic (what failed and why), without colours."""
    for event in _in_order(events):
        diagnostic = event.diagnostic_event
        if diagnostic is not None and diagnostic.severity == "error":
            message = strip_colors((diagnostic.prefix or "") + diagnostic.message).strip()
            if message:
                return message
    return None


_VERBS = (
    ("create", "to create"),
    ("update", "to update"),
    ("replace", "to replace"),
    ("delete", "to delete"),
    ("read", "to read"),
    ("refresh", "to refresh"),
    ("import", "to import"),
    ("same", "unchanged"),
)


def describe_changes(changes: Mapping[str, int]) -> str:
    """A change summary as one line: '3 to create, 1 to update, 12 unchanged'."""
    known = dict(_VERBS)
    parts = [f"{changes[op]} {label}" for op, label in _VERBS if changes.get(op)]
    parts += [f"{count} {op}" for op, count in sorted(changes.items()) if op not in known and count]
    return ", ".join(parts) if parts else "no changes"


class _OutputValue(Protocol):
    value: Any
    secret: bool


def outputs_document(outputs: Mapping[str, _OutputValue], *, reveal_secrets: bool) -> dict[str, Any]:
    """Stack outputs as `pulumi stack output --json` prints them: secrets as "[secret]" unless
    `reveal_secrets` (what `--show-secrets` adds)."""
    return {
        name: outputs[name].value if reveal_secrets or not outputs[name].secret else SECRET
        for name in sorted(outputs)
    }


def config_values(config: Mapping[str, Any]) -> tuple[dict[str, Any], str | None, set[str]]:
    """The stack's config (namespaced keys -> ConfigValue or text) -> (project values without
    the namespace, aws:region, keys holding secrets)."""
    prefix = f"{PROJECT}:"
    values: dict[str, Any] = {}
    secret_keys: set[str] = set()
    for key, raw in config.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        values[name] = getattr(raw, "value", raw)
        if getattr(raw, "secret", False):
            secret_keys.add(name)
    region = config.get("aws:region")
    return values, getattr(region, "value", region), secret_keys


def validate_config(stack_name: str, config: Mapping[str, Any]) -> Settings:
    """Validate a stack's config with the program's own rules, before the engine starts."""
    values, region, secret_keys = config_values(config)
    try:
        return settings_from_values(values, stack=stack_name.rsplit("/", 1)[-1], region=region)
    except ConfigError as error:
        top = re.split(r"[.\[]", error.key, maxsplit=1)[0]
        # A message may quote the bad value; never echo a secret one.
        problem = f"config {PROJECT}:{error.key}: is not valid (value hidden: it is a secret)" if top in secret_keys else str(error)
        raise StackConfigInvalid(stack_name, "check config", problem, error.key) from None


def config_key(key: str) -> str:
    """A key as the CLI takes it: project keys get the project namespace."""
    return key if ":" in key else f"{PROJECT}:{key}"


def config_text(value: object) -> str:
    """A scalar config value as the CLI takes it (booleans lower-case, as YAML writes them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TypeError(f"a config value must be text, a number or a boolean, not {type(value).__name__}; "
                    "set structured values one path at a time, e.g. 'drivers.maxSize'")


# --------------------------------------------------------------------------------------------
# Edges: the CLI, the stack, the engine


class EventLog:
    """Collects engine events; the SDK may call it from its gRPC worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[engine_events.EngineEvent] = []

    def __call__(self, event: engine_events.EngineEvent) -> None:
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[engine_events.EngineEvent]:
        with self._lock:
            return _in_order(self._events)


def _print_stdout(line: str) -> None:
    print(line, file=sys.stdout, flush=True)


def _print_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def require_cli(stack_name: str, step: str, which: Callable[[str], str | None] = shutil.which) -> str:
    """The pulumi CLI's path, or PulumiCliMissing naming how to install it."""
    path = which("pulumi")
    if not path:
        raise PulumiCliMissing(stack_name, step, f"the pulumi CLI is not installed (not found on PATH); {INSTALL_HINT}")
    return path


def _command_problem(error: auto.CommandError, events: Iterable[engine_events.EngineEvent] = ()) -> str:
    """One line for a failed CLI command: the engine's first error, else the CLI's last
    `error:` line, else its exit code."""
    from_events = first_error(events)
    if from_events:
        return from_events
    text = str(error)
    stderr = text.split("\n stderr:", 1)[1] if "\n stderr:" in text else text
    errors = [line.strip() for line in stderr.splitlines() if line.strip().lower().startswith("error:")]
    if errors:
        return strip_colors(errors[-1]).removeprefix("error:").strip()
    code = re.search(r"code: (-?\d+)", text)
    return f"the pulumi CLI failed (exit code {code.group(1) if code else 'unknown'}); its output is above"


@contextmanager
def _step(stack_name: str, step: str, events: EventLog | None = None) -> Iterator[None]:
    """Turn whatever the SDK raises into one AutomationError naming the stack and the step."""
    try:
        yield
    except AutomationError:
        raise
    except auto.StackNotFoundError:
        raise StackNotFound(
            stack_name, step, f"no such stack; create it with `pulumi stack init {stack_name}` or ask for it to be created (create=True, --create)"
        ) from None
    except auto.ConcurrentUpdateError:
        raise StackBusy(
            stack_name, step, "another update holds the stack's lock; wait for it to finish, or run `pulumi cancel` if it died"
        ) from None
    except auto.CommandError as error:
        raise AutomationError(stack_name, step, _command_problem(error, events.events if events else ())) from None
    except auto.InvalidVersionError as error:
        raise AutomationError(stack_name, step, f"{_one_line(str(error))}; upgrade the pulumi CLI") from None
    except FileNotFoundError as error:
        if error.filename and Path(str(error.filename)).name == "pulumi":
            raise PulumiCliMissing(stack_name, step, f"the pulumi CLI could not be run; {INSTALL_HINT}") from None
        raise AutomationError(stack_name, step, f"{error.strerror}: {error.filename}") from None
    except PermissionError as error:
        raise AutomationError(stack_name, step, f"{error.strerror}: {error.filename}") from None
    except ValueError as error:  # the CLI printed something that is not the JSON it promises
        raise AutomationError(stack_name, step, f"unexpected output from the pulumi CLI ({_one_line(str(error))})") from None
    except RuntimeError as error:  # e.g. the SDK's "summary event never found"
        raise AutomationError(stack_name, step, f"the engine stopped early: {_one_line(str(error))}") from None


def open_stack(
    stack_name: str,
    *,
    create: bool = False,
    work_dir: Path = ROOT,
    which: Callable[[str], str | None] = shutil.which,
) -> auto.Stack:
    """Select (or, with `create`, create or select) a stack of the local program in `work_dir`."""
    step = "create or select stack" if create else "select stack"
    require_cli(stack_name, step, which)
    with _step(stack_name, step):
        if create:
            return auto.create_or_select_stack(stack_name=stack_name, work_dir=str(work_dir))
        return auto.select_stack(stack_name=stack_name, work_dir=str(work_dir))


def check_config(stack: auto.Stack) -> Settings:
    """Read the stack's config through the CLI and validate it as the program would."""
    with _step(stack.name, "check config"):
        config = stack.get_all_config()
    return validate_config(stack.name, config)


def set_config(stack: auto.Stack, key: str, value: object, *, secret: bool = False) -> None:
    """Set one config value; `key` may be a path into a structured value ('drivers.maxSize')."""
    text = config_text(value)
    full_key = config_key(key)
    with _step(stack.name, f"set config {full_key}"):
        stack.set_config(full_key, auto.ConfigValue(value=text, secret=secret), path="." in key or "[" in key)


@dataclass(frozen=True)
class PreviewReport:
    """A preview: the `pulumi preview --json --show-sames` document and the raw events."""

    stack: str
    document: dict[str, Any]
    events: tuple[engine_events.EngineEvent, ...]

    @property
    def change_summary(self) -> dict[str, int]:
        return dict(self.document.get("changeSummary") or {})

    @property
    def has_changes(self) -> bool:
        return any(count for op, count in self.change_summary.items() if op != "same")


@dataclass(frozen=True)
class OperationReport:
    """What an up, destroy or refresh did."""

    stack: str
    operation: str
    result: str
    resource_changes: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "operation": self.operation,
            "result": self.result,
            "resourceChanges": dict(sorted(self.resource_changes.items())),
        }


def _engine_run(
    stack_name: str, step: str, operation: Callable[..., Any], diff: bool, on_output: Line | None, on_error: Line | None
) -> tuple[EventLog, Any]:
    """Run one engine operation with output streamed and events collected; failures name the step."""
    log = EventLog()
    with _step(stack_name, step, log):
        result = operation(diff=diff or None, on_output=on_output, on_error=on_error, on_event=log)
    return log, result


def preview(
    stack_name: str,
    *,
    create: bool = False,
    diff: bool = False,
    check: bool = True,
    show_replacement_steps: bool = False,
    on_output: Line | None = _print_stdout,
    on_error: Line | None = _print_stderr,
    work_dir: Path = ROOT,
) -> PreviewReport:
    """Preview an update, streaming the engine's output; return the preview document."""
    stack = open_stack(stack_name, create=create, work_dir=work_dir)
    if check:
        check_config(stack)
    log, _ = _engine_run(stack_name, "preview", stack.preview, diff, on_output, on_error)
    events = log.events
    return PreviewReport(stack_name, preview_document(events, show_replacement_steps=show_replacement_steps), tuple(events))


def preview_destroy(
    stack_name: str,
    *,
    diff: bool = False,
    on_output: Line | None = _print_stdout,
    on_error: Line | None = _print_stderr,
    work_dir: Path = ROOT,
) -> PreviewReport:
    """Preview a destroy (what would be deleted), streaming the engine's output."""
    stack = open_stack(stack_name, work_dir=work_dir)
    log, _ = _engine_run(stack_name, "preview destroy", stack.preview_destroy, diff, on_output, on_error)
    events = log.events
    return PreviewReport(stack_name, preview_document(events), tuple(events))


def _report(stack_name: str, operation: str, summary: Any) -> OperationReport:
    changes = dict(getattr(summary, "resource_changes", None) or {})
    return OperationReport(stack_name, operation, str(getattr(summary, "result", "succeeded")), changes)


def up(
    stack_name: str,
    *,
    create: bool = False,
    diff: bool = False,
    check: bool = True,
    on_output: Line | None = _print_stdout,
    on_error: Line | None = _print_stderr,
    work_dir: Path = ROOT,
) -> OperationReport:
    """Create or update the stack's resources, streaming the engine's output. No prompt: callers
    that want one preview first (the CLI does)."""
    stack = open_stack(stack_name, create=create, work_dir=work_dir)
    if check:
        check_config(stack)
    _, result = _engine_run(stack_name, "up", stack.up, diff, on_output, on_error)
    return _report(stack_name, "up", result.summary)


def destroy(
    stack_name: str,
    *,
    diff: bool = False,
    on_output: Line | None = _print_stdout,
    on_error: Line | None = _print_stderr,
    work_dir: Path = ROOT,
) -> OperationReport:
    """Delete every resource of the stack (the stack itself stays), streaming the engine's output."""
    stack = open_stack(stack_name, work_dir=work_dir)
    _, result = _engine_run(stack_name, "destroy", stack.destroy, diff, on_output, on_error)
    return _report(stack_name, "destroy", result.summary)


def refresh(
    stack_name: str,
    *,
    diff: bool = False,
    on_output: Line | None = _print_stdout,
    on_error: Line | None = _print_stderr,
    work_dir: Path = ROOT,
) -> OperationReport:
    """Bring the stack's state in line with what exists in the cloud, streaming the engine's output."""
    stack = open_stack(stack_name, work_dir=work_dir)
    _, result = _engine_run(stack_name, "refresh", stack.refresh, diff, on_output, on_error)
    return _report(stack_name, "refresh", result.summary)


def stack_outputs(stack_name: str, *, work_dir: Path = ROOT) -> dict[str, auto.OutputValue]:
    """The stack's outputs as the SDK gives them: value (secrets in plain text) and a secret flag."""
    stack = open_stack(stack_name, work_dir=work_dir)
    with _step(stack_name, "read outputs"):
        return dict(stack.outputs())


def read_stack_outputs(stack_name: str) -> dict[str, Any]:
    """The stack's outputs as plain values, secrets revealed (for the jobs submitter; keep them
    in memory or in a private file, never print them)."""
    return outputs_document(stack_outputs(stack_name), reveal_secrets=True)


def write_json_atomic(path: Path | str, document: Any, *, overwrite: bool, private: bool = False) -> None:
    """Write JSON so readers see the old file or the whole new one, never half of it.

    Without `overwrite` an existing file is never replaced (FileExistsError), even one that
    appeared while the engine ran. `private` makes the file owner-only (it holds secrets).
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=4)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o600 if private else 0o644 & ~_umask())
        if overwrite:
            os.replace(temporary, path)
        else:
            _place_new(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _place_new(temporary: str, path: Path) -> None:
    """Move `temporary` to `path` only if `path` does not exist."""
    try:
        os.link(temporary, path)  # atomic and refuses an existing target
    except FileExistsError:
        raise
    except OSError:
        # A filesystem without hard links: check, then rename (a narrow race, still atomic).
        if path.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.replace(temporary, path)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
