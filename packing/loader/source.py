"""Shard access for the loader: open a folder against its manifest, then gather rows by global index.

Arrow IPC files are memory-mapped and every record batch's `input_ids` values and offsets are numpy views on the
map: nothing is decoded, a row is one slice, and the OS pages tokens in as they are read. Parquet row groups are
decoded on first touch into a small LRU cache (Parquet has no random row access; use it when there are no .arrow
files). Global row g = (shard i, row j) in manifest order, through prefix sums of the chunk row counts.

Opening verifies what the manifest claims: each listed file exists, its row and token counts (from the Arrow
footer and list offsets, or the Parquet footer) and, unless `verify_checksums=False`, its sha256. Every error
names the shard's path. Known limit: each Arrow shard stays open as one memory map (one file descriptor), so past
~1000 shards raise `ulimit -n` or write larger shards (`shard_target_mb`).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from packing.loader.config import ReadFormat
from pipelines.manifest import fingerprint, load_manifest, sha256_file

__all__ = ["ShardError", "ShardSource", "RowBlock"]


class ShardError(ValueError):
    """A shard disagrees with its manifest, or cannot be read; the message starts with the shard's path."""


@dataclass(slots=True)
class RowBlock:
    """Rows gathered for one batch: flat token values plus per-row and per-segment lengths.

    input_ids: (T,) uint16|uint32, rows end to end; row_lens: (R,) int64; doc_lens: (S,) int64, segments of all rows
    in order (each row's segments sum to its row_len); row_segments: (R,) int64 segments per row;
    loss_mask: (T,) bool or None when the shards carry no loss_mask.
    """

    input_ids: np.ndarray
    row_lens: np.ndarray
    doc_lens: np.ndarray
    row_segments: np.ndarray
    loss_mask: np.ndarray | None


@dataclass(slots=True)
class _Chunk:
    """One record batch (Arrow) or row group (Parquet) of one shard."""

    shard: int
    index: int
    n_rows: int
    arrays: tuple | None = None
    """_views() of the chunk: kept for Arrow (views on the map), None for Parquet (decoded on demand)."""


def _views(batch: pa.RecordBatch | pa.Table) -> tuple:
    """(ids offsets, ids values, doc_lens offsets, doc_lens values, loss_mask offsets, loss_mask values).

    Zero-copy numpy views, except loss_mask's values, which stay a pa.BooleanArray (bit-packed: numpy needs a copy,
    made per gathered row); the loss_mask pair is (None, None) when the shard has no loss_mask column."""
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else pa.RecordBatch.from_pylist(
            [], schema=batch.schema)
    ids = batch.column("input_ids")
    lens = batch.column("doc_lens")
    mask = batch.column("loss_mask") if "loss_mask" in batch.schema.names else None
    return (ids.offsets.to_numpy(), ids.values.to_numpy(), lens.offsets.to_numpy(), lens.values.to_numpy(),
            None if mask is None else mask.offsets.to_numpy(), None if mask is None else mask.values)


