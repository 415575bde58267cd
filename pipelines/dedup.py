"""The dedup stage on Ray Data: maps from stages/dedup plus the one exchange (keys grouped across the corpus).

    documents ─map─► signatures (materialised: id, exact key, band keys; ~150 B per document)
        ├─ exact keys ─groupby(hash partition)─► exact groups of >= 2        ┐
        └─ band keys  ─groupby(hash partition)─► candidate pairs, big buckets ├─► driver: candidate ids
    documents ─map (candidates only)─► normalised text + shingle sets ──────┘
    driver: verify (exact bytes, Jaccard) → union-find components → keep smallest id → removed rows

Each key's rows land in one partition (partition = key mod `exchange_partitions`) and each partition is processed
with the same pure function as the single-process path (`stages.dedup.dedup_table`), whose output depends only
on the rows: the result does not depend on the number of CPUs, block boundaries or partition count.
Verification and components run on the driver over candidates only (as datatrove's single-task clustering step);
`ds` is read twice (signatures, then candidate features): materialise it first if its upstream is costly.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.dedup import (BIG_GROUP_SCHEMA, EXACT_SCHEMA, FEATURE_SCHEMA, PAIR_SCHEMA, REMOVED_SCHEMA,
                          SIGNATURE_SCHEMA, DedupConfig, DedupShingler, ExchangeShuffle, DedupSignatures, Keep,
                          band_rows, candidate_features, candidate_ids, candidate_pairs, check_keep_input,
                          exact_candidates, finish_dedup, signature_stats, unique_pairs)

if TYPE_CHECKING:
    import ray.data

_MAP_BATCH_DOCS = 4096
"""Documents per batch of the signature and feature maps. Without it Ray hands a map one whole block (the runner
reads one block per partition file), and the old numpy signature path held ~22x the block's text at once
(2.9 GB for a 131 MB block: "MapBatches(_signatures) uses 3.0GiB of memory per worker" on the 16-core machine).
The stage now also works through any batch in 8 MB text slices (stages/dedup/signatures.py), so this bounds the
feature map and the output blocks; 4,096 documents of 1.7 kB are 7 MB of text."""

_PART = "_partition"
_EXCHANGE_SCHEMA = pa.schema([pa.field("kind", pa.string()), pa.field("id_a", pa.string()),
                              pa.field("id_b", pa.string()), pa.field("band_key", pa.uint64()),
                              pa.field("size", pa.int64())])
"""What a band partition returns: kind="pair" rows (id_a < id_b) and kind="big" rows (band_key, size, id_a =
smallest id) in one table, because map_groups has one output."""


def _signatures(batch: pa.Table, config: DedupConfig) -> pa.Table:
    return pa.Table.from_batches([DedupSignatures(config).process(batch)], schema=SIGNATURE_SCHEMA)


def _with_partition(table: pa.Table, key: str, partitions: int) -> pa.Table:
    part = (table.column(key).to_numpy() % np.uint64(partitions)).astype(np.int64)
    return table.append_column(_PART, pa.array(part, pa.int64()))


def _exact_keys(batch: pa.Table, partitions: int) -> pa.Table:
    return _with_partition(batch.select(EXACT_SCHEMA.names), "exact_hi", partitions)


def _band_rows(batch: pa.Table, partitions: int) -> pa.Table:
    return _with_partition(band_rows(batch), "band_key", partitions)


def _exact_groups(part: pa.Table) -> pa.Table:
    return exact_candidates(part.drop_columns([_PART]))


def _pairs(part: pa.Table, max_pairs_group: int, dedupe_exact: bool) -> pa.Table:
    pairs, big = candidate_pairs(part.drop_columns([_PART]), max_pairs_group, dedupe_exact)
    n_p, n_b = pairs.num_rows, big.num_rows
    return pa.table([
        pa.array(["pair"] * n_p + ["big"] * n_b, pa.string()),
        pa.concat_arrays([pairs.column("id_a").combine_chunks(), big.column("smallest_id").combine_chunks()]),
        pa.concat_arrays([pairs.column("id_b").combine_chunks(), pa.nulls(n_b, pa.string())]),
        pa.concat_arrays([pa.nulls(n_p, pa.uint64()), big.column("band_key").combine_chunks()]),
        pa.concat_arrays([pa.nulls(n_p, pa.int64()), big.column("size").combine_chunks()]),
    ], schema=_EXCHANGE_SCHEMA)


def _features(batch: pa.Table, ids: pa.Array, config: DedupConfig) -> pa.Table:
    return pa.Table.from_batches([candidate_features(batch, ids, config, DedupShingler(config))], schema=FEATURE_SCHEMA)


def _collect(ds: "ray.data.Dataset", schema: pa.Schema) -> pa.Table:
    """All blocks of `ds` as one table on the driver (empty with `schema` when there are none)."""
    import ray

    tables = [t for t in ray.get(ds.to_arrow_refs()) if t.num_rows]
    return pa.concat_tables([t.select(schema.names).cast(schema) for t in tables]) if tables else schema.empty_table()


def dedup_dataset(ds: "ray.data.Dataset", config: DedupConfig) -> tuple["ray.data.Dataset", dict]:
    """Removed documents of `ds` as a dataset (REMOVED_SCHEMA: id, reject_reason, cluster_id, kept_id,
    cluster_size) and the stage's stats (counts, largest clusters, seconds per exchange step).

    ds: documents with at least `id`, `text` (and `source` under scope=per_source, `quality_score` under
    keep=best_quality: checked here first, which reads one block for the schema). Ids must be unique.
    """
    import ray.data
    from ray.data.context import ShuffleStrategy

    if config.keep is Keep.best_quality:  # fail here, naming the fix, not as a RayTaskError from a worker
        schema = ds.schema()
        check_keep_input(list(schema.names) if schema is not None else [], config)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    sigs = ds.map_batches(_signatures, fn_kwargs={"config": config}, batch_format="pyarrow",
                          batch_size=_MAP_BATCH_DOCS).materialize()
    # the exchanges derive from `sigs` and copy its context: the caller's datasets keep their own strategy
    sigs.context.shuffle_strategy = (ShuffleStrategy.HASH_SHUFFLE if config.exchange_shuffle is ExchangeShuffle.hash
                                     else ShuffleStrategy.SORT_SHUFFLE_PULL_BASED)
    seconds["signatures"] = time.perf_counter() - t

    t = time.perf_counter()
    if config.exact:
        keys = sigs.map_batches(_exact_keys, fn_kwargs={"partitions": config.exchange_partitions},
                                batch_format="pyarrow")
        exact_ds = keys.groupby(_PART, num_partitions=config.exchange_partitions).map_groups(
            _exact_groups, batch_format="pyarrow")
        exact_rows = _collect(exact_ds, EXACT_SCHEMA)
    else:
        exact_rows = EXACT_SCHEMA.empty_table()
    seconds["exchange_exact"] = time.perf_counter() - t

    t = time.perf_counter()
    if config.near:
        bands = sigs.map_batches(_band_rows, fn_kwargs={"partitions": config.exchange_partitions},
                                 batch_format="pyarrow")
        out = _collect(bands.groupby(_PART, num_partitions=config.exchange_partitions).map_groups(
            _pairs, fn_kwargs={"max_pairs_group": config.max_pairs_group, "dedupe_exact": config.exact},
            batch_format="pyarrow"), _EXCHANGE_SCHEMA)
        is_pair = pc.equal(out.column("kind"), "pair")
        pairs = unique_pairs(out.filter(is_pair).select(["id_a", "id_b"]).cast(PAIR_SCHEMA))
        big_rows = out.filter(pc.invert(is_pair))
        big = pa.table([big_rows.column("band_key"), big_rows.column("size"), big_rows.column("id_a")],
                       schema=BIG_GROUP_SCHEMA)
    else:
        pairs, big = PAIR_SCHEMA.empty_table(), BIG_GROUP_SCHEMA.empty_table()
    seconds["exchange_bands"] = time.perf_counter() - t

    t = time.perf_counter()
    ids = candidate_ids(exact_rows, pairs)
    if len(ids):
        features = _collect(ds.map_batches(_features, fn_kwargs={"ids": ids, "config": config},
                                           batch_format="pyarrow", batch_size=_MAP_BATCH_DOCS), FEATURE_SCHEMA)
    else:
        features = FEATURE_SCHEMA.empty_table()
    seconds["features"] = time.perf_counter() - t

    removed, stats, _ = finish_dedup(exact_rows, pairs, big, features, config)
    sig_stats = signature_stats(_collect(sigs.select_columns(["n_shingles", "capped"]),
                                         pa.schema([SIGNATURE_SCHEMA.field("n_shingles"),
                                                    SIGNATURE_SCHEMA.field("capped")])))
    stats = {**sig_stats, **stats}
    stats["seconds"] = {**{k: round(v, 4) for k, v in seconds.items()}, **stats["seconds"]}
    return ray.data.from_arrow(removed.cast(REMOVED_SCHEMA)), stats


__all__ = ["dedup_dataset"]
