"""Candidates from keys: exact groups (same xxh3-128 key) and LSH buckets (same band key) -> document pairs.

These functions see one hash partition of the exchange at a time (or the whole corpus without Ray); every key's
rows are in one partition, so their output depends only on the rows, never on how they were partitioned.
Inside a bucket rows are ordered by (key, exact key, id), never by arrival order.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EXACT_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("exact_hi", pa.uint64()),
                          pa.field("exact_lo", pa.uint64())])
BAND_ROW_SCHEMA = pa.schema([pa.field("band_key", pa.uint64()), pa.field("id", pa.string()),
                             pa.field("exact_hi", pa.uint64()), pa.field("exact_lo", pa.uint64())])
PAIR_SCHEMA = pa.schema([pa.field("id_a", pa.string()), pa.field("id_b", pa.string())])
"""A candidate pair, id_a < id_b (byte order of UTF-8 = code point order)."""
BIG_GROUP_SCHEMA = pa.schema([pa.field("band_key", pa.uint64()), pa.field("size", pa.int64()),
                              pa.field("smallest_id", pa.string())])
"""An LSH bucket larger than max_pairs_group (boilerplate): verified as a star around its smallest id."""


def _u64(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy()


def _runs(*keys: np.ndarray) -> np.ndarray:
    """Start flag of each run of equal consecutive key tuples: (n,) bool."""
    n = len(keys[0])
    new = np.ones(n, dtype=bool)
    if n > 1:
        diff = np.zeros(n - 1, dtype=bool)
        for k in keys:
            diff |= k[1:] != k[:-1]
        new[1:] = diff
    return new


def exact_candidates(rows: pa.Table) -> pa.Table:
    """Rows (EXACT_SCHEMA) whose (exact_hi, exact_lo) key is shared by >= 2 rows, sorted by key then id."""
    t = rows.select(EXACT_SCHEMA.names).sort_by([("exact_hi", "ascending"), ("exact_lo", "ascending"),
                                                 ("id", "ascending")])
    if t.num_rows == 0:
        return EXACT_SCHEMA.empty_table()
    new = _runs(_u64(t, "exact_hi"), _u64(t, "exact_lo"))
    gid = np.cumsum(new) - 1
    size = np.bincount(gid)
    return t.filter(pa.array(size[gid] >= 2)).cast(EXACT_SCHEMA)


def band_rows(signatures: pa.Table | pa.RecordBatch) -> pa.Table:
    """One row per (document, band) with a key: BAND_ROW_SCHEMA. Documents without shingles give none."""
    keys = signatures.column("band_keys")
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    parent = pc.list_parent_indices(keys)
    take = lambda name: pc.take(signatures.column(name), parent)  # noqa: E731
    return pa.table([pc.list_flatten(keys), take("id"), take("exact_hi"), take("exact_lo")], schema=BAND_ROW_SCHEMA)


def _ordered_pairs(ids: pa.Array, i: np.ndarray, j: np.ndarray) -> pa.Table:
    a, b = pc.take(ids, pa.array(i)), pc.take(ids, pa.array(j))
    first = pc.less(a, b)
    return pa.table([pc.if_else(first, a, b), pc.if_else(first, b, a)], schema=PAIR_SCHEMA)


def candidate_pairs(rows: pa.Table, max_pairs_group: int, dedupe_exact: bool) -> tuple[pa.Table, pa.Table]:
    """Candidate pairs of the LSH buckets in `rows` (BAND_ROW_SCHEMA): (unique PAIR_SCHEMA pairs, big groups).

    A bucket keeps one row per exact key when `dedupe_exact` (its smallest id: exact copies are the exact step's
    business and would only add a clique of J = 1 pairs). A bucket of k <= max_pairs_group rows gives all
    k(k-1)/2 pairs; a larger one gives k-1 pairs to its smallest id and is returned in big groups.
    Example: bucket [d1 d2 d3] -> (d1,d2) (d1,d3) (d2,d3); with max_pairs_group=2 -> (d1,d2) (d1,d3).
    """
    t = rows.select(BAND_ROW_SCHEMA.names).sort_by(
        [("band_key", "ascending"), ("exact_hi", "ascending"), ("exact_lo", "ascending"), ("id", "ascending")])
    if dedupe_exact and t.num_rows:
        t = t.filter(pa.array(_runs(_u64(t, "band_key"), _u64(t, "exact_hi"), _u64(t, "exact_lo"))))
    n = t.num_rows
    if n == 0:
        return PAIR_SCHEMA.empty_table(), BIG_GROUP_SCHEMA.empty_table()
    bk = _u64(t, "band_key")
    new = _runs(bk)
    gid = np.cumsum(new) - 1
    gstart = np.flatnonzero(new)
    gsize = np.bincount(gid)
    size_row = gsize[gid]
    pos = np.arange(n) - gstart[gid]
    ids = t.column("id").combine_chunks()
    small = (size_row >= 2) & (size_row <= max_pairs_group)
    parts_i, parts_j = [], []
    max_small = int(size_row[small].max()) if small.any() else 0
    # pair (row, row + d) for every offset d inside a bucket: max_small - 1 vectorised passes
    for d in range(1, max_small):
        i = np.flatnonzero(small & (pos + d < size_row))
        parts_i.append(i)
        parts_j.append(i + d)
    pairs = [_ordered_pairs(ids, np.concatenate(parts_i), np.concatenate(parts_j))] if parts_i else []
    big_rows = size_row > max_pairs_group
    if big_rows.any():
        big = t.filter(pa.array(big_rows)).select(["band_key", "id"]).sort_by([("band_key", "ascending"),
                                                                               ("id", "ascending")])
        bnew = _runs(_u64(big, "band_key"))
        bgid = np.cumsum(bnew) - 1
        bstart = np.flatnonzero(bnew)
        bids = big.column("id").combine_chunks()
        members = np.flatnonzero(~bnew)
        pairs.append(pa.table([pc.take(bids, pa.array(bstart[bgid[members]])), pc.take(bids, pa.array(members))],
                              schema=PAIR_SCHEMA))
        big_groups = pa.table([pa.array(_u64(big, "band_key")[bstart], pa.uint64()),
                               pa.array(np.bincount(bgid), pa.int64()), pc.take(bids, pa.array(bstart))],
                              schema=BIG_GROUP_SCHEMA)
    else:
        big_groups = BIG_GROUP_SCHEMA.empty_table()
    if not pairs:
        return PAIR_SCHEMA.empty_table(), big_groups
    return unique_pairs(pa.concat_tables(pairs)), big_groups


def unique_pairs(pairs: pa.Table) -> pa.Table:
    """Distinct (id_a, id_b) rows, sorted: the same pair from several bands or partitions counts once."""
    if pairs.num_rows == 0:
        return PAIR_SCHEMA.empty_table()
    u = pairs.group_by(["id_a", "id_b"], use_threads=False).aggregate([])
    return u.select(PAIR_SCHEMA.names).sort_by([("id_a", "ascending"), ("id_b", "ascending")]).cast(PAIR_SCHEMA)
