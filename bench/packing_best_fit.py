"""Best-fit packing speed and fill: ours (numba) vs pure-Python first-fit / best-fit and concat-and-chunk.

Input: seeded log-normal document lengths (web-like, mean ~ 600 tokens). Timed twice:
- kernel: lengths -> row assignment (split, counting sort, capacity tree), the part the paper times (Ding et al.
  Table 1: pure-Python OBFD ~ 92 K docs/s);
- end to end: `pack_window` on a token table (rows copied, doc_ids built, Arrow table out).
The Python peers run on a prefix of the input (they are ~100x slower) and must give the same rows as ours.
Then the fill table: rows vs concat-and-chunk at L = 2048 and 8192, for several window sizes.

    python -m bench.packing_best_fit [--quick] [--docs N]
"""
from __future__ import annotations

import statistics
import time

import numpy as np
import pyarrow as pa

from bench.common import emit, parser, print_environment, print_table, time_it
from packing import PackConfig, Packer, pack_window
from packing.best_fit import pack_lengths, split_pieces

BENCH = "packing_best_fit"


def web_lengths(n: int, seed: int, mean: float = 600.0, sigma: float = 1.0) -> np.ndarray:
    """Log-normal lengths with the given mean (exp(mu + sigma^2 / 2) = mean), at least 1 token."""
    mu = np.log(mean) - sigma**2 / 2
    return np.maximum(np.random.default_rng(seed).lognormal(mu, sigma, n), 1).astype(np.int64)


def _python_tree_pack(lens: list[int], capacity: int, best: bool) -> list[list[int]]:
    """Pure-Python decreasing packing, one loop iteration per piece (the paper's setting).

    best=False: first fit, a max tree over rows (O(log N) per piece). best=True: the paper's optimized best fit,
    a max tree over capacities with a FIFO list per capacity (O(log L) per piece).
    """
    order = sorted(range(len(lens)), key=lambda i: (-lens[i], i))
    rows: list[list[int]] = []
    if not best:
        size = 1
        while size < max(len(lens), 1):
            size *= 2
        tree = [capacity] * (2 * size)
        for i in order:
            need, node = lens[i], 1
            while node < size:
                node = 2 * node if tree[2 * node] >= need else 2 * node + 1
            r = node - size
            if r == len(rows):
                rows.append([])
            rows[r].append(i)
            tree[node] -= need
            node >>= 1
            while node:
                tree[node] = max(tree[2 * node], tree[2 * node + 1])
                node >>= 1
        return rows
    size = 1
    while size < capacity:
        size *= 2
    tree = [0] * (2 * size)
    queues: list[list[int]] = [[] for _ in range(capacity + 1)]

    def set_leaf(c: int, v: int) -> None:
        node = size + c - 1
        tree[node] = v
        node >>= 1
        while node:
            tree[node] = max(tree[2 * node], tree[2 * node + 1])
            node >>= 1

    set_leaf(capacity, capacity)
    for i in order:
        need, node = lens[i], 1
        while node < size:
            node = 2 * node if tree[2 * node] >= need else 2 * node + 1
        c = node - size + 1
        if c == capacity:
            r = len(rows)
            rows.append([])
        else:
            r = queues[c].pop(0)
            if not queues[c]:
                set_leaf(c, 0)
        rows[r].append(i)
        rest = c - need
        if rest:
            if not queues[rest]:
                set_leaf(rest, rest)
            queues[rest].append(r)
    return rows


def python_pack_docs(n_tokens: np.ndarray, capacity: int, best: bool) -> list[list[int]]:
    """Pieces as ours cuts them, then the pure-Python packer; rows as lists of piece indices."""
    _, _, piece_len = split_pieces(n_tokens, capacity)
    return _python_tree_pack(piece_len.tolist(), capacity, best)


def ours_rows(n_tokens: np.ndarray, capacity: int, first_fit: bool = False) -> list[list[int]]:
    _, _, piece_len = split_pieces(n_tokens, capacity)
    pieces, offsets = pack_lengths(piece_len, capacity, first_fit=first_fit)
    return [pieces[offsets[r]:offsets[r + 1]].tolist() for r in range(len(offsets) - 1)]


def token_table(n_tokens: np.ndarray, seed: int) -> pa.Table:
    offsets = np.concatenate([[0], np.cumsum(n_tokens)])
    flat = np.random.default_rng(seed).integers(64, 320, int(offsets[-1]), dtype=np.uint16)
    return pa.table({"id": [f"doc{i:09d}" for i in range(len(n_tokens))],
                     "tokens": pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat)),
                     "n_tokens": pa.array(n_tokens.astype(np.int32))})


