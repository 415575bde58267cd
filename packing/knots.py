"""Untie the Knots (Tian et al. 2024; rgtjf/Untie-the-Knots `gpt_dataset_utk.py`): long-context rows made of
shuffled chunks of several documents, each chunk tagged, with the chunk order as a backtracing target.

A document joins the knots set when stable_uniform(seed, id) < utk_share; the rest is packed by best fit as
usual (rows of several segments). A knotted document (or, when it is longer than a row can hold with its
markers, each L - extra piece of it: a counted truncation) is a *unit*, cut into n chunks. Chunk k is laid out as
    <D> rid_k </D> [knot_open if k > 0] text_k [knot_close if k < n - 1]
and right after the unit's last-appearing chunk comes the backtracing summary
    <S> rid_1 <s> rid_2 ... <s> rid_n </S>          (chunk ids in the original order)
so a unit costs extra = 2 n |rid| + 5 n - 1 tokens (50 for n = 3, |rid| = 6). Units are packed apart from plain
documents, by best fit on these expanded lengths, so markers never push text out of a row (the official code
cuts rows back to L + 1 and loses the tail). Inside a row all chunks are permuted, except that the last chunk of
the last-placed unit stays last (`keep_doc_order` keeps each unit's chunks in order).
A knots row is one attention segment: `doc_lens = [len]`, `doc_ids` = every member unit, `loss_mask` False at
each knot and the token after it, at every header token, at `<S>` and at the token after `</S>`.
Randomness (cut points, rids, chunk order) comes from stable_hash(unit id, seed) mixed with the chunk index,
not from the row or window number: a rerun or resume gives the same rows. Departure: the paper draws the knots
share per row; carding draws it per document so membership does not depend on packing.
Known limit: reconstruction from a row relies on text tokens never equalling a marker id (true for carding's id
layout, where markers live in the reserved packing range 7-31).
"""
from __future__ import annotations

import string
from typing import TYPE_CHECKING

import numba
import numpy as np
import pyarrow as pa

from packing.best_fit import pack_lengths, split_pieces
from packing.config import ChunkCut, KnotsConfig, PackConfig
from packing.rows import _memcpy, gather_tokens, segment_ids
from stages.schema import stable_hash

if TYPE_CHECKING:
    from packing.window import PackResult, _Window

RID_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits
"""The 62 rid characters, in the order `KnotsConfig.rid_char_ids` lists their token ids."""
_U64 = np.uint64


