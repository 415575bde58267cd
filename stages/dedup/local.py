"""The whole dedup in one process: the reference that the Ray exchange (pipelines/dedup.py) must equal.

Both paths share every step but the exchange: signatures (map) → exact groups and LSH buckets (here: the whole
table is one partition) → candidate features (map) → `finish_dedup` (verification, components, keep-one).
"""
from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.dedup.candidates import (BIG_GROUP_SCHEMA, EXACT_SCHEMA, PAIR_SCHEMA, band_rows, candidate_pairs,
                                     exact_candidates)
from stages.dedup.clusters import resolve_clusters
from stages.dedup.config import DedupConfig, Keep
from stages.dedup.signatures import QUALITY, DedupShingler, DedupSignatures, candidate_features
from stages.dedup.verify import verify_exact, verify_pairs

_BATCH_ROWS = 4096
"""Rows per signature batch in the local path (bounds the broadcast scratch and the flat shingle array)."""


def candidate_ids(exact_rows: pa.Table, pairs: pa.Table) -> pa.Array:
    """Distinct ids that appear in an exact group or a candidate pair (the documents verification needs)."""
    parts = [exact_rows.column("id"), pairs.column("id_a"), pairs.column("id_b")]
    chunks = [c for p in parts for c in p.chunks]
    if not chunks:
        return pa.array([], pa.string())
    return pc.unique(pa.chunked_array(chunks, type=pa.string()))


def signature_stats(signatures: pa.Table) -> dict:
    """Counts from the signature pass: documents, too short for MinHash, shingle-capped."""
    n_sh = signatures.column("n_shingles").to_numpy()
    return {"documents": signatures.num_rows, "too_short_for_minhash": int((n_sh == 0).sum()),
            "shingles": int(n_sh.sum()), "capped_documents": int(pc.sum(signatures.column("capped")).as_py() or 0)}


def _distinct_keys(exact_rows: pa.Table) -> int:
    """Distinct (exact_hi, exact_lo) keys: rows - edges - keys = texts that share a key with another text."""
    if exact_rows.num_rows == 0:
        return 0
    keys = np.unique(np.stack([exact_rows.column("exact_hi").to_numpy(), exact_rows.column("exact_lo").to_numpy()],
                              axis=1), axis=0)
    return len(keys)


def verify_candidates(exact_rows: pa.Table, pairs: pa.Table, features: pa.Table,
                      config: DedupConfig) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    """Verification of one share of the candidates: (exact edges, near: every pair with its similarity, counts).

    A share is any set of whole exact groups (every row of an exact key) and of unique pairs; `features` must hold
    a row for each of their ids (more rows are fine). The counts (exact_candidates, exact_collisions,
    candidate_pairs, verified_edges, rejected_pairs) of disjoint shares add up to those of their union, which is
    what lets the Ray path verify in many tasks and still report the single-process numbers.
    """
    exact_edges = verify_exact(exact_rows, features)
    near = verify_pairs(pairs, features, config)
    n_edges = int(pc.sum(near.column("edge")).as_py() or 0) if near.num_rows else 0
    counts = {"exact_candidates": exact_rows.num_rows,
              "exact_collisions": exact_rows.num_rows - exact_edges.num_rows - _distinct_keys(exact_rows),
              "candidate_pairs": pairs.num_rows, "verified_edges": n_edges, "rejected_pairs": pairs.num_rows - n_edges}
    return exact_edges, near, counts


def finish_clusters(exact_edges: pa.Table, near_edges: pa.Table, big_groups: pa.Table, quality: pa.Table | None,
                    counts: dict[str, int], config: DedupConfig) -> tuple[pa.Table, dict]:
    """Components and keep-one from verified edges: (removed rows, stats without signature counts).

    near_edges: NEAR_EDGE_SCHEMA rows (only edge=true ones count; the Ray path sends only those). quality: None,
    or (id, quality_score) rows covering every node of an edge (duplicate ids allowed, with equal scores). counts:
    `verify_candidates` counts summed over the shares, plus candidates_without_quality.
    """
    t0 = time.perf_counter()
    removed, cluster_stats = resolve_clusters(exact_edges, near_edges, config.report_top_clusters, quality)
    big = big_groups.sort_by([("size", "descending"), ("band_key", "ascending")]).slice(0, config.report_top_clusters)
    stats = {
        **{k: counts[k] for k in ("exact_candidates", "exact_collisions", "candidate_pairs", "verified_edges",
                                  "rejected_pairs")},
        "keep": str(config.keep),
        "candidates_without_quality": counts["candidates_without_quality"],
        "big_buckets": big_groups.num_rows,
        "largest_buckets": big.select(["size", "smallest_id"]).to_pylist(),
        **cluster_stats,
        "seconds": {"components": round(time.perf_counter() - t0, 4)},
    }
    return removed, stats


def finish_dedup(exact_rows: pa.Table, pairs: pa.Table, big_groups: pa.Table, features: pa.Table,
                 config: DedupConfig) -> tuple[pa.Table, dict, pa.Table]:
    """Verification, components and keep-one: (removed rows, stats, near edges with their similarity)."""
    t0 = time.perf_counter()
    exact_edges, near, counts = verify_candidates(exact_rows, pairs, features, config)
    t1 = time.perf_counter()
    quality = features.select(["id", QUALITY]) if config.keep is Keep.best_quality else None
    counts["candidates_without_quality"] = int(features.column(QUALITY).null_count) if quality is not None else 0
    removed, stats = finish_clusters(exact_edges, near, big_groups, quality, counts, config)
    stats["seconds"] = {"verify": round(t1 - t0, 4), **stats["seconds"]}
    return removed, stats, near


def dedup_table(table: pa.Table, config: DedupConfig) -> tuple[pa.Table, dict]:
    """Dedup a whole table in this process: (removed rows as clusters.REMOVED_SCHEMA, stats)."""
    t0 = time.perf_counter()
    sig_map = DedupSignatures(config)
    batches = table.to_batches(max_chunksize=_BATCH_ROWS)
    signatures = pa.Table.from_batches([sig_map.process(b) for b in batches]) if batches else \
        pa.Table.from_batches([sig_map.process(table)])
    t1 = time.perf_counter()
    exact_rows = exact_candidates(signatures) if config.exact else EXACT_SCHEMA.empty_table()
    if config.near:
        pairs, big = candidate_pairs(band_rows(signatures), config.max_pairs_group, dedupe_exact=config.exact)
    else:
        pairs, big = PAIR_SCHEMA.empty_table(), BIG_GROUP_SCHEMA.empty_table()
    t2 = time.perf_counter()
    ids = candidate_ids(exact_rows, pairs)
    shingler = DedupShingler(config)
    features = pa.Table.from_batches([candidate_features(b, ids, config, shingler) for b in batches]) \
        if batches else pa.Table.from_batches([candidate_features(table, ids, config, shingler)])
    t3 = time.perf_counter()
    removed, stats, _ = finish_dedup(exact_rows, pairs, big, features, config)
    stats = {**signature_stats(signatures), **stats}
    stats["seconds"] = {"signatures": round(t1 - t0, 4), "exchange": round(t2 - t1, 4),
                        "features": round(t3 - t2, 4), **stats["seconds"]}
    return removed, stats
