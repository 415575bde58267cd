"""Candidates, verification and components against naive Python versions kept in this test: these decide which
documents are removed, so each is checked on arbitrary inputs (hypothesis), including the collision guard."""
import itertools

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.dedup import (DedupConfig, candidate_pairs, connected_components, exact_candidates, jaccard_of_sets,
                          resolve_clusters, verify_exact, verify_pairs)
from stages.dedup.candidates import BAND_ROW_SCHEMA, EXACT_SCHEMA, PAIR_SCHEMA
from stages.dedup.signatures import FEATURE_SCHEMA
from stages.dedup.verify import EXACT_EDGE_SCHEMA, NEAR_EDGE_SCHEMA


def _band_table(rows):
    """rows: (band_key, id, exact key)."""
    return pa.table({"band_key": pa.array([r[0] for r in rows], pa.uint64()), "id": [r[1] for r in rows],
                     "exact_hi": pa.array([r[2] for r in rows], pa.uint64()),
                     "exact_lo": pa.array([0] * len(rows), pa.uint64())}, schema=BAND_ROW_SCHEMA)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 30), st.integers(0, 3)), max_size=60),
       st.integers(2, 6), st.booleans())
def test_candidate_pairs_match_naive(rows, max_group, dedupe_exact):
    """All pairs in buckets of <= max_group, a star to the smallest id above; exact copies collapsed first."""
    rows = list({(b, f"d{i:02d}", e) for b, i, e in rows})
    pairs, big = candidate_pairs(_band_table(rows), max_group, dedupe_exact)
    expected, expected_big = set(), {}
    for b in {r[0] for r in rows}:
        members = sorted((r for r in rows if r[0] == b), key=lambda r: (r[2], r[1]))
        if dedupe_exact:
            members = [next(g) for _, g in itertools.groupby(members, key=lambda r: r[2])]
        ids = sorted(m[1] for m in members)
        if len(ids) > max_group:
            expected |= {(ids[0], x) for x in ids[1:]}
            expected_big[b] = (len(ids), ids[0])
        else:
            expected |= set(itertools.combinations(ids, 2))
    assert set(zip(pairs.column("id_a").to_pylist(), pairs.column("id_b").to_pylist())) == expected
    assert pairs.num_rows == len(expected)
    got_big = {r["band_key"]: (r["size"], r["smallest_id"]) for r in big.to_pylist()}
    assert got_big == expected_big


def test_exact_groups_and_collision_guard():
    """Two different texts forced onto one key both survive; identical texts keep the smallest id."""
    rows = pa.table({"id": ["b", "a", "c", "z"], "exact_hi": pa.array([7, 7, 7, 9], pa.uint64()),
                     "exact_lo": pa.array([1, 1, 1, 1], pa.uint64())}, schema=EXACT_SCHEMA)
    cand = exact_candidates(rows)
    assert cand.column("id").to_pylist() == ["a", "b", "c"]
    features = pa.table({"id": ["a", "b", "c"], "norm_text": pa.array(["same", "same", "other"], pa.large_string()),
                         "shingles": pa.nulls(3, pa.large_list(pa.uint64())),
                         "signature": pa.nulls(3, pa.large_list(pa.uint64())),
                         "quality_score": pa.nulls(3, pa.float64())}, schema=FEATURE_SCHEMA)
    edges = verify_exact(cand, features)
    assert edges.to_pylist() == [{"id": "b", "rep_id": "a"}]
    removed, stats = resolve_clusters(edges, NEAR_EDGE_SCHEMA.empty_table())
    assert removed.column("id").to_pylist() == ["b"]
    assert "c" not in removed.column("id").to_pylist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sets(st.integers(0, 40), max_size=25), min_size=2, max_size=12),
       st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), min_size=1, max_size=30))
def test_jaccard_of_sets_is_exact(sets, idx):
    """The tagged-lexsort intersection equals Python's set Jaccard for any sets and pairs (chunking included)."""
    idx = [(a % len(sets), b % len(sets)) for a, b in idx]
    offsets = np.cumsum([0] + [len(s) for s in sets])
    values = np.array([v for s in sets for v in sorted(s)], dtype=np.uint64)
    arr = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), pa.array(values, pa.uint64()))
    got = jaccard_of_sets(arr, np.array([a for a, _ in idx]), np.array([b for _, b in idx]))
    want = [len(sets[a] & sets[b]) / len(sets[a] | sets[b]) if sets[a] | sets[b] else 0.0 for a, b in idx]
    assert np.allclose(got, want)


