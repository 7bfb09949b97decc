"""Watermarks advance over contiguous ranges only; gaps wait in pending."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from storage.watermarks import advance


def test_contiguous_ranges_advance() -> None:
    assert advance(-1, [], [(0, 9), (10, 19)]) == (19, [])


def test_gap_waits_until_filled_then_merges() -> None:
    through, pending = advance(-1, [], [(0, 9), (20, 29)])
    assert (through, pending) == (9, [[20, 29]])
    through, pending = advance(through, pending, [(30, 39)])
    assert (through, pending) == (9, [[20, 39]])  # adjacent spans kept as one
    assert advance(through, pending, [(10, 19)]) == (39, [])


def test_re_sent_and_overlapping_ranges_are_harmless() -> None:
    assert advance(19, [], [(0, 9), (10, 19)]) == (19, [])
    assert advance(19, [], [(15, 25)]) == (25, [])


@given(st.permutations(list(range(12))))
def test_any_arrival_order_ends_at_the_top(order: list[int]) -> None:
    through, pending = -1, []
    for i in order:
        through, pending = advance(through, pending, [(i * 10, i * 10 + 9)])
    assert (through, pending) == (119, [])


def test_pending_spans_stay_merged_while_a_gap_is_open() -> None:
    """A re-sent or duplicate batch, and batches stored one after another behind a gap,
    must not pile up in ``pending`` (it grew by a span per batch, duplicates included)."""
    through, pending = advance(9, [], [(20, 29), (30, 39), (20, 29), (45, 49)])
    assert (through, pending) == (9, [[20, 39], [45, 49]])
    through, pending = advance(through, pending, [(40, 44), (30, 39)])
    assert (through, pending) == (9, [[20, 49]])
    assert advance(through, pending, [(10, 19)]) == (49, [])
