"""One batch from gathered rows: input_ids, labels, position_ids, cu_seqlens, max_seqlen (numpy, no torch).

Whole-array numpy: segment starts come from one cumsum, positions from one `repeat`, labels from two masked
writes; no loop over rows or tokens. Worked example (spec), L = 8, row A = documents of 3 and 4 tokens, B = one of 8:
```text
padded: doc_lens A=[3,4,1(pad)] B=[8]   cu_seqlens=[0,3,7,8,16]   max_seqlen=8
        position_ids A=[0,1,2,0,1,2,3,0]  B=[0..7]
        labels A=[-100,a1,a2,-100,a4,a5,a6,-100]  B=[-100,b1,...,b7]
flat:   input_ids [1,15]  cu_seqlens=[0,3,7,15]  max_seqlen=8
```
`label_shift: loader` is the model-mode labels moved left by one (labels[t] = labels_model[t + 1], last = -100):
a segment's first token is already -100 in model mode, so no target ever crosses a segment or a row.
"""
from __future__ import annotations

import numpy as np

from packing.loader.config import LabelShift, Layout, LoaderConfig
from packing.loader.source import RowBlock, ShardError

__all__ = ["IGNORE_INDEX", "build_batch"]

IGNORE_INDEX = -100
"""Label of a token that takes no loss (torch CrossEntropyLoss's default ignore_index)."""


def _segment_starts(seg_lens: np.ndarray) -> np.ndarray:
    """cu_seqlens as int64: [0, *cumsum(seg_lens)]."""
    cu = np.zeros(len(seg_lens) + 1, dtype=np.int64)
    np.cumsum(seg_lens, out=cu[1:])
    return cu


def _labels(ids: np.ndarray, seg_start_pos: np.ndarray, ignore: np.ndarray | None, shift: LabelShift) -> np.ndarray:
    """Model-mode labels (ids with -100 at segment starts and `ignore`), shifted left by one for loader mode."""
    labels = ids.copy()
    labels[seg_start_pos] = IGNORE_INDEX
    if ignore is not None:
        labels[ignore] = IGNORE_INDEX
    if shift == LabelShift.LOADER:
        shifted = np.empty_like(labels)
        shifted[:-1] = labels[1:]
        shifted[-1:] = IGNORE_INDEX
        return shifted
    return labels


def build_batch(rows: RowBlock, config: LoaderConfig, row_tokens: int | None = None) -> dict[str, np.ndarray | int]:
    """The batch of `rows` in `config.layout`; int64 ids/labels/positions, int32 cu_seqlens, int max_seqlen.

    flat: input_ids/labels/position_ids (1, T), cu_seqlens (S + 1,) over every segment, ending at T.
    padded: (B, L) with L = `row_tokens` (or the longest row); each row's padding is one extra segment, so
    cu_seqlens ends at B * L. A row longer than L raises. Zero rows give T = 0 (or B = 0) and cu_seqlens = [0].
    Zero-length segments are dropped from cu_seqlens (they would repeat a boundary).
    """
    ids_in = rows.input_ids
    n_tokens = len(ids_in)
    seg = rows.doc_lens[rows.doc_lens > 0] if (rows.doc_lens <= 0).any() else rows.doc_lens
    if int(seg.sum()) != n_tokens:
        raise ShardError(f"gathered rows hold {n_tokens} tokens but their doc_lens sum to {int(seg.sum())}: a "
                         "shard breaks sum(doc_lens) == len(input_ids) (run `carding validate`)")
    ignore_mask = None if rows.loss_mask is None else ~rows.loss_mask
    if config.layout == Layout.FLAT:
        cu = _segment_starts(seg)
        ids = ids_in.astype(np.int64)
        if config.reset_position_ids:
            positions = np.arange(n_tokens, dtype=np.int64) - np.repeat(cu[:-1], seg)
        else:
            row_cu = _segment_starts(rows.row_lens)
            positions = np.arange(n_tokens, dtype=np.int64) - np.repeat(row_cu[:-1], rows.row_lens)
        labels = _labels(ids, cu[:-1], ignore_mask, config.label_shift)
        return {"input_ids": ids[None, :], "labels": labels[None, :], "position_ids": positions[None, :],
                "cu_seqlens": cu.astype(np.int32), "max_seqlen": int(seg.max()) if len(seg) else 0}

    n_rows = len(rows.row_lens)
    L = int(row_tokens) if row_tokens else int(rows.row_lens.max(initial=0))
    if n_rows and int(rows.row_lens.max()) > L:
        raise ShardError(f"a row holds {int(rows.row_lens.max())} tokens, more than the padded width L = {L} "
                         "(manifest row_tokens)")
    # destination of each stored token in the (B, L) grid: row r's token i -> r * L + i
    row_cu = _segment_starts(rows.row_lens)
    dest = np.arange(n_tokens, dtype=np.int64) + np.repeat(np.arange(n_rows, dtype=np.int64) * L - row_cu[:-1],
                                                           rows.row_lens)
    ids = np.full(n_rows * L, config.pad_token_id, dtype=np.int64)
    ids[dest] = ids_in
    # segments per row, then that row's padding segment: merge by a stable sort on (row, is_pad)
    pad = L - rows.row_lens
    seg_row = np.repeat(np.arange(n_rows, dtype=np.int64), rows.row_segments)
    if len(seg) != len(seg_row):  # zero-length segments were dropped above: drop their row labels too
        seg_row = seg_row[rows.doc_lens > 0]
    pad_rows = np.flatnonzero(pad > 0)
    keys = np.concatenate([seg_row * 2, pad_rows * 2 + 1])
    all_seg = np.concatenate([seg, pad[pad_rows]])[np.argsort(keys, kind="stable")]
    cu = _segment_starts(all_seg)
    ignore = np.ones(n_rows * L, dtype=bool)  # padding takes no loss; stored tokens follow loss_mask
    ignore[dest] = False if ignore_mask is None else ignore_mask
    if config.reset_position_ids:
        positions = np.arange(n_rows * L, dtype=np.int64) - np.repeat(cu[:-1], all_seg)
    else:
        positions = np.tile(np.arange(L, dtype=np.int64), n_rows)
    labels = _labels(ids, cu[:-1], ignore, config.label_shift)
    return {"input_ids": ids.reshape(n_rows, L), "labels": labels.reshape(n_rows, L),
            "position_ids": positions.reshape(n_rows, L), "cu_seqlens": cu.astype(np.int32),
            "max_seqlen": int(all_seg.max()) if len(all_seg) else 0}
