"""pack_window for the segment packers: conservation, traceability, determinism, counts.

Protects the DESIGN.md sequence contract (sum(doc_lens) == len(input_ids) <= L, doc_ids trace back, padding
counted) and the reliability contract (rows depend on the input set and config, never on row order).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from tests.packing.packing_checks import check_rows, make_window
from hypothesis import given, settings
from hypothesis import strategies as st

from packing import KnotsConfig, PackConfig, Packer, Padding, RowTokens, merge_stats, pack_window

SEGMENT_PACKERS = [Packer.BEST_FIT, Packer.FIRST_FIT, Packer.CONCAT]


@settings(max_examples=60, deadline=None)
@given(packer=st.sampled_from(SEGMENT_PACKERS), max_tokens=st.integers(1, 48),
       row_tokens=st.sampled_from(list(RowTokens)), padding=st.sampled_from(list(Padding)),
       lens=st.lists(st.integers(0, 150), max_size=40), seed=st.integers(0, 3))
def test_every_token_placed_once_and_traceable(packer, max_tokens, row_tokens, padding, lens, seed):
    config = PackConfig(packer=packer, max_tokens=max_tokens, row_tokens=row_tokens, padding=padding)
    docs = make_window(lens, seed=seed)
    result = pack_window(docs, config)
    pieces = check_rows(docs, result, config)
    cap = config.capacity
    # every non-empty document is fully placed (the checker proved the pieces tile without holes)
    for i, n in enumerate(lens):
        if n:
            offset, length = pieces[f"d{i:05d}"][-1]
            assert pieces[f"d{i:05d}"][0][0] == 0 and offset + length == n
    s = result.stats
    assert s["padding_tokens"] == s["sequences"] * cap - s["tokens"]
    assert s["concat_sequences"] == -(-sum(lens) // cap)
    if packer != Packer.CONCAT:
        # only documents longer than the row are cut, and each exactly into ceil(n / cap) pieces
        assert s["truncations"] == sum(n > cap for n in lens)
        assert s["truncated_short_docs"] == 0
        for i, n in enumerate(lens):
            if n:
                assert len(pieces[f"d{i:05d}"]) == -(-n // cap)
    if padding == Padding.SEGMENT:
        assert all(len(r) == cap for r in result.sequences.column("input_ids").to_pylist())


@settings(max_examples=25, deadline=None)
@given(packer=st.sampled_from(SEGMENT_PACKERS), lens=st.lists(st.integers(0, 60), min_size=1, max_size=30),
       seed=st.integers(0, 100))
def test_rows_do_not_depend_on_input_order(packer, lens, seed):
    """The runner passes rows sorted by id, but Ray may not: a shuffled window must give identical rows."""
    config = PackConfig(packer=packer, max_tokens=16)
    a = pack_window(make_window(lens), config)
    b = pack_window(make_window(lens, shuffle=True, seed=0).take(np.random.default_rng(seed).permutation(len(lens))),
                    config)
    assert a.sequences.equals(b.sequences)
    assert a.stats == b.stats


def test_concat_counts_straddling_documents():
    """n [3, 4], L 4: rows [a a a b] [b b b]; b fits a row yet straddles the cut: a truncation best-fit avoids."""
    result = pack_window(make_window([3, 4]), PackConfig(packer=Packer.CONCAT, max_tokens=4))
    rows = result.sequences.to_pydict()
    assert rows["doc_lens"] == [[3, 1], [3]]
    assert rows["doc_ids"] == [["d00000", "d00001@0"], ["d00001@1"]]
    assert result.stats["truncations"] == 1 and result.stats["truncated_short_docs"] == 1


def test_uint32_tokens_keep_their_dtype_and_schema():
    result = pack_window(make_window([5, 9, 2], dtype=np.uint32), PackConfig(max_tokens=8))
    assert result.sequences.schema.field("input_ids").type == pa.list_(pa.uint32())
    assert result.sequences.schema.field("doc_lens").type == pa.list_(pa.int32())
    assert result.sequences.schema.field("bucket").type == pa.int16()
    assert "loss_mask" not in result.sequences.column_names


def test_empty_window():
    result = pack_window(make_window([]), PackConfig())
    assert result.sequences.num_rows == 0 and result.stats["sequences"] == 0 and result.stats["fill"] == 0.0


def test_row_tokens_l_plus_1_packs_one_more_token():
    a = pack_window(make_window([5, 4]), PackConfig(max_tokens=8))
    b = pack_window(make_window([5, 4]), PackConfig(max_tokens=8, row_tokens=RowTokens.L_PLUS_1))
    assert (a.stats["sequences"], b.stats["sequences"]) == (2, 1)
    assert b.stats["capacity"] == 9 and b.stats["fill"] == 1.0


def test_merge_stats_recomputes_fill_and_concat_rows():
    config = PackConfig(max_tokens=16)
    parts = [pack_window(make_window(lens, seed=s), config).stats for s, lens in enumerate([[10, 7, 3], [16, 5]])]
    total = merge_stats(parts)
    assert total["tokens"] == 41 and total["sequences"] == parts[0]["sequences"] + parts[1]["sequences"]
    assert total["concat_sequences"] == 3
    assert total["fill"] == pytest.approx(41 / (16 * total["sequences"]))


def test_bad_input_names_the_row():
    docs = make_window([3, 4])
    bad = docs.set_column(2, "n_tokens", pa.array([3, 5], pa.int32()))
    with pytest.raises(ValueError, match=r"row 1 \(id d00001\) has n_tokens=5 but 4 tokens"):
        pack_window(bad, PackConfig())
    with pytest.raises(ValueError, match="no `tokens` column"):
        pack_window(docs.drop(["tokens"]), PackConfig())
    with pytest.raises(ValueError, match="id d00001 appears more than once"):
        pack_window(pa.concat_tables([docs, docs.slice(1)]), PackConfig())


@pytest.mark.parametrize("packer", list(Packer))
def test_sliced_and_chunked_input_gives_the_same_rows(packer):
    """Ray hands windows over as slices of larger blocks, in several chunks: offsets then do not start at 0."""
    lens = [300, 5, 0, 2000, 77, 512, 9000, 256, 40]
    config = PackConfig(packer=packer, max_tokens=8192, knots=KnotsConfig(utk_share=0.5))
    whole = make_window(lens)
    edge = make_window([11, 13], seed=1)
    big = pa.concat_tables([edge.slice(0, 1), whole, edge.slice(1, 1)]).combine_chunks()
    sliced = pa.concat_tables([big.slice(1, 4), big.slice(5, len(lens) - 4)])
    assert sliced.column("tokens").num_chunks == 2 and sliced.column("tokens").chunk(0).offsets[0].as_py() > 0
    a, b = pack_window(whole, config), pack_window(sliced, config)
    assert a.sequences.equals(b.sequences) and a.stats == b.stats
