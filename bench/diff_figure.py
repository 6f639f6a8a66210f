"""Figures 6 and 7: the cost diff of a generated preview, timed as the CLI runs it.

The preview generator and the measurement are bench/cost_diff.py's (also runnable on its
own as `python -m bench.cost_diff`); this module turns measurements into figures.

6. A 1,000-step preview: under 1 s, with no network connection while pricing (every look-up
   reads the in-memory snapshot; the look-up count is in the figure's name and details).
7. Scaling: the time of a 10,000-step diff over a 1,000-step one, measured in one run after a
   warm-up: the median of 5 diffs of the small preview and of 3 of the large one, taken in
   turns so both see the same machine (other processes share its 2 cores). Linear work gives
   about 10×; the target is ≤ 12× (an earlier version rendered in quadratic time: 10,000 steps took
   45 s in markdown). The 10,000-step markdown time is reported beside it (goal under 2 s on
   the 2-core development machine); it is a figure, never a test.
"""

from __future__ import annotations

import json
import statistics

from bench.cost_diff import TARGET_SECONDS, diff_once, generate_preview, markdown_seconds, measure_diff
from bench.figures import Figure

FULL_RUNS = 7
SCALING_STEPS = (1_000, 10_000)
QUICK_SCALING_STEPS = (100, 1_000)
SCALING_TARGET = 12.0
MARKDOWN_GOAL_SECONDS = 2.0


SMALL_RUNS, LARGE_RUNS = 5, 3


def scaling_figure(small: int, large: int) -> Figure:
    """Median diff time of each size (parse, price, markdown and JSON), sampled in turns after a warm-up."""
    texts = {steps: json.dumps(generate_preview(steps)) for steps in (small, large)}
    diff_once(texts[small])  # imports, the calendar and first-call costs are not the steady state
    samples: dict[int, list[float]] = {small: [], large: []}
    for turn in range(max(SMALL_RUNS, LARGE_RUNS)):
        if turn < SMALL_RUNS:
            samples[small].append(diff_once(texts[small])[0])
        if turn < LARGE_RUNS:
            samples[large].append(diff_once(texts[large])[0])
    seconds = {steps: statistics.median(values) for steps, values in samples.items()}
    markdown = markdown_seconds(texts[large])
    ratio = seconds[large] / seconds[small]
    return Figure(
        name=f"cost diff scaling: {large:,} steps vs {small:,} steps, markdown of {large:,} in {markdown:.2f} s",
        value=ratio,
        unit="×",
        target=f"≤ {SCALING_TARGET:g}× (linear), markdown of {large:,} steps < {MARKDOWN_GOAL_SECONDS:g} s",
        passed=ratio <= SCALING_TARGET and markdown < MARKDOWN_GOAL_SECONDS,
        details={
            "steps": [small, large],
            "seconds": {str(steps): round(value, 6) for steps, value in seconds.items()},
            "markdownSeconds": round(markdown, 3),
            "samples": {str(steps): len(values) for steps, values in samples.items()},
            "timed": "parse the preview JSON, price every step, render markdown (within GitHub's comment limit) and JSON",
        },
    )


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
        ),
        scaling_figure(*(QUICK_SCALING_STEPS if quick else SCALING_STEPS)),
    ]
