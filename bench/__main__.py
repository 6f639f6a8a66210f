"""`python -m bench [--quick]`: every figure with its target, as a table and bench/results.json.

`python -m bench drill [--quick]` is the Spot interruption drill (bench/drill/).

Figures are ratios measured in one run on this machine; they are never asserted in unit
tests. `--quick` runs each once with the smallest inputs, to check that they run (CI).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

from bench import cost_figures, diff_figure, executor_shape, program, submit_figure
from bench.figures import Figure, render_table

RESULTS = Path(__file__).resolve().parent / "results.json"
# In the order of figures.
SUITES = (cost_figures, program, submit_figure, diff_figure, executor_shape)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["drill"]:
        from bench.drill.cli import main as drill_main

        return drill_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="run every figure once, small, to check they run")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)
    figures: list[Figure] = []
    for suite in SUITES:
        figures.extend(suite.measure(quick=args.quick))
    print(render_table(figures))
    document = {
        "date": datetime.date.today().isoformat(),
        "quick": args.quick,
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "figures": [f.as_json() for f in figures],
    }
    try:  # the drill's figures (`python -m bench drill`) live beside these: keep them
        document["drill"] = json.loads(args.output.read_text())["drill"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {args.output.name}; {sum(f.passed for f in figures)} of {len(figures)} figures met their target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
