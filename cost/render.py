"""Render a cost report as a terminal table, a pull-request comment (markdown) or JSON.

The JSON shape is the contract other tools read (see README.cost.md); money is USD per
month of the snapshot's hours (730), rounded to cents, as JSON numbers. The markdown
starts with a hidden marker so the workflow finds and updates its own comment.
"""

from __future__ import annotations

import html
import json
from typing import Any

from cost.pricing import Priced
from cost.report import SCHEMA_VERSION, CostReport, ResourceCost

MARKER = "<!-- spark-eks-spot:cost -->"


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
            "before": _side_json(resource.before),
            "after": _side_json(resource.after),
        },
    }


def report_json(report: CostReport) -> dict[str, Any]:
    spot = report.spot_summary("after")
    percent_change = report.delta_percent
    return {
        "schemaVersion": SCHEMA_VERSION,
        "mode": report.mode,
        "currency": report.snapshot.currency,
        "priceSnapshot": report.snapshot.date,
        "priceDates": report.region_dates,
        "hoursPerMonth": int(report.snapshot.hours_per_month) if report.snapshot.hours_per_month.is_integer() else report.snapshot.hours_per_month,
        "totalMonthlyBefore": _cents(report.total_before),
        "totalMonthlyAfter": _cents(report.total_after),
        "deltaMonthly": _cents(report.delta),
        "deltaPercent": None if percent_change is None else round(percent_change, 1),
        "spotAfter": {key: value if key == "groups" else _cents(value) for key, value in spot.items()},
        "notInTotals": [r.urn for r in report.unpriced],
        "usageBased": [r.urn for r in report.resources if r.category == "usage"],
        "resources": [resource_json(r) for r in report.resources],
    }


def render_json(report: CostReport) -> str:
    return json.dumps(report_json(report), indent=2, sort_keys=False) + "\n"


# ---- shared wording -----------------------------------------------------------------


def _short_type(type_token: str) -> str:
    return type_token.rsplit(":", 1)[-1]


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
        return f"{text}: {before[0]}, nodes {before[1]} → {after[0]}, nodes {after[1]}"
    if before and after and before[1] != after[1]:
        return f"{text}: {after[0]}, nodes {before[1]} → {after[1]}"
    side = after or before
    return f"{text}: {side[0]}, nodes {side[1]}" if side else text


def _headline_numbers(report: CostReport) -> str:
    if report.mode == "estimate":
        return money(report.total_after)
    if round(report.delta, 2) == 0:
        return f"{money(report.total_before)} → {money(report.total_after)} (no change)"
    pct = percent(report.delta_percent)
    return f"{money(report.total_before)} → {money(report.total_after)} ({signed(report.delta)}{', ' + pct if pct else ''})"


def _prices_line(report: CostReport) -> str:
    dates = report.region_dates
    regions = ", ".join(sorted(dates)) or "no priced region"
    odd = {r: d for r, d in dates.items() if d != report.snapshot.date}
    extra = "" if not odd else " (" + ", ".join(f"{r} prices of {d}" for r, d in sorted(odd.items())) + ")"
    return (
        f"{report.snapshot.currency} per month of {report.snapshot.hours_per_month:g} h · {regions} · "
        f"AWS price snapshot {report.snapshot.date}{extra}"
    )


# ---- terminal table ------------------------------------------------------------------


