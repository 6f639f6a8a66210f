"""Each guardrail with a resource that passes and one that fails, called as the engine calls it."""

from __future__ import annotations

import json

import pytest
from pulumi_policy import EnforcementLevel
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from infra import nodegroups, storage
from infra.iam import autoscaler_policy, s3_access_policy
from infra.settings import settings_from_values
from infra.spark_rbac import rbac_manifests
from infra.storage import tls_only_bucket_policy
from policy import rules
from policy.policies import POLICIES
from tests.policy_fixtures import resource_messages, stack_findings, stack_resource

MNG = "eks:index:ManagedNodeGroup"
NG = "aws:eks/nodeGroup:NodeGroup"
SPOT_TYPES = ["m5.xlarge", "m5a.xlarge", "m5d.xlarge"]
SPOT_TAINT = {"key": "spark-eks-spot/spot", "value": "true", "effect": "NO_SCHEDULE"}


def driver_group(**changes: object) -> dict:
    props = {
        "cluster": "urn:pulumi:dev::spark-eks-spot::eks:index:Cluster::cluster-eks",
        "capacityType": "ON_DEMAND",
        "instanceTypes": ["m5.xlarge"],
        "labels": {"spark-eks-spot/role": "driver"},
        "scalingConfig": {"minSize": 1, "desiredSize": 1, "maxSize": 3},
        "subnetIds": ["subnet-private-a", "subnet-private-b"],
    }
    props.update(changes)
    return props


def executor_group(**changes: object) -> dict:
    props = driver_group(
        capacityType="SPOT",
        instanceTypes=list(SPOT_TYPES),
        labels={"spark-eks-spot/role": "executor"},
        scalingConfig={"minSize": 0, "desiredSize": 0, "maxSize": 20},
        taints=[dict(SPOT_TAINT)],
    )
    props.update(changes)
    return props


def test_the_pack_has_every_rule_once_with_its_enforcement_level() -> None:
    """Names are unique (the engine keys config by them); advisories are exactly the two asked for."""
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names)) == 12
    advisory = {p.name for p in POLICIES if p.enforcement_level == EnforcementLevel.ADVISORY}
    assert advisory == {"spot-executors-scale-to-zero", "bucket-event-log-lifecycle"}


def test_rule_constants_match_the_program() -> None:
    """The pack's own copies of labels and prefixes are the ones infra/ writes."""
    assert rules.ROLE_LABEL == nodegroups.ROLE_LABEL
    assert rules.CAPACITY_TYPE_LABEL == nodegroups.CAPACITY_TYPE_LABEL
    assert rules.SYSTEM_ROLE == nodegroups.SYSTEM_ROLE
    assert rules._ADDON_TOLERATED_TAINT == nodegroups.SYSTEM_TAINT["key"]
    defaults = settings_from_values({}, stack="dev", region="us-west-2")
    roles = {s.key: s.role for s in nodegroups.node_group_specs(defaults.system, defaults.drivers, defaults.executors)}
    assert roles == {"system": rules.SYSTEM_ROLE, "drivers": rules.DRIVER_ROLE, "executors": rules.EXECUTOR_ROLE}
    assert rules.EVENT_LOG_PREFIX == storage.EVENT_LOG_PREFIX


# --- drivers-and-addons-on-demand -------------------------------------------------------


@pytest.mark.parametrize("type_token", [MNG, NG])
def test_on_demand_driver_group_passes(type_token: str) -> None:
    """The program's driver group: ON_DEMAND, no taint."""
    assert resource_messages("drivers-and-addons-on-demand", type_token, driver_group()) == []


@pytest.mark.parametrize("type_token", [MNG, NG])
def test_spot_driver_group_is_refused(type_token: str) -> None:
    """Drivers on Spot die with a reclaim; the message says to set ON_DEMAND."""
    messages = resource_messages("drivers-and-addons-on-demand", type_token, driver_group(capacityType="SPOT"))
    assert len(messages) == 1 and "set capacityType ON_DEMAND" in messages[0]


