"""One batch: the spec's worked example in both layouts and both label modes, and the invariants FlashAttention's
varlen call and the loss rely on (cu_seqlens int32 from 0 to the total, positions restart, no label crosses a
segment) on random rows."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from packing.loader.batch import IGNORE_INDEX, build_batch
from packing.loader.config import LabelShift, Layout, LoaderConfig
from packing.loader.source import RowBlock, ShardError

A = [101, 102, 103, 104, 105, 106, 107]  # a0..a6: documents of 3 and 4 tokens
B = [201, 202, 203, 204, 205, 206, 207, 208]  # b0..b7: one document of 8
X = IGNORE_INDEX


def _rows(loss_mask: np.ndarray | None = None) -> RowBlock:
    return RowBlock(input_ids=np.array(A + B, dtype=np.uint16), row_lens=np.array([7, 8]),
                    doc_lens=np.array([3, 4, 8]), row_segments=np.array([2, 1]), loss_mask=loss_mask)


def _config(layout: str, shift: str = "model", **kw) -> LoaderConfig:
    return LoaderConfig(rows_per_rank=2, layout=Layout(layout), label_shift=LabelShift(shift), **kw)


def test_worked_example_padded_model_labels() -> None:
    b = build_batch(_rows(), _config("padded"), row_tokens=8)
    assert b["cu_seqlens"].tolist() == [0, 3, 7, 8, 16] and b["cu_seqlens"].dtype == np.int32
    assert b["max_seqlen"] == 8 and type(b["max_seqlen"]) is int
    assert b["input_ids"].dtype == np.int64 and b["input_ids"].shape == (2, 8)
    assert b["input_ids"].tolist() == [A + [0], B]
    assert b["position_ids"].tolist() == [[0, 1, 2, 0, 1, 2, 3, 0], list(range(8))]
    assert b["labels"].tolist() == [[X, 102, 103, X, 105, 106, 107, X], [X] + B[1:]]


def test_worked_example_flat_model_labels() -> None:
    b = build_batch(_rows(), _config("flat"), row_tokens=8)
    assert b["input_ids"].shape == (1, 15) and b["input_ids"][0].tolist() == A + B
    assert b["cu_seqlens"].tolist() == [0, 3, 7, 15] and b["max_seqlen"] == 8
    assert b["position_ids"][0].tolist() == [0, 1, 2, 0, 1, 2, 3] + list(range(8))
    assert b["labels"][0].tolist() == [X, 102, 103, X, 105, 106, 107, X] + B[1:]


def test_worked_example_loader_shift_both_layouts() -> None:
    """labels[t] = input_ids[t + 1] inside a segment, else -100 (torchtitan / Megatron style)."""
    flat = build_batch(_rows(), _config("flat", "loader"))
    assert flat["labels"][0].tolist() == [102, 103, X, 105, 106, 107, X] + B[1:] + [X]
    padded = build_batch(_rows(), _config("padded", "loader"), row_tokens=8)
    assert padded["labels"].tolist() == [[102, 103, X, 105, 106, 107, X, X], B[1:] + [X]]


def test_loss_mask_and_no_position_reset() -> None:
    mask = np.ones(15, dtype=bool)
    mask[[1, 9]] = False  # a1 and b2 are not targets (e.g. UtK headers)
    b = build_batch(_rows(mask), _config("flat", reset_position_ids=False))
    assert b["labels"][0].tolist() == [X, X, 103, X, 105, 106, 107, X, 202, X] + B[3:]
    assert b["position_ids"][0].tolist() == list(range(7)) + list(range(8))
    shifted = build_batch(_rows(mask), _config("flat", "loader"))
    assert shifted["labels"][0].tolist() == [X, 103, X, 105, 106, 107, X, 202, X] + B[3:] + [X]


def test_empty_rank_batch_and_bad_rows() -> None:
    empty = RowBlock(np.empty(0, np.uint16), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64), None)
    flat = build_batch(empty, _config("flat"))
    assert flat["input_ids"].shape == (1, 0) and flat["cu_seqlens"].tolist() == [0] and flat["max_seqlen"] == 0
    padded = build_batch(empty, _config("padded"), row_tokens=8)
    assert padded["input_ids"].shape == (0, 8) and padded["cu_seqlens"].tolist() == [0]
    with pytest.raises(ShardError, match="more than the padded width"):
        build_batch(_rows(), _config("padded"), row_tokens=7)
    broken = RowBlock(np.arange(5, dtype=np.uint16), np.array([5]), np.array([2, 2]), np.array([2]), None)
    with pytest.raises(ShardError, match="doc_lens sum to 4"):
        build_batch(broken, _config("flat"))


@st.composite
def _row_blocks(draw):
    L = draw(st.integers(1, 24))
    n_rows = draw(st.integers(1, 6))
    lens, segs, n_segs = [], [], []
    for _ in range(n_rows):
        parts = draw(st.lists(st.integers(1, L), min_size=1, max_size=4))
        # trim the documents to fit in L
        kept, total = [], 0
        for p in parts:
            if total + p <= L:
                kept.append(p)
                total += p
        if not kept:
            kept, total = [L], L
        lens.append(total)
        segs += kept
        n_segs.append(len(kept))
    ids = np.array(draw(st.lists(st.integers(0, 65535), min_size=sum(lens), max_size=sum(lens))), dtype=np.uint16)
    mask = None if draw(st.booleans()) else np.array(draw(st.lists(st.booleans(), min_size=len(ids),
                                                                   max_size=len(ids))), dtype=bool)
    return L, RowBlock(ids, np.array(lens), np.array(segs), np.array(n_segs), mask)


@settings(max_examples=60, deadline=None)
@given(block=_row_blocks(), layout=st.sampled_from(["flat", "padded"]), shift=st.sampled_from(["model", "loader"]))
def test_batch_invariants(block, layout, shift) -> None:
    """cu_seqlens: int32, 0 ... total (T or B*L), strictly increasing; positions restart at every boundary;
    every non-ignored label is the same-segment token (model: itself, loader: the next one) and a target."""
    L, rows = block
    b = build_batch(rows, _config(layout, shift), row_tokens=L)
    ids, labels, pos = b["input_ids"].ravel(), b["labels"].ravel(), b["position_ids"].ravel()
    cu = b["cu_seqlens"]
    total = len(rows.input_ids) if layout == "flat" else len(rows.row_lens) * L
    assert cu.dtype == np.int32 and cu[0] == 0 and cu[-1] == total == len(ids)
    assert (np.diff(cu) > 0).all() and b["max_seqlen"] == int(np.diff(cu).max())
    seg_id = np.repeat(np.arange(len(cu) - 1), np.diff(cu))
    assert (pos == np.arange(total) - cu[:-1][seg_id]).all()
    # which grid positions hold stored tokens, and their loss mask
    stored = np.zeros(total, dtype=bool)
    target = np.zeros(total, dtype=bool)
    if layout == "flat":
        stored[:] = True
        target[:] = True if rows.loss_mask is None else rows.loss_mask
    else:
        starts = np.concatenate([[0], np.cumsum(rows.row_lens)])
        for r, n in enumerate(rows.row_lens):
            stored[r * L: r * L + n] = True
            target[r * L: r * L + n] = True if rows.loss_mask is None else rows.loss_mask[starts[r]:starts[r + 1]]
        assert (ids[~stored] == 0).all()
    if shift == "model":
        first = np.zeros(total, dtype=bool)
        first[cu[:-1]] = True
        expected = np.where(stored & target & ~first, ids, X)
    else:  # labels[t] = ids[t + 1] when t + 1 is a stored target in the same segment
        nxt = np.arange(1, total + 1)
        ok = np.zeros(total, dtype=bool)
        ok[:-1] = (seg_id[1:] == seg_id[:-1]) & stored[1:] & target[1:]
        expected = np.where(ok, ids[np.minimum(nxt, total - 1)], X)
    assert (labels == expected).all()
