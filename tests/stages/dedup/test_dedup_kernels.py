"""The numba signature kernels equal the numpy reference bit for bit: the parity with datatrove and datasketch
(test_dedup_minhash.py) and every stored band key rest on these values not moving.

Reference: `unit_hashes` (xxhash's own xxh3-64 of each word) → `shingle_hashes` → `hashing.minhash_signatures`.
"""
import numpy as np
import pyarrow as pa
import pytest
import xxhash

from bench.dedup_planted import load_passages
from stages.dedup import (DedupConfig, DedupShingler, ShingleUnit, TextMinHash, normalize_text, permutations,
                          shingle_hashes, unit_hashes)
from stages.dedup import kernels
from stages.dedup.hashing import MERSENNE_61, fmix64, minhash_signatures

EDGE_TEXTS = ["", "a", "one two three four", "  lead   and  trail  spaces here  ", "日本語 テキスト です ね はい ok",
              "x" * 300 + " long word above 240 bytes " + "y" * 1500, "é ü ß ø å ç ñ " * 20,
              "sixteen letters: abcdefghijklmnop, seventeen: abcdefghijklmnopq, eight: abcdefgh, nine: abcdefghi"]


@pytest.fixture(scope="module")
def norm():
    texts = load_passages(limit=120) + EDGE_TEXTS
    return normalize_text(pa.array(texts, pa.large_string()), DedupConfig().normalize)


def test_xxh3_matches_xxhash_on_every_length():
    """Every xxh3 branch (0, 1-3, 4-8, 9-16, 17-128, 129-240, > 240 with 1 kB blocks) at every length up to 1100,
    with seed 0 (the word hashes) and a seed that changes the long-input secret."""
    rng = np.random.default_rng(0)
    lengths = list(range(1101)) + [2047, 2048, 2049, 3000, 4103]
    pieces = [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for n in lengths]
    data = np.frombuffer(b"".join(pieces), np.uint8)
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    for seed in (0, 2**63 + 5):
        long_secret = kernels.derived_secret(seed)
        got = [kernels.xxh3_64(data, start, n, np.uint64(seed), kernels.XXH3_SECRET, long_secret)
               for start, n in zip(starts.tolist(), lengths)]
        want = [xxhash.xxh3_64_intdigest(p, seed) for p in pieces]
        assert got == want, [n for n, g, w in zip(lengths, got, want) if g != w][:10]


@pytest.mark.parametrize("seed", [0, 2**63 + 5])
def test_inline_short_word_hashes_match_xxhash(norm, seed):
    """Words of 1-16 bytes are hashed inline (not through xxh3_64): with 1-grams a shingle is fmix64(word hash),
    so the kernel's words must equal xxhash's on every length class, with the stage's seed 0 and another."""
    a, b = permutations(4, 1)
    sh, _, _ = TextMinHash(ShingleUnit.word, 1, None, seed, a, b, 64).shingles(norm)
    units, _ = unit_hashes(norm, ShingleUnit.word, seed)
    assert np.array_equal(sh, fmix64(units))
    lengths = {len(w.encode()) for t in norm.to_pylist() for w in t.split(" ") if w}
    assert {1, 3, 4, 8, 9, 16, 17} <= lengths and max(lengths) > 240, "fixture must hit every xxh3 length class"


@pytest.mark.parametrize("unit,n_grams,cap,bits", [("word", 5, 100_000, 64), ("word", 5, 100_000, 32),
                                                   ("word", 2, 7, 64), ("char", 5, None, 64), ("char", 3, 40, 32)])
def test_kernels_equal_numpy_reference(norm, unit, n_grams, cap, bits):
    """Shingles, counts, capped flags and signatures (fused and flat paths) equal the numpy path."""
    cfg = DedupConfig(shingle_unit=ShingleUnit(unit), n_grams=n_grams, max_shingles_per_doc=cap, signature_bits=bits)
    shingler = DedupShingler(cfg)
    units, unit_counts = unit_hashes(norm, cfg.shingle_unit, 0)
    ref_sh, ref_counts = shingle_hashes(units, unit_counts, n_grams, cap)
    ref_capped = np.maximum(unit_counts - n_grams + 1, 0) > ref_counts
    ref_sig = minhash_signatures(ref_sh, ref_counts, shingler.a, shingler.b, bits)
    sh, counts, capped = shingler.shingles_capped(norm)
    assert np.array_equal(sh, ref_sh) and np.array_equal(counts, ref_counts) and np.array_equal(capped, ref_capped)
    flat = shingler.signatures(sh, counts)
    fused, fused_counts, fused_capped = shingler.text_signatures(norm)
    assert flat.dtype == fused.dtype == ref_sig.dtype
    assert np.array_equal(flat, ref_sig) and np.array_equal(fused, ref_sig)
    assert np.array_equal(fused_counts, ref_counts) and np.array_equal(fused_capped, ref_capped)
    assert (ref_counts == 0).any() and (ref_counts > 0).any(), "fixture must hold documents with and without shingles"
    if cap is not None and cap < 100:
        assert ref_capped.any(), "fixture must hit the cap"


