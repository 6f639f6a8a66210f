"""Render a cost report as a terminal table, a pull-request comment (markdown) or JSON.

The JSON shape is the contract other tools read (see docs/cost.md); money is USD per
month of the snapshot's hours (730), rounded to cents, as JSON numbers. The markdown
starts with a hidden marker so the workflow finds and updates its own comment, and fits
GitHub's comment limit: per-resource lines sit in collapsible sections, and past the
limit the least important rows are left out and counted (the full report stays the run's
artifact). Every renderer is linear in the number of resources.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from cost.pricing import Priced
from cost.report import SCHEMA_VERSION, CostReport, ResourceCost, UsageLine

MARKER = "<!-- spark-eks-spot:cost -->"
# GitHub refuses an issue or pull-request comment whose body is over 65,536 characters (HTTP 422,
# "Body is too long (maximum is 65536 characters)"). Bodies are measured in UTF-8 bytes, which
# are never fewer than characters, so a body within the limit in bytes is within it however
# GitHub counts.
GITHUB_COMMENT_LIMIT = 65_536
TOP_CHANGES = 10
ARTIFACT_HINT = "the full report is the run's `cost` artifact (cost.json, cost-full.md)"


def _cents(value: float | None) -> float | None:
    if value is None:
        return None
    rounded = round(value, 2)
    return 0.0 if rounded == 0 else rounded  # no "-0.0"


def money(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"-${abs(value):,.2f}" if round(value, 2) < 0 else f"${value:,.2f}"


def signed(value: float | None) -> str:
    if value is None:
        return "n/a"
    if round(value, 2) == 0:
        return "$0.00"
    return f"+${value:,.2f}" if value > 0 else f"-${abs(value):,.2f}"


def percent(value: float | None) -> str:
    return "" if value is None else f"{value:+.1f}%"


# ---- shared wording -----------------------------------------------------------------


def _short_type(type_token: str) -> str:
    return type_token.rsplit(":", 1)[-1]


def _change(before: float, after: float, pct: float | None = None) -> str:
    if round(after - before, 2) == 0:
        return f"{money(before)} → {money(after)} (no change)"
    share = percent(pct)
    return f"{money(before)} → {money(after)} ({signed(after - before)}{', ' + share if share else ''})"


def headline(report: CostReport) -> str:
    """The totals at the desired sizes and at every node group's maximum, and what is left out."""
    if report.mode == "estimate":
        text = f"{money(report.total_after)} · at max size {money(report.total_after_at_max)}"
    else:
        text = (f"{_change(report.total_before, report.total_after, report.delta_percent)} · at max size "
                f"{_change(report.total_before_at_max, report.total_after_at_max)}")
    if report.unpriced_count:
        text += f", +{report.unpriced_count} unpriced"
    return text


def prices_line(report: CostReport) -> str:
    dates = report.region_dates
    regions = ", ".join(sorted(dates)) or "no priced region"
    odd = {r: d for r, d in dates.items() if d != report.snapshot.date}
    extra = "" if not odd else " (" + ", ".join(f"{r} prices of {d}" for r, d in sorted(odd.items())) + ")"
    return (
        f"{report.snapshot.currency} per month of {report.snapshot.hours_per_month:g} h · {regions} · "
        f"AWS price snapshot {report.snapshot.date}{extra} · EKS support phase as of {report.context.on.isoformat()}"
    )


def _plain(text: str) -> str:
    return text


def _tick(text: str) -> str:
    return f"`{text}`"


def usage_line(report: CostReport, esc: Callable[[str], str] = _plain, code: Callable[[str], str] = _tick) -> str:
    if report.usage is None:
        return ("Usage not counted: S3 storage and requests, NAT and S3 traffic per GB and CloudWatch Logs are left out, "
                f"node groups run at their desired size; pass {code('--usage cost-usage.yml')} to count them.")
    return (f"Usage counted from {code(report.usage.source)}: node groups at their average size where it names them, "
            "S3 buckets, NAT data, S3 traffic and log ingestion.")


