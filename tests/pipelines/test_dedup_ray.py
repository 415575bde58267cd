"""The dedup exchange on a real local Ray equals the single-process reference, whatever the block boundaries
and partition count: the spec's rule that output depends on (input, config, seed) only."""
from __future__ import annotations

import pyarrow as pa
import pytest
import ray
import ray.data

from bench.dedup_planted import load_passages, planted_corpus
from pipelines.dedup import dedup_dataset
from stages.dedup import REMOVED_SCHEMA, DedupConfig, dedup_table

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
    for key in ("documents", "candidate_pairs", "verified_edges", "clusters", "removed_exact", "removed_near",
                "largest_clusters"):
        assert stats[key] == expected_stats[key], key
    assert set(stats["seconds"]) >= {"signatures", "exchange_exact", "exchange_bands", "features", "verify"}


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
