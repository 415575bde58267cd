"""Shard writer: packed rows (DESIGN.md `sequence` schema) to Parquet and/or Arrow IPC files.

Layout: `OUT/shards/<partition>/part-<nnnnn>.parquet|.arrow`. Both formats hold the *same* rows split at the same
points (part-00003.parquet and part-00003.arrow are one shard in two encodings), so the loader may read either.
Parquet is zstd-compressed with row groups of `row_group_rows` (streaming readers: polars, pyarrow.dataset, HF
datasets); Arrow IPC is uncompressed with one record batch per row group, because compression defeats the
zero-copy memory map the loader relies on.

Shards close at `shard_target_mb` (measured on the uncompressed Arrow buffers, i.e. the Arrow IPC file size) or
`shard_target_tokens`, whichever comes first. The split is a function of the rows only, and each file is written
to a temp name, fsynced and renamed, so the same input gives the same bytes and a crashed run leaves no half file
under a final name.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import ipc

from pipelines.manifest import sha256_file
from pipelines.paths import PLAIN_NAME, inside_output

__all__ = [
    "SEQUENCE_COLUMNS",
    "ShardConfig",
    "ShardFormat",
    "check_sequence_schema",
    "shard_path",
    "write_shards",
]

SEQUENCE_COLUMNS = ("input_ids", "doc_lens", "doc_ids", "bucket")
"""Required columns of a packed row (DESIGN.md schemas); `loss_mask: list<bool>` is optional (knots rows)."""

_MAX_ROW_GROUP_TOKENS = 1 << 30
"""Arrow list offsets are int32 per array: a row group must stay far below 2^31 tokens (spec, Traps)."""


class ShardFormat(StrEnum):
    """On-disk encodings of a shard."""

    PARQUET = "parquet"
    ARROW = "arrow"


@dataclass(frozen=True, kw_only=True, slots=True)
class ShardConfig:
    """How packed rows become files (spec shards-loader.md, Parameters)."""

    formats: list[ShardFormat] = field(default_factory=lambda: [ShardFormat.PARQUET, ShardFormat.ARROW])
    """Encodings to write, each a full copy of the rows (both double the disk). Parquet for tools and streaming,
    Arrow IPC for the loader's zero-copy mmap (shards/loader issue)."""

    shard_target_mb: float = 128.0
    """A shard closes once its uncompressed Arrow size reaches this many MiB. MosaicML Streaming advises
    50-100 MB shards; LitData chunks 64 MB; carding takes 128 (spec, Parameters)."""

    shard_target_tokens: int | None = None
    """A shard also closes once it holds this many tokens, whichever comes first. None: size only (carding)."""

    row_group_rows: int = 1024
    """Rows per Parquet row group and per Arrow IPC record batch: 32 MiB of uint32 at L = 8192 (carding choice),
    small enough to stream, large enough for zstd."""

    zstd_level: int = 3
    """Parquet zstd level; 3 is zstd's own default, the usual speed/size balance (spec: zstd level 3)."""

    def __post_init__(self) -> None:
        if not self.formats:
            raise ValueError("formats=[]: name at least one of parquet, arrow")
        bad = [f for f in self.formats if f not in set(ShardFormat)]
        if bad:
            raise ValueError(f"formats={bad!r}: each must be one of {[f.value for f in ShardFormat]}")
        if len(set(self.formats)) != len(self.formats):
            raise ValueError(f"formats={list(self.formats)!r}: a format is listed twice")
        if not self.shard_target_mb > 0:
            raise ValueError(f"shard_target_mb={self.shard_target_mb}: must be > 0")
        if self.shard_target_tokens is not None and self.shard_target_tokens < 1:
            raise ValueError(f"shard_target_tokens={self.shard_target_tokens}: must be >= 1, or None for no limit")
        if self.row_group_rows < 1:
            raise ValueError(f"row_group_rows={self.row_group_rows}: must be >= 1, each row group holds rows")
        if not 1 <= self.zstd_level <= 22:
            raise ValueError(f"zstd_level={self.zstd_level}: zstd levels are 1..22")


def shard_path(partition: str, index: int, fmt: ShardFormat | str) -> str:
    """Relative path of shard `index` of `partition`: `shards/<partition>/part-<nnnnn>.<fmt>`."""
    return f"shards/{partition}/part-{index:05d}.{ShardFormat(fmt).value}"


