"""Read what the engine would do: a `pulumi preview --json` or two offline plans → changes.

A change is one resource with the state it has before and after (either may be absent)
and the operation between them. Pure functions over parsed JSON; the CLI does the file
reading. A preview lists a replacement as up to three steps with one URN
(create-replacement, replace, delete-replaced): they are folded into one change so the
resource is counted once. A state the stack only reads (`external`) is never the stack's to
pay for, whatever the operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

# What the engine prints for a value only known after apply, and for a secret.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET = "[secret]"
PLAN_UNKNOWN = "(known after up)"  # the offline plan's placeholder for the same thing
_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # the engine's marker key for a secret value

REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced", "import-replacement", "read-replacement", "discard-replaced"})
OPS = frozenset({"create", "update", "delete", "same", "read", "refresh", "import", "discard", "remove-pending-replace"}) | REPLACE_OPS


class InputError(ValueError):
    """An input document that cannot be read; the message is one line naming the field."""


def is_hidden(value: Any) -> bool:
    """True for a value the preview does not show: unknown until apply, or a secret."""
    if isinstance(value, str):
        return value in (UNKNOWN, SECRET, PLAN_UNKNOWN)
    return isinstance(value, dict) and _SECRET_SIG in value


@dataclass(frozen=True)
class State:
    """One side of a change: the resource as declared, and the region its provider targets."""

    type: str
    inputs: dict[str, Any]
    region: str | None = None
    parent: str | None = None
    custom: bool | None = None
    retain_on_delete: bool = False


@dataclass(frozen=True)
class Change:
    urn: str
    type: str
    name: str
    op: str
    before: State | None
    after: State | None


def urn_parts(urn: str) -> tuple[str, str]:
    """(qualified type chain, name) of a URN `urn:pulumi:stack::project::a$b$type::name`."""
    parts = urn.split("::", 3)
    if len(parts) != 4:
        return "", urn
    return parts[2], parts[3]


def _provider_region(inputs: Any) -> str | None:
    region = inputs.get("region") if isinstance(inputs, dict) else None
    return region if isinstance(region, str) and region and not is_hidden(region) else None


def _is_aws_provider(type_token: str) -> bool:
    return type_token == "pulumi:providers:aws"


def own_region(type_token: str, inputs: Any, fallback: str | None) -> str | None:
    """The region a resource lives in: its own `region` input, else its provider's (`fallback`).

    pulumi-aws 7 gives most resources a `region` input that overrides the provider's region
    (pulumi registry, aws how-to-guides/aws-enhanced-region-support). Providers and
    components are not AWS resources, so only `aws:` types are read this way.
    """
    if not type_token.startswith("aws:"):
        return fallback
    return _provider_region(inputs) or fallback


def _state(raw: Any, where: str, type_hint: str, provider_regions: dict[str, str], default_region: str | None) -> State | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InputError(f"{where} must be an object")
    inputs = raw.get("inputs")
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        raise InputError(f"{where}.inputs must be an object")
    provider = raw.get("provider")
    region = default_region
    if isinstance(provider, str) and provider:
        # A provider reference is "<provider urn>::<provider id>".
        region = provider_regions.get(provider.rsplit("::", 1)[0], default_region)
    parent = raw.get("parent")
    custom = raw.get("custom")
    type_token = str(raw.get("type") or type_hint)
    return State(
        type=type_token,
        inputs=inputs,
        region=own_region(type_token, inputs, region),
        parent=parent if isinstance(parent, str) and parent else None,
        custom=custom if isinstance(custom, bool) else None,
        retain_on_delete=raw.get("retainOnDelete") is True,
    )


def _checked_steps(document: Any, source: str) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("steps"), list):
        raise InputError(f"{source}: no `steps` list; pass what `pulumi preview --json --show-sames` prints")
    steps = document["steps"]
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            raise InputError(f"{source}: steps[{index}] must be an object")
        if not isinstance(step.get("urn"), str) or not step["urn"]:
            raise InputError(f"{source}: steps[{index}].urn is missing; pass what `pulumi preview --json` prints")
        if not isinstance(step.get("op"), str) or not step["op"]:
            raise InputError(f"{source}: steps[{index}].op is missing; pass what `pulumi preview --json` prints")
        for side in ("oldState", "newState"):
            if step.get(side) is not None and not isinstance(step[side], dict):
                raise InputError(f"{source}: steps[{index}].{side} must be an object")
    _check_sames_listed(document, steps, source)
    return steps


def _check_sames_listed(document: dict[str, Any], steps: list[dict[str, Any]], source: str) -> None:
    """Refuse a preview whose unchanged resources were left out: its totals would drop them.

    `pulumi preview --json` lists a `same` step only with `--show-sames` (and always the root
    stack, and a same whose `protect` changed), while `changeSummary.same` counts every
    unchanged resource (pulumi pkg/backend/display/display.go `shouldShow`, json.go
    `ShowPreviewDigest`). More counted than listed means the flag was missing.
    """
    summary = document.get("changeSummary")
    counted = summary.get("same") if isinstance(summary, dict) else None
    if isinstance(counted, bool) or not isinstance(counted, int):
        return
    listed = sum(1 for step in steps if step["op"] == "same")
    if counted > listed:
        raise InputError(
            f"{source}: changeSummary counts {counted} unchanged resources but only {listed} `same` steps are listed, "
            "so the totals would leave the rest out; rerun `pulumi preview --json --show-sames`"
        )


def preview_regions(steps: Iterable[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    """Region of every AWS provider, by provider URN, in the old and in the new states."""
    old: dict[str, str] = {}
    new: dict[str, str] = {}
    for step in steps:
        for side, regions in (("oldState", old), ("newState", new)):
            state = step.get(side) or {}
            if _is_aws_provider(str(state.get("type") or urn_parts(step["urn"])[0].rsplit("$", 1)[-1])):
                region = _provider_region(state.get("inputs"))
                if region:
                    regions[step["urn"]] = region
    return old, new


def default_region_of(regions: dict[str, str], fallback: str | None) -> str | None:
    """The region for resources whose provider names none: --region, else the stack's only region."""
    if fallback:
        return fallback
    distinct = set(regions.values())
    return distinct.pop() if len(distinct) == 1 else None


