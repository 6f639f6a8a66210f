"""Helpers for tests of the Pulumi program: run it under Pulumi's mocks with a given config."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from infra.plan import Plan, PlannedResource, run_plan, stack_config


def with_overrides(stack: str, **overrides: Any) -> dict[str, str]:
    """The stack file's config with project keys replaced (values as Pulumi passes them: text)."""
    config = stack_config(stack)
    for key, value in overrides.items():
        full_key = key if ":" in key else f"spark-eks-spot:{key}"
        if value is None:
            config.pop(full_key, None)
        else:
            config[full_key] = value if isinstance(value, str) else json.dumps(value)
    return config


@lru_cache(maxsize=None)
def stack_plan(stack: str) -> Plan:
    """The plan of a committed stack file, evaluated once per test session."""
    return run_plan(stack_config(stack), stack=stack)


def plan_with(stack: str = "dev", **overrides: Any) -> Plan:
    return run_plan(with_overrides(stack, **overrides), stack=stack)


def only(plan: Plan, type_token: str) -> PlannedResource:
    matches = plan.of_type(type_token)
    assert len(matches) == 1, f"expected one {type_token}, found {[m.name for m in matches]}"
    return matches[0]


def policy_document(resource: PlannedResource, key: str = "policy") -> dict[str, Any]:
    document = resource.inputs[key]
    return json.loads(document) if isinstance(document, str) else document
