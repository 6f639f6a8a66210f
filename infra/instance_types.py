"""The EC2 instance types the project offers, with their size.

The cluster-autoscaler models a node group by its first instance type
(kubernetes/autoscaler#3856), so every type of one group must have the same vCPU
count and memory. Settings validation and the cost estimator both read this table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceSize:
    vcpu: int
    memory_gib: int


# (vCPU, GiB) of the large..4xlarge sizes per family.
_GENERAL_PURPOSE = {"large": (2, 8), "xlarge": (4, 16), "2xlarge": (8, 32), "4xlarge": (16, 64)}
_COMPUTE_OPTIMISED = {"large": (2, 4), "xlarge": (4, 8), "2xlarge": (8, 16), "4xlarge": (16, 32)}
_MEMORY_OPTIMISED = {"large": (2, 16), "xlarge": (4, 32), "2xlarge": (8, 64), "4xlarge": (16, 128)}

_FAMILIES: dict[str, dict[str, tuple[int, int]]] = {
    "m4": _GENERAL_PURPOSE,
    "m5": _GENERAL_PURPOSE,
    "m5a": _GENERAL_PURPOSE,
    "m5d": _GENERAL_PURPOSE,
    "m5ad": _GENERAL_PURPOSE,
    "m6i": _GENERAL_PURPOSE,
    "m6a": _GENERAL_PURPOSE,
    "m7i": _GENERAL_PURPOSE,
    "c5": _COMPUTE_OPTIMISED,
    "r5": _MEMORY_OPTIMISED,
}

INSTANCE_TYPES: dict[str, InstanceSize] = {
    f"{family}.{size}": InstanceSize(vcpu, memory)
    for family, sizes in _FAMILIES.items()
    for size, (vcpu, memory) in sizes.items()
}


def instance_size(instance_type: str) -> InstanceSize | None:
    """The size of a known instance type, or None when the project does not offer it."""
    return INSTANCE_TYPES.get(instance_type)
