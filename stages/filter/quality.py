"""Quality classifier (fastText supervised, the DCLM recipe): `quality_score` = P(positive label).

Rows below the threshold are rejected as `quality.low_score`; those at or above `rewrite_min_score` become
REWIRE rewrite candidates (Nguyen et al. 2025): pages good enough to recycle, not good enough to keep.

The threshold is either fixed (`min_score`) or set to keep the top `keep_top_fraction` of documents, as DCLM keeps
its top 10 %: `estimate_quality_threshold` scores a seeded sample of `threshold_sample_docs` texts and takes the
score of the ceil(fraction x sample)-th best. A pipeline that wants one threshold for the whole corpus calls it on
a seeded sample of the input and gives every worker `min_score=` that value; a `QualityFilter` left to itself
estimates on the first batch it scores and keeps that value for every later batch (`threshold_report`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from stages.filter.fasttext_model import FastTextModel, check_model_path
from stages.filter.result import FilterResult, combine_rule_masks


@dataclass(frozen=True, kw_only=True, slots=True)
class QualityConfig:
    """A fastText quality classifier trained by `carding train-quality`, and where to cut its score."""

    model_path: str
    """Local fastText supervised model (`carding train-quality` writes one); required, never downloaded."""

    positive_label: str = "hq"
    """Label whose probability is `quality_score` (without `__label__`); carding's trainer writes `hq`/`lq`.
    DCLM's released model uses `hq` as well (`mlfoundations/dclm` `fasttext_filter.yaml`)."""

    min_score: float | None = None
    """Keep documents with `quality_score >= min_score`. None: 0.5 (set here) unless `keep_top_fraction` is
    given. Carding choice: 0.5, the decision boundary of a classifier trained on balanced classes; DCLM keeps its
    top 10 % with 0.018112 on its own model."""

    keep_top_fraction: float | None = None
    """Keep this share of documents, the best-scoring ones, in (0, 1]: the threshold is the score of the
    ceil(fraction x n)-th best of a seeded sample (`estimate_quality_threshold`). Excludes `min_score`.
    DCLM keeps 0.10 (`mlfoundations/dclm` `fasttext_filter.yaml`)."""

    threshold_sample_docs: int = 10_000
    """Documents scored to estimate the `keep_top_fraction` threshold (fewer if the sample holds fewer)."""

    seed: int = 0
    """Seed of the threshold sample."""

    rewrite_min_score: float | None = None
    """Rows rejected only by this filter with `quality_score >= rewrite_min_score` get `rewrite_candidate`;
    None: every such row (REWIRE rewrites the near misses; spec filter.md default: no lower bound)."""

    def __post_init__(self) -> None:
        check_model_path("quality", self.model_path)
        if self.min_score is not None and self.keep_top_fraction is not None:
            raise ValueError(f"quality: min_score={self.min_score} and keep_top_fraction={self.keep_top_fraction} "
                             "are exclusive: give a fixed threshold or a share to keep, not both")
        if self.min_score is None and self.keep_top_fraction is None:
            object.__setattr__(self, "min_score", 0.5)
        if self.min_score is not None and not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"quality.min_score={self.min_score}: must be a probability in [0, 1]")
        if self.keep_top_fraction is not None and not 0.0 < self.keep_top_fraction <= 1.0:
            raise ValueError(f"quality.keep_top_fraction={self.keep_top_fraction}: must be a share in (0, 1], "
                             "e.g. 0.1 keeps the best-scoring 10 %")
        if self.threshold_sample_docs < 1:
            raise ValueError(f"quality.threshold_sample_docs={self.threshold_sample_docs}: must be >= 1, the "
                             "threshold needs one scored document")
        upper = self.min_score if self.min_score is not None else 1.0
        if self.rewrite_min_score is not None and not 0.0 <= self.rewrite_min_score <= upper:
            raise ValueError(f"quality.rewrite_min_score={self.rewrite_min_score}: must be in [0, {upper}] "
                             "(at most min_score) or null (every rejected row is a candidate)")
        if not self.positive_label:
            raise ValueError("quality.positive_label: must be a non-empty label, e.g. hq")


def top_fraction_threshold(scores: np.ndarray, fraction: float) -> float:
    """The score of the ceil(fraction x n)-th best of scores (n >= 1): keeping `>=` it keeps that share (more on ties).

    Example: scores [0.9, 0.1, 0.5, 0.7], fraction 0.5 -> 0.7 (keeps 0.9 and 0.7).
    """
    k = max(1, math.ceil(fraction * len(scores) - 1e-9))
    return float(np.sort(scores)[::-1][k - 1])


def sample_rows(n: int, n_sample: int, seed: int) -> np.ndarray:
    """(min(n, n_sample),) int64 sorted row indices, drawn without replacement by a seeded generator."""
    if n <= n_sample:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size=n_sample, replace=False)).astype(np.int64)


def estimate_quality_threshold(config: QualityConfig, text: pa.Array) -> tuple[float, int]:
    """(threshold, documents scored) keeping the top `config.keep_top_fraction` of a seeded sample of `text`."""
    if config.keep_top_fraction is None:
        raise ValueError("quality.keep_top_fraction is null: the threshold is min_score, nothing to estimate")
    if len(text) == 0:
        raise ValueError("estimate_quality_threshold: no documents to sample")
    rows = sample_rows(len(text), config.threshold_sample_docs, config.seed)
    scores = QualityFilter(config).scores(text.take(pa.array(rows)))
    return top_fraction_threshold(scores, config.keep_top_fraction), len(rows)


class QualityFilter:
    """Adds `quality_score`; rejects `quality.low_score` below `min_score` or the estimated top-fraction threshold."""

    name = "quality"

    def __init__(self, config: QualityConfig) -> None:
        self.config = config
        self._model = FastTextModel(config.model_path)
        self.threshold: float | None = config.min_score
        self._sample_docs = 0

    def threshold_report(self) -> dict[str, float | int | None]:
        """What decided the cut, for the run report and manifest: threshold, share asked, sample size, seed."""
        c = self.config
        return {"min_score": self.threshold, "keep_top_fraction": c.keep_top_fraction,
                "threshold_sample_docs": self._sample_docs if c.keep_top_fraction is not None else None,
                "seed": c.seed if c.keep_top_fraction is not None else None}

    def scores(self, text: pa.Array) -> np.ndarray:
        """(n,) float64 P(positive label) per text: all labels are scored, so a two-label model gives 1 - P(other)."""
        labels, probs = self._model.predict(text, k=-1)
        out = np.zeros(len(text), dtype=np.float64)
        positive = self.config.positive_label
        # Per-row loop over fastText's Python lists (k labels each): no array form comes back from the C++ call.
        for i, (row, p) in enumerate(zip(labels, probs)):
            for label, prob in zip(row, p):
                if label == positive:
                    out[i] = prob
                    break
        return out

    def evaluate(self, text: pa.Array) -> FilterResult:
        score = self.scores(text)
        if self.threshold is None and len(text):
            # first batch: the same seeded sample `estimate_quality_threshold` draws, from scores already computed
            rows = sample_rows(len(text), self.config.threshold_sample_docs, self.config.seed)
            self.threshold = top_fraction_threshold(score[rows], self.config.keep_top_fraction)
            self._sample_docs = len(rows)
        rules = [("low_score", ~(score >= (self.threshold if self.threshold is not None else np.inf)))]
        return FilterResult(reasons=combine_rule_masks(self.name, rules, len(text)),
                            columns={"quality_score": pa.array(score, pa.float64())})
