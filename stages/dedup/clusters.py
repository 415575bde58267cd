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


def resolve_clusters(exact_edges: pa.Table, near_edges: pa.Table, top_clusters: int = 10,
                     ) -> tuple[pa.Table, dict]:
    """Removed rows (REMOVED_SCHEMA, sorted by id) and cluster stats from verified edges.

    exact_edges: (id, rep_id); near_edges: (id_a, id_b, ..., edge) — only rows with edge=true are used.
    """
    near = near_edges.filter(near_edges.column("edge")) if near_edges.num_rows else near_edges
    ends = [exact_edges.column("id"), exact_edges.column("rep_id"), near.column("id_a"), near.column("id_b")]
    all_ids = pa.chunked_array([c for e in ends for c in e.chunks], type=pa.string())
    nodes = pc.unique(all_ids).sort() if len(all_ids) else pa.array([], pa.string())
    if isinstance(nodes, pa.ChunkedArray):
        nodes = nodes.combine_chunks()
    index = lambda col: pc.index_in(col, value_set=nodes).to_numpy(zero_copy_only=False).astype(np.int64)  # noqa
    u = np.concatenate([index(ends[0]), index(ends[2])])
    v = np.concatenate([index(ends[1]), index(ends[3])])
    labels = connected_components(len(nodes), u, v)
    sizes = np.bincount(labels, minlength=len(nodes))
    removed = np.flatnonzero(labels != np.arange(len(nodes)))
    is_exact = np.zeros(len(nodes), dtype=bool)
    is_exact[index(ends[0])] = True
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
