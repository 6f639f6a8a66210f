"""Run the policy pack offline over an offline plan: no Pulumi CLI, no credentials.

    python -m policy.check --stack dev          # plan Pulumi.dev.yaml under mocks, then check it
    python -m policy.check --stack-file PATH    # the same for a stack file elsewhere
    python -m policy.check plan.json            # check `python -m infra.plan --json` output

Prints one line per violation (enforcement, rule, resource, message), or with --json one
document of them, and exits 1 when a mandatory rule is violated (or the stack config is
invalid), 0 otherwise, 2 on bad input.

The plan holds only (type, name, inputs). The same `POLICIES` that `pulumi preview`
runs are called with what the engine would pass them: inputs for resource policies,
and for stack policies the same records plus the property dependencies, rebuilt from
the plan's ids (infra/plan.py's mocks give every resource the id `<logical name>-id`,
and component references appear as URNs).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from cli_common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    Parser,
    add_offline_stack_arguments,
    add_quiet,
    exit_codes,
    print_error,
    progress,
)
from infra.settings import ConfigError
from policy.policies import POLICIES, PRIVATE_SUBNETS_POLICY

PROJECT = "spark-eks-spot"


class BadInput(Exception):
    """An input the check cannot read; the message is one line naming it and the fix."""


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str  # "mandatory" or "advisory"
    resource: str  # logical name, or "(stack)"
    type: str
    message: str

    @property
    def mandatory(self) -> bool:
        return self.enforcement == "mandatory"

    def line(self) -> str:
        where = self.resource if not self.type else f"{self.resource} ({self.type})"
        return f"[{self.enforcement}] {self.policy}: {where}: {self.message}"


def urn_for(stack: str, type_token: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{type_token}::{name}"


def no_options() -> PolicyResourceOptions:
    """The options of a resource that sets none (the plan does not record options)."""
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _references(text: str, by_id: Mapping[str, list[str]], by_urn_tail: Mapping[tuple[str, str], str]) -> list[str]:
    """The URNs of the plan resources a value may refer to: by mock id, or by URN.

    Resources of different types may share a logical name (a bucket and its public
    access block are both `storage-data`), and so a mock id; all of them are returned,
    as a rule only ever looks for the one type it relates.
    """
    if text in by_id:
        return by_id[text]
    if text.startswith("urn:pulumi:") and text.count("::") >= 3:
        head, _, name = text.rpartition("::")
        # The qualified type is `parent$...$type`; the plan's records carry the last one.
        type_token = head.rsplit("::", 1)[-1].rsplit("$", 1)[-1]
        target = by_urn_tail.get((type_token, name))
        return [target] if target else []
    return []


def policy_resources(plan: Mapping[str, Any], stack: str) -> list[PolicyResource]:
    """The plan's records as the engine's PolicyResource objects, property dependencies included."""
    records = plan.get("resources")
    if not isinstance(records, list):
        raise BadInput('the plan has no "resources" list; produce it with `python -m infra.plan --stack NAME --json`')
    resources: list[PolicyResource] = []
    for index, record in enumerate(records):
        if not (
            isinstance(record, Mapping)
            and isinstance(record.get("type"), str)
            and isinstance(record.get("name"), str)
            and isinstance(record.get("inputs", {}), Mapping)
        ):
            raise BadInput(f'plan resource #{index + 1} is not {{"type": str, "name": str, "inputs": {{...}}}}; regenerate the plan')
        urn = urn_for(stack, record["type"], record["name"])
        resources.append(
            PolicyResource(record["type"], dict(record.get("inputs") or {}), urn, record["name"], no_options(), None, None, [], {})
        )
    by_id: dict[str, list[str]] = {}
    for r in resources:
        by_id.setdefault(f"{r.name}-id", []).append(r.urn)
    by_urn_tail = {(r.resource_type, r.name): r.urn for r in resources}
    by_urn = {r.urn: r for r in resources}
    for resource in resources:
        for key, value in resource.props.items():
            depended = {
                target
                for text in _strings(value)
                for target in _references(text, by_id, by_urn_tail)
                if target != resource.urn
            }
            if depended:
                resource.property_dependencies[key] = [by_urn[u] for u in sorted(depended)]
                resource.dependencies.extend(by_urn[u] for u in sorted(depended) if by_urn[u] not in resource.dependencies)
    return resources


def evaluate(
    resources: list[PolicyResource],
    config: Mapping[str, Mapping[str, Any]] | None = None,
    policies: list[ResourceValidationPolicy | StackValidationPolicy] | None = None,
) -> list[Violation]:
    """Every violation the pack reports for these resources, in pack order."""
    config = config or {}
    by_urn = {r.urn: r for r in resources}
    violations: list[Violation] = []
    for policy in POLICIES if policies is None else policies:
        level = "mandatory" if policy.enforcement_level == EnforcementLevel.MANDATORY else "advisory"
        policy_config = config.get(policy.name)
        if isinstance(policy, ResourceValidationPolicy):
            for resource in resources:
                def report(message: str, urn: str | None = None, resource: PolicyResource = resource) -> None:
                    violations.append(Violation(policy.name, level, resource.name, resource.resource_type, message))

                args = ResourceValidationArgs(
                    resource.resource_type, resource.props, resource.urn, resource.name, resource.opts, None, policy_config
                )
                policy.validate(args, report)
        else:

            def report_stack(message: str, urn: str | None = None) -> None:
                target = by_urn.get(urn or "")
                name, type_token = (target.name, target.resource_type) if target else ("(stack)", "")
                violations.append(Violation(policy.name, level, name, type_token, message))

            policy.validate(StackValidationArgs(resources, policy_config), report_stack)
    return violations


def _file_plan(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file; pass a plan from `python -m infra.plan --json` or use --stack NAME") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"{path}: cannot read it ({error.__class__.__name__}); pass a readable plan file") from None
    except ValueError as error:
        raise BadInput(f"{path}: not JSON ({str(error).splitlines()[0]}); pass `python -m infra.plan --json` output") from None
    if not isinstance(document, dict):
        raise BadInput(f'{path}: not a plan object; expected {{"resources": [...], "outputs": {{...}}}}')
    return document


TOOL = "policy.check"


def build_parser() -> Parser:
    parser = Parser(
        prog=f"python -m {TOOL}",
        description=__doc__.split("\n\nThe plan holds")[0],
        epilog=exit_codes("a mandatory rule is violated, or the stack config is invalid"),
    )
    add_offline_stack_arguments(parser)
    parser.add_argument("plan", nargs="?", type=Path, metavar="PLAN.json",
                        help="an offline plan JSON file (python -m infra.plan --json) instead of --stack/--stack-file")
    parser.add_argument(
        "--stack-name", metavar="NAME",
        help="with PLAN.json: the stack the plan was made for (prod* stacks get the prod rules); default: prod, the strictest",
    )
    parser.add_argument("--json", action="store_true",
                        help="print JSON on stdout: {stack, resources, mandatory, advisory, violations[]}")
    add_quiet(parser)
    return parser


def _violations_json(stack: str, resources: int, violations: list[Violation]) -> dict[str, Any]:
    mandatory = sum(v.mandatory for v in violations)
    return {
        "stack": stack,
        "resources": resources,
        "mandatory": mandatory,
        "advisory": len(violations) - mandatory,
        "violations": [
            {"policy": v.policy, "enforcement": v.enforcement, "resource": v.resource, "type": v.type, "message": v.message}
            for v in violations
        ],
    }


def main(argv: list[str] | None = None) -> int:
    from infra.plan import StackFileError, plan_stack

    try:
        args = build_parser().parse_args(argv)
        given = [flag for flag, value in (("--stack", args.stack), ("--stack-file", args.stack_file), ("PLAN.json", args.plan))
                 if value is not None]
        if len(given) != 1:
            raise CliError(f"give one of --stack NAME, --stack-file PATH or PLAN.json (got {', '.join(given) or 'none'})")
        if args.stack_name and args.plan is None:
            raise CliError("--stack-name names the stack of a PLAN.json; with --stack or --stack-file the stack is known")
        with progress(args.quiet) as shown:
            if args.plan is None:
                planned = plan_stack(args.stack, args.stack_file, shown)
                stack, plan = planned.stack, planned.plan.as_json()
                # An existing VPC's private subnets are the pack's config, as the stack implies it.
                private = list(planned.settings.network.private_subnet_ids)
                config = {PRIVATE_SUBNETS_POLICY: {"privateSubnetIds": private}} if private else {}
            else:
                shown.step(f"reading {args.plan}")
                plan, config = _file_plan(args.plan), {}
                stack = args.stack_name or "prod"
            resources = policy_resources(plan, stack)
            shown.step(f"checking {len(POLICIES)} rules against {len(resources)} resources")
            violations = evaluate(resources, config)
    except (CliError, BadInput, StackFileError) as error:
        print_error(TOOL, error)
        return getattr(error, "exit_code", EXIT_BAD_INPUT)
    except (ConfigError, pulumi.RunError) as error:
        # An invalid stack config is a failed check, as in `python -m infra.plan`.
        print_error(TOOL, error)
        return EXIT_FAILED

    mandatory = sum(v.mandatory for v in violations)
    if args.json:
        json.dump(_violations_json(stack, len(plan["resources"]), violations), sys.stdout, indent=2)
        print()
    else:
        for violation in violations:
            print(violation.line())
        print(f"{stack}: {len(plan['resources'])} resources, {mandatory} mandatory and "
              f"{len(violations) - mandatory} advisory violation(s)")
    return EXIT_FAILED if mandatory else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