def spot_types(report: CostReport) -> tuple[list[str], list[str]]:
    """(measured, estimated) Spot instance types among the priced Spot groups, in (region, type) order."""
    measured: dict[str, None] = {}
    estimated: dict[str, None] = {}
    for resource in report.resources:
        for side in (resource.before, resource.after):
            if side is None or "spot" not in side.details:
                continue
            region = side.details["region"]
            for instance_type in side.details["hourlyPerNode"]["byType"]:
                target = measured if report.snapshot.spot_measured(region, instance_type) else estimated
                target[instance_type] = None
    return list(measured), [t for t in estimated if t not in measured]


def spot_provenance(report: CostReport, esc: Callable[[str], str] = _plain, code: Callable[[str], str] = _tick) -> str | None:
    """One line: which Spot prices were measured, which are estimates (None without Spot groups)."""
    measured, estimated = spot_types(report)
    if not measured and not estimated:
        return None
    regions = sorted({side.details["region"] for r in report.resources for side in (r.before, r.after)
                      if side is not None and "spot" in side.details})
    sources = esc("; ".join(f"{region}: {report.snapshot.spot_source(region)}" for region in regions))
    if not measured:
        return (f"Spot prices: all {len(estimated)} types are estimates, not measured ({sources}); "
                f"{code('python -m cost refresh-prices --spot')} measures them.")
    if not estimated:
        return f"Spot prices: all {len(measured)} types measured ({sources})."
    return (f"Spot prices: {len(measured)} types measured ({sources}); "
            f"{len(estimated)} estimated ({esc(', '.join(estimated))}).")


def _capacity(priced: Priced | None) -> tuple[str, str] | None:
    """(capacity and types, nodes min/desired/max) of a node group side."""
    if priced is None or priced.details.get("kind") != "nodeGroup":
        return None
    d = priced.details
    types = d["instanceTypes"]
    shown = types[0] if len(types) == 1 else f"{len(types)} types"
    nodes = d["nodes"]
    return f"{d['capacityType']} {shown}", f"{nodes['min']}/{nodes['desired']}/{nodes['max']}"


def _what(resource: ResourceCost) -> str:
    """The resource's kind and, for node groups, capacity and nodes (min/desired/max) before → after."""
    text = _short_type(resource.type)
    before, after = _capacity(resource.before), _capacity(resource.after)
    if before and after and before[0] != after[0]:
        text = f"{text}: {before[0]}, nodes {before[1]} → {after[0]}, nodes {after[1]}"
    elif before and after and before[1] != after[1]:
        text = f"{text}: {after[0]}, nodes {before[1]} → {after[1]}"
    elif after or before:
        side = after or before
        assert side is not None
        text = f"{text}: {side[0]}, nodes {side[1]}"
    if resource.retained:
        text += " (retainOnDelete: still billed)"
    return text


def _reasons(resource: ResourceCost) -> str:
    return "; ".join(s.details.get("reason", "") for s in (resource.before, resource.after) if s is not None and s.monthly is None)


def _rows_by_change(report: CostReport) -> list[ResourceCost]:
    """Changed resources with an hourly or usage price, biggest change (desired or at max) first."""
    return sorted(
        (r for r in report.resources if r.changed and (r.category in ("fixed", "unpriced") or (r.category == "usage" and r.complete and (r.delta or r.delta_at_max)))),
        key=lambda r: (-max(abs(r.delta or 0.0), abs(r.delta_at_max or 0.0)), r.name, r.urn),
    )


# ---- JSON ------------------------------------------------------------------------------


def _side_json(priced: Priced | None) -> dict[str, Any] | None:
    if priced is None:
        return None
    return {"category": priced.category, **priced.details}


def resource_json(resource: ResourceCost) -> dict[str, Any]:
    return {
        "urn": resource.urn,
        "type": resource.type,
        "name": resource.name,
        "op": resource.op,
        "monthlyBefore": _cents(resource.monthly_before),
        "monthlyAfter": _cents(resource.monthly_after),
        "deltaMonthly": _cents(resource.delta),
        "details": {
            "category": resource.category,
            "inTotals": resource.complete,
            "monthlyBeforeAtMax": _cents(resource.monthly_before_at_max),
            "monthlyAfterAtMax": _cents(resource.monthly_after_at_max),
            "deltaMonthlyAtMax": _cents(resource.delta_at_max),
            "retainedOnDelete": resource.retained,
            "before": _side_json(resource.before),
            "after": _side_json(resource.after),
        },
    }


