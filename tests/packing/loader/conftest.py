"""A carding output folder built from seeded rows (shard writer + manifest), shared by the loader tests."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from packing.loader.synthetic import synthetic_sequences
from pipelines.manifest import write_manifest
from pipelines.shards import ShardConfig, ShardFormat, write_shards


def stamp_rows(table: pa.Table) -> pa.Table:
    """Set each row's first token to its row index, so a batch tells which global rows it holds."""
    ids = table.column("input_ids").combine_chunks()
    values = ids.values.to_numpy().copy()
    values[ids.offsets.to_numpy()[:-1]] = np.arange(table.num_rows, dtype=values.dtype)
    return table.set_column(0, "input_ids", pa.ListArray.from_arrays(ids.offsets, pa.array(values)))


def write_output(out: Path, table: pa.Table, *, row_tokens: int, target_mb: float = 0.002, group_rows: int = 8,
                 formats: tuple[str, ...] = ("parquet", "arrow"), partitions: int = 2) -> dict:
    """Split `table` over `partitions` partitions of several shards each; write the manifest; return it."""
    config = ShardConfig(formats=[ShardFormat(f) for f in formats], shard_target_mb=target_mb,
                         row_group_rows=group_rows)
    entries = []
    step = -(-table.num_rows // partitions)
    for p in range(partitions):
        entries += write_shards(table.slice(p * step, step), out, f"w{p:05d}", config)
    tokens = sum(len(r) for r in table.column("input_ids").to_pylist())
    counts = {"documents_in": 1, "documents_kept": 1, "removed": {}, "quarantined": {}, "sequences": table.num_rows,
              "tokens": tokens, "buckets": {"-1": table.num_rows}}
    manifest = {"row_tokens": row_tokens, "counts": counts, "shards": entries}
    write_manifest(out, manifest)
    return manifest


@pytest.fixture
def make_output(tmp_path: Path) -> Callable[..., Path]:
    """make_output(n_rows, max_tokens, seed=0, **write_output kwargs) -> folder with that many rows."""
    counter = iter(range(1000))

    def make(n_rows: int = 60, max_tokens: int = 32, *, seed: int = 0, loss_mask: bool = False, **kwargs) -> Path:
        out = tmp_path / f"out{next(counter)}"
        table = stamp_rows(synthetic_sequences(n_rows, max_tokens, seed=seed, loss_mask=loss_mask))
        write_output(out, table, row_tokens=max_tokens, **kwargs)
        return out
    return make
