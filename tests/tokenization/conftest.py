"""Fixtures: a slice of the bundled sample corpus (real multilingual text) and a tiny BPE trained on it."""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pytest
import zstandard

from tokenization import BpeTrainConfig, TokenizeConfig
from tokenization.bpe import train_tokenizer

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def _jsonl(raw: bytes, limit: int) -> list[dict]:
    lines = raw.decode("utf-8").split("\n")
    return [json.loads(line) for line in lines[:limit] if line]


def sample_corpus(n_gutenberg: int = 40, n_fortunes: int = 600) -> pa.RecordBatch:
    """Documents (id, text large_string) from the bundled corpus: English plays (CRLF in Milton), fortunes in
    en/es/ru/zh (ANSI escapes, tabs), German fortunes (ids derived here) and CPython source files."""
    with open(SAMPLE / "gutenberg.jsonl.zst", "rb") as f:
        gut = _jsonl(zstandard.ZstdDecompressor().stream_reader(f).read(), n_gutenberg)
    fortunes = _jsonl(gzip.decompress((SAMPLE / "fortunes.jsonl.gz").read_bytes()), n_fortunes)
    german = _jsonl((SAMPLE / "fortunes-de.jsonl").read_bytes(), n_fortunes // 4)
    for i, rec in enumerate(german):
        rec["id"] = f"fortunes-de.jsonl:{i}"
    import pyarrow.parquet as pq
    code = pq.read_table(io.BytesIO((SAMPLE / "code.parquet").read_bytes()), columns=["id", "text"]).slice(0, 20)
    records = gut + fortunes + german
    ids = [r["id"] for r in records] + code.column("id").to_pylist()
    texts = [r["text"] for r in records] + code.column("text").to_pylist()
    return pa.record_batch({"id": pa.array(ids), "text": pa.array(texts, pa.large_string())})


@pytest.fixture(scope="session")
def corpus() -> pa.RecordBatch:
    return sample_corpus()


@pytest.fixture(scope="session")
def bpe_path(tmp_path_factory: pytest.TempPathFactory, corpus: pa.RecordBatch) -> str:
    """A 2 000-id byte-level BPE trained on the corpus fixture (~1 s): tests never download a model."""
    path = tmp_path_factory.mktemp("bpe") / "tokenizer.json"
    config = TokenizeConfig(scheme="bpe", bpe_path=str(path), train=BpeTrainConfig(vocab_size=2000, sample_docs=400))
    train_tokenizer(config, [corpus])
    return str(path)