def _cpu_median(fn, repeat: int) -> float:
    """Median process CPU seconds of fn (one thread): robust to other jobs sharing the machine's cores."""
    samples = []
    for _ in range(max(1, repeat)):
        t0 = time.process_time()
        fn()
        samples.append(time.process_time() - t0)
    return statistics.median(samples)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=None, help="documents for the kernel timing (default 1M, quick 200K)")
    p.add_argument("--max-tokens", type=int, default=2048, help="L for the timed runs")
    args = p.parse_args()
    n_docs = args.docs or (200_000 if args.quick else 1_000_000)
    n_e2e = n_docs // 10
    n_py = 20_000 if args.quick else 100_000
    L = args.max_tokens
    print_environment(("numpy", "numba", "pyarrow"), seed=args.seed)
    lens = web_lengths(n_docs, args.seed)
    print(f"input: {n_docs:,} docs, {int(lens.sum()):,} tokens (mean {lens.mean():.0f}, max {lens.max():,}), L = {L}")

    # agreement first: on the Python prefix, ours must give the Python packers' rows exactly
    prefix = lens[:n_py]
    assert ours_rows(prefix, L) == python_pack_docs(prefix, L, best=True), "best fit differs from Python OBFD"
    assert ours_rows(prefix, L, first_fit=True) == python_pack_docs(prefix, L, best=False), "first fit differs"
    print(f"agreement: ours == pure-Python rows on {n_py:,} docs (best fit and first fit)")

    def kernel(first_fit: bool):
        def run():
            _, _, piece_len = split_pieces(lens, L)
            return pack_lengths(piece_len, L, first_fit=first_fit)
        return run

    t_bf, (_, bf_off) = time_it("best_fit (numba kernel)", kernel(False), items=n_docs, item_unit="docs",
                                repeat=args.repeat)
    cpu_s = _cpu_median(kernel(False), args.repeat)
    t_ff, (_, ff_off) = time_it("first_fit (numba kernel)", kernel(True), items=n_docs, item_unit="docs",
                                repeat=args.repeat)
    t_py_ff, _ = time_it("first_fit_python", lambda: python_pack_docs(prefix, L, best=False), items=n_py,
                         item_unit="docs", repeat=1, warmup=0)
    py_cpu_s = _cpu_median(lambda: python_pack_docs(prefix, L, best=False), 1)
    t_py_bf, _ = time_it("best_fit_python (OBFD)", lambda: python_pack_docs(prefix, L, best=True), items=n_py,
                         item_unit="docs", repeat=1, warmup=0)

    table = token_table(lens[:n_e2e], args.seed)
    mb = table.column("tokens").nbytes / 1e6
    e2e = {}
    for packer in (Packer.BEST_FIT, Packer.FIRST_FIT, Packer.CONCAT):
        cfg = PackConfig(packer=packer, max_tokens=L, window_docs=n_e2e)
        t, res = time_it(f"{packer} pack_window", lambda cfg=cfg: pack_window(table, cfg), items=n_e2e,
                         item_unit="docs", mb=mb, repeat=args.repeat)
        e2e[packer] = (t, res)
    print_table(f"packing speed, L = {L} (ratio = docs/s vs first_fit_python)",
                [t_bf, t_ff, t_py_ff, t_py_bf] + [t for t, _ in e2e.values()], peer=t_py_ff)
    print(f"best_fit kernel, process CPU time: {cpu_s:.4f} s = {n_docs / cpu_s:,.0f} docs/s on one core "
          f"(wall time above includes waiting for cores shared with other jobs); first_fit_python "
          f"{n_py / py_cpu_s:,.0f} docs/s CPU; CPU ratio {(n_docs / cpu_s) / (n_py / py_cpu_s):.1f}")

    print(f"\nrows vs concat-and-chunk (one window of all {n_e2e:,} end-to-end docs, L = {L})")
    print(f"{'packer':<12} {'sequences':>10} {'extra %':>10} {'fill':>8} {'truncations':>12} {'short cut':>10} "
          f"{'padding':>12}")
    for packer, (_, res) in e2e.items():
        s = res.stats
        print(f"{packer:<12} {s['sequences']:>10,} {s['extra_sequences_pct']:>10.4f} {s['fill']:>8.5f} "
              f"{s['truncations']:>12,} {s['truncated_short_docs']:>10,} {s['padding_tokens']:>12,}")

    print(f"\nfill vs window_docs ({n_docs:,} docs, windows by id hash; kernel only)")
    print(f"{'L':>6} {'window_docs':>12} {'sequences':>11} {'concat':>11} {'extra %':>10} {'fill':>9}")
    window_of = np.random.default_rng(args.seed + 1).permutation(n_docs)  # a fixed id -> window map
    extra_at: dict[int, float] = {}
    for max_tokens in (2048, 8192):
        concat = -(-int(lens.sum()) // max_tokens)
        for window_docs in sorted({1_000, 10_000, 100_000, n_docs}):
            if window_docs > n_docs:
                continue
            n_windows = -(-n_docs // window_docs)
            rows = 0
            for w in range(n_windows):
                sel = lens[np.sort(window_of[w::n_windows])]
                _, _, piece_len = split_pieces(sel, max_tokens)
                rows += len(pack_lengths(piece_len, max_tokens)[1]) - 1
            extra = 100.0 * (rows - concat) / concat
            if window_docs == n_docs:
                extra_at[max_tokens] = extra
            print(f"{max_tokens:>6} {window_docs:>12,} {rows:>11,} {concat:>11,} {extra:>10.5f} "
                  f"{int(lens.sum()) / (rows * max_tokens):>9.6f}")

    bf_rows = len(bf_off) - 1
    concat_rows = -(-int(lens.sum()) // L)
    s_bf = e2e[Packer.BEST_FIT][1].stats
    emit(BENCH, metric="docs_per_s", value=t_bf.per_s, unit="docs/s", peer="first_fit_python",
         ratio=t_bf.per_s / t_py_ff.per_s,
         extra_sequences_pct=round(100.0 * (bf_rows - concat_rows) / concat_rows, 6),
         fill=round(int(lens.sum()) / (bf_rows * L), 6), truncated_short_docs=s_bf["truncated_short_docs"],
         cpu_docs_per_s=round(n_docs / cpu_s, 1), cpu_ratio=round((n_docs / cpu_s) / (n_py / py_cpu_s), 2),
         pack_window_docs_per_s=round(e2e[Packer.BEST_FIT][0].per_s, 1),
         first_fit_docs_per_s=round(t_ff.per_s, 1), best_fit_python_docs_per_s=round(t_py_bf.per_s, 1),
         extra_sequences_pct_2048=round(extra_at.get(2048, float("nan")), 6),
         extra_sequences_pct_8192=round(extra_at.get(8192, float("nan")), 6), docs=n_docs, max_tokens=L)


if __name__ == "__main__":
    main()