# Ops whose new state the engine always marks External (the target of a read), and ops whose
# old state was a read (pulumi pkg/resource/deploy/step.go NewReadStep/NewReadReplacementStep;
# sdk/go/common/apitype OpReadDiscard "removing a resource that was read", OpDiscardReplaced
# "discarding a read resource that was replaced").
NEW_IS_READ_OPS = frozenset({"read", "read-replacement"})
OLD_IS_READ_OPS = frozenset({"discard", "discard-replaced"})


def external_sides(steps: Iterable[dict[str, Any]]) -> tuple[bool, bool]:
    """Whether one resource's old and new states are resources the stack only reads.

    `pulumi preview --json` prints a state's `external: true` (apitype.ResourceV3, omitted when
    false); the Automation API's step events carry no such field, so the op says what it can.
    A plain `read` may have a managed old state (a resource handed over to a read of the same ID,
    "relinquish" in pulumi's step_generator.go GenerateReadSteps) or an external one (the usual
    re-read): without flags in the document it is taken as the usual re-read."""
    steps = list(steps)
    ops = {step["op"] for step in steps}
    states = [(step.get(side) or {}, side) for step in steps for side in ("oldState", "newState")]
    flagged = any("external" in state for state, _ in states)
    old = bool(ops & OLD_IS_READ_OPS) or any(state.get("external") is True for state, side in states if side == "oldState")
    new = bool(ops & NEW_IS_READ_OPS) or any(state.get("external") is True for state, side in states if side == "newState")
    if "read" in ops and not flagged:
        old = True
    return old, new


