"""Untie the Knots rows: every document is reconstructed exactly from its row, markers are loss-masked, the
marker budget is 2 n |rid| + 5 n - 1, and rows are a function of (input, config) only.

Protects UtK's training contract (Tian et al. 2024: chunk headers, knots, backtracing summary) and carding's
departure from the official code (markers never push text out of a row: rows stay <= L).
"""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from packing import ChunkCut, KnotsConfig, PackConfig, Packer, Padding, pack_window
from packing.knots import RID_ALPHABET, chunk_lengths, extra_tokens
from tests.packing.packing_checks import make_window, parse_doc_id

K = KnotsConfig()
KNOT_OPEN, KNOT_CLOSE, D_OPEN, D_CLOSE, S_OPEN, S_SEP, S_CLOSE = 7, 8, 9, 10, 11, 12, 13
CHAR_OF = {64 + ord(c): c for c in RID_ALPHABET}


def parse_knots_row(tokens: list[int], mask: list[bool]) -> tuple[list[list[int]], list[bool]]:
    """Rebuild each unit's text from its chunks and summary; also the loss mask the spec prescribes.

    Returns (texts in summary order, expected mask)."""
    chunks: dict[str, list[int]] = {}
    summaries: list[list[str]] = []
    expect = [True] * len(tokens)
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t == D_OPEN:
            j = tokens.index(D_CLOSE, i)
            rid = "".join(CHAR_OF[x] for x in tokens[i + 1:j])
            for p in range(i, j + 1):
                expect[p] = False
            i = j + 1
            if i < len(tokens) and tokens[i] == KNOT_OPEN:
                expect[i] = False
                expect[i + 1] = False  # the token after a knot
                i += 1
            start = i
            while i < len(tokens) and tokens[i] not in (KNOT_CLOSE, D_OPEN, S_OPEN):
                i += 1
            assert rid not in chunks, "rid collision in a row"
            chunks[rid] = tokens[start:i]
            if i < len(tokens) and tokens[i] == KNOT_CLOSE:
                expect[i] = False
                if i + 1 < len(tokens):
                    expect[i + 1] = False
                i += 1
        elif t == S_OPEN:
            j = tokens.index(S_CLOSE, i)
            expect[i] = False
            if j + 1 < len(tokens):
                expect[j + 1] = False
            body = tokens[i + 1:j]
            rids, cur = [], []
            for x in body + [S_SEP]:
                if x == S_SEP:
                    rids.append("".join(CHAR_OF[c] for c in cur))
                    cur = []
                else:
                    cur.append(x)
            summaries.append(rids)
            i = j + 1
        else:
            raise AssertionError(f"unexpected token {t} at {i} outside a chunk")
    assert sorted(r for s in summaries for r in s) == sorted(chunks), "every chunk appears in exactly one summary"
    return [[x for r in s for x in chunks[r]] for s in summaries], expect


@settings(max_examples=50, deadline=None)
@given(lens=st.lists(st.integers(0, 120), max_size=25), max_tokens=st.integers(60, 160),
       share=st.sampled_from([0.0, 0.3, 0.8, 1.0]), n_chunks=st.integers(2, 4), rid_chars=st.integers(1, 12),
       cut=st.sampled_from(list(ChunkCut)), keep=st.booleans(), padding=st.sampled_from(list(Padding)),
       seed=st.integers(0, 5))