def _usage_line_json(line: UsageLine) -> dict[str, Any]:
    return {"item": line.key, "label": line.label, "quantity": line.quantity, "unit": line.unit,
            "monthlyBefore": _cents(line.before), "monthlyAfter": _cents(line.after), "deltaMonthly": _cents(line.delta),
            "details": line.details}


def _spot_group_json(resource: ResourceCost) -> dict[str, Any]:
    priced = resource.after
    assert priced is not None
    spot = priced.details["spot"]
    return {
        "urn": resource.urn, "name": resource.name, "nodesPriced": priced.details["nodesPriced"],
        "monthlySpot": _cents(priced.monthly), "monthlyOnDemandEquivalent": spot["onDemandEquivalentMonthly"],
        "savingMonthly": spot["savingMonthly"], "savingPercent": spot["savingPercent"],
        "monthlySpotAtMax": priced.details["monthlyAtMax"], "monthlyOnDemandEquivalentAtMax": spot["onDemandEquivalentMonthlyAtMax"],
        "savingMonthlyAtMax": spot["savingMonthlyAtMax"],
    }


def report_json(report: CostReport) -> dict[str, Any]:
    spot = report.spot_summary("after")
    percent_change = report.delta_percent
    measured, estimated = spot_types(report)
    return {
        "schemaVersion": SCHEMA_VERSION,
        "mode": report.mode,
        "headline": headline(report),
        "currency": report.snapshot.currency,
        "priceSnapshot": report.snapshot.date,
        "priceDates": report.region_dates,
        "pricedOn": report.context.on.isoformat(),
        "hoursPerMonth": int(report.snapshot.hours_per_month) if report.snapshot.hours_per_month.is_integer() else report.snapshot.hours_per_month,
        "totalMonthlyBefore": _cents(report.total_before),
        "totalMonthlyAfter": _cents(report.total_after),
        "deltaMonthly": _cents(report.delta),
        "deltaPercent": None if percent_change is None else round(percent_change, 1),
        "totalMonthlyBeforeAtMax": _cents(report.total_before_at_max),
        "totalMonthlyAfterAtMax": _cents(report.total_after_at_max),
        "deltaMonthlyAtMax": _cents(report.delta_at_max),
        "unpriced": report.unpriced_count,
        "spotAfter": {
            **{key: value if key == "groups" else _cents(value) for key, value in spot.items()},
            "byGroup": [_spot_group_json(r) for r in report.spot_groups("after")],
        },
        "spotPrices": {"measured": measured, "estimated": estimated, "note": spot_provenance(report)},
        "usage": {
            "counted": report.usage is not None,
            "file": None if report.usage is None else report.usage.source,
            "note": usage_line(report),
            "lines": [_usage_line_json(line) for line in report.usage_lines],
        },
        "warnings": report.warnings,
        "notInTotals": [r.urn for r in report.unpriced] + [f"usage:{line.key}" for line in report.unpriced_usage],
        "unpricedChanges": [r.urn for r in report.unpriced_changes],
        "usageBased": [r.urn for r in report.resources if r.category == "usage"],
        "resources": [resource_json(r) for r in report.resources],
    }


def render_json(report: CostReport) -> str:
    return json.dumps(report_json(report), indent=2, sort_keys=False) + "\n"


# ---- terminal table ------------------------------------------------------------------


