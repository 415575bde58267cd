"""Quality classifier (fastText supervised, the DCLM recipe): `quality_score` = P(positive label).

Rows below the threshold are rejected as `quality.low_score`; those at or above `rewrite_min_score` become
REWIRE rewrite candidates (Nguyen et al. 2025): pages good enough to recycle, not good enough to keep.
"""
from __future__ import annotations

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

    min_score: float = 0.5
    """Keep documents with `quality_score >= min_score`. Carding choice: 0.5, the decision boundary of a
    classifier trained on balanced classes; DCLM keeps its top 10 % with 0.018112 on its own model."""

    rewrite_min_score: float | None = None
    """Rows rejected only by this filter with `quality_score >= rewrite_min_score` get `rewrite_candidate`;
    None: every such row (REWIRE rewrites the near misses; spec filter.md default: no lower bound)."""

    def __post_init__(self) -> None:
        check_model_path("quality", self.model_path)
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"quality.min_score={self.min_score}: must be a probability in [0, 1]")
        if self.rewrite_min_score is not None and not 0.0 <= self.rewrite_min_score <= self.min_score:
            raise ValueError(f"quality.rewrite_min_score={self.rewrite_min_score}: must be in [0, min_score="
                             f"{self.min_score}] or null (every rejected row is a candidate)")
        if not self.positive_label:
            raise ValueError("quality.positive_label: must be a non-empty label, e.g. hq")


class QualityFilter:
    """Adds `quality_score`; rejects `quality.low_score`."""

    name = "quality"

    def __init__(self, config: QualityConfig) -> None:
        self.config = config
        self._model = FastTextModel(config.model_path)

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
        rules = [("low_score", ~(score >= self.config.min_score))]
        return FilterResult(reasons=combine_rule_masks(self.name, rules, len(text)),
                            columns={"quality_score": pa.array(score, pa.float64())})
