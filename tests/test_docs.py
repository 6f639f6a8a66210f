"""The user-facing docs stay short, linked, jargon-free and true to the code.

README.md is the short guide (what it is, what it costs, the two commands, the quick start);
docs/*.md are the reference pages it links. These tests hold them to that: the README's size,
links and anchors that resolve, words a new user would not know, the exact commands the README
promises, every `python -m` command shown parsing with the CLI as it is now, the cost figures the
README prints against what the cost tool computes, and the benchmark table against
bench/results.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import shlex
from pathlib import Path
from typing import Any, Callable

import pytest

import cli_common

from cost.inputs import changes_from_plans, plan_states
from cost.report import build_report
from cost.snapshot import latest_snapshot_path, load_snapshot
from tests.infra_plans import stack_plan

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
PAGE_IDS = [page.relative_to(ROOT).as_posix() for page in PAGES]
# The README's budget: a first screen and a quick start, not a manual.
README_MAX_BYTES = 15_000

BLOG_TITLE = "Running cost optimized Spark workloads on Kubernetes using EC2 Spot Instances"
BLOG_URL = "https://aws.amazon.com/blogs/compute/running-cost-optimized-spark-workloads-on-kubernetes-using-ec2-spot-instances/"
# Words of the project's own making that a reader cannot know: the design's source is "the AWS
# blog post this design follows", not "the seed"; no issue numbers or planning vocabulary.
JARGON = {
    "the seed": re.compile(r"\bseed\b", re.IGNORECASE),
    "issue N": re.compile(r"\bissues? ?#?\d+", re.IGNORECASE),
    "rooms": re.compile(r"\brooms\b|\bper room\b", re.IGNORECASE),
    "turns": re.compile(r"\bfirst turn\b|\bthis turn\b", re.IGNORECASE),
}

SETUP_AND_TEST = (
    "python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt && .venv/bin/python -m pytest"
)
LOCAL_WORD_COUNT = ".venv/bin/python -m jobs submit examples/wordcount.yaml --local"

FENCE = re.compile(r"^(```+|~~~+)(\S*)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"(?<!!)\[(?:[^\]\n]|\n(?!\n))*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)

# `python -m MODULE`: where each CLI's `main(argv)` lives (cost/__main__.py runs on import).
ENTRY_POINTS = {
    "jobs": "jobs.__main__",
    "cost": "cost.cli",
    "infra.plan": "infra.plan",
    "infra.deploy": "infra.deploy",
    "policy.check": "policy.check",
    "bench": "bench.__main__",
    "bench.cost_diff": "bench.cost_diff",
}
# Modules of Python and its tools that the docs run, not the project's CLIs.
NOT_OURS = {"venv", "pip", "pytest"}


def prose(text: str) -> str:
    """The page without its fenced code blocks (links and headings there are not markdown)."""
    return FENCE.sub("", text)


def shell_blocks(text: str) -> list[str]:
    return [match.group(3) for match in FENCE.finditer(text) if match.group(2) in ("bash", "sh", "shell", "console")]


def github_slug(heading: str) -> str:
    """GitHub's heading anchor (github-slugger): markup and punctuation dropped, lower case,
    spaces to hyphens; link text kept."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found: set[str] = set()
    for match in HEADING.finditer(prose(page.read_text())):
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(page: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(prose(page.read_text()))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)  # https:, mailto:, …
    ]


def broken_link(page: Path, target: str) -> str | None:
    """Why `target`, as written on `page`, does not resolve (None when it does)."""
    path_part, _, fragment = target.partition("#")
    resolved = (page.parent / path_part).resolve() if path_part else page
    if ROOT not in resolved.parents and resolved != ROOT:
        return f"{target}: outside the repository"
    if not resolved.exists():
        return f"{target}: no such file"
    if fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
        return f"{target}: no heading #{fragment} in {resolved.relative_to(ROOT).as_posix()}"
    return None


def test_the_readme_stays_under_its_budget() -> None:
    """The README is a short guide, under 15 KB: reference material lives in docs/."""
    size = len(README.read_bytes())
    assert size < README_MAX_BYTES, f"README.md is {size} bytes; move reference material to docs/"


def test_the_readme_links_every_docs_page_and_each_link_resolves() -> None:
    """Every docs/ link in the README names a file that exists, and every page in docs/ is
    reachable from the README's reference list."""
    linked = {target.partition("#")[0] for target in relative_links(README) if target.startswith("docs/")}
    assert linked, "the README links no docs/ page"
    for target in sorted(linked):
        assert (ROOT / target).is_file(), f"README links {target}, which does not exist"
    assert {f"docs/{page.name}" for page in DOCS} <= linked, "a docs/ page the README does not link"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_relative_link_resolves(page: Path) -> None:
    """A relative link resolves from its page's folder to a file in the repository, and a
    #fragment to a heading of that page (as GitHub renders anchors)."""
    problems = [problem for target in relative_links(page) if (problem := broken_link(page, target))]
    assert problems == []


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_no_words_a_new_user_does_not_know(page: Path) -> None:
    """No "the seed", no issue numbers, no "rooms" or planning turns in user-facing docs."""
    text = page.read_text()
    found = {name: pattern.findall(text) for name, pattern in JARGON.items() if pattern.search(text)}
    assert found == {}


