"""Dataset decomposition: pieces are powers of two, concatenate back to their document, drops are counted.

Protects DD's row contract (one document piece per row, bucket = log2 length, Pouransari et al. 2024 §2) and
the bucket partitioning the shard writer relies on (rows sorted by bucket).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from tests.packing.packing_checks import check_rows, make_window
from hypothesis import given, settings
from hypothesis import strategies as st

from packing import DecompositionConfig, Flavour, PackConfig, Packer, Padding, RowTokens, ShortRest, pack_window
from packing.decomposition import decompose, decompose_apple, rows_by_bucket


def test_decompose_paper_example():
    """9000 = 8192 + 512 + 256 + 40: buckets 13, 9, 8 and 40 tokens dropped (kmin 8, kmax 13)."""
    doc, off, n, k = decompose(np.array([9000]), 8, 13)
    assert n.tolist() == [8192, 512, 256] and off.tolist() == [0, 8192, 8704] and k.tolist() == [13, 9, 8]
    assert 9000 - n.sum() == 40


@settings(max_examples=60, deadline=None)
@given(lens=st.lists(st.integers(0, 200), max_size=30), kmin=st.integers(0, 3), span=st.integers(0, 3),
       short_rest=st.sampled_from(list(ShortRest)), row_tokens=st.sampled_from(list(RowTokens)),
       padding=st.sampled_from(list(Padding)), flavour=st.sampled_from(list(Flavour)))
def test_pieces_concatenate_back(lens, kmin, span, short_rest, row_tokens, padding, flavour):
    kmax = kmin + span
    if flavour == Flavour.APPLE:
        row_tokens = RowTokens.L_PLUS_1  # apple pieces are 2^k + 1 tokens
    config = PackConfig(packer=Packer.DECOMPOSITION, max_tokens=2**kmax, row_tokens=row_tokens, padding=padding,
                        decomposition=DecompositionConfig(kmin=kmin, kmax=kmax, short_rest=short_rest,
                                                          batch_tokens=2**kmax, flavour=flavour))
    extra = config.capacity - config.max_tokens
    docs = make_window(lens)
    result = pack_window(docs, config)
    pieces = check_rows(docs, result, config)
    rows = result.sequences.to_pydict()
    buckets = rows["bucket"]
    assert buckets == sorted(buckets)
    for length, k, row_ids in zip(rows["doc_lens"], buckets, rows["doc_ids"]):
        real = [n for n, d in zip(length, row_ids) if d != ""]
        assert len(real) == 1 and kmin <= k <= kmax
        assert real[0] == 2**k + extra or (short_rest == ShortRest.PAD and k == kmin and real[0] < 2**k + extra)
    dropped = 0
    for i, n in enumerate(lens):
        got = pieces.get(f"d{i:05d}", [])
        covered = sum(length for _, length in got)
        assert not got or got[0][0] == 0  # pieces start at the document start and (checked) leave no hole
        dropped += n - covered
        if short_rest == ShortRest.PAD:
            assert covered == n
        else:
            assert n - covered < 2**kmin + extra or (flavour == Flavour.APPLE and n - covered <= 1)
    assert result.stats["dropped_tokens"] == dropped
    assert result.stats["tokens"] + dropped == sum(lens)
    assert sum(result.stats["buckets"].values()) == len(buckets)


def test_buckets_reported_and_cheaper_than_concat():
    """Web-like lengths at 8k: every bucket is used and the attention cost is below concat-and-chunk's."""
    rng = np.random.default_rng(0)
    lens = np.clip(rng.lognormal(6.0, 1.2, 400), 1, 30_000).astype(int).tolist()
    result = pack_window(make_window(lens), PackConfig(packer=Packer.DECOMPOSITION))
    s = result.stats
    assert set(s["buckets"]) == {str(k) for k in range(8, 14)}
    assert sum(s["bucket_tokens"].values()) == s["tokens"]
    assert s["attention_cost"] < s["concat_attention_cost"] / 2
    assert s["dropped_tokens"] > 0 and s["padding_tokens"] == 0 and s["fill"] == 1.0


def test_kmax_above_max_tokens_is_a_config_error():
    with pytest.raises(ValueError, match=r"2\^kmax = 8192 must be <= max_tokens = 2048"):
        PackConfig(packer=Packer.DECOMPOSITION, max_tokens=2048)


def get_binary(n: int, kmin: int, kmax: int) -> list[int]:
    """apple/ml-dataset-decomposition `get_binary(randomize=False)` on lengths: bucket of each piece."""
    ks = []
    while n > 1:
        k = int(math.log2(n - 1))
        if k < kmin:
            break
        k = min(k, kmax)
        ks.append(k)
        n -= 2**k + 1
    return ks


def test_apple_flavour_matches_the_released_script():
    """Up to 2^(kmax+1) tokens Apple's cut is deterministic: it must equal get_binary; beyond, k is drawn with
    p(k) proportional to 2^(kmax - k), so k = kmin is drawn about 32/63 of the time at kmin 8, kmax 13."""
    lens = np.arange(0, 2**14 + 2)
    doc, _, n, k = decompose_apple(lens, np.arange(len(lens), dtype=np.uint64), 8, 13)
    for i in range(0, len(lens), 7):
        assert k[doc == i].tolist() == get_binary(int(lens[i]), 8, 13)
        assert (n[doc == i] == 2 ** k[doc == i].astype(int) + 1).all()
    long_doc, _, _, long_k = decompose_apple(np.full(4000, 2**15), np.arange(4000, dtype=np.uint64) * 7919, 8, 13)
    first = long_k[np.concatenate([[True], long_doc[1:] != long_doc[:-1]])]  # the first piece is always drawn
    assert abs(np.mean(first == 8) - 32 / 63) < 0.03 and abs(np.mean(first == 13) - 1 / 63) < 0.01


def test_apple_flavour_needs_l_plus_1_rows():
    with pytest.raises(ValueError, match=r"set row_tokens: L\+1"):
        PackConfig(packer=Packer.DECOMPOSITION, decomposition=DecompositionConfig(flavour=Flavour.APPLE))


def test_rows_by_bucket_partitions_in_order():
    rng = np.random.default_rng(1)
    result = pack_window(make_window(rng.integers(0, 20_000, 60).tolist()), PackConfig(packer=Packer.DECOMPOSITION))
    parts = rows_by_bucket(result.sequences)
    assert [k for k, _ in parts] == sorted(int(k) for k in result.stats["buckets"])
    assert all(set(t.column("bucket").to_pylist()) == {k} for k, t in parts)
    assert sum(t.num_rows for _, t in parts) == result.sequences.num_rows and len(parts) > 3
