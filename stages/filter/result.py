"""What one filter returns for a batch of texts, and the rule-order reason picker every filter shares."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa


@dataclass(slots=True)
class FilterResult:
    """One filter's verdict on n texts.

    reasons: (n,) string, null where the filter keeps the text, else `<filter>.<rule>` of the first failing rule.
    columns: score columns this filter adds (each (n,)), e.g. `language_score`.
    text: the edited texts (C4 drops lines), or None when the filter does not edit.
    word_counts: (n,) int64 word tokens of each edited text when the filter knows them (C4 does, from its kept
        lines), so a later filter that only counts words need not split the edited texts again.
    """

    reasons: pa.Array
    columns: dict[str, pa.Array] = field(default_factory=dict)
    text: pa.Array | None = None
    word_counts: np.ndarray | None = None


def combine_rule_masks(filter_name: str, rules: list[tuple[str, np.ndarray]], n: int) -> pa.Array:
    """First failing rule per row, in list order: the fail matrix [n, n_rules] reduced by argmax.

    rules: (rule name, (n,) bool fail mask) in the filter's own rule order.
    Example: rules a=[F,T,T], b=[T,T,F] -> ["f.b", "f.a", "f.a"].
    """
    if not rules:
        return pa.nulls(n, pa.string())
    names = np.array([f"{filter_name}.{rule}" for rule, _ in rules] + [None], dtype=object)
    fails = np.column_stack([np.asarray(mask, dtype=bool) for _, mask in rules] + [np.ones(n, dtype=bool)])
    first = np.argmax(fails, axis=1)  # the always-true last column maps "no rule failed" to None
    return pa.array(names[first], type=pa.string())

