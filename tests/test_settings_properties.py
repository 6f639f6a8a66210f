"""Property tests for the stack settings: any config gives valid Settings or one clear ConfigError line.

`settings_from_values` is the only door from a user's Pulumi.<stack>.yaml into the
program, so it must never raise anything but `ConfigError` (whose message names the
key), whatever arrives: wrong types, huge or negative numbers, unicode, JSON text
nested a hundred thousand deep. And whatever it accepts must really be valid.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.instance_types import INSTANCE_TYPES, instance_architecture, instance_size, is_burstable
from infra.settings import (
    AUTOSCALER_RELEASES,
    CONFIG_KEYS,
    MIN_SPOT_TYPES,
    PROJECT,
    ConfigError,
    Settings,
    aws_regions,
    settings_from_values,
)

MAX_MESSAGE = 1000

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["m5.xlarge", "m5a.xlarge", "0.0.0.0/0", "10.0.0.0/16", "spark", "irsa", "perAz", "1.34", "5m"]),
)
junk = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
instance_types = st.lists(st.one_of(st.sampled_from(sorted(INSTANCE_TYPES)), st.text(max_size=12)), max_size=6)
sizes = st.one_of(st.integers(min_value=-5, max_value=2000), st.integers(), junk)
node_group = st.fixed_dictionaries(
    {},
    optional={
        "instanceTypes": st.one_of(instance_types, junk),
        "minSize": sizes,
        "desiredSize": sizes,
        "maxSize": sizes,
        "diskSizeGib": sizes,
        "labels": st.one_of(st.dictionaries(st.text(max_size=20), st.text(max_size=10), max_size=3), junk),
        "architecture": st.one_of(st.sampled_from(["x86_64", "arm64", "amd64"]), junk),
        "priority": sizes,
    },
)
network = st.fixed_dictionaries(
    {},
    optional={
        "vpcCidr": st.one_of(st.sampled_from(["10.0.0.0/16", "10.1.0.0/20", "10.0.0.0/8", "10.0.0.1/16"]), st.text(max_size=20)),
        "availabilityZones": sizes,
        "natGateways": st.one_of(st.sampled_from(["single", "perAz"]), junk),
        "existingVpcId": st.one_of(st.sampled_from(["vpc-0a1b2c3d", "vpc-0a1b2c3d\n"]), st.text(max_size=20)),
        "privateSubnetIds": st.lists(st.sampled_from(["subnet-0aaa1111", "subnet-0bbb2222", "subnet-x"]), max_size=3),
        "publicSubnetIds": st.lists(st.sampled_from(["subnet-0ccc3333", "subnet-0aaa1111"]), max_size=2),
    },
)
endpoint = st.fixed_dictionaries(
    {},
    optional={
        "publicAccess": st.one_of(st.booleans(), junk),
        "privateAccess": st.one_of(st.booleans(), junk),
        "publicAccessCidrs": st.one_of(st.lists(st.sampled_from(["0.0.0.0/0", "203.0.113.0/24", "::/0", "1.2.3.4"]), max_size=3), junk),
    },
)
structured = {
    "network": network,
    "apiEndpoint": endpoint,
    "system": node_group,
    "drivers": node_group,
    "executors": node_group,
    "bucket": st.fixed_dictionaries({}, optional={"versioning": junk, "eventLogRetentionDays": sizes, "forceDestroy": junk}),
    "autoscaler": st.fixed_dictionaries({}, optional={"expander": st.one_of(st.sampled_from(["priority,least-waste", "least-waste"]), junk), "scaleDownUnneededTime": st.one_of(st.sampled_from(["5m", "1h", "5m\n"]), junk)}),
    "tags": st.one_of(st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3), junk),
}


def _as_pulumi_gives_it(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Pulumi hands structured config over as JSON text; sometimes test the raw object too."""
    return st.one_of(value, value.map(json.dumps))


config_values = st.fixed_dictionaries(
    {},
    optional={
        **{key: _as_pulumi_gives_it(strategy) for key, strategy in structured.items()},
        "clusterName": st.one_of(st.text(max_size=40), st.sampled_from(["spark-dev", "spark-dev\n", "Spark", "s" * 33]), junk),
        "kubernetesVersion": st.one_of(st.sampled_from(sorted(AUTOSCALER_RELEASES) + ["1.34\n", "1.20"]), junk),
        "s3AccessVia": st.one_of(st.sampled_from(["irsa", "nodeRole", "IRSA"]), junk),
        "sparkNamespace": st.one_of(st.sampled_from(["spark", "kube-system", "spark\n", "Spark", "a" * 64]), st.text(max_size=20)),
        "sparkServiceAccount": st.one_of(st.sampled_from(["spark", "spark\n"]), st.text(max_size=20)),
        "imageRetentionCount": sizes,
    },
) | st.dictionaries(st.one_of(st.sampled_from(CONFIG_KEYS), st.text(max_size=12)), _as_pulumi_gives_it(junk), max_size=5)

