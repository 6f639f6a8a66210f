"""Thin command line over the cost core: diff, estimate, refresh-prices, comment.

Exit codes: 0 ok; 1 a step failed (AWS or GitHub refused the request or could not be
reached); 2 bad input or missing tool/credentials (one line on stderr: `cost: error: …`);
3 a budget gate tripped: the monthly increase is above --fail-above, the increase at
every node group's maximum size is above --fail-above-max, or a gate is set and a changed
resource could not be priced (unless --allow-unpriced).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from cli_common import (
    EXIT_BAD_INPUT,
    EXIT_BUDGET,
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    Parser,
    add_offline_stack_arguments,
    add_quiet,
    exit_codes,
    print_error,
    print_warning,
    progress,
)
from cost.calendar import CalendarError
from cost.inputs import (
    InputError,
    changes_from_plans,
    changes_from_preview,
    document_kind,
    estimate_changes,
    plan_states,
)
from cost.pricing import MissingRegion, PricingContext
from cost.render import GITHUB_COMMENT_LIMIT, MARKER, RENDERERS, render_failure_note, render_markdown, signed
from cost.report import CostReport, build_report
from cost.snapshot import (
    PRICES_DIR,
    RegionNotInSnapshot,
    SnapshotError,
    latest_snapshot_path,
    load_snapshot,
    snapshot_from_json,
)

TOOL = "cost"
DEFAULT_AUTHOR = "github-actions[bot]"  # who writes comments with the workflow's GITHUB_TOKEN
STEP_FAILED = "a step failed (AWS or GitHub refused the request or could not be reached)"


class StepFailed(CliError):
    """A remote service refused or could not be reached: exit 1, as in the other tools."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_FAILED)


def read_json(path: str) -> Any:
    """Parse a JSON file ('-' for stdin); an InputError names the file and what is wrong."""
    name = "stdin" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not a JSON file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{name}: cannot read it ({error.__class__.__name__})") from None
    if not text.strip():
        raise InputError(f"{name}: is empty; did the command that writes it fail?")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{name}: not JSON ({error.msg} at line {error.lineno} column {error.colno})") from None


def _non_negative_usd(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount in USD such as 100 or 250.50") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"{text!r} must be zero or more")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date such as 2026-12-01") from None


def _bytes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of bytes") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be zero (no limit) or more")
    return value


