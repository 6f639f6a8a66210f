"""The EC2 instance types the project offers: size, CPU architecture and whether they burst.

The cluster-autoscaler models a node group by its first instance type
(kubernetes/autoscaler#3856), so every type of one group must have the same vCPU
count and memory; a managed node group runs one AMI, so every type of one group has one
architecture too (EKS refuses an AMI type of the other architecture: "The architecture
'x86_64' of the specified instance type does not match the architecture 'arm64' of the
specified AMI", eksctl-io/eksctl#4319). Settings validation, the policy pack, the
autoscaler priorities and the cost estimator read this table.

Figures are AWS's own, as `ec2:DescribeInstanceTypes` publishes them: the autoscaler
generates its static table from that call (kubernetes/autoscaler
cluster-autoscaler/cloudprovider/aws/ec2_instance_types.go, StaticListLastUpdateTime
2026-01-22, at commit 55c37cd5eb55); every row here was checked against it on
2026-12-01 (vCPU, MemoryMb / 1024, Architecture amd64 → x86_64). A family lists only
the sizes that exist (m5zn has no 4xlarge).

ENIs and IPv4 addresses per ENI (what the VPC CNI's default max pods follows) come from the
EKS AMI's own table, generated into infra/eni_limits.py by `python -m infra.generate_eni_limits`.

Burstable (T) types earn CPU credits at a baseline and throttle, or bill surplus
credits, above it (EC2 user guide, burstable performance instances): right for the
mostly idle add-ons of the system group, wrong for Spark, so settings keep them there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from infra.eni_limits import ENI_LIMITS

Architecture = Literal["x86_64", "arm64"]
X86_64: Architecture = "x86_64"
ARM64: Architecture = "arm64"


@dataclass(frozen=True)
class InstanceSize:
    vcpu: int
    memory_gib: int


@dataclass(frozen=True)
class EniLimit:
    """Network interfaces a type takes and IPv4 addresses each interface holds."""

    enis: int
    ipv4_per_eni: int


@dataclass(frozen=True)
class InstanceSpec:
    size: InstanceSize
    architecture: Architecture
    eni: EniLimit
    burstable: bool = False


# (vCPU, GiB) by size, per memory-to-vCPU shape.
_GENERAL_PURPOSE = {"large": (2, 8), "xlarge": (4, 16), "2xlarge": (8, 32), "4xlarge": (16, 64)}
_COMPUTE_OPTIMISED = {"large": (2, 4), "xlarge": (4, 8), "2xlarge": (8, 16), "4xlarge": (16, 32)}
_MEMORY_OPTIMISED = {"large": (2, 16), "xlarge": (4, 32), "2xlarge": (8, 64), "4xlarge": (16, 128)}
_BURSTABLE = {"medium": (2, 4), "large": (2, 8), "xlarge": (4, 16), "2xlarge": (8, 32)}
_UP_TO_4XL = ("large", "xlarge", "2xlarge", "4xlarge")

# family → (shape, sizes offered, architecture)
_FAMILIES: dict[str, tuple[dict[str, tuple[int, int]], tuple[str, ...], Architecture]] = {
    # x86_64 general purpose
    "m4": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m5": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m5a": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m5d": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m5ad": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m5n": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m5dn": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m5zn": (_GENERAL_PURPOSE, ("large", "xlarge", "2xlarge"), X86_64),
    "m6i": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m6a": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m6id": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m6in": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m6idn": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m7i": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m7i-flex": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m7a": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m8i": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m8i-flex": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    "m8a": (_GENERAL_PURPOSE, _UP_TO_4XL, X86_64),
    # arm64 (Graviton) general purpose
    "m6g": (_GENERAL_PURPOSE, _UP_TO_4XL, ARM64),
    "m6gd": (_GENERAL_PURPOSE, _UP_TO_4XL, ARM64),
    "m7g": (_GENERAL_PURPOSE, _UP_TO_4XL, ARM64),
    "m7gd": (_GENERAL_PURPOSE, _UP_TO_4XL, ARM64),
    "m8g": (_GENERAL_PURPOSE, _UP_TO_4XL, ARM64),
    "m8gd": (_GENERAL_PURPOSE, _UP_TO_4XL, ARM64),
    # compute optimised
    "c5": (_COMPUTE_OPTIMISED, _UP_TO_4XL, X86_64),
    "c6g": (_COMPUTE_OPTIMISED, _UP_TO_4XL, ARM64),
    "c6gd": (_COMPUTE_OPTIMISED, _UP_TO_4XL, ARM64),
    "c7g": (_COMPUTE_OPTIMISED, _UP_TO_4XL, ARM64),
    "c7gd": (_COMPUTE_OPTIMISED, _UP_TO_4XL, ARM64),
    "c8g": (_COMPUTE_OPTIMISED, _UP_TO_4XL, ARM64),
    # memory optimised
    "r5": (_MEMORY_OPTIMISED, _UP_TO_4XL, X86_64),
}
_BURSTABLE_FAMILIES: dict[str, Architecture] = {"t3": X86_64, "t3a": X86_64, "t4g": ARM64}


def _eni(instance_type: str) -> EniLimit:
    try:
        return EniLimit(*ENI_LIMITS[instance_type])
    except KeyError:
        raise KeyError(f"{instance_type} has no ENI data in infra/eni_limits.py; regenerate it with "
                       "`python -m infra.generate_eni_limits`") from None


INSTANCE_SPECS: dict[str, InstanceSpec] = {
    **{
        f"{family}.{size}": InstanceSpec(InstanceSize(*shape[size]), architecture, _eni(f"{family}.{size}"))
        for family, (shape, sizes, architecture) in _FAMILIES.items()
        for size in sizes
    },
    **{
        f"{family}.{size}": InstanceSpec(InstanceSize(vcpu, memory), architecture, _eni(f"{family}.{size}"), burstable=True)
        for family, architecture in _BURSTABLE_FAMILIES.items()
        for size, (vcpu, memory) in _BURSTABLE.items()
    },
}

# Type → size: what the autoscaler and the cost estimator model a group by.
INSTANCE_TYPES: dict[str, InstanceSize] = {name: spec.size for name, spec in INSTANCE_SPECS.items()}


def instance_size(instance_type: str) -> InstanceSize | None:
    """The size of a known instance type, or None when the project does not offer it."""
    return INSTANCE_TYPES.get(instance_type)


def instance_architecture(instance_type: str) -> Architecture | None:
    """x86_64 or arm64 for a known instance type, None when the project does not offer it."""
    spec = INSTANCE_SPECS.get(instance_type)
    return spec.architecture if spec else None


def is_burstable(instance_type: str) -> bool:
    spec = INSTANCE_SPECS.get(instance_type)
    return bool(spec and spec.burstable)


def same_size_types(
    size: InstanceSize, architecture: Architecture, excluding: tuple[str, ...] = (), burstable: bool = False
) -> list[str]:
    """Offered types of one vCPU/memory size and architecture, in the table's order (burstable ones only if asked)."""
    return [
        name for name, spec in INSTANCE_SPECS.items()
        if spec.size == size and spec.architecture == architecture and spec.burstable == burstable
        and name not in excluding
    ]