class ShardSource:
    """The rows of a carding output folder, in manifest order, verified on open."""

    def __init__(self, out_dir: Path, *, read_format: ReadFormat | str = ReadFormat.AUTO,
                 verify_checksums: bool = True, parquet_cache_row_groups: int = 64) -> None:
        self.out_dir = Path(out_dir)
        self.manifest: dict[str, Any] = load_manifest(self.out_dir)
        entries = self.manifest.get("shards") or []
        self.fingerprint: str = fingerprint(entries)
        if self.manifest.get("fingerprint") not in (None, self.fingerprint):
            raise ShardError(f"{self.out_dir / 'manifest.json'}: fingerprint does not match the listed shard "
                             "checksums (manifest edited by hand?)")
        self.format = self._pick_format(entries, ReadFormat(read_format))
        self.entries = [e for e in entries if e.get("format") == self.format.value]
        self._cache: OrderedDict[tuple[int, int], tuple] = OrderedDict()
        self._cache_size = parquet_cache_row_groups
        self._files: list[Any] = []
        self._chunks: list[_Chunk] = []
        for i, entry in enumerate(self.entries):
            self._open(i, entry, verify_checksums)
        starts = np.cumsum([0] + [c.n_rows for c in self._chunks], dtype=np.int64)
        self._chunk_starts = starts
        self.n_rows = int(starts[-1])
        self.n_tokens = sum(int(e["tokens"]) for e in self.entries)
        self.row_tokens: int | None = self.manifest.get("row_tokens") if isinstance(
            self.manifest.get("row_tokens"), int) else None
        self.has_loss_mask = any(c.arrays is not None and c.arrays[5] is not None for c in self._chunks) or (
            self.format == ReadFormat.PARQUET and bool(self._files) and
            "loss_mask" in self._files[0].schema_arrow.names)

    def _pick_format(self, entries: list[dict[str, Any]], wanted: ReadFormat) -> ReadFormat:
        present = {e.get("format") for e in entries}
        if wanted == ReadFormat.AUTO:
            return ReadFormat.ARROW if "arrow" in present or not entries else ReadFormat.PARQUET
        if entries and wanted.value not in present:
            raise ShardError(f"{self.out_dir / 'manifest.json'}: no {wanted.value} shards (the folder holds "
                             f"{sorted(str(p) for p in present)}); set read_format accordingly")
        return wanted

    def _open(self, shard: int, entry: dict[str, Any], verify_checksums: bool) -> None:
        rel = entry["path"]
        path = self.out_dir / rel
        root = self.out_dir.resolve()
        if root not in path.resolve().parents:  # a manifest is input: its paths must not reach files elsewhere
            raise ShardError(f"{rel}: shard path leaves the output folder {root} (listed in "
                             f"{self.out_dir / 'manifest.json'})")
        if not path.is_file():
            raise ShardError(f"{rel}: missing file (listed in {self.out_dir / 'manifest.json'})")
        if verify_checksums and sha256_file(path) != entry.get("sha256"):
            raise ShardError(f"{rel}: sha256 mismatch against the manifest: the shard is corrupt or was rewritten "
                             "(run `carding validate` on the folder)")
        try:
            if self.format == ReadFormat.ARROW:
                rows, tokens = self._open_arrow(shard, path)
            else:
                rows, tokens = self._open_parquet(shard, path)
        except (pa.ArrowException, OSError) as e:
            raise ShardError(f"{rel}: unreadable {self.format.value} shard ({e})") from e
        if rows != int(entry.get("rows", -1)) or tokens != int(entry.get("tokens", -1)):
            raise ShardError(f"{rel}: holds {rows} rows / {tokens} tokens, the manifest says {entry.get('rows')} / "
                             f"{entry.get('tokens')}")

    def _open_arrow(self, shard: int, path: Path) -> tuple[int, int]:
        source = pa.memory_map(str(path), "r")
        reader = ipc.open_file(source)
        self._files.append(reader)
        rows = tokens = 0
        for b in range(reader.num_record_batches):
            views = _views(reader.get_batch(b))
            n = len(views[0]) - 1
            self._chunks.append(_Chunk(shard, b, n, views))
            rows += n
            tokens += int(views[0][-1] - views[0][0]) if n else 0
        return rows, tokens

    def _open_parquet(self, shard: int, path: Path) -> tuple[int, int]:
        pf = pq.ParquetFile(path)
        self._files.append(pf)
        meta = pf.metadata
        ids_col = pf.schema_arrow.get_field_index("input_ids")
        # Footer counts: a list column's leaf count is its token count (carding rows are never empty lists).
        tokens = sum(meta.row_group(g).column(self._leaf_index(pf, ids_col)).num_values
                     for g in range(meta.num_row_groups))
        for g in range(meta.num_row_groups):
            self._chunks.append(_Chunk(shard, g, meta.row_group(g).num_rows))
        return meta.num_rows, tokens

    @staticmethod
    def _leaf_index(pf: pq.ParquetFile, arrow_index: int) -> int:
        """Parquet leaf column of a top-level Arrow field (each list field here has exactly one leaf)."""
        name = pf.schema_arrow.field(arrow_index).name
        for i in range(pf.metadata.num_columns):
            if pf.schema.column(i).path.split(".")[0] == name:
                return i
        raise ShardError(f"{pf}: no input_ids column")

    def _arrays(self, c: int) -> tuple:
        chunk = self._chunks[c]
        if chunk.arrays is not None:
            return chunk.arrays
        key = (chunk.shard, chunk.index)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        pf = self._files[chunk.shard]
        columns = ["input_ids", "doc_lens"] + (["loss_mask"] if "loss_mask" in pf.schema_arrow.names else [])
        try:
            views = _views(pf.read_row_group(chunk.index, columns=columns))
        except (pa.ArrowException, OSError) as e:
            raise ShardError(f"{self.entries[chunk.shard]['path']}: row group {chunk.index} unreadable ({e})") from e
        self._cache[key] = views
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return views

    def row_buckets(self) -> np.ndarray:
        """The `bucket` of every global row in manifest order: (N,) int16 (one small column read per shard)."""
        parts = []
        for i, entry in enumerate(self.entries):
            path = self.out_dir / entry["path"]
            try:
                if self.format == ReadFormat.ARROW:
                    reader = self._files[i]
                    parts += [reader.get_batch(b).column("bucket").to_numpy() for b in range(reader.num_record_batches)]
                else:
                    parts.append(pq.read_table(path, columns=["bucket"]).column("bucket").to_numpy())
            except (pa.ArrowException, OSError, KeyError) as e:
                raise ShardError(f"{entry['path']}: cannot read the bucket column ({e})") from e
        return np.concatenate(parts).astype(np.int16) if parts else np.empty(0, dtype=np.int16)

    def gather(self, rows: np.ndarray) -> RowBlock:
        """The rows at global indices `rows` ((R,) int), in that order.

        A loop over rows, not tokens: each row is one numpy slice of ~L tokens (a fancy index over all tokens would
        first build a T-long index array, 4-8x the bytes moved).
        """
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise IndexError(f"rows outside [0, {self.n_rows})")
        chunk_of = np.searchsorted(self._chunk_starts, rows, side="right") - 1
        local = rows - self._chunk_starts[chunk_of]
        id_parts, seg_parts, mask_parts = [], [], []
        row_lens = np.empty(len(rows), dtype=np.int64)
        row_segments = np.empty(len(rows), dtype=np.int64)
        for k, (c, j) in enumerate(zip(chunk_of.tolist(), local.tolist())):
            id_off, id_val, seg_off, seg_val, mask_off, mask_val = self._arrays(c)
            a, b = int(id_off[j]), int(id_off[j + 1])
            s, e = int(seg_off[j]), int(seg_off[j + 1])
            id_parts.append(id_val[a:b])
            seg_parts.append(seg_val[s:e])
            row_lens[k] = b - a
            row_segments[k] = e - s
            if self.has_loss_mask:
                if mask_val is None:
                    mask_parts.append(np.ones(b - a, dtype=bool))
                else:  # loss_mask has its own offsets (same lengths as input_ids)
                    mask_parts.append(mask_val.slice(int(mask_off[j]), b - a).to_numpy(zero_copy_only=False))
        dtype = self._chunks_dtype()
        input_ids = np.concatenate(id_parts) if id_parts else np.empty(0, dtype=dtype)
        doc_lens = np.concatenate(seg_parts).astype(np.int64) if seg_parts else np.empty(0, dtype=np.int64)
        loss_mask = (np.concatenate(mask_parts) if mask_parts else np.empty(0, dtype=bool)) if self.has_loss_mask \
            else None
        return RowBlock(input_ids, row_lens, doc_lens, row_segments, loss_mask)

    def _chunks_dtype(self) -> np.dtype:
        if not self._chunks:
            return np.dtype(np.uint32)
        return self._arrays(0)[1].dtype
