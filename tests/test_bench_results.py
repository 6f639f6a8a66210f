"""`python -m bench --quick` never writes the tracked bench/results.json; only a full run does.

The suites are replaced by one made-up figure, so the test is about where results go, not
about what the figures measure (tests/test_bench_diff_figure.py runs the real quick suites).
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

import bench.__main__ as bench_main
from bench.figures import Figure


def _one_figure_suite() -> types.ModuleType:
    suite = types.ModuleType("one_figure", "A made-up figure.")
    suite.measure = lambda quick: [Figure("made-up figure", 1.0, "×", "≤ 2×", True, {"quick": quick})]  # type: ignore[attr-defined]
    return suite


@pytest.fixture
def tracked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the tracked bench/results.json, holding a full run's figures and the drill's."""
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"quick": False, "figures": [{"name": "from the last full run"}], "drill": {"graceSeconds": 5}}))
    monkeypatch.setattr(bench_main, "RESULTS", results)
    monkeypatch.setattr(bench_main, "SUITES", (_one_figure_suite(),))
    return results


def test_quick_writes_no_results_and_says_so(tracked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--quick without --output leaves the tracked file byte for byte and says where nothing went."""
    before = tracked.read_bytes()
    assert bench_main.main(["--quick"]) == 0
    assert tracked.read_bytes() == before
    out = capsys.readouterr().out
    assert "made-up figure" in out
    assert "quick run: results not written (bench/results.json is updated only by a full run; --output FILE keeps them)" in out


def test_quick_with_output_writes_there_only(tracked: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--quick --output FILE (what CI does) writes FILE, marked quick, and leaves the tracked file alone;
    the message names FILE as it was given."""
    before = tracked.read_bytes()
    elsewhere = tmp_path / "quick.json"
    assert bench_main.main(["--quick", "--output", str(elsewhere)]) == 0
    assert tracked.read_bytes() == before
    document = json.loads(elsewhere.read_text())
    assert document["quick"] is True and document["figures"][0]["details"] == {"quick": True}
    assert f"wrote {elsewhere};" in capsys.readouterr().out


def test_full_run_updates_the_tracked_results_and_keeps_the_drill(tracked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --quick the default output is bench/results.json: its figures are replaced, the
    drill's kept, and the message names it relative to the project."""
    assert bench_main.main([]) == 0
    document = json.loads(tracked.read_text())
    assert document["quick"] is False
    assert [figure["name"] for figure in document["figures"]] == ["made-up figure"]
    assert document["drill"] == {"graceSeconds": 5}
    assert "wrote bench/results.json;" in capsys.readouterr().out


def test_json_prints_the_document_and_keeps_stdout_pure(tracked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the results document on stdout (no table); the note goes to stderr."""
    assert bench_main.main(["--quick", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["figures"][0]["name"] == "made-up figure"
    assert captured.err.startswith("quick run: results not written")
