"""Best-fit and first-fit decreasing over integer piece lengths, compiled with numba.

Trade-off: bin packing is sequential (each placement depends on every earlier one), so no numpy batch
operation expresses it; a per-piece Python loop runs at ~0.1-0.3 M pieces/s (bench/packing_best_fit.py,
`first_fit_python`). numba runs the spec's loop over flat int arrays at several M pieces/s on one core, with
O(log L) per best-fit placement (a max tree over free capacities) and O(log N) per first-fit placement (a max
tree over rows). Compiled functions are cached on disk (`cache=True`), so a Ray worker compiles once.
"""
from __future__ import annotations

import numba
import numpy as np


def split_pieces(n_tokens: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut documents longer than `capacity` into full pieces plus one remainder (Ding et al. 2024 §3).

    n_tokens: (n_docs,) int; returns (piece_doc int64, piece_offset int64, piece_len int64), pieces in document
    order, a document's pieces left to right; empty documents give no piece.
    Example: n_tokens [3, 10, 0], capacity 4 -> doc [0, 1, 1, 1], offset [0, 0, 4, 8], len [3, 4, 4, 2].
    """
    n = np.asarray(n_tokens, dtype=np.int64)
    n_pieces = (n + capacity - 1) // capacity
    piece_doc = np.repeat(np.arange(len(n), dtype=np.int64), n_pieces)
    first = np.cumsum(n_pieces) - n_pieces
    piece_index = np.arange(len(piece_doc), dtype=np.int64) - np.repeat(first, n_pieces)
    piece_offset = piece_index * capacity
    piece_len = np.minimum(capacity, n[piece_doc] - piece_offset)
    return piece_doc, piece_offset, piece_len


@numba.njit(cache=True, nogil=True)
def _order_decreasing(lens: np.ndarray, capacity: int) -> np.ndarray:  # pragma: no cover - compiled
    """Counting sort by length descending, stable in piece order (ties never depend on anything but ids)."""
    counts = np.zeros(capacity + 2, dtype=np.int64)
    for i in range(lens.shape[0]):
        counts[capacity - lens[i]] += 1
    start = np.zeros(capacity + 2, dtype=np.int64)
    for k in range(1, capacity + 2):
        start[k] = start[k - 1] + counts[k - 1]
    order = np.empty(lens.shape[0], dtype=np.int64)
    for i in range(lens.shape[0]):
        k = capacity - lens[i]
        order[start[k]] = i
        start[k] += 1
    return order


@numba.njit(cache=True, nogil=True)
def _best_fit(lens: np.ndarray, order: np.ndarray, capacity: int) -> tuple[np.ndarray, int]:  # pragma: no cover
    """Optimized best-fit decreasing (Ding et al. 2024, App. B). Returns (row of each piece, number of rows).

    tree: max tree over leaves 1..capacity (padded to a power of two); leaf c holds c iff some row has exactly c
    free tokens; leaf `capacity` is always set (a fresh row). Rows with equal free space queue FIFO in
    head/tail/nxt, so the oldest such row is filled first.
    """
    size = 1
    while size < capacity:
        size *= 2
    tree = np.zeros(2 * size, dtype=np.int64)
    n = lens.shape[0]
    head = np.full(capacity + 1, -1, dtype=np.int64)
    tail = np.full(capacity + 1, -1, dtype=np.int64)
    nxt = np.full(max(n, 1), -1, dtype=np.int64)
    row_of = np.empty(n, dtype=np.int64)
    n_rows = 0
    # set leaf `capacity`
    node = size + capacity - 1
    tree[node] = capacity
    node >>= 1
    while node >= 1:
        tree[node] = max(tree[2 * node], tree[2 * node + 1])
        node >>= 1
    for j in range(n):
        i = order[j]
        need = lens[i]
        node = 1
        while node < size:  # descend to the smallest capacity >= need
            if tree[2 * node] >= need:
                node = 2 * node
            else:
                node = 2 * node + 1
        c = node - size + 1
        if c == capacity:
            row = n_rows
            n_rows += 1
        else:
            row = head[c]
            head[c] = nxt[row]
            if head[c] == -1:
                tail[c] = -1
                node = size + c - 1  # clear leaf c
                tree[node] = 0
                node >>= 1
                while node >= 1:
                    tree[node] = max(tree[2 * node], tree[2 * node + 1])
                    node >>= 1
        row_of[i] = row
        r = c - need
        if r > 0:
            nxt[row] = -1
            if tail[r] == -1:
                head[r] = row
                node = size + r - 1  # set leaf r
                tree[node] = r
                node >>= 1
                while node >= 1:
                    tree[node] = max(tree[2 * node], tree[2 * node + 1])
                    node >>= 1
            else:
                nxt[tail[r]] = row
            tail[r] = row
    return row_of, n_rows


@numba.njit(cache=True, nogil=True)
def _first_fit(lens: np.ndarray, order: np.ndarray, capacity: int) -> tuple[np.ndarray, int]:  # pragma: no cover
    """First-fit decreasing: the lowest-numbered row with enough free space, found in a max tree over rows."""
    n = lens.shape[0]
    size = 1
    while size < max(n, 1):
        size *= 2
    tree = np.full(2 * size, capacity, dtype=np.int64)  # every row starts empty
    row_of = np.empty(n, dtype=np.int64)
    n_rows = 0
    for j in range(n):
        i = order[j]
        need = lens[i]
        node = 1
        while node < size:
            if tree[2 * node] >= need:
                node = 2 * node
            else:
                node = 2 * node + 1
        row = node - size
        row_of[i] = row
        if row + 1 > n_rows:
            n_rows = row + 1
        tree[node] -= need
        node >>= 1
        while node >= 1:
            tree[node] = max(tree[2 * node], tree[2 * node + 1])
            node >>= 1
    return row_of, n_rows


@numba.njit(cache=True, nogil=True)
def _rows_in_placement_order(row_of: np.ndarray, order: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Group pieces by row, each row listing its pieces in placement order. Returns (pieces, row_offsets)."""
    counts = np.zeros(n_rows + 1, dtype=np.int64)
    for i in range(row_of.shape[0]):
        counts[row_of[i] + 1] += 1
    for r in range(n_rows):
        counts[r + 1] += counts[r]
    fill = counts[:-1].copy()
    pieces = np.empty(row_of.shape[0], dtype=np.int64)
    for j in range(order.shape[0]):
        i = order[j]
        r = row_of[i]
        pieces[fill[r]] = i
        fill[r] += 1
    return pieces, counts


def pack_lengths(lens: np.ndarray, capacity: int, *, first_fit: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Best-fit (or first-fit) decreasing of piece lengths 1..capacity, ties in piece order.

    lens: (n,) int64, every value in [1, capacity]. Returns (pieces, row_offsets): row r holds
    pieces[row_offsets[r]:row_offsets[r + 1]] in placement order (longest first); rows in order of opening.
    Example (Ding et al. App. B): lens [8, 6, 6, 4, 3], capacity 8 -> rows [0], [1], [2], [3, 4].
    """
    lens = np.ascontiguousarray(lens, dtype=np.int64)
    if len(lens) and (lens.min() < 1 or lens.max() > capacity):
        raise ValueError(f"piece lengths must be in [1, {capacity}], got [{lens.min()}, {lens.max()}]")
    order = _order_decreasing(lens, capacity)
    row_of, n_rows = (_first_fit if first_fit else _best_fit)(lens, order, capacity)
    return _rows_in_placement_order(row_of, order, n_rows)
