"""Best-fit / first-fit decreasing kernels against the paper's worked example and naive Python packers.

Protects: the O(log L) capacity tree picks exactly the row a naive best-fit scan picks (smallest sufficient free
space, oldest such row first), and first-fit the lowest-numbered row that fits.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from packing.best_fit import pack_lengths, split_pieces


def _rows(pieces: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    return [pieces[offsets[r]:offsets[r + 1]].tolist() for r in range(len(offsets) - 1)]


def naive_best_fit(lens: list[int], capacity: int) -> list[list[int]]:
    """Sort by (length desc, index); each piece to the row with least free space that fits, the row that has had
    that free space longest first; a new row when none fits."""
    order = sorted(range(len(lens)), key=lambda i: (-lens[i], i))
    rows: list[list[int]] = []
    free: list[int] = []
    since: list[int] = []
    for t, i in enumerate(order):
        fits = [r for r in range(len(rows)) if free[r] >= lens[i]]
        if fits:
            r = min(fits, key=lambda r: (free[r], since[r]))
        else:
            rows.append([]), free.append(capacity), since.append(t)
            r = len(rows) - 1
        rows[r].append(i)
        free[r] -= lens[i]
        since[r] = t
    return rows


def naive_first_fit(lens: list[int], capacity: int) -> list[list[int]]:
    order = sorted(range(len(lens)), key=lambda i: (-lens[i], i))
    rows: list[list[int]] = []
    free: list[int] = []
    for i in order:
        r = next((r for r in range(len(rows)) if free[r] >= lens[i]), None)
        if r is None:
            rows.append([]), free.append(capacity)
            r = len(rows) - 1
        rows[r].append(i)
        free[r] -= lens[i]
    return rows


def test_fewer_truncations_appendix_example():
    """Ding et al. 2024 App. B (OLMo-core `test_instance_packer`): L = 8, pieces 8, 6, 6, 4, 3 -> {8} {6} {6}
    {4, 3}; adding 2 and 3, the 2 joins the first 6 and the 3 opens a new row."""
    lens = np.array([8, 6, 6, 4, 3])
    assert _rows(*pack_lengths(lens, 8)) == [[0], [1], [2], [3, 4]]
    more = np.array([8, 6, 6, 4, 3, 2, 3])
    rows = _rows(*pack_lengths(more, 8))
    assert [[int(more[i]) for i in row] for row in rows] == [[8], [6, 2], [6], [4, 3], [3]]
    assert rows[1] == [1, 5]  # the 2 went to the *first* 6 (equal free space: oldest row first)


def test_split_pieces_example():
    doc, off, n = split_pieces(np.array([3, 10, 0, 8]), 4)
    assert doc.tolist() == [0, 1, 1, 1, 3, 3]
    assert off.tolist() == [0, 0, 4, 8, 0, 4]
    assert n.tolist() == [3, 4, 4, 2, 4, 4]


@settings(max_examples=150, deadline=None)
@given(capacity=st.integers(1, 40), data=st.data())
def test_best_fit_matches_naive(capacity, data):
    lens = data.draw(st.lists(st.integers(1, capacity), max_size=60))
    got = _rows(*pack_lengths(np.array(lens, dtype=np.int64), capacity))
    assert got == naive_best_fit(lens, capacity)


@settings(max_examples=150, deadline=None)
@given(capacity=st.integers(1, 40), data=st.data())
def test_first_fit_matches_naive(capacity, data):
    lens = data.draw(st.lists(st.integers(1, capacity), max_size=60))
    got = _rows(*pack_lengths(np.array(lens, dtype=np.int64), capacity, first_fit=True))
    assert got == naive_first_fit(lens, capacity)


def test_best_fit_never_worse_than_first_fit_on_web_like_lengths():
    """Both are within a hair of the lower bound on web-like lengths; the fixture must need several rows."""
    rng = np.random.default_rng(0)
    lens = np.clip(rng.lognormal(5.5, 1.2, 20_000).astype(np.int64), 1, 2048)
    bound = -(-int(lens.sum()) // 2048)
    bf = len(pack_lengths(lens, 2048)[1]) - 1
    ff = len(pack_lengths(lens, 2048, first_fit=True)[1]) - 1
    assert bound > 100
    assert bound <= bf <= ff <= bound * 1.001 + 1


def test_piece_length_out_of_range_raises():
    import pytest
    with pytest.raises(ValueError, match=r"in \[1, 8\]"):
        pack_lengths(np.array([9]), 8)
