"""Typed, validated stack settings: the one place the program reads `pulumi.Config`.

`load_settings()` reads the project's config namespace once, validates every value and
returns a frozen `Settings`. A bad value raises `ConfigError` whose message is one line
that names the config key and what is allowed, so nothing is created from a bad config.
Tests and the offline plan build `Settings` through `settings_from_values()` from a plain
mapping instead of faking `pulumi.Config`.

Some rules can only be checked once the identity running the program is known
(`check_admin_roles`) or against a day (`check_support_phase`, `standard_support_notice`);
the program and `infra.plan` call those with what they know.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import typing
from contextvars import ContextVar
from datetime import date
from functools import lru_cache
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from cost.calendar import SupportCalendar, load_calendar
from infra.asg_tags import (
    CAPACITY_TYPE_LABEL,
    RESERVED_CLUSTER_NAMES,
    ROLE_LABEL,
    label_tag_key,
    tag_name_suffix,
)
from infra.instance_types import (
    INSTANCE_TYPES,
    X86_64,
    Architecture,
    instance_architecture,
    instance_size,
    is_burstable,
    same_size_types,
)

PROJECT = "spark-eks-spot"

# Kubernetes minor → (cluster-autoscaler chart version, autoscaler image tag). The
# autoscaler's minor must match the cluster's; the image tag is set explicitly so a
# chart default can never run an older autoscaler against a newer control plane.
# Each minor gets the newest chart whose appVersion is of that minor and the newest image
# patch of that minor, as tagged in kubernetes/autoscaler (snapshot of 2026-08-22, read
# 2026-12-01): chart 9.53.0 (appVersion 1.34.2, the last 1.34 chart) with image 1.34.5;
# chart 9.59.0 (appVersion 1.35.0) with image 1.35.2. 1.36 has images but no chart yet.
# Only versions in EKS standard support on the support calendar's date are offered (1.33
# left it on 2026-07-29); tests/test_infra_support.py holds this table to the calendar.
AUTOSCALER_RELEASES: dict[str, tuple[str, str]] = {
    "1.34": ("9.53.0", "v1.34.5"),
    "1.35": ("9.59.0", "v1.35.2"),
}
DEFAULT_KUBERNETES_VERSION = "1.35"
# infra.plan warns this many days before the chosen version leaves standard support.
SUPPORT_WARNING_DAYS = 60
# AWS EKS pricing: a control plane in extended support costs $0.60 per hour instead of $0.10.
EXTENDED_SUPPORT_PRICE = "$0.60 per cluster-hour instead of $0.10"

_CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_ASSUMED_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:sts::(\d{12}):assumed-role/([\w+=,.@-]+)/.+$")
_LABEL_KEY = re.compile(r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")
_MAX_NODES = 1000
# EKS CreateNodegroup: a label key (prefix included) and a label value are 1-63 characters
# (botocore data/eks/2017-11-01/service-2.json, shapes labelKey and labelValue).
EKS_LABEL_MAX = 63
# A Spot group spans at least this many instance types, so one reclaimed pool cannot starve it.
MIN_SPOT_TYPES = 3
# The kubelet refuses to start when --node-labels has a key in the kubernetes.io or k8s.io
# namespaces that is neither under one of these prefixes nor in this set (kubernetes/kubernetes
# cmd/kubelet/app/options/options.go ValidateKubeletFlags, pkg/kubelet/apis/well_known_labels.go).
_KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
_KUBELET_LABELS = frozenset(
    {
        "beta.kubernetes.io/arch", "beta.kubernetes.io/instance-type", "beta.kubernetes.io/os",
        "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
        "kubernetes.io/arch", "kubernetes.io/hostname", "kubernetes.io/os",
        "node.kubernetes.io/instance-type", "topology.kubernetes.io/region", "topology.kubernetes.io/zone",
    }
)
# Labels the program sets on every group itself; a user label may not replace them.
_FIXED_LABELS = (ROLE_LABEL, CAPACITY_TYPE_LABEL)


def _one_line(text: str, limit: int) -> str:
    """Text safe for a one-line message: control characters escaped, at most `limit` characters."""
    text = "".join(repr(c)[1:-1] if not c.isprintable() else c for c in text)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _shown(value: Any) -> str:
    """A user's value as a message quotes it: repr, cut short (a config value can be a megabyte)."""
    return _one_line(repr(value), 60)


class ConfigError(ValueError):
    """A config value that cannot be used; the message names the key and the fix, on one line.

    Keys of the project's namespace print as `spark-eks-spot:<key>`; a key of another
    namespace (`aws:region`) is passed whole with `namespaced=False` and prints as it is.
    """

    def __init__(self, key: str, problem: str, *, namespaced: bool = True) -> None:
        self.key = key
        self.problem = problem
        shown_key = _one_line(key, 80) if key.strip() else repr(key)
        prefix = f"{PROJECT}:" if namespaced else ""
        super().__init__(f"config {prefix}{shown_key}: {_one_line(problem, 800)}")


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


