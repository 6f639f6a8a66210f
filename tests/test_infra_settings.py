"""Stack settings: defaults, and one clear line naming the key for every bad config value."""

from __future__ import annotations

import typing

import pulumi
import pytest
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from infra.instance_types import instance_size
from infra.network import subnet_cidrs
from infra.plan import ROOT, PlanMocks, main, run_plan
from infra.settings import CONFIG_KEYS, EXECUTOR_INSTANCE_TYPES, ConfigError, Settings, aws_regions, settings_from_values
from tests.infra_plans import with_overrides

GOOD_EXECUTORS = {"instanceTypes": ["m5.xlarge", "m5a.xlarge", "m5d.xlarge"], "minSize": 0, "maxSize": 5}
EXISTING_VPC = {"existingVpcId": "vpc-0123456789abcdef0", "privateSubnetIds": ["subnet-12345678", "subnet-23456789"]}


def _settings(**values: object) -> Settings:
    return settings_from_values(values, stack="dev", region="us-west-2")


def test_defaults_are_the_cheap_dev_shape() -> None:
    """No config at all: one small On-Demand system node, drivers and Spot executors from zero, the
    priority expander, IRSA, spark namespace."""
    settings = _settings()
    assert settings.cluster_name == "spark-dev"
    assert (settings.system.instance_types, settings.system.initial_size) == (("t3.medium",), 1)
    assert settings.drivers.initial_size == 0
    assert settings.executors.initial_size == 0
    assert settings.executors.instance_types == EXECUTOR_INSTANCE_TYPES and len(EXECUTOR_INSTANCE_TYPES) == 15
    assert settings.autoscaler.expander == "priority,least-waste"
    assert settings.s3_access_via == "irsa"
    assert (settings.spark_namespace, settings.spark_service_account) == ("spark", "spark")
    assert settings.network.nat_gateways == "single"


def test_structured_values_arrive_as_json_text_like_pulumi_passes_them() -> None:
    """Pulumi hands objects over as JSON strings and scalars as text; both are parsed."""
    settings = _settings(
        executors='{"instanceTypes": ["m5.xlarge", "m5a.xlarge", "m4.xlarge"], "minSize": "1", "maxSize": "4"}',
        kubernetesVersion="1.34",
    )
    assert (settings.executors.min_size, settings.executors.max_size) == (1, 4)
    assert settings.autoscaler_chart_version == "9.53.0"