def build_parser() -> Parser:
    parser = Parser(prog=f"python -m {TOOL}", description="Monthly AWS cost of a Pulumi change, Spot-aware.",
                    epilog=exit_codes(STEP_FAILED, budget=True))
    commands = parser.add_subparsers(dest="command", metavar="command", required=True, parser_class=Parser,
                                     title="commands (each has its own --help)")
    report_codes = exit_codes(None, budget=True)

    def report_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--format", choices=sorted(RENDERERS), help="output format (default: table)")
        command.add_argument("--json", action="store_true", help="print JSON on stdout (the same as --format json)")
        command.add_argument("--region", help="region for resources whose AWS provider names none")
        command.add_argument("--prices", type=Path, help="price snapshot JSON (default: the newest in cost/prices/)")
        command.add_argument("--fail-above", type=_non_negative_usd, metavar="USD",
                             help="exit 3 when the monthly increase is above USD")
        command.add_argument("--fail-above-max", type=_non_negative_usd, metavar="USD",
                             help="exit 3 when the monthly increase with every node group at its max size is above USD")
        command.add_argument("--allow-unpriced", action="store_true",
                             help="let the gates pass a change with resources that could not be priced (they fail them otherwise)")
        command.add_argument("--usage", type=Path, metavar="FILE",
                             help="usage file (YAML, see cost-usage.example.yml): average node counts, S3, NAT and S3 traffic, logs")
        command.add_argument("--as-of", type=_day, metavar="YYYY-MM-DD",
                             help="day whose EKS support phase prices the control plane (default: today, UTC)")
        command.add_argument("--max-bytes", type=_bytes, default=GITHUB_COMMENT_LIMIT, metavar="N",
                             help=f"markdown only: fit the comment in N bytes, leaving out the smallest rows (default {GITHUB_COMMENT_LIMIT:,}, "
                                  "GitHub's comment limit; 0: everything)")

    diff = commands.add_parser("diff", help="before/after/delta of a preview, or of two offline plans",
                               description="Before/after/delta of a preview, or of two offline plans.", epilog=report_codes)
    diff.add_argument("files", nargs="+", metavar="FILE",
                      help="PREVIEW.json (pulumi preview --json --show-sames) or BASE.json HEAD.json (python -m infra.plan --json)")
    report_options(diff)

    estimate = commands.add_parser(
        "estimate", help="monthly cost of one plan or preview (its after side), or of a stack file planned offline",
        description="Monthly cost of one plan or preview (its after side), or of a stack planned offline\n"
                    "(as python -m infra.plan does) from its Pulumi.NAME.yaml.", epilog=report_codes)
    estimate.add_argument("file", metavar="FILE", nargs="?",
                          help="PLAN.json (python -m infra.plan --json) or PREVIEW.json; or give --stack/--stack-file")
    add_offline_stack_arguments(estimate)
    add_quiet(estimate)
    report_options(estimate)

    refresh = commands.add_parser("refresh-prices", help="write a new dated snapshot from the AWS Pricing and EC2 APIs",
                                  description="Write a new dated price snapshot from the AWS Pricing and EC2 APIs.",
                                  epilog=exit_codes(STEP_FAILED))
    refresh.add_argument("--region", action="append", dest="regions", metavar="REGION",
                         help="region to refresh (repeatable; default: every region of the current snapshot)")
    refresh.add_argument("--prices-dir", type=Path, default=PRICES_DIR, help="where snapshots live (default: cost/prices)")
    refresh.add_argument("--force", action="store_true", help="replace today's snapshot if it already exists")
    refresh.add_argument("--spot", action="store_true",
                         help="measure Spot prices from the EC2 Spot price history of the last 30 days (else they are carried over)")

    comment = commands.add_parser("comment", help="create or update the pull request's cost comment (GitHub API)",
                                  description="Create or update the pull request's cost comment (GitHub API).",
                                  epilog=exit_codes(STEP_FAILED))
    comment.add_argument("body", metavar="BODY.md", nargs="?", help="the markdown from `diff --format markdown`")
    comment.add_argument("--failure", metavar="REASON",
                         help="replace the comment with a note that the cost check failed (no BODY.md)")
    comment.add_argument("--run-url", help="link to the failed run in the failure note (default: from GITHUB_SERVER_URL, GITHUB_RUN_ID)")
    comment.add_argument("--pr", type=int, required=True, help="pull request number")
    comment.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY"), help="OWNER/NAME (default: $GITHUB_REPOSITORY)")
    comment.add_argument("--author", default=os.environ.get("COST_COMMENT_AUTHOR", DEFAULT_AUTHOR),
                         help=f"login whose marked comment is updated (default: $COST_COMMENT_AUTHOR or {DEFAULT_AUTHOR}, the workflow token's)")
    return parser


def _stack_plan(args: argparse.Namespace) -> dict[str, Any]:
    """The offline plan of `--stack NAME` / `--stack-file PATH` (infra.plan under Pulumi's mocks)."""
    from infra.plan import plan_stack

    with progress(args.quiet) as shown:
        return plan_stack(args.stack, args.stack_file, shown).plan.as_json()


def _changes(args: argparse.Namespace) -> tuple[list[Any], str]:
    if args.command == "estimate" and args.file is None:
        name = str(args.stack_file or f"Pulumi.{args.stack}.yaml")
        return estimate_changes(changes_from_plans({}, plan_states(_stack_plan(args), name, args.region))), "estimate"
    if args.command == "estimate":
        document = read_json(args.file)
        kind = document_kind(document)
        if kind == "preview":
            return estimate_changes(changes_from_preview(document, args.file, args.region)), "estimate"
        if kind == "plan":
            return estimate_changes(changes_from_plans({}, plan_states(document, args.file, args.region))), "estimate"
        raise InputError(f"{args.file}: neither a preview (`steps`) nor an offline plan (`resources`)")
    if len(args.files) > 2:
        raise InputError("diff takes PREVIEW.json, or BASE.json HEAD.json")
    documents = [read_json(path) for path in args.files]
    kinds = [document_kind(d) for d in documents]
    if len(documents) == 1:
        if kinds[0] == "plan":
            raise InputError(f"{args.files[0]}: one offline plan has nothing to compare; pass BASE.json HEAD.json, or use `estimate`")
        if kinds[0] != "preview":
            raise InputError(f"{args.files[0]}: no `steps`; pass what `pulumi preview --json --show-sames` prints")
        return changes_from_preview(documents[0], args.files[0], args.region), "diff"
    for path, kind in zip(args.files, kinds, strict=True):
        if kind != "plan":
            raise InputError(f"{path}: diff of two files needs two offline plans (`python -m infra.plan --json`)")
    base = plan_states(documents[0], args.files[0], args.region)
    head = plan_states(documents[1], args.files[1], args.region)
    return changes_from_plans(base, head), "diff"