def _is_list(t: pa.DataType, allow_large: bool) -> bool:
    return pa.types.is_list(t) or (allow_large and pa.types.is_large_list(t))


def check_sequence_schema(schema: pa.Schema, allow_large: bool = False) -> list[str]:
    """Problems with a packed-row schema (empty list = fine): required columns and their Arrow types.

    `allow_large` accepts large_list columns (the writer casts them to list; a shard on disk must hold list)."""
    problems = []
    names = set(schema.names)
    for name in SEQUENCE_COLUMNS:
        if name not in names:
            problems.append(f"missing column {name!r}")
    if "input_ids" in names:
        t = schema.field("input_ids").type
        if not (_is_list(t, allow_large) and t.value_type in (pa.uint16(), pa.uint32())):
            problems.append(f"input_ids is {t}, expected list<uint16> or list<uint32>")
    if "doc_lens" in names:
        t = schema.field("doc_lens").type
        if not (_is_list(t, allow_large) and t.value_type == pa.int32()):
            problems.append(f"doc_lens is {t}, expected list<int32>")
    if "doc_ids" in names:
        t = schema.field("doc_ids").type
        if not (_is_list(t, allow_large) and t.value_type == pa.string()):
            problems.append(f"doc_ids is {t}, expected list<string>")
    if "bucket" in names and schema.field("bucket").type != pa.int16():
        problems.append(f"bucket is {schema.field('bucket').type}, expected int16")
    if "loss_mask" in names:
        t = schema.field("loss_mask").type
        if not (_is_list(t, allow_large) and t.value_type == pa.bool_()):
            problems.append(f"loss_mask is {t}, expected list<bool>")
    return problems


def _normalize(sequences: pa.Table) -> pa.Table:
    """Cast large_list columns to list (the DESIGN.md schema), order columns, and drop schema metadata."""
    columns = [c for c in SEQUENCE_COLUMNS] + (["loss_mask"] if "loss_mask" in sequences.column_names else [])
    extra = [c for c in sequences.column_names if c not in columns]
    if extra:
        raise ValueError(f"sequences: unexpected columns {extra}; a shard holds {columns}")
    table = sequences.select([c for c in columns if c in sequences.column_names])
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_large_list(t):
            t = pa.list_(t.value_type)
        fields.append(pa.field(f.name, t))
    target = pa.schema(fields)
    if not table.schema.equals(target, check_metadata=True):
        table = table.cast(target)
    return table.replace_schema_metadata(None)


def _row_bytes(table: pa.Table) -> np.ndarray:
    """Uncompressed Arrow bytes of each row (values + offsets): (rows,) int64. Vectorised over list lengths."""
    n = table.num_rows
    size = np.full(n, 2, dtype=np.int64)  # bucket: int16
    for name in ("input_ids", "doc_lens", "loss_mask"):
        if name not in table.column_names:
            continue
        col = table.column(name)
        lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False).astype(np.int64)
        width = 1 if name == "loss_mask" else col.type.value_type.bit_width // 8
        size += lengths * width + 4
    ids = table.column("doc_ids")
    n_ids = pc.list_value_length(ids).to_numpy(zero_copy_only=False).astype(np.int64)
    flat_bytes = pc.binary_length(pc.list_flatten(ids)).to_numpy(zero_copy_only=False).astype(np.int64)
    # per-row sum of string bytes: prefix sums over the flattened strings, cut at each row's id count
    ends = np.cumsum(n_ids)
    csum = np.concatenate([[0], np.cumsum(flat_bytes)])
    size += csum[ends] - csum[ends - n_ids] + 8 * n_ids + 4
    return size