stacks = st.one_of(st.sampled_from(["dev", "prod", "prod-eu", "dev\n", "ÄÖ", "a" * 40]), st.text(max_size=20))
regions = st.one_of(st.none(), st.sampled_from(["us-west-2", "eu-central-1", "us-west-2\n", "mars-north-1"]), st.text(max_size=15))

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def assert_valid(result: Settings) -> None:
    """What every accepted Settings must satisfy (what AWS and Kubernetes will demand later)."""
    assert result.region in aws_regions()
    assert re.fullmatch(r"[a-z][a-z0-9-]{0,30}[a-z0-9]", result.cluster_name)
    assert _DNS_LABEL.fullmatch(result.spark_namespace) and _DNS_LABEL.fullmatch(result.spark_service_account)
    assert result.kubernetes_version in AUTOSCALER_RELEASES
    for key, group in result.node_groups.items():
        assert 0 <= group.min_size <= group.initial_size <= group.max_size <= 1000
        assert all(instance_size(t) is not None for t in group.instance_types)
        assert len({instance_size(t) for t in group.instance_types}) == 1
        # One AMI per group: every type is of the group's architecture.
        assert {instance_architecture(t) for t in group.instance_types} == {group.architecture}
        assert key == "system" or not any(is_burstable(t) for t in group.instance_types)
        assert group.priority is None or result.uses_priority_expander
    assert result.system.min_size >= 1
    assert len(result.executors.instance_types) >= MIN_SPOT_TYPES
    ipaddress.IPv4Network(result.network.vpc_cidr)
    if result.network.existing_vpc_id is not None:
        assert re.fullmatch(r"vpc-[0-9a-f]{8,17}", result.network.existing_vpc_id)
    for subnet in result.network.private_subnet_ids + result.network.public_subnet_ids:
        assert re.fullmatch(r"subnet-[0-9a-f]{8,17}", subnet)
    for cidr in result.api_endpoint.public_access_cidrs:
        ipaddress.IPv4Network(cidr)
    assert result.api_endpoint.public_access or result.api_endpoint.private_access


def outcome(values: dict[str, Any], stack: str, region: Any) -> Settings | ConfigError:
    try:
        return settings_from_values(values, stack=stack, region=region)
    except ConfigError as error:
        return error


def assert_one_clear_line(error: ConfigError) -> None:
    message = str(error)
    assert message.startswith(f"config {PROJECT}:") or message.startswith("config ")
    assert "\n" not in message and "\r" not in message
    assert len(message) <= MAX_MESSAGE, f"{len(message)} characters"
    assert error.problem


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=config_values, stack=stacks, region=regions)
def test_any_config_gives_valid_settings_or_one_clear_line(values: dict[str, Any], stack: str, region: Any) -> None:
    """Never a traceback: any other exception escapes `outcome` and fails the test."""
    result = outcome(values, stack, region)
    if isinstance(result, ConfigError):
        assert_one_clear_line(result)
    else:
        assert_valid(result)


@settings(max_examples=200, deadline=None)
@given(
    types=st.lists(st.sampled_from(sorted(INSTANCE_TYPES)), min_size=1, max_size=5, unique=True),
    low=st.integers(min_value=0, max_value=5),
    high=st.integers(min_value=1, max_value=30),
    architecture=st.sampled_from(["x86_64", "arm64"]),
)
def test_well_formed_executor_groups_are_accepted_exactly_when_sizes_agree(
    types: list[str], low: int, high: int, architecture: str
) -> None:
    """A Spot group is accepted exactly when its types share one size and the group's architecture, none is
    burstable, and there are at least three of them."""
    values = {"executors": json.dumps({"instanceTypes": types, "minSize": low, "maxSize": high, "architecture": architecture})}
    result = outcome(values, "dev", "us-west-2")
    same_size = len({instance_size(t) for t in types}) == 1
    same_architecture = {instance_architecture(t) for t in types} == {architecture}
    steady = not any(is_burstable(t) for t in types)
    if same_size and same_architecture and steady and len(types) >= MIN_SPOT_TYPES and low <= high:
        assert isinstance(result, Settings) and result.executors.instance_types == tuple(types)
    else:
        assert isinstance(result, ConfigError) and result.key.startswith("executors.")