BAD_CONFIGS = [
    ({"executors": {**GOOD_EXECUTORS, "minSize": 6}}, "executors.minSize", "above maxSize 5"),
    ({"executors": {**GOOD_EXECUTORS, "desiredSize": 9}}, "executors.desiredSize", "between minSize 0 and maxSize 5"),
    ({"executors": {**GOOD_EXECUTORS, "minSize": -1}}, "executors.minSize", "greater than or equal to 0"),
    ({"executors": {**GOOD_EXECUTORS, "maxSize": 100000}}, "executors.maxSize", "less than or equal to 1000"),
    ({"executors": {**GOOD_EXECUTORS, "instanceTypes": []}}, "executors.instanceTypes", "at least 1 item"),
    ({"executors": {**GOOD_EXECUTORS, "instanceTypes": ["m5.xlarge", "m5.2xlarge"]}}, "executors.instanceTypes", "same vCPU and memory"),
    ({"executors": {**GOOD_EXECUTORS, "instanceTypes": ["m5.xlarge", "m5.xlarge"]}}, "executors.instanceTypes", "twice"),
    ({"executors": {**GOOD_EXECUTORS, "instanceTypes": ["p3.16xlarge"]}}, "executors.instanceTypes", "unknown instance type 'p3.16xlarge'"),
    ({"executors": {**GOOD_EXECUTORS, "minSize": "many"}}, "executors.minSize", "valid integer"),
    ({"executors": {**GOOD_EXECUTORS, "spot": True}}, "executors.spot", "is not a setting"),
    ({"executors": {**GOOD_EXECUTORS, "labels": {"eks.amazonaws.com/capacityType": "x"}}}, "executors.labels", "not a valid, user-settable"),
    ({"system": {"instanceTypes": ["t3.medium"], "minSize": 0, "maxSize": 2}}, "system.minSize", "at least 1"),
    ({"executors": {**GOOD_EXECUTORS, "architecture": "amd64"}}, "executors.architecture", "write x86_64"),
    ({"executors": {**GOOD_EXECUTORS, "architecture": "arm64"}}, "executors.architecture", "set architecture: x86_64"),
    ({"executors": {**GOOD_EXECUTORS, "instanceTypes": ["m5.xlarge", "m6g.xlarge", "m5a.xlarge"]}}, "executors.instanceTypes", "mixes architectures"),
    ({"drivers": {"instanceTypes": ["t3.xlarge"]}}, "drivers.instanceTypes", "burstable"),
    ({"executors": {**GOOD_EXECUTORS, "priority": 0}}, "executors.priority", "greater than or equal to 1"),
    ({"executors": {**GOOD_EXECUTORS, "priority": 50}, "autoscaler": {"expander": "least-waste"}}, "executors.priority", "only applies with"),
    ({"exectors": GOOD_EXECUTORS}, "exectors", "is not a setting; did you mean executors?"),
    ({"kubernetesVersion": "1.29"}, "kubernetesVersion", "use one of 1.34, 1.35"),
    ({"clusterName": "Spark_Dev"}, "clusterName", "lowercase letters"),
    ({"clusterName": "a" * 40}, "clusterName", "2-32"),
    ({"sparkNamespace": "kube-system"}, "sparkNamespace", "system namespace"),
    ({"sparkNamespace": "Spark!"}, "sparkNamespace", "DNS-1123"),
    ({"sparkServiceAccount": "x" * 70}, "sparkServiceAccount", "DNS-1123"),
    ({"s3AccessVia": "instanceProfile"}, "s3AccessVia", "'irsa' or 'nodeRole' (got 'instanceProfile')"),
    ({"network": {"vpcCidr": "10.0.0.0/8"}}, "network.vpcCidr", "/16 to /20"),
    ({"network": {"vpcCidr": "10.0.0.1/16"}}, "network.vpcCidr", "not an IPv4 network"),
    ({"network": {"availabilityZones": 1}}, "network.availabilityZones", "greater than or equal to 2"),
    ({"network": {"natGateways": "none"}}, "network.natGateways", "'single' or 'perAz'"),
    ({"network": {"existingVpcId": "vpc-0123456789abcdef0"}}, "network.privateSubnetIds", "at least two private subnets"),
    ({"network": {"existingVpcId": "my-vpc"}}, "network.existingVpcId", "not a VPC id"),
    (
        {"network": {"existingVpcId": "vpc-0123456789abcdef0", "privateSubnetIds": ["subnet-12345678", "sub-2"]}},
        "network.privateSubnetIds",
        "'sub-2' is not a subnet id",
    ),
    (
        {"network": {"existingVpcId": "vpc-0123456789abcdef0", "natGateways": "perAz",
                     "privateSubnetIds": ["subnet-12345678", "subnet-23456789"]}},
        "network.natGateways",
        "only applies to a new VPC",
    ),
    ({"network": {"privateSubnetIds": ["subnet-12345678"]}}, "network.privateSubnetIds", "need network.existingVpcId"),
    ({"apiEndpoint": {"publicAccess": False, "privateAccess": False}}, "apiEndpoint.privateAccess", "must be reachable"),
    ({"apiEndpoint": {"publicAccessCidrs": ["0.0.0.0/33"]}}, "apiEndpoint.publicAccessCidrs", "not an IPv4 CIDR"),
    ({"apiEndpoint": {"publicAccess": False, "publicAccessCidrs": ["198.51.100.0/24"]}}, "apiEndpoint.publicAccessCidrs", "only applies when publicAccess"),
    ({"network": EXISTING_VPC, "apiEndpoint": {"publicAccess": False}}, "apiEndpoint.privateAccessCidrs", "private-only API needs the CIDRs"),
    ({"apiEndpoint": {"privateAccess": False, "privateAccessCidrs": ["10.0.0.0/16"]}}, "apiEndpoint.privateAccessCidrs", "only applies when privateAccess"),
    ({"apiEndpoint": {"adminRoleArns": ["arn:aws:iam::123:user/bob"]}}, "apiEndpoint.adminRoleArns", "not an IAM role ARN"),
    ({"controlPlaneLogRetentionDays": 0}, "controlPlaneLogRetentionDays", "greater than or equal to 1"),
    ({"bucket": {"eventLogRetentionDays": 0}}, "bucket.eventLogRetentionDays", "greater than or equal to 1"),
    ({"bucket": {"versioning": "maybe"}}, "bucket.versioning", "valid boolean"),
    ({"autoscaler": {"expander": "price"}}, "autoscaler.expander", "'priority,least-waste', 'least-waste', 'random' or 'most-pods'"),
    ({"autoscaler": {"scaleDownUnneededTime": "ten minutes"}}, "autoscaler.scaleDownUnneededTime", "duration"),
    ({"imageRetentionCount": 0}, "imageRetentionCount", "greater than or equal to 1"),
    ({"tags": ["a", "b"]}, "tags", "valid dictionary"),
    ({"extraExecutorGroups": {"XL": GOOD_EXECUTORS}}, "extraExecutorGroups.XL", "lowercase"),
    ({"extraExecutorGroups": {"xl2": {**GOOD_EXECUTORS, "instanceTypes": ["m5.2xlarge", "c5.2xlarge"]}}}, "extraExecutorGroups.xl2.instanceTypes", "same vCPU"),
    ({"extraExecutorGroups": {"xl2": {**GOOD_EXECUTORS, "minSize": 9}}}, "extraExecutorGroups.xl2.minSize", "above maxSize"),
]


