"""Dataset decomposition: speed of the compiled cut vs a per-document Python loop, tokens per bucket, and the
attention cost of a Grow-P2 epoch against concat-and-chunk at the longest length (Pouransari et al. 2024: "an 8k
model at the cost of 2k").

Input: seeded log-normal document lengths (web-like, mean ~ 600 tokens), L = 8192, buckets 2^8 .. 2^13.

    python -m bench.packing_decomposition [--quick] [--docs N]
"""
from __future__ import annotations

import numpy as np

from bench.common import emit, parser, print_environment, print_table, time_it
from bench.packing_best_fit import token_table, web_lengths
from packing import DecompositionConfig, PackConfig, Packer, pack_window
from packing.decomposition import decompose
from packing.sampler import CurriculumSampler

BENCH = "packing_decomposition"


def decompose_python(n_tokens: list[int], kmin: int, kmax: int) -> list[tuple[int, int, int, int]]:
    """The spec's pseudo-code, one document at a time: (doc, offset, length, bucket) per piece."""
    out = []
    for doc, n in enumerate(n_tokens):
        ks = [kmax] * (n // 2**kmax)
        rest = n % 2**kmax
        ks += [k for k in range(kmax - 1, kmin - 1, -1) if rest >> k & 1]
        offset = 0
        for k in ks:
            out.append((doc, offset, 2**k, k))
            offset += 2**k
    return out


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=None, help="documents (default 1M, quick 200K)")
    args = p.parse_args()
    n_docs = args.docs or (200_000 if args.quick else 1_000_000)
    n_py = n_docs // 10
    n_e2e = n_docs // 10
    kmin, kmax = 8, 13
    print_environment(("numpy", "numba", "pyarrow"), seed=args.seed)
    lens = web_lengths(n_docs, args.seed)
    print(f"input: {n_docs:,} docs, {int(lens.sum()):,} tokens (mean {lens.mean():.0f}), buckets 2^{kmin}..2^{kmax}")

    ours = decompose(lens[:n_py], kmin, kmax)
    ref = decompose_python(lens[:n_py].tolist(), kmin, kmax)
    assert list(zip(*(a.tolist() for a in ours))) == ref, "decompose differs from the per-document loop"
    print(f"agreement: decompose == per-document Python loop on {n_py:,} docs")

    t_ours, (doc, _, length, bucket) = time_it("decompose (numba)", lambda: decompose(lens, kmin, kmax),
                                               items=n_docs, item_unit="docs", repeat=args.repeat)
    py_lens = lens[:n_py].tolist()
    t_py, _ = time_it("decompose_python", lambda: decompose_python(py_lens, kmin, kmax), items=n_py,
                      item_unit="docs", repeat=1, warmup=0)
    table = token_table(lens[:n_e2e], args.seed)
    config = PackConfig(packer=Packer.DECOMPOSITION, max_tokens=2**kmax)
    t_e2e, result = time_it("decomposition pack_window", lambda: pack_window(table, config), items=n_e2e,
                            item_unit="docs", mb=table.column("tokens").nbytes / 1e6, repeat=args.repeat)
    print_table("decomposition speed (ratio = docs/s vs decompose_python)", [t_ours, t_py, t_e2e], peer=t_py)

    total = int(lens.sum())
    kept = int(length.sum())
    print(f"\ntokens per bucket ({n_docs:,} docs; dropped below 2^{kmin}: {total - kept:,} tokens = "
          f"{100 * (total - kept) / total:.2f} %)")
    print(f"{'bucket':>7} {'length':>7} {'rows':>11} {'tokens':>14} {'share %':>8}")
    rows_per_bucket = {}
    tokens_per_bucket = {}
    for k in range(kmin, kmax + 1):
        sel = bucket == k
        rows_per_bucket[k] = int(sel.sum())
        tokens_per_bucket[k] = int(length[sel].sum())
        print(f"{k:>7} {2**k:>7} {rows_per_bucket[k]:>11,} {tokens_per_bucket[k]:>14,} "
              f"{100 * tokens_per_bucket[k] / kept:>8.2f}")

    dd = DecompositionConfig(kmin=kmin, kmax=kmax)
    sampler = CurriculumSampler(rows_per_bucket, dd, seed=args.seed)
    cost = sampler.attention_cost()
    steps = list(sampler)
    first_cycle = [s.bucket for s in steps if s.cycle == 0]
    quarter = max(1, len(first_cycle) // 4)
    print(f"\nGrow-P2 x {dd.cycles} cycles, b = {dd.batch_tokens:,} tokens per step: {len(steps):,} steps, "
          f"{sampler.dropped_rows:,} rows in partial steps dropped")
    print(f"cycle 0 mean bucket by quarter: "
          + ", ".join(f"{np.mean(first_cycle[i:i + quarter]):.2f}" for i in range(0, len(first_cycle), quarter)))
    print(f"attention cost (sum of squared row lengths) per epoch: {cost['attention_cost']:.3e} vs concat-and-chunk "
          f"at {2**kmax}: {cost['concat_attention_cost']:.3e} -> ratio {cost['ratio']:.3f}")
    s = result.stats
    emit(BENCH, metric="docs_per_s", value=t_ours.per_s, unit="docs/s", peer="decompose_python",
         ratio=t_ours.per_s / t_py.per_s, pack_window_docs_per_s=round(t_e2e.per_s, 1),
         attention_cost_ratio=round(cost["ratio"], 4),
         dropped_tokens_pct=round(100 * (total - kept) / total, 4),
         tokens_per_bucket={str(k): v for k, v in tokens_per_bucket.items()},
         window_attention_cost_ratio=round(s["attention_cost"] / s["concat_attention_cost"], 4), docs=n_docs)


if __name__ == "__main__":
    main()
