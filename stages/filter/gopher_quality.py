"""Gopher quality rules (Rae et al. 2021, App. A), as datatrove's `GopherQualityFilter` applies them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.filter.result import FilterResult, combine_rule_masks
from stages.filter.segments import per_text, ratio, splitlines
from stages.filter.words import _WS_CLASS, Tokens, WordSplitter

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



_BULLET_START = f"^[{_WS_CLASS}]*[•\\-]"
_ELLIPSIS_END = f"(\\.\\.\\.|…)[{_WS_CLASS}]*$"


class GopherQualityFilter:
    """Gopher quality rules on whole batches; reasons `gopher_qual.<rule>` (datatrove's names without `gopher_`,
    and `too_few_stop_words` for datatrove's `gopher_enough_stop_words`)."""

    name = "gopher_qual"

    def __init__(self, config: GopherQualityConfig, words: WordSplitter | None = None) -> None:
        self.config = config
        self.words = words if words is not None else WordSplitter(config.stop_words)
        if self.words.stop_words != tuple(config.stop_words):
            raise ValueError("gopher_quality: the shared WordSplitter was built with other stop words")
        self.uses_words = True

    def evaluate(self, text: pa.Array, tokens: Tokens | None = None) -> FilterResult:
        """tokens: `self.words.tokens(text)` when the caller has them already (the chain shares them)."""
        c = self.config
        w = self.words
        tokens = tokens if tokens is not None else w.tokens(text)
        n_words = tokens.counts.astype(np.float64)
        content = w.type_array("content")[tokens.types]
        n_content = per_text(tokens.offsets, content)
        content_chars = per_text(tokens.offsets, content * w.type_array("chars")[tokens.types])
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_len = content_chars / n_content  # nan without content words: both length rules pass, as np.mean
        rules: list[tuple[str, np.ndarray]] = []
        if c.min_doc_words is not None:
            rules.append(("short_doc", n_content < c.min_doc_words))
        if c.max_doc_words is not None:
            rules.append(("long_doc", n_content > c.max_doc_words))
        if c.min_avg_word_length is not None:
            rules.append(("below_avg_threshold", mean_len < c.min_avg_word_length))
        if c.max_avg_word_length is not None:
            rules.append(("above_avg_threshold", mean_len > c.max_avg_word_length))
        if c.max_symbol_word_ratio is not None:
            hashes = pc.count_substring(text, "#").to_numpy(zero_copy_only=False)
            rules.append(("too_many_hashes", ratio(hashes, n_words) > c.max_symbol_word_ratio))
            ellipsis = (pc.count_substring(text, "...").to_numpy(zero_copy_only=False)
                        + pc.count_substring(text, "…").to_numpy(zero_copy_only=False))
            rules.append(("too_many_ellipsis", ratio(ellipsis, n_words) > c.max_symbol_word_ratio))
        if c.max_bullet_lines_ratio is not None or c.max_ellipsis_lines_ratio is not None:
            lines, line_off = splitlines(text)
            n_lines = np.diff(line_off)
            if c.max_bullet_lines_ratio is not None:
                bullet = pc.match_substring_regex(lines, _BULLET_START).to_numpy(zero_copy_only=False)
                rules.append(("too_many_bullets", ratio(per_text(line_off, bullet), n_lines) > c.max_bullet_lines_ratio))
            if c.max_ellipsis_lines_ratio is not None:
                ends = pc.match_substring_regex(lines, _ELLIPSIS_END).to_numpy(zero_copy_only=False)
                rules.append(("too_many_end_ellipsis",
                              ratio(per_text(line_off, ends), n_lines) > c.max_ellipsis_lines_ratio))
        if c.min_alpha_word_ratio is not None:
            alpha = per_text(tokens.offsets, w.type_array("alpha")[tokens.types])
            with np.errstate(invalid="ignore", divide="ignore"):
                alpha_share = alpha / n_words
            rules.append(("below_alpha_threshold", alpha_share < c.min_alpha_word_ratio))
        if c.min_stop_words is not None:
            stop = w.type_array("stop")[tokens.types].astype(np.int64)
            hit = stop >= 0
            key = np.unique(tokens.doc_of[hit] * len(c.stop_words) + stop[hit])
            distinct = np.bincount(key // max(1, len(c.stop_words)), minlength=len(text))
            rules.append(("too_few_stop_words", distinct < c.min_stop_words))
        return FilterResult(reasons=combine_rule_masks(self.name, rules, len(text)))
