"""bytes scheme: lossless for any text or bytes, whole-batch, specials never collide with data ids."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenization import Layout, TokenizeConfig, Tokenizer

TRICKY = ["", "a", "😀🇫🇷👩‍👩‍👧", "漢字かな交じり文", "e\u0301\u0327", "line\r\nnext\rx", "nul\x00byte",
          "<|eos|> <|pad|>", "\U0010ffff"]


def _batch(texts: list[str], text_type: pa.DataType = pa.large_string()) -> pa.RecordBatch:
    return pa.record_batch({"id": pa.array([f"d{i}" for i in range(len(texts))]),
                            "text": pa.array(texts, text_type)})


def _rows(tok: Tokenizer, batch: pa.RecordBatch) -> list[np.ndarray]:
    col = batch.column("tokens")
    return [np.asarray(col[i].values.to_numpy(zero_copy_only=False)) for i in range(len(col))]


@pytest.mark.parametrize("layout", list(Layout))
@pytest.mark.parametrize("text_type", [pa.string(), pa.large_string()])
def test_tricky_texts_round_trip(layout: Layout, text_type: pa.DataType) -> None:
    """Every document decodes to its exact bytes; n_tokens = bytes + 1 EOS; dtype is uint16."""
    tok = Tokenizer(TokenizeConfig(layout=layout))
    out = tok.process(_batch(TRICKY, text_type))
    assert out.num_rows == len(TRICKY)
    assert out.schema.field("tokens").type == pa.large_list(pa.uint16())
    assert out.column("n_tokens").to_pylist() == [len(t.encode()) + 1 for t in TRICKY]
    for text, ids in zip(TRICKY, _rows(tok, out)):
        assert tok.decode_text(ids) == text
        assert ids[-1] == tok.eos_id
        assert (ids[:-1] >= 64 if layout == Layout.carding else ids[:-1] >= 3).all()


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.text(), max_size=8), start=st.integers(0, 3))
def test_round_trip_any_text_sliced(texts: list[str], start: int) -> None:
    """decode(encode(s)) == s for any text, also on a sliced array (Arrow offset != 0)."""
    tok = Tokenizer(TokenizeConfig())
    column = pa.array(["pad"] * start + texts, pa.large_string()).slice(start)
    tokens = tok.encode(column)
    assert len(tokens) == len(texts)
    flat = tokens.values.to_numpy()
    assert ((flat >= 64) & (flat < 320) | (flat == tok.eos_id)).all()  # specials never collide with bytes
    for i, text in enumerate(texts):
        assert tok.decode_text(tokens[i].values.to_numpy()) == text


def test_invalid_utf8_is_kept_as_raw_bytes() -> None:
    """Policy: the bytes scheme keeps invalid UTF-8 as raw bytes (lossless); decode_text is strict."""
    raw = [b"ok", b"\xff\xfe broken \xc3", b""]
    tok = Tokenizer(TokenizeConfig())
    tokens = tok.encode(pa.array(raw, pa.large_binary()))
    assert [tok.decode(tokens[i].values.to_numpy()) for i in range(3)] == raw
    with pytest.raises(UnicodeDecodeError):
        tok.decode_text(tokens[1].values.to_numpy())


def test_without_eos_and_long_document() -> None:
    """append_eos=False gives bytes only; a 1 MB document survives."""
    text = "ab\u00e9" * 350_000
    tok = Tokenizer(TokenizeConfig(append_eos=False))
    tokens = tok.encode(pa.array([text, ""]))
    assert len(tokens[0]) == len(text.encode()) and len(tokens[1]) == 0
    assert tok.decode_text(tokens[0].values.to_numpy()) == text


def test_decode_rejects_foreign_ids_and_null_text() -> None:
    tok = Tokenizer(TokenizeConfig())
    with pytest.raises(ValueError, match="id 320"):
        tok.decode(np.array([64, 320]), doc="d7")
    with pytest.raises(ValueError, match="null texts"):
        tok.encode(pa.array(["a", None]))


def test_spec_rebuilds_the_tokenizer() -> None:
    """The manifest's spec alone rebuilds an equal tokenizer (a shard decodes without its recipe)."""
    tok = Tokenizer(TokenizeConfig(layout=Layout.byt5))
    again = Tokenizer.from_spec(tok.spec())
    assert again.spec() == tok.spec() and again.vocab_size == 384