def _kubelet_refuses(label: str) -> bool:
    """True for a label key in the kubernetes.io/k8s.io namespaces that the kubelet will not set."""
    if "/" not in label:
        return False
    namespace = label.split("/", 1)[0]
    reserved = any(namespace == root or namespace.endswith(f".{root}") for root in ("kubernetes.io", "k8s.io"))
    allowed = label in _KUBELET_LABELS or any(
        namespace == prefix or namespace.endswith(f".{prefix}") for prefix in _KUBELET_LABEL_NAMESPACES
    )
    return reserved and not allowed


class NodeGroupSettings(_Model):
    """One managed node group. Each kind of group (below) gives its own defaults."""

    instance_types: tuple[str, ...] = Field(min_length=1, max_length=20)
    min_size: int = Field(ge=0, le=_MAX_NODES)
    desired_size: int | None = Field(default=None, ge=0, le=_MAX_NODES)
    max_size: int = Field(ge=1, le=_MAX_NODES)
    disk_size_gib: int = Field(ge=20, le=16384)
    labels: dict[str, str] = Field(default_factory=dict)
    # One per group: a managed node group runs one AMI (AL2023 x86_64 or ARM_64).
    architecture: Architecture = X86_64
    # The priority expander's priority (higher grows first); unset, it comes from the price snapshot.
    priority: int | None = Field(default=None, ge=1, le=1000)

    @field_validator("architecture", mode="before")
    @classmethod
    def _aws_architecture_names(cls, value: Any) -> Any:
        if value in ("amd64", "x86-64", "aarch64"):
            meant = {"amd64": "x86_64", "x86-64": "x86_64", "aarch64": "arm64"}[value]
            raise ValueError(f"{_shown(value)} is not AWS's name for it: write {meant} (x86_64 or arm64)")
        return value

    @field_validator("instance_types")
    @classmethod
    def _known_types(cls, types: tuple[str, ...]) -> tuple[str, ...]:
        for instance_type in types:
            if instance_size(instance_type) is None:
                families = sorted({name.split(".")[0] for name in INSTANCE_TYPES})
                raise ValueError(
                    f"unknown instance type {_shown(instance_type)}; offered families: "
                    f"{', '.join(families)} (their sizes are in infra/instance_types.py)"
                )
        if len(set(types)) != len(types):
            raise ValueError("lists an instance type twice")
        return types

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        suffixes = {tag_name_suffix(label_tag_key(fixed)): fixed for fixed in _FIXED_LABELS}
        for key, value in labels.items():
            if not _LABEL_KEY.fullmatch(key) or key.startswith("eks.amazonaws.com/"):
                raise ValueError(f"label key {_shown(key)} is not a valid, user-settable Kubernetes label")
            if key in _FIXED_LABELS:
                raise ValueError(f"label key {_shown(key)} is set by the project itself; use another key")
            if _kubelet_refuses(key):
                raise ValueError(
                    f"label key {_shown(key)} is in a namespace the kubelet refuses (kubernetes.io, k8s.io), "
                    "so nodes would never join; use your own prefix, or node.kubernetes.io/…"
                )
            if len(key) > EKS_LABEL_MAX:
                # EKS CreateNodegroup caps the whole key, prefix included (its ASG tag key then
                # stays within AWS's 128 characters: the node-template prefix is 46).
                raise ValueError(
                    f"label key {_shown(key)} is {len(key)} characters; EKS allows at most {EKS_LABEL_MAX} "
                    "for the whole key, prefix included: shorten it"
                )
            tag_key = label_tag_key(key)
            suffix = tag_name_suffix(tag_key)
            if suffix in suffixes:
                raise ValueError(
                    f"label keys {_shown(suffixes[suffix])} and {_shown(key)} name the same tag resource "
                    "once punctuation is dropped; rename one of them"
                )
            suffixes[suffix] = key
            if not value or not _LABEL_VALUE.fullmatch(value):
                raise ValueError(
                    f"label {_shown(key)} has value {_shown(value)}; a label value is 1 to 63 letters, "
                    "digits, '-', '_' or '.', starting and ending with a letter or digit (EKS refuses an empty one)"
                )
        return labels

    @property
    def initial_size(self) -> int:
        """The desired size on creation; later the cluster-autoscaler owns it."""
        return self.min_size if self.desired_size is None else self.desired_size


