"""Seeded near-duplicate corpora with exactly computed ground truth, for dedup tests and benchmarks.

Bases are real passages of the bundled sample (`data/sample/gutenberg.jsonl.zst`, its planted copies left out)
or, for scale runs, generated Zipf text. Copies are perturbed by word edits, insertions, deletions, line shuffles
or added boilerplate, with a random strength, so their Jaccard spreads over [~0.4, 1]. The truth is the exact
word 5-gram Jaccard of *every* pair of the corpus that shares a shingle (an inverted index over Python sets of
datatrove `simplify_text` words), independent of carding's hashing.

    python -m bench.dedup_planted --bases 200 --copies 100   # prints the truth's Jaccard histogram
"""
from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import zstandard
from datatrove.utils.text import TextNormConfig, simplify_text

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "gutenberg.jsonl.zst"
KINDS = ("word_edit", "insert", "delete", "line_shuffle", "boilerplate")
BOILERPLATE = ("Accept cookies to continue. This site uses cookies to improve your experience; by browsing you agree "
               "to our privacy policy and terms of service. Subscribe to our newsletter for weekly updates, follow "
               "us on social media, and share this page with your friends. All rights reserved.")


def letter_word(i: int) -> str:
    """A distinct all-letter word for index i (digits would all normalise to "0")."""
    out = ""
    while True:
        out += chr(97 + i % 26)
        i //= 26
        if i == 0:
            return out


def load_passages(words_per_passage: int = 300, limit: int | None = None) -> list[str]:
    """Real passages: each non-planted sample document cut at line ends into pieces of ~words_per_passage words."""
    reader = zstandard.ZstdDecompressor().stream_reader(SAMPLE.open("rb"))
    out: list[str] = []
    for line in io.TextIOWrapper(reader, encoding="utf-8"):
        rec = json.loads(line)
        if rec.get("meta", {}).get("planted"):
            continue
        buf: list[str] = []
        n = 0
        for ln in rec["text"].splitlines():
            buf.append(ln)
            n += len(ln.split())
            if n >= words_per_passage:
                out.append("\n".join(buf))
                buf, n = [], 0
                if limit is not None and len(out) >= limit:
                    return out
        if n >= words_per_passage // 2:
            out.append("\n".join(buf))
    return out


def zipf_passages(n: int, words: int, seed: int, vocab_size: int = 50_000) -> list[str]:
    """Generated text: n passages of `words` Zipf(1.1)-distributed words in lines of ~12 words (for scale runs)."""
    rng = np.random.default_rng(seed)
    vocab = np.array([letter_word(i) for i in range(vocab_size)])
    ranks = np.minimum(rng.zipf(1.1, size=n * words), vocab_size) - 1
    toks = vocab[ranks].reshape(n, words)
    return ["\n".join(" ".join(row[i:i + 12]) for i in range(0, words, 12)) for row in toks]


def perturb(text: str, kind: str, strength: float, rng: np.random.Generator, vocab: list[str]) -> str:
    """A copy of `text` changed by `kind` with `strength` in [0, 1] (share of words or lines touched)."""
    if kind == "line_shuffle":
        lines = text.split("\n")
        k = max(1, int(strength * len(lines)))
        idx = rng.choice(len(lines), size=min(k, len(lines)), replace=False)
        sub = [lines[i] for i in idx]
        rng.shuffle(sub)
        for i, s in zip(idx, sub):
            lines[i] = s
        return "\n".join(lines)
    if kind == "boilerplate":
        words = BOILERPLATE.split()
        reps = max(1, int(strength * len(text.split()) / len(words)))
        block = " ".join(words * reps)
        return f"{block}\n{text}" if rng.random() < 0.5 else f"{text}\n{block}"
    lines = [ln.split(" ") for ln in text.split("\n")]
    flat = [(i, j) for i, ln in enumerate(lines) for j in range(len(ln))]
    k = max(1, int(strength * len(flat) / 5))  # one edit touches up to 5 word 5-grams
    picks = sorted(rng.choice(len(flat), size=min(k, len(flat)), replace=False), reverse=True)
    for p in picks:
        i, j = flat[p]
        if kind == "word_edit":
            lines[i][j] = vocab[rng.integers(len(vocab))]
        elif kind == "insert":
            lines[i].insert(j, vocab[rng.integers(len(vocab))])
        else:
            del lines[i][j]
    return "\n".join(" ".join(ln) for ln in lines)


def planted_corpus(bases: list[str], n_copies: int, seed: int) -> pa.Table:
    """Bases plus n_copies perturbed copies of randomly chosen bases (a base may get two): DOCUMENT_SCHEMA rows
    with meta {"copy_of", "kind", "strength"}. Ids are random hex, so the kept copy is sometimes the original."""
    rng = np.random.default_rng(seed)
    vocab = sorted({w for t in bases[:200] for w in t.split()})
    texts, metas = list(bases), [json.dumps({}) for _ in bases]
    origin = list(range(len(bases)))
    for _ in range(n_copies):
        b = int(rng.integers(len(bases)))
        kind = KINDS[int(rng.integers(len(KINDS)))]
        strength = float(rng.uniform(0.0, 0.6))
        texts.append(perturb(bases[b], kind, strength, rng, vocab))
        metas.append(json.dumps({"copy_of": b, "kind": kind, "strength": round(strength, 4)}))
        origin.append(b)
    ids = [f"{int(x):016x}" for x in rng.integers(0, 2**63, size=len(texts))]
    return pa.table({"id": pa.array(ids, pa.string()), "text": pa.array(texts, pa.large_string()),
                     "source": pa.array(["planted"] * len(texts), pa.string()), "meta": pa.array(metas, pa.string())})