def _align(header: tuple[str, ...], lines: list[list[str]], numeric: set[int]) -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=True)]

    def fmt(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return [fmt(header), *(fmt(line) for line in lines)]


def _counted(r: ResourceCost) -> bool:
    """A usage-based resource whose figure comes from the usage file (else it shows as "usage")."""
    side = r.after or r.before
    return r.category != "usage" or (side is not None and bool(side.details.get("counted")))


def render_table(report: CostReport) -> str:
    rows = [r for r in report.resources if r.category in ("fixed", "unpriced") or (r.category == "usage" and (r.changed or _counted(r)))]
    if report.mode == "estimate":
        header: tuple[str, ...] = ("RESOURCE", "TYPE", "MONTHLY", "AT MAX")
        lines = [[r.name, _short_type(r.type), *((money(r.monthly_after), money(r.monthly_after_at_max)) if _counted(r) else ("usage", "usage"))]
                 for r in rows]
        numeric = {2, 3}
    else:
        header = ("RESOURCE", "TYPE", "OP", "BEFORE", "AFTER", "DELTA", "DELTA AT MAX")
        lines = [[r.name, _short_type(r.type), r.op + (" (retained)" if r.retained else ""),
                  *((money(r.monthly_before), money(r.monthly_after), signed(r.delta), signed(r.delta_at_max)) if _counted(r) else ("usage",) * 4)]
                 for r in rows]
        numeric = {3, 4, 5, 6}
    label = "Monthly cost estimate" if report.mode == "estimate" else "Monthly cost"
    out = [f"{label}: {headline(report)}", prices_line(report)]
    provenance = spot_provenance(report)
    if provenance:
        out.append(provenance)
    out.append(usage_line(report))
    out += [f"warning: {w}" for w in report.warnings]
    out += ["", *_align(header, lines, numeric)]
    if report.usage_lines:
        usage_rows = [[line.label, f"{line.quantity:,g} {line.unit}", money(line.before), money(line.after), signed(line.delta)]
                      for line in report.usage_lines]
        out += ["", *_align(("USAGE", "PER MONTH", "BEFORE", "AFTER", "DELTA"), usage_rows, {2, 3, 4})]
    spot_rows = [[r.name, money(r.after.monthly), money(r.after.details["spot"]["onDemandEquivalentMonthly"]),
                  money(r.after.details["spot"]["savingMonthly"]), money(r.after.details["spot"]["savingMonthlyAtMax"])]
                 for r in report.spot_groups("after") if r.after is not None]
    if spot_rows:
        total = report.spot_summary("after")
        spot_rows.append(["total", money(total["monthlySpot"]), money(total["monthlyOnDemandEquivalent"]),
                          money(total["savingMonthly"]), money(total["savingMonthlyAtMax"])])
        out += ["", *_align(("SPOT GROUP", "SPOT", "SAME ON-DEMAND", "SAVING", "SAVING AT MAX"), spot_rows, {1, 2, 3, 4})]
    out.append("")
    counts: dict[str, int] = {}
    for r in report.resources:
        if not (r.category == "usage" and _counted(r)):  # a bucket priced from the usage file is in the totals
            counts[r.category] = counts.get(r.category, 0) + 1
    out.append(
        "not in totals: "
        + ", ".join(f"{counts.get(c, 0)} {c}" for c in ("usage", "free", "component", "included", "external"))
        + (f", {report.unpriced_count} could not be priced" if report.unpriced_count else "")
    )
    out += [f"  could not price {r.name} ({r.type}): {_reasons(r)}" for r in report.unpriced]
    out += [f"  could not price usage {line.label}: {line.details['after'].get('reason') or line.details['before'].get('reason')}"
            for line in report.unpriced_usage]
    return "\n".join(out) + "\n"


# ---- pull-request comment ------------------------------------------------------------


def _md(text: str) -> str:
    """Plain text from the preview (names, types, reasons), inert in a comment: no HTML, mentions or table breaks."""
    flat = html.escape(" ".join(str(text).split()), quote=False)
    return flat.replace("|", "\\|").replace("@", "&#64;").replace("`", "&#96;")


def _code(text: str) -> str:
    """A name as an inline code span that its own characters cannot end."""
    return "`" + " ".join(str(text).split()).replace("`", "'").replace("|", "\\|") + "`"


@dataclass
class Block:
    """A part of the comment: fixed lines around rows that may be left out to fit the limit.

    `drop` orders which rows go first (lower first); None keeps every row. `noun` names the
    rows in the note that says how many were left out.
    """

    head: list[str]
    rows: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    drop: int | None = None
    noun: str = "rows"
    kept: int | None = None

    def lines(self) -> list[str]:
        kept = len(self.rows) if self.kept is None else self.kept
        if self.rows and kept == 0:
            return [self.omission()]
        out = self.head + self.rows[:kept]
        if kept < len(self.rows):
            out = out + ["", self.omission()]
        return out + self.tail

    def omission(self) -> str:
        return f"*{len(self.rows) - (self.kept or 0):,} {self.noun} left out to fit GitHub's comment limit; {ARTIFACT_HINT}.*"


def _size(lines: list[str]) -> int:
    return sum(len(line.encode()) + 1 for line in lines)


def fit(blocks: list[Block], limit: int | None) -> list[str]:
    """The comment's lines within `limit` UTF-8 bytes: rows are dropped from the end of the
    lowest-priority blocks first, each block saying how many it left out. Linear in the rows."""
    lines = [line for block in blocks for line in block.lines()]
    if limit is None or _size(lines) <= limit:
        return lines
    droppable = sorted((b for b in blocks if b.drop is not None and b.rows), key=lambda b: b.drop or 0)
    summary_reserve = 400  # the closing line that lists what was left out
    excess = _size(lines) - limit + summary_reserve
    for block in droppable:
        note = len(block.omission().encode()) + 3
        excess += note
        kept = len(block.rows)
        while kept and excess > 0:
            kept -= 1
            excess -= len(block.rows[kept].encode()) + 1
        if kept == 0:
            excess -= _size(block.head) + _size(block.tail)
        block.kept = kept
        if excess <= 0:
            break
    left_out = [f"{len(b.rows) - (b.kept or 0):,} {b.noun}" for b in droppable if b.kept is not None and b.kept < len(b.rows)]
    lines = [line for block in blocks for line in block.lines()]
    lines += ["", f"*Left out to fit GitHub's {GITHUB_COMMENT_LIMIT:,}-character comment limit: {', '.join(left_out)}; {ARTIFACT_HINT}.*", ""]
    if _size(lines) > limit:
        raise ValueError(f"the comment's fixed part alone is over {limit:,} bytes")
    return lines


def _change_row(r: ResourceCost) -> str:
    return (f"| {_code(r.name)} | {_md(_what(r))} | {_md(r.op)} | {money(r.monthly_before)} | {money(r.monthly_after)} | "
            f"{signed(r.delta)} | {signed(r.delta_at_max)} |")


CHANGE_HEADER = ["| Resource | What (nodes min/desired/max) | Change | Before | After | Delta | Delta at max size |",
                 "|---|---|---|---:|---:|---:|---:|"]


def _spot_rows(report: CostReport) -> list[str]:
    rows = []
    for r in report.spot_groups("after"):
        priced = r.after
        assert priced is not None
        d, s = priced.details, priced.details["spot"]
        hourly = d["hourlyPerNode"]
        saving_pct = "" if s["savingPercent"] is None else f" ({s['savingPercent']:.0f}%)"
        rows.append(
            f"| {_code(r.name)} | {_md(', '.join(d['instanceTypes']))} | "
            f"{d['nodes']['min']} / {d['nodesPriced']:g} / {d['nodes']['max']} | "
            f"${hourly['mean']:.4f} (${hourly['min']:.4f}–${hourly['max']:.4f}) | ${s['onDemandHourlyPerNode']:.4f} | "
            f"{money(priced.monthly)} vs {money(s['onDemandEquivalentMonthly'])} | {money(s['savingMonthly'])}{saving_pct} | "
            f"{money(d['monthlyAtMax'])} vs {money(s['onDemandEquivalentMonthlyAtMax'])} | {money(s['savingMonthlyAtMax'])} |"
        )
    return rows


def _range_rows(report: CostReport) -> list[str]:
    rows = []
    for r in report.resources:
        priced = r.after
        if priced is None or not r.complete or priced.details.get("kind") != "nodeGroup":
            continue
        d = priced.details
        low, high = d["monthlyRangeAtDesired"]
        rows.append(
            f"| {_code(r.name)} | {d['capacityType']} | {money(d['monthlyAtMin'])} | {money(priced.monthly)} "
            f"({money(low)}–{money(high)}) | {money(d['monthlyAtMax'])} |"
        )
    return rows


def _assumptions(report: CostReport) -> list[str]:
    notes = [
        "Node groups run at their desired size all month (clamped to min and max, as AWS does), or at the usage file's "
        "average; the cluster-autoscaler moves them between min and max, and the totals at max size are the worst case.",
        "A Spot group is priced at the mean over all its instance types, since EKS spreads Spot capacity over every listed type; "
        "an On-Demand group at its first type (EKS's On-Demand allocation is prioritized). "
        "The Spot saving compares with the same nodes On-Demand: the mean On-Demand price of the same types, same root volumes.",
        "Root volumes: gp2 (the volume type of EKS's own launch template), diskSize GiB per node.",
        "EKS control plane by its support phase on the pricing day (standard, or extended under upgradePolicy EXTENDED, "
        "EKS's default); NAT gateways and every public IPv4 address by the hour; S3 gateway endpoints are free.",
        f"Prices from snapshot `{report.snapshot.source}` of {report.snapshot.date}: see its `notes` for how each price was made.",
    ]
    usage = [r for r in report.resources if r.category == "usage" and r.after is not None and not r.after.details.get("counted")]
    if usage:
        names = ", ".join(f"{_code(r.name)} ({_md(r.after.details.get('billedBy', 'usage'))})" for r in usage if r.after is not None)
        notes.append(f"Billed by use and not in the totals: {names}.")
    return [f"- {note}" for note in notes]


def render_markdown(report: CostReport, limit: int | None = GITHUB_COMMENT_LIMIT) -> str:
    """The pull-request comment, within `limit` UTF-8 bytes (None: no limit)."""
    title = "Monthly cost estimate" if report.mode == "estimate" else "Monthly cost"
    head = [MARKER, f"### {title}: {headline(report)}", "", f"<sub>{_md(prices_line(report))}</sub>"]
    provenance = spot_provenance(report, _md, _code)
    if provenance:
        head += ["", f"<sub>{provenance}</sub>"]
    head += ["", f"<sub>{usage_line(report, _md, _code)}</sub>", ""]
    if report.warnings:
        head += [*(f"> **Soon:** {_md(w)}" for w in report.warnings), ""]
    blocks = [Block(head)]

    changed = _rows_by_change(report)
    if report.mode == "estimate":
        priced = [r for r in report.resources if r.category in ("fixed", "unpriced") or (r.category == "usage" and r.monthly_after)]
        priced.sort(key=lambda r: (-(r.monthly_after or 0.0), r.name, r.urn))
        rows = [f"| {_code(r.name)} | {_md(_what(r))} | {money(r.monthly_after)} | {money(r.monthly_after_at_max)} |" for r in priced]
        header = ["| Resource | What (nodes min/desired/max) | Monthly | At max size |", "|---|---|---:|---:|"]
        blocks.append(Block(header, rows[:TOP_CHANGES]))
        if len(rows) > TOP_CHANGES:
            blocks.append(Block(["", f"<details><summary>{len(rows) - TOP_CHANGES:,} more priced resources</summary>", "", *header],
                                rows[TOP_CHANGES:], ["", "</details>"], drop=2, noun="priced resources"))
    elif changed:
        rows = [_change_row(r) for r in changed]
        blocks.append(Block(CHANGE_HEADER, rows[:TOP_CHANGES]))
        if len(rows) > TOP_CHANGES:
            blocks.append(Block(["", f"<details><summary>{len(rows) - TOP_CHANGES:,} more changed resources</summary>", "", *CHANGE_HEADER],
                                rows[TOP_CHANGES:], ["", "</details>"], drop=2, noun="changed resources"))
    else:
        blocks.append(Block(["No resource with an hourly price changes."]))
    if report.mode != "estimate":
        shown = {id(r) for r in changed}
        others = sum(1 for r in report.resources if r.changed and id(r) not in shown and r.category != "included")
        if others:
            noun = "resource has" if others == 1 else "resources have"
            blocks.append(Block(["", f"{others:,} other changed {noun} no hourly price (IAM, networking, Kubernetes objects, usage-based storage)."]))

    if report.unpriced_count:
        rows = [f"- {_code(r.name)} ({_code(r.type)}): {_md(_reasons(r))}" for r in report.unpriced]
        rows += [f"- usage {_md(line.label)}: {_md(line.details['after'].get('reason') or line.details['before'].get('reason'))}"
                 for line in report.unpriced_usage]
        gate = f" ({len(report.unpriced_changes):,} changed: budget gates fail on them unless `--allow-unpriced`)" if report.unpriced_changes else ""
        blocks.append(Block(["", f"**Not in the totals:** {report.unpriced_count:,} could not be priced{gate}:"], rows, drop=3, noun="unpriced resources"))

    if report.usage_lines:
        rows = []
        for line in report.usage_lines:
            routes = " → ".join(dict.fromkeys(d.get("route", "") for d in (line.details["before"], line.details["after"]) if d))
            rows.append(f"| {_md(line.label)} | {line.quantity:,g} {line.unit} | {_md(routes)} | {money(line.before)} | {money(line.after)} | {signed(line.delta)} |")
        blocks.append(Block(["", f"#### Usage from {_code(report.usage.source if report.usage else '')}", "",
                             "| Item | Per month | Route | Before | After | Delta |", "|---|---:|---|---:|---:|---:|", *rows]))

    spot_rows = _spot_rows(report)
    if spot_rows:
        spot = report.spot_summary("after")
        share = 100 * spot["savingMonthly"] / spot["monthlyOnDemandEquivalent"] if spot["monthlyOnDemandEquivalent"] else None
        total = (f"| **all Spot groups** | | | | | {money(spot['monthlySpot'])} vs {money(spot['monthlyOnDemandEquivalent'])} | "
                 f"**{money(spot['savingMonthly'])}**{'' if share is None else f' ({share:.0f}%)'} | "
                 f"{money(spot['monthlySpotAtMax'])} vs {money(spot['monthlyOnDemandEquivalentAtMax'])} | **{money(spot['savingMonthlyAtMax'])}** |")
        blocks.append(Block(
            ["", f"#### Spot saving: {money(spot['savingMonthly'])}/month at the priced size, "
                 f"{money(spot['savingMonthlyAtMax'])}/month at max size, versus the same capacity On-Demand", "",
             "| Spot group | Instance types | Nodes min / priced / max | Spot $/node-h mean (range) | On-Demand $/node-h | "
             "Monthly: Spot vs On-Demand | Saving | At max: Spot vs On-Demand | Saving at max |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"],
            spot_rows, [total], drop=4, noun="Spot groups"))
    range_rows = _range_rows(report)
    if range_rows:
        blocks.append(Block(
            ["", "<details><summary>Node groups between min and max size</summary>", "",
             "| Node group | Capacity | At min | Priced (cheapest–dearest type) | At max |", "|---|---|---:|---:|---:|"],
            range_rows, ["", "</details>"], drop=0, noun="node groups"))
    blocks.append(Block(["", "<details><summary>Assumptions</summary>", "", *_assumptions(report)]))
    assumed = [f"- {_code(r.name)}: {_md(', '.join(r.assumed))}" for r in report.resources if r.assumed and r.category in ("fixed", "unpriced")]
    if assumed:
        blocks.append(Block(["- Not known until apply, assumed unchanged:"], ["  " + a for a in assumed], drop=1, noun="assumed values"))
    blocks.append(Block(["", "</details>", ""]))
    return "\n".join(fit(blocks, limit))


def render_failure_note(reason: str, run_url: str | None = None) -> str:
    """The comment that replaces stale figures when a run could not price the change."""
    where = f" ([the run]({run_url}))" if run_url and re.fullmatch(r"https?://[^\s()<>\[\]]+", run_url) else ""
    return "\n".join([
        MARKER,
        "### Monthly cost: not available for this commit",
        "",
        f"The cost check failed: {_md(reason)}{where}.",
        "",
        "The figures of an earlier commit were removed, since they no longer describe this pull request; "
        "the next successful run writes them again.",
        "",
    ])


Renderer = Callable[[CostReport], str]
RENDERERS: dict[str, Renderer] = {"table": render_table, "markdown": render_markdown, "json": render_json}
