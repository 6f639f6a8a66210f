"""`python -m bench [--quick]`: every figure with its target, as a table and bench/results.json.

`python -m bench drill [--quick]` is the Spot interruption drill (bench/drill/; see its own --help).

Figures are ratios measured in one run on this machine; they are never asserted in unit
tests. `--quick` runs each once with the smallest inputs, to check that they run (CI), and
writes no results file unless --output names one: only a full run updates the tracked
bench/results.json.
"""

from __future__ import annotations

import datetime
import json
import platform
import sys
from pathlib import Path
from typing import Any

from bench import cost_figures, diff_figure, executor_shape, program, submit_figure
from bench.figures import Figure, render_table
from cli_common import EXIT_BAD_INPUT, EXIT_OK, CliError, Parser, add_quiet, exit_codes, print_error, progress

TOOL = "bench"
RESULTS = Path(__file__).resolve().parent / "results.json"
RESULTS_SHOWN = "bench/results.json"  # how messages name the default results file
# In the order of the figures' numbers.
SUITES = (cost_figures, program, submit_figure, diff_figure, executor_shape)
EXIT_CODES = exit_codes(None) + "\n(a figure that misses its target is reported as FAIL in the table; the exit code stays 0)"


def build_parser() -> Parser:
    parser = Parser(prog=f"python -m {TOOL}", description=__doc__, epilog=EXIT_CODES)
    parser.add_argument("--quick", action="store_true",
                        help="run every figure once, small, to check they run; writes no results file without --output")
    parser.add_argument("--output", type=Path, metavar="FILE",
                        help=f"where to write the JSON results (default: {RESULTS_SHOWN} for a full run, nowhere for --quick)")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout: the results document (instead of the table)")
    add_quiet(parser)
    return parser


def measure(quick: bool, quiet: bool) -> list[Figure]:
    figures: list[Figure] = []
    with progress(quiet) as shown:
        for number, suite in enumerate(SUITES, start=1):
            title = (suite.__doc__ or suite.__name__).strip().splitlines()[0].rstrip(".")
            shown.step(f"{number}/{len(SUITES)}: {title}")
            figures.extend(suite.measure(quick=quick))
    return figures


def write_results(path: Path, document: dict[str, Any]) -> None:
    """Write the results, keeping the drill's figures (`python -m bench drill`) that live beside them."""
    try:
        document["drill"] = json.loads(path.read_text())["drill"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    path.write_text(json.dumps(document, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["drill"]:
        from bench.drill.cli import main as drill_main

        return drill_main(argv[1:])
    try:
        args = build_parser().parse_args(argv)
        if args.output is not None and args.output.is_dir():
            raise CliError(f"--output {args.output}: is a directory; give a file name")
    except CliError as error:
        print_error(TOOL, error)
        return error.exit_code
    figures = measure(args.quick, args.quiet)
    document = {
        "date": datetime.date.today().isoformat(),
        "quick": args.quick,
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "figures": [f.as_json() for f in figures],
    }
    output, shown = (args.output, str(args.output)) if args.output is not None else (
        (None, "") if args.quick else (RESULTS, RESULTS_SHOWN))
    if output is not None:
        try:
            write_results(output, document)
        except OSError as error:
            print_error(TOOL, f"cannot write {shown} ({error.strerror}); pass a writable --output FILE")
            return EXIT_BAD_INPUT
    passed = f"{sum(f.passed for f in figures)} of {len(figures)} figures met their target"
    where = f"wrote {shown}" if output is not None else (
        f"quick run: results not written ({RESULTS_SHOWN} is updated only by a full run; --output FILE keeps them)")
    if args.json:
        json.dump(document, sys.stdout, indent=2)
        print()
        print(f"{where}; {passed}", file=sys.stderr)
    else:
        print(render_table(figures))
        print(f"\n{where}; {passed}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