@contextmanager
def batch_gc() -> Iterator[None]:
    """Collect garbage less often while a report is built: a 10,000-step preview makes millions of
    small objects, and CPython's default thresholds then spend a growing share of the time in the
    collector (mypy's build tunes the same way: gc.set_threshold(200 * 1000, 30, 30))."""
    previous = gc.get_threshold()
    gc.set_threshold(200_000, 30, 30)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def gate_failures(report: CostReport, args: argparse.Namespace) -> list[str]:
    """One line per tripped gate: the increase, the increase at max size, unpriced changes."""
    failures = []
    if args.fail_above is not None and report.delta > args.fail_above:
        failures.append(f"budget: the monthly increase {signed(report.delta)} is above --fail-above ${args.fail_above:,.2f}")
    if args.fail_above_max is not None and report.delta_at_max > args.fail_above_max:
        failures.append(f"budget: the monthly increase at max size {signed(report.delta_at_max)} is above "
                        f"--fail-above-max ${args.fail_above_max:,.2f}")
    gated = args.fail_above is not None or args.fail_above_max is not None
    if gated and report.unpriced_changes and not args.allow_unpriced:
        names = ", ".join(r.name for r in report.unpriced_changes[:5]) + (", …" if len(report.unpriced_changes) > 5 else "")
        failures.append(f"budget: {len(report.unpriced_changes)} changed resources could not be priced ({names}), so the gate "
                        "cannot see their cost; price them or pass --allow-unpriced")
    return failures


def _report_format(args: argparse.Namespace) -> str:
    """--json is --format json; the two may agree, never disagree."""
    if args.json and args.format not in (None, "json"):
        raise CliError(f"--json prints JSON; drop --format {args.format} or --json")
    return "json" if args.json else args.format or "table"


def _estimate_source(args: argparse.Namespace) -> None:
    given = [flag for flag, value in (("FILE", args.file), ("--stack", args.stack), ("--stack-file", args.stack_file))
             if value is not None]
    if len(given) != 1:
        raise CliError(f"estimate takes one of FILE, --stack NAME or --stack-file PATH (got {', '.join(given) or 'none'})")


def run_report(args: argparse.Namespace) -> int:
    from cost.usage import load_usage

    args.format = _report_format(args)
    if args.command == "estimate":
        _estimate_source(args)

    snapshot = load_snapshot(args.prices)
    usage = load_usage(args.usage) if args.usage is not None else None
    context = PricingContext(on=args.as_of or datetime.now(timezone.utc).date())
    with batch_gc():
        changes, mode = _changes(args)
        report = build_report(changes, snapshot, mode, context, usage)
        if args.format == "markdown":
            text = render_markdown(report, args.max_bytes or None)
        else:
            text = RENDERERS[args.format](report)
    sys.stdout.write(text)
    failures = gate_failures(report, args)
    for failure in failures:
        print(failure, file=sys.stderr)  # the gate's verdict, one line each (the workflow shows the first)
    return EXIT_BUDGET if failures else EXIT_OK