def test_verify_pairs_threshold():
    """A pair is an edge iff its exact Jaccard >= jaccard_threshold (0.8 by default)."""
    s = [list(range(10)), list(range(8)) + [100, 101], list(range(9)) + [100]]
    features = pa.table({"id": ["a", "b", "c"], "norm_text": pa.array(["", "", ""], pa.large_string()),
                         "shingles": pa.array(s, pa.large_list(pa.uint64())),
                         "signature": pa.nulls(3, pa.large_list(pa.uint64())),
                         "quality_score": pa.nulls(3, pa.float64())}, schema=FEATURE_SCHEMA)
    pairs = pa.table({"id_a": ["a", "a"], "id_b": ["b", "c"]}, schema=PAIR_SCHEMA)
    out = verify_pairs(pairs, features, DedupConfig())
    assert np.allclose(out.column("jaccard").to_numpy(), [8 / 12, 9 / 11])
    assert out.column("edge").to_pylist() == [False, True]


def _naive_components(n, edges):
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x
    for u, v in edges:
        ru, rv = find(u), find(v)
        if ru != rv:
            parent[max(ru, rv)] = min(ru, rv)
    return [find(x) for x in range(n)]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=60))))
def test_components_label_is_smallest_node(case):
    """Every node ends labelled with the smallest node of its component, whatever the edge order."""
    n, edges = case
    u = np.array([e[0] for e in edges], dtype=np.int64)
    v = np.array([e[1] for e in edges], dtype=np.int64)
    want = _naive_components(n, edges)
    assert connected_components(n, u, v).tolist() == want
    assert connected_components(n, v[::-1].copy(), u[::-1].copy()).tolist() == want


def test_transitive_cluster_keeps_smallest_id_and_marks_reasons():
    """A~B and B~C put A, B, C in one cluster; an exact copy of C is `dedup.exact` with the same kept id."""
    exact = pa.table({"id": ["d"], "rep_id": ["c"]}, schema=EXACT_EDGE_SCHEMA)
    near = pa.table({"id_a": ["b", "a", "x"], "id_b": ["c", "b", "y"], "jaccard": [0.9, 0.85, 0.5],
                     "edge": [True, True, False]}, schema=NEAR_EDGE_SCHEMA)
    removed, stats = resolve_clusters(exact, near)
    rows = {r["id"]: r for r in removed.to_pylist()}
    assert set(rows) == {"b", "c", "d"}
    assert {r["kept_id"] for r in rows.values()} == {"a"}
    assert rows["d"]["reject_reason"] == "dedup.exact" and rows["b"]["reject_reason"] == "dedup.near"
    assert {r["cluster_size"] for r in rows.values()} == {4}
    assert stats["largest_clusters"] == [{"size": 4, "kept_id": "a"}]


def test_best_quality_keeps_highest_score_and_exact_reason_follows_rank():
    """keep=best_quality: the cluster keeps its best score (null ranks last, ties -> smallest id); a removed
    document is `dedup.exact` only if a better-ranked document has its text (here the kept one, c)."""
    exact = pa.table({"id": ["d"], "rep_id": ["c"]}, schema=EXACT_EDGE_SCHEMA)
    near = pa.table({"id_a": ["b", "a"], "id_b": ["c", "b"], "jaccard": [0.9, 0.85], "edge": [True, True]},
                    schema=NEAR_EDGE_SCHEMA)
    quality = pa.table({"id": ["a", "b", "c", "d"], "quality_score": pa.array([None, 0.5, 0.9, 0.9], pa.float64())})
    removed, _ = resolve_clusters(exact, near, quality=quality)
    rows = {r["id"]: (r["reject_reason"], r["kept_id"]) for r in removed.to_pylist()}
    assert rows == {"a": ("dedup.near", "c"), "b": ("dedup.near", "c"), "d": ("dedup.exact", "c")}
    # d (0.95) outranks c (NaN ranks last): d is kept although it is not the smallest id of its exact group,
    # and c, its exact copy, is the exact duplicate
    quality = quality.set_column(1, "quality_score", pa.array([0.1, 0.5, float("nan"), 0.95], pa.float64()))
    removed, _ = resolve_clusters(exact, near, quality=quality)
    rows = {r["id"]: (r["reject_reason"], r["kept_id"]) for r in removed.to_pylist()}
    assert rows == {"a": ("dedup.near", "d"), "b": ("dedup.near", "d"), "c": ("dedup.exact", "d")}