HOSTILE: list[tuple[str, dict[str, Any], str, Any, str]] = [
    # (case, values, stack, region, key the error must name)
    ("huge size", {"executors": {"instanceTypes": ["m5.xlarge"], "minSize": 0, "maxSize": 10**40}}, "dev", "us-west-2", "executors.maxSize"),
    ("huge digits in text", {"imageRetentionCount": "9" * 5000}, "dev", "us-west-2", "imageRetentionCount"),
    ("infinite size", {"drivers": '{"instanceTypes": ["m5.xlarge"], "minSize": 1e999, "maxSize": 3}'}, "dev", "us-west-2", "drivers.minSize"),
    ("NaN size", {"drivers": '{"instanceTypes": ["m5.xlarge"], "minSize": NaN, "maxSize": 3}'}, "dev", "us-west-2", "drivers.minSize"),
    ("negative size", {"executors": {"instanceTypes": ["m5.xlarge"], "minSize": -1, "maxSize": 3}}, "dev", "us-west-2", "executors.minSize"),
    ("negative disk", {"drivers": {"instanceTypes": ["m5.xlarge"], "minSize": 1, "maxSize": 3, "diskSizeGib": -50}}, "dev", "us-west-2", "drivers.diskSizeGib"),
    ("fractional size", {"drivers": {"instanceTypes": ["m5.xlarge"], "minSize": 1.5, "maxSize": 3}}, "dev", "us-west-2", "drivers.minSize"),
    ("min above max", {"drivers": {"instanceTypes": ["m5.xlarge"], "minSize": 5, "maxSize": 3}}, "dev", "us-west-2", "drivers.minSize"),
    ("unicode cluster name", {"clusterName": "spärk-dev"}, "dev", "us-west-2", "clusterName"),
    ("unicode stack", {}, "Ünïcode", "us-west-2", "clusterName"),
    ("right-to-left key", {"\u202eevil": 1}, "dev", "us-west-2", "\u202eevil"),
    ("trailing newline cluster name", {"clusterName": "spark-dev\n"}, "dev", "us-west-2", "clusterName"),
    ("trailing newline stack", {}, "dev\n", "us-west-2", "clusterName"),
    ("trailing newline namespace", {"sparkNamespace": "spark\n"}, "dev", "us-west-2", "sparkNamespace"),
    ("trailing newline region", {}, "dev", "us-west-2\n", "aws:region"),
    ("trailing newline vpc", {"network": {"existingVpcId": "vpc-0a1b2c3d\n", "privateSubnetIds": ["subnet-0aaa1111", "subnet-0bbb2222"]}}, "dev", "us-west-2", "network.existingVpcId"),
    ("trailing newline label key", {"drivers": {"instanceTypes": ["m5.xlarge"], "minSize": 1, "maxSize": 3, "labels": {"team\n": "x"}}}, "dev", "us-west-2", "drivers.labels"),
    ("wrong type: name", {"clusterName": 5}, "dev", "us-west-2", "clusterName"),
    ("wrong type: types", {"executors": {"instanceTypes": "m5.xlarge", "minSize": 0, "maxSize": 3}}, "dev", "us-west-2", "executors.instanceTypes"),
    ("wrong type: group", {"drivers": [1, 2, 3]}, "dev", "us-west-2", "drivers"),
    ("wrong type: bool zones", {"network": {"availabilityZones": True}}, "dev", "us-west-2", "network.availabilityZones"),
    ("nested junk in tags", {"tags": {"team": {"a": [{"b": None}]}}}, "dev", "us-west-2", "tags.team"),
    ("deeply nested JSON text", {"network": "[" * 100_000}, "dev", "us-west-2", "network"),
    ("deeply nested JSON object", {"tags": '{"a":' * 100_000}, "dev", "us-west-2", "tags"),
    ("broken JSON text", {"drivers": '{"instanceTypes": ['}, "dev", "us-west-2", "drivers"),
    ("huge unknown key", {"x" * 100_000: 1}, "dev", "us-west-2", "x" * 100_000),
    ("huge cluster name", {"clusterName": "a" * 1_000_000}, "dev", "us-west-2", "clusterName"),
    ("IPv6 everyone", {"apiEndpoint": {"publicAccessCidrs": ["::/0"]}}, "dev", "us-west-2", "apiEndpoint.publicAccessCidrs"),
    ("host bits in CIDR", {"network": {"vpcCidr": "10.0.0.1/16"}}, "dev", "us-west-2", "network.vpcCidr"),
    ("system namespace", {"sparkNamespace": "kube-system"}, "dev", "us-west-2", "sparkNamespace"),
    ("no region", {}, "dev", None, "aws:region"),
]


@pytest.mark.parametrize("case, values, stack, region, key", HOSTILE, ids=[case[0] for case in HOSTILE])
def test_hostile_inputs_are_refused_naming_the_key(case: str, values: dict[str, Any], stack: str, region: Any, key: str) -> None:
    result = outcome(values, stack, region)
    assert isinstance(result, ConfigError), f"{case}: accepted"
    assert result.key == key
    assert_one_clear_line(result)