class SystemGroupSettings(NodeGroupSettings):
    """The small On-Demand group the cluster add-ons run on (CoreDNS, the cluster-autoscaler).

    Its one node is the cluster's whole idle compute: a burstable type, since the add-ons
    ask for about 0.4 vCPU and 0.5 GiB and idle most of the time. Tainted so Spark never lands here.
    """

    instance_types: tuple[str, ...] = Field(default=("t3.medium",), min_length=1, max_length=20)
    min_size: int = Field(default=1, ge=0, le=_MAX_NODES)
    max_size: int = Field(default=2, ge=1, le=_MAX_NODES)
    disk_size_gib: int = Field(default=20, ge=20, le=16384)


class DriverGroupSettings(NodeGroupSettings):
    """The On-Demand group for Spark drivers; it scales from zero when a job's driver is pending."""

    instance_types: tuple[str, ...] = Field(default=("m5.xlarge",), min_length=1, max_length=20)
    min_size: int = Field(default=0, ge=0, le=_MAX_NODES)
    max_size: int = Field(default=3, ge=1, le=_MAX_NODES)
    disk_size_gib: int = Field(default=50, ge=20, le=16384)


# Every current x86_64 family of 4 vCPU / 16 GiB (the autoscaler's table, infra/instance_types.py)
# that the Spot Instance Advisor lists in us-east-1, us-west-2 and eu-west-1: more Spot pools, fewer
# interruptions under price-capacity-optimized allocation. Left out: burstable t3/t3a (CPU credits),
# the Flex types (a 40 % CPU baseline) and the m8 families (few regions yet; EKS refuses a group
# listing a type its region does not offer, terraform-aws-eks#1279, #3648).
EXECUTOR_INSTANCE_TYPES = (
    "m5.xlarge", "m5a.xlarge", "m5d.xlarge", "m5ad.xlarge", "m5n.xlarge", "m5dn.xlarge", "m5zn.xlarge",
    "m6i.xlarge", "m6a.xlarge", "m6id.xlarge", "m6in.xlarge", "m6idn.xlarge", "m7i.xlarge", "m7a.xlarge",
    "m4.xlarge",
)


class ExecutorGroupSettings(NodeGroupSettings):
    """The Spot group for Spark executors."""

    instance_types: tuple[str, ...] = Field(default=EXECUTOR_INSTANCE_TYPES, min_length=1, max_length=20)
    min_size: int = Field(default=0, ge=0, le=_MAX_NODES)
    max_size: int = Field(default=20, ge=1, le=_MAX_NODES)
    disk_size_gib: int = Field(default=100, ge=20, le=16384)


class ExtraExecutorGroupSettings(ExecutorGroupSettings):
    """Another Spot pool for executors: its instance types (its size) are its reason to exist."""

    instance_types: tuple[str, ...] = Field(min_length=1, max_length=20)


class NetworkSettings(_Model):
    vpc_cidr: str = "10.0.0.0/16"
    availability_zones: int = Field(default=2, ge=2, le=4)
    nat_gateways: Literal["single", "perAz"] = "single"
    existing_vpc_id: str | None = None
    private_subnet_ids: tuple[str, ...] = ()
    public_subnet_ids: tuple[str, ...] = ()
    # A free S3 gateway endpoint on the private route tables keeps S3 and ECR layer traffic off
    # the NAT gateway. A new VPC always gets one; an existing VPC may have its own already.
    s3_gateway_endpoint: bool = True

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
        if len({_role_identity(arn) for arn in arns}) != len(arns):
            raise ValueError("lists one IAM role twice (EKS allows one access entry per principal)")
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

    @property
    def public_to_everyone(self) -> bool:
        return any(ipaddress.IPv4Network(cidr).prefixlen == 0 for cidr in self.public_access_cidrs)


class UpgradePolicySettings(_Model):
    # STANDARD: EKS upgrades the cluster when its version leaves standard support.
    # EXTENDED (EKS's own default): it stays, at the extended-support price.
    support_type: Literal["STANDARD", "EXTENDED"] = "STANDARD"


class BucketSettings(_Model):
    versioning: bool = False
    event_log_retention_days: int = Field(default=30, ge=1, le=3650)
    # With versioning, how long an overwritten or deleted object's old version is kept.
    noncurrent_version_days: int = Field(default=30, ge=1, le=3650)
    force_destroy: bool = False


PRIORITY_EXPANDER = "priority,least-waste"


class AutoscalerSettings(_Model):
    # priority: the cheapest Spot group grows first (infra/priorities.py); least-waste breaks ties.
    expander: Literal["priority,least-waste", "least-waste", "random", "most-pods"] = PRIORITY_EXPANDER
    scale_down_unneeded_time: str = "5m"

    @field_validator("scale_down_unneeded_time")
    @classmethod
    def _valid_duration(cls, value: str) -> str:
        if not re.fullmatch(r"\d+[smh]", value):
            raise ValueError(f"{_shown(value)} is not a duration such as 5m, 300s or 1h")
        return value


