"""`carding inspect`: every table is printed and agrees with the rows; --plots writes non-empty PNGs."""
from __future__ import annotations

from pathlib import Path

from packing.loader.synthetic import synthetic_sequences
from pipelines.inspect_shards import _tables, inspect_output
from pipelines.manifest import load_manifest, write_manifest
from pipelines.shards import ShardConfig, ShardFormat, write_shards


def _make(out: Path, formats: list[ShardFormat]) -> None:
    table = synthetic_sequences(80, 64, seed=11)
    shards = write_shards(table, out, "all", ShardConfig(formats=formats, shard_target_mb=0.004))
    counts = {"documents_in": 10, "documents_kept": 8, "removed": {"c4.bad_words": 2}, "quarantined": {}}
    write_manifest(out, {"row_tokens": 64, "counts": counts, "shards": shards})


def test_tables_agree_with_rows(tmp_path: Path) -> None:
    _make(tmp_path, [ShardFormat.PARQUET, ShardFormat.ARROW])
    table = synthetic_sequences(80, 64, seed=11)
    tables = _tables(tmp_path, load_manifest(tmp_path))
    tokens = sum(len(r) for r in table.column("input_ids").to_pylist())
    assert tables["fill"]["tokens"][0] == tokens  # one format read, not both
    assert tables["fill"]["fill"][0] == round(tokens / (80 * 64), 6)
    assert tables["lengths"]["rows"].sum() == 80
    assert tables["documents_per_row"]["rows"].sum() == 80
    assert set(tables["sources"]["source"].to_list()) == {"web", "code", "books"}
    assert tables["sources"]["documents"].sum() == sum(len(r) for r in table.column("doc_ids").to_pylist())
    assert tables["buckets"]["bucket"].to_list() == [-1]


def test_text_and_plots(tmp_path: Path) -> None:
    _make(tmp_path, [ShardFormat.ARROW])
    text = inspect_output(tmp_path, plots=True)
    for title in ("lengths", "fill", "documents per row", "buckets", "sources", "manifest counts", "c4.bad_words"):
        assert title in text
    pngs = sorted((tmp_path / "inspect").glob("*.png"))
    assert [p.name for p in pngs] == ["buckets.png", "documents_per_row.png", "lengths.png", "sources.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
