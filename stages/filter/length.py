"""Length bounds in characters: the cheapest rule, run first so later rules never see empty pages."""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from stages.filter.result import FilterResult, combine_rule_masks


@dataclass(frozen=True, kw_only=True, slots=True)
class LengthConfig:
    """Reject documents whose text is shorter or longer than a number of characters (code points)."""

    min_chars: int | None = 1
    """Fewest characters a kept document has; carding choice: 1 rejects empty texts (nothing to train on).
    None turns the rule off."""

    max_chars: int | None = None
    """Most characters a kept document has; carding choice: off by default (datatrove has no such rule).
    None turns the rule off."""

    def __post_init__(self) -> None:
        if self.min_chars is not None and self.min_chars < 0:
            raise ValueError(f"length.min_chars={self.min_chars}: must be >= 0 or null (off)")
        if self.max_chars is not None and self.max_chars < 1:
            raise ValueError(f"length.max_chars={self.max_chars}: must be >= 1 or null (off)")
        if self.min_chars is not None and self.max_chars is not None and self.min_chars > self.max_chars:
            raise ValueError(f"length: min_chars={self.min_chars} > max_chars={self.max_chars}: no document could pass")


class LengthFilter:
    """`length.too_short` / `length.too_long` from `utf8_length` of the whole column."""

    name = "length"

    def __init__(self, config: LengthConfig) -> None:
        self.config = config

    def evaluate(self, text: pa.Array) -> FilterResult:
        n_chars = pc.fill_null(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False)
        rules = []
        if self.config.min_chars is not None:
            rules.append(("too_short", n_chars < self.config.min_chars))
        if self.config.max_chars is not None:
            rules.append(("too_long", n_chars > self.config.max_chars))
        return FilterResult(reasons=combine_rule_masks(self.name, rules, len(text)))
