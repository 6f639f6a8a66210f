"""Cheapest Spot pool first: the cluster-autoscaler's priority expander and the ConfigMap it reads.

With `--expander=priority,least-waste` the autoscaler, among the node groups that could take
the pending pods, keeps those whose ConfigMap pattern has the highest priority, then lets
least-waste choose among them (kubernetes/autoscaler cluster-autoscaler/FAQ.md, "multiple
expanders"; expander/priority/priority.go). The rules this module follows are written there:

- the ConfigMap is `cluster-autoscaler-priority-expander`, key `priorities`, in the
  autoscaler's namespace; its value is YAML mapping a priority (an integer) to a list of
  regular expressions; the highest priority wins;
- a pattern is matched against the node group's id with `FindStringIndex`, i.e. anywhere in
  the id (unanchored), and on AWS the id is the Auto Scaling group's name
  (cloudprovider/aws/aws_cloud_provider.go `Id()`), not the EKS node group's: so each group's
  pattern is its ASG name, escaped and anchored `^…$` (`executors` must not match
  `executors-arm64`'s ASG);
- a group that matches no pattern is not used at all, so a catch-all `.*` at the lowest
  priority keeps every group scalable (expander/priority/readme.md).

Spot groups are ordered by the price snapshot's Spot price per vCPU-hour (cost/prices, the
newest file): the mean Spot price of the group's types that the snapshot prices (the basis
the cost estimator prices a Spot group on) over the vCPU of one node. A group the snapshot
cannot price, or every group when the region is not in the snapshot, gets one priority below
every priced Spot group (least-waste decides among them): no price is made up. A group's
`priority` in the stack config replaces the computed value. On-Demand groups (system,
drivers) sit below all Spot groups; only pods that need On-Demand fit them anyway.

Pure: specs, a snapshot and a region in; priorities and the ConfigMap's text out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from statistics import fmean
from typing import TYPE_CHECKING, Mapping, Sequence

from cost.snapshot import PriceSnapshot
from infra.instance_types import instance_size

if TYPE_CHECKING:
    from infra.nodegroups import NodeGroupSpec

CONFIG_MAP_NAME = "cluster-autoscaler-priority-expander"
CONFIG_MAP_KEY = "priorities"
CATCH_ALL = ".*"
CATCH_ALL_PRIORITY = 1
ON_DEMAND_PRIORITY = 10
UNPRICED_SPOT_PRIORITY = 20
FIRST_SPOT_PRIORITY = 30
STEP = 10
# Characters Go's RE2 syntax gives a meaning; escaping them makes the name a literal.
_GO_REGEXP_META = re.compile(r"([\\.+*?()|\[\]{}^$])")


@dataclass(frozen=True)
class GroupPriority:
    key: str
    priority: int
    # Why this value, one line: shown in the ConfigMap (as a YAML comment) and by infra.plan.
    basis: str
    spot_vcpu_hour: float | None = None


def spot_vcpu_hour(spec: NodeGroupSpec, snapshot: PriceSnapshot, region: str) -> tuple[float | None, str]:
    """The group's Spot price per vCPU-hour from the snapshot, or None, with the basis in words."""
    types = list(spec.settings.instance_types)
    if region not in snapshot.regions:
        return None, f"no Spot prices for {region} in price snapshot {snapshot.date}"
    prices = {t: p for t in types if (p := snapshot.instance_hour(region, t, "SPOT")) is not None}
    size = instance_size(types[0])
    if not prices or size is None:
        return None, f"no Spot price for {', '.join(types)} in {region} in price snapshot {snapshot.date}"
    per_vcpu = fmean(prices.values()) / size.vcpu
    missing = [t for t in types if t not in prices]
    basis = f"Spot ${per_vcpu:.4f} per vCPU-hour, mean of {len(prices)} of {len(types)} types"
    if missing:
        basis += f" (no price for {', '.join(missing)})"
    return per_vcpu, basis


def group_priorities(specs: Sequence[NodeGroupSpec], snapshot: PriceSnapshot, region: str) -> list[GroupPriority]:
    """Every group's priority, highest first (see the module docstring for the rules)."""
    spot = [s for s in specs if s.capacity_type == "SPOT"]
    priced = {s.key: spot_vcpu_hour(s, snapshot, region) for s in spot}
    # Cheapest highest: distinct prices, dearest first, get 30, 40, 50 … (equal prices share one).
    distinct = sorted({round(price, 6) for price, _ in priced.values() if price is not None}, reverse=True)
    by_price = {price: FIRST_SPOT_PRIORITY + STEP * rank for rank, price in enumerate(distinct)}
    result = []
    for spec in specs:
        override = spec.settings.priority
        if spec.capacity_type == "SPOT":
            price, basis = priced[spec.key]
            value = UNPRICED_SPOT_PRIORITY if price is None else by_price[round(price, 6)]
        else:
            price, basis, value = None, "On-Demand: only pods that need On-Demand fit it", ON_DEMAND_PRIORITY
        if override is not None:
            value, basis = override, f"set in config ({spec.config_key}.priority); {basis}"
        result.append(GroupPriority(spec.key, value, basis, price))
    return sorted(result, key=lambda p: -p.priority)


def asg_name_pattern(asg_name: str) -> str:
    """A Go regular expression that matches exactly this Auto Scaling group name."""
    escaped = _GO_REGEXP_META.sub(r"\\\1", asg_name)
    return f"^{escaped}$"


def render_priorities(priorities: Sequence[GroupPriority], asg_names: Mapping[str, str], source: str) -> str:
    """The ConfigMap's `priorities` value: YAML {priority: [pattern…]}, each group named in a comment.

    `source` says where the Spot prices come from (snapshot date and region), for the header.
    """
    lines = [
        "# cluster-autoscaler priority expander: the highest priority whose pattern matches a group that",
        "# can take the pending pods wins; least-waste breaks ties. Patterns are Auto Scaling group names.",
        f"# Spot groups: cheapest Spot price per vCPU-hour first, from {source}.",
    ]
    values = sorted({p.priority for p in priorities} | {CATCH_ALL_PRIORITY}, reverse=True)
    for value in values:
        lines.append(f"{value}:")
        for group in (p for p in priorities if p.priority == value):
            lines.append(f"  # {group.key}: {group.basis}")
            lines.append(f"  - '{asg_name_pattern(asg_names[group.key])}'")
        if value == CATCH_ALL_PRIORITY:
            lines.append("  # any other group, so none is left unscalable")
            lines.append(f"  - '{CATCH_ALL}'")
    return "\n".join(lines) + "\n"
