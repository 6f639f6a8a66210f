"""The executor-shape figure: computed from the real sizing code and the price snapshot."""

from __future__ import annotations

from bench.executor_shape import measure


def test_figure_compares_slots_on_the_same_node_and_states_its_price_basis() -> None:
    """Same node, same Spot price: the cost ratio is the inverse of the task-slot ratio, and the
    details name the snapshot file the price came from."""
    [figure] = measure(quick=True)
    details = figure.details
    assert details["default"]["taskSlots"] > details["blogPost"]["taskSlots"] > 0
    assert abs(figure.value - details["blogPost"]["taskSlots"] / details["default"]["taskSlots"]) < 1e-9
    assert details["priceBasis"].startswith("aws-") and details["spotNodeHourUsd"] > 0
