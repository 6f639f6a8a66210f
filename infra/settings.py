"""Typed, validated stack settings: the one place the program reads `pulumi.Config`.

`load_settings()` reads the project's config namespace once, validates every value and
returns a frozen `Settings`. A bad value raises `ConfigError` whose message is one line
that names the config key and what is allowed, so nothing is created from a bad config.
Tests and the offline plan build `Settings` through `settings_from_values()` from a plain
mapping instead of faking `pulumi.Config`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from infra.instance_types import INSTANCE_TYPES, instance_size

PROJECT = "spark-eks-spot"

# Kubernetes minor → (cluster-autoscaler chart version, autoscaler image tag). The
# autoscaler's minor must match the cluster's; the image tag is set explicitly so a
# chart default can never run an older autoscaler against a newer control plane.
AUTOSCALER_RELEASES: dict[str, tuple[str, str]] = {
    "1.33": ("9.51.0", "v1.33.0"),
    "1.34": ("9.52.1", "v1.34.1"),
    "1.35": ("9.59.0", "v1.35.0"),
}

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_LABEL_KEY = re.compile(r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
_MAX_NODES = 1000


def _one_line(text: str, limit: int) -> str:
    """Text safe for a one-line message: control characters escaped, at most `limit` characters."""
    text = "".join(repr(c)[1:-1] if not c.isprintable() else c for c in text)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _shown(value: Any) -> str:
    """A user's value as a message quotes it: repr, cut short (a config value can be a megabyte)."""
    return _one_line(repr(value), 60)


