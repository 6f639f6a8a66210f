"""Changes + snapshot → a cost report: per-resource before/after/delta and the totals.

Pure: no I/O. A value the preview hides (unknown until apply, or a secret) is taken from
the resource's current state when it has one, and the report says so. A resource with a
side that cannot be priced is kept in the report but left out of both totals, so the
delta never counts half of it. Totals come at the desired sizes and at every node group's
maximum size (the worst case the autoscaler may reach). With a usage file, usage-based
items are priced too: per resource (node groups' average size, buckets) and per stack
(NAT data, S3 traffic, CloudWatch Logs ingestion). Every step is linear in the changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from cost.inputs import REPLACE_OPS, Change, State, is_hidden, urn_parts
from cost.pricing import (
    BUCKET_TYPES,
    CHILD_OF,
    CLUSTER_TYPES,
    NAT_GATEWAY,
    NODE_GROUP_TYPES,
    Priced,
    VPC_ENDPOINT,
    PricingContext,
    endpoint_type,
    is_s3_gateway_endpoint,
    price_state,
    today_context,
)
from cost.snapshot import PriceSnapshot
from cost.usage import Usage, check_names

SCHEMA_VERSION = 2
UNCHANGED_OPS = frozenset({"same", "refresh", "read", "import"})


@dataclass
class ResourceCost:
    urn: str
    type: str
    name: str
    op: str
    before: Priced | None
    after: Priced | None
    assumed: list[str] = field(default_factory=list)
    retained: bool = False  # deleted or replaced with retainOnDelete: AWS keeps it, and its bill

    @property
    def category(self) -> str:
        side = self.after or self.before
        return side.category if side else "external"

    @property
    def complete(self) -> bool:
        """Both existing sides have a figure."""
        return all(side.monthly is not None for side in (self.before, self.after) if side is not None)

    @property
    def monthly_before(self) -> float | None:
        return 0.0 if self.before is None else self.before.monthly

    @property
    def monthly_after(self) -> float | None:
        return 0.0 if self.after is None else self.after.monthly

    @property
    def monthly_before_at_max(self) -> float | None:
        return 0.0 if self.before is None else self.before.monthly_at_max

    @property
    def monthly_after_at_max(self) -> float | None:
        return 0.0 if self.after is None else self.after.monthly_at_max

    @property
    def delta(self) -> float | None:
        if not self.complete:
            return None
        return (self.monthly_after or 0.0) - (self.monthly_before or 0.0)

    @property
    def delta_at_max(self) -> float | None:
        if not self.complete:
            return None
        return (self.monthly_after_at_max or 0.0) - (self.monthly_before_at_max or 0.0)

    @property
    def changed(self) -> bool:
        return self.op not in UNCHANGED_OPS or bool(self.delta) or bool(self.delta_at_max)


@dataclass
class UsageLine:
    """A usage-based cost of the whole stack, from the usage file (NAT data, S3 traffic, logs)."""

    key: str
    label: str
    quantity: float
    unit: str
    before: float | None
    after: float | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.before is not None and self.after is not None

    @property
    def delta(self) -> float | None:
        return None if not self.complete else (self.after or 0.0) - (self.before or 0.0)


@dataclass
class CostReport:
    mode: str
    snapshot: PriceSnapshot
    resources: list[ResourceCost]
    region_dates: dict[str, str]
    context: PricingContext = field(default_factory=today_context)
    usage: Usage | None = None
    usage_lines: list[UsageLine] = field(default_factory=list)

    @cached_property
    def _totals(self) -> dict[str, float]:
        totals = dict.fromkeys(("before", "after", "beforeAtMax", "afterAtMax"), 0.0)
        for r in self.resources:
            if r.complete:
                totals["before"] += r.monthly_before or 0.0
                totals["after"] += r.monthly_after or 0.0
                totals["beforeAtMax"] += r.monthly_before_at_max or 0.0
                totals["afterAtMax"] += r.monthly_after_at_max or 0.0
        for line in self.usage_lines:
            if line.complete:
                for side, value in (("before", line.before), ("after", line.after)):
                    totals[side] += value or 0.0
                    totals[f"{side}AtMax"] += value or 0.0
        return totals

    @property
    def total_before(self) -> float:
        return self._totals["before"]

    @property
    def total_after(self) -> float:
        return self._totals["after"]

    @property
    def total_before_at_max(self) -> float:
        return self._totals["beforeAtMax"]

    @property
    def total_after_at_max(self) -> float:
        return self._totals["afterAtMax"]

    @property
    def delta(self) -> float:
        return self.total_after - self.total_before

    @property
    def delta_at_max(self) -> float:
        return self.total_after_at_max - self.total_before_at_max

    @property
    def delta_percent(self) -> float | None:
        before = round(self.total_before, 2)
        return None if before == 0 else 100 * self.delta / self.total_before

    @cached_property
    def unpriced(self) -> list[ResourceCost]:
        return [r for r in self.resources if not r.complete]

    @cached_property
    def unpriced_usage(self) -> list[UsageLine]:
        return [line for line in self.usage_lines if not line.complete]

    @property
    def unpriced_count(self) -> int:
        """Everything left out of the totals for want of a price (the headline's "+N unpriced")."""
        return len(self.unpriced) + len(self.unpriced_usage)

    @cached_property
    def unpriced_changes(self) -> list[ResourceCost]:
        """Unpriced resources this change creates, updates, replaces or deletes: the gates cannot see their cost."""
        return [r for r in self.unpriced if r.op not in UNCHANGED_OPS]

    @cached_property
    def warnings(self) -> list[str]:
        """Things that change the bill soon (a Kubernetes version leaving standard support)."""
        return [f"{r.name}: {w}" for r in self.resources if r.after is not None for w in r.after.details.get("warnings", [])]

    def spot_groups(self, side: str = "after") -> list[ResourceCost]:
        """Spot groups priced on one side, with their On-Demand equivalent."""
        return [r for r in self.resources if r.complete and (p := getattr(r, side)) is not None and "spot" in p.details]

    def spot_summary(self, side: str = "after") -> dict[str, float]:
        """Spot groups on one side: their cost against the same capacity On-Demand, at the priced size and at max."""
        spot = od = spot_max = od_max = 0.0
        groups = self.spot_groups(side)
        for resource in groups:
            priced = getattr(resource, side)
            saving = priced.details["spot"]
            spot += priced.monthly or 0.0
            od += saving["onDemandEquivalentMonthly"]
            spot_max += priced.details["monthlyAtMax"]
            od_max += saving["onDemandEquivalentMonthlyAtMax"]
        return {
            "groups": len(groups),
            "monthlySpot": spot,
            "monthlyOnDemandEquivalent": od,
            "savingMonthly": od - spot,
            "monthlySpotAtMax": spot_max,
            "monthlyOnDemandEquivalentAtMax": od_max,
            "savingMonthlyAtMax": od_max - spot_max,
        }


def fill_hidden(new: Any, old: Any, path: str = "") -> tuple[Any, list[str]]:
    """Replace values the preview hides in `new` by the current value in `old`; list their paths."""
    if is_hidden(new):
        if old is not None and not is_hidden(old):
            return old, [path or "(value)"]
        return new, []
    if isinstance(new, dict) and isinstance(old, dict):
        filled: dict[str, Any] = {}
        assumed: list[str] = []
        for key, value in new.items():
            filled[key], more = fill_hidden(value, old.get(key), f"{path}.{key}" if path else key)
            assumed += more
        return filled, assumed
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        items, assumed = [], []
        for index, (value, previous) in enumerate(zip(new, old, strict=True)):
            item, more = fill_hidden(value, previous, f"{path}[{index}]")
            items.append(item)
            assumed += more
        return items, assumed
    return new, []


def _resource_context(change: Change, context: PricingContext, usage: Usage | None) -> PricingContext:
    if usage is None:
        return context
    if change.type in NODE_GROUP_TYPES and change.name in usage.node_groups:
        return replace(context, average_nodes=usage.node_groups[change.name], usage_counted=True)
    if change.type in BUCKET_TYPES:
        return replace(context, bucket_usage=usage.buckets.get(change.name), usage_counted=True)
    return context


def _price(state: State | None, snapshot: PriceSnapshot, context: PricingContext) -> Priced | None:
    return None if state is None else price_state(state, snapshot, context)


def _retained(resource: ResourceCost) -> None:
    """retainOnDelete: Pulumi stops managing the resource but never deletes it, on delete or
    replace (pulumi docs, resource option retainOnDelete), so its bill goes on."""
    old = resource.before
    if old is None:
        return
    note = "retainOnDelete: Pulumi forgets it, AWS keeps it and keeps billing it"
    if resource.after is None:
        resource.after = replace(old, details={**old.details, "retained": note})
    elif old.monthly is None or resource.after.monthly is None:
        resource.after = replace(resource.after, monthly=None, details={**resource.after.details, "retained": note})
    else:
        resource.after = replace(
            resource.after,
            monthly=resource.after.monthly + old.monthly,
            at_max=(resource.after.monthly_at_max or 0.0) + (old.monthly_at_max or 0.0),
            details={**resource.after.details, "retained": note + " beside its replacement", "retainedMonthly": round(old.monthly, 2)},
        )
    resource.retained = True


def build_report(
    changes: list[Change],
    snapshot: PriceSnapshot,
    mode: str = "diff",
    context: PricingContext | None = None,
    usage: Usage | None = None,
) -> CostReport:
    """Price both sides of every change, then the stack's usage-based lines."""
    context = context or today_context()
    if usage is not None:
        check_names(
            usage,
            {c.name for c in changes if c.type in NODE_GROUP_TYPES},
            {c.name for c in changes if c.type in BUCKET_TYPES},
        )
    resources = []
    sides: dict[str, list[State]] = {"before": [], "after": []}
    for change in changes:
        after = change.after
        assumed: list[str] = []
        if after is not None and change.before is not None and change.op != "create":
            inputs, assumed = fill_hidden(after.inputs, change.before.inputs)
            after = replace(after, inputs=inputs)
        own = _resource_context(change, context, usage)
        resource = ResourceCost(change.urn, change.type, change.name, change.op,
                                _price(change.before, snapshot, own), _price(after, snapshot, own), assumed)
        if assumed and resource.after is not None:
            notes = [f"{path} is not known until apply: assumed unchanged" for path in assumed]
            resource.after = replace(resource.after, details={**resource.after.details, "assumedUnchanged": notes})
        retained = change.before is not None and change.before.retain_on_delete
        if retained and (change.op == "delete" or change.op in REPLACE_OPS):
            _retained(resource)
        if change.before is not None:
            sides["before"].append(change.before)
        if after is not None:
            sides["after"].append(after)
        if resource.retained and change.before is not None:
            sides["after"].append(change.before)
        resources.append(resource)
    _mark_included(changes, resources)
    regions = sorted({
        side.details["region"]
        for r in resources
        for side in (r.before, r.after)
        if side is not None and "region" in side.details
    })
    lines = usage_lines(usage, sides, snapshot) if usage is not None else []
    return CostReport(mode, snapshot, resources, {region: snapshot.region_date(region) for region in regions},
                      context, usage, lines)


# ---- usage of the whole stack ---------------------------------------------------------


def _region_of(states: list[State], types: frozenset[str] | None = None) -> str | None:
    for state in states:
        if state.region and (types is None or state.type in types):
            return state.region
    return None


def _per_gb(
    quantity: float, states: list[State], snapshot: PriceSnapshot, key: str, route: str, region: str | None
) -> tuple[float | None, dict[str, Any]]:
    if quantity == 0 or not states:
        return 0.0, {"route": route}
    if region is None:
        return None, {"route": route, "reason": "no region: pass --region"}
    price = snapshot.optional(region, key)
    if price is None:
        return None, {"route": route, "region": region, "reason": f"the snapshot has no {key} for {region}"}
    return quantity * price, {"route": route, "region": region, "unitPrice": price}


def _side_lines(usage: Usage, states: list[State], snapshot: PriceSnapshot) -> dict[str, tuple[float | None, dict[str, Any]]]:
    nat_region = _region_of(states, frozenset({NAT_GATEWAY}))
    has_nat = nat_region is not None or any(s.type == NAT_GATEWAY for s in states)
    lines: dict[str, tuple[float | None, dict[str, Any]]] = {}
    if usage.nat_data_gb is not None:
        if has_nat:
            lines["natData"] = _per_gb(usage.nat_data_gb, states, snapshot, "natGatewayGb", "NAT gateways", nat_region)
        else:
            lines["natData"] = (0.0, {"route": "no NAT gateway on this side"})
    if usage.s3_traffic_gb is not None:
        if any(is_s3_gateway_endpoint(s) for s in states):
            lines["s3Traffic"] = (0.0, {"route": "S3 gateway endpoint (no charge)"})
        elif has_nat:
            # A gateway endpoint whose service name is unknown until apply may be S3's: priced through NAT, the dearer, and said so.
            unsure = any(s.type == VPC_ENDPOINT and endpoint_type(s.inputs) == "Gateway" and is_hidden(s.inputs.get("serviceName"))
                         for s in states)
            route = ("NAT gateways (a gateway endpoint's service is not known until apply: assumed not S3)" if unsure
                     else "NAT gateways (no S3 gateway endpoint)")
            lines["s3Traffic"] = _per_gb(usage.s3_traffic_gb, states, snapshot, "natGatewayGb", route, nat_region)
        else:
            lines["s3Traffic"] = (0.0, {"route": "no NAT gateway and no S3 gateway endpoint on this side: not through NAT"})
    if usage.logs_ingested_gb is not None:
        region = _region_of(states, CLUSTER_TYPES) or _region_of(states)
        lines["logsIngestion"] = _per_gb(usage.logs_ingested_gb, states, snapshot, "logsIngestGb", "CloudWatch Logs", region)
    return lines


USAGE_LABELS = {
    "natData": ("NAT data processed", "natDataProcessedGb"),
    "s3Traffic": ("S3 traffic", "s3TrafficGb"),
    "logsIngestion": ("CloudWatch Logs ingestion", "ingestedGb"),
}


def usage_lines(usage: Usage, sides: dict[str, list[State]], snapshot: PriceSnapshot) -> list[UsageLine]:
    """NAT data, S3 traffic and log ingestion on each side of the change (an empty side costs nothing)."""
    before, after = _side_lines(usage, sides["before"], snapshot), _side_lines(usage, sides["after"], snapshot)
    quantities = {"natData": usage.nat_data_gb, "s3Traffic": usage.s3_traffic_gb, "logsIngestion": usage.logs_ingested_gb}
    lines = []
    for key, (label, _field) in USAGE_LABELS.items():
        quantity = quantities[key]
        if quantity is None:
            continue
        (old, old_details), (new, new_details) = before[key], after[key]
        lines.append(UsageLine(key, label, quantity, "GB", old, new, {"before": old_details, "after": new_details}))
    return lines


# ---- pulumi-eks components and their AWS children ---------------------------------------


def _parent_urn(change: Change, by_prefix: dict[str, list[str]]) -> str | None:
    """The component a child belongs to: its recorded parent, else the one component whose chain is the child's prefix."""
    for state in (change.after, change.before):
        if state is not None and state.parent:
            return state.parent
    chain, name = urn_parts(change.urn)
    prefix = chain.rsplit("$", 1)[0] if "$" in chain else ""
    candidates = by_prefix.get(prefix, [])
    if len(candidates) == 1:
        return candidates[0]
    # pulumi-eks names a child after its component ("x" → "x", "x-eksCluster"): the longest such name wins.
    named = [urn for urn in candidates if name == urn_parts(urn)[1] or name.startswith(urn_parts(urn)[1] + "-")]
    return max(named, key=lambda urn: len(urn_parts(urn)[1])) if named else None


def _mark_included(changes: list[Change], resources: list[ResourceCost]) -> None:
    """A pulumi-eks component and its real AWS child are one cost: keep the child's figure.

    Components are indexed once by (type, chain), so each child is matched in constant time.
    """
    by_urn = {r.urn: r for r in resources}
    index: dict[str, dict[str, list[str]]] = {}
    for c in changes:
        if c.type in CHILD_OF.values():
            index.setdefault(c.type, {}).setdefault(urn_parts(c.urn)[0], []).append(c.urn)
    for change in changes:
        parent_type = CHILD_OF.get(change.type)
        if parent_type is None:
            continue
        parent_urn = _parent_urn(change, index.get(parent_type, {}))
        parent = by_urn.get(parent_urn or "")
        if parent is None or parent.type != parent_type:
            continue
        child = by_urn[change.urn]
        for side in ("before", "after"):
            priced_child = getattr(child, side)
            if getattr(parent, side) is not None and priced_child is not None and priced_child.monthly is not None:
                setattr(parent, side, Priced("included", 0.0, {"pricedThrough": change.urn}))
