"""Gopher repetition rules (Rae et al. 2021, App. A, Table A1), as datatrove's `GopherRepetitionFilter`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from stages.filter.ngrams import ngram_repetition_chars
from stages.filter.result import FilterResult, combine_rule_masks
from stages.filter.segments import (
    char_lengths,
    per_text,
    ratio,
    repeated,
    split_regex,
    strip,
)
from stages.filter.words import Tokens, WordSplitter


@dataclass(frozen=True, kw_only=True, slots=True)
class GopherRepetitionConfig:
    """Thresholds of datatrove 0.10.1 `GopherRepetitionFilter` (Gopher Table A1); `None` turns one rule off.

    All character fractions divide by `len(text)` in code points.
    """

    dup_para_frac: float | None = 0.3
    """Most share of paragraphs (split on `\\n{2,}`) that repeat an earlier one; datatrove default 0.3."""

    dup_para_char_frac: float | None = 0.2
    """Most share of characters in repeated paragraphs; datatrove default 0.2."""

    dup_line_frac: float | None = 0.3
    """Most share of lines (split on `\\n+`) that repeat an earlier one; datatrove default 0.3."""

    dup_line_char_frac: float | None = 0.2
    """Most share of characters in repeated lines; datatrove default 0.2."""

    top_2_gram_max_char_frac: float | None = 0.20
    """Most share of characters covered by the most frequent word 2-gram; datatrove `top_n_grams` (2, 0.20)."""

    top_3_gram_max_char_frac: float | None = 0.18
    """Same for 3-grams; datatrove `top_n_grams` (3, 0.18)."""

    top_4_gram_max_char_frac: float | None = 0.16
    """Same for 4-grams; datatrove `top_n_grams` (4, 0.16)."""

    dup_5_gram_max_char_frac: float | None = 0.15
    """Most share of characters in duplicated word 5-grams; datatrove `dup_n_grams` (5, 0.15)."""

    dup_6_gram_max_char_frac: float | None = 0.14
    """Same for 6-grams; datatrove `dup_n_grams` (6, 0.14)."""

    dup_7_gram_max_char_frac: float | None = 0.13
    """Same for 7-grams; datatrove `dup_n_grams` (7, 0.13)."""

    dup_8_gram_max_char_frac: float | None = 0.12
    """Same for 8-grams; datatrove `dup_n_grams` (8, 0.12)."""

    dup_9_gram_max_char_frac: float | None = 0.11
    """Same for 9-grams; datatrove `dup_n_grams` (9, 0.11)."""

    dup_10_gram_max_char_frac: float | None = 0.10
    """Same for 10-grams; datatrove `dup_n_grams` (10, 0.10)."""

    def __post_init__(self) -> None:
        for name in self.__slots__:
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise ValueError(f"gopher_repetition.{name}={v}: must be a share in [0, 1] or null (off)")

    def top_n_grams(self) -> list[tuple[int, float]]:
        """The enabled (n, max share) pairs of the top n-gram rules, in datatrove's order."""
        pairs = [(2, self.top_2_gram_max_char_frac), (3, self.top_3_gram_max_char_frac),
                 (4, self.top_4_gram_max_char_frac)]
        return [(n, f) for n, f in pairs if f is not None]

    def dup_n_grams(self) -> list[tuple[int, float]]:
        """The enabled (n, max share) pairs of the duplicated n-gram rules, in datatrove's order."""
        pairs = [(n, getattr(self, f"dup_{n}_gram_max_char_frac")) for n in range(5, 11)]
        return [(n, f) for n, f in pairs if f is not None]



class GopherRepetitionFilter:
    """Gopher repetition rules on whole batches; reasons `gopher_rep.<rule>` with datatrove's rule names.

    Paragraphs: `text.strip()` split on `\\n{2,}`; lines: raw text split on `\\n+`; words: spaCy tokens
    (`WordSplitter`). Character fractions divide by `len(text)`.
    """

    name = "gopher_rep"

    def __init__(self, config: GopherRepetitionConfig, words: WordSplitter | None = None) -> None:
        self.config = config
        self.words = words if words is not None else WordSplitter()
        self._top = config.top_n_grams()
        self._dup = config.dup_n_grams()
        self.uses_words = bool(self._top or self._dup)

    def evaluate(self, text: pa.Array, tokens: Tokens | None = None) -> FilterResult:
        """tokens: `self.words.tokens(text)` when the caller has them already (the chain shares them)."""
        c = self.config
        n_chars = char_lengths(text)
        rules: list[tuple[str, np.ndarray]] = [("empty", n_chars == 0)]

        para, para_off = split_regex(strip(text), r"\n{2,}")
        para_rep = repeated(para, para_off)
        if c.dup_para_frac is not None:
            rules.append(("dup_para_frac", ratio(per_text(para_off, para_rep), np.diff(para_off)) > c.dup_para_frac))
        if c.dup_para_char_frac is not None:
            chars = per_text(para_off, para_rep * char_lengths(para))
            rules.append(("dup_para_char_frac", ratio(chars, n_chars) > c.dup_para_char_frac))

        lines, line_off = split_regex(text, r"\n+")
        line_rep = repeated(lines, line_off)
        if c.dup_line_frac is not None:
            rules.append(("dup_line_frac", ratio(per_text(line_off, line_rep), np.diff(line_off)) > c.dup_line_frac))
        if c.dup_line_char_frac is not None:
            chars = per_text(line_off, line_rep * char_lengths(lines))
            rules.append(("dup_line_char_frac", ratio(chars, n_chars) > c.dup_line_char_frac))

        if self._top or self._dup:
            tokens = tokens if tokens is not None else self.words.tokens(text)
            w = self.words
            top, dup = ngram_repetition_chars(
                tokens.offsets, tokens.types, w.type_array("chars"), w.type_array("hash"),
                w.type_array("pow"), np.array([n for n, _ in self._top], dtype=np.int64),
                np.array([n for n, _ in self._dup], dtype=np.int64))
            for k, (n, frac) in enumerate(self._top):
                # top == -1: fewer than n words, datatrove skips the rule
                rules.append((f"top_{n}_gram", (top[:, k] >= 0) & (ratio(top[:, k], n_chars) > frac)))
            for k, (n, frac) in enumerate(self._dup):
                rules.append((f"duplicated_{n}_n_grams", ratio(dup[:, k], n_chars) > frac))
        return FilterResult(reasons=combine_rule_masks(self.name, rules, len(text)))
