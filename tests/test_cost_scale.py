"""Big previews: the comment fits GitHub's limit (issue 13, item 9) and the work grows linearly (item 10).

GitHub refuses a comment over 65,536 characters with HTTP 422 "Body is too long (maximum is
65536 characters)" (danger/danger#424, telia-oss/github-pr-resource#259; shared field notes).
The comment is measured in UTF-8 bytes, never fewer than characters. Linearity is asserted by
counting operations, never by timing (timing is bench/diff_figure.py's figure 7).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

import cost.report
from bench.cost_diff import generate_preview
from cost.inputs import changes_from_preview, urn_parts
from cost.render import ARTIFACT_HINT, GITHUB_COMMENT_LIMIT, MARKER, render_markdown
from cost.report import CostReport, ResourceCost, build_report
from tests.cost_helpers import context, snapshot
from tests.github_recorder import BOT, REPO, GitHubRecorder, github  # noqa: F401  (github is a fixture)


def report_of_steps(steps: int) -> CostReport:
    return build_report(changes_from_preview(generate_preview(steps), "bench"), snapshot(), "diff", context())


@pytest.fixture(scope="module")
def big() -> CostReport:
    return report_of_steps(1000)


def test_a_1000_step_comment_fits_and_keeps_the_totals_and_biggest_changes(big: CostReport) -> None:
    """The old renderer wrote 82,008 characters for this preview (94,228 for the issue's) and the
    post failed with 422. Now: within the limit, headline totals first, the ten biggest changes in
    the open, the rest in collapsible sections, and a line saying what was left out and where it is."""
    full = render_markdown(big, limit=None)
    body = render_markdown(big)
    assert len(full.encode()) > GITHUB_COMMENT_LIMIT  # the preview really is too big for one comment
    assert len(body.encode()) <= GITHUB_COMMENT_LIMIT
    lines = body.splitlines()
    assert lines[0] == MARKER and lines[1].startswith("### Monthly cost: $")
    assert lines[1] == full.splitlines()[1]  # the same totals as the full report
    table = lines.index("| Resource | What (nodes min/desired/max) | Change | Before | After | Delta | Delta at max size |")
    top = lines[table + 2: table + 12]
    assert len(top) == 10 and all(row.startswith("| `") for row in top)
    changed = [r for r in big.resources if r.changed and r.category in ("fixed", "unpriced")]
    biggest = min(changed, key=lambda r: (-max(abs(r.delta or 0), abs(r.delta_at_max or 0)), r.name, r.urn))
    assert top[0].startswith(f"| `{biggest.name}` |")
    assert f"<details><summary>{len(changed) - 10:,} more changed resources</summary>" in body
    note = lines[-1]
    assert note.startswith("*Left out to fit GitHub's 65,536-character comment limit: ") and ARTIFACT_HINT in note
    assert "node groups" in note  # the min/max table goes first


def test_rows_are_left_out_only_past_the_limit(big: CostReport) -> None:
    """A comment under the limit is whole; a smaller limit leaves out more rows, counting them."""
    small = report_of_steps(60)
    body = render_markdown(small)
    assert "left out to fit" not in body and body == render_markdown(small, limit=None)
    tight = render_markdown(big, limit=30_000)
    assert len(tight.encode()) <= 30_000 and "changed resources left out to fit" in tight


def test_the_fitted_comment_is_accepted_by_the_api(big: CostReport, github: GitHubRecorder) -> None:
    """Posted to the loopback API, which answers 422 above the limit like GitHub: it is created."""
    from cost.comment import upsert_comment

    result = upsert_comment(github.base, REPO, 7, "ghs_token", render_markdown(big), MARKER, BOT)
    assert result.action == "created"


def test_rendering_never_compares_resources_for_equality(big: CostReport, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old renderer filtered with `r not in shown` on a list: one dataclass comparison per pair,
    quadratic. Every membership test is now by identity in a set."""
    calls = Counter[str]()
    original = ResourceCost.__eq__

    def counting_eq(self: ResourceCost, other: Any) -> Any:
        calls["eq"] += 1
        return original(self, other)

    monkeypatch.setattr(ResourceCost, "__eq__", counting_eq)
    render_markdown(big)
    assert calls["eq"] == 0


@pytest.mark.parametrize("steps", [500])
def test_matching_components_to_children_is_linear(steps: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old matcher rebuilt the component dictionary for every child and scanned all components:
    URN parsing grew with children × components. Counted for n and 4n steps, it now grows 4×."""
    calls = Counter[int]()

    def counted(urn: str) -> tuple[str, str]:
        calls[0] += 1
        return urn_parts(urn)

    monkeypatch.setattr(cost.report, "urn_parts", counted)
    counts = []
    for size in (steps, 4 * steps):
        calls.clear()
        changes = changes_from_preview(generate_preview(size), "bench")
        build_report(changes, snapshot(), "diff", context())
        counts.append(calls[0])
    assert counts[0] > 0
    assert counts[1] <= 4.5 * counts[0], counts


def test_generated_preview_is_a_show_sames_preview_with_components() -> None:
    """The benchmark's preview has pulumi-eks components with children and a matching changeSummary."""
    document = generate_preview(1000)
    ops = Counter(step["op"] for step in document["steps"])
    assert document["changeSummary"]["same"] == ops["same"]
    types = Counter(step["urn"].split("::")[2].rsplit("$", 1)[-1] for step in document["steps"])
    assert types["eks:index:ManagedNodeGroup"] >= 100 and types["eks:index:ManagedNodeGroup"] == sum(
        1 for step in document["steps"] if "$eks:index:ManagedNodeGroup$aws:eks/nodeGroup:NodeGroup::" in step["urn"])
    assert json.loads(json.dumps(document)) == document