def test_the_blog_post_is_named_by_its_title_where_it_first_appears() -> None:
    """A page that mentions the AWS blog post this design follows links it by its title at the
    first mention, so a reader can find it (the README does, as the design's source)."""
    link = f"[{BLOG_TITLE}]({BLOG_URL})"
    mentioning = {}
    for page in PAGES:
        text = " ".join(prose(page.read_text()).split())
        first = text.lower().find("blog post")
        if first != -1:
            mentioning[page.name] = link in text[first:first + 400]
    assert mentioning.get("README.md") is True
    assert [name for name, linked in mentioning.items() if not linked] == []


def test_the_readme_shows_the_two_commands_exactly() -> None:
    """The README's two commands, character for character, each in a shell block: set up and
    test; the local word count."""
    blocks = shell_blocks(README.read_text())
    for command in (SETUP_AND_TEST, LOCAL_WORD_COUNT):
        assert any(command in block.splitlines() for block in blocks), command


class Parsed(BaseException):
    """Raised by the patched parser once argparse accepted the arguments (nothing else runs)."""


SEPARATORS = {"|", "||", "&&", ";", "&"}
REDIRECTS = {">", ">>", "<", ">&", "&>"}


def python_m_commands(page: Path) -> list[tuple[str, list[str]]]:
    """Every `python -m MODULE ARGS` in the page's shell blocks: each line split into commands at
    shell operators, redirections and comments left out."""
    commands: list[tuple[str, list[str]]] = []
    for block in shell_blocks(page.read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            words: list[str] = []
            skip_next = False
            for token in [*lexer, ";"]:
                if skip_next:
                    skip_next = False
                elif token in REDIRECTS:
                    skip_next = True  # its target is not an argument
                elif token in SEPARATORS:
                    if len(words) >= 3 and words[0].endswith(("python", "python3")) and words[1] == "-m":
                        commands.append((words[2], words[3:]))
                    words = []
                else:
                    words.append(token)
    return commands


def parse_error(main: Callable[[list[str]], Any], argv: list[str], capsys: pytest.CaptureFixture[str],
                monkeypatch: pytest.MonkeyPatch) -> str | None:
    """Run the CLI's own `main` until its parser has read `argv`; None when argparse accepted it."""
    def stopping(parse_args: Callable[..., Any]) -> Callable[..., Any]:
        def parse_then_stop(self: argparse.ArgumentParser, args: Any = None, namespace: Any = None) -> Any:
            raise Parsed(parse_args(self, args, namespace))
        return parse_then_stop

    with monkeypatch.context() as patch:
        # The project's parsers (cli_common.Parser) override parse_args; plain argparse ones do not.
        patch.setattr(argparse.ArgumentParser, "parse_args", stopping(argparse.ArgumentParser.parse_args))
        patch.setattr(cli_common.Parser, "parse_args", stopping(cli_common.Parser.parse_args))
        try:
            main(argv)
        except Parsed:
            return None
        except SystemExit as stop:
            return f"exit {stop.code}: {capsys.readouterr().err.strip()}"
    return f"returned before parsing: {capsys.readouterr().err.strip()}"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_python_m_command_shown_parses(page: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Each `python -m` command in a shell block is accepted by that CLI's argparse parser as the
    code defines it today: a renamed flag or subcommand fails here, not in a reader's terminal."""
    problems = []
    for module, argv in python_m_commands(page):
        if module in NOT_OURS:
            continue
        assert module in ENTRY_POINTS, f"{page.name}: `python -m {module}`: add its entry point to ENTRY_POINTS"
        main = importlib.import_module(ENTRY_POINTS[module]).main
        if (problem := parse_error(main, argv, capsys, monkeypatch)) is not None:
            problems.append(f"python -m {module} {shlex.join(argv)} → {problem}")
    assert problems == []


def money(value: float) -> str:
    return f"${value:,.2f}"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_readme_cost_figures_are_the_cost_tools(stack: str) -> None:
    """The README's idle and at-max monthly figures per stack are what `python -m infra.plan
    --stack S --json | python -m cost estimate -` gives with the newest price snapshot (the same
    plan and pricing code, in process), and the README names that snapshot."""
    plan = stack_plan(stack).as_json()
    report = build_report(changes_from_plans({}, plan_states(plan)), load_snapshot(), "estimate")
    readme = README.read_text()
    row = next((line for line in readme.splitlines() if line.startswith(f"| {stack} (")), None)
    assert row is not None, f"no cost row for {stack} in the README"
    idle, at_max = money(report.total_after), money(report.total_after_at_max)
    assert f"**{idle}**" in row and at_max in row, (row, idle, at_max)
    assert f"`cost/prices/{latest_snapshot_path().name}`" in readme
    if stack == "dev":
        assert f"about {money(report.total_after / 730)}" in readme  # an idle hour


def test_the_benchmark_table_is_the_tracked_run() -> None:
    """docs/benchmarks.md's table shows each figure of bench/results.json with its value (3
    significant digits) and PASS/FAIL, in the row named by the figure's name up to its colon."""
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    run = page[page.index("\n## Latest full run\n"):]
    run = run[:run.index("\n## ", 1)]
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in run.splitlines() if line.startswith("| ")}
    assert results["date"] in run
    for figure in results["figures"]:
        label = figure["name"].split(":")[0]
        assert label in rows, f"no row for {label}"
        cells = [cell.strip() for cell in rows[label].strip("|").split(" | ")]
        value = f"{figure['value']:.3g}"
        assert cells[2] in (f"{value}{figure['unit']}", f"{value} {figure['unit']}"), (label, cells[2], value)
        assert cells[4] == ("PASS" if figure["passed"] else "FAIL"), label