_CPU_QUANTITY = re.compile(r"^([1-9][0-9]{0,5}m|[1-9][0-9]?(\.[0-9]{1,3})?)$")
_MEMORY_QUANTITY = re.compile(r"^([1-9][0-9]{0,5})(Mi|Gi)$")
# A repository with a tag or a digest; never `latest`, which would move under a running Deployment.
_IMAGE_REFERENCE = re.compile(
    r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)+"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$"
)
HISTORY_MIN_MEMORY_MIB = 768


class HistorySettings(_Model):
    """The Spark History Server (infra/history.py). How long an application stays listed is the
    bucket's event-log expiry (bucket.eventLogRetentionDays): the server may only read the bucket,
    so Spark's own cleaner stays off and the server forgets an app once its log has expired."""

    enabled: bool = True
    # None: the project's Spark image (it has the S3A connector) in the stack's ECR repository,
    # at the tag `python -m jobs image build/push` give this checkout.
    image: str | None = None
    cpu: str = "250m"
    memory: str = "1536Mi"
    # How many applications' UIs it keeps in memory (spark.history.retainedApplications).
    retained_applications: int = Field(default=50, ge=1, le=1000)

    @field_validator("image")
    @classmethod
    def _valid_image(cls, image: str | None) -> str | None:
        if image is not None and (not _IMAGE_REFERENCE.fullmatch(image) or image.endswith(":latest")):
            raise ValueError(
                f"{_shown(image)} is not an image reference with a fixed tag or digest "
                "(REGISTRY/REPOSITORY:TAG or @sha256:…, not :latest); it needs Spark 4.3 with hadoop-aws, "
                "like the project's image (image/Dockerfile)"
            )
        return image

    @field_validator("cpu")
    @classmethod
    def _valid_cpu(cls, cpu: str) -> str:
        if not _CPU_QUANTITY.fullmatch(cpu):
            raise ValueError(f"{_shown(cpu)} is not a CPU quantity such as 250m or 1")
        return cpu

    @field_validator("memory")
    @classmethod
    def _valid_memory(cls, memory: str) -> str:
        if not _MEMORY_QUANTITY.fullmatch(memory) or cls.memory_mib_of(memory) < HISTORY_MIN_MEMORY_MIB:
            raise ValueError(
                f"{_shown(memory)} is not a memory size of at least {HISTORY_MIN_MEMORY_MIB}Mi in Mi or Gi, such as 1536Mi or 2Gi"
            )
        return memory

    @staticmethod
    def memory_mib_of(memory: str) -> int:
        match = _MEMORY_QUANTITY.fullmatch(memory)
        if match is None:
            return 0
        return int(match.group(1)) * (1024 if match.group(2) == "Gi" else 1)

    @property
    def memory_mib(self) -> int:
        return self.memory_mib_of(self.memory)


class Settings(_Model):
    """Everything one stack needs; built only by `settings_from_values`."""

    stack: str
    region: str
    cluster_name: str
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    upgrade_policy: UpgradePolicySettings = UpgradePolicySettings()
    network: NetworkSettings = NetworkSettings()
    api_endpoint: ApiEndpointSettings = ApiEndpointSettings()
    system: SystemGroupSettings = SystemGroupSettings()
    drivers: DriverGroupSettings = DriverGroupSettings()
    executors: ExecutorGroupSettings = ExecutorGroupSettings()
    # More Spot pools, e.g. one per instance size (the autoscaler models a group by one size).
    extra_executor_groups: dict[str, ExtraExecutorGroupSettings] = Field(default_factory=dict, max_length=30)
    s3_access_via: Literal["irsa", "nodeRole"] = "irsa"
    spark_namespace: str = "spark"
    spark_service_account: str = "spark"
    bucket: BucketSettings = BucketSettings()
    control_plane_log_retention_days: int = Field(default=30, ge=1, le=3653)
    image_retention_count: int = Field(default=30, ge=1, le=1000)
    autoscaler: AutoscalerSettings = AutoscalerSettings()
    history: HistorySettings = HistorySettings()
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        # An unquoted `1.35` in YAML is a number; say what it was rather than "not a string".
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return repr(value)
        return value

    @property
    def node_groups(self) -> dict[str, NodeGroupSettings]:
        """Every node group by its config key (`system`, `drivers`, `executors`, `extraExecutorGroups.<name>`)."""
        return {
            "system": self.system,
            "drivers": self.drivers,
            "executors": self.executors,
            **{f"extraExecutorGroups.{name}": group for name, group in self.extra_executor_groups.items()},
        }

    @property
    def uses_priority_expander(self) -> bool:
        return "priority" in self.autoscaler.expander.split(",")

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