def render_table(report: CostReport) -> str:
    rows = [r for r in report.resources if r.category in ("fixed", "unpriced") or (r.changed and r.category == "usage")]
    header: tuple[str, ...] = ("RESOURCE", "TYPE", "OP", "BEFORE", "AFTER", "DELTA")
    lines = [
        [r.name, _short_type(r.type), r.op, *(("usage", "usage", "usage") if r.category == "usage" else
                                               (money(r.monthly_before), money(r.monthly_after), signed(r.delta)))]
        for r in rows
    ]
    if report.mode == "estimate":
        header = ("RESOURCE", "TYPE", "MONTHLY")
        lines = [[row[0], row[1], row[4]] for row in lines]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=True)] if lines else [len(h) for h in header]
    numeric = set(range(3, len(header))) if report.mode != "estimate" else {2}

    def fmt(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [f"Monthly cost: {_headline_numbers(report)}", _prices_line(report), "", fmt(header)]
    out += [fmt(line) for line in lines]
    out.append("")
    counts: dict[str, int] = {}
    for r in report.resources:
        counts[r.category] = counts.get(r.category, 0) + 1
    out.append(
        "not in totals: "
        + ", ".join(f"{counts.get(c, 0)} {c}" for c in ("usage", "free", "component", "included", "external"))
        + (f", {len(report.unpriced)} could not be priced" if report.unpriced else "")
    )
    for r in report.unpriced:
        reasons = "; ".join(s.details.get("reason", "") for s in (r.before, r.after) if s is not None and s.monthly is None)
        out.append(f"  could not price {r.name} ({r.type}): {reasons}")
    return "\n".join(out) + "\n"


# ---- pull-request comment ------------------------------------------------------------


def _md(text: str) -> str:
    """Plain text from the preview (names, types, reasons), inert in a comment: no HTML, mentions or table breaks."""
    flat = html.escape(" ".join(str(text).split()), quote=False)
    return flat.replace("|", "\\|").replace("@", "&#64;").replace("`", "&#96;")


def _code(text: str) -> str:
    """A name as an inline code span that its own characters cannot end."""
    return "`" + " ".join(str(text).split()).replace("`", "'").replace("|", "\\|") + "`"


def _spot_rows(report: CostReport) -> list[str]:
    rows = []
    for r in report.resources:
        priced = r.after
        if priced is None or not r.complete or "spot" not in priced.details:
            continue
        d, s = priced.details, priced.details["spot"]
        hourly = d["hourlyPerNode"]
        rows.append(
            f"| {_code(r.name)} | {_md(', '.join(d['instanceTypes']))} | "
            f"{d['nodes']['min']} / {d['nodes']['desired']} / {d['nodes']['max']} | "
            f"${hourly['mean']:.4f} (${hourly['min']:.4f}–${hourly['max']:.4f}) | ${s['onDemandHourlyPerNode']:.4f} | "
            f"{money(priced.monthly)} vs {money(s['onDemandEquivalentMonthly'])} | "
            f"{money(d['monthlyAtMax'])} vs {money(s['onDemandEquivalentMonthlyAtMax'])} | "
            f"{s['savingPercent']:.0f}% |"
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


def render_markdown(report: CostReport) -> str:
    title = "Monthly cost estimate" if report.mode == "estimate" else "Monthly cost"
    out = [MARKER, f"### {title}: {_headline_numbers(report)}", "", f"<sub>{_prices_line(report)}</sub>", ""]

    if report.mode == "estimate":
        shown = [r for r in report.resources if r.category in ("fixed", "unpriced")]
        if shown:
            out += ["| Resource | What (nodes min/desired/max) | Monthly |", "|---|---|---:|"]
            out += [f"| {_code(r.name)} | {_md(_what(r))} | {money(r.monthly_after)} |" for r in shown]
    else:
        shown = sorted(
            (r for r in report.resources if r.changed and r.category in ("fixed", "unpriced")),
            key=lambda r: (-abs(r.delta or 0.0), r.name),
        )
        if shown:
            out += ["| Resource | What (nodes min/desired/max) | Change | Before | After | Delta |", "|---|---|---|---:|---:|---:|"]
            out += [
                f"| {_code(r.name)} | {_md(_what(r))} | {_md(r.op)} | {money(r.monthly_before)} | {money(r.monthly_after)} | {signed(r.delta)} |"
                for r in shown
            ]
        else:
            out.append("No resource with an hourly price changes.")
        others = [r for r in report.resources if r.changed and r not in shown and r.category != "included"]
        if others:
            noun = "resource has" if len(others) == 1 else "resources have"
            out += ["", f"{len(others)} other changed {noun} no hourly price (IAM, networking, Kubernetes objects, usage-based storage)."]

    if report.unpriced:
        out += ["", f"**Not in the totals:** {len(report.unpriced)} could not be priced:"]
        for r in report.unpriced:
            reasons = "; ".join(s.details.get("reason", "") for s in (r.before, r.after) if s is not None and s.monthly is None)
            out.append(f"- {_code(r.name)} ({_code(r.type)}): {_md(reasons)}")

    spot_rows = _spot_rows(report)
    if spot_rows:
        spot = report.spot_summary("after")
        out += [
            "",
            f"#### Spot saving: {money(spot['savingMonthly'])}/month at desired size, "
            f"{money(spot['savingMonthlyAtMax'])}/month at max size, versus the same capacity On-Demand",
            "",
            "| Spot group | Instance types | Nodes min / desired / max | Spot $/node-h mean (range) | On-Demand $/node-h | Monthly at desired: Spot vs On-Demand | At max | Saving |",
            "|---|---|---|---:|---:|---:|---:|---:|",
            *spot_rows,
        ]
    range_rows = _range_rows(report)
    if range_rows:
        out += [
            "",
            "#### Node groups between min and max size",
            "",
            "| Node group | Capacity | At min | At desired (cheapest–dearest type) | At max |",
            "|---|---|---:|---:|---:|",
            *range_rows,
        ]

    usage = [r for r in report.resources if r.category == "usage" and r.after is not None]
    assumptions = [
        "Node groups run at their desired size all month; the cluster-autoscaler moves them between min and max (table above).",
        "A Spot group is priced at the mean over all its instance types, since EKS spreads Spot capacity over every listed type; "
        "an On-Demand group at its first type (EKS's On-Demand allocation is prioritized). "
        "Spot saving compares with the mean On-Demand price of the same types.",
        "Root volumes: gp2 (the volume type of EKS's own launch template), diskSize GiB per node.",
        "EKS control plane at standard support; NAT gateways by the hour (data processed per GB is extra); every public IPv4 address by the hour.",
        f"Prices from snapshot `{report.snapshot.source}` of {report.snapshot.date}: hand-entered public list prices unless "
        "regenerated with `python -m cost refresh-prices`; Spot prices there are typical, not live.",
    ]
    if usage:
        names = ", ".join(f"{_code(r.name)} ({_md(r.after.details.get('billedBy', 'usage'))})" for r in usage if r.after is not None)
        assumptions.append(f"Billed by use and not in the totals: {names}.")
    assumed = [f"{_code(r.name)}: {_md(', '.join(r.assumed))}" for r in report.resources if r.assumed and r.category in ("fixed", "unpriced")]
    if assumed:
        assumptions.append("Not known until apply, assumed unchanged: " + "; ".join(assumed) + ".")
    out += ["", "<details><summary>Assumptions</summary>", "", *[f"- {a}" for a in assumptions], "", "</details>", ""]
    return "\n".join(out)


RENDERERS = {"table": render_table, "markdown": render_markdown, "json": render_json}