def test_untainted_spot_group_is_refused_because_addons_land_there() -> None:
    """A Spot group without a repelling taint would host CoreDNS and the autoscaler."""
    untainted = executor_group(labels={}, taints=None)
    messages = resource_messages("drivers-and-addons-on-demand", NG, untainted)
    assert len(messages) == 1 and "add-ons" in messages[0] and "taint" in messages[0]
    tolerated = executor_group(labels={}, taints=[{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}])
    assert resource_messages("drivers-and-addons-on-demand", NG, tolerated) != []


def test_tainted_spot_executor_group_passes_the_driver_rule() -> None:
    assert resource_messages("drivers-and-addons-on-demand", MNG, executor_group()) == []


def system_group(**changes: object) -> dict:
    props = driver_group(
        instanceTypes=["t3.medium"],
        labels={"spark-eks-spot/role": "system"},
        taints=[{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}],
    )
    props.update(changes)
    return props


@pytest.mark.parametrize("type_token", [MNG, NG])
def test_the_system_group_is_on_demand_even_though_its_taint_is_the_add_ons_own(type_token: str) -> None:
    """The system group hosts CoreDNS and the autoscaler: On-Demand passes; SPOT is refused by its role,
    since its CriticalAddonsOnly taint invites the add-ons rather than repelling them."""
    assert resource_messages("drivers-and-addons-on-demand", type_token, system_group()) == []
    messages = resource_messages("drivers-and-addons-on-demand", type_token, system_group(capacityType="SPOT"))
    assert len(messages) == 1 and "cluster add-ons" in messages[0] and "set capacityType ON_DEMAND" in messages[0]


# --- node-group-one-architecture ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("ami_type", "types", "wrong"),
    [
        ("AL2023_ARM_64_STANDARD", ["m6g.xlarge", "m7g.xlarge", "m6gd.xlarge"], []),
        ("AL2023_x86_64_STANDARD", SPOT_TYPES, []),
        ("AL2023_ARM_64_STANDARD", ["m6g.xlarge", "m5.xlarge", "m7g.xlarge"], ["m5.xlarge"]),
        ("AL2023_x86_64_STANDARD", ["m5.xlarge", "m6g.xlarge", "t4g.xlarge"], ["m6g.xlarge", "t4g.xlarge"]),
        ("BOTTLEROCKET_ARM_64", ["c5.xlarge"], ["c5.xlarge"]),
        (None, ["m5.xlarge", "m6g.xlarge"], []),  # no AMI type: EKS picks one, nothing to compare
        ("CUSTOM", ["m6g.xlarge"], []),
    ],
)
def test_a_group_lists_only_types_of_its_amis_architecture(ami_type: str | None, types: list[str], wrong: list[str]) -> None:
    """EKS refuses a managed node group whose instance types do not match its AMI type's architecture
    ("The architecture 'x86_64' of the specified instance type does not match the architecture 'arm64'
    of the specified AMI", eksctl-io/eksctl#4319; "[i4g.xlarge] is not a valid instance type for
    requested amiType AL2_x86_64", eksctl-io/eksctl#7754). The architecture of a type is AWS's
    (infra/instance_types.py); a type the table does not know is left to executors-spot-diversified."""
    props = executor_group(instanceTypes=types, **({"amiType": ami_type} if ami_type else {}))
    messages = resource_messages("node-group-one-architecture", MNG, props)
    if not wrong:
        assert messages == []
    else:
        assert len(messages) == 1 and all(f"{t} (" in messages[0] for t in wrong)
        assert f"runs AMI type {ami_type}" in messages[0]


def test_the_architecture_rule_waits_for_unknown_types() -> None:
    """Unknown at preview: decided again at `up`."""
    props = unknown_checking_proxy(executor_group(amiType="AL2023_ARM_64_STANDARD", instanceTypes=UNKNOWN_ARRAY_VALUE))
    assert resource_messages("node-group-one-architecture", MNG, props) == []