@lru_cache(maxsize=1)
def aws_regions() -> tuple[str, ...]:
    """Every region of every AWS partition, from the endpoint data botocore ships (a dated, versioned list)."""
    from botocore.loaders import Loader

    endpoints = Loader().load_data("endpoints")
    return tuple(sorted(region for partition in endpoints["partitions"] for region in partition["regions"]))


def _field_path(location: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in location:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts)


def _keys_at(location: tuple[Any, ...]) -> list[str]:
    """The config keys a user may write at `location` (the path of the mapping, camelCase)."""
    model: Any = Settings
    skip_next = False
    for item in location:
        if skip_next:  # the user's own name for an entry of a mapping of models
            skip_next = False
            continue
        fields = {to_camel(name): info for name, info in model.model_fields.items()}
        info = fields.get(item) if isinstance(item, str) else None
        if info is None:
            return []
        annotation = info.annotation
        if typing.get_origin(annotation) is dict:
            annotation, skip_next = typing.get_args(annotation)[1], True
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [to_camel(name) for name in model.model_fields if name not in ("stack", "region")]


def _not_a_setting(key: str, known: list[str]) -> str:
    """`is not a setting` with the closest known key, or the list of known keys."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6) if len(key) <= 100 else []
    if close:
        return f"is not a setting; did you mean {close[0]}?"
    return f"is not a setting; known settings here: {', '.join(known)}" if known else "is not a setting"


def _first_error(error: ValidationError) -> ConfigError:
    details = error.errors(include_url=False)
    # A misspelt key also leaves the key it meant missing: name the misspelling first.
    detail = next((d for d in details if d["type"] == "extra_forbidden"), details[0])
    location = tuple(detail["loc"])
    key = _field_path(location)
    message = detail["msg"].removeprefix("Value error, ")
    if detail["type"] == "extra_forbidden":
        message = _not_a_setting(str(location[-1]), _keys_at(location[:-1]))
    elif detail["type"] == "literal_error":
        message = f"{message} (got {_shown(detail['input'])})"
    elif detail["type"] != "value_error" and not isinstance(detail.get("input"), (dict, list, type(None))):
        message = f"{message} (got {_shown(detail['input'])})"
    return ConfigError(key, message)


def _size_of(instance_type: str) -> str:
    size = instance_size(instance_type)
    return f"{size.vcpu} vCPU/{size.memory_gib} GiB" if size else "unknown size"


def _types_like(first: str, group: NodeGroupSettings, burstable: bool) -> list[str]:
    """Offered types of `first`'s size in the group's architecture, not already listed."""
    size = instance_size(first)
    assert size is not None  # unknown types were refused by the field validator
    return same_size_types(size, group.architecture, group.instance_types, burstable=burstable)


def _check_node_group(key: str, group: NodeGroupSettings, spot: bool, system: bool = False) -> None:
    if group.min_size > group.max_size:
        raise ConfigError(f"{key}.minSize", f"{group.min_size} is above maxSize {group.max_size}; lower minSize or raise maxSize")
    if not group.min_size <= group.initial_size <= group.max_size:
        raise ConfigError(
            f"{key}.desiredSize",
            f"{group.initial_size} must be between minSize {group.min_size} and maxSize {group.max_size}",
        )
    # The cluster-autoscaler and the cost estimator model a group by one size (its first type).
    first = group.instance_types[0]
    if len({instance_size(t) for t in group.instance_types}) > 1:
        listed = ", ".join(f"{t} ({_size_of(t)})" for t in group.instance_types)
        like_first = ", ".join(_types_like(first, group, system)[:5]) or "none offered"
        raise ConfigError(
            f"{key}.instanceTypes",
            f"all types must have the same vCPU and memory so the autoscaler models the group right; got {listed}; "
            f"types of {first}'s size ({_size_of(first)}): {like_first}",
        )
    # One AMI per managed node group, so one architecture (EKS refuses a type of the other one).
    other = [t for t in group.instance_types if instance_architecture(t) != group.architecture]
    if other and len(other) == len(group.instance_types):
        theirs = instance_architecture(first)
        raise ConfigError(
            f"{key}.architecture",
            f"is {group.architecture} but every instance type is {theirs} ({', '.join(other)}): set architecture: "
            f"{theirs}, or list {group.architecture} types",
        )
    if other:
        listed = ", ".join(f"{t} ({instance_architecture(t)})" for t in other)
        like = ", ".join(_types_like(first, group, system)[:5]) or "none offered"
        raise ConfigError(
            f"{key}.instanceTypes",
            f"mixes architectures: the group is {group.architecture} (one AMI) but lists {listed}; "
            f"{group.architecture} types of {first}'s size ({_size_of(first)}): {like}",
        )
    bursting = [t for t in group.instance_types if is_burstable(t)]
    if bursting and not system:
        like = ", ".join(_types_like(first, group, burstable=False)[:5]) or "a non-burstable size"
        raise ConfigError(
            f"{key}.instanceTypes",
            f"{', '.join(bursting)} {'is' if len(bursting) == 1 else 'are'} burstable (T family): under Spark's steady "
            f"load it runs out of CPU credits and is throttled or billed for surplus; burstable types are for the "
            f"system group only; use {like}",
        )
    if spot and len(group.instance_types) < MIN_SPOT_TYPES:
        room = _types_like(first, group, burstable=False)
        fix = (
            f"add from {', '.join(room[:5])} ({_size_of(first)})"
            if len(group.instance_types) + len(room) >= MIN_SPOT_TYPES
            else f"infra/instance_types.py offers too few {group.architecture} types of {first}'s size "
            f"({_size_of(first)}); pick a size the m-families share, or add types (and their prices) there"
        )
        raise ConfigError(
            f"{key}.instanceTypes",
            f"a Spot group needs at least {MIN_SPOT_TYPES} instance types of one size so one reclaimed Spot pool "
            f"cannot starve it; got {len(group.instance_types)}; {fix}",
        )


def _check_kubernetes_version(version: str) -> None:
    if version in AUTOSCALER_RELEASES:
        return
    offered = ", ".join(AUTOSCALER_RELEASES)
    hint = ""
    if re.fullmatch(r"\d+\.\d", version):
        hint = f" (an unquoted {version}0 in YAML is the number {version}: quote it, \"{version}0\")"
    raise ConfigError(
        "kubernetesVersion",
        f"{_shown(version)} is not offered{hint}; use one of {offered} (quoted): the versions in EKS "
        "standard support that have a cluster-autoscaler chart",
    )


def _check_network(network: NetworkSettings) -> None:
    if network.uses_existing_vpc:
        explicit = network.model_fields_set & {"vpc_cidr", "availability_zones", "nat_gateways"}
        if explicit:
            field = to_camel(sorted(explicit)[0])
            raise ConfigError(f"network.{field}", "only applies to a new VPC; remove it or remove network.existingVpcId")
        if len(network.private_subnet_ids) < 2:
            raise ConfigError("network.privateSubnetIds", "an existing VPC needs at least two private subnets in different AZs")
        return
    if network.private_subnet_ids or network.public_subnet_ids:
        field = "privateSubnetIds" if network.private_subnet_ids else "publicSubnetIds"
        raise ConfigError(f"network.{field}", "subnet ids need network.existingVpcId; set it or remove the subnet ids")
    if "s3_gateway_endpoint" in network.model_fields_set:
        raise ConfigError(
            "network.s3GatewayEndpoint",
            "only applies to an existing VPC (network.existingVpcId); a new VPC always gets the free S3 gateway endpoint",
        )


def _check_api_endpoint(endpoint: ApiEndpointSettings, network: NetworkSettings) -> None:
    if not endpoint.public_access and not endpoint.private_access:
        raise ConfigError("apiEndpoint.privateAccess", "the API must be reachable: enable privateAccess or publicAccess")
    if not endpoint.public_access and endpoint.model_fields_set & {"public_access_cidrs"}:
        raise ConfigError("apiEndpoint.publicAccessCidrs", "only applies when publicAccess is true; remove it")
    if not endpoint.private_access and endpoint.private_access_cidrs:
        raise ConfigError("apiEndpoint.privateAccessCidrs", "only applies when privateAccess is true; remove it")
    if not endpoint.public_access and not network.uses_existing_vpc:
        # The same `pulumi up` installs the autoscaler chart and the Spark RBAC through the API:
        # with a VPC it creates itself, nothing outside AWS can reach a private-only endpoint.
        raise ConfigError(
            "apiEndpoint.publicAccess",
            "false with a new VPC leaves `pulumi up` no way to reach the API (it installs the Helm chart and RBAC): "
            "use network.existingVpcId with a VPC reachable from where `pulumi up` runs, or keep publicAccess: true "
            "limited to your networks with publicAccessCidrs",
        )
    if not endpoint.public_access and not endpoint.private_access_cidrs:
        raise ConfigError(
            "apiEndpoint.privateAccessCidrs",
            "a private-only API needs the CIDRs of the machines that run `pulumi up` and jobs (VPN, bastion, CI runner)",
        )
    if endpoint.public_access and not endpoint.private_access and not endpoint.public_to_everyone:
        # EKS user guide, cluster-endpoint: nodes then reach the API through the public endpoint,
        # from the NAT gateways' addresses, which a narrowed publicAccessCidrs leaves out.
        raise ConfigError(
            "apiEndpoint.privateAccess",
            "false with publicAccessCidrs narrowed: nodes reach the API from the NAT gateways' addresses, which the "
            "list does not hold, and never join; keep privateAccess: true",
        )


def _check(settings: Settings) -> None:
    """Cross-field rules that a single field's type cannot express."""
    _check_kubernetes_version(settings.kubernetes_version)
    if not _CLUSTER_NAME.fullmatch(settings.cluster_name):
        raise ConfigError(
            "clusterName",
            f"{_shown(settings.cluster_name)} must be 2-32 lowercase letters, digits or '-', starting with a letter",
        )
    if settings.cluster_name in RESERVED_CLUSTER_NAMES:
        raise ConfigError(
            "clusterName",
            f"{_shown(settings.cluster_name)} would give EKS's k8s.io/cluster-autoscaler/<cluster> tag the key of "
            "another cluster-autoscaler tag; pick another name",
        )
    for key in ("spark_namespace", "spark_service_account"):
        value = getattr(settings, key)
        if not _DNS_LABEL.fullmatch(value):
            raise ConfigError(to_camel(key), f"{_shown(value)} must be a DNS-1123 label (lowercase letters, digits, '-', ≤ 63)")
    if settings.spark_namespace in ("kube-system", "kube-public", "kube-node-lease", "default"):
        raise ConfigError("sparkNamespace", f"{_shown(settings.spark_namespace)} is a system namespace; pick one of Spark's own, such as spark")
    _check_node_group("system", settings.system, spot=False, system=True)
    _check_node_group("drivers", settings.drivers, spot=False)
    _check_node_group("executors", settings.executors, spot=True)
    for group_name, group in settings.extra_executor_groups.items():
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?", group_name):
            raise ConfigError(
                f"extraExecutorGroups.{group_name}",
                "group names are 1-16 lowercase letters, digits or '-' (they become part of AWS names)",
            )
        _check_node_group(f"extraExecutorGroups.{group_name}", group, spot=True)
    if settings.system.min_size < 1:
        raise ConfigError(
            "system.minSize",
            "must be at least 1: CoreDNS and the cluster-autoscaler run there, and the autoscaler cannot start "
            "the node it would run on",
        )
    if not settings.uses_priority_expander:
        for key, group in settings.node_groups.items():
            if group.priority is not None:
                raise ConfigError(
                    f"{key}.priority",
                    f"only applies with autoscaler.expander {PRIORITY_EXPANDER} (it is {settings.autoscaler.expander}); "
                    "remove it or use that expander",
                )
    if "noncurrent_version_days" in settings.bucket.model_fields_set and not settings.bucket.versioning:
        raise ConfigError("bucket.noncurrentVersionDays", "only applies with bucket.versioning: true; remove it")
    _check_network(settings.network)
    _check_api_endpoint(settings.api_endpoint, settings.network)


