"""The dedup exchange on a real local Ray equals the single-process reference, whatever the block boundaries
and partition count: the spec's rule that output depends on (input, config, seed) only."""
from __future__ import annotations

import gc
import time
from itertools import pairwise
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray
import ray.data

from bench.dedup_planted import load_passages, planted_corpus
from pipelines.dedup import dedup_dataset, dedup_files
from stages.dedup import REMOVED_SCHEMA, DedupConfig, Keep, Scope, Verify, dedup_table

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def dedup_ray():
    """A fresh embedded 2-CPU Ray; address="local" so a Ray head another process left on this machine is not
    joined (ray.init would refuse num_cpus then)."""
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _corpus() -> pa.Table:
    table = planted_corpus(load_passages(limit=80), 40, seed=5)
    copies = table.slice(0, 3).set_column(0, "id", pa.array(["copy-0", "copy-1", "copy-2"]))
    return pa.concat_tables([table, copies])  # exact copies next to the planted near-duplicates


def test_ray_exchange_equals_local(dedup_ray):
    """Same removed rows (ids, reasons, cluster and kept ids) and same counts as `dedup_table`, with the input
    cut into 7 blocks and keys hashed into 3 partitions (the reference sees one block, one partition)."""
    ray.data.DataContext.get_current().enable_progress_bars = False
    table = _corpus()
    config = DedupConfig(exchange_partitions=3)
    expected, expected_stats = dedup_table(table, DedupConfig())
    removed_ds, stats = dedup_dataset(ray.data.from_arrow(table).repartition(7), config)
    blocks = [t for t in ray.get(removed_ds.to_arrow_refs()) if t.num_rows]
    got = pa.concat_tables(blocks).sort_by("id") if blocks else REMOVED_SCHEMA.empty_table()
    assert expected.num_rows > 10 and {"dedup.exact", "dedup.near"} <= set(expected.column("reject_reason")
                                                                             .to_pylist())
    assert got.cast(REMOVED_SCHEMA).equals(expected)
    assert _without_seconds(stats) == _without_seconds(expected_stats)
    assert set(stats["seconds"]) >= {"signatures", "exchange_exact", "exchange_bands", "features", "verify",
                                     "components"}


def _without_seconds(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if k != "seconds"}


_MODES = [
    {"keep": Keep.best_quality, "exchange_partitions": 5},
    {"verify": Verify.signature, "max_pairs_group": 3, "exchange_partitions": 2},
    {"exact": False, "exchange_partitions": 4},
    {"near": False, "scope": Scope.per_source, "exchange_partitions": 1},
]
_MODE_IDS = ["best_quality", "signature_big_buckets", "near_only", "exact_only_per_source"]


@pytest.mark.parametrize("overrides", _MODES, ids=_MODE_IDS)
def test_ray_equals_local_for_each_mode(dedup_ray, overrides):
    """Every mode that changes what reaches verification (quality ranks from the verify shares, signature
    similarity, stars of big buckets split across shares, one step off) gives the reference's removed rows and
    every stat but seconds, with verification spread over `exchange_partitions` Ray tasks."""
    ray.data.DataContext.get_current().enable_progress_bars = False
    table = _mode_corpus()
    expected, expected_stats = dedup_table(table, DedupConfig(**overrides))
    removed_ds, stats = dedup_dataset(ray.data.from_arrow(table).repartition(5), DedupConfig(**overrides))
    blocks = [t for t in ray.get(removed_ds.to_arrow_refs()) if t.num_rows]
    got = pa.concat_tables(blocks).sort_by("id") if blocks else REMOVED_SCHEMA.empty_table()
    _check_mode(overrides, expected, expected_stats, got, stats)


@pytest.mark.parametrize("overrides", _MODES, ids=_MODE_IDS)
def test_files_equal_local_for_each_mode(dedup_ray, overrides, tmp_path):
    """`dedup_files` (plain Ray tasks, one per Parquet file) gives the reference's removed rows and stats in every
    mode, with the corpus cut into files of uneven size, several row groups each (a feature task reads only the
    groups that hold candidates) and a file of 0 rows among them."""
    table = _mode_corpus()
    files = _write_files(table, tmp_path, [0, 9, 40, 40, 70, table.num_rows])
    expected, expected_stats = dedup_table(table, DedupConfig(**overrides))
    columns = ["id", "text", "source", "meta"] + (["quality_score"] if overrides.get("keep") else [])
    removed, stats = dedup_files(files, columns, DedupConfig(**overrides))
    assert pq.ParquetFile(files[2]).metadata.num_rows == 0 and pq.ParquetFile(files[1]).num_row_groups > 1
    _check_mode(overrides, expected, expected_stats, removed.sort_by("id"), stats)
    assert list(stats["seconds"]) == ["signatures", "exchange_exact", "exchange_bands", "features", "verify",
                                      "components"]


