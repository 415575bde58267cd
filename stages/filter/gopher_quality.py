"""Gopher quality rules (Rae et al. 2021, App. A), as datatrove's `GopherQualityFilter` applies them."""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from stages.filter.result import FilterResult

GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
"""datatrove `gopher_quality_filter.STOP_WORDS` (Gopher App. A)."""


def _check_ratio(group: str, name: str, value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"{group}.{name}={value}: must be a share in [0, 1] or null (off)")


@dataclass(frozen=True, kw_only=True, slots=True)
class GopherQualityConfig:
    """Thresholds of datatrove 0.10.1 `GopherQualityFilter`; `None` turns one rule off.

    Words are word-tokenizer tokens with whitespace-only tokens removed; content words have at least one
    character outside datatrove's `PUNCTUATION` set.
    """

    min_doc_words: int | None = 50
    """Fewest content words (`short_doc`); datatrove default 50 (Gopher App. A)."""

    max_doc_words: int | None = 100_000
    """Most content words (`long_doc`); datatrove default 100 000 (Gopher App. A)."""

    min_avg_word_length: float | None = 3
    """Lowest mean content-word length in characters (`below_avg_threshold`); datatrove default 3."""

    max_avg_word_length: float | None = 10
    """Highest mean content-word length in characters (`above_avg_threshold`); datatrove default 10."""

    max_symbol_word_ratio: float | None = 0.1
    """Most `#` per word, and most `...`/`…` per word (`too_many_hashes`, `too_many_ellipsis`); datatrove 0.1."""

    max_bullet_lines_ratio: float | None = 0.9
    """Most share of lines starting with `•` or `-` (`too_many_bullets`); datatrove default 0.9."""

    max_ellipsis_lines_ratio: float | None = 0.3
    """Most share of lines ending with `...` or `…` (`too_many_end_ellipsis`); datatrove default 0.3."""

    min_alpha_word_ratio: float | None = 0.8
    """Least share of words holding a letter (`below_alpha_threshold`); datatrove `max_non_alpha_words_ratio` 0.8."""

    min_stop_words: int | None = 2
    """Fewest *distinct* stop words present, case-sensitive (`too_few_stop_words`); datatrove default 2."""

    stop_words: tuple[str, ...] = GOPHER_STOP_WORDS
    """The stop-word list; datatrove default `STOP_WORDS` (Gopher App. A)."""

    def __post_init__(self) -> None:
        g = "gopher_quality"
        for name in ("min_doc_words", "max_doc_words", "min_stop_words"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{g}.{name}={v}: must be >= 0 or null (off)")
        for name in ("min_avg_word_length", "max_avg_word_length"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{g}.{name}={v}: must be >= 0 characters or null (off)")
        for name in ("max_symbol_word_ratio",):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{g}.{name}={v}: must be >= 0 or null (off)")
        for name in ("max_bullet_lines_ratio", "max_ellipsis_lines_ratio", "min_alpha_word_ratio"):
            _check_ratio(g, name, getattr(self, name))
        if any(not isinstance(w, str) or not w for w in self.stop_words):
            raise ValueError(f"{g}.stop_words: must be non-empty strings, got {self.stop_words!r}")


class GopherQualityFilter:
    name = "gopher_qual"

    def __init__(self, config: GopherQualityConfig) -> None:
        from datatrove.pipeline.filters import GopherQualityFilter as _DT

        c = config
        self.config = config
        self._dt = _DT(min_doc_words=c.min_doc_words, max_doc_words=c.max_doc_words,
                       min_avg_word_length=c.min_avg_word_length, max_avg_word_length=c.max_avg_word_length,
                       max_symbol_word_ratio=c.max_symbol_word_ratio, max_bullet_lines_ratio=c.max_bullet_lines_ratio,
                       max_ellipsis_lines_ratio=c.max_ellipsis_lines_ratio,
                       max_non_alpha_words_ratio=c.min_alpha_word_ratio, min_stop_words=c.min_stop_words,
                       stop_words=list(c.stop_words))

    def evaluate(self, text: pa.Array) -> FilterResult:
        from stages.filter.result import evaluate_per_row

        ren = {k: k.removeprefix("gopher_") for k in ("gopher_short_doc", "gopher_long_doc", "gopher_below_avg_threshold",
               "gopher_above_avg_threshold", "gopher_too_many_hashes", "gopher_too_many_ellipsis",
               "gopher_too_many_bullets", "gopher_too_many_end_ellipsis", "gopher_below_alpha_threshold")}
        ren["gopher_enough_stop_words"] = "too_few_stop_words"
        r = evaluate_per_row(self.name, self._dt, text, ren)
        return FilterResult(reasons=r.reasons)