# --- executors-spot-diversified ----------------------------------------------------------


@pytest.mark.parametrize("type_token", [MNG, NG])
def test_spot_executors_with_three_same_size_types_pass(type_token: str) -> None:
    assert resource_messages("executors-spot-diversified", type_token, executor_group()) == []


def test_spot_group_with_one_type_is_refused() -> None:
    messages = resource_messages("executors-spot-diversified", MNG, executor_group(instanceTypes=["m5.xlarge"]))
    assert len(messages) == 1 and "at least 3 types" in messages[0]


def test_spot_group_of_mixed_sizes_is_refused() -> None:
    messages = resource_messages(
        "executors-spot-diversified", NG, executor_group(instanceTypes=["m5.xlarge", "m5.2xlarge", "r5.xlarge"])
    )
    assert len(messages) == 1 and "mixes instance sizes" in messages[0] and "m5.2xlarge (8 vCPU/32 GiB)" in messages[0]


def test_spot_group_with_a_type_the_table_does_not_know_is_refused() -> None:
    messages = resource_messages(
        "executors-spot-diversified", NG, executor_group(instanceTypes=["m5.xlarge", "m5a.xlarge", "x9.huge"])
    )
    assert any("x9.huge" in m and "infra/instance_types.py" in m for m in messages)


def test_on_demand_executor_group_is_refused() -> None:
    messages = resource_messages("executors-spot-diversified", MNG, executor_group(capacityType="ON_DEMAND"))
    assert len(messages) == 1 and "set capacityType SPOT" in messages[0]


def test_unknown_instance_types_during_preview_are_not_judged() -> None:
    """A preview that cannot know the types yet reports nothing; `up` decides."""
    props = unknown_checking_proxy(executor_group(instanceTypes=UNKNOWN_ARRAY_VALUE))
    assert resource_messages("executors-spot-diversified", NG, props) == []


# --- spot-executors-scale-to-zero (advisory) ------------------------------------------------


def test_spot_executors_at_zero_pass_and_a_warm_floor_is_flagged_outside_prod() -> None:
    assert resource_messages("spot-executors-scale-to-zero", MNG, executor_group()) == []
    warm = executor_group(scalingConfig={"minSize": 2, "maxSize": 20})
    messages = resource_messages("spot-executors-scale-to-zero", MNG, warm)
    assert len(messages) == 1 and "executors.minSize: 0" in messages[0]
    assert resource_messages("spot-executors-scale-to-zero", MNG, warm, stack="prod-eu") == []


# --- asg-autoscaler-tags -------------------------------------------------------------------


def _tags_for(group_name: str, props: dict, asg: str | None = None) -> list:
    spec = nodegroups.NodeGroupSpec(
        key="x",
        role=props["labels"]["spark-eks-spot/role"],
        capacity_type=props["capacityType"],
        settings=nodegroups.NodeGroupSettings(
            instance_types=tuple(props["instanceTypes"]), min_size=0, max_size=3, disk_size_gib=50
        ),
        taints=tuple(props.get("taints") or ()),
    )
    return [
        stack_resource(
            "aws:autoscaling/tag:Tag",
            f"{group_name}-{index}",
            {"autoscalingGroupName": asg or f"eks-{group_name}-asg", "tag": {"key": k, "value": v, "propagateAtLaunch": False}},
        )
        for index, (k, v) in enumerate(nodegroups.autoscaler_asg_tags(spec).items())
    ]


def _cluster() -> object:
    return stack_resource("eks:index:Cluster", "cluster-eks", {"name": "spark-dev"})


def test_groups_whose_asgs_carry_the_programs_tags_pass() -> None:
    drivers, executors = driver_group(), executor_group()
    resources = [
        _cluster(),
        stack_resource(MNG, "ng-drivers", drivers),
        stack_resource(MNG, "ng-executors", executors),
        *_tags_for("ng-drivers", drivers),
        *_tags_for("ng-executors", executors),
    ]
    assert stack_findings("asg-autoscaler-tags", resources) == []


