"""Re-filter and mix: keep the best rewrites by a fastText score, then cap them at a token ratio to raw text.

REWIRE §2.2 trains a fastText classifier on reference high-quality documents (positives) vs random rewrites of the
same run (negatives), scores every rewrite and keeps the top 10 %; Table 1 mixes the kept rewrites 1:1 in tokens
with the raw top 10 %. This is a global step, split as STYLE.md §1 asks:
  1. map  `score_batch`: add `rewrite_score` (P(reference)) to parsed rewrites;
  2. on the driver, `plan_selection` over the gathered (score, tie, tokens) columns: two rank cutoffs;
  3. map  `apply_selection`: reasons `rewrite.below_refilter` / `rewrite.over_mix`, score moved into meta.
The cut is by rank, not by a score quantile, so the kept share is exact (round(n * share)) and ties on the score
are broken by stable_hash(id, seed): the result does not depend on Ray's block boundaries.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import fasttext
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from stages.reasons import add_reasons, reason_where, reasons_of
from stages.rewrite.config import RewriteConfig
from stages.rewrite.parse import BELOW_REFILTER, OVER_MIX
from stages.schema import stable_hash

SCORE = "rewrite_score"
"""Temporary float64 column between `score_batch` and `apply_selection` (null on rejected rows)."""

LABEL_REFERENCE = "__label__reference"
LABEL_REWRITE = "__label__rewrite"


def fasttext_lines(texts: pa.Array | pa.ChunkedArray) -> list[str]:
    """One line per text, whitespace runs folded to one space (DCLM's fastText input is one page per line)."""
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(pc.fill_null(texts, ""), r"\s+", " ")).to_pylist()


def hash_sample(ids: pa.Array | pa.ChunkedArray | list[str], fraction: float, seed: int) -> np.ndarray:
    """(n,) bool, true for about `fraction` of rows, chosen by stable_hash(id, seed): same rows on any partitioning."""
    if fraction >= 1.0:
        return np.ones(len(ids), dtype=bool)
    return stable_hash(ids, seed) < np.uint64(int(fraction * 2.0**64))


def read_reference(path: str | Path, max_docs: int, seed: int) -> list[str]:
    """Texts of a parquet or jsonl[.gz|.zst] file (`text` column); at most `max_docs`, sampled by
    stable_hash(text, seed)."""
    path = Path(path)
    name = path.name
    if name.endswith(".parquet"):
        texts = pq.read_table(path, columns=["text"]).column("text")
    elif name.endswith((".jsonl", ".jsonl.gz", ".jsonl.zst")):
        with pa.input_stream(str(path), compression="detect") as stream:
            texts = pajson.read_json(stream).column("text")
    else:
        raise ValueError(f"{path}: reference documents must be .parquet or .jsonl[.gz|.zst] with a `text` column")
    texts = pc.drop_null(texts).combine_chunks().cast(pa.large_string())
    if len(texts) > max_docs:
        order = np.argsort(stable_hash(texts.to_pylist(), seed), kind="stable")[:max_docs]
        texts = texts.take(pa.array(np.sort(order)))
    return texts.to_pylist()


