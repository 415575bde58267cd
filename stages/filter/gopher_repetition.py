"""Gopher repetition rules (Rae et al. 2021, App. A, Table A1), as datatrove's `GopherRepetitionFilter`."""
from __future__ import annotations

from dataclasses import dataclass


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
    name = "gopher_rep"

    def __init__(self, config: GopherRepetitionConfig) -> None:
        from datatrove.pipeline.filters import GopherRepetitionFilter as _DT

        c = config
        self.config = config
        self._dt = _DT(dup_line_frac=c.dup_line_frac, dup_para_frac=c.dup_para_frac,
                       dup_line_char_frac=c.dup_line_char_frac, dup_para_char_frac=c.dup_para_char_frac,
                       top_n_grams=tuple(c.top_n_grams()), dup_n_grams=tuple(c.dup_n_grams()))

    def evaluate(self, text):
        from stages.filter.result import FilterResult, evaluate_per_row

        r = evaluate_per_row(self.name, self._dt, text, {})
        return FilterResult(reasons=r.reasons)