def _split_points(row_bytes: np.ndarray, row_tokens: np.ndarray, target_bytes: float,
                  target_tokens: int | None) -> list[tuple[int, int]]:
    """[(start, stop)) row ranges: each shard takes rows until its bytes or tokens reach the target.

    A loop over shards (not rows): each step is one searchsorted on the prefix sums.
    Example: bytes [4, 4, 4, 4, 4], target 8 -> [(0, 2), (2, 4), (4, 5)].
    """
    n = len(row_bytes)
    cb = np.cumsum(row_bytes)
    ct = np.cumsum(row_tokens)
    ranges = []
    start = 0
    while start < n:
        base_b = cb[start - 1] if start else 0
        stop = int(np.searchsorted(cb, base_b + target_bytes, side="left")) + 1
        if target_tokens is not None:
            base_t = ct[start - 1] if start else 0
            stop = min(stop, int(np.searchsorted(ct, base_t + target_tokens, side="left")) + 1)
        stop = max(start + 1, min(stop, n))
        ranges.append((start, stop))
        start = stop
    return ranges


def _atomic_stream(path: Path, write: Any) -> None:
    """Stream a file through `write(file_object)` into a temp name, fsync, rename (manifest.atomic_write_bytes,
    for files too large to hold as one bytes object)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_parquet(table: pa.Table, path: Path, config: ShardConfig) -> None:
    def write(f: Any) -> None:
        pq.write_table(table, f, row_group_size=config.row_group_rows, compression="zstd",
                       compression_level=config.zstd_level, write_statistics=True, store_schema=True)
    _atomic_stream(path, write)


def _write_arrow(table: pa.Table, path: Path, config: ShardConfig) -> None:
    def write(f: Any) -> None:
        with ipc.new_file(f, table.schema, options=ipc.IpcWriteOptions(compression=None)) as w:
            w.write_table(table, max_chunksize=config.row_group_rows)
    _atomic_stream(path, write)


def write_shards(sequences: pa.Table, out_dir: Path, partition: str, config: ShardConfig) -> list[dict[str, Any]]:
    """Write `sequences` as shards of `partition` under `out_dir`; return one manifest entry per file.

    Entries are `{path (relative to out_dir), format, rows, tokens, bytes, sha256}`, in (shard, format) order.
    `sequences` must have the DESIGN.md sequence schema (large_list ids are cast to list); a wrong schema raises.
    Zero rows write nothing and return []. Rows keep their input order; the output bytes depend only on the rows
    and `config` (not on the input's chunking).
    """
    problems = check_sequence_schema(sequences.schema, allow_large=True)
    if problems:
        raise ValueError(f"sequences for partition {partition!r}: " + "; ".join(problems))
    if not PLAIN_NAME.fullmatch(partition):
        raise ValueError(f"partition={partition!r}: must be a plain folder name ([A-Za-z0-9_.-], starting with a "
                         f"letter or digit): it names shards/<partition>/ inside the output folder")
    table = _normalize(sequences)
    if table.num_rows == 0:
        return []
    row_tokens = pc.list_value_length(table.column("input_ids")).to_numpy(zero_copy_only=False).astype(np.int64)
    group_tokens = np.add.reduceat(row_tokens, np.arange(0, len(row_tokens), config.row_group_rows))
    if group_tokens.max() >= _MAX_ROW_GROUP_TOKENS:
        raise ValueError(f"row_group_rows={config.row_group_rows}: a row group of partition {partition!r} holds "
                         f"{int(group_tokens.max())} tokens, Arrow list offsets allow < 2^31; lower row_group_rows")
    ranges = _split_points(_row_bytes(table), row_tokens, config.shard_target_mb * (1 << 20),
                           config.shard_target_tokens)
    out_dir = Path(out_dir)
    entries = []
    for index, (start, stop) in enumerate(ranges):
        # take() copies into fresh, zero-offset buffers: a sliced list<string> would otherwise carry its parent's
        # offsets into the IPC bytes, and the bytes would depend on how the input happened to be chunked
        shard = table.take(pa.array(np.arange(start, stop, dtype=np.int64)))
        tokens = int(row_tokens[start:stop].sum())
        for fmt in config.formats:
            rel = shard_path(partition, index, fmt)
            path = inside_output(out_dir, rel)  # a symlinked shards/ leading out of the folder is refused
            if fmt == ShardFormat.PARQUET:
                _write_parquet(shard, path, config)
            else:
                _write_arrow(shard, path, config)
            entries.append({"path": rel, "format": ShardFormat(fmt).value, "rows": stop - start, "tokens": tokens,
                            "bytes": path.stat().st_size, "sha256": sha256_file(path)})
    return entries