def test_a_group_without_tags_is_refused_naming_the_missing_keys() -> None:
    drivers = driver_group()
    resources = [_cluster(), stack_resource(NG, "ng-drivers", drivers)]
    findings = stack_findings("asg-autoscaler-tags", resources)
    assert len(findings) == 1 and findings[0][0] == "ng-drivers"
    message = findings[0][1]
    for key in (
        "k8s.io/cluster-autoscaler/node-template/label/eks.amazonaws.com/capacityType",
        "k8s.io/cluster-autoscaler/node-template/label/spark-eks-spot/role",
    ):
        assert key in message
    assert "aws.autoscaling.Tag" in message
    assert "k8s.io/cluster-autoscaler/enabled" not in message


@pytest.mark.parametrize("key", ["k8s.io/cluster-autoscaler/enabled", "k8s.io/cluster-autoscaler/spark-dev"])
def test_a_discovery_tag_declared_on_a_managed_groups_asg_is_refused(key: str) -> None:
    """EKS puts the discovery tags on a managed node group's ASG itself (EKS user guide,
    latest/ug/nodes/managed-node-groups.adoc: "Amazon EKS tags managed node group resources so
    that they are configured to use the Kubernetes Cluster Autoscaler"); a Tag resource for the
    same key would strip EKS's tag from the ASG when it is deleted."""
    drivers = driver_group()
    tags = _tags_for("ng-drivers", drivers)
    tags.append(
        stack_resource(
            "aws:autoscaling/tag:Tag",
            "ng-drivers-discovery",
            {"autoscalingGroupName": "eks-ng-drivers-asg", "tag": {"key": key, "value": "owned", "propagateAtLaunch": False}},
        )
    )
    findings = stack_findings("asg-autoscaler-tags", [_cluster(), stack_resource(MNG, "ng-drivers", drivers), *tags])
    assert len(findings) == 1 and findings[0][0] == "ng-drivers"
    assert key in findings[0][1] and "EKS already puts" in findings[0][1]


def test_a_node_template_tag_that_contradicts_the_group_is_refused() -> None:
    """A SPOT group whose ASG claims ON_DEMAND would make the autoscaler place drivers on Spot."""
    executors = executor_group()
    tags = _tags_for("ng-executors", driver_group(capacityType="ON_DEMAND", labels={"spark-eks-spot/role": "executor"}, taints=[SPOT_TAINT]))
    findings = stack_findings("asg-autoscaler-tags", [_cluster(), stack_resource(NG, "ng-executors", executors), *tags])
    assert len(findings) == 1 and "want 'SPOT'" in findings[0][1]


def test_tags_are_matched_to_the_group_by_its_real_asg_name_when_known() -> None:
    """After `up` the ASG name is AWS's; a tag on another group's ASG does not count."""
    drivers = driver_group(resources=[{"autoscalingGroups": [{"name": "eks-ng-drivers-4ac3-77"}]}])
    tags = _tags_for("ng-drivers", driver_group(), asg="eks-some-other-group-11")
    findings = stack_findings("asg-autoscaler-tags", [_cluster(), stack_resource(NG, "ng-drivers", drivers), *tags])
    assert len(findings) == 1
    good = _tags_for("ng-drivers", driver_group(), asg="eks-ng-drivers-4ac3-77")
    assert stack_findings("asg-autoscaler-tags", [_cluster(), stack_resource(NG, "ng-drivers", drivers), *good]) == []


def test_tags_with_unknown_asg_names_are_matched_by_logical_name_prefix() -> None:
    """In a preview the ASG name is unknown; the Tag's logical name still ties it to its group."""
    drivers = driver_group()
    tags = _tags_for("ng-drivers", drivers)
    for tag in tags:
        tag.props["autoscalingGroupName"] = UNKNOWN_STRING_VALUE
    proxied = [stack_resource(t.resource_type, t.name, unknown_checking_proxy(dict(t.props))) for t in tags]
    resources = [_cluster(), stack_resource(MNG, "ng-drivers", drivers), *proxied]
    assert stack_findings("asg-autoscaler-tags", resources) == []


