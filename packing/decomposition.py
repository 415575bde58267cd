"""Dataset decomposition (Pouransari et al. 2024 §2, App. B.2): every document becomes power-of-two pieces.

A document of n tokens is cut, left to right, into n // 2^kmax pieces of 2^kmax and then one piece of 2^k for
each set bit k (kmax > k >= kmin) of the rest, so each piece attends only within its own document and a row
holds exactly one piece: no padding, no cross-document attention, and the attention cost of a 2^k row is 4^k
instead of L^2. Bucket = k. The rest below 2^kmin is dropped and counted (the paper's "DD>=256"), or kept as a
short row in bucket kmin (`short_rest: pad`, padding counted).
Under `row_tokens: L+1` a piece of bucket k holds 2^k + 1 tokens (Apple's `make_dd_buckets.py` convention for
an L + 1 reader); the cut is then the same greedy largest-first over sizes 2^k + 1.
Rows come out sorted by (bucket, id, offset), so the shard writer can partition by bucket without a sort.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from packing.config import PackConfig, RowTokens, ShortRest

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
    n = np.asarray(n_tokens, dtype=np.int64)
    size_max = 2**kmax + extra
    n_full = n // size_max
    rest = n - n_full * size_max
    # greedy over k descending: with sizes 2^k + extra each k is taken at most once
    took = []
    for k in range(kmax - 1, kmin - 1, -1):
        size = 2**k + extra
        t = rest >= size
        rest = rest - t * size
        took.append(t)
    bits = np.stack(took, axis=1) if took else np.zeros((len(n), 0), dtype=bool)  # column j <-> k = kmax-1-j
    short = (rest > 0) if keep_rest else np.zeros(len(n), dtype=bool)
    # full pieces, bit pieces, rest piece; a stable sort by document keeps that order inside each document
    full_doc = np.repeat(np.arange(len(n), dtype=np.int64), n_full)
    bit_doc, bit_col = np.nonzero(bits)
    rest_doc = np.flatnonzero(short)
    doc = np.concatenate([full_doc, bit_doc.astype(np.int64), rest_doc])
    bucket = np.concatenate([np.full(len(full_doc), kmax, dtype=np.int64), kmax - 1 - bit_col.astype(np.int64),
                             np.full(len(rest_doc), kmin, dtype=np.int64)])
    length = np.concatenate([np.full(len(full_doc), size_max, dtype=np.int64), 2**(kmax - 1 - bit_col) + extra,
                             rest[rest_doc]])
    order = np.argsort(doc, kind="stable")
    doc, bucket, length = doc[order], bucket[order], length[order]
    end = np.cumsum(length)
    first_of_doc = np.concatenate([[True], doc[1:] != doc[:-1]]) if len(doc) else np.zeros(0, dtype=bool)
    doc_base = np.maximum.accumulate(np.where(first_of_doc, end - length, 0)) if len(doc) else end
    offset = end - length - doc_base
    return doc, offset, length, bucket.astype(np.int16)


def pack_decomposition(w: _Window, config: PackConfig) -> PackResult:
    """One row per piece, rows sorted by (bucket, id, offset); see the module docstring."""
    from packing.window import _base_stats, _finish

    dd = config.decomposition
    extra = 1 if config.row_tokens == RowTokens.L_PLUS_1 else 0
    doc, offset, length, bucket = decompose(w.n_tokens, dd.kmin, dd.kmax, extra=extra,
                                            keep_rest=dd.short_rest == ShortRest.PAD)
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
