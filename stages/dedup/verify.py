"""Verification: a candidate becomes an edge of the duplicate graph only if its documents really are duplicates.

Exact groups compare the normalised text itself (a hash collision can never remove a document). LSH pairs
compare exact Jaccard |A & B| / |A | B| of the two sorted shingle sets, for a whole chunk of pairs at once:
both sets of every pair go into one array tagged with the pair index, one lexsort, and equal neighbours are the
intersection. Example: pair 0 = ({1,5,9}, {5,9,11}) -> sorted tagged values (0,1)(0,5)(0,5)(0,9)(0,9)(0,11)
-> 2 equal neighbours -> J = 2 / (3 + 3 - 2) = 0.5.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.dedup.candidates import EXACT_SCHEMA, PAIR_SCHEMA
from stages.dedup.config import DedupConfig, Verify

EXACT_EDGE_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("rep_id", pa.string())])
"""`id` has the same normalised text as `rep_id`, the smallest id of that text (id != rep_id)."""
NEAR_EDGE_SCHEMA = pa.schema([pa.field("id_a", pa.string()), pa.field("id_b", pa.string()),
                              pa.field("jaccard", pa.float64()), pa.field("edge", pa.bool_())])
"""Every candidate pair with its similarity (exact Jaccard, signature share, or NaN when verify=off)."""

_CHUNK_ELEMENTS = 1 << 22
"""Shingles of both sides per verification chunk: bounds the tagged array to ~100 MB of temporaries."""


def verify_exact(rows: pa.Table, features: pa.Table) -> pa.Table:
    """Edges id -> smallest id with byte-identical normalised text, within each exact key (EXACT_SCHEMA rows)."""
    if rows.num_rows == 0:
        return EXACT_EDGE_SCHEMA.empty_table()
    idx = pc.index_in(rows.column("id"), value_set=features.column("id"))
    if idx.null_count:
        raise AssertionError("an exact candidate has no features row")
    t = rows.select(EXACT_SCHEMA.names).append_column("norm_text", pc.take(features.column("norm_text"), idx))
    t = t.sort_by([("exact_hi", "ascending"), ("exact_lo", "ascending"), ("norm_text", "ascending"),
                   ("id", "ascending")])
    hi, lo = t.column("exact_hi").to_numpy(), t.column("exact_lo").to_numpy()
    text = t.column("norm_text").combine_chunks()
    new = np.ones(t.num_rows, dtype=bool)
    if t.num_rows > 1:
        same_text = pc.equal(text[1:], text[:-1]).to_numpy(zero_copy_only=False)
        new[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1]) | ~same_text
    gid = np.cumsum(new) - 1
    rep = np.flatnonzero(new)[gid]
    dup = np.flatnonzero(~new)
    ids = t.column("id").combine_chunks()
    return pa.table([pc.take(ids, pa.array(dup)), pc.take(ids, pa.array(rep[dup]))], schema=EXACT_EDGE_SCHEMA)


def jaccard_of_sets(sets: pa.LargeListArray, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Exact Jaccard of sets[ia[k]] and sets[ib[k]] for every k: (P,) float64; 0.0 when both are empty.

    sets: large_list<uint64>, each row sorted and unique (minhash.sorted_unique_sets).
    """
    offs = sets.offsets.to_numpy()
    vals = sets.values.to_numpy()
    la, lb = offs[ia + 1] - offs[ia], offs[ib + 1] - offs[ib]
    out = np.zeros(len(ia), dtype=np.float64)
    sizes = la + lb
    k0 = 0
    while k0 < len(ia):
        # the largest chunk of pairs whose shingles fit the budget (always at least one pair)
        k1 = max(k0 + 1, int(np.searchsorted(np.cumsum(sizes[k0:]), _CHUNK_ELEMENTS, side="right")) + k0)
        sl = slice(k0, k1)
        p = np.arange(k1 - k0, dtype=np.int64)
        parts_v, parts_p = [], []
        for start, length in ((offs[ia[sl]], la[sl]), (offs[ib[sl]], lb[sl])):
            total = int(length.sum())
            before = np.cumsum(length) - length
            parts_v.append(vals[np.repeat(start - before, length) + np.arange(total, dtype=np.int64)])
            parts_p.append(np.repeat(p, length))
        v, pp = np.concatenate(parts_v), np.concatenate(parts_p)
        order = np.lexsort((v, pp))
        v, pp = v[order], pp[order]
        eq = (v[1:] == v[:-1]) & (pp[1:] == pp[:-1])
        inter = np.bincount(pp[1:][eq], minlength=k1 - k0)
        union = la[sl] + lb[sl] - inter
        out[sl] = np.divide(inter, union, out=np.zeros(k1 - k0), where=union > 0)
        k0 = k1
    return out


def verify_pairs(pairs: pa.Table, features: pa.Table, config: DedupConfig) -> pa.Table:
    """NEAR_EDGE_SCHEMA: every candidate pair with its similarity and whether it is an edge."""
    if pairs.num_rows == 0:
        return NEAR_EDGE_SCHEMA.empty_table()
    pairs = pairs.select(PAIR_SCHEMA.names)
    ids = features.column("id")
    ia = pc.index_in(pairs.column("id_a"), value_set=ids)
    ib = pc.index_in(pairs.column("id_b"), value_set=ids)
    if ia.null_count or ib.null_count:
        raise AssertionError("a candidate pair has no features row")
    ia, ib = ia.to_numpy(), ib.to_numpy()
    if config.verify is Verify.exact:
        sim = jaccard_of_sets(features.column("shingles").combine_chunks(), ia, ib)
        edge = sim >= config.jaccard_threshold
    elif config.verify is Verify.signature:
        sig = features.column("signature").combine_chunks()
        mat = sig.values.to_numpy().reshape(len(sig), config.num_perm)
        sim = (mat[ia] == mat[ib]).mean(axis=1)
        edge = sim >= config.jaccard_threshold
    else:
        sim = np.full(len(ia), np.nan)
        edge = np.ones(len(ia), dtype=bool)
    return pa.table([pairs.column("id_a"), pairs.column("id_b"), pa.array(sim, pa.float64()),
                     pa.array(edge, pa.bool_())], schema=NEAR_EDGE_SCHEMA)
