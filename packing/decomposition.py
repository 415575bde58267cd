"""Dataset decomposition (Pouransari et al. 2024 §2, App. B.2): every document becomes power-of-two pieces.

A document of n tokens is cut, left to right, into n // 2^kmax pieces of 2^kmax and then one piece of 2^k for
each set bit k (kmax > k >= kmin) of the rest, so each piece attends only within its own document and a row
holds exactly one piece: no padding, no cross-document attention, and the attention cost of a 2^k row is 4^k
instead of L^2. Bucket = k. The rest below 2^kmin is dropped and counted (the paper's "DD>=256"), or kept as a
short row in bucket kmin (`short_rest: pad`, padding counted).
Under `row_tokens: L+1` a piece of bucket k holds 2^k + 1 tokens (Apple's `make_dd_buckets.py` convention for
an L + 1 reader); the cut is then the same greedy largest-first over sizes 2^k + 1.
`flavour: apple` follows Apple's released script instead (`decompose_apple`: 2^k + 1 pieces, random cuts of
long documents, p(k) proportional to 2^(kmax - k)).
Rows come out sorted by (bucket, id, offset), so the shard writer can partition by bucket without a sort.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np
import pyarrow as pa
from numba.cpython.unsafe.numbers import leading_zeros

from packing.config import Flavour, PackConfig, RowTokens, ShortRest
from stages.schema import stable_hash

if TYPE_CHECKING:
    from packing.window import PackResult, _Window


def decompose(n_tokens: np.ndarray, kmin: int, kmax: int, *, extra: int = 0,
              keep_rest: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut documents into pieces of 2^k + extra tokens, largest first (binary digits of the length).

    n_tokens: (n_docs,) int. Returns (piece_doc, piece_offset, piece_len, piece_bucket), int64/int64/int64/int16,
    in document order, each document's pieces left to right. keep_rest=True adds the rest below 2^kmin + extra as
    one more piece of bucket kmin (shorter than its bucket). Dropped tokens = n_tokens.sum() - piece_len.sum().
    Example (kmin 8, kmax 13): n = 9000 = 8192 + 512 + 256 + 40 -> lengths [8192, 512, 256], offsets
    [0, 8192, 8704], buckets [13, 9, 8], 40 tokens dropped.
    """
    n = np.ascontiguousarray(n_tokens, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    count = _paper_cut(n, kmin, kmax, extra, keep_rest, False, empty, empty, empty, empty)
    doc, offset, length, bucket = (np.empty(count, dtype=np.int64) for _ in range(4))
    _paper_cut(n, kmin, kmax, extra, keep_rest, True, doc, offset, length, bucket)
    return doc, offset, length, bucket.astype(np.int16)


@numba.njit(cache=True, nogil=True, inline="always")
def _put(fill: bool, j: int, i: int, pos: int, size: int, k: int, doc: np.ndarray, offset: np.ndarray,
         length: np.ndarray, bucket: np.ndarray) -> int:  # pragma: no cover - compiled
    """Piece j = tokens [pos, pos + size) of document i in bucket k, written only when `fill`; returns j + 1.
    The cut functions run twice (count, then write), so the same code sizes the arrays and fills them."""
    if fill:
        doc[j] = i
        offset[j] = pos
        length[j] = size
        bucket[j] = k
    return j + 1


@numba.njit(cache=True, nogil=True)
def _paper_cut(n: np.ndarray, kmin: int, kmax: int, extra: int, keep_rest: bool, fill: bool, doc: np.ndarray,
               offset: np.ndarray, length: np.ndarray, bucket: np.ndarray) -> int:  # pragma: no cover - compiled
    """Count (fill=False) or write (fill=True) the pieces of `decompose`; a numpy version with nonzero + stable
    argsort took ~5x longer on 1 M documents. With sizes 2^k + extra each k < kmax is taken at most once."""
    j = 0
    for i in range(n.shape[0]):
        pos = 0
        size = (1 << kmax) + extra
        while n[i] - pos >= size:
            j = _put(fill, j, i, pos, size, kmax, doc, offset, length, bucket)
            pos += size
        for k in range(kmax - 1, kmin - 1, -1):
            size = (1 << k) + extra
            if n[i] - pos >= size:
                j = _put(fill, j, i, pos, size, k, doc, offset, length, bucket)
                pos += size
        if keep_rest and n[i] - pos > 0:
            j = _put(fill, j, i, pos, n[i] - pos, kmin, doc, offset, length, bucket)
    return j


@numba.njit(cache=True, nogil=True)
def _apple_cut(n: np.ndarray, doc_hash: np.ndarray, kmin: int, kmax: int, keep_rest: bool,
               fill: bool, doc: np.ndarray, offset: np.ndarray, length: np.ndarray,
               bucket: np.ndarray) -> int:  # pragma: no cover - compiled
    """`get_binary` of apple/ml-dataset-decomposition for every document; returns the number of pieces.

    Run once with fill=False to count, once with fill=True to write (the same draws both times: each document's
    draws come from splitmix64 over its hash). A per-document loop: the number of draws varies per document.
    """
    total_w = (1 << (kmax - kmin + 1)) - 1  # weights 2^(kmax - k) for k = kmax..kmin: 1, 2, 4, ...
    j = 0
    for i in range(n.shape[0]):
        x = doc_hash[i]
        pos = 0
        while n[i] - pos > 1:
            rest = n[i] - pos
            k = 63 - leading_zeros(np.uint64(rest - 1))  # floor(log2(rest - 1))
            if k < kmin:
                break
            if k > kmax:
                x = x + np.uint64(0x9E3779B97F4A7C15)
                z = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
                z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
                z = z ^ (z >> np.uint64(31))
                u = (z >> np.uint64(11)) % np.uint64(total_w)  # uniform in [0, total_w)
                k = kmax
                acc = np.uint64(1)
                while u >= acc:  # k = kmax takes 1 slot, kmax - 1 two, ... kmin 2^(kmax - kmin)
                    k -= 1
                    acc += np.uint64(1) << np.uint64(kmax - k)
            size = (1 << k) + 1
            j = _put(fill, j, i, pos, size, k, doc, offset, length, bucket)
            pos += size
        if keep_rest and n[i] - pos > 0:
            j = _put(fill, j, i, pos, n[i] - pos, kmin, doc, offset, length, bucket)
    return j


def decompose_apple(n_tokens: np.ndarray, doc_hash: np.ndarray, kmin: int, kmax: int, *,
                    keep_rest: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Apple's flavour (`Flavour.APPLE`): same outputs as `decompose`; pieces of 2^k + 1 tokens.

    doc_hash: (n_docs,) uint64, stable_hash(ids, seed): the random long cuts depend on (seed, id) only.
    Example (kmin 8, kmax 13): n = 600 -> [513] (bucket 9), 87 dropped; n = 20000 -> random k per piece.
    """
    n = np.ascontiguousarray(n_tokens, dtype=np.int64)
    h = np.ascontiguousarray(doc_hash, dtype=np.uint64)
    empty = np.zeros(0, dtype=np.int64)
    count = _apple_cut(n, h, kmin, kmax, keep_rest, False, empty, empty, empty, empty)
    doc, offset, length, bucket = (np.empty(count, dtype=np.int64) for _ in range(4))
    _apple_cut(n, h, kmin, kmax, keep_rest, True, doc, offset, length, bucket)
    return doc, offset, length, bucket.astype(np.int16)


def pack_decomposition(w: _Window, config: PackConfig) -> PackResult:
    """One row per piece, rows sorted by (bucket, id, offset); see the module docstring."""
    from packing.window import _base_stats, _finish

    dd = config.decomposition
    keep_rest = dd.short_rest == ShortRest.PAD
    if dd.flavour == Flavour.APPLE:
        extra = 1
        doc, offset, length, bucket = decompose_apple(w.n_tokens, stable_hash(w.ids, config.seed), dd.kmin, dd.kmax,
                                                      keep_rest=keep_rest)
    else:
        extra = 1 if config.row_tokens == RowTokens.L_PLUS_1 else 0
        doc, offset, length, bucket = decompose(w.n_tokens, dd.kmin, dd.kmax, extra=extra, keep_rest=keep_rest)
    stats = _base_stats(w, config)
    pieces_per_doc = np.bincount(doc, minlength=len(w.n_tokens))
    whole = (pieces_per_doc == 1) & (np.bincount(doc, weights=length, minlength=len(w.n_tokens)) == w.n_tokens)
    stats["truncations"] = int(((pieces_per_doc > 1) | ((pieces_per_doc == 1) & ~whole)).sum())
    stats["dropped_tokens"] = int(w.n_tokens.sum() - length.sum())
    stats["dropped_documents"] = int(((pieces_per_doc == 0) & (w.n_tokens > 0)).sum())
    order = np.argsort(bucket, kind="stable")  # pieces are in (id, offset) order already
    doc, offset, length, bucket = doc[order], offset[order], length[order], bucket[order]
    row_segs = np.arange(len(doc) + 1, dtype=np.int64)
    row_target = 2 ** bucket.astype(np.int64) + extra
    return _finish(w, config, stats, doc, offset, length, ~whole[doc], row_segs, bucket, row_target=row_target)


def rows_by_bucket(sequences: pa.Table) -> list[tuple[int, pa.Table]]:
    """Split packed rows into one table per bucket, ascending (zero-copy slices: decomposition rows come sorted
    by bucket). For the shard writer's per-bucket partitions; other packers give one part, bucket -1."""
    if sequences.num_rows == 0:
        return []
    bucket = np.asarray(sequences.column("bucket").combine_chunks())
    if (np.diff(bucket) < 0).any():
        order = np.argsort(bucket, kind="stable")
        sequences, bucket = sequences.take(pa.array(order)), bucket[order]
    starts = np.flatnonzero(np.concatenate([[True], bucket[1:] != bucket[:-1]]))
    ends = np.concatenate([starts[1:], [len(bucket)]])
    return [(int(bucket[a]), sequences.slice(int(a), int(b - a))) for a, b in zip(starts, ends)]