def test_residues_below_eight_take_the_exact_minimum():
    """(x & p) + (x >> 61) is x mod p + p when x mod p <= 7, and the fast order puts those below every other
    value: residue 7 (x = 2^64 - 1) must still lose to residue 3 (x = p + 3 folds exactly to 3). a = 1, b = 0
    make x the shingle itself; the truth is computed with Python integers."""
    p = int(MERSENNE_61)
    docs = [[5, p + 3, 2**64 - 1], [], [p - 1, 2 * p + 7, 9], [2**64 - 1, p + 10], [2**64 - 2, 2**64 - 1]]
    sh = np.array([h for d in docs for h in d], dtype=np.uint64)
    counts = np.array([len(d) for d in docs], dtype=np.int64)
    a, b = np.ones(2, np.uint64), np.array([0, 1], np.uint64)
    for bits in (64, 32):
        want = [[min(((h * int(a[k]) + int(b[k])) % 2**64) % p for h in d) % 2**bits for k in range(2)] if d else []
                for d in docs]
        got = np.full((len(docs), 2), np.iinfo(np.uint64).max, np.uint64)
        kernels.flat_signatures(sh, counts, a, b, bits == 32, got)
        ref = minhash_signatures(sh, counts, a, b, bits).astype(np.uint64)
        for d, doc in enumerate(docs):
            if doc:
                assert got[d].tolist() == want[d] == ref[d].tolist(), (bits, d)
    assert want[0][0] == 3 and want[3][0] == 7 and want[4][0] == 6
def test_cap_reads_only_the_head_of_a_mega_document():
    """A document far over the cap gets the signature of its first cap + n - 1 words and is flagged capped;
    the kernel's scratch is bounded by the cap, not by the 200,000 words."""
    words = [f"w{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676 % 26)}" for i in range(200_000)]
    cfg = DedupConfig(max_shingles_per_doc=1000)
    shingler = DedupShingler(cfg)
    mega = pa.array([" ".join(words), " ".join(words[:1004])], pa.large_string())
    sig, counts, capped = shingler.text_signatures(mega)
    assert counts.tolist() == [1000, 1000] and capped.tolist() == [True, False]
    assert np.array_equal(sig[0], sig[1])
    assert shingler.kernel._scratch(np.array([0, 2_000_000])) == 1004


@pytest.mark.parametrize("high", [4, 2**64 - 1])
def test_sorted_unique_sets_match_python_sets(high):
    """Verification's Jaccard reads each candidate's shingles as a sorted set: the in-place per-document sort and
    pack (kernels.sort_unique_segments) must give sorted(set(...)) per document, empty documents included, with
    many repeats (high=4) and with full 64-bit values."""
    from stages.dedup import sorted_unique_sets

    rng = np.random.default_rng(high % 97)
    for _ in range(200):
        counts = rng.integers(0, 12, rng.integers(0, 9))
        sh = rng.integers(0, high, int(counts.sum()), dtype=np.uint64, endpoint=True)
        starts = np.concatenate([[0], np.cumsum(counts)])
        want = [sorted(set(sh[starts[d]:starts[d + 1]].tolist())) for d in range(len(counts))]
        assert sorted_unique_sets(sh, counts).to_pylist() == want


def test_a_fresh_process_runs_the_kernels_without_scipy_linalg():
    """numba's first kernel loads its array-math registry, whose BLAS probe imports scipy.linalg (0.27 s of a dedup
    worker's first key task); TextMinHash loads that registry with the probe's import hidden (stages.imports)."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[3]
    code = ("import sys, pyarrow as pa\n"
            "from stages.dedup import DedupConfig, DedupSignatures\n"
            "DedupSignatures(DedupConfig()).process(pa.table({'id': ['a', 'b'], 'text': ['one two three four five "
            "six', 'one two three four five seven']}))\n"
            "print('scipy.linalg' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=str(repo))
    assert out.stdout.strip().splitlines()[-1] == "False"
