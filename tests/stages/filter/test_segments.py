"""Arrow splits equal Python's own (`str.splitlines`, `re.split`, `str.split("\\n")`, `str.strip`) on any text,
including the line breaks and whitespace RE2 treats differently (spec filter.md, traps)."""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.filter.segments import (
    repeated,
    split_literal,
    split_regex,
    splitlines,
    strip,
)

TRICKY = st.text(alphabet=st.sampled_from(list("ab .\n\r\t\x0b\x0c\x1c\x1d\x1e\x1f\x85\u00a0\u2028\u2029\u3000İΣ")),
                 max_size=30)


def _lists(values: pa.Array, offsets: np.ndarray) -> list[list[str]]:
    flat = values.to_pylist()
    return [flat[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]


@settings(max_examples=300, deadline=None)
@given(st.lists(TRICKY, min_size=1, max_size=6))
def test_splits_match_python(texts: list[str]):
    arr = pa.array(texts, pa.large_string())
    assert _lists(*splitlines(arr)) == [t.splitlines() for t in texts]
    assert _lists(*split_regex(arr, r"\n+")) == [re.split("\n+", t) for t in texts]
    assert _lists(*split_literal(arr, "\n")) == [t.split("\n") for t in texts]
    assert strip(arr).to_pylist() == [t.strip() for t in texts]


def test_repeated_marks_later_copies_within_a_text():
    """["a","b","a","a"] | ["a"] -> the second and third "a" of the first text only."""
    values = pa.array(["a", "b", "a", "a", "a"])
    assert repeated(values, np.array([0, 4, 5])).tolist() == [False, False, True, True, False]
