"""The guardrails as CrossGuard policies: thin adapters from `pulumi_policy` to `policy.rules`.

`POLICIES` is the whole pack. `policy/__main__.py` hands it to `PolicyPack` (which starts
a gRPC server and blocks, so it is built nowhere else) and `policy.check` runs the same
objects over the offline plan. Each adapter turns the engine's property proxy into
plain values first: reading an unknown value through the proxy raises
`UnknownValueError`, which would abort a stack policy for every resource because of one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

from policy import rules

PACK_NAME = "spark-eks-spot-guardrails"
# infra/plan.py prints values only `pulumi up` knows as this text, sometimes inside a string.
PLAN_UNKNOWN = "(known after up)"
_ENGINE_UNKNOWNS = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)
PRIVATE_SUBNETS_POLICY = "node-groups-private-subnets"


def plain(value: Any) -> Any:
    """Engine props (possibly an unknown-checking proxy) → plain values with `rules.UNKNOWN`."""
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key in value:
            try:
                result[key] = plain(value[key])
            except UnknownValueError:
                result[key] = rules.UNKNOWN
        return result
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(rules.UNKNOWN)
        return items
    if isinstance(value, str) and (value in _ENGINE_UNKNOWNS or PLAN_UNKNOWN in value):
        return rules.UNKNOWN
    return value


def resource_of(args: ResourceValidationArgs) -> rules.Resource:
    return rules.Resource(args.resource_type, args.name, args.urn, plain(args.props))


def resources_of(args: StackValidationArgs) -> list[rules.Resource]:
    def convert(resource: PolicyResource) -> rules.Resource:
        deps = {key: frozenset(dep.urn for dep in depended) for key, depended in resource.property_dependencies.items()}
        return rules.Resource(resource.resource_type, resource.name, resource.urn, plain(resource.props), deps)

    return [convert(r) for r in args.resources]


def _per_resource(rule: Callable[[rules.Resource], list[str]]) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule(resource_of(args)):
            report_violation(message, None)

    return validate


def _per_stack(rule: Callable[[list[rules.Resource]], list[rules.Finding]]) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for urn, message in rule(resources_of(args)):
            report_violation(message, urn)

    return validate


def _validate_private_subnets(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    configured = args.get_config().get("privateSubnetIds") or []
    for urn, message in rules.check_private_subnets(resources_of(args), [s for s in configured if isinstance(s, str)]):
        report_violation(message, urn)


MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    ResourceValidationPolicy(
        name="drivers-and-addons-on-demand",
        description="A node group that runs Spark drivers or cluster add-ons (the system group) is never SPOT.",
        validate=_per_resource(rules.check_on_demand_for_drivers),
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="executors-spot-diversified",
        description=f"The executor group is SPOT; every SPOT group has >= {rules.MIN_SPOT_TYPES} instance types of one vCPU/memory size.",
        validate=_per_resource(rules.check_spot_executors),
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="node-group-one-architecture",
        description="Every instance type of a node group has its AMI type's architecture (x86_64 or arm64).",
        validate=_per_resource(rules.check_one_architecture),
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="asg-autoscaler-tags",
        description="Every node group's Auto Scaling group carries the cluster-autoscaler node-template tags and no discovery tag EKS already sets.",
        validate=_per_stack(rules.check_asg_tags),
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="iam-least-privilege",
        description="No IAM Allow of Action *, <service>:* (s3:*, iam:*), NotAction, or write actions on Resource * "
        "(except the autoscaler's scaling actions conditioned on its cluster's owned tag); no admin-class managed policy.",
        validate=_per_resource(rules.check_iam),
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="buckets-private-and-encrypted",
        description="Every S3 bucket blocks all public access and has default encryption.",
        validate=_per_stack(rules.check_buckets),
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="ecr-scan-on-push",
        description="Every ECR repository scans images on push.",
        validate=_per_resource(rules.check_ecr_scan_on_push),
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="spark-rbac-no-broad-roles",
        description="No RoleBinding or ClusterRoleBinding gives Spark (or any service account) cluster-admin, admin or edit.",
        validate=_per_resource(rules.check_spark_rbac),
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name=PRIVATE_SUBNETS_POLICY,
        description="Node groups run in private subnets only.",
        validate=_validate_private_subnets,
        enforcement_level=MANDATORY,
        config_schema=PolicyConfigSchema(
            properties={"privateSubnetIds": {"type": "array", "items": {"type": "string"}}},
        ),
    ),
    ResourceValidationPolicy(
        name="prod-api-endpoint-allow-list",
        description="In prod* stacks a public EKS API endpoint has a CIDR allow-list without 0.0.0.0/0.",
        validate=_per_resource(rules.check_prod_endpoint),
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="spot-executors-scale-to-zero",
        description="Outside prod* stacks the Spot executor group's minimum size is 0.",
        validate=_per_resource(rules.check_spot_scale_to_zero),
        enforcement_level=ADVISORY,
    ),
    StackValidationPolicy(
        name="bucket-event-log-lifecycle",
        description=f"Every bucket expires Spark event logs ({rules.EVENT_LOG_PREFIX}) with a lifecycle rule.",
        validate=_per_stack(rules.check_event_log_lifecycle),
        enforcement_level=ADVISORY,
    ),
]
