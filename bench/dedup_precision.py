"""Precision and recall of dedup on planted near-duplicates of real passages (spec/dedup.md acceptance check).

    python -m bench.dedup_precision [--quick] [--bases N] [--copies N]

The seeded generator (bench/dedup_planted.py) perturbs real documents by word edits, insertions, deletions, line
shuffles and boilerplate; the truth is the exact word 5-gram Jaccard of every pair. Each threshold t runs dedup
with jaccard_threshold = t and scores removed pairs against true J >= t. Peer: the same run without verification
(`verify=off`, datatrove's behaviour), so `ratio` = our precision / unverified precision.
"""
from __future__ import annotations

from bench.common import emit, parser, print_environment
from bench.dedup_planted import exact_jaccard_pairs, load_passages, pair_metrics, planted_corpus
from stages.dedup import DedupConfig, Verify, dedup_table


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--bases", type=int, default=None)
    p.add_argument("--copies", type=int, default=None)
    a = p.parse_args()
    n_bases = a.bases or (300 if a.quick else 2000)
    n_copies = a.copies or n_bases // 2
    print_environment(("numpy", "pyarrow", "datasketch"), seed=a.seed)
    table = planted_corpus(load_passages(limit=n_bases), n_copies, a.seed)
    truth = exact_jaccard_pairs(table.column("id").to_pylist(), table.column("text").to_pylist(), min_jaccard=0.3)
    print(f"{table.num_rows} documents ({n_copies} planted copies), {len(truth)} true pairs with J >= 0.3")
    print(f"{'verify':>7} {'threshold':>9} {'removed':>8} {'true pairs':>10} {'P(kept)':>8} {'P(nn)':>7} "
          f"{'recall':>7} {'recall J>=.85':>13}")
    results = {}
    for verify in (Verify.exact, Verify.off):
        for th in (0.7, 0.8, 0.9):
            removed, _ = dedup_table(table, DedupConfig(jaccard_threshold=th, verify=verify))
            m = pair_metrics(removed, truth, th)
            m["recall_j085"] = pair_metrics(removed, truth, 0.85)["recall"]
            results[(verify, th)] = m
            print(f"{verify.value:>7} {th:>9.2f} {m['removed']:>8} {m['positives']:>10} {m['precision_rep']:>8.4f} "
                  f"{m['precision_nn']:>7.4f} {m['recall']:>7.4f} {m['recall_j085']:>13.4f}")
    ours, peer = results[(Verify.exact, 0.8)], results[(Verify.off, 0.8)]
    print("P(kept): removed doc vs its cluster's kept doc; P(nn): removed doc has a true neighbour >= t in its "
          "cluster (transitivity A~B~C joins A, C below t: spec/dedup.md)")
    emit("dedup_precision", metric="precision", value=ours["precision_nn"], unit="share of removed docs",
         peer="verify=off", ratio=ours["precision_nn"] / peer["precision_nn"] if peer["precision_nn"] else 0.0,
         precision=round(ours["precision_nn"], 4), precision_vs_kept=round(ours["precision_rep"], 4),
         recall=round(ours["recall_j085"], 4),
         **{f"precision_at_{t}": round(results[(Verify.exact, t)]["precision_nn"], 4) for t in (0.7, 0.8, 0.9)},
         **{f"recall_at_{t}": round(results[(Verify.exact, t)]["recall"], 4) for t in (0.7, 0.8, 0.9)})


if __name__ == "__main__":
    main()
