"""The stage facade: schema contract, spec-only decoding of written shards, no Ray import, empty batches."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stages.schema import DOCUMENT_SCHEMA
from tokenization import TokenizeConfig, Tokenizer, summarize_counts, train_tokenizer

SCHEMES = [dict(scheme="bytes"), dict(scheme="bytes", layout="byt5"),
           dict(scheme="proxy", window_bytes=512, pair_prob=0.2, share=0.8),
           dict(scheme="proxy", codec="deflate", window_bytes=None, level=9), dict(scheme="bpe")]


def _config(kw: dict, bpe_path: str) -> TokenizeConfig:
    return TokenizeConfig(**kw, **({"bpe_path": bpe_path} if kw["scheme"] == "bpe" else {}))


@pytest.mark.parametrize("kw", SCHEMES, ids=lambda kw: "-".join(map(str, kw.values())))
def test_shard_rows_decode_with_the_manifest_spec_only(kw: dict, bpe_path: str, corpus: pa.RecordBatch,
                                                       tmp_path: Path) -> None:
    """Tokenize, write a Parquet shard, keep only the JSON spec; a fresh tokenizer built from that spec decodes
    sampled rows back to the source text (bpe: the model file travels beside the shards)."""
    documents = pa.record_batch([corpus.column("id"), corpus.column("text"),
                                 pa.nulls(corpus.num_rows, pa.string()), pa.nulls(corpus.num_rows, pa.string())],
                                schema=DOCUMENT_SCHEMA)
    tok = Tokenizer(_config(kw, bpe_path))
    out = tok.process(documents)
    assert out.schema.names == DOCUMENT_SCHEMA.names + ["tokens", "n_tokens"]
    assert out.schema.field("n_tokens").type == pa.int32()
    pq.write_table(pa.Table.from_batches([out]).select(["id", "tokens", "n_tokens"]), tmp_path / "shard.parquet")
    spec = json.loads(json.dumps(tok.spec()))
    shard = pq.read_table(tmp_path / "shard.parquet")
    reader = Tokenizer.from_spec(spec, bpe_path=bpe_path if kw["scheme"] == "bpe" else None)
    rows = np.random.default_rng(0).choice(shard.num_rows, 60, replace=False)
    sample = shard.take(pa.array(rows))
    decoded = reader.decode_batch(sample.column("tokens"), sample.column("id")).to_pylist()
    assert decoded == [corpus.column("text")[int(i)].as_py().encode() for i in rows]
    lengths = np.diff(sample.column("tokens").combine_chunks().offsets.to_numpy())
    assert (lengths == sample.column("n_tokens").to_numpy()).all()


def test_bpe_spec_rejects_another_model_file(bpe_path: str, corpus: pa.RecordBatch, tmp_path: Path) -> None:
    """The spec pins the model's sha256: decoding with a different tokenizer.json fails, naming both."""
    spec = Tokenizer(TokenizeConfig(scheme="bpe", bpe_path=bpe_path)).spec()
    other = train_tokenizer(TokenizeConfig(), [corpus.slice(0, 200)], output=tmp_path / "other.json")
    with pytest.raises(ValueError, match="sha256"):
        Tokenizer.from_spec(spec, bpe_path=str(other))


@pytest.mark.parametrize("kw", SCHEMES, ids=lambda kw: "-".join(map(str, kw.values())))
def test_empty_batch_and_counts(kw: dict, bpe_path: str) -> None:
    """A zero-row batch keeps the output schema; counts are additive and summarize to bytes per token."""
    tok = Tokenizer(_config(kw, bpe_path))
    empty = tok.process(pa.RecordBatch.from_pylist([], schema=DOCUMENT_SCHEMA))
    assert empty.num_rows == 0 and empty.schema.field("tokens").type == pa.large_list(pa.from_numpy_dtype(
        tok.token_dtype))
    batch = pa.RecordBatch.from_pylist([{"id": f"d{i}", "text": "abc " * (i * 40)} for i in range(20)],
                                       schema=DOCUMENT_SCHEMA)
    counts = tok.counts(tok.process(batch))
    halves = [tok.counts(tok.process(batch.slice(0, 7))), tok.counts(tok.process(batch.slice(7)))]
    assert counts == {k: halves[0][k] + halves[1][k] for k in counts}
    assert summarize_counts(counts)["bytes_per_token"] > 0


def test_no_ray_import() -> None:
    """tokenization/ is pure logic (STYLE.md §1): importing and running it must not import ray."""
    code = ("import sys; sys.modules['ray'] = None\n"
            "import pyarrow as pa; from tokenization import TokenizeConfig, Tokenizer\n"
            "t = Tokenizer(TokenizeConfig(scheme='proxy'))\n"
            "t.process(pa.record_batch({'id': ['a'], 'text': pa.array(['x' * 9000], pa.large_string())}))\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_one_megabyte_documents_round_trip() -> None:
    """1 MB documents in the bytes and proxy schemes (zstd windows and one whole-document frame)."""
    text = ("Ünïcödé 😀 漢字 line\r\n" * 40_000)[:1_000_000]
    batch = pa.RecordBatch.from_pylist([{"id": "big", "text": text}, {"id": "small", "text": "x"}],
                                       schema=DOCUMENT_SCHEMA)
    for config in (TokenizeConfig(), TokenizeConfig(scheme="proxy", share=1.0),
                   TokenizeConfig(scheme="proxy", share=1.0, window_bytes=None, codec="gzip")):
        tok = Tokenizer(config)
        out = tok.process(batch)
        assert tok.decode_text(out.column("tokens")[0].values.to_numpy(), doc="big") == text
