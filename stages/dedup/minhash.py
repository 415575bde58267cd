"""Shingles, MinHash signatures and LSH band keys for a whole batch at once (the map side of near dedup).

`TextMinHash` runs the numba kernels (stages/dedup/kernels.py) over the batch's UTF-8 buffer and offsets: one
compiled pass per document hashes its words, mixes the shingles and keeps the 112 running minima, so no
(shingles x permutations) or even flat per-batch shingle array exists. Measured on 2,136 real passages (3.55 MB,
644,680 word 5-gram shingles, 112 permutations, one core of the shared 2-core box, load ~5, best of 11):
37 ms from normalised text to signatures (57 ns per shingle: 27 ms permutations + minima, ~10 ms word scan +
xxh3 + shingle mixing) against 196 ms for the numpy path below, which stays as the readable reference the
kernels are tested against: `unit_hashes` (dictionary-encode the words, xxh3 each distinct word) →
`shingle_hashes` → `hashing.minhash_signatures` (broadcast over (permutation, shingle) chunks, reduceat).

Intended differences from datatrove's `get_shingles` (listed in tests/stages/dedup/test_minhash.py):
- words are the normalised text split on " " (datatrove: spaCy tokens of it; spaCy also splits "dont" etc.);
- a shingle hash mixes its n word hashes (xxh3-64 of each word) instead of hashing the space-joined string.
Signatures from the same shingle hashes are bit-identical to datatrove's `get_signature` (64-bit) and to
datasketch `MinHash(scheme="legacy", permutations=(a, b))` (32-bit mode).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from stages.dedup import kernels
from stages.dedup.config import ShingleUnit
from stages.dedup.hashing import MERSENNE_61, combine, fmix64, minhash_signatures
from stages.imports import load_numba_math

_NO_CAP = 1 << 62
"""max_shingles_per_doc=None inside the kernels (an int64 no document reaches)."""


def text_buffers(norm: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Zero-copy views of a string column: (UTF-8 bytes (B,) uint8, offsets (n+1,) int64 into them)."""
    if isinstance(norm, pa.ChunkedArray):
        norm = norm.combine_chunks()
    norm = norm.cast(pa.large_string())
    n = len(norm)
    offsets = np.frombuffer(norm.buffers()[1], dtype=np.int64)[norm.offset: norm.offset + n + 1]
    data_buf = norm.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None and data_buf.size else \
        np.zeros(1, dtype=np.uint8)
    return data, offsets


