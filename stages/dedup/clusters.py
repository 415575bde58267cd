"""Connected components of the verified duplicate graph and the keep-one rule (smallest id per cluster).

Nodes are numbered in sorted-id order, so "smallest label" is "smallest id": min-label hooking plus pointer
jumping (numpy, no scipy) leaves every node labelled with its component's smallest node, which is the kept
document. The result depends only on the set of edges, never on their order or on Ray's partitioning
(datatrove's union-by-size keeps whichever root wins, so compare partitions with it, never kept ids).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.schema import REASON, stable_hash

REMOVED_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field(REASON, pa.string()),
    pa.field("cluster_id", pa.uint64()),
    pa.field("kept_id", pa.string()),
    pa.field("cluster_size", pa.int64()),
])
"""One row per removed document. reason: `dedup.exact` (byte-identical normalised text to a smaller id) or
`dedup.near`; cluster_id = xxh64(kept_id) (stable, joinable by a later semantic step); cluster_size counts the
kept document too (FineWeb2 rehydration weights read it)."""

EXACT = "dedup.exact"
NEAR = "dedup.near"


def connected_components(n_nodes: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Label of each node = smallest node index of its component: (n_nodes,) int64. u, v: (E,) int64 edges."""
    labels = np.arange(n_nodes, dtype=np.int64)
    while True:
        lu, lv = labels[u], labels[v]
        if np.array_equal(lu, lv):
            return labels
        m = np.minimum(lu, lv)
        # hook each root to the smallest root it touches; roots only ever decrease, so a component's smallest
        # node stays a root and ends as the label of the whole component
        np.minimum.at(labels, lu, m)
        np.minimum.at(labels, lv, m)
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped


def keep_rank(nodes: pa.Array, quality: pa.Table | None) -> np.ndarray:
    """Rank of each node in keep order, 0 = kept first: (n_nodes,) int64. nodes: sorted ids.

    quality None: the node order itself (smallest id first). Else (id, quality_score) rows: highest score first,
    null/NaN scores after every real one, ties by smallest id. Example: ids [a b c], scores [0.2 0.9 0.9] ->
    ranks [2 0 1] (b and c tie on 0.9; b is the smaller id).
    """
    n = len(nodes)
    if quality is None:
        return np.arange(n, dtype=np.int64)
    idx = pc.index_in(nodes, value_set=quality.column("id"))
    score = pc.take(quality.column("quality_score").cast(pa.float64()), idx)  # a null index gives a null score
    s = pc.fill_null(score, np.nan).to_numpy(zero_copy_only=False)
    s = np.where(np.isnan(s), -np.inf, s)
    order = np.lexsort((np.arange(n), -s))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64)
    return rank


def resolve_clusters(exact_edges: pa.Table, near_edges: pa.Table, top_clusters: int = 10,
                     quality: pa.Table | None = None) -> tuple[pa.Table, dict]:
    """Removed rows (REMOVED_SCHEMA, sorted by id) and cluster stats from verified edges.

    exact_edges: (id, rep_id); near_edges: (id_a, id_b, ..., edge) — only rows with edge=true are used.
    quality: None keeps the smallest id of each cluster; (id, quality_score) rows covering the nodes keep the
    best score (`keep_rank`). A removed document is `dedup.exact` when a better-ranked document of its cluster
    has the same normalised text, else `dedup.near`.
    """
    near = near_edges.filter(near_edges.column("edge")) if near_edges.num_rows else near_edges
    ends = [exact_edges.column("id"), exact_edges.column("rep_id"), near.column("id_a"), near.column("id_b")]
    all_ids = pa.chunked_array([c for e in ends for c in e.chunks], type=pa.string())
    nodes = pc.unique(all_ids).sort() if len(all_ids) else pa.array([], pa.string())
    if isinstance(nodes, pa.ChunkedArray):
        nodes = nodes.combine_chunks()
    index = lambda col: pc.index_in(col, value_set=nodes).to_numpy(zero_copy_only=False).astype(np.int64)  # noqa
    rank = keep_rank(nodes, quality)
    at_rank = np.empty_like(rank)
    at_rank[rank] = np.arange(len(rank), dtype=np.int64)  # the node at each rank
    eu, ev = rank[index(ends[0])], rank[index(ends[1])]
    u = np.concatenate([eu, rank[index(ends[2])]])
    v = np.concatenate([ev, rank[index(ends[3])]])
    # components in rank space: each label is its component's best rank, i.e. the kept node
    labels = at_rank[connected_components(len(nodes), u, v)[rank]]
    exact_best = at_rank[connected_components(len(nodes), eu, ev)[rank]]
    is_exact = exact_best != np.arange(len(nodes))
    sizes = np.bincount(labels, minlength=len(nodes))
    removed = np.flatnonzero(labels != np.arange(len(nodes)))
    kept = pc.take(nodes, pa.array(labels[removed]))
    reason = np.where(is_exact[removed], EXACT, NEAR)
    table = pa.table([pc.take(nodes, pa.array(removed)), pa.array(reason, pa.string()),
                      pa.array(stable_hash(kept), pa.uint64()), kept, pa.array(sizes[labels[removed]], pa.int64())],
                     schema=REMOVED_SCHEMA)
    roots = np.flatnonzero((labels == np.arange(len(nodes))) & (sizes > 1))
    order = np.lexsort((roots, -sizes[roots]))[:top_clusters]
    top = [{"size": int(sizes[roots[k]]), "kept_id": nodes[int(roots[k])].as_py()} for k in order]
    stats = {"clusters": int(len(roots)), "documents_in_clusters": int(sizes[roots].sum()),
             "removed_exact": int((reason == EXACT).sum()), "removed_near": int((reason == NEAR).sum()),
             "largest_clusters": top}
    return table, stats