def shingle_set(text: str, n: int = 5) -> set[tuple[str, ...]]:
    """Word n-grams of datatrove's normalised text as Python tuples: the exact reference (no hashing)."""
    words = [w for w in simplify_text(text, TextNormConfig()).split(" ") if w]
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def exact_jaccard_pairs(ids: list[str], texts: list[str], n: int = 5, min_jaccard: float = 0.3
                        ) -> dict[tuple[str, str], float]:
    """{(id_a, id_b): J} with id_a < id_b for every pair with exact Jaccard >= min_jaccard (inverted index)."""
    sets = [shingle_set(t, n) for t in texts]
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for d, s in enumerate(sets):
        for sh in s:
            index[sh].append(d)
    shared: Counter[tuple[int, int]] = Counter()
    for docs in index.values():
        if 1 < len(docs) <= 200:  # a shingle in > 200 documents is boilerplate; its pairs are counted below
            for i in range(len(docs)):
                for j in range(i + 1, len(docs)):
                    shared[(docs[i], docs[j])] += 1
    heavy = [docs for docs in index.values() if len(docs) > 200]
    if heavy:  # exact even then: recount those pairs directly
        for docs in heavy:
            for i in range(len(docs)):
                for j in range(i + 1, len(docs)):
                    shared[(docs[i], docs[j])] = -1
    out = {}
    for (i, j), inter in shared.items():
        if inter < 0:
            inter = len(sets[i] & sets[j])
        union = len(sets[i]) + len(sets[j]) - inter
        jac = inter / union if union else 0.0
        if jac >= min_jaccard:
            a, b = sorted((ids[i], ids[j]))
            out[(a, b)] = jac
    return out


def similarity_pairs(n_pairs: int, seed: int, words: int = 200) -> list[tuple[str, str]]:
    """Pairs of texts whose Jaccard spreads evenly over [0, 1]: a base and a copy with a uniform share of
    its words replaced (for MinHash estimate parity across the whole range)."""
    rng = np.random.default_rng(seed)
    vocab = [letter_word(i) for i in range(20_000)]
    out = []
    for _ in range(n_pairs):
        base = [vocab[i] for i in rng.integers(len(vocab), size=words)]
        frac = float(rng.uniform(0, 0.35))
        copy = list(base)
        for p in rng.choice(words, size=int(frac * words), replace=False):
            copy[p] = vocab[rng.integers(len(vocab))]
        out.append((" ".join(base), " ".join(copy)))
    return out


def pair_metrics(removed: pa.Table, truth: dict[tuple[str, str], float], threshold: float,
                 edges: dict[tuple[str, str], float] | None = None) -> dict[str, float]:
    """Precision and recall of removed pairs against the exact truth at `threshold`.

    precision_rep: removed (id, kept_id) pairs whose true J >= threshold, over all removed pairs.
    precision_nn: removed ids with at least one true neighbour >= threshold in their cluster (nearest verified
      neighbour view: transitivity A~B~C may join A and C at J < threshold, spec/dedup.md).
    recall: true pairs with J >= threshold that ended in one cluster, over all true pairs >= threshold.
    """
    cluster = {}
    for rid, kid in zip(removed.column("id").to_pylist(), removed.column("kept_id").to_pylist()):
        cluster[rid] = kid
        cluster.setdefault(kid, kid)
    rep_pairs = [tuple(sorted((r, cluster[r]))) for r in removed.column("id").to_pylist()]
    ok_rep = sum(truth.get(p, 0.0) >= threshold for p in rep_pairs)
    neighbours: dict[str, list[str]] = defaultdict(list)
    for (a, b), j in truth.items():
        if j >= threshold:
            neighbours[a].append(b)
            neighbours[b].append(a)
    ok_nn = sum(any(cluster.get(x) == cluster[r] for x in neighbours[r]) for r in removed.column("id").to_pylist())
    positives = [(a, b) for (a, b), j in truth.items() if j >= threshold]
    found = sum(a in cluster and b in cluster and cluster[a] == cluster[b] for a, b in positives)
    n_rem = removed.num_rows
    return {"threshold": threshold, "removed": n_rem, "positives": len(positives),
            "precision_rep": ok_rep / n_rem if n_rem else 1.0, "precision_nn": ok_nn / n_rem if n_rem else 1.0,
            "recall": found / len(positives) if positives else 1.0}


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bases", type=int, default=200)
    p.add_argument("--copies", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    table = planted_corpus(load_passages(limit=a.bases), a.copies, a.seed)
    truth = exact_jaccard_pairs(table.column("id").to_pylist(), table.column("text").to_pylist())
    hist = np.histogram(list(truth.values()), bins=[0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0001])
    print(f"{table.num_rows} documents, {len(truth)} pairs with J >= 0.3")
    for lo, hi, c in zip(hist[1][:-1], hist[1][1:], hist[0]):
        print(f"  J in [{lo:.2f}, {min(hi, 1.0):.2f}): {c}")