def test_rows_reconstruct_every_document(lens, max_tokens, share, n_chunks, rid_chars, cut, keep, padding, seed):
    knots = KnotsConfig(utk_share=share, n_chunks=n_chunks, rid_chars=rid_chars, chunk_cut=cut,
                        keep_doc_order=keep)
    if max_tokens - extra_tokens(n_chunks, rid_chars) < n_chunks:
        max_tokens = extra_tokens(n_chunks, rid_chars) + n_chunks + 20  # smaller is a config error, tested below
    config = PackConfig(packer=Packer.KNOTS, max_tokens=max_tokens, knots=knots, padding=padding, seed=seed)
    docs = make_window(lens, seed=seed)
    source = {r["id"]: r["tokens"] for r in docs.select(["id", "tokens"]).to_pylist()}
    result = pack_window(docs, config)
    covered: dict[str, list[tuple[int, int]]] = {}
    knot_rows = 0
    for row in result.sequences.to_pylist():
        ids, mask, lens_ = row["input_ids"], row["loss_mask"], row["doc_lens"]
        assert sum(lens_) == len(ids) <= config.capacity and len(mask) == len(ids)
        real = [d for d in row["doc_ids"] if d != ""]
        if ids and ids[0] == D_OPEN:  # a knots row: one attention segment (plus padding) naming all members
            knot_rows += 1
            body = lens_[0]
            texts, expect = parse_knots_row(ids[:body], mask[:body])
            assert mask[:body] == expect
            assert all(not m for m in mask[body:])
            unit_max = config.capacity - extra_tokens(n_chunks, rid_chars)
            units = []
            for d in real:
                base, off, _ = parse_doc_id(d)
                units.append((base, off, min(len(source[base]) - off, unit_max)))
            assert sorted(map(tuple, texts)) == sorted(tuple(source[b][o:o + n]) for b, o, n in units)
            for base, off, n in units:
                covered.setdefault(base, []).append((off, n))
        else:
            pos = 0
            for n, d in zip(lens_, row["doc_ids"]):
                if d:
                    base, off, _ = parse_doc_id(d)
                    assert ids[pos:pos + n] == source[base][off:off + n] and all(mask[pos:pos + n])
                    covered.setdefault(base, []).append((off, n))
                pos += n
    for i, n in enumerate(lens):
        got = sorted(covered.get(f"d{i:05d}", []))
        assert sum(length for _, length in got) == n
        assert all(a + la == b for (a, la), (b, _) in zip(got, got[1:]))
    s = result.stats
    assert s["knots_sequences"] == knot_rows
    assert s["tokens"] == s["input_tokens"] + s["marker_tokens"]
    assert s["marker_tokens"] % extra_tokens(n_chunks, rid_chars) == 0
    if share == 0.0:
        assert knot_rows == 0 and s["knotted_documents"] == 0


def test_marker_budget_matches_the_paper():
    assert extra_tokens(3, 6) == 50


def test_share_and_determinism():
    """About utk_share of documents are knotted, and the same input in another order gives identical rows."""
    rng = np.random.default_rng(0)
    lens = rng.integers(20, 400, 600).tolist()
    config = PackConfig(packer=Packer.KNOTS, max_tokens=2048, knots=KnotsConfig(utk_share=0.3), seed=4)
    a = pack_window(make_window(lens), config)
    b = pack_window(make_window(lens, shuffle=True), config)
    assert a.sequences.equals(b.sequences)
    assert 0.22 < a.stats["knotted_documents"] / 600 < 0.38
    assert a.stats["knots_sequences"] > 5


def test_chunk_lengths_cover_each_unit():
    h = np.arange(1, 6, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    n = np.array([3, 10, 11, 100, 7])
    assert chunk_lengths(np.array([10]), h[:1], 3, ChunkCut.EQUAL).tolist() == [[3, 3, 4]]
    r = chunk_lengths(n, h, 3, ChunkCut.RANDOM)
    assert (r >= 1).all() and (r.sum(axis=1) == n).all()


def test_row_too_small_for_markers_is_a_config_error():
    import pytest
    with pytest.raises(ValueError, match="knots"):
        PackConfig(packer=Packer.KNOTS, max_tokens=40)


def test_keep_doc_order_and_pinned_last_chunk():
    """keep_doc_order: each unit's chunk headers appear in its summary's order; always: the row ends with the
    last chunk of its last unit, followed by that unit's summary."""
    rng = np.random.default_rng(2)
    lens = rng.integers(30, 300, 200).tolist()
    for keep in (True, False):
        config = PackConfig(packer=Packer.KNOTS, max_tokens=1024, seed=1,
                            knots=KnotsConfig(utk_share=1.0, keep_doc_order=keep, n_chunks=3))
        rows = pack_window(make_window(lens), config).sequences.to_pylist()
        out_of_order = 0
        for row in rows:
            ids = row["input_ids"]
            headers, summaries, i = [], [], 0
            while i < len(ids):
                if ids[i] == D_OPEN:
                    j = ids.index(D_CLOSE, i)
                    headers.append(tuple(ids[i + 1:j]))
                    i = j
                elif ids[i] == S_OPEN:
                    j = ids.index(S_CLOSE, i)
                    body = ids[i + 1:j]
                    summaries.append([tuple(body[a:a + K.rid_chars]) for a in range(0, len(body), K.rid_chars + 1)])
                    i = j
                i += 1
            assert ids[-1] == S_CLOSE and summaries[-1][-1] == headers[-1]  # pinned last chunk, then its summary
            for s in summaries:
                seen = [headers.index(r) for r in s]
                out_of_order += seen != sorted(seen)
        assert (out_of_order == 0) if keep else (out_of_order > 0)