@pytest.mark.parametrize(("values", "key", "fragment"), BAD_CONFIGS, ids=[c[1] + ":" + c[2][:20] for c in BAD_CONFIGS])
def test_each_bad_value_names_its_key_and_what_is_allowed(values: dict, key: str, fragment: str) -> None:
    """The message is one line: `config spark-eks-spot:<key>: <problem and fix>`."""
    with pytest.raises(ConfigError) as caught:
        _settings(**values)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"config spark-eks-spot:{key}: "), message
    assert fragment in message


@pytest.mark.parametrize("region", [None, "", "us-west", "US-WEST-2", "mars-north-1a"])
def test_region_must_be_an_aws_region(region: str | None) -> None:
    """aws:region is required and must be one; the message names the key in its own namespace."""
    with pytest.raises(ConfigError) as caught:
        settings_from_values({}, stack="dev", region=region)
    assert str(caught.value).startswith("config aws:region: ")
    assert caught.value.key == "aws:region"


def test_subnets_are_carved_without_overlap() -> None:
    """Private blocks come first, public blocks from the fifth eighth; none overlap."""
    private, public = subnet_cidrs("10.20.0.0/16", 4)
    assert private == ["10.20.0.0/19", "10.20.32.0/19", "10.20.64.0/19", "10.20.96.0/19"]
    assert public == ["10.20.128.0/19", "10.20.160.0/19", "10.20.192.0/19", "10.20.224.0/19"]


def test_a_bad_config_stops_the_program_before_any_resource() -> None:
    """Run under the mocks, a bad value raises a RunError and nothing is registered."""
    mocks = PlanMocks("us-west-2")
    config = with_overrides("dev", executors={**GOOD_EXECUTORS, "maxSize": 0})
    with pytest.raises(pulumi.RunError, match=r"^config spark-eks-spot:executors.maxSize: "):
        run_plan(config, stack="dev", mocks=mocks)
    assert mocks.plan.resources == []