def changes_from_preview(document: Any, source: str = "preview", region: str | None = None) -> list[Change]:
    """Fold the steps of `pulumi preview --json --show-sames` into one change per URN."""
    steps = _checked_steps(document, source)
    old_regions, new_regions = preview_regions(steps)
    old_default = default_region_of({**new_regions, **old_regions}, region)
    new_default = default_region_of({**old_regions, **new_regions}, region)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for step in steps:
        grouped.setdefault(step["urn"], []).append(step)

    changes = []
    for urn, urn_steps in grouped.items():
        chain, name = urn_parts(urn)
        type_hint = chain.rsplit("$", 1)[-1]
        ops = [step["op"] for step in urn_steps]
        olds = [s.get("oldState") for s in urn_steps if s.get("oldState")]
        news = [s.get("newState") for s in urn_steps if s.get("newState") and s["op"] != "delete-replaced"]
        old_state = _state(olds[0] if olds else None, f"{source}: oldState of {urn}", type_hint, old_regions, old_default)
        new_state = _state(news[-1] if news else None, f"{source}: newState of {urn}", type_hint, new_regions, new_default)
        op = "replace" if any(o in REPLACE_OPS for o in ops) else ops[-1]
        old_read, new_read = external_sides(urn_steps)
        before, after = _sides(op, None if old_read else old_state, None if new_read else new_state)
        type_token = (after or before or new_state or old_state or State(type_hint, {})).type
        changes.append(Change(urn=urn, type=type_token, name=name, op=op, before=before, after=after))
    return changes


def _sides(op: str, old: State | None, new: State | None) -> tuple[State | None, State | None]:
    """Which states cost money before and after the operation."""
    if op == "create":
        return None, new
    if op in ("delete", "discard", "remove-pending-replace"):
        return old, None
    if op == "import":
        return new, new  # it already exists; adopting it does not change the bill
    if op == "same":
        return old or new, new or old
    # update, replace, refresh, read (whose external sides the caller has already dropped), and
    # any op a newer engine adds: priced as a change, never dropped.
    return old, new


# ---- offline plans -----------------------------------------------------------------


def _checked_plan(document: Any, source: str) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        raise InputError(f"{source}: no `resources` list; pass what `python -m infra.plan --json` prints")
    resources = document["resources"]
    for index, resource in enumerate(resources):
        if not isinstance(resource, dict):
            raise InputError(f"{source}: resources[{index}] must be an object")
        for key in ("type", "name"):
            if not isinstance(resource.get(key), str) or not resource[key]:
                raise InputError(f"{source}: resources[{index}].{key} is missing")
        if not isinstance(resource.get("inputs", {}), dict):
            raise InputError(f"{source}: resources[{index}].inputs must be an object")
    return resources


def plan_region(document: dict[str, Any], fallback: str | None) -> str | None:
    """The plan's region: the `region` stack output, else its AWS provider's, else --region."""
    outputs = document.get("outputs")
    region = outputs.get("region") if isinstance(outputs, dict) else None
    if isinstance(region, str) and region and not is_hidden(region):
        return region
    for resource in document.get("resources", []):
        if isinstance(resource, dict) and _is_aws_provider(str(resource.get("type"))):
            region = _provider_region(resource.get("inputs"))
            if region:
                return region
    return fallback


def plan_states(document: Any, source: str = "plan", region: str | None = None) -> dict[str, State]:
    """The plan's resources keyed by `<type>::<name>` (offline plans have no parent chain, so no real URN)."""
    resources = _checked_plan(document, source)
    where = plan_region(document, region)
    states: dict[str, State] = {}
    for resource in resources:
        key = f"{resource['type']}::{resource['name']}"
        if key in states:
            raise InputError(f"{source}: {key} is listed twice")
        inputs = resource.get("inputs") or {}
        states[key] = State(type=resource["type"], inputs=inputs, region=own_region(resource["type"], inputs, where))
    return states


def changes_from_plans(base: dict[str, State], head: dict[str, State]) -> list[Change]:
    """Pair two plans by type and name. Plans cannot tell an update from a replacement: both are `update`."""
    changes = []
    for key in list(head) + [k for k in base if k not in head]:
        old, new = base.get(key), head.get(key)
        type_token, name = key.split("::", 1)
        if old is None:
            op = "create"
        elif new is None:
            op = "delete"
        else:
            op = "same" if old.inputs == new.inputs and old.region == new.region else "update"
        changes.append(Change(urn=key, type=type_token, name=name, op=op, before=old, after=new))
    return changes


def estimate_changes(changes: list[Change]) -> list[Change]:
    """The after side alone, as if everything were created from nothing."""
    return [
        Change(urn=c.urn, type=c.type, name=c.name, op="create", before=None, after=c.after)
        for c in changes
        if c.after is not None
    ]


def document_kind(document: Any) -> str:
    """'preview', 'plan' or '' for anything else."""
    if isinstance(document, dict) and "steps" in document:
        return "preview"
    if isinstance(document, dict) and "resources" in document:
        return "plan"
    return ""
