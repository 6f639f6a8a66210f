"""What the cost tests share: the committed snapshot, a fixed pricing day, and reports of fixtures.

Pricing reads the EKS support phase of the pricing day, so every test pins the day (the
snapshot's own date, 2026-11-25, when Kubernetes 1.34 is still in standard support) and a
test about the calendar names its own day.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from cost.inputs import changes_from_preview
from cost.pricing import PricingContext
from cost.report import CostReport, ResourceCost, build_report
from cost.snapshot import PRICES_DIR, PriceSnapshot, load_snapshot
from cost.usage import Usage

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "cost"
SNAPSHOT_PATH = PRICES_DIR / "aws-2026-11-25.json"
PRICED_ON = date(2026, 11, 25)
AS_OF = ["--as-of", PRICED_ON.isoformat()]
H = 730


def snapshot() -> PriceSnapshot:
    return load_snapshot(SNAPSHOT_PATH)


def context(on: date = PRICED_ON) -> PricingContext:
    return PricingContext(on=on)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def report_of_document(
    document: dict[str, Any], region: str | None = None, on: date = PRICED_ON, usage: Usage | None = None, mode: str = "diff"
) -> CostReport:
    return build_report(changes_from_preview(document, "preview", region), snapshot(), mode, context(on), usage)


def report_of(name: str, region: str | None = None, on: date = PRICED_ON, usage: Usage | None = None) -> CostReport:
    return report_of_document(fixture(name), region, on, usage)


def by_name(report: CostReport, name: str, type_suffix: str = "") -> ResourceCost:
    matches = [r for r in report.resources if r.name == name and r.type.endswith(type_suffix)]
    assert len(matches) == 1, [r.urn for r in matches]
    return matches[0]


def step(op: str, urn: str, old: dict[str, Any] | None = None, new: dict[str, Any] | None = None) -> dict[str, Any]:
    """One preview step as `pulumi preview --json` prints it (pulumi pkg/display/json.go PreviewStep)."""
    entry: dict[str, Any] = {"op": op, "urn": urn}
    if old is not None:
        entry["oldState"] = old
    if new is not None:
        entry["newState"] = new
    return entry


def urn(type_token: str, name: str, stack: str = "dev", chain: str = "") -> str:
    return f"urn:pulumi:{stack}::spark-eks-spot::{chain + '$' if chain else ''}{type_token}::{name}"


def state(type_token: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A resource state (apitype.ResourceV3 as the preview prints it)."""
    return {"type": type_token, "custom": not type_token.startswith(("eks:index:", "spark-eks-spot:")), "inputs": inputs, **extra}


PROVIDER_URN = urn("pulumi:providers:aws", "aws")


def provider_step(region: str = "us-west-2") -> dict[str, Any]:
    provider = state("pulumi:providers:aws", {"region": region})
    return step("same", PROVIDER_URN, provider, provider)


def node_group_inputs(capacity: str, types: list[str], minimum: int, desired: int, maximum: int, disk: int = 100) -> dict[str, Any]:
    return {"capacityType": capacity, "instanceTypes": types, "diskSize": disk,
            "scalingConfig": {"minSize": minimum, "desiredSize": desired, "maxSize": maximum}}
