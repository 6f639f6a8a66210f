"""Figure: evaluating the Pulumi program under Pulumi's mocks as the stack grows.

The default dev stack, then 5 and 20 Spot executor groups (extraExecutorGroups); wall time
and resources per second. Growth must be linear: the time per resource of the largest
stack stays within 1.5× of the default's.
"""

from __future__ import annotations

import gc
import json
import time

from bench.figures import Figure
from infra.plan import run_plan, stack_config

POOL = {"instanceTypes": ["m5.xlarge", "m5a.xlarge", "m5d.xlarge"], "minSize": 0, "maxSize": 10}
LINEAR_LIMIT = 1.5


def _config_with_groups(groups: int) -> dict[str, str]:
    config = stack_config("dev")
    extra = {f"pool{i}": POOL for i in range(1, groups)}
    config["spark-eks-spot:extraExecutorGroups"] = json.dumps(extra)
    return config


def _timed_plan(groups: int, repeats: int) -> tuple[float, int]:
    """Best wall time of `repeats` evaluations, and the resource count."""
    best = float("inf")
    count = 0
    for _ in range(repeats):
        # As timeit does: no garbage collection inside the timed run, so a collection the
        # previous run provoked does not land on this one.
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            plan = run_plan(_config_with_groups(groups), stack="dev")
            best = min(best, time.perf_counter() - started)
        finally:
            gc.enable()
        count = len(plan.resources)
    return best, count


def measure(quick: bool = False) -> list[Figure]:
    repeats = 1 if quick else 5
    _timed_plan(1, 1)  # warm-up: first evaluation pays for imports and plugin schemas
    runs = {groups: _timed_plan(groups, repeats) for groups in (1, 5, 20)}
    per_resource = {g: seconds / count for g, (seconds, count) in runs.items()}
    growth = per_resource[20] / per_resource[1]
    details = {
        f"{g} executor groups": {"seconds": round(s, 3), "resources": c, "resourcesPerSecond": round(c / s, 1)}
        for g, (s, c) in runs.items()
    }
    return [
        Figure(
            name="program evaluation: time per resource, 20 executor groups vs default",
            value=growth,
            unit="×",
            target=f"≤ {LINEAR_LIMIT}× (linear growth)",
            passed=growth <= LINEAR_LIMIT,
            details=details,
        )
    ]
