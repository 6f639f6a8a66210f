"""A benchmark figure: a measured ratio or value, its target, and whether it met it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    target: str
    passed: bool
    details: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def render_table(figures: list[Figure]) -> str:
    """A fixed-width table: figure, value, target, PASS/FAIL."""
    rows = [("figure", "value", "target", "result")]
    rows += [(f.name, f"{f.value:.3g} {f.unit}".strip(), f.target, "PASS" if f.passed else "FAIL") for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
