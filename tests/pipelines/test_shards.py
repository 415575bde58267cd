"""Shard writer: rows read back equal to what was written, in every format and reader; same input, same bytes;
shards close at the size/token target; atomic names only (no temp files left)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packing.loader.synthetic import synthetic_sequences
from pipelines.shards import ShardConfig, ShardFormat, write_shards


def _read_all(out_dir: Path, entries: list[dict], fmt: str) -> pa.Table:
    tables = []
    for e in entries:
        if e["format"] != fmt:
            continue
        path = out_dir / e["path"]
        if fmt == "parquet":
            tables.append(pq.read_table(path))
        else:
            with pa.memory_map(str(path)) as src:
                tables.append(ipc.open_file(src).read_all())
    return pa.concat_tables(tables)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_rows=st.integers(1, 60), max_tokens=st.integers(1, 64), seed=st.integers(0, 10_000),
       wide=st.booleans(), target_tokens=st.one_of(st.none(), st.integers(1, 500)), group=st.integers(1, 9))
def test_round_trip_every_format(tmp_path_factory, n_rows, max_tokens, seed, wide, target_tokens, group) -> None:
    """Shards read back equal to what was written (STYLE.md §8), whatever the split and row-group size."""
    out = tmp_path_factory.mktemp("out")
    table = synthetic_sequences(n_rows, max_tokens, seed=seed, id_type=pa.uint32() if wide else pa.uint16())
    config = ShardConfig(shard_target_mb=0.002, shard_target_tokens=target_tokens, row_group_rows=group)
    entries = write_shards(table, out, "all", config)
    for fmt in ("parquet", "arrow"):
        assert _read_all(out, entries, fmt).equals(table)
    parquet = [e for e in entries if e["format"] == "parquet"]
    assert sum(e["rows"] for e in parquet) == n_rows
    assert sum(e["tokens"] for e in parquet) == sum(len(r) for r in table.column("input_ids").to_pylist())
    if target_tokens is not None:  # a shard closes at the first row that reaches the target
        assert all(e["tokens"] - max_tokens < target_tokens or e["rows"] == 1 for e in parquet)
    assert not list(out.rglob(".*.tmp"))


def test_same_input_same_bytes_and_chunking_does_not_matter(tmp_path: Path) -> None:
    """Output bytes are a function of the rows and config only (spec README: byte-identical on any CPU count)."""
    table = synthetic_sequences(300, 128, seed=3)
    rechunked = pa.concat_tables([table.slice(0, 7), table.slice(7, 100), table.slice(107)])
    config = ShardConfig(shard_target_mb=0.02, row_group_rows=32)
    a = write_shards(table, tmp_path / "a", "p0", config)
    b = write_shards(rechunked, tmp_path / "b", "p0", config)
    assert a == b
    assert len(a) > 2, "fixture must produce several shards"
    assert [e["path"] for e in a[:4]] == ["shards/p0/part-00000.parquet", "shards/p0/part-00000.arrow",
                                         "shards/p0/part-00001.parquet", "shards/p0/part-00001.arrow"]


def test_layout_row_groups_and_compression(tmp_path: Path) -> None:
    """Parquet: zstd, row groups of row_group_rows; Arrow IPC: uncompressed, one record batch per row group."""
    table = synthetic_sequences(100, 64, seed=1)
    entries = write_shards(table, tmp_path, "all", ShardConfig(row_group_rows=16))
    assert len(entries) == 2
    meta = pq.ParquetFile(tmp_path / entries[0]["path"]).metadata
    assert meta.num_row_groups == 7
    assert meta.row_group(0).column(0).compression == "ZSTD"
    with pa.memory_map(str(tmp_path / entries[1]["path"])) as src:
        reader = ipc.open_file(src)
        assert reader.num_record_batches == 7
        assert reader.get_batch(0).num_rows == 16


def test_other_readers_load_a_shard(tmp_path: Path) -> None:
    """polars.scan_parquet and pyarrow.dataset read the Parquet shards (the spec's reader list)."""
    table = synthetic_sequences(50, 32, seed=2, id_type=pa.uint32())
    entries = write_shards(table, tmp_path, "all", ShardConfig(formats=[ShardFormat.PARQUET]))
    path = tmp_path / entries[0]["path"]
    df = pl.scan_parquet(path).collect()
    assert df.height == 50 and df["input_ids"].to_list() == table.column("input_ids").to_pylist()
    assert ds.dataset(path, format="parquet").to_table().equals(table)
    arrow = write_shards(table, tmp_path / "ipc", "all", ShardConfig(formats=[ShardFormat.ARROW]))
    assert pl.read_ipc(tmp_path / "ipc" / arrow[0]["path"])["doc_ids"].to_list() == table.column("doc_ids").to_pylist()


def test_hugging_face_datasets_loads_a_shard(tmp_path: Path, monkeypatch) -> None:
    """`datasets.load_dataset("parquet", ...)` reads a shard with its uint16 ids intact (offline, local cache)."""
    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    table = synthetic_sequences(20, 16, seed=6)
    entries = write_shards(table, tmp_path / "out", "all", ShardConfig(formats=[ShardFormat.PARQUET]))
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "out" / entries[0]["path"]), split="train",
                               cache_dir=str(tmp_path / "hf-cache"))
    assert ds.num_rows == 20
    assert ds.features["input_ids"].feature.dtype == "uint16"
    assert ds["input_ids"] == table.column("input_ids").to_pylist()
    assert ds["doc_ids"] == table.column("doc_ids").to_pylist()


def test_size_target_closes_shards(tmp_path: Path) -> None:
    """A shard closes at shard_target_mb (uncompressed Arrow size): the Arrow files stay near the target."""
    table = synthetic_sequences(400, 256, seed=4)
    target_mb = 0.05
    entries = write_shards(table, tmp_path, "all", ShardConfig(formats=[ShardFormat.ARROW], shard_target_mb=target_mb))
    assert len(entries) > 3
    sizes = np.array([e["bytes"] for e in entries[:-1]])
    assert (sizes > 0.9 * target_mb * 2**20).all() and (sizes < 1.2 * target_mb * 2**20).all()


def test_large_list_input_is_cast_and_bad_schema_raises(tmp_path: Path) -> None:
    table = synthetic_sequences(10, 16, seed=5)
    large = table.set_column(0, "input_ids", table.column("input_ids").cast(pa.large_list(pa.uint16())))
    entries = write_shards(large, tmp_path, "all", ShardConfig(formats=[ShardFormat.PARQUET]))
    assert pq.read_schema(tmp_path / entries[0]["path"]).field("input_ids").type == pa.list_(pa.uint16())
    bad = table.set_column(0, "input_ids", table.column("input_ids").cast(pa.list_(pa.int64())))
    with pytest.raises(ValueError, match="input_ids is list<item: int64>"):
        write_shards(bad, tmp_path, "all", ShardConfig())
    assert write_shards(table.slice(0, 0), tmp_path / "empty", "all", ShardConfig()) == []


@pytest.mark.parametrize("kwargs, message", [
    ({"formats": []}, "formats"), ({"shard_target_mb": 0}, "shard_target_mb"),
    ({"shard_target_tokens": 0}, "shard_target_tokens"), ({"row_group_rows": 0}, "row_group_rows"),
    ({"zstd_level": 30}, "zstd_level"), ({"formats": ["parquet", "parquet"]}, "twice"),
])
def test_config_rejects_bad_values(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        ShardConfig(**kwargs)
