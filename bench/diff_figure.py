"""Figure 6: the cost diff of a 1,000-step preview, timed as the CLI runs it.

The preview generator and the measurement are bench/cost_diff.py's (also runnable on its
own as `python -m bench.cost_diff`); this module turns one measurement into a figure.
Target: under 1 s, with no network connection while pricing (every look-up reads the
in-memory snapshot; the look-up count is in the figure's name and details).
"""

from __future__ import annotations

from bench.cost_diff import TARGET_SECONDS, measure_diff
from bench.figures import Figure

FULL_RUNS = 7


def measure(quick: bool = False) -> list[Figure]:
    result = measure_diff(runs=1 if quick else FULL_RUNS, warm_up=not quick)
    seconds = result.median_seconds
    return [
        Figure(
            name=(f"cost diff of a {result.steps:,}-step preview: {result.lookups:,} snapshot look-ups, "
                  f"{result.connections} network connections"),
            value=seconds,
            unit="s",
            target=f"< {TARGET_SECONDS:g} s, no network",
            passed=seconds < TARGET_SECONDS and result.connections == 0,
            details={
                "steps": result.steps,
                "resources": result.resources,
                "runs": result.runs,
                "medianMilliseconds": round(seconds * 1000, 1),
                "ratioToTarget": round(seconds / TARGET_SECONDS, 3),
                "lookups": result.lookups,
                "networkConnections": result.connections,
                "timed": "parse the preview JSON, price every step, render markdown and JSON",
            },
        )
    ]

