"""Figure 5 runs: the submitter's work is timed and one real spark-submit reaches the recorder."""

from __future__ import annotations

import pytest

from bench import submit_figure

pytestmark = pytest.mark.jvm  # starts Spark JVMs: scheduled first (tests/conftest.py)


def test_submit_figure_times_the_overhead_and_a_real_submission() -> None:
    """Quick mode: ten timed runs and one cluster submission that posts the driver Pod."""
    [figure] = submit_figure.measure(quick=True)
    assert figure.details["runs"] == 10
    assert figure.details["sparkSubmitExitCode"] == 0
    assert figure.details["driverPodPosted"] is True