def test_a_component_seen_with_outputs_only_is_left_to_its_child_node_group() -> None:
    """After `up` a ManagedNodeGroup record holds only its outputs; its aws NodeGroup child is checked."""
    component = stack_resource(MNG, "ng-drivers", {"nodeGroup": "urn:pulumi:dev::p::aws:eks/nodeGroup:NodeGroup::ng-drivers"})
    assert stack_findings("asg-autoscaler-tags", [_cluster(), component]) == []


# --- iam-least-privilege ----------------------------------------------------------------------


def test_the_programs_policies_pass() -> None:
    """The autoscaler's conditioned statement, the bucket access policy and the TLS-only Deny."""
    assert resource_messages("iam-least-privilege", "aws:iam/policy:Policy", {"policy": autoscaler_policy("spark-dev")}) == []
    s3 = s3_access_policy("arn:aws:s3:::bucket")
    assert resource_messages("iam-least-privilege", "aws:iam/rolePolicy:RolePolicy", {"policy": s3}) == []
    tls = tls_only_bucket_policy("arn:aws:s3:::bucket")
    assert resource_messages("iam-least-privilege", "aws:s3/bucketPolicy:BucketPolicy", {"policy": tls}) == []


def _document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.mark.parametrize("action", ["*", "s3:*", "iam:*", "ec2:*"])
def test_wildcard_actions_are_refused(action: str) -> None:
    document = _document({"Sid": "Broad", "Effect": "Allow", "Action": action, "Resource": "arn:aws:s3:::bucket"})
    messages = resource_messages("iam-least-privilege", "aws:iam/policy:Policy", {"policy": document})
    assert any(f"Action {action!r}" in m and "list only the actions" in m for m in messages)


def test_write_on_every_resource_is_refused_but_read_is_fine() -> None:
    read = _document({"Effect": "Allow", "Action": ["ec2:DescribeInstances", "s3:Get*"], "Resource": "*"})
    assert resource_messages("iam-least-privilege", "aws:iam/policy:Policy", {"policy": read}) == []
    write = _document({"Effect": "Allow", "Action": ["ec2:DescribeInstances", "ec2:TerminateInstances"], "Resource": ["*"]})
    messages = resource_messages("iam-least-privilege", "aws:iam/rolePolicy:RolePolicy", {"policy": write})
    assert len(messages) == 1 and "ec2:TerminateInstances" in messages[0] and "ec2:DescribeInstances" not in messages[0]


def _scaling(condition: object, actions: object = None) -> str:
    statement = {
        "Effect": "Allow",
        "Action": actions or ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
        "Resource": "*",
    }
    if condition is not None:
        statement["Condition"] = condition
    return _document(statement)


@pytest.mark.parametrize(
    "condition, actions",
    [
        (None, None),  # no condition at all
        ({"StringLike": {"aws:ResourceTag/k8s.io/cluster-autoscaler/spark-dev": "owned"}}, None),
        ({"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/*": "owned"}}, None),
        ({"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/spark-dev": "shared"}}, None),
        ({"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/enabled-or-not": ["owned", "x"]}}, None),
        ({"StringEquals": {"aws:ResourceTag/team": "owned"}}, None),
        ({"StringEqualsIfExists": {"aws:ResourceTag/k8s.io/cluster-autoscaler/spark-dev": "owned"}}, None),
        ({"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/spark-dev": "owned"}}, ["autoscaling:*"]),
        (
            {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/spark-dev": "owned"}},
            ["autoscaling:SetDesiredCapacity", "autoscaling:DeleteAutoScalingGroup"],
        ),
    ],
)
def test_the_autoscaler_exception_is_checked_precisely(condition: object, actions: object) -> None:
    """Only the two scaling actions, only under StringEquals <cluster tag> = owned, escape the rule."""
    messages = resource_messages("iam-least-privilege", "aws:iam/policy:Policy", {"policy": _scaling(condition, actions)})
    assert messages, f"not caught: {condition} {actions}"


