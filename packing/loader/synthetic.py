"""Seeded packed rows with the DESIGN.md sequence schema, for tests and benchmarks (no packer needed).

Row lengths are L minus a small geometric gap (best-fit rows are ~99.9 % full, Ding et al. 2024 Table 2), split into
1-6 documents; doc_ids are `<source>:<n>` so `carding inspect` finds sources.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["synthetic_sequences", "sequence_schema"]


def sequence_schema(id_type: pa.DataType = pa.uint16(), loss_mask: bool = False) -> pa.Schema:
    """The sequence schema: input_ids list<id_type>, doc_lens list<int32>, doc_ids list<string>, bucket int16."""
    fields = [pa.field("input_ids", pa.list_(id_type)), pa.field("doc_lens", pa.list_(pa.int32())),
              pa.field("doc_ids", pa.list_(pa.string())), pa.field("bucket", pa.int16())]
    if loss_mask:
        fields.append(pa.field("loss_mask", pa.list_(pa.bool_())))
    return pa.schema(fields)


def synthetic_sequences(n_rows: int, max_tokens: int, *, seed: int = 0, id_type: pa.DataType = pa.uint16(),
                        vocab_size: int = 50_000, max_docs: int = 6, min_tokens: int = 1,
                        loss_mask: bool = False, sources: tuple[str, ...] = ("web", "code", "books")) -> pa.Table:
    """`n_rows` packed rows of <= `max_tokens` tokens; every doc_id is unique across the table.

    Built column-wise (numpy offsets + values), so a million rows take seconds, not minutes.
    """
    if n_rows < 0 or max_tokens < 1 or min_tokens < 1 or min_tokens > max_tokens:
        raise ValueError(f"n_rows={n_rows}, max_tokens={max_tokens}, min_tokens={min_tokens}: need n_rows >= 0 "
                         "and 1 <= min_tokens <= max_tokens")
    rng = np.random.default_rng(seed)
    gap = np.minimum(rng.geometric(0.05, n_rows) - 1, max_tokens - min_tokens)
    row_len = (max_tokens - gap).astype(np.int64)
    n_docs = np.minimum(rng.integers(1, max_docs + 1, n_rows), row_len)
    # cut each row at n_docs - 1 distinct points in (0, row_len): sort uniform draws, take unique cut positions
    total_docs = int(n_docs.sum())
    doc_lens = np.empty(total_docs, dtype=np.int32)
    pos = 0
    for r in range(n_rows):  # per-row cut choice needs distinct integers; rows are few next to tokens
        k = int(n_docs[r])
        cuts = np.sort(rng.choice(np.arange(1, row_len[r]), size=k - 1, replace=False)) if k > 1 else np.empty(0)
        edges = np.concatenate([[0], cuts, [row_len[r]]]).astype(np.int64)
        doc_lens[pos:pos + k] = np.diff(edges)
        pos += k
    dtype = np.uint16 if id_type == pa.uint16() else np.uint32
    values = rng.integers(0, vocab_size, int(row_len.sum()), dtype=np.int64).astype(dtype)
    row_offsets = np.concatenate([[0], np.cumsum(row_len)]).astype(np.int32)
    doc_offsets = np.concatenate([[0], np.cumsum(n_docs)]).astype(np.int32)
    doc_ids = pa.array([f"{sources[i % len(sources)]}:{seed}-{i}" for i in range(total_docs)], pa.string())
    columns = [pa.ListArray.from_arrays(pa.array(row_offsets), pa.array(values, pa.from_numpy_dtype(dtype))),
               pa.ListArray.from_arrays(pa.array(doc_offsets), pa.array(doc_lens)),
               pa.ListArray.from_arrays(pa.array(doc_offsets), doc_ids),
               pa.array(np.full(n_rows, -1, dtype=np.int16))]
    if loss_mask:
        columns.append(pa.ListArray.from_arrays(pa.array(row_offsets), pa.array(rng.random(len(values)) > 0.1)))
    return pa.Table.from_arrays(columns, schema=sequence_schema(id_type, loss_mask))
