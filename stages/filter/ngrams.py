"""Gopher n-gram repetition over flat token arrays (numba): top n-gram and duplicated n-gram characters.

The duplicated n-gram count is path-dependent (datatrove `find_all_duplicate`: a hit jumps n positions, so the
skipped windows never enter the seen-set), which no sort-based array operation reproduces; a compiled loop over
the flat arrays with an open-addressing hash table does, at a few ns per window.

N-gram identity is by 64-bit hash: a top n-gram is a sequence of token types (their character hashes folded in
order, since datatrove joins with " " and tokens hold no space); a duplicated n-gram is the *concatenation* of
its tokens (datatrove joins with ""), hashed as a polynomial over characters that folds from per-type parts:
h(a+b) = h(a) * B**len(b) + h(b) mod 2**64.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_MIX = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True)
def _find_or_insert(keys: np.ndarray, stamp: np.ndarray, counts: np.ndarray, gen: np.int64, key: np.uint64,
                    insert: bool) -> np.int64:
    """Slot of `key` in the table (stamp == gen marks used slots); -1 when absent and insert is False."""
    mask = len(keys) - 1
    slot = np.int64((key * _MIX) >> np.uint64(40)) & mask
    while stamp[slot] == gen:
        if keys[slot] == key:
            return slot
        slot = (slot + 1) & mask
    if not insert:
        return -1
    stamp[slot] = gen
    keys[slot] = key
    counts[slot] = 0
    return slot


@njit(cache=True)
def ngram_repetition_chars(offsets: np.ndarray, types: np.ndarray, type_chars: np.ndarray, type_hash: np.ndarray,
                           type_pow: np.ndarray, top_ns: np.ndarray, dup_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per text: characters of the most frequent n-gram (count x length joined with spaces; -1 when the text has
    fewer than n tokens, a rule datatrove skips) for each n in top_ns, and characters of duplicated n-grams
    (datatrove's left-to-right scan) for each n in dup_ns. Returns (n_texts, len(top_ns)) and
    (n_texts, len(dup_ns)) float64.
    """
    n_docs = len(offsets) - 1
    top = np.full((n_docs, len(top_ns)), -1.0)
    dup = np.zeros((n_docs, len(dup_ns)))
    max_tokens = 0
    for d in range(n_docs):
        max_tokens = max(max_tokens, offsets[d + 1] - offsets[d])
    cap = 16
    while cap < 2 * max_tokens + 2:
        cap *= 2
    keys = np.zeros(cap, dtype=np.uint64)
    stamp = np.full(cap, -1, dtype=np.int64)
    counts = np.zeros(cap, dtype=np.int64)
    window_keys = np.zeros(max_tokens + 1, dtype=np.uint64)
    gen = np.int64(0)
    for d in range(n_docs):
        s = offsets[d]
        m = offsets[d + 1] - s
        for k in range(len(top_ns)):
            n = top_ns[k]
            n_windows = m - n + 1
            if n_windows <= 0:
                continue
            gen += 1
            for w in range(n_windows):
                key = np.uint64(0)
                for j in range(n):
                    key = key * np.uint64(0x100000001B3) + type_hash[types[s + w + j]]
                window_keys[w] = key
                slot = _find_or_insert(keys, stamp, counts, gen, key, True)
                counts[slot] += 1
            best_count = 0
            best = 0.0
            for w in range(n_windows):
                c = counts[_find_or_insert(keys, stamp, counts, gen, window_keys[w], False)]
                if c > best_count:  # strictly greater: ties go to the n-gram seen first (Counter.most_common)
                    best_count = c
                    chars = n - 1
                    for j in range(n):
                        chars += type_chars[types[s + w + j]]
                    best = float(c * chars)
            top[d, k] = best
        for k in range(len(dup_ns)):
            n = dup_ns[k]
            n_windows = m - n + 1
            gen += 1
            idx = 0
            repeated = 0
            while idx < n_windows:
                key = np.uint64(0)
                chars = 0
                for j in range(n):
                    t = types[s + idx + j]
                    key = key * type_pow[t] + type_hash[t]
                    chars += type_chars[t]
                if _find_or_insert(keys, stamp, counts, gen, key, False) >= 0:
                    repeated += chars
                    idx += n
                else:
                    _find_or_insert(keys, stamp, counts, gen, key, True)
                    idx += 1
            dup[d, k] = repeated
    return top, dup
