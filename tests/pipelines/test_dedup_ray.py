"""The dedup exchange on a real local Ray equals the single-process reference, whatever the block boundaries
and partition count: the spec's rule that output depends on (input, config, seed) only."""
from __future__ import annotations

import pyarrow as pa
import pytest
import ray
import ray.data

from bench.dedup_planted import load_passages, planted_corpus
from pipelines.dedup import dedup_dataset
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


@pytest.mark.parametrize("overrides", [
    dict(keep=Keep.best_quality, exchange_partitions=5),
    dict(verify=Verify.signature, max_pairs_group=3, exchange_partitions=2),
    dict(exact=False, exchange_partitions=4),
    dict(near=False, scope=Scope.per_source, exchange_partitions=1),
], ids=["best_quality", "signature_big_buckets", "near_only", "exact_only_per_source"])
def test_ray_equals_local_for_each_mode(dedup_ray, overrides):
    """Every mode that changes what reaches verification (quality ranks from the verify shares, signature
    similarity, stars of big buckets split across shares, one step off) gives the reference's removed rows and
    every stat but seconds, with verification spread over `exchange_partitions` Ray tasks."""
    ray.data.DataContext.get_current().enable_progress_bars = False
    table = _corpus()
    text = table.column("text")[0].as_py()
    near = [f"{text} extra {chr(97 + i)}" for i in range(6)]  # one LSH bucket of 7, a big one at max_pairs_group=3
    table = pa.concat_tables([table, pa.table({"id": [f"near-{i}" for i in range(6)],
                                               "text": pa.array(near, pa.large_string()), "source": ["s"] * 6,
                                               "meta": ["{}"] * 6}, schema=table.schema)])
    # few distinct scores: ties in a cluster fall back to the smallest id, some documents have none
    scores = [None if i % 11 == 0 else float(i % 4) / 4 for i in range(table.num_rows)]
    table = table.append_column("quality_score", pa.array(scores, pa.float64()))
    table = table.set_column(2, "source", pa.array([f"s{i % 2}" for i in range(table.num_rows)]))
    expected, expected_stats = dedup_table(table, DedupConfig(**overrides))
    removed_ds, stats = dedup_dataset(ray.data.from_arrow(table).repartition(5), DedupConfig(**overrides))
    blocks = [t for t in ray.get(removed_ds.to_arrow_refs()) if t.num_rows]
    got = pa.concat_tables(blocks).sort_by("id") if blocks else REMOVED_SCHEMA.empty_table()
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
