"""The document schema shared by every stage, and the stable hash that makes outputs independent of
Ray's block boundaries and CPU count (spec/README.md: "Anything random draws from stable_hash(seed, id)")."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.large_string()),
        pa.field("source", pa.string()),
        pa.field("meta", pa.string()),  # a JSON object as text: stable across files with different keys
    ]
)
"""id: stable and unique (derived from file + byte offset when the input has none); meta: JSON text."""

REASON = "reject_reason"
"""Column added by filters and dedup: null keeps the row, else `<stage>.<what is wrong>`."""

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("file", pa.string()),
        pa.field("offset", pa.int64()),
        pa.field("line", pa.int64()),
        pa.field("reason", pa.string()),
        pa.field("detail", pa.string()),
        pa.field("raw", pa.large_binary()),
    ]
)
"""One row per input record that could not become a document: where it was and why."""


def stable_hash(ids: pa.Array | pa.ChunkedArray | list[str], seed: int = 0) -> np.ndarray:
    """xxh64 of each id with `seed`: (n,) uint64, identical on every machine and Python version.

    A Python loop over ids: xxhash has no vectorised API; it costs ~0.3 µs per id, far below any stage.
    """
    values = ids.to_pylist() if isinstance(ids, (pa.Array, pa.ChunkedArray)) else ids
    return np.fromiter((xxhash.xxh64_intdigest(v, seed) for v in values), dtype=np.uint64, count=len(values))


def empty_documents() -> pa.Table:
    """A zero-row table with the document schema."""
    return DOCUMENT_SCHEMA.empty_table()


def text_bytes(batch: pa.RecordBatch | pa.Table) -> int:
    """Total UTF-8 bytes of the `text` column."""
    return int(pc.sum(pc.binary_length(batch.column("text"))).as_py() or 0)