def extra_tokens(n_chunks: int, rid_chars: int) -> int:
    """Marker tokens a unit of n chunks adds: 2 n |rid| + 5 n - 1 (spec/packing.md §3.3)."""
    return 2 * n_chunks * rid_chars + 5 * n_chunks - 1


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser over uint64 arrays (wrapping arithmetic): a cheap, well-spread hash of x."""
    with np.errstate(over="ignore"):
        z = x + _U64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
        return z ^ (z >> _U64(31))


def _chunk_hash(unit_hash: np.ndarray, chunk: np.ndarray, salt: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        return _mix(unit_hash ^ _mix(chunk.astype(_U64) * _U64(0x100000001B3) + _U64(salt)))


def chunk_lengths(unit_len: np.ndarray, unit_hash: np.ndarray, n_chunks: int, cut: ChunkCut) -> np.ndarray:
    """(n_units, n_chunks) int64 chunk lengths, each >= 1, summing to unit_len (every unit_len >= n_chunks).

    equal: boundaries floor(j * n / n_chunks). random: n_chunks - 1 cut points drawn from the unit's hash.
    Example: n = 10, equal, 3 chunks -> [3, 3, 4].
    """
    n = unit_len.astype(np.int64)[:, None]
    j = np.arange(n_chunks + 1, dtype=np.int64)[None, :]
    if cut == ChunkCut.EQUAL:
        bounds = (j * n) // n_chunks
        return np.diff(bounds, axis=1)
    # random: sizes 1 + a random composition of n - n_chunks into n_chunks parts
    k = np.arange(n_chunks - 1, dtype=np.int64)
    u = (_chunk_hash(unit_hash[:, None], k[None, :], 0xC0) >> _U64(11)).astype(np.float64) / 2.0**53
    cuts = np.sort(np.floor(u * (n - n_chunks + 1)).astype(np.int64), axis=1)
    bounds = np.concatenate([np.zeros_like(n), cuts, n - n_chunks], axis=1)
    return np.diff(bounds, axis=1) + 1


@numba.njit(cache=True, nogil=True)
def _write_rows(order: np.ndarray, values: np.ndarray, chunk_src: np.ndarray, chunk_len: np.ndarray,
                chunk_k: np.ndarray, chunk_unit: np.ndarray, last_seen: np.ndarray, unit_first: np.ndarray,
                n_chunks: int, rid: np.ndarray, char_ids: np.ndarray, markers: np.ndarray,
                out: np.ndarray, mask: np.ndarray) -> None:  # pragma: no cover - compiled
    """Lay out chunks in `order` (see the module docstring); a Python loop per chunk would cost ~5 us each.

    markers: [knot_open, knot_close, <D>, </D>, <S>, <s>, </S>]; rid: (n_chunks_total, rid_chars) digits 0..61.
    """
    o = 0
    r_chars = rid.shape[1]
    item = values.itemsize
    src_ptr = values.ctypes.data
    out_ptr = out.ctypes.data
    for j in range(order.shape[0]):
        c = order[j]
        k = chunk_k[c]
        out[o] = markers[2]
        mask[o] = False
        o += 1
        for t in range(r_chars):
            out[o] = char_ids[rid[c, t]]
            mask[o] = False
            o += 1
        out[o] = markers[3]
        mask[o] = False
        o += 1
        after_knot = False
        if k > 0:
            out[o] = markers[0]
            mask[o] = False
            o += 1
            after_knot = True
        n = chunk_len[c]
        _memcpy(out_ptr + o * item, src_ptr + chunk_src[c] * item, n * item)
        mask[o:o + n] = True
        if after_knot:
            mask[o] = False
        o += n
        if k < n_chunks - 1:
            out[o] = markers[1]
            mask[o] = False
            o += 1
        if last_seen[c]:
            u = chunk_unit[c]
            out[o] = markers[4]
            mask[o] = False
            o += 1
            for kk in range(n_chunks):
                if kk > 0:
                    out[o] = markers[5]
                    mask[o] = True
                    o += 1
                for t in range(r_chars):
                    out[o] = char_ids[rid[unit_first[u] + kk, t]]
                    mask[o] = True
                    o += 1
            out[o] = markers[6]
            mask[o] = True
            o += 1
    # the token after each knot_close and after each </S> opens the next chunk's header: already False


def _rids(chunk_hash: np.ndarray, chunk_k: np.ndarray, rid_chars: int, salt: int) -> np.ndarray:
    """(n_chunks, rid_chars) digits 0..61, ten per 64-bit hash (62^10 < 2^64)."""
    rid = np.empty((len(chunk_k), rid_chars), dtype=np.int64)
    for start in range(0, rid_chars, 10):
        h = _chunk_hash(chunk_hash, chunk_k, salt + start)
        for t in range(start, min(start + 10, rid_chars)):
            rid[:, t] = (h % _U64(62)).astype(np.int64)
            h = h // _U64(62)
    return rid


def _unique_rids(chunk_hash: np.ndarray, chunk_k: np.ndarray, chunk_row: np.ndarray, rid_chars: int) -> np.ndarray:
    """Chunk ids, redrawn (new salt) until no two chunks of a row share one: the summary must name chunks
    unambiguously. 62^|rid| must exceed the chunks of a row, else ValueError."""
    rid = _rids(chunk_hash, chunk_k, rid_chars, 0xD1)
    if len(rid) == 0:
        return rid
    per_row = np.bincount(chunk_row)
    if rid_chars < 11 and per_row.max() > 62**rid_chars:
        raise ValueError(f"knots: a row holds {per_row.max()} chunks but rid_chars={rid_chars} gives only "
                         f"{62**rid_chars} distinct ids; raise knots.rid_chars")
    weights = 62 ** np.arange(min(rid_chars, 10), dtype=np.int64)
    for attempt in range(1, 1000):
        code = rid[:, :10] @ weights
        o = np.lexsort((code, chunk_row))
        dup = (chunk_row[o][1:] == chunk_row[o][:-1]) & (code[o][1:] == code[o][:-1])
        if not dup.any():
            return rid
        redo = o[1:][dup]
        rid[redo] = _rids(chunk_hash[redo], chunk_k[redo], rid_chars, 0xD1 + 0x1000 * attempt)
    raise AssertionError("knots: rid redraws did not converge")


def _char_ids(knots: KnotsConfig) -> np.ndarray:
    if knots.rid_char_ids is not None:
        return np.asarray(knots.rid_char_ids, dtype=np.int64)
    return np.array([64 + ord(ch) for ch in RID_ALPHABET], dtype=np.int64)  # carding byte layout: v -> 64 + v


def pack_knots(w: _Window, config: PackConfig) -> PackResult:
    """Plain rows (best fit) followed by knots rows (best fit on expanded lengths); see the module docstring."""
    from packing.window import _base_stats, _finish

    kc = config.knots
    cap = config.capacity
    nc = kc.n_chunks
    extra = extra_tokens(nc, kc.rid_chars)
    stats = _base_stats(w, config)
    top = max(kc.knot_open_id, kc.knot_close_id, kc.doc_open_id, kc.doc_close_id, kc.summary_open_id,
              kc.summary_sep_id, kc.summary_close_id, int(_char_ids(kc).max()))
    if top > np.iinfo(w.values.dtype).max:
        raise ValueError(f"knots: marker or rid id {top} does not fit the {w.values.dtype} tokens of this window")
    doc_hash = stable_hash(w.ids, config.seed)
    knotted = ((doc_hash >> _U64(11)).astype(np.float64) / 2.0**53 < kc.utk_share) & (w.n_tokens >= nc)

    # plain documents: pieces of at most cap; knotted documents: units of at most cap - extra
    p_doc, p_off, p_len = split_pieces(np.where(knotted, 0, w.n_tokens), cap)
    u_doc, u_off, u_len = split_pieces(np.where(knotted, w.n_tokens, 0), cap - extra)
    short = u_len < nc  # a tail unit too short to cut joins the plain pieces
    p_doc, p_off, p_len = (np.concatenate([p_doc, u_doc[short]]), np.concatenate([p_off, u_off[short]]),
                           np.concatenate([p_len, u_len[short]]))
    u_doc, u_off, u_len = u_doc[~short], u_off[~short], u_len[~short]
    stats["truncations"] = int((np.where(knotted, w.n_tokens > cap - extra, w.n_tokens > cap)).sum())
    stats["knotted_documents"] = int((np.bincount(u_doc, minlength=len(w.n_tokens)) > 0).sum())
    split = np.where(knotted, w.n_tokens > cap - extra, w.n_tokens > cap)

    # plain rows
    if len(p_len):
        p_order = np.lexsort((p_off, p_doc))  # id order, so ties in best fit follow ids
        p_doc, p_off, p_len = p_doc[p_order], p_off[p_order], p_len[p_order]
    pieces, p_rows = pack_lengths(p_len, cap)
    p_seg_doc, p_seg_off, p_seg_len = p_doc[pieces], p_off[pieces], p_len[pieces]
    p_tokens = gather_tokens(w.values, w.doc_start[p_seg_doc] + p_seg_off, p_seg_len)
    p_ids = segment_ids(w.ids, p_seg_doc, p_seg_off, split[p_seg_doc])

    # knots rows: units by best fit on expanded lengths
    units, u_rows = pack_lengths(u_len + extra, cap)
    u_doc, u_off, u_len = u_doc[units], u_off[units], u_len[units]  # now in row / placement order
    n_units = len(u_len)
    unit_ids = segment_ids(w.ids, u_doc, u_off, split[u_doc])
    unit_hash = stable_hash(unit_ids, config.seed) if n_units else np.zeros(0, dtype=_U64)
    lens = chunk_lengths(u_len, unit_hash, nc, kc.chunk_cut)  # (n_units, nc)
    chunk_unit = np.repeat(np.arange(n_units, dtype=np.int64), nc)
    chunk_k = np.tile(np.arange(nc, dtype=np.int64), n_units)
    chunk_len = lens.reshape(-1)
    chunk_off = (np.cumsum(lens, axis=1) - lens).reshape(-1)
    chunk_src = w.doc_start[u_doc][chunk_unit] + u_off[chunk_unit] + chunk_off
    unit_row = np.repeat(np.arange(len(u_rows) - 1, dtype=np.int64), np.diff(u_rows))
    chunk_row = unit_row[chunk_unit]
    # order inside a row: by a hash of (unit, chunk); the last chunk of the row's last unit stays last
    key = (_chunk_hash(unit_hash[chunk_unit], chunk_k, 0x5EED) >> _U64(1)).astype(np.int64) if n_units \
        else np.zeros(0, dtype=np.int64)
    last_unit_of_row = u_rows[1:] - 1
    pinned = np.zeros(n_units, dtype=bool)
    pinned[last_unit_of_row[np.diff(u_rows) > 0]] = True
    key[(chunk_k == nc - 1) & pinned[chunk_unit]] = np.iinfo(np.int64).max
    order = np.lexsort((key, chunk_row))
    if kc.keep_doc_order:
        # each unit's chunks take its positions in chunk order: position ranks of (unit, position) pairs
        pos = np.empty(len(order), dtype=np.int64)
        pos[order] = np.arange(len(order))
        by_unit = np.lexsort((pos, chunk_unit))  # unit-major, positions ascending
        order = np.empty(len(order), dtype=np.int64)
        order[pos[by_unit]] = np.arange(len(order))  # chunk (unit u, k) goes to the k-th smallest position of u
    pos = np.empty(len(order), dtype=np.int64)
    pos[order] = np.arange(len(order))
    last_seen = np.zeros(len(order), dtype=bool)
    if n_units:
        last_pos = np.max(pos.reshape(n_units, nc), axis=1)
        last_seen[order[last_pos]] = True
    rid = _unique_rids(unit_hash[chunk_unit] if n_units else np.zeros(0, dtype=_U64), chunk_k, chunk_row,
                       kc.rid_chars)
    u_tokens = np.empty(int((u_len + extra).sum()), dtype=w.values.dtype)
    u_mask = np.empty(len(u_tokens), dtype=bool)
    markers = np.array([kc.knot_open_id, kc.knot_close_id, kc.doc_open_id, kc.doc_close_id, kc.summary_open_id,
                        kc.summary_sep_id, kc.summary_close_id], dtype=np.int64)
    if n_units:
        _write_rows(order, np.ascontiguousarray(w.values), chunk_src, chunk_len, chunk_k, chunk_unit, last_seen,
                    np.arange(n_units, dtype=np.int64) * nc, nc, rid, _char_ids(kc), markers, u_tokens, u_mask)
    stats["marker_tokens"] = n_units * extra

    # plain rows first, then knots rows (one segment each, naming all member units)
    n_plain = len(p_rows) - 1
    u_row_len = np.add.reduceat(u_len + extra, u_rows[:-1]) if n_units else np.zeros(0, dtype=np.int64)
    seg_len = np.concatenate([p_seg_len, u_row_len])
    row_segs = np.concatenate([p_rows, p_rows[-1] + np.arange(1, len(u_rows), dtype=np.int64)])
    id_offsets = np.concatenate([p_rows, p_rows[-1] + u_rows[1:]])
    tokens = np.concatenate([p_tokens, u_tokens])
    mask = np.concatenate([np.ones(len(p_tokens), dtype=bool), u_mask])
    seg_ids = pa.concat_arrays([p_ids.cast(pa.string()), unit_ids.cast(pa.string())])
    n_rows = n_plain + len(u_rows) - 1
    stats["knots_sequences"] = len(u_rows) - 1
    return _finish(w, config, stats, np.zeros(0, np.int64), np.zeros(0, np.int64), seg_len,
                     np.zeros(0, bool), row_segs, np.full(n_rows, -1, dtype=np.int16), tokens=tokens,
                     loss_mask=mask, seg_ids=seg_ids, id_offsets=id_offsets)
