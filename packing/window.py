"""One packing window in, rows and counts out: the single entry point the runner calls per window.

The window is the unit packed together (spec/packing.md §1.2); the runner decides membership from ids and
passes rows sorted by id, so every tie here is broken by id and the output is a function of (input, config).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from packing.best_fit import pack_lengths, split_pieces
from packing.config import PackConfig, Packer, Padding
from packing.rows import build_rows, gather_tokens, segment_ids


@dataclass(frozen=True, slots=True)
class PackResult:
    """Rows of one window and their counts.

    sequences: the DESIGN.md sequence schema (`packing.sequence_schema`); stats: plain ints/floats/dicts for the
    manifest, summed over windows with `merge_stats`.
    """

    sequences: pa.Table
    stats: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Window:
    ids: pa.Array
    values: np.ndarray  # flat tokens of every document, uint16 or uint32
    doc_start: np.ndarray  # (n_docs,) int64 index of each document's first token in values
    n_tokens: np.ndarray  # (n_docs,) int64
    token_type: pa.DataType
    token_span: tuple[int, int]  # values[a:b] holds every document's tokens in id order


def _read_window(docs: pa.Table) -> _Window:
    """Flat views of the window's columns; sorts by id when the caller did not (ties must follow ids)."""
    for name in ("id", "tokens", "n_tokens"):
        if name not in docs.column_names:
            raise ValueError(f"pack_window: input has no `{name}` column (has {docs.column_names}); expected the "
                             "tokenized schema id, tokens, n_tokens")
    ids = docs.column("id").combine_chunks()
    if len(ids) > 1 and pc.any(pc.less(ids.slice(1), ids.slice(0, len(ids) - 1))).as_py():
        docs = docs.take(pc.sort_indices(docs, sort_keys=[("id", "ascending")]))
        ids = docs.column("id").combine_chunks()
    if ids.null_count:
        raise ValueError(f"pack_window: {ids.null_count} rows have a null id; every row needs its stable id")
    if len(ids) > 1:
        same = np.flatnonzero(np.asarray(pc.equal(ids.slice(1), ids.slice(0, len(ids) - 1))))
        if len(same):
            raise ValueError(f"pack_window: id {ids[int(same[0])]} appears more than once ({len(same)} repeats); "
                             "ids must be unique, or the rows would depend on arrival order")
    column = docs.column("tokens")
    tokens = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()  # one chunk: no copy
    token_type = tokens.type.value_type
    if token_type not in (pa.uint16(), pa.uint32()):
        raise ValueError(f"pack_window: tokens are {tokens.type}; expected large_list<uint16|uint32>")
    if tokens.null_count:
        row = int(np.flatnonzero(np.asarray(tokens.is_null()))[0])
        raise ValueError(f"pack_window: row {row} (id {ids[row]}) has null tokens")
    offsets = np.asarray(tokens.offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    n_tokens = np.asarray(docs.column("n_tokens").combine_chunks().fill_null(-1), dtype=np.int64)
    bad = np.flatnonzero(lengths != n_tokens)
    if len(bad):
        r = int(bad[0])
        raise ValueError(f"pack_window: row {r} (id {ids[r]}) has n_tokens={n_tokens[r]} but {lengths[r]} tokens; "
                         f"{len(bad)} rows disagree")
    values = np.asarray(tokens.values.to_numpy(zero_copy_only=False))
    return _Window(ids, values, offsets[:-1], lengths, token_type, (int(offsets[0]), int(offsets[-1])))


def _base_stats(w: _Window, config: PackConfig) -> dict[str, Any]:
    tokens = int(w.n_tokens.sum())
    return {"packer": str(config.packer), "capacity": config.capacity, "documents": len(w.n_tokens),
            "empty_documents": int((w.n_tokens == 0).sum()), "input_tokens": tokens, "tokens": tokens,
            "sequences": 0, "padding_tokens": 0, "truncations": 0, "truncated_short_docs": 0, "dropped_tokens": 0,
            "dropped_documents": 0, "marker_tokens": 0, "knotted_documents": 0,
            "knots_sequences": 0, "buckets": {}, "bucket_tokens": {},
            "attention_cost": 0, "concat_attention_cost": 0}


def _finish(w: _Window, config: PackConfig, stats: dict[str, Any], seg_doc: np.ndarray, seg_off: np.ndarray,
            seg_len: np.ndarray, seg_split: np.ndarray, row_segs: np.ndarray, bucket: np.ndarray,
            row_target: np.ndarray | None = None, tokens: np.ndarray | None = None,
            loss_mask: np.ndarray | None = None, seg_ids: pa.Array | None = None,
            id_offsets: np.ndarray | None = None) -> PackResult:
    """Copy tokens, build the table and fill the row counts shared by every packer."""
    if tokens is None:
        tokens = gather_tokens(w.values, w.doc_start[seg_doc] + seg_off, seg_len)
    if seg_ids is None:
        seg_ids = segment_ids(w.ids, seg_doc, seg_off, seg_split)
    n_rows = len(row_segs) - 1
    seg_cum = np.concatenate([[0], np.cumsum(seg_len, dtype=np.int64)])
    row_len = np.diff(seg_cum[row_segs])
    if row_target is None:
        row_target = np.full(n_rows, config.capacity, dtype=np.int64)
    pad = np.maximum(row_target - row_len, 0)
    wants_mask = config.padding == Padding.SEGMENT or config.packer == Packer.KNOTS
    if wants_mask and loss_mask is None:
        loss_mask = np.ones(len(tokens), dtype=bool)
    table = build_rows(tokens, seg_len, seg_ids, row_segs, bucket, w.token_type, loss_mask=loss_mask,
                       pad_to=row_target if config.padding == Padding.SEGMENT else None,
                       pad_token_id=config.pad_token_id, id_offsets=id_offsets)
    placed = int(row_len.sum())
    stats["tokens"] = placed
    stats["sequences"] = n_rows
    stats["padding_tokens"] = int(pad.sum())
    # decomposition rows attend within themselves; the other packers' segments within themselves (doc masking)
    squared = row_len if config.packer == Packer.DECOMPOSITION else np.asarray(seg_len, dtype=np.int64)
    stats["attention_cost"] = int((squared * squared).sum())
    stats["concat_attention_cost"] = _concat_cost(stats["input_tokens"], config.capacity)
    if n_rows:
        keys, counts = np.unique(bucket, return_counts=True)
        stats["buckets"] = {str(int(k)): int(c) for k, c in zip(keys, counts)}
        sums = np.bincount(np.searchsorted(keys, bucket), weights=row_len, minlength=len(keys))
        stats["bucket_tokens"] = {str(int(k)): int(s) for k, s in zip(keys, sums)}
    return PackResult(table, _derived(stats))


def _concat_cost(tokens: int, capacity: int) -> int:
    """Sum of squared row lengths of concat-and-chunk (full causal attention over each L row)."""
    full, rest = divmod(tokens, capacity)
    return full * capacity * capacity + rest * rest


def _derived(stats: dict[str, Any]) -> dict[str, Any]:
    """Ratios recomputed from the summed counts (so merged windows get them right)."""
    rows, cap = stats["sequences"], stats["capacity"]
    stats["concat_sequences"] = -(-stats["input_tokens"] // cap)
    stats["extra_sequences"] = rows - stats["concat_sequences"]
    stats["extra_sequences_pct"] = (100.0 * stats["extra_sequences"] / stats["concat_sequences"]
                                    if stats["concat_sequences"] else 0.0)
    # tokens over row slots: rows * capacity for the bin packers, the bucket sizes for decomposition
    slots = stats["tokens"] + stats["padding_tokens"]
    stats["fill"] = stats["tokens"] / slots if slots else 0.0
    return stats


def _pack_bins(w: _Window, config: PackConfig, *, first_fit: bool) -> PackResult:
    """Best-fit / first-fit decreasing: only documents longer than the row are cut (Ding et al. 2024 §3)."""
    cap = config.capacity
    stats = _base_stats(w, config)
    piece_doc, piece_off, piece_len = split_pieces(w.n_tokens, cap)
    pieces, row_segs = pack_lengths(piece_len, cap, first_fit=first_fit)
    split = w.n_tokens > cap
    stats["truncations"] = int(split.sum())
    seg_doc = piece_doc[pieces]
    return _finish(w, config, stats, seg_doc, piece_off[pieces], piece_len[pieces], split[seg_doc], row_segs,
                   np.full(len(row_segs) - 1, -1, dtype=np.int16))


def _pack_concat(w: _Window, config: PackConfig) -> PackResult:
    """Concat-and-chunk: documents end to end in id order, a cut every `capacity` tokens.

    Example: n [3, 4], capacity 4 -> boundaries {0, 3, 4, 7} -> segments [3, 1 | 3] -> rows [a a a b] [b b b];
    document b straddles the cut at 4, so it is one truncation and its pieces are `b@0`, `b@1`.
    """
    cap = config.capacity
    stats = _base_stats(w, config)
    cum = np.concatenate([[0], np.cumsum(w.n_tokens, dtype=np.int64)])
    total = int(cum[-1])
    n_rows = -(-total // cap)
    cuts = np.arange(1, n_rows, dtype=np.int64) * cap
    bounds = np.sort(np.concatenate([cum, cuts]), kind="stable")  # two sorted runs: timsort merges in O(n)
    bounds = bounds[np.concatenate([[True], np.diff(bounds) > 0])]
    seg_start, seg_len = bounds[:-1], np.diff(bounds)
    seg_doc = np.searchsorted(cum, seg_start, side="right") - 1
    seg_off = seg_start - cum[seg_doc]
    seg_row = seg_start // cap
    row_segs = np.searchsorted(seg_row, np.arange(n_rows + 1), side="left")
    # a document is cut when some cut lies strictly inside (start, end)
    first_cut_after_start = (cum[:-1] // cap + 1) * cap
    split = first_cut_after_start < cum[1:]
    stats["truncations"] = int(split.sum())
    stats["truncated_short_docs"] = int((split & (w.n_tokens <= cap)).sum())
    tokens = w.values[w.token_span[0]:w.token_span[1]]  # segments tile the buffer in order: no gather
    return _finish(w, config, stats, seg_doc, seg_off, seg_len, split[seg_doc], row_segs,
                   np.full(n_rows, -1, dtype=np.int16), tokens=tokens)


def pack_window(docs: pa.Table, config: PackConfig) -> PackResult:
    """Pack one window of tokenized documents into rows of at most `config.capacity` tokens.

    docs: columns `id: string`, `tokens: large_list<uint16|uint32>`, `n_tokens: int32` (other columns ignored),
    ideally sorted by id (sorted here otherwise). Raises ValueError on a missing column, a null id or tokens, or
    n_tokens disagreeing with the token list, a repeated id. Deterministic: same table and config -> same rows,
    byte for byte.
    """
    w = _read_window(docs)
    if config.packer == Packer.BEST_FIT:
        return _pack_bins(w, config, first_fit=False)
    if config.packer == Packer.FIRST_FIT:
        return _pack_bins(w, config, first_fit=True)
    if config.packer == Packer.CONCAT:
        return _pack_concat(w, config)
    if config.packer == Packer.DECOMPOSITION:
        from packing.decomposition import pack_decomposition
        return pack_decomposition(w, config)
    from packing.knots import pack_knots
    return pack_knots(w, config)


_SUMMED = ("documents", "empty_documents", "input_tokens", "tokens", "sequences", "padding_tokens", "truncations",
           "truncated_short_docs", "dropped_tokens", "dropped_documents", "marker_tokens", "knotted_documents",
           "knots_sequences", "attention_cost", "concat_attention_cost")


def merge_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the per-window stats of one run; fill and the concat comparison are recomputed from the sums.

    `concat_sequences` becomes ceil(all tokens / capacity), the concat-and-chunk row count of the whole corpus.
    """
    if not parts:
        raise ValueError("merge_stats: no windows to merge")
    out: dict[str, Any] = {"packer": parts[0]["packer"], "capacity": parts[0]["capacity"]}
    for key in _SUMMED:
        out[key] = sum(int(p[key]) for p in parts)
    for key in ("buckets", "bucket_tokens"):
        merged: dict[str, int] = {}
        for p in parts:
            for k, v in p[key].items():
                merged[k] = merged.get(k, 0) + int(v)
        out[key] = dict(sorted(merged.items(), key=lambda kv: int(kv[0])))
    out["concat_attention_cost"] = _concat_cost(out["input_tokens"], out["capacity"])
    return _derived(out)