def _check_region(region: str | None) -> str:
    if not region:
        raise ConfigError("aws:region", "is not set; run `pulumi config set aws:region us-west-2`", namespaced=False)
    regions = aws_regions()
    if region not in regions:
        close = difflib.get_close_matches(region, regions, n=1, cutoff=0.6) if len(region) <= 40 else []
        fix = f"did you mean {close[0]}?" if close else "use an AWS region such as us-west-2"
        raise ConfigError("aws:region", f"{_shown(region)} is not an AWS region; {fix}", namespaced=False)
    return region


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
    region = _check_region(region)
    unknown = sorted(set(values) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(unknown[0], _not_a_setting(unknown[0], list(CONFIG_KEYS)))
    decoded = {key: _decode(value) for key, value in values.items() if value is not None}
    decoded.setdefault("clusterName", f"spark-{stack}".lower())
    try:
        settings = Settings.model_validate({**decoded, "stack": stack, "region": region})
    except ValidationError as error:
        raise _first_error(error) from None
    _check(settings)
    return settings


def _role_identity(arn: str) -> tuple[str, str]:
    """(account, role name) of a role or assumed-role ARN: EKS keys access entries by the role, paths aside."""
    assumed = _ASSUMED_ROLE_ARN.fullmatch(arn)
    if assumed:
        return assumed.group(1), assumed.group(2)
    account = arn.split(":")[4] if arn.count(":") >= 5 else ""
    return account, arn.rsplit("/", 1)[-1]


def check_admin_roles(settings: Settings, caller_arn: str) -> None:
    """Refuse an admin role that is the identity running the program.

    pulumi-eks always creates the cluster with bootstrapClusterCreatorAdminPermissions, so
    EKS already has an access entry for the creator; a second one for the same role fails
    with 409 ResourceInUseException (pulumi-eks#2373, nodejs/eks/cluster/cluster.ts).
    """
    if not _ASSUMED_ROLE_ARN.fullmatch(caller_arn) and ":role/" not in caller_arn:
        return  # an IAM user or root: adminRoleArns holds roles only
    caller = _role_identity(caller_arn)
    for index, arn in enumerate(settings.api_endpoint.admin_role_arns):
        if _role_identity(arn) == caller:
            raise ConfigError(
                f"apiEndpoint.adminRoleArns[{index}]",
                f"{_shown(arn)} is the identity running `pulumi up`, which EKS already makes cluster admin "
                "(an access entry for it fails with 409): remove it from adminRoleArns",
            )


# The day the program judges the support calendar on: today, unless `infra.plan` plans another day.
SUPPORT_DAY: ContextVar[date | None] = ContextVar("support_day", default=None)


def support_day() -> date:
    return SUPPORT_DAY.get() or date.today()


def check_support_phase(settings: Settings, today: date, calendar: SupportCalendar | None = None) -> None:
    """Refuse a Kubernetes version EKS will not keep as configured on `today`.

    With upgradePolicy.supportType STANDARD, EKS upgrades the control plane itself when standard
    support ends, and at the end of extended support it upgrades any cluster (EKS API
    UpgradePolicyRequest.supportType; AWS docs "Understand the Kubernetes version lifecycle on
    EKS"). The program's node groups, add-ons and autoscaler would then stay on the old minor and
    the next `pulumi up` would try to move the control plane back, which EKS refuses.
    """
    calendar = calendar or load_calendar()
    version, support_type = settings.kubernetes_version, settings.upgrade_policy.support_type
    support = calendar.get(version)
    if support is None:
        return  # _check_kubernetes_version only offers versions the calendar knows
    phase = support.phase(today)
    newer = [v for v in AUTOSCALER_RELEASES if (s := calendar.get(v)) is not None and s.phase(today) == "standard"]
    move = f'set kubernetesVersion: "{newer[-1]}"' if newer else "add a newer version to the support calendar"
    if phase == "ended":
        raise ConfigError(
            "kubernetesVersion",
            f"Kubernetes {version} left EKS extended support on {support.end_of_extended} and EKS upgrades such "
            f"clusters itself: {move}",
        )
    if phase == "extended" and support_type == "STANDARD":
        raise ConfigError(
            "kubernetesVersion",
            f"Kubernetes {version} left EKS standard support on {support.end_of_standard}, and with "
            f"upgradePolicy.supportType STANDARD EKS upgrades the cluster itself, outside Pulumi: {move}, "
            f"or set upgradePolicy.supportType: EXTENDED ({EXTENDED_SUPPORT_PRICE})",
        )


def standard_support_notice(
    version: str, support_type: str, today: date, calendar: SupportCalendar | None = None
) -> str | None:
    """One line when `version` leaves EKS standard support within SUPPORT_WARNING_DAYS of `today`, or has left it.

    `today` is passed in (infra.plan gives the real day; tests give a fixed one).
    """
    calendar = calendar or load_calendar()
    support = calendar.get(version)
    if support is None:
        return f"Kubernetes {version} is not in the EKS support calendar (cost/prices/eks-support-*.json); add it with its dates"
    days = (support.end_of_standard - today).days
    if days > SUPPORT_WARNING_DAYS:
        return None
    if days > 0:
        when = f"leaves EKS standard support on {support.end_of_standard} (in {days} day{'s' if days > 1 else ''})"
    else:
        when = f"left EKS standard support on {support.end_of_standard}"
    if support_type == "EXTENDED":
        then = f"with upgradePolicy.supportType EXTENDED its control plane then costs {EXTENDED_SUPPORT_PRICE}"
    else:
        then = "with upgradePolicy.supportType STANDARD EKS then upgrades the cluster itself, outside Pulumi"
    later = [
        v for v in AUTOSCALER_RELEASES
        if (s := calendar.get(v)) is not None and (s.end_of_standard - today).days > SUPPORT_WARNING_DAYS
    ]
    move = f'set kubernetesVersion: "{later[-1]}"' if later else "no offered version is far from the end: add the next one"
    return f"Kubernetes {version} {when}; {then}: {move}"


# RFC 5737 reserves these for documentation: no machine that runs `pulumi up` has such an address.
_DOCUMENTATION_NETWORKS = tuple(
    ipaddress.IPv4Network(cidr) for cidr in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)


def example_cidr_notice(endpoint: ApiEndpointSettings) -> str | None:
    """One line when publicAccessCidrs still holds a documentation range, as the prod example ships."""
    if not endpoint.public_access:
        return None
    examples = [
        cidr for cidr in endpoint.public_access_cidrs
        if any(ipaddress.IPv4Network(cidr).subnet_of(network) for network in _DOCUMENTATION_NETWORKS)
    ]
    if not examples:
        return None
    return (
        f"apiEndpoint.publicAccessCidrs {', '.join(examples)} is a documentation range (RFC 5737): replace it "
        "with the networks `pulumi up` and jobs run from, or they cannot reach the API"
    )


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