def test_plan_cli_reports_a_bad_stack_file_in_one_line(tmp_path, capsys) -> None:
    """`python -m infra.plan --stack-file` exits 1 with the config error alone on stderr."""
    stack_file = tmp_path / "Pulumi.broken.yaml"
    stack_file.write_text("config:\n  aws:region: us-west-2\n  spark-eks-spot:s3AccessVia: everyone\n")
    assert main(["--stack-file", str(stack_file)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "infra.plan: error: config spark-eks-spot:s3AccessVia: Input should be 'irsa' or 'nodeRole' (got 'everyone')\n"


def test_plan_cli_reports_a_missing_stack_file(capsys) -> None:
    """An unknown stack name exits 2 and says which file is missing."""
    assert main(["--stack", "nosuchstack"]) == 2
    assert capsys.readouterr().err == "infra.plan: error: no stack file Pulumi.nosuchstack.yaml; create it or pass another --stack\n"


# --- issue 11, items 14-17: config that matches the README ---------------------------------------------


@pytest.mark.parametrize(
    ("values", "group", "expected"),
    [
        ({"executors": {"maxSize": 50}}, "executors", (EXECUTOR_INSTANCE_TYPES, 0, 50, 100)),
        ({"executors": {"minSize": 1}}, "executors", (EXECUTOR_INSTANCE_TYPES, 1, 20, 100)),
        ({"drivers": {"maxSize": 5}}, "drivers", (("m5.xlarge",), 0, 5, 50)),
        ({"drivers": {"diskSizeGib": 80}}, "drivers", (("m5.xlarge",), 0, 3, 80)),
        ({"system": {"maxSize": 3}}, "system", (("t3.medium",), 1, 3, 20)),
    ],
)
def test_a_partial_group_block_keeps_the_readmes_defaults(values: dict, group: str, expected: tuple) -> None:
    """docs/configuration.md, Settings: system defaults to [t3.medium], min 1, max 2, 20 GiB; drivers to
    [m5.xlarge], min 0, max 3, 50 GiB; executors to the fifteen x86_64 4 vCPU/16 GiB types, min 0,
    max 20, 100 GiB. A block that sets one field keeps the others."""
    settings = getattr(_settings(**values), group)
    assert (settings.instance_types, settings.min_size, settings.max_size, settings.disk_size_gib) == expected


def test_a_partial_executor_block_reaches_the_node_group_with_the_default_disk() -> None:
    """`executors: {maxSize: 50}` plans the default types and a 100 GiB disk, not 50 GiB."""
    plan = run_plan(with_overrides("dev", executors={"maxSize": 50}), stack="dev")
    executors = plan.named("nodegroups-executors").inputs
    assert executors["instanceTypes"] == list(EXECUTOR_INSTANCE_TYPES)
    assert (executors["diskSize"], executors["scalingConfig"]["maxSize"]) == (100, 50)


def test_an_extra_executor_pool_needs_only_its_types() -> None:
    """An extra Spot pool exists for its size: instanceTypes are required, the rest default like executors."""
    pool = _settings(extraExecutorGroups={"xl2": {"instanceTypes": ["m5.2xlarge", "m5a.2xlarge", "m6i.2xlarge"]}})
    xl2 = pool.extra_executor_groups["xl2"]
    assert (xl2.min_size, xl2.max_size, xl2.disk_size_gib) == (0, 20, 100)
    with pytest.raises(ConfigError, match=r"^config spark-eks-spot:extraExecutorGroups\.xl2\.instanceTypes: Field required$"):
        _settings(extraExecutorGroups={"xl2": {"maxSize": 4}})


@pytest.mark.parametrize(
    ("values", "key", "message"),
    [
        ({"executors": {"maxSze": 50}}, "executors.maxSze", "is not a setting; did you mean maxSize?"),
        ({"drivers": {"instanceType": ["m5.xlarge"]}}, "drivers.instanceType", "is not a setting; did you mean instanceTypes?"),
        (
            {"extraExecutorGroups": {"xl2": {"instanceType": ["m5.2xlarge"], "maxSize": 4}}},
            "extraExecutorGroups.xl2.instanceType",
            "is not a setting; did you mean instanceTypes?",
        ),
        ({"bucket": {"versionning": True}}, "bucket.versionning", "is not a setting; did you mean versioning?"),
        ({"kubernetesVerison": "1.35"}, "kubernetesVerison", "is not a setting; did you mean kubernetesVersion?"),
    ],
)
def test_a_misspelt_key_is_named_as_misspelt(values: dict, key: str, message: str) -> None:
    """The misspelling is the error, never the key it left missing (extraExecutorGroups' instanceTypes is required)."""
    with pytest.raises(ConfigError) as caught:
        _settings(**values)
    assert (caught.value.key, caught.value.problem) == (key, message)


def test_an_unknown_key_with_nothing_close_lists_the_keys_of_its_block() -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(autoscaler={"zzz": 1})
    assert caught.value.problem == "is not a setting; known settings here: expander, scaleDownUnneededTime"


def test_an_unquoted_version_gets_the_hint_to_quote_it(tmp_path, capsys) -> None:
    """YAML resolves an unquoted `1.30` to the float 1.3 (YAML core schema, float tag), so the
    version arrives as 1.3; infra.plan's reader (PyYAML) does exactly that. The hint says to quote it."""
    stack_file = tmp_path / "Pulumi.unquoted.yaml"
    stack_file.write_text("config:\n  aws:region: us-west-2\n  spark-eks-spot:kubernetesVersion: 1.30\n")
    assert main(["--stack-file", str(stack_file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("infra.plan: error: config spark-eks-spot:kubernetesVersion: '1.3' is not offered (an unquoted 1.30")
    assert 'quote it, "1.30"' in err and err.count("\n") == 1
    with pytest.raises(ConfigError, match=r"unquoted 1\.30 in YAML is the number 1\.3"):
        _settings(kubernetesVersion=1.3)


@pytest.mark.parametrize(("region", "closest"), [("us-weast-1", {"us-west-1", "us-east-1"}), ("eu-centrl-1", {"eu-central-1"})])
def test_a_misspelt_region_is_refused_with_the_closest_real_one(region: str, closest: set[str]) -> None:
    """The regions are botocore's endpoint data (botocore/data/endpoints.json, shipped with the
    pinned boto3): every partition's regions, a real list with a version, not a pattern."""
    with pytest.raises(ConfigError) as caught:
        settings_from_values({}, stack="dev", region=region)
    message = str(caught.value)
    assert message.startswith(f"config aws:region: {region!r} is not an AWS region; did you mean ")
    assert message.removesuffix("?").rsplit(" ", 1)[-1] in closest


def test_the_region_list_is_every_partitions() -> None:
    regions = aws_regions()
    assert {"us-west-2", "eu-central-1", "cn-north-1", "us-gov-west-1", "ap-southeast-7"} <= set(regions)
    assert "us-west-3" not in regions


def test_plan_refuses_a_misspelt_region_in_its_own_namespace(tmp_path, capsys) -> None:
    """At plan time, one line naming `aws:region` (not `spark-eks-spot:aws:region`)."""
    stack_file = tmp_path / "Pulumi.typo.yaml"
    stack_file.write_text("config:\n  aws:region: us-weast-1\n")
    assert main(["--stack-file", str(stack_file)]) == 1
    assert capsys.readouterr().err.startswith("infra.plan: error: config aws:region: 'us-weast-1' is not an AWS region; did you mean ")


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"drivers": {"instanceTypes": ["m5.xlarge", "m5.2xlarge"]}}, "drivers.instanceTypes"),
        ({"executors": {"instanceTypes": ["m5.xlarge", "c5.xlarge", "m5a.xlarge"]}}, "executors.instanceTypes"),
        ({"extraExecutorGroups": {"xl2": {"instanceTypes": ["m5.2xlarge", "r5.2xlarge", "m6i.2xlarge"]}}}, "extraExecutorGroups.xl2.instanceTypes"),
    ],
)
def test_every_group_is_one_size_and_the_error_suggests_that_size(values: dict, key: str) -> None:
    """kubernetes/autoscaler cloudprovider/aws/README.md: the autoscaler takes a group's CPU and
    memory from one instance type ("only the first instance type found will be used"); the cost
    estimator prices a group as one size too. So every group's types share a size, drivers included,
    and the error names types of the first type's size."""
    with pytest.raises(ConfigError) as caught:
        _settings(**values)
    assert caught.value.key == key and "same vCPU and memory" in caught.value.problem
    first = (values.get("drivers") or values.get("executors") or values["extraExecutorGroups"]["xl2"])["instanceTypes"][0]
    suggested = caught.value.problem.split("): ")[-1].split(", ")
    assert suggested and all(instance_size(t) == instance_size(first) for t in suggested)


@pytest.mark.parametrize("types", [["m5.xlarge"], ["m5.2xlarge", "m5a.2xlarge"]])
def test_a_spot_group_of_fewer_than_three_types_is_refused_with_types_of_its_size(types: list[str]) -> None:
    """EKS user guide, managed-node-groups.adoc (Spot): configure a Spot group with multiple instance
    types of the same vCPU and memory so capacity comes from more Spot pools; the project asks for
    three, like the policy pack's executors-spot-diversified rule."""
    with pytest.raises(ConfigError) as caught:
        _settings(executors={"instanceTypes": types})
    problem = caught.value.problem
    assert caught.value.key == "executors.instanceTypes" and "at least 3 instance types" in problem
    suggested = problem.split("add from ")[1].split(" (")[0].split(", ")
    assert len(suggested) >= 3 - len(types)
    assert all(instance_size(t) == instance_size(types[0]) and t not in types for t in suggested)


def test_a_spot_size_with_too_few_offered_types_says_so() -> None:
    """c5.xlarge has no x86_64 sibling of its size in infra/instance_types.py (c6g/c7g are arm64): the
    error says what to do instead."""
    with pytest.raises(ConfigError, match="offers too few x86_64 types of c5.xlarge's size"):
        _settings(executors={"instanceTypes": ["c5.xlarge"]})
    assert _settings(drivers={"instanceTypes": ["c5.xlarge"]}).drivers.instance_types == ("c5.xlarge",)


def test_the_configuration_page_names_every_setting() -> None:
    """Every key `settings_from_values` accepts, nested ones too, is in docs/configuration.md's Settings table."""
    page = (ROOT / "docs" / "configuration.md").read_text()
    start = page.index("\n## Settings\n")
    end = page.find("\n## ", start + 1)
    section = page[start:end if end != -1 else len(page)]
    rows = "\n".join(line.split(" | ")[0] for line in section.splitlines() if line.startswith("| `"))
    fields = {to_camel(name): info for name, info in Settings.model_fields.items()}
    for key in CONFIG_KEYS:
        assert f"`{key}" in rows, key
        annotation = fields[key].annotation
        nested = typing.get_args(annotation)[1] if typing.get_origin(annotation) is dict else annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            for field in nested.model_fields:
                assert f"`{to_camel(field)}`" in section or f".{to_camel(field)}`" in section, f"{key}.{to_camel(field)}"
