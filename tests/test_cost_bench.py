"""The benchmark's generated preview is what it claims: 1,000 steps, every op, priced without a network call.

Timing is the benchmark's job (`python -m bench.cost_diff`), never a test's.
"""

from __future__ import annotations

import json
from collections import Counter

from bench.cost_diff import diff_once, generate_preview


def test_generated_preview_has_1000_steps_of_every_kind() -> None:
    steps = generate_preview()["steps"]
    ops = Counter(step["op"] for step in steps)
    assert len(steps) == 1000
    assert {"create", "update", "replace", "create-replacement", "delete-replaced", "delete", "same"} <= set(ops)


def test_one_diff_prices_every_resource_from_the_snapshot() -> None:
    """Replacements fold into one resource each; every look-up is counted."""
    text = json.dumps(generate_preview())
    _seconds, lookups, resources = diff_once(text)
    steps = json.loads(text)["steps"]
    assert resources == len({step["urn"] for step in steps})
    assert lookups > resources / 2
