"""Shared helpers of the policy tests: stack configs, offline plans, policy call shortcuts."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any, Mapping

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from infra.plan import run_plan, stack_config
from policy.check import Violation, evaluate, no_options, policy_resources, urn_for
from policy.policies import POLICIES

PREFIX = "spark-eks-spot:"


def policy_named(name: str) -> Any:
    matches = [p for p in POLICIES if p.name == name]
    assert len(matches) == 1, f"no single policy named {name}"
    return matches[0]


def resource_messages(
    policy_name: str, type_token: str, props: Mapping[str, Any], name: str = "subject", stack: str = "dev"
) -> list[str]:
    """What one resource policy reports for one resource, called as the engine calls it."""
    messages: list[str] = []
    args = ResourceValidationArgs(type_token, props, urn_for(stack, type_token, name), name, no_options(), None)
    policy_named(policy_name).validate(args, lambda message, urn=None: messages.append(message))
    return messages


def stack_resource(
    type_token: str,
    name: str,
    props: Mapping[str, Any],
    stack: str = "dev",
    deps: Mapping[str, list[PolicyResource]] | None = None,
) -> PolicyResource:
    return PolicyResource(
        type_token, props, urn_for(stack, type_token, name), name, no_options(), None, None, [], dict(deps or {})
    )


def stack_findings(
    policy_name: str, resources: list[PolicyResource], config: Mapping[str, Any] | None = None
) -> list[tuple[str | None, str]]:
    """What one stack policy reports, as (resource name, message)."""
    by_urn = {r.urn: r.name for r in resources}
    findings: list[tuple[str | None, str]] = []
    policy_named(policy_name).validate(
        StackValidationArgs(resources, config),
        lambda message, urn=None: findings.append((by_urn.get(urn or ""), message)),
    )
    return findings


def dev_config() -> dict[str, str]:
    return stack_config("dev")


def prod_like_config() -> dict[str, str]:
    """What a prod stack looks like: allow-listed endpoint, NAT per AZ, 3 AZs, a warm floor."""
    config = dict(dev_config())
    config.update(
        {
            f"{PREFIX}network": json.dumps({"vpcCidr": "10.20.0.0/16", "availabilityZones": 3, "natGateways": "perAz"}),
            f"{PREFIX}apiEndpoint": json.dumps(
                {"publicAccess": True, "privateAccess": True, "publicAccessCidrs": ["203.0.113.0/24", "198.51.100.7/32"]}
            ),
            f"{PREFIX}drivers": json.dumps({"instanceTypes": ["m5.xlarge"], "minSize": 2, "maxSize": 6}),
            f"{PREFIX}executors": json.dumps(
                {"instanceTypes": ["m5.2xlarge", "m5a.2xlarge", "m5d.2xlarge", "m6i.2xlarge"], "minSize": 2, "maxSize": 60}
            ),
            f"{PREFIX}bucket": json.dumps({"versioning": True, "eventLogRetentionDays": 90}),
        }
    )
    return config


def existing_vpc_config() -> dict[str, str]:
    config = dict(dev_config())
    config[f"{PREFIX}network"] = json.dumps(
        {
            "existingVpcId": "vpc-0a1b2c3d4e5f60718",
            "privateSubnetIds": ["subnet-0aaa1111bbbb2222c", "subnet-0aaa1111bbbb2222d"],
            "publicSubnetIds": ["subnet-0fff9999eeee8888a"],
        }
    )
    return config


@lru_cache(maxsize=None)
def _plan_text(config_items: tuple[tuple[str, str], ...], stack: str) -> str:
    return json.dumps(run_plan(dict(config_items), stack=stack).as_json())


def plan_json(config: Mapping[str, str], stack: str) -> dict[str, Any]:
    """The offline plan JSON of `config` (cached per config; each caller gets its own copy)."""
    return copy.deepcopy(json.loads(_plan_text(tuple(sorted(config.items())), stack)))


def named(plan: Mapping[str, Any], type_token: str, name: str) -> dict[str, Any]:
    matches = [r for r in plan["resources"] if r["type"] == type_token and r["name"] == name]
    assert len(matches) == 1, f"{len(matches)} {type_token} named {name}"
    return matches[0]


def check_plan(plan: Mapping[str, Any], stack: str, config: Mapping[str, Any] | None = None) -> list[Violation]:
    return evaluate(policy_resources(plan, stack), config)


def mandatory(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.mandatory]
