"""MinHash parity and batch independence: signatures are what LSH and the Jaccard estimates rest on.

Parity is bit for bit: carding's shingle hashes through datatrove's `MinhashDedupSignature.get_signature`
(seed 1, 64-bit) and through datasketch `MinHash(scheme="legacy", permutations=(a, b), hashfunc=identity)`
(32-bit mode) give carding's signatures. Intended differences with datatrove's own shingling (spaCy words,
xxhash of the joined 5-gram string) are in the module docstring of stages/dedup/minhash.py; they change raw
signature values, not the estimates' accuracy, which is checked against the exact Jaccard here.
"""
import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

from bench.dedup_planted import shingle_set, similarity_pairs
from stages.dedup import (DedupConfig, DedupShingler, DedupSignatures, ShingleUnit, band_keys, lsh_probability,
                          normalize_text, permutations, signature_similarity)


def _docs(texts):
    n = len(texts)
    return pa.table({"id": [f"d{i:03d}" for i in range(n)], "text": pa.array(texts, pa.large_string()),
                     "source": ["t"] * n, "meta": ["{}"] * n})


def _split(sh, counts):
    ends = np.cumsum(counts)
    return [sh[e - c:e] for e, c in zip(ends, counts)]


@pytest.fixture(scope="module")
def pairs():
    return similarity_pairs(60, seed=3)


def test_permutations_are_datatroves(tmp_path):
    """Same (a, b) draw as datatrove's MinhashDedupSignature.parameters (seed 1, 112 permutations)."""
    step = MinhashDedupSignature(output_folder=str(tmp_path), config=MinhashConfig())
    a, b = permutations(112, 1)
    assert np.array_equal(step.parameters[0].ravel(), a) and np.array_equal(step.parameters[1].ravel(), b)


def test_signatures_bit_identical_to_datatrove_and_datasketch(tmp_path, pairs):
    """64-bit signatures equal datatrove's get_signature; 32-bit ones equal datasketch legacy's hashvalues."""
    texts = [t for p in pairs[:10] for t in p]
    shingler = DedupShingler(DedupConfig())
    sh, counts = shingler.shingles(normalize_text(pa.array(texts, pa.large_string()), DedupConfig().normalize))
    ours64 = shingler.signatures(sh, counts)
    ours32 = DedupShingler(DedupConfig(signature_bits=32)).signatures(sh, counts)
    step = MinhashDedupSignature(output_folder=str(tmp_path), config=MinhashConfig())
    a, b = permutations(112, 1)
    for d, doc_sh in enumerate(_split(sh, counts)):
        theirs = np.array(step.get_signature(doc_sh.reshape(-1, 1)), dtype=np.uint64).ravel()
        assert np.array_equal(ours64[d], theirs)
        m = MinHash(num_perm=112, scheme="legacy", hashfunc=lambda x: x, permutations=(a, b))
        m.update_batch([int(x) for x in doc_sh])
        assert np.array_equal(ours32[d].astype(np.uint64), m.hashvalues)


def test_jaccard_estimates_across_range(pairs):
    """Estimates agree with datasketch (same shingles: mean |diff| < 0.02, here 0 in 32-bit mode) and with the
    exact Jaccard within MinHash's sampling error (sigma = sqrt(J(1-J)/112) <= 0.047)."""
    a, b = permutations(112, 1)
    texts = [t for p in pairs for t in p]
    shingler = DedupShingler(DedupConfig(signature_bits=32))
    sh, counts = shingler.shingles(normalize_text(pa.array(texts, pa.large_string()), DedupConfig().normalize))
    sig = shingler.signatures(sh, counts)
    docs = _split(sh, counts)
    ours = signature_similarity(sig[0::2], sig[1::2])
    theirs, exact = [], []
    for k in range(len(pairs)):
        ms = []
        for d in (2 * k, 2 * k + 1):
            m = MinHash(num_perm=112, scheme="legacy", hashfunc=lambda x: x, permutations=(a, b))
            m.update_batch([int(x) for x in docs[d]])
            ms.append(m)
        theirs.append(ms[0].jaccard(ms[1]))
        sa, sb = shingle_set(pairs[k][0]), shingle_set(pairs[k][1])
        exact.append(len(sa & sb) / len(sa | sb))
    exact = np.array(exact)
    assert exact.min() < 0.2 and exact.max() > 0.9, "fixture must span the similarity range"
    assert np.mean(np.abs(ours - np.array(theirs))) < 0.02
    assert np.mean(np.abs(ours - exact)) < 0.05


def test_batch_boundaries_do_not_change_signatures():
    """A document's signature row is the same whichever batch, position or chunk it is computed in."""
    texts = [" ".join(f"w{(i * 7 + j) % 997}" for j in range(40 + 300 * (i % 3))) for i in range(30)] + ["", "a b"]
    sig_map = DedupSignatures(DedupConfig())
    whole = sig_map.process(_docs(texts))
    rev = sig_map.process(_docs(texts[::-1]))
    parts = [sig_map.process(_docs(texts[i:i + 1])) for i in range(len(texts))]
    for i in range(len(texts)):
        assert whole.column("band_keys")[i] == rev.column("band_keys")[len(texts) - 1 - i]
        assert whole.column("band_keys")[i] == parts[i].column("band_keys")[0]
        assert whole.column("exact_hi")[i] == parts[i].column("exact_hi")[0]


def test_short_and_empty_documents_have_no_band_keys():
    """Fewer than n_grams words: no shingle, no band key (counted as too short), but still an exact key."""
    out = DedupSignatures(DedupConfig()).process(_docs(["", "one two three four", "one two three four five"]))
    assert out.column("n_shingles").to_pylist() == [0, 0, 1]
    assert [len(k) for k in out.column("band_keys").to_pylist()] == [0, 0, 14]
    assert out.column("exact_hi").null_count == 0


def test_char_shingles_and_cap():
    """Char n-grams: len - n + 1 per document (code points, spaces included); the cap keeps the first ones."""
    c = DedupConfig(shingle_unit=ShingleUnit.char, n_grams=3, max_shingles_per_doc=4)
    shingler = DedupShingler(c)
    _, counts = shingler.shingles(pa.array(["abcde", "ab", "日本語テキスト"], pa.large_string()))
    assert counts.tolist() == [3, 0, 4]
    out = DedupSignatures(c).process(_docs(["abcdefgh", "abc", "abcdef"]))
    assert out.column("capped").to_pylist() == [True, False, False]


def test_band_index_is_part_of_the_key():
    """Equal r-tuples in different bands are not a match (spec/dedup.md, Traps)."""
    sig = np.zeros((2, 16), dtype=np.uint64)
    sig[0, :8] = np.arange(8)
    sig[1, 8:] = np.arange(8)
    keys = band_keys(sig, bands=2, rows=8)
    assert keys[0, 0] != keys[1, 1]
    assert len(set(keys.ravel().tolist())) == 4


def test_s_curve_matches_spec_table():
    """P(candidate) = 1 - (1 - s^r)^b for 14 x 8 (spec/dedup.md table): 0.924 at 0.8, 0.988 at 0.85."""
    got = lsh_probability(np.array([0.5, 0.7, 0.8, 0.85, 0.9]), 14, 8)
    assert np.allclose(got, [0.053, 0.565, 0.924, 0.988, 1.000], atol=6e-4)