class TextMinHash:
    """Unit hashes → shingles → MinHash of normalised texts, in the numba kernels (stages/dedup/kernels.py).

    Bit-identical to the numpy reference `unit_hashes` → `shingle_hashes` → `minhash_signatures` (tested);
    scratch per call: two arrays of min(max_shingles_per_doc + n_grams - 1, largest document's units) uint64.
    """

    def __init__(self, unit: ShingleUnit, n_grams: int, max_per_doc: int | None, seed: int,
                 a: np.ndarray, b: np.ndarray, bits: int) -> None:
        self.unit = kernels.UNIT_WORD if unit is ShingleUnit.word else kernels.UNIT_CHAR
        self.n_grams, self.cap = n_grams, _NO_CAP if max_per_doc is None else max_per_doc
        self.seed = np.uint64(seed)
        self.long_secret = kernels.derived_secret(seed)
        self.a, self.b = np.ascontiguousarray(a, np.uint64), np.ascontiguousarray(b, np.uint64)
        self.bits32 = bits == 32
        # before the first kernel: without it a fresh dedup worker imported scipy.linalg for numba's BLAS probe,
        # 0.27 of the 0.57 s its first key task spent beyond a warm one (local profile of `_file_keys`)
        load_numba_math()

    def _scratch(self, offsets: np.ndarray) -> int:
        longest = int(np.diff(offsets).max()) if len(offsets) > 1 else 0
        units_bound = (longest + 1) // 2 + 1 if self.unit == kernels.UNIT_WORD else longest
        return max(1, min(self.cap + self.n_grams - 1, units_bound))

    def _finish(self, sig: np.ndarray) -> np.ndarray:
        return sig.astype(np.uint32) if self.bits32 else sig

    def signatures(self, norm: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sig (n, num_perm) uint64 | uint32, shingles after the cap (n,) int64, capped (n,) bool); a document
        without shingles gets the all-max row (ignore it)."""
        data, offsets = text_buffers(norm)
        n = len(offsets) - 1
        sig = np.full((n, len(self.a)), np.iinfo(np.uint64).max, dtype=np.uint64)
        n_sh, capped = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.bool_)
        kernels.text_signatures(data, offsets, self.unit, self.seed, kernels.XXH3_SECRET, self.long_secret,
                                self.n_grams, self.cap, self.a, self.b, self.bits32, self._scratch(offsets),
                                sig, n_sh, capped)
        return self._finish(sig), n_sh, capped

    def shingles(self, norm: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(flat shingle hashes (S,) uint64 in document order, counts (n,) int64, capped (n,) bool)."""
        data, offsets = text_buffers(norm)
        n = len(offsets) - 1
        counts, capped = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.bool_)
        kernels.count_shingles(data, offsets, self.unit, self.n_grams, self.cap, counts, capped)
        starts = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        out = np.empty(int(starts[-1]), dtype=np.uint64)
        kernels.text_shingles(data, offsets, self.unit, self.seed, kernels.XXH3_SECRET, self.long_secret,
                              self.n_grams, self.cap, self._scratch(offsets), starts, out)
        return out, counts, capped

    def signatures_of_shingles(self, sh: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """MinHash of flat shingle hashes (S,) uint64 with per-document counts (n,): as `signatures`."""
        sig = np.full((len(counts), len(self.a)), np.iinfo(np.uint64).max, dtype=np.uint64)
        kernels.flat_signatures(np.ascontiguousarray(sh, np.uint64), np.asarray(counts, np.int64), self.a, self.b,
                                self.bits32, sig)
        return self._finish(sig)


def unit_hashes(norm: pa.Array, unit: ShingleUnit, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hash each unit (word or code point) of each normalised text: (flat (U,) uint64, counts (n,) int64).

    Words: split on " ", empty pieces dropped (an empty text has no word). Each distinct word of the batch is
    hashed once (dictionary_encode, then xxh3-64 of the dictionary: a Python loop over distinct words only,
    ~0.3 µs each, a few % of the signature time). Code points: decoded once for the whole batch buffer.
    """
    n = len(norm)
    if unit is ShingleUnit.word:
        parts = pc.split_pattern(norm, " ")
        values = pc.list_flatten(parts)
        parent = pc.list_parent_indices(parts)
        nonempty = pc.greater(pc.binary_length(values), 0)
        values = values.filter(nonempty)
        parent = parent.filter(nonempty).to_numpy()
        counts = np.bincount(parent, minlength=n).astype(np.int64)
        enc = pc.dictionary_encode(values).combine_chunks() if isinstance(values, pa.ChunkedArray) else \
            pc.dictionary_encode(values)
        words = enc.dictionary.to_pylist()
        dict_hash = np.fromiter((xxhash.xxh3_64_intdigest(w, seed) for w in words), dtype=np.uint64, count=len(words))
        return dict_hash[enc.indices.to_numpy()], counts
    # code points: the whole value buffer decoded once; per-document counts from utf8_length
    counts = pc.utf8_length(norm).to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = np.frombuffer(norm.buffers()[1], dtype=np.int64)[norm.offset: norm.offset + n + 1]
    data = norm.buffers()[2]
    raw = b"" if data is None else data.to_pybytes()[offsets[0]: offsets[-1]]
    cps = np.frombuffer(raw.decode("utf-8").encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    return fmix64(cps ^ np.uint64(seed)), counts


def shingle_hashes(unit_h: np.ndarray, counts: np.ndarray, n_grams: int,
                   max_per_doc: int | None) -> tuple[np.ndarray, np.ndarray]:
    """n-gram shingle hashes of every document: (flat (S,) uint64, counts (n,) int64), in document order.

    A document with c units has max(c - n + 1, 0) shingles, the first `max_per_doc` of them kept.
    Example (n=2): units [w0 w1 w2 | v0] (counts [3, 1]) -> [mix(w0,w1), mix(w1,w2)], counts [2, 0].
    """
    starts = np.cumsum(counts) - counts
    n_sh = np.maximum(counts - n_grams + 1, 0)
    if max_per_doc is not None:
        n_sh = np.minimum(n_sh, max_per_doc)
    total = int(n_sh.sum())
    # start unit of each shingle: doc start + position within the doc
    before = np.cumsum(n_sh) - n_sh
    idx = np.repeat(starts - before, n_sh) + np.arange(total, dtype=np.int64)
    h = fmix64(unit_h[idx])
    for k in range(1, n_grams):
        h = combine(h, unit_h[idx + k])
    return h, n_sh.astype(np.int64)


def band_keys(sig: np.ndarray, bands: int, rows: int, salt: np.ndarray | None = None) -> np.ndarray:
    """One 64-bit key per (document, band): (n, bands) uint64 = mix(band index, salt, its `rows` values).

    The band index is part of the key: equal r-tuples in different bands are not a match. salt: (n,) uint64
    (the source hash under scope=per_source), or None.
    """
    n = sig.shape[0]
    vals = sig.astype(np.uint64, copy=False).reshape(n, bands, rows)
    h = np.broadcast_to(np.arange(1, bands + 1, dtype=np.uint64), (n, bands))
    h = fmix64(h if salt is None else h ^ salt.astype(np.uint64)[:, None])
    for k in range(rows):
        h = combine(h, vals[:, :, k])
    return h


def sorted_unique_sets(sh: np.ndarray, counts: np.ndarray) -> pa.LargeListArray:
    """Each document's shingle hashes as a sorted set: large_list<uint64>, one row per document.

    One numba sort per document (kernels.sort_unique_segments): 6,665 candidate documents of the 30k bench corpus
    (4.7 M shingles) took 1.44 s in a global lexsort of (document, hash), the largest part of the feature map."""
    values = np.array(sh, dtype=np.uint64)  # a copy: sorted in place
    n_unique = np.empty(len(counts), dtype=np.int64)
    total = kernels.sort_unique_segments(values, np.asarray(counts, dtype=np.int64), n_unique)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(n_unique, out=offsets[1:])
    return pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values[:total], pa.uint64()))


def lsh_probability(s: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """P(a pair of Jaccard s shares at least one band) = 1 - (1 - s^r)^b: the LSH S-curve."""
    return 1.0 - (1.0 - np.power(s, rows)) ** bands


def signature_similarity(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Share of equal MinHash values per row pair: the MinHash estimate of Jaccard. (n, k) each -> (n,) float64."""
    return (sig_a == sig_b).mean(axis=1)


__all__ = ["MERSENNE_61", "TextMinHash", "band_keys", "lsh_probability", "minhash_signatures", "shingle_hashes",
           "signature_similarity", "sorted_unique_sets", "text_buffers", "unit_hashes"]