class RefilterClassifier:
    """A fastText model whose `score` is P(reference | text), float64 in [0, 1]."""

    def __init__(self, model_path: str | Path) -> None:
        self.model_path = str(model_path)
        self.model = fasttext.load_model(self.model_path)
        if LABEL_REFERENCE not in self.model.get_labels():
            raise ValueError(f"{model_path}: not a carding re-filter (labels {self.model.get_labels()}, "
                             f"need {LABEL_REFERENCE})")

    @classmethod
    def train(cls, reference: list[str], rewrites: list[str], config: RewriteConfig,
              out_path: str | Path) -> RefilterClassifier:
        """Train on `reference` (positives) vs `rewrites` (negatives) and save to `out_path` (REWIRE §2.2).

        One thread and the config's seed: the same inputs give the same model file.
        """
        if not reference or not rewrites:
            raise ValueError(f"re-filter training needs both classes: {len(reference)} reference documents, "
                             f"{len(rewrites)} parsed rewrites")
        lines = [f"{LABEL_REFERENCE} {t}" for t in fasttext_lines(pa.array(reference, pa.large_string()))]
        lines += [f"{LABEL_REWRITE} {t}" for t in fasttext_lines(pa.array(rewrites, pa.large_string()))]
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False,
                                         dir=out_path.parent) as f:
            f.write("\n".join(lines) + "\n")
            train_file = f.name
        try:
            model = fasttext.train_supervised(input=train_file, epoch=config.refilter_epochs, lr=config.refilter_lr,
                                              wordNgrams=config.refilter_word_ngrams, dim=config.refilter_dim,
                                              bucket=config.refilter_bucket,
                                              seed=config.seed, thread=1, verbose=0)
        finally:
            os.unlink(train_file)
        tmp = out_path.with_name(out_path.name + ".tmp")
        model.save_model(str(tmp))
        os.replace(tmp, out_path)
        return cls(out_path)

    def score(self, texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """(n,) float64 P(reference). fastText's predict loops in C++ over the list."""
        lines = fasttext_lines(texts)
        if not lines:
            return np.zeros(0, dtype=np.float64)
        labels, probs = self.model.predict(lines, k=-1)
        return np.array([float(p[list(lab).index(LABEL_REFERENCE)]) for lab, p in zip(labels, probs)],
                        dtype=np.float64)


def score_batch(batch: pa.RecordBatch, classifier: RefilterClassifier) -> pa.RecordBatch:
    """The batch plus `rewrite_score`: P(reference) on rows without a reason, null on rejected rows."""
    ok = pc.is_null(reasons_of(batch))
    scores = np.full(batch.num_rows, np.nan)
    idx = np.flatnonzero(ok.to_numpy(zero_copy_only=False))
    if len(idx):
        scores[idx] = classifier.score(batch.column("text").take(pa.array(idx)))
    col = pa.array(scores, pa.float64(), mask=~ok.to_numpy(zero_copy_only=False))
    return batch.append_column(pa.field(SCORE, pa.float64()), col)


@dataclass(frozen=True, slots=True)
class Cutoff:
    """The last kept rank: a row is kept iff score > `score`, or score == `score` and tie <= `tie`."""

    score: float
    tie: int

    def keeps(self, scores: np.ndarray, ties: np.ndarray) -> np.ndarray:
        return (scores > self.score) | ((scores == self.score) & (ties <= np.uint64(self.tie)))


NOTHING = Cutoff(score=float("inf"), tie=0)
"""A cutoff that keeps no row (no finite score is above +inf)."""


@dataclass(frozen=True, slots=True)
class SelectionPlan:
    """The two cutoffs, plus what goes into the manifest under `rewrite`."""

    refilter: Cutoff
    mix: Cutoff | None
    summary: dict[str, Any]


def plan_selection(scores: np.ndarray, ties: np.ndarray, tokens: np.ndarray, *, keep_top_share: float,
                   raw_tokens: int | None, mix_token_ratio: float | None) -> SelectionPlan:
    """Cutoffs over all parsed rewrites: the top round(n * share) by score, then as many of those, best first,
    as fit in raw_tokens / mix_token_ratio tokens. scores: (n,) float64; ties: (n,) uint64; tokens: (n,) int64.

    Example: scores [.9, .2, .7, .9], ties [5, 1, 2, 3], share 0.5 -> order 3, 0, 2, 1 -> keep rows 3 and 0,
    cutoff (0.9, 5).
    """
    n = len(scores)
    n_keep = int(n * keep_top_share + 0.5)
    order = np.lexsort((ties, -scores))  # best first; equal scores by ascending tie
    refilter = NOTHING if n_keep == 0 else Cutoff(float(scores[order[n_keep - 1]]), int(ties[order[n_keep - 1]]))
    summary: dict[str, Any] = {"rewrites_scored": n, "refilter_kept": n_keep,
                               "refilter_kept_share": n_keep / n if n else 0.0,
                               "refilter_threshold": refilter.score if n_keep else None}
    mix = None
    if mix_token_ratio is not None and raw_tokens is not None:
        budget = raw_tokens / mix_token_ratio
        cum = np.cumsum(tokens[order[:n_keep]])
        n_mix = int(np.searchsorted(cum, budget, side="right"))
        mix = NOTHING if n_mix == 0 else Cutoff(float(scores[order[n_mix - 1]]), int(ties[order[n_mix - 1]]))
        summary.update({"raw_tokens": int(raw_tokens), "mix_token_ratio": mix_token_ratio,
                        "rewrite_token_budget": budget, "mix_kept": n_mix,
                        "rewrite_tokens_kept": int(cum[n_mix - 1]) if n_mix else 0})
    else:
        summary.update({"mix_kept": n_keep, "rewrite_tokens_kept": int(tokens[order[:n_keep]].sum())})
    return SelectionPlan(refilter=refilter, mix=mix, summary=summary)


def apply_selection(batch: pa.RecordBatch, plan: SelectionPlan, seed: int) -> pa.RecordBatch:
    """Set `rewrite.below_refilter` / `rewrite.over_mix` by the plan's cutoffs; move the score into
    `meta.rewrite.score` and drop `rewrite_score`. Rows that already have a reason keep it."""
    scores_col = batch.column(SCORE)
    scored = pc.is_valid(scores_col).to_numpy(zero_copy_only=False)
    scores = pc.fill_null(scores_col, -np.inf).to_numpy(zero_copy_only=False)
    ties = stable_hash(batch.column("id"), seed)
    in_refilter = plan.refilter.keeps(scores, ties) & scored
    in_mix = plan.mix.keeps(scores, ties) & in_refilter if plan.mix is not None else in_refilter
    out = add_reasons(batch, reason_where(pa.array(scored & ~in_refilter), BELOW_REFILTER))
    out = add_reasons(out, reason_where(pa.array(in_refilter & ~in_mix), OVER_MIX))
    metas = out.column("meta").to_pylist()
    # A loop over scored rewrites only, to edit one JSON key each: rewrites are ~1e-3 of a corpus and each cost
    # seconds of LLM time, so this is noise.
    for i in np.flatnonzero(scored):
        meta = json.loads(metas[i])
        meta.setdefault("rewrite", {})["score"] = float(scores[i])
        metas[i] = json.dumps(meta, ensure_ascii=False, sort_keys=True)
    out = out.set_column(out.schema.get_field_index("meta"), "meta", pa.array(metas, pa.string()))
    return out.drop_columns([SCORE]) if isinstance(out, pa.Table) else pa.RecordBatch.from_arrays(
        [c for name, c in zip(out.schema.names, out.columns) if name != SCORE],
        names=[name for name in out.schema.names if name != SCORE])


def plan_to_dict(plan: SelectionPlan) -> dict[str, Any]:
    """JSON-able form for the manifest (strict JSON: a keep-nothing cutoff is written as null, not Infinity)."""

    def cut(c: Cutoff | None) -> dict[str, Any] | None:
        return None if c is None or c == NOTHING else asdict(c)

    return {"refilter": cut(plan.refilter), "mix": cut(plan.mix), "summary": plan.summary}
