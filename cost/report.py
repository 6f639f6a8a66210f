"""Changes + snapshot → a cost report: per-resource before/after/delta and the totals.

Pure: no I/O. A value the preview hides (unknown until apply, or a secret) is taken from
the resource's current state when it has one, and the report says so. A resource with a
side that cannot be priced is kept in the report but left out of both totals, so the
delta never counts half of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from cost.inputs import Change, State, is_hidden, urn_parts
from cost.pricing import CHILD_OF, Priced, price_state
from cost.snapshot import PriceSnapshot

SCHEMA_VERSION = 1


@dataclass
class ResourceCost:
    urn: str
    type: str
    name: str
    op: str
    before: Priced | None
    after: Priced | None
    assumed: list[str] = field(default_factory=list)

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
    def delta(self) -> float | None:
        if not self.complete:
            return None
        return (self.monthly_after or 0.0) - (self.monthly_before or 0.0)

    @property
    def changed(self) -> bool:
        return self.op not in ("same", "refresh", "read", "import") or bool(self.delta)


@dataclass
class CostReport:
    mode: str
    snapshot: PriceSnapshot
    resources: list[ResourceCost]
    region_dates: dict[str, str]

    @property
    def total_before(self) -> float:
        return sum(r.monthly_before or 0.0 for r in self.resources if r.complete)

    @property
    def total_after(self) -> float:
        return sum(r.monthly_after or 0.0 for r in self.resources if r.complete)

    @property
    def delta(self) -> float:
        return self.total_after - self.total_before

    @property
    def delta_percent(self) -> float | None:
        before = round(self.total_before, 2)
        return None if before == 0 else 100 * self.delta / self.total_before

    @property
    def unpriced(self) -> list[ResourceCost]:
        return [r for r in self.resources if not r.complete]

    def spot_summary(self, side: str = "after") -> dict[str, float]:
        """Spot groups on one side: their cost against the same capacity On-Demand."""
        spot = od = spot_max = od_max = 0.0
        groups = 0
        for resource in self.resources:
            priced = getattr(resource, side)
            if not resource.complete or priced is None or "spot" not in priced.details:
                continue
            groups += 1
            saving = priced.details["spot"]
            spot += priced.monthly or 0.0
            od += saving["onDemandEquivalentMonthly"]
            spot_max += priced.details["monthlyAtMax"]
            od_max += saving["onDemandEquivalentMonthlyAtMax"]
        return {
            "groups": groups,
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


def _parent_urn(change: Change, components: dict[str, Change]) -> str | None:
    """The component a child belongs to: its recorded parent, else the one component whose chain is the child's prefix."""
    for state in (change.after, change.before):
        if state is not None and state.parent:
            return state.parent
    chain, name = urn_parts(change.urn)
    prefix = chain.rsplit("$", 1)[0] if "$" in chain else ""
    candidates = [urn for urn in components if urn_parts(urn)[0] == prefix]
    if len(candidates) == 1:
        return candidates[0]
    # pulumi-eks names a child after its component ("x" → "x", "x-eksCluster"): the longest such name wins.
    named = [urn for urn in candidates if name == urn_parts(urn)[1] or name.startswith(urn_parts(urn)[1] + "-")]
    return max(named, key=lambda urn: len(urn_parts(urn)[1])) if named else None


def _price(state: State | None, snapshot: PriceSnapshot) -> Priced | None:
    return None if state is None else price_state(state, snapshot)


def build_report(changes: list[Change], snapshot: PriceSnapshot, mode: str = "diff") -> CostReport:
    """Price both sides of every change."""
    resources = []
    for change in changes:
        after = change.after
        assumed: list[str] = []
        if after is not None and change.before is not None and change.op != "create":
            inputs, assumed = fill_hidden(after.inputs, change.before.inputs)
            after = replace(after, inputs=inputs)
        resource = ResourceCost(change.urn, change.type, change.name, change.op,
                                _price(change.before, snapshot), _price(after, snapshot), assumed)
        if assumed and resource.after is not None:
            notes = [f"{path} is not known until apply: assumed unchanged" for path in assumed]
            resource.after = replace(resource.after, details={**resource.after.details, "assumedUnchanged": notes})
        resources.append(resource)
    _mark_included(changes, resources)
    regions = sorted({
        side.details["region"]
        for r in resources
        for side in (r.before, r.after)
        if side is not None and "region" in side.details
    })
    return CostReport(mode, snapshot, resources, {region: snapshot.region_date(region) for region in regions})


def _mark_included(changes: list[Change], resources: list[ResourceCost]) -> None:
    """A pulumi-eks component and its real AWS child are one cost: keep the child's figure."""
    by_urn = {r.urn: r for r in resources}
    components = {c.urn: c for c in changes if c.type in CHILD_OF.values()}
    for change in changes:
        parent_type = CHILD_OF.get(change.type)
        if parent_type is None:
            continue
        parent_urn = _parent_urn(change, {u: c for u, c in components.items() if c.type == parent_type})
        parent = by_urn.get(parent_urn or "")
        if parent is None or parent.type != parent_type:
            continue
        child = by_urn[change.urn]
        for side in ("before", "after"):
            priced_child = getattr(child, side)
            if getattr(parent, side) is not None and priced_child is not None and priced_child.monthly is not None:
                setattr(parent, side, Priced("included", 0.0, {"pricedThrough": change.urn}))
