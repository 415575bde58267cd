"""FineWeb quality rules (Penedo et al. 2024), as datatrove's `FineWebQualityFilter`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.filter.result import FilterResult, combine_rule_masks
from stages.filter.segments import (
    char_lengths,
    per_text,
    ratio,
    repeated,
    split_literal,
    strip,
)
from stages.filter.words import Tokens, WordSplitter

_TERMINAL_PUNCTUATION = None


def _terminal_punctuation() -> pa.Array:
    """datatrove `TERMINAL_PUNCTUATION` (utils/text.py, 160 single characters), read once from datatrove."""
    global _TERMINAL_PUNCTUATION
    if _TERMINAL_PUNCTUATION is None:
        from datatrove.utils.text import TERMINAL_PUNCTUATION

        _TERMINAL_PUNCTUATION = pa.array(sorted(TERMINAL_PUNCTUATION), pa.string())
    return _TERMINAL_PUNCTUATION


@dataclass(frozen=True, kw_only=True, slots=True)
class FineWebConfig:
    """Thresholds of datatrove 0.10.1 `FineWebQualityFilter`; `None` turns one rule off.

    Lines are `text.split("\\n")` without blank ones; none left rejects as `empty`.
    """

    line_punct_thr: float | None = 0.12
    """Least share of lines ending in a terminal punctuation char (`line_punct_ratio`); datatrove default 0.12."""

    line_punct_exclude_zero: bool = False
    """Keep documents whose share is exactly 0 (no line ends in punctuation); datatrove default False."""

    short_line_thr: float | None = 0.67
    """Most share of lines of at most `short_line_length` chars (`short_line_ratio`); datatrove default 0.67."""

    short_line_length: int = 30
    """A line of at most this many characters is short; datatrove default 30."""

    char_duplicates_ratio: float | None = 0.01
    """Most share of characters (newlines excluded) in repeated lines (`char_dup_ratio`); datatrove default 0.01."""

    new_line_ratio: float | None = 0.3
    """Most newlines per word (`list_ratio`); datatrove default 0.3."""

    def __post_init__(self) -> None:
        for name in ("line_punct_thr", "short_line_thr", "char_duplicates_ratio"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise ValueError(f"fineweb.{name}={v}: must be a share in [0, 1] or null (off)")
        if self.new_line_ratio is not None and self.new_line_ratio < 0:
            raise ValueError(f"fineweb.new_line_ratio={self.new_line_ratio}: must be >= 0 or null (off)")
        if self.short_line_length < 0:
            raise ValueError(f"fineweb.short_line_length={self.short_line_length}: must be >= 0 characters")



class FineWebFilter:
    """FineWeb quality rules on whole batches; reasons `fineweb_qual.<rule>` with datatrove's rule names."""

    name = "fineweb_qual"

    def __init__(self, config: FineWebConfig, words: WordSplitter | None = None) -> None:
        self.config = config
        self.words = words if words is not None else WordSplitter()
        self.uses_words = config.new_line_ratio is not None
        self.counts_words_only = True  # `list_ratio` needs word counts, never the words

    def evaluate(self, text: pa.Array, tokens: Tokens | None = None, n_words: np.ndarray | None = None) -> FilterResult:
        """tokens: `self.words.tokens(text)` when the caller has them already (the chain shares them); n_words:
        (n,) their counts, enough here (C4 hands them over with its edited text)."""
        c = self.config
        n = len(text)
        raw_lines, raw_off = split_literal(text, "\n")
        nonblank = pc.greater(pc.binary_length(strip(raw_lines)), 0)
        lines = raw_lines.filter(nonblank)
        kept = nonblank.to_numpy(zero_copy_only=False)
        line_off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(per_text(raw_off, kept).astype(np.int64), out=line_off[1:])
        n_lines = np.diff(line_off)
        rules: list[tuple[str, np.ndarray]] = [("empty", n_lines == 0)]
        if c.line_punct_thr is not None:
            last = pc.utf8_slice_codeunits(lines, -1)
            ends = pc.is_in(last, value_set=_terminal_punctuation()).to_numpy(zero_copy_only=False)
            share = ratio(per_text(line_off, ends), n_lines)
            fail = share < c.line_punct_thr
            if c.line_punct_exclude_zero:
                fail &= share != 0
            rules.append(("line_punct_ratio", fail))
        if c.short_line_thr is not None:
            short = char_lengths(lines) <= c.short_line_length
            rules.append(("short_line_ratio", ratio(per_text(line_off, short), n_lines) > c.short_line_thr))
        newlines = pc.count_substring(text, "\n").to_numpy(zero_copy_only=False)
        if c.char_duplicates_ratio is not None:
            dup_chars = per_text(line_off, repeated(lines, line_off) * char_lengths(lines))
            rules.append(("char_dup_ratio", ratio(dup_chars, char_lengths(text) - newlines) > c.char_duplicates_ratio))
        if c.new_line_ratio is not None:
            if n_words is None:
                n_words = (tokens if tokens is not None else self.words.tokens(text)).counts
            rules.append(("list_ratio", ratio(newlines, n_words) > c.new_line_ratio))
        return FilterResult(reasons=combine_rule_masks(self.name, rules, n))
