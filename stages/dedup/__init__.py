"""Dedup: exact and MinHash-LSH near-duplicate removal, verified (spec/dedup.md). Pure maps; the one exchange
(grouping keys across the corpus) lives in pipelines/dedup.py, or `dedup_table` does it all in one process.

In:  documents (stages.schema.DOCUMENT_SCHEMA: id, text, source, meta) that survived the filter.
Out: the REMOVED rows only (clusters.REMOVED_SCHEMA): id, reject_reason (`dedup.exact` | `dedup.near`),
     cluster_id (uint64, xxh64 of kept_id), kept_id, cluster_size; plus a stats dict for the report.
     The kept document of each cluster is its smallest id (byte order), so the result never depends on the
     number of CPUs, block boundaries or arrival order; or, with keep=best_quality, its highest `quality_score`
     (ties to the smallest id; the input must then carry that column).

Maps, in order: `DedupSignatures.process` (normalise, xxh3-128 exact key, shingles, MinHash, band keys) →
`exact_candidates` / `band_rows` + `candidate_pairs` per hash partition → `candidate_features` (normalised text
and shingle sets of candidates only) → `finish_dedup` = `verify_candidates` (`verify_exact`, `verify_pairs`) +
`finish_clusters` (`resolve_clusters`); the Ray path runs `verify_candidates` on shares of the candidates in
tasks and `finish_clusters` on the driver.
`mark_duplicates` adds the reasons to a document batch given the removed rows.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from stages.dedup.candidates import (BAND_ROW_SCHEMA, BIG_GROUP_SCHEMA, EXACT_SCHEMA, PAIR_SCHEMA, band_rows,
                                     candidate_pairs, exact_candidates, unique_pairs)
from stages.dedup.clusters import EXACT, NEAR, REMOVED_SCHEMA, connected_components, keep_rank, resolve_clusters
from stages.dedup.config import DedupConfig, Keep, NormalizeConfig, Scope, ShingleUnit, Verify
from stages.dedup.hashing import permutations
from stages.dedup.local import (candidate_ids, dedup_table, finish_clusters, finish_dedup, signature_stats,
                                verify_candidates)
from stages.dedup.minhash import (TextMinHash, band_keys, lsh_probability, minhash_signatures, shingle_hashes,
                                  signature_similarity, sorted_unique_sets, text_buffers, unit_hashes)
from stages.dedup.normalize import normalize_text
from stages.dedup.signatures import (FEATURE_SCHEMA, QUALITY, SIGNATURE_SCHEMA, DedupShingler, DedupSignatures,
                                     candidate_features, check_keep_input)
from stages.dedup.verify import EXACT_EDGE_SCHEMA, NEAR_EDGE_SCHEMA, jaccard_of_sets, verify_exact, verify_pairs
from stages.reasons import add_reasons
from stages.schema import REASON


def mark_duplicates(batch: pa.RecordBatch, removed: pa.Table) -> pa.RecordBatch:
    """The batch with `reject_reason` set for rows whose id is in `removed` (earlier reasons win)."""
    idx = pc.index_in(batch.column("id"), value_set=removed.column("id"))
    reasons = pc.take(removed.column(REASON), idx) if removed.num_rows else pa.nulls(batch.num_rows, pa.string())
    return add_reasons(batch, reasons)


__all__ = [
    "BAND_ROW_SCHEMA", "BIG_GROUP_SCHEMA", "EXACT", "EXACT_EDGE_SCHEMA", "EXACT_SCHEMA", "FEATURE_SCHEMA", "NEAR",
    "NEAR_EDGE_SCHEMA", "PAIR_SCHEMA", "QUALITY", "REMOVED_SCHEMA", "SIGNATURE_SCHEMA", "DedupConfig",
    "DedupShingler", "DedupSignatures", "Keep", "NormalizeConfig", "Scope", "ShingleUnit",
    "TextMinHash", "Verify", "band_keys", "band_rows", "candidate_features", "candidate_ids", "candidate_pairs",
    "check_keep_input", "connected_components", "dedup_table", "exact_candidates", "finish_clusters", "finish_dedup",
    "jaccard_of_sets", "keep_rank", "lsh_probability", "mark_duplicates", "minhash_signatures", "normalize_text",
    "permutations", "resolve_clusters", "shingle_hashes", "signature_similarity", "signature_stats",
    "sorted_unique_sets", "text_buffers", "unique_pairs", "unit_hashes", "verify_candidates", "verify_exact",
    "verify_pairs",
]
