"""64-bit mixing, the MinHash permutation family and the numpy signature kernel (numpy only: bench/dedup_scaling.py
loads this file alone on machines without pyarrow). The stage itself runs the numba kernels of kernels.py, 4x
faster and tested equal to `minhash_signatures` here, which stays as their reference.

The permutations are datatrove's (`pipeline/dedup/minhash.py`): `(h * a + b) mod (2^61 - 1)` on uint64, where
`h * a + b` wraps mod 2^64 *before* the modulo, exactly as datatrove and datasketch's `legacy` scheme do, so
signatures are comparable bit for bit. It is not a true universal hash; that is the price of comparability.
"""
from __future__ import annotations

import numpy as np

_CHUNK_SHINGLES = 4096
"""Shingles per broadcast chunk: (112, 4096) uint64 = 3.7 MB of scratch, measured fastest of 1k..16k here."""

MERSENNE_61 = np.uint64((1 << 61) - 1)
"""The modulus 2^61 - 1 of datatrove and datasketch legacy."""

_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_S61 = np.uint64(61)
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
"""An odd 64-bit constant (2^64 / phi) used to combine hashes in order."""


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser on every element: a bijection of uint64 with full avalanche. h: uint64."""
    h = np.asarray(h, dtype=np.uint64)
    h = h ^ (h >> _S33)
    h = h * _M1
    h ^= h >> _S33
    h *= _M2
    h ^= h >> _S33
    return h


def combine(h: np.ndarray, v: np.ndarray) -> np.ndarray:
    """An order-sensitive combination of two uint64 arrays: fmix64(h * GOLDEN + v) (both wrap mod 2^64)."""
    return fmix64(np.asarray(h, dtype=np.uint64) * GOLDEN + np.asarray(v, dtype=np.uint64))


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datatrove's permutation parameters (a, b): two (num_perm,) uint64 arrays drawn from RandomState(seed).

    Same draw as `MinhashDedupSignature.parameters` (a in [1, p), then b in [0, p)), so datatrove's
    `get_signature` gives our 64-bit signatures; datasketch takes them as `permutations=(a, b)`.
    """
    gen = np.random.RandomState(seed)
    a = gen.randint(1, MERSENNE_61, dtype=np.uint64, size=(1, num_perm))
    b = gen.randint(0, MERSENNE_61, dtype=np.uint64, size=(1, num_perm))
    return a.ravel(), b.ravel()


def mod_mersenne61(x: np.ndarray, tmp: np.ndarray) -> None:
    """x %= 2^61 - 1 in place for uint64 arrays, without a division: 2^61 = 1 (mod p), so
    x = hi * 2^61 + lo is congruent to lo + hi <= p + 7, and one conditional subtraction (as `min(r, r - p)`,
    which wraps for r < p) finishes it. tmp: scratch of x's shape. ~2.5x faster than `np.remainder` here.
    """
    np.right_shift(x, _S61, out=tmp)
    np.bitwise_and(x, MERSENNE_61, out=x)
    np.add(x, tmp, out=x)
    np.subtract(x, MERSENNE_61, out=tmp)
    np.minimum(x, tmp, out=x)


_SHIFT = np.uint64((1 << 64) - ((1 << 61) - 1))
"""2^64 - p: adding it (mod 2^64) maps a folded value r in [0, p + 7] onto the order of r mod p."""


def _fold_shifted(x: np.ndarray, tmp: np.ndarray) -> None:
    """x <- ((x & p) + (x >> 61) + 2^64 - p) mod 2^64 in place: 4 passes instead of `mod_mersenne61`'s 5.

    r = (x & p) + (x >> 61) is x mod p or x mod p + p (then in [p, p + 7]). Adding 2^64 - p sends r < p to
    r + 2^64 - p (no wrap, order kept) and r >= p to r - p (wraps below all of those), so the minimum of the
    shifted values is the shifted exact minimum; subtracting 2^64 - p afterwards gives back the folded r, which is
    the residue unless r >= p (minhash_signatures recomputes results <= 7 or >= p exactly).
    Example (p = 7 for the sake of it, 2^64 read as 16): r = 3 -> 12, r = 9 (= 2 mod 7) -> 2, min -> 2 -> 2 - 9 = 9
    mod 16: the folded r = 9 >= p, which the caller recomputes exactly as 2.
    """
    np.right_shift(x, _S61, out=tmp)
    np.bitwise_and(x, MERSENNE_61, out=x)
    np.add(x, tmp, out=x)
    np.add(x, _SHIFT, out=x)


def minhash_signatures(sh: np.ndarray, counts: np.ndarray, a: np.ndarray, b: np.ndarray,
                       bits: int = 64) -> np.ndarray:
    """MinHash of each document: (n, num_perm) uint64 (bits=64) or uint32 (bits=32).

    Value k of document d is min over its shingles h of ((h * a[k] + b[k]) mod 2^64) mod (2^61 - 1), masked to
    the low 32 bits when bits=32 (datasketch legacy). A document without shingles gets the all-max row
    (np.minimum.reduceat would give it a neighbour's value instead, so it is never reduced): ignore it.
    """
    n_docs, num_perm = len(counts), len(a)
    sig = np.full((num_perm, n_docs), np.iinfo(np.uint64).max, dtype=np.uint64)
    doc_starts = np.cumsum(counts) - counts
    nonempty = np.flatnonzero(counts > 0)
    ne_starts = doc_starts[nonempty]
    ne_ends = ne_starts + counts[nonempty]
    a_col, b_col = a.reshape(-1, 1), b.reshape(-1, 1)
    buf = np.empty((num_perm, _CHUNK_SHINGLES), dtype=np.uint64)
    tmp = np.empty_like(buf)
    mask32 = np.uint64(0xFFFFFFFF)
    for c0 in range(0, len(sh), _CHUNK_SHINGLES):
        c1 = min(len(sh), c0 + _CHUNK_SHINGLES)
        w = c1 - c0
        x, t = buf[:, :w], tmp[:, :w]
        np.multiply(a_col, sh[None, c0:c1], out=x)
        np.add(x, b_col, out=x)
        if bits == 32:
            mod_mersenne61(x, t)  # the mask must see the exact residue, so no shortcut here
            np.bitwise_and(x, mask32, out=x)
        else:
            _fold_shifted(x, t)
        # documents overlapping [c0, c1): segments start at max(doc start, c0)
        lo = np.searchsorted(ne_ends, c0, side="right")
        hi = np.searchsorted(ne_starts, c1, side="left")
        docs = nonempty[lo:hi]
        seg = np.maximum(ne_starts[lo:hi], c0) - c0
        red = np.minimum.reduceat(x, seg, axis=1)
        sig[:, docs] = np.minimum(sig[:, docs], red)
    if bits == 64:
        sig[:, nonempty] -= _SHIFT  # back from the order-preserving form (wraps)
        # The shifted form sorts every folded r >= p (residues 0..7) below every r < p and gives it back as r, not
        # r - p: recompute any result <= 7 or >= p exactly (probability ~ 8 x shingles / 2^61 per value).
        got = sig[:, nonempty]
        for k, d in zip(*np.nonzero((got <= 7) | (got >= MERSENNE_61))):
            doc = nonempty[d]
            x = sh[doc_starts[doc]: doc_starts[doc] + counts[doc]] * a[k] + b[k]
            sig[k, doc] = np.min(x % MERSENNE_61)
    out = np.ascontiguousarray(sig.T)
    return out.astype(np.uint32) if bits == 32 else out