def run_refresh(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    from cost.refresh import PRICING_REGION, RefreshError, refreshed_snapshot
    from infra.instance_types import INSTANCE_TYPES

    previous_path = latest_snapshot_path(args.prices_dir)
    load_snapshot(previous_path)  # refuse to build on a snapshot the loader would refuse
    previous = json.loads(previous_path.read_text())
    now = datetime.now(timezone.utc)
    target = args.prices_dir / f"aws-{now.date().isoformat()}.json"
    if target.exists() and not args.force:
        raise InputError(f"{target.name} already exists; pass --force to replace it")
    regions = args.regions or sorted(previous["regions"])
    types = sorted(set(INSTANCE_TYPES) | {t for r in previous["regions"].values() for t in r["onDemandHour"]})
    try:
        pricing = boto3.client("pricing", region_name=PRICING_REGION)
        ec2_for = (lambda region: boto3.client("ec2", region_name=region)) if args.spot else None
        document, warnings = refreshed_snapshot(previous, regions, types, pricing, ec2_for, now)
    except NoCredentialsError:
        raise InputError("no AWS credentials: set a profile or AWS_* variables (needs pricing:GetProducts, "
                         "and ec2:DescribeSpotPriceHistory with --spot)") from None
    except ClientError as error:
        info = error.response.get("Error", {})
        raise StepFailed(f"AWS refused {error.operation_name}: {info.get('Code')}: {info.get('Message')}") from None
    except BotoCoreError as error:
        raise StepFailed(f"refresh-prices: {str(error).splitlines()[0]}") from None
    except RefreshError as error:
        raise InputError(f"refresh-prices: {str(error).splitlines()[0]}") from None
    snapshot_from_json(document, target.name)  # never write a snapshot the loader would refuse
    target.write_text(json.dumps(document, indent=2) + "\n")
    for warning in warnings:
        print_warning(TOOL, warning)
    spot = "Spot measured over 30 days" if args.spot else "Spot carried over"
    print(f"wrote {target} (regions {', '.join(regions)}; {spot}; previous snapshot {previous_path.name} kept)")
    return EXIT_OK


def _run_url(args: argparse.Namespace) -> str | None:
    if args.run_url:
        return str(args.run_url)
    server, repo, run = (os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server.rstrip('/')}/{repo}/actions/runs/{run}" if server and repo and run else None


def run_comment(args: argparse.Namespace) -> int:
    from cost.comment import GitHubError, upsert_comment

    api_url = os.environ.get("GITHUB_API_URL")
    token = os.environ.get("GITHUB_TOKEN")
    if (args.body is None) == (args.failure is None):
        raise InputError("comment takes BODY.md, or --failure REASON for the failure note, not both")
    if not api_url:
        raise InputError("GITHUB_API_URL is not set; GitHub Actions sets it, elsewhere export your API base URL")
    if not token:
        raise InputError("GITHUB_TOKEN is not set; pass the workflow's token in the step's env")
    if not args.repo:
        raise InputError("no repository: pass --repo OWNER/NAME or set GITHUB_REPOSITORY")
    if args.failure is not None:
        body = render_failure_note(args.failure, _run_url(args))
    else:
        try:
            body = Path(args.body).read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"{args.body}: cannot read it ({error.__class__.__name__})") from None
        if not body.lstrip().startswith(MARKER):
            raise InputError(f"{args.body}: does not start with {MARKER}; write it with `python -m cost diff --format markdown`")
    try:
        result = upsert_comment(api_url, args.repo, args.pr, token, body, MARKER, args.author)
    except GitHubError as error:
        raise StepFailed(str(error)) from None
    except ValueError as error:
        raise InputError(str(error)) from None
    print(f"{result.action} comment {result.comment_id} {result.url}".rstrip())
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    from infra.plan import StackFileError
    from infra.settings import ConfigError

    try:
        args = build_parser().parse_args(argv)
        if args.command == "refresh-prices":
            return run_refresh(args)
        if args.command == "comment":
            return run_comment(args)
        return run_report(args)
    except CliError as error:
        print_error(TOOL, error)
        return error.exit_code
    except (InputError, SnapshotError, RegionNotInSnapshot, MissingRegion, CalendarError, StackFileError) as error:
        print_error(TOOL, error)
        return EXIT_BAD_INPUT
    except ConfigError as error:  # the stack file of --stack/--stack-file is invalid, as in infra.plan
        print_error(TOOL, error)
        return EXIT_FAILED