def test_the_autoscaler_exception_allows_an_extra_narrowing_condition() -> None:
    condition = {
        "StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/spark-prod": ["owned"]},
        "Bool": {"aws:SecureTransport": "true"},
    }
    assert resource_messages("iam-least-privilege", "aws:iam/policy:Policy", {"policy": _scaling(condition)}) == []


def test_deny_statements_with_wildcards_pass_and_notaction_allows_are_refused() -> None:
    deny = _document({"Effect": "Deny", "Action": "*", "Resource": "*"})
    assert resource_messages("iam-least-privilege", "aws:iam/policy:Policy", {"policy": deny}) == []
    not_action = _document({"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::b"})
    assert any("NotAction" in m for m in resource_messages("iam-least-privilege", "aws:iam/policy:Policy", {"policy": not_action}))


def test_inline_role_policies_and_admin_managed_policies_are_checked() -> None:
    role = {
        "assumeRolePolicy": "{}",
        "inlinePolicies": [{"name": "everything", "policy": _document({"Effect": "Allow", "Action": "*", "Resource": "*"})}],
        "managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"],
    }
    messages = resource_messages("iam-least-privilege", "aws:iam/role:Role", role)
    assert any("inline policy everything" in m for m in messages)
    assert any("AdministratorAccess" in m for m in messages)
    attach = {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"}
    assert resource_messages("iam-least-privilege", "aws:iam/rolePolicyAttachment:RolePolicyAttachment", attach)
    worker = {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"}
    assert resource_messages("iam-least-privilege", "aws:iam/rolePolicyAttachment:RolePolicyAttachment", worker) == []


def test_a_policy_that_is_not_json_is_refused_and_an_unknown_one_waits() -> None:
    assert resource_messages("iam-least-privilege", "aws:iam/policy:Policy", {"policy": "{not json"})
    unknown = unknown_checking_proxy({"policy": UNKNOWN_STRING_VALUE})
    assert resource_messages("iam-least-privilege", "aws:iam/policy:Policy", unknown) == []


# --- buckets-private-and-encrypted, bucket-event-log-lifecycle ----------------------------------------


def _bucket_set(block: dict | None = None, sse: str | None = "aws:kms", lifecycle_prefix: str | None = "spark-events/") -> list:
    bucket = stack_resource("aws:s3/bucket:Bucket", "data", {"forceDestroy": False})
    resources = [bucket]
    deps = {"bucket": [bucket]}
    if block is not None:
        resources.append(stack_resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "data-pab", {"bucket": "b", **block}, deps=deps))
    if sse is not None:
        resources.append(
            stack_resource(
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                "data-sse",
                {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": sse}}]},
                deps=deps,
            )
        )
    if lifecycle_prefix is not None:
        resources.append(
            stack_resource(
                "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                "data-lifecycle",
                {"bucket": "b", "rules": [{"id": "x", "status": "Enabled", "filter": {"prefix": lifecycle_prefix}, "expiration": {"days": 14}}]},
                deps=deps,
            )
        )
    return resources


ALL_BLOCKED = {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True}


def test_a_blocked_encrypted_bucket_passes() -> None:
    assert stack_findings("buckets-private-and-encrypted", _bucket_set(ALL_BLOCKED)) == []


def test_a_bucket_without_a_public_access_block_is_refused() -> None:
    findings = stack_findings("buckets-private-and-encrypted", _bucket_set(None))
    assert len(findings) == 1 and findings[0][0] == "data" and "BucketPublicAccessBlock" in findings[0][1]


def test_a_partial_public_access_block_is_refused_naming_the_open_flag() -> None:
    findings = stack_findings("buckets-private-and-encrypted", _bucket_set({**ALL_BLOCKED, "restrictPublicBuckets": False}))
    assert len(findings) == 1 and findings[0][0] == "data-pab" and "restrictPublicBuckets=False" in findings[0][1]


def test_an_unencrypted_bucket_is_refused() -> None:
    findings = stack_findings("buckets-private-and-encrypted", _bucket_set(ALL_BLOCKED, sse=None))
    assert len(findings) == 1 and "BucketServerSideEncryptionConfiguration" in findings[0][1]


def test_a_block_for_another_bucket_does_not_count() -> None:
    """The engine's property dependency says which bucket a block configures."""
    other = stack_resource("aws:s3/bucket:Bucket", "other", {})
    resources = _bucket_set(None) + [
        other,
        stack_resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "data", {"bucket": "x", **ALL_BLOCKED}, deps={"bucket": [other]}),
    ]
    findings = stack_findings("buckets-private-and-encrypted", resources)
    assert {name for name, _ in findings} == {"data", "other"}


def test_event_log_lifecycle_is_advised_when_missing() -> None:
    assert stack_findings("bucket-event-log-lifecycle", _bucket_set(ALL_BLOCKED)) == []
    assert stack_findings("bucket-event-log-lifecycle", _bucket_set(ALL_BLOCKED, lifecycle_prefix="other/")) != []
    missing = stack_findings("bucket-event-log-lifecycle", _bucket_set(ALL_BLOCKED, lifecycle_prefix=None))
    assert len(missing) == 1 and "spark-events/" in missing[0][1]


# --- ecr-scan-on-push -----------------------------------------------------------------------------


def test_ecr_repository_must_scan_on_push() -> None:
    repo = "aws:ecr/repository:Repository"
    assert resource_messages("ecr-scan-on-push", repo, {"imageScanningConfiguration": {"scanOnPush": True}}) == []
    assert resource_messages("ecr-scan-on-push", repo, {"imageScanningConfiguration": {"scanOnPush": False}})
    assert resource_messages("ecr-scan-on-push", repo, {"name": "x"})


# --- spark-rbac-no-broad-roles -----------------------------------------------------------------------


def test_the_programs_namespaced_role_binding_passes() -> None:
    binding = rbac_manifests("spark", "spark", None)[3]
    props = {k: binding[k] for k in ("metadata", "roleRef", "subjects")}
    assert resource_messages("spark-rbac-no-broad-roles", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", props) == []


@pytest.mark.parametrize("kind", ["RoleBinding", "ClusterRoleBinding"])
@pytest.mark.parametrize("role", ["cluster-admin", "admin", "edit"])
def test_binding_spark_to_a_broad_cluster_role_is_refused(kind: str, role: str) -> None:
    props = {
        "metadata": {"name": "spark-edit", "namespace": "spark"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "spark", "namespace": "spark"}],
    }
    messages = resource_messages("spark-rbac-no-broad-roles", f"kubernetes:rbac.authorization.k8s.io/v1:{kind}", props)
    assert len(messages) == 1 and role in messages[0] and "namespaced Role" in messages[0]


def test_a_view_binding_or_a_human_admin_group_is_not_sparks_concern() -> None:
    view = {"roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "ServiceAccount", "name": "spark", "namespace": "spark"}]}
    humans = {"roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [{"kind": "Group", "name": "platform-admins"}]}
    for props in (view, humans):
        assert resource_messages("spark-rbac-no-broad-roles", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", props) == []


# --- node-groups-private-subnets ----------------------------------------------------------------------


def _network(group_subnets: list[str]) -> list:
    private = [stack_resource("aws:ec2/subnet:Subnet", f"network-private-{i}", {"id": f"subnet-priv{i}", "tags": {"kubernetes.io/role/internal-elb": "1"}}) for i in range(2)]
    public = [stack_resource("aws:ec2/subnet:Subnet", f"network-public-{i}", {"id": f"subnet-pub{i}", "mapPublicIpOnLaunch": False, "tags": {"kubernetes.io/role/elb": "1"}}) for i in range(2)]
    return [*private, *public, stack_resource(NG, "ng-drivers", driver_group(subnetIds=group_subnets))]


def test_groups_in_private_subnets_pass() -> None:
    assert stack_findings("node-groups-private-subnets", _network(["subnet-priv0", "subnet-priv1"])) == []


def test_a_group_in_a_public_subnet_is_refused() -> None:
    findings = stack_findings("node-groups-private-subnets", _network(["subnet-priv0", "subnet-pub1"]))
    assert len(findings) == 1 and findings[0][0] == "ng-drivers" and "network-public-1" in findings[0][1]


def test_public_subnets_are_known_by_property_dependency_in_a_preview() -> None:
    """In a preview the ids are unknown; the engine's dependency on the subnet resource still tells."""
    resources = _network([])
    public = resources[2]
    group = stack_resource(NG, "ng-x", unknown_checking_proxy(driver_group(subnetIds=UNKNOWN_ARRAY_VALUE)), deps={"subnetIds": [public]})
    findings = stack_findings("node-groups-private-subnets", [*resources[:4], group])
    assert len(findings) == 1 and "network-public-0" in findings[0][1]


def test_an_existing_vpcs_configured_private_subnets_are_the_allow_list() -> None:
    group = [stack_resource(NG, "ng-drivers", driver_group(subnetIds=["subnet-0aaa1111bbbb2222c"]))]
    config = {"privateSubnetIds": ["subnet-0aaa1111bbbb2222c", "subnet-0aaa1111bbbb2222d"]}
    assert stack_findings("node-groups-private-subnets", group, config) == []
    stray = [stack_resource(NG, "ng-drivers", driver_group(subnetIds=["subnet-0fff9999eeee8888a"]))]
    findings = stack_findings("node-groups-private-subnets", stray, config)
    assert len(findings) == 1 and "not among the private subnets" in findings[0][1]


def test_the_clusters_public_subnets_are_refused_for_node_groups() -> None:
    cluster = stack_resource("eks:index:Cluster", "cluster-eks", {"name": "c", "privateSubnetIds": ["subnet-a"], "publicSubnetIds": ["subnet-b"]})
    group = stack_resource(MNG, "ng", driver_group(subnetIds=["subnet-b"]))
    assert len(stack_findings("node-groups-private-subnets", [cluster, group])) == 1


# --- prod-api-endpoint-allow-list --------------------------------------------------------------------


def test_prod_cluster_endpoint_needs_an_allow_list() -> None:
    cluster, plain = "eks:index:Cluster", "aws:eks/cluster:Cluster"
    open_props = {"name": "c", "endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}
    assert resource_messages("prod-api-endpoint-allow-list", cluster, open_props, stack="dev") == []
    messages = resource_messages("prod-api-endpoint-allow-list", cluster, open_props, stack="prod")
    assert len(messages) == 1 and "publicAccessCidrs" in messages[0]
    assert resource_messages("prod-api-endpoint-allow-list", cluster, {"name": "c"}, stack="prod-us")
    listed = {"name": "c", "publicAccessCidrs": ["203.0.113.0/24"]}
    assert resource_messages("prod-api-endpoint-allow-list", cluster, listed, stack="prod") == []
    private = {"name": "c", "endpointPublicAccess": False}
    assert resource_messages("prod-api-endpoint-allow-list", cluster, private, stack="prod") == []
    aws_open = {"vpcConfig": {"endpointPublicAccess": True, "subnetIds": []}}
    assert resource_messages("prod-api-endpoint-allow-list", plain, aws_open, stack="prod")
    aws_listed = {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["198.51.100.0/24"]}}
    assert resource_messages("prod-api-endpoint-allow-list", plain, aws_listed, stack="prod") == []
