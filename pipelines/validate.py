"""`carding validate OUT`: recompute what manifest.json claims and list every difference.

Each shard is checked on its own (file present, sha256, readable, schema, rows, tokens, `sum(doc_lens) ==
len(input_ids)` per row), then the folder as a whole (fingerprint, rows and tokens per format against `counts`,
padding, the conservation line). A problem is one line that starts with the shard's relative path (or
`manifest.json`), so the first line names the first bad shard. No Ray: this runs in users' CI on sample shards.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from pipelines.manifest import MANIFEST_NAME, fingerprint, load_manifest, sha256_file
from pipelines.shards import ShardFormat, check_sequence_schema

__all__ = ["validate_output", "read_shard", "conservation_problems"]


def read_shard(path: Path, fmt: ShardFormat | str, columns: list[str] | None = None) -> pa.Table:
    """Read one shard file as a table (Arrow IPC through a memory map). Raises pa.ArrowException if unreadable."""
    if ShardFormat(fmt) == ShardFormat.PARQUET:
        return pq.read_table(path, columns=columns)
    with pa.memory_map(str(path), "r") as source:
        table = ipc.open_file(source).read_all()
    return table.select(columns) if columns is not None else table


def conservation_problems(counts: dict[str, Any]) -> list[str]:
    """`documents_in == documents_kept + sum(removed) + sum(quarantined)` (DESIGN.md); each broken term is named."""
    needed = ("documents_in", "documents_kept")
    missing = [k for k in needed if k not in counts]
    if missing:
        return [f"{MANIFEST_NAME}: counts lacks {missing}, the conservation line cannot be checked"]
    removed = counts.get("removed") or {}
    quarantined = counts.get("quarantined") or {}
    total = int(counts["documents_kept"]) + sum(int(v) for v in removed.values()) + sum(
        int(v) for v in quarantined.values())
    if int(counts["documents_in"]) != total:
        return [f"{MANIFEST_NAME}: conservation broken: documents_in={counts['documents_in']} != documents_kept="
                f"{counts['documents_kept']} + removed {sum(int(v) for v in removed.values())} + quarantined "
                f"{sum(int(v) for v in quarantined.values())} = {total}"]
    return []


def _check_shard(out_dir: Path, entry: dict[str, Any], verify_checksums: bool,
                 buckets: dict[int, int]) -> tuple[list[str], pa.Schema | None]:
    """Problems of one shard; adds its rows per bucket to `buckets`. Returns (problems, schema or None)."""
    rel = str(entry.get("path", "?"))
    path = (out_dir / rel).resolve()
    if out_dir.resolve() not in path.parents:
        return [f"{rel}: path leaves the output folder"], None
    try:
        fmt = ShardFormat(entry.get("format") or Path(rel).suffix.lstrip("."))
    except ValueError:
        return [f"{rel}: unknown format {entry.get('format')!r} (expected parquet or arrow)"], None
    if not path.is_file():
        return [f"{rel}: missing file"], None
    problems = []
    if "bytes" in entry and path.stat().st_size != int(entry["bytes"]):
        problems.append(f"{rel}: size {path.stat().st_size} bytes, manifest says {entry['bytes']}")
    if verify_checksums:
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            problems.append(f"{rel}: sha256 mismatch (file {digest[:16]}…, manifest {str(entry.get('sha256'))[:16]}…)")
    try:
        table = read_shard(path, fmt)
    except (pa.ArrowException, OSError) as e:
        return problems + [f"{rel}: unreadable {fmt.value} file ({e})"], None
    schema_problems = check_sequence_schema(table.schema)
    problems += [f"{rel}: schema mismatch: {p}" for p in schema_problems]
    if table.num_rows != int(entry.get("rows", -1)):
        problems.append(f"{rel}: row count mismatch (file {table.num_rows}, manifest {entry.get('rows')})")
    if "input_ids" in table.column_names:
        ids_len = pc.list_value_length(table.column("input_ids")).to_numpy(zero_copy_only=False).astype(np.int64)
        tokens = int(ids_len.sum())
        if tokens != int(entry.get("tokens", -1)):
            problems.append(f"{rel}: token count mismatch (file {tokens}, manifest {entry.get('tokens')})")
        if "doc_lens" in table.column_names and not schema_problems:
            doc_lens = table.column("doc_lens").combine_chunks()
            n_segments = pc.list_value_length(doc_lens).to_numpy(zero_copy_only=False).astype(np.int64)
            seg = pc.list_flatten(doc_lens).to_numpy(zero_copy_only=False).astype(np.int64)
            csum = np.concatenate([[0], np.cumsum(seg)])
            ends = np.cumsum(n_segments)
            per_row = csum[ends] - csum[ends - n_segments]
            bad = np.flatnonzero(per_row != ids_len)
            if len(bad):
                problems.append(f"{rel}: row {int(bad[0])}: sum(doc_lens)={int(per_row[bad[0]])} != "
                                f"len(input_ids)={int(ids_len[bad[0]])} ({len(bad)} rows differ)")
    if "bucket" in table.column_names and not schema_problems:
        keys, n = np.unique(table.column("bucket").to_numpy(), return_counts=True)
        for k, c in zip(keys.tolist(), n.tolist()):
            buckets[k] = buckets.get(k, 0) + c
    return problems, table.schema


def validate_output(out_dir: Path, verify_checksums: bool = True) -> list[str]:
    """Every mismatch between `out_dir`'s files and its manifest.json; [] means valid.

    Problems come shard by shard in manifest order, then folder-wide ones. A missing or unreadable manifest is
    one problem (not an exception), so `carding validate` always prints and exits non-zero instead of crashing.
    """
    out_dir = Path(out_dir)
    try:
        manifest = load_manifest(out_dir)
    except (FileNotFoundError, ValueError) as e:
        return [str(e)]
    shards = manifest.get("shards")
    if not isinstance(shards, list):
        return [f"{MANIFEST_NAME}: no 'shards' list"]
    problems: list[str] = []
    schemas: dict[str, pa.Schema] = {}
    by_format: dict[str, list[dict[str, Any]]] = {}
    bucket_rows: dict[str, dict[int, int]] = {}
    for entry in shards:
        fmt = str(entry.get("format"))
        shard_problems, schema = _check_shard(out_dir, entry, verify_checksums, bucket_rows.setdefault(fmt, {}))
        problems += shard_problems
        by_format.setdefault(fmt, []).append(entry)
        if schema is not None:
            ids_type = schema.field("input_ids").type if "input_ids" in schema.names else None
            first = schemas.setdefault("input_ids", ids_type)
            if ids_type != first:
                problems.append(f"{entry.get('path')}: schema mismatch: input_ids is {ids_type}, the first shard's "
                                f"is {first}")
    listed = {str(e.get("path")) for e in shards}
    shard_root = out_dir / "shards"
    if shard_root.is_dir():
        for path in sorted(shard_root.rglob("*")):
            rel = path.relative_to(out_dir).as_posix()
            if path.is_file() and not path.name.startswith(".") and rel not in listed:
                problems.append(f"{rel}: file not in the manifest")
    if manifest.get("fingerprint") != fingerprint(shards):
        problems.append(f"{MANIFEST_NAME}: fingerprint {manifest.get('fingerprint')!r} is not the sha256 over the "
                        f"listed shard checksums")
    counts = manifest.get("counts") or {}
    packer = manifest.get("packer") if isinstance(manifest.get("packer"), dict) else {}
    padded_rows = packer.get("padding") == "segment"  # padding stored as a segment counts in the shard tokens
    fixed_rows = packer.get("packer", packer.get("name")) != "decomposition"  # DD rows are 2^k long by design
    row_tokens = manifest.get("row_tokens")
    for fmt, entries in sorted(by_format.items()):
        rows = sum(int(e.get("rows", 0)) for e in entries)
        stored = sum(int(e.get("tokens", 0)) for e in entries)
        if "sequences" in counts and int(counts["sequences"]) != rows:
            problems.append(f"{MANIFEST_NAME}: counts.sequences={counts['sequences']} but the {fmt} shards hold "
                            f"{rows} rows")
        if "tokens" in counts:
            expected = int(counts["tokens"]) + (int(counts.get("padding_tokens", 0)) if padded_rows else 0)
            if expected != stored:
                what = "counts.tokens + padding_tokens" if padded_rows else "counts.tokens"
                problems.append(f"{MANIFEST_NAME}: {what}={expected} but the {fmt} shards hold {stored} tokens")
        claimed = counts.get("buckets")
        if isinstance(claimed, dict) and claimed and not any(p.startswith(tuple(e["path"] for e in entries))
                                                             for p in problems):
            found = {str(k): v for k, v in sorted(bucket_rows.get(fmt, {}).items())}
            want = {str(k): int(v) for k, v in claimed.items() if int(v)}
            if found != want:
                problems.append(f"{MANIFEST_NAME}: counts.buckets={want} but the {fmt} shards hold rows per bucket "
                                f"{found}")
    if (isinstance(row_tokens, int) and fixed_rows and "padding_tokens" in counts and "tokens" in counts
            and "sequences" in counts):
        full = int(counts["sequences"]) * row_tokens
        if int(counts["tokens"]) + int(counts["padding_tokens"]) != full:
            problems.append(f"{MANIFEST_NAME}: counts.tokens + padding_tokens = {counts['tokens']} + "
                            f"{counts['padding_tokens']} != sequences x row_tokens = {full}")
    fill, tokens, padding = counts.get("fill"), counts.get("tokens"), counts.get("padding_tokens")
    if isinstance(fill, (int, float)) and isinstance(tokens, int) and isinstance(padding, int) and tokens + padding:
        if abs(fill - tokens / (tokens + padding)) > 1e-9:  # the packer's definition: tokens over row slots
            problems.append(f"{MANIFEST_NAME}: counts.fill={fill} but tokens / (tokens + padding_tokens) = "
                            f"{tokens / (tokens + padding):.9f}")
    problems += conservation_problems(counts)
    return problems
