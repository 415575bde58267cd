"""FineWeb quality rules (Penedo et al. 2024), as datatrove's `FineWebQualityFilter`."""
from __future__ import annotations

from dataclasses import dataclass


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
    name = "fineweb_qual"

    def __init__(self, config: FineWebConfig) -> None:
        from datatrove.pipeline.filters import FineWebQualityFilter as _DT

        c = config
        self.config = config
        self._dt = _DT(line_punct_thr=c.line_punct_thr or 0.0, line_punct_exclude_zero=c.line_punct_exclude_zero,
                       short_line_thr=1.0 if c.short_line_thr is None else c.short_line_thr,
                       short_line_length=c.short_line_length,
                       char_duplicates_ratio=1.0 if c.char_duplicates_ratio is None else c.char_duplicates_ratio,
                       new_line_ratio=float("inf") if c.new_line_ratio is None else c.new_line_ratio)

    def evaluate(self, text):
        from stages.filter.result import FilterResult, evaluate_per_row

        r = evaluate_per_row(self.name, self._dt, text, {})
        return FilterResult(reasons=r.reasons)