def _write_files(table: pa.Table, folder: Path, cuts: list[int]) -> list[str]:
    """table[cuts[i]:cuts[i+1]] as folder/part-i.parquet (row groups of 12 rows); equal cuts give a 0-row file."""
    files = []
    for i, (lo, hi) in enumerate(pairwise(cuts)):
        files.append(str(folder / f"part-{i}.parquet"))
        pq.write_table(table.slice(lo, hi - lo), files[-1], row_group_size=12)
    return files


def _mode_corpus() -> pa.Table:
    table = _corpus()
    text = table.column("text")[0].as_py()
    near = [f"{text} extra {chr(97 + i)}" for i in range(6)]  # one LSH bucket of 7, a big one at max_pairs_group=3
    table = pa.concat_tables([table, pa.table({"id": [f"near-{i}" for i in range(6)],
                                               "text": pa.array(near, pa.large_string()), "source": ["s"] * 6,
                                               "meta": ["{}"] * 6}, schema=table.schema)])
    # few distinct scores: ties in a cluster fall back to the smallest id, some documents have none
    scores = [None if i % 11 == 0 else float(i % 4) / 4 for i in range(table.num_rows)]
    table = table.append_column("quality_score", pa.array(scores, pa.float64()))
    return table.set_column(2, "source", pa.array([f"s{i % 2}" for i in range(table.num_rows)]))


def _check_mode(overrides: dict, expected: pa.Table, expected_stats: dict, got: pa.Table, stats: dict) -> None:
    assert expected.num_rows > 0, "the fixture must remove documents in this mode"
    assert got.cast(REMOVED_SCHEMA).equals(expected)
    assert _without_seconds(stats) == _without_seconds(expected_stats)
    if overrides.get("keep") is Keep.best_quality:
        assert expected_stats["candidates_without_quality"] > 0
    if "max_pairs_group" in overrides:
        assert expected_stats["big_buckets"] > 0


def test_ray_exchange_empty_and_no_duplicates(dedup_ray):
    """No documents, or no copies: an empty removed dataset that still has the contract's columns."""
    from stages.schema import DOCUMENT_SCHEMA

    removed, stats = dedup_dataset(ray.data.from_arrow(DOCUMENT_SCHEMA.empty_table()), DedupConfig())
    assert removed.count() == 0 and removed.schema().names == REMOVED_SCHEMA.names
    assert stats["documents"] == 0
    texts = pa.array(["one two three four five six", "seven eight nine ten x y"], pa.large_string())
    table = pa.table({"id": ["a", "b"], "text": texts, "source": ["s", "s"], "meta": ["{}", "{}"]})
    removed, stats = dedup_dataset(ray.data.from_arrow(table), DedupConfig())
    assert removed.count() == 0 and stats["clusters"] == 0 and stats["documents"] == 2


def test_files_empty_and_unreadable(dedup_ray, tmp_path, capfd, caplog):
    """Files of 0 rows (even without the columns asked for), or no files, give no removed rows and 0 documents; a
    file that cannot be read, or lacks a column, raises naming the file, and only that error: the tasks that
    waited for its key task are collected, so Ray reports none of them as an "Unhandled error"."""
    from stages.schema import DOCUMENT_SCHEMA

    columns = ["id", "text", "source", "meta"]
    pq.write_table(DOCUMENT_SCHEMA.empty_table(), tmp_path / "empty.parquet")
    pq.write_table(pa.table({"x": pa.array([], pa.int8())}), tmp_path / "bare.parquet")
    for files in ([str(tmp_path / "empty.parquet"), str(tmp_path / "bare.parquet")], []):
        removed, stats = dedup_files(files, columns, DedupConfig())
        assert removed.num_rows == 0 and removed.schema == REMOVED_SCHEMA
        assert stats["documents"] == 0 and stats["clusters"] == 0
    texts = pa.array(["one two three four five six"], pa.large_string())
    pq.write_table(pa.table({"id": ["a"], "text": texts}), tmp_path / "no-source.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    for name in ("missing.parquet", "junk.parquet", "no-source.parquet"):
        with pytest.raises(ValueError, match=name):
            dedup_files([str(tmp_path / "empty.parquet"), str(tmp_path / name)], columns, DedupConfig())
    gc.collect()  # Ray reports an error nobody read after its ref is freed, from a background thread
    time.sleep(3)
    logged = capfd.readouterr().err + "".join(r.getMessage() for r in caplog.records)
    assert "Unhandled error" not in logged


def test_file_features_reads_candidate_row_groups(tmp_path):
    """A feature task reads only the row groups holding candidates and still gives every candidate's features, in
    file order; no candidate in the file: no rows."""
    from pipelines.dedup import _features, _file_features

    table = _mode_corpus()
    path = str(tmp_path / "groups.parquet")
    pq.write_table(table, path, row_group_size=10)
    ids = pa.array([table.column("id")[i].as_py() for i in (12, 15, 47)] + ["not-in-file"])
    got = _file_features(path, ["id", "text", "source", "meta"], ids, DedupConfig())
    assert pq.ParquetFile(path).num_row_groups > 3 and got.num_rows == 3
    assert got.equals(_features(table, ids, DedupConfig()))
    assert _file_features(path, ["id", "text"], pa.array(["not-in-file"]), DedupConfig()).num_rows == 0
