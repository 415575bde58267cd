"""bpe scheme: parity with `tokenizers`, exact byte-level round trips, dtype choice, training determinism."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HfTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers

from tokenization import BpeTrainConfig, TokenizeConfig, Tokenizer
from tokenization.bpe import train_tokenizer


def _tok(path: str, **kw) -> Tokenizer:
    return Tokenizer(TokenizeConfig(scheme="bpe", bpe_path=path, **kw))


def test_ids_equal_tokenizers_encode_batch(bpe_path: str, corpus: pa.RecordBatch) -> None:
    """Parity on the bundled corpus: our ids == `Tokenizer.encode_batch` ids.

    Intended differences, both configured on the reference too: EOS appended per document, and special-token
    strings inside the text are encoded as text (encode_special_tokens = True; spec Traps).
    """
    tok = _tok(bpe_path)
    out = tok.process(corpus)
    ref = HfTokenizer.from_file(bpe_path)
    ref.encode_special_tokens = True
    expected = [e.ids + [tok.eos_id] for e in ref.encode_batch(corpus.column("text").to_pylist(),
                                                                add_special_tokens=False)]
    assert out.column("tokens").to_pylist() == expected
    assert out.column("n_tokens").to_pylist() == [len(e) for e in expected]
    assert sum(map(len, expected)) > 10_000


def test_round_trip_corpus_and_specials(bpe_path: str, corpus: pa.RecordBatch) -> None:
    """Every corpus document decodes to its exact text; the compression really happens (bytes/token > 2)."""
    tok = _tok(bpe_path)
    out = tok.process(corpus)
    decoded = tok.decode_batch(out.column("tokens"), out.column("id"))
    assert decoded.cast(pa.large_string()).to_pylist() == corpus.column("text").to_pylist()
    assert tok.counts(out)["text_bytes"] / tok.counts(out)["tokens"] > 2.0
    assert tok.spec()["lossless"] is True and tok.spec()["byte_level"] is True
    assert tok.special_ids == {"pad": 0, "bos": 1, "eos": 2} and len(tok.marker_ids) == 25


@pytest.fixture(scope="module")
def bpe(bpe_path: str) -> Tokenizer:
    return _tok(bpe_path)


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(st.text(), max_size=6))
def test_round_trip_any_text(bpe: Tokenizer, texts: list[str]) -> None:
    """decode(encode(s)) == s for any text; the only special in the output is the final EOS."""
    tok = bpe
    tokens = tok.encode(pa.array(texts + ["<|eos|><|pad|><|marker_3|>"], pa.large_string()))
    for i, text in enumerate(texts + ["<|eos|><|pad|><|marker_3|>"]):
        ids = tokens[i].values.to_numpy()
        assert tok.decode_text(ids) == text
        specials = np.isin(ids, list(tok.special_ids.values()) + list(tok.marker_ids))
        assert specials.sum() == 1 and ids[-1] == tok.eos_id


def test_dtype_is_uint32_only_past_65536_ids(tmp_path: Path) -> None:
    """uint16 while every id fits, else uint32 (the vocabulary here has 70 256 ids)."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {c: i for i, c in enumerate(["<|eos|>"] + sorted(alphabet))}
    vocab |= {f"z{i}": len(vocab) + i for i in range(70_000)}
    hf = HfTokenizer(models.BPE(vocab=vocab, merges=[]))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens(["<|eos|>"])
    path = tmp_path / "big.json"
    hf.save(str(path))
    tok = _tok(str(path), bpe_pad_token=None, bpe_bos_token=None)
    assert tok.vocab_size > 2**16 and tok.token_dtype == np.uint32
    out = tok.process(pa.record_batch({"id": ["a"], "text": pa.array(["héllo"], pa.large_string())}))
    assert out.schema.field("tokens").type == pa.large_list(pa.uint32())
    assert tok.decode_text(out.column("tokens")[0].values.to_numpy()) == "héllo"


def test_lossy_model_is_reported(tmp_path: Path) -> None:
    """A tokenizer.json with a lowercasing normaliser loads, and its spec says lossless: false."""
    hf = HfTokenizer(models.BPE(vocab={c: i for i, c in enumerate(["<|eos|>"] + pre_tokenizers.ByteLevel.alphabet())},
                                merges=[]))
    hf.normalizer = normalizers.Lowercase()
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens(["<|eos|>"])
    hf.save(str(tmp_path / "lower.json"))
    tok = _tok(str(tmp_path / "lower.json"), bpe_pad_token=None, bpe_bos_token=None)
    assert tok.spec()["lossless"] is False and tok.spec()["byte_level"] is False
    assert tok.decode_text(tok.encode(pa.array(["ABC"]))[0].values.to_numpy()) == "abc"


def test_config_and_model_errors(bpe_path: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nowhere.json"):
        TokenizeConfig(scheme="bpe", bpe_path=str(tmp_path / "nowhere.json"))
    with pytest.raises(ValueError, match="<|end|>"):
        _tok(bpe_path, bpe_eos_token="<|end|>")
    with pytest.raises(ValueError, match="UTF-8"):
        _tok(bpe_path).encode(pa.array([b"\xff\xfe"], pa.binary()))
    with pytest.raises(ValueError, match="vocab_size"):
        BpeTrainConfig(vocab_size=100)


def test_training_is_deterministic_and_independent_of_batching(tmp_path: Path, corpus: pa.RecordBatch) -> None:
    """Same sample (bottom-k of the id hash) and same file whatever the batch boundaries; specials first."""
    def train(name: str, batches: list[pa.RecordBatch]) -> bytes:
        config = TokenizeConfig(scheme="bpe", bpe_path=str(tmp_path / name),
                                train=BpeTrainConfig(vocab_size=600, sample_docs=150, seed=3))
        return train_tokenizer(config, batches).read_bytes()

    one = train("a.json", [corpus])
    split = train("b.json", [corpus.slice(300), corpus.slice(0, 17), corpus.slice(17, 283)])
    assert one == split
    added = json.loads(one)["added_tokens"]
    assert [t["content"] for t in added[:3]] == ["<|pad|>", "<|bos|>", "<|eos|>"] and added[2]["id"] == 2