class ConfigError(ValueError):
    """A config value that cannot be used; the message names the key and the fix, on one line."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        shown_key = _one_line(key, 80) if key.strip() else repr(key)
        super().__init__(f"config {PROJECT}:{shown_key}: {_one_line(problem, 800)}")


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class NodeGroupSettings(_Model):
    instance_types: tuple[str, ...] = Field(min_length=1, max_length=20)
    min_size: int = Field(ge=0, le=_MAX_NODES)
    desired_size: int | None = Field(default=None, ge=0, le=_MAX_NODES)
    max_size: int = Field(ge=1, le=_MAX_NODES)
    disk_size_gib: int = Field(default=50, ge=20, le=16384)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("instance_types")
    @classmethod
    def _known_types(cls, types: tuple[str, ...]) -> tuple[str, ...]:
        for instance_type in types:
            if instance_size(instance_type) is None:
                families = sorted({name.split(".")[0] for name in INSTANCE_TYPES})
                raise ValueError(
                    f"unknown instance type {_shown(instance_type)}; offered families: "
                    f"{', '.join(families)} (sizes large to 4xlarge)"
                )
        if len(set(types)) != len(types):
            raise ValueError("lists an instance type twice")
        return types

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if not _LABEL_KEY.fullmatch(key) or key.startswith("eks.amazonaws.com/"):
                raise ValueError(f"label key {_shown(key)} is not a valid, user-settable Kubernetes label")
        return labels

    @property
    def initial_size(self) -> int:
        """The desired size on creation; later the cluster-autoscaler owns it."""
        return self.min_size if self.desired_size is None else self.desired_size


class NetworkSettings(_Model):
    vpc_cidr: str = "10.0.0.0/16"
    availability_zones: int = Field(default=2, ge=2, le=4)
    nat_gateways: Literal["single", "perAz"] = "single"
    existing_vpc_id: str | None = None
    private_subnet_ids: tuple[str, ...] = ()
    public_subnet_ids: tuple[str, ...] = ()

    @field_validator("vpc_cidr")
    @classmethod
    def _valid_cidr(cls, cidr: str) -> str:
        try:
            network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError as error:
            raise ValueError(f"{_shown(cidr)} is not an IPv4 network in CIDR form ({error})") from None
        if not 16 <= network.prefixlen <= 20:
            raise ValueError(f"{_shown(cidr)} must be a /16 to /20 network so every AZ gets room for pods")
        return cidr

    @field_validator("existing_vpc_id")
    @classmethod
    def _valid_vpc_id(cls, vpc_id: str | None) -> str | None:
        if vpc_id is not None and not _VPC_ID.fullmatch(vpc_id):
            raise ValueError(f"{_shown(vpc_id)} is not a VPC id (vpc-0123abcd…)")
        return vpc_id

    @field_validator("private_subnet_ids", "public_subnet_ids")
    @classmethod
    def _valid_subnet_ids(cls, ids: tuple[str, ...]) -> tuple[str, ...]:
        for subnet_id in ids:
            if not _SUBNET_ID.fullmatch(subnet_id):
                raise ValueError(f"{_shown(subnet_id)} is not a subnet id (subnet-0123abcd…)")
        if len(set(ids)) != len(ids):
            raise ValueError("lists a subnet twice")
        return ids

    @property
    def uses_existing_vpc(self) -> bool:
        return self.existing_vpc_id is not None


class ApiEndpointSettings(_Model):
    public_access: bool = True
    private_access: bool = True
    public_access_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    # Who inside the network (bastion, VPN, CI runner) may reach the private endpoint on 443.
    private_access_cidrs: tuple[str, ...] = ()
    # IAM roles given cluster-admin through access entries, besides the identity running `pulumi up`.
    admin_role_arns: tuple[str, ...] = ()

    @field_validator("admin_role_arns")
    @classmethod
    def _valid_role_arns(cls, arns: tuple[str, ...]) -> tuple[str, ...]:
        for arn in arns:
            if not _ROLE_ARN.fullmatch(arn):
                raise ValueError(f"{_shown(arn)} is not an IAM role ARN (arn:aws:iam::123456789012:role/name)")
        return arns

    @field_validator("public_access_cidrs", "private_access_cidrs")
    @classmethod
    def _valid_cidrs(cls, cidrs: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in cidrs:
            try:
                ipaddress.IPv4Network(cidr, strict=True)
            except ValueError as error:
                raise ValueError(f"{_shown(cidr)} is not an IPv4 CIDR ({error})") from None
        return cidrs


class BucketSettings(_Model):
    versioning: bool = False
    event_log_retention_days: int = Field(default=30, ge=1, le=3650)
    force_destroy: bool = False


class AutoscalerSettings(_Model):
    expander: Literal["least-waste", "random", "most-pods"] = "least-waste"
    scale_down_unneeded_time: str = "5m"

    @field_validator("scale_down_unneeded_time")
    @classmethod
    def _valid_duration(cls, value: str) -> str:
        if not re.fullmatch(r"\d+[smh]", value):
            raise ValueError(f"{_shown(value)} is not a duration such as 5m, 300s or 1h")
        return value


class Settings(_Model):
    """Everything one stack needs; built only by `settings_from_values`."""

    stack: str
    region: str
    cluster_name: str
    kubernetes_version: str = "1.34"
    network: NetworkSettings = NetworkSettings()
    api_endpoint: ApiEndpointSettings = ApiEndpointSettings()
    drivers: NodeGroupSettings = NodeGroupSettings(
        instance_types=("m5.xlarge",), min_size=1, max_size=3, disk_size_gib=50
    )
    executors: NodeGroupSettings = NodeGroupSettings(
        instance_types=("m5.xlarge", "m5a.xlarge", "m5d.xlarge", "m5ad.xlarge", "m4.xlarge"),
        min_size=0,
        max_size=20,
        disk_size_gib=100,
    )
    # More Spot pools, e.g. one per instance size (the autoscaler models a group by one size).
    extra_executor_groups: dict[str, NodeGroupSettings] = Field(default_factory=dict, max_length=30)
    s3_access_via: Literal["irsa", "nodeRole"] = "irsa"
    spark_namespace: str = "spark"
    spark_service_account: str = "spark"
    bucket: BucketSettings = BucketSettings()
    control_plane_log_retention_days: int = Field(default=30, ge=1, le=3653)
    image_retention_count: int = Field(default=30, ge=1, le=1000)
    autoscaler: AutoscalerSettings = AutoscalerSettings()
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def autoscaler_chart_version(self) -> str:
        return AUTOSCALER_RELEASES[self.kubernetes_version][0]

    @property
    def autoscaler_image_tag(self) -> str:
        return AUTOSCALER_RELEASES[self.kubernetes_version][1]

    @property
    def resource_tags(self) -> dict[str, str]:
        """Tags put on every AWS resource (through the provider's default tags)."""
        return {"project": PROJECT, "stack": self.stack, "managed-by": "pulumi", **self.tags}


# Config keys of the project namespace, as a user writes them in Pulumi.<stack>.yaml.
CONFIG_KEYS: tuple[str, ...] = tuple(
    to_camel(name) for name in Settings.model_fields if name not in ("stack", "region")
)


def _field_path(location: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in location:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts)


def _first_error(error: ValidationError) -> ConfigError:
    detail = error.errors(include_url=False)[0]
    key = _field_path(tuple(detail["loc"]))
    message = detail["msg"].removeprefix("Value error, ")
    if detail["type"] == "extra_forbidden":
        message = "is not a setting; check the spelling against the README's config table"
    elif detail["type"] == "literal_error":
        message = f"{message} (got {_shown(detail['input'])})"
    elif detail["type"] != "value_error" and not isinstance(detail.get("input"), (dict, list, type(None))):
        message = f"{message} (got {_shown(detail['input'])})"
    return ConfigError(key, message)


def _check_node_group(key: str, group: NodeGroupSettings, same_size: bool) -> None:
    if group.min_size > group.max_size:
        raise ConfigError(f"{key}.minSize", f"{group.min_size} is above maxSize {group.max_size}; lower minSize or raise maxSize")
    if not group.min_size <= group.initial_size <= group.max_size:
        raise ConfigError(
            f"{key}.desiredSize",
            f"{group.initial_size} must be between minSize {group.min_size} and maxSize {group.max_size}",
        )
    if same_size:
        sizes = {instance_size(t) for t in group.instance_types}
        if len(sizes) > 1:
            listed = ", ".join(
                f"{t} ({instance_size(t).vcpu} vCPU/{instance_size(t).memory_gib} GiB)"  # type: ignore[union-attr]
                for t in group.instance_types
            )
            raise ConfigError(
                f"{key}.instanceTypes",
                f"all types must have the same vCPU and memory so the autoscaler models the group right; got {listed}",
            )


def _check(settings: Settings) -> None:
    """Cross-field rules that a single field's type cannot express."""
    if not _REGION.fullmatch(settings.region):
        raise ConfigError("aws:region", f"{_shown(settings.region)} is not an AWS region such as us-west-2")
    if settings.kubernetes_version not in AUTOSCALER_RELEASES:
        raise ConfigError(
            "kubernetesVersion",
            f"{_shown(settings.kubernetes_version)} is not supported; use one of {', '.join(AUTOSCALER_RELEASES)}",
        )
    if not _CLUSTER_NAME.fullmatch(settings.cluster_name):
        raise ConfigError(
            "clusterName",
            f"{_shown(settings.cluster_name)} must be 2-32 lowercase letters, digits or '-', starting with a letter",
        )
    for key in ("spark_namespace", "spark_service_account"):
        value = getattr(settings, key)
        if not _DNS_LABEL.fullmatch(value):
            raise ConfigError(to_camel(key), f"{_shown(value)} must be a DNS-1123 label (lowercase letters, digits, '-', ≤ 63)")
    if settings.spark_namespace in ("kube-system", "kube-public", "kube-node-lease", "default"):
        raise ConfigError("sparkNamespace", f"{_shown(settings.spark_namespace)} is a system namespace; pick one of Spark's own, such as spark")
    _check_node_group("drivers", settings.drivers, same_size=False)
    _check_node_group("executors", settings.executors, same_size=True)
    for group_name, group in settings.extra_executor_groups.items():
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?", group_name):
            raise ConfigError(
                f"extraExecutorGroups.{group_name}",
                "group names are 1-16 lowercase letters, digits or '-' (they become part of AWS names)",
            )
        _check_node_group(f"extraExecutorGroups.{group_name}", group, same_size=True)
    if settings.drivers.min_size < 1:
        raise ConfigError("drivers.minSize", "must be at least 1: drivers and the cluster add-ons need an On-Demand node")

    network = settings.network
    if network.uses_existing_vpc:
        explicit = network.model_fields_set & {"vpc_cidr", "availability_zones", "nat_gateways"}
        if explicit:
            field = to_camel(sorted(explicit)[0])
            raise ConfigError(f"network.{field}", "only applies to a new VPC; remove it or remove network.existingVpcId")
        if len(network.private_subnet_ids) < 2:
            raise ConfigError("network.privateSubnetIds", "an existing VPC needs at least two private subnets in different AZs")
    elif network.private_subnet_ids or network.public_subnet_ids:
        field = "privateSubnetIds" if network.private_subnet_ids else "publicSubnetIds"
        raise ConfigError(f"network.{field}", "subnet ids need network.existingVpcId; set it or remove the subnet ids")

    endpoint = settings.api_endpoint
    if not endpoint.public_access and not endpoint.private_access:
        raise ConfigError("apiEndpoint.privateAccess", "the API must be reachable: enable privateAccess or publicAccess")
    if not endpoint.public_access and endpoint.model_fields_set & {"public_access_cidrs"}:
        raise ConfigError("apiEndpoint.publicAccessCidrs", "only applies when publicAccess is true; remove it")
    if not endpoint.private_access and endpoint.private_access_cidrs:
        raise ConfigError("apiEndpoint.privateAccessCidrs", "only applies when privateAccess is true; remove it")
    if not endpoint.public_access and not endpoint.private_access_cidrs:
        raise ConfigError(
            "apiEndpoint.privateAccessCidrs",
            "a private-only API needs the CIDRs of the machines that run `pulumi up` and jobs (VPN, bastion, CI runner)",
        )


def _decode(raw: Any) -> Any:
    """Pulumi hands structured config values over as JSON text; scalars stay text."""
    if isinstance(raw, str) and raw.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):  # nested too deep for the parser: let validation refuse it
            return raw
    return raw


def settings_from_values(values: Mapping[str, Any], *, stack: str, region: str | None) -> Settings:
    """Validate the project's config values (camelCase keys, no namespace) into Settings."""
    if not region:
        raise ConfigError("aws:region", "is not set; run `pulumi config set aws:region us-west-2`")
    unknown = sorted(set(values) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(unknown[0], f"is not a setting; known settings: {', '.join(CONFIG_KEYS)}")
    decoded = {key: _decode(value) for key, value in values.items() if value is not None}
    decoded.setdefault("clusterName", f"spark-{stack}".lower())
    try:
        settings = Settings.model_validate({**decoded, "stack": stack, "region": region})
    except ValidationError as error:
        raise _first_error(error) from None
    _check(settings)
    return settings


def load_settings() -> Settings:
    """Read and validate the current stack's config (inside a Pulumi program)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    prefix = f"{PROJECT}:"
    present = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    values = {
        key[len(prefix):]: runtime_config.get_config(key)
        for key in present
        if key.startswith(prefix)
    }
    return settings_from_values(
        values, stack=pulumi.get_stack(), region=pulumi.Config("aws").get("region")
    )
