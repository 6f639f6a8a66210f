"""The EKS support calendar: one dated file read by settings and the cost estimator."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from cost.calendar import CalendarError, load_calendar, newest_calendar_path


def test_phases_follow_the_documented_lifecycle() -> None:
    """AWS docs "Understand the Kubernetes version lifecycle on EKS": 14 months of standard
    support from release, then 12 months of extended support; 1.34's standard support ends
    2026-12-02 (endoflife.date/amazon-eks)."""
    calendar = load_calendar()
    v134 = calendar.get("1.34")
    assert v134 is not None
    assert v134.phase(date(2026, 12, 1)) == "standard"
    assert v134.phase(date(2026, 12, 2)) == "extended"
    assert v134.phase(date(2027, 12, 2)) == "ended"
    for support in calendar.versions.values():
        months_standard = (support.end_of_standard - support.released).days / 30.4
        months_extended = (support.end_of_extended - support.end_of_standard).days / 30.4
        assert 13 <= months_standard <= 15, support
        assert 11.5 <= months_extended <= 12.5, support


def test_in_standard_support_lists_oldest_first() -> None:
    calendar = load_calendar()
    assert calendar.in_standard_support(date(2026, 12, 1)) == ["1.34", "1.35"]
    assert calendar.in_standard_support(date(2026, 12, 2)) == ["1.35"]


def test_the_file_is_dated_and_sourced() -> None:
    document = json.loads(newest_calendar_path().read_text())
    assert document["date"] and "kubernetes-versions" in document["source"]


def test_a_broken_file_is_one_line_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "eks-support-2030-01-01.json"
    broken.write_text(json.dumps({"date": "2030-01-01", "source": "x", "versions": {"1.40": {"released": "soon"}}}))
    with pytest.raises(CalendarError, match=r"^eks-support-2030-01-01\.json: not a usable"):
        load_calendar(broken)
