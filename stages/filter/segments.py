"""Lines and paragraphs of whole Arrow columns, split exactly as Python splits them, and per-text reductions.

Every split returns flat `values` (a string array) and `offsets` ((n+1,) int64): the parts of text i are
values[offsets[i]:offsets[i+1]], as an Arrow ListArray would hold them.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
"""Characters `str.splitlines()` breaks on (plus the pair `\\r\\n`), unlike `split("\\n")`."""
_SPLITLINES = "\\r\\n|[" + "".join(f"\\x{{{ord(c):x}}}" for c in LINE_BREAKS) + "]"


def _list_parts(lists: pa.Array, n: int) -> tuple[pa.Array, np.ndarray]:
    offsets = lists.offsets.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    return lists.values.slice(int(lists.offsets[0].as_py()), int(offsets[-1])), offsets


def split_regex(text: pa.Array, pattern: str) -> tuple[pa.Array, np.ndarray]:
    """`re.split(pattern, t)` for every text t (null texts count as ""), as (values, offsets)."""
    lists = pc.split_pattern_regex(pc.fill_null(text, ""), pattern)
    return _list_parts(lists, len(text))


def split_literal(text: pa.Array, sep: str) -> tuple[pa.Array, np.ndarray]:
    """`t.split(sep)` for every text t, as (values, offsets)."""
    lists = pc.split_pattern(pc.fill_null(text, ""), sep)
    return _list_parts(lists, len(text))


def splitlines(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """`t.splitlines()` for every text t: the regex split minus its last part when that part is empty.

    "a\\n" -> ["a"] (split gives ["a", ""]); "" -> []; "\\n" -> [""]; "a\\r\\nb" -> ["a", "b"].
    """
    values, offsets = split_regex(text, _SPLITLINES)
    last = offsets[1:] - 1
    drop = pc.equal(pc.binary_length(values.take(pa.array(last))), 0).to_numpy(zero_copy_only=False)
    if not drop.any():
        return values, offsets
    keep = np.ones(len(values), dtype=bool)
    keep[last[drop]] = False
    new_offsets = offsets - np.concatenate([[0], np.cumsum(drop)])
    return values.filter(pa.array(keep)), new_offsets


def owner(offsets: np.ndarray) -> np.ndarray:
    """(n_parts,) int64 index of the text that owns each part."""
    return np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))


def per_text(offsets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(n,) float64 sum of `weights` over each text's parts."""
    return np.bincount(owner(offsets), weights=weights, minlength=len(offsets) - 1).astype(np.float64)


def repeated(values: pa.Array, offsets: np.ndarray) -> np.ndarray:
    """(n_parts,) bool: the part equals an earlier part of the same text (datatrove `find_duplicates`).

    Example: parts of one text ["a", "b", "a", "a"] -> [F, F, T, T].
    """
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    codes = pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    key = owner(offsets) * (int(codes.max()) + 1) + codes
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    dup_sorted = np.empty(len(key), dtype=bool)
    dup_sorted[0] = False
    dup_sorted[1:] = sorted_key[1:] == sorted_key[:-1]
    out = np.empty(len(key), dtype=bool)
    out[order] = dup_sorted
    return out


def strip(values: pa.Array) -> pa.Array:
    """`str.strip()` of every value (Python's whitespace set, not RE2's ASCII `\\s`)."""
    return pc.utf8_trim_whitespace(values)  # Arrow's whitespace set is Python's (checked on all code points)


def char_lengths(values: pa.Array) -> np.ndarray:
    """(n,) int64 code points of every value (null = 0)."""
    return pc.fill_null(pc.utf8_length(values), 0).to_numpy(zero_copy_only=False).astype(np.int64)


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den as float64, with x/0 = inf for x > 0 and 0/0 = 0 (datatrove raises ZeroDivisionError there)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(len(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    out[(den == 0) & (num > 0)] = np.inf
    return out
