"""Input and timing of the tokenization benchmarks: the bundled sample corpus (real text), repeated to a target
size, and a CPU-time pair timer. Not a benchmark itself. Copies get new ids (`<id>#<copy>`), so the proxy view choice differs per copy.
"""
from __future__ import annotations

import gzip
import io
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from bench.common import Timing

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _jsonl(raw: bytes) -> list[dict]:
    return [json.loads(line) for line in raw.decode("utf-8").split("\n") if line]


def sample_documents() -> pa.RecordBatch:
    """id, text (large_string) of Gutenberg plays, en/es/ru/zh/de fortunes and CPython files: ~8.2 MB of text, 18 023 documents."""
    with open(SAMPLE / "gutenberg.jsonl.zst", "rb") as f:
        records = _jsonl(zstandard.ZstdDecompressor().stream_reader(f).read())
    records += _jsonl(gzip.decompress((SAMPLE / "fortunes.jsonl.gz").read_bytes()))
    german = _jsonl((SAMPLE / "fortunes-de.jsonl").read_bytes())
    records += [{"id": f"fortunes-de.jsonl:{i}", "text": r["text"]} for i, r in enumerate(german)]
    code = pq.read_table(io.BytesIO((SAMPLE / "code.parquet").read_bytes()), columns=["id", "text"])
    ids = [r["id"] for r in records] + code.column("id").to_pylist()
    texts = [r["text"] for r in records] + code.column("text").to_pylist()
    return pa.record_batch({"id": pa.array(ids), "text": pa.array(texts, pa.large_string())})


def corpus(target_mb: float) -> pa.RecordBatch:
    """The sample, repeated (with fresh ids) until it holds at least `target_mb` MB of text, as one batch; below
    the sample's size, every k-th document of it."""
    base = sample_documents()
    size = text_mb(base)
    if target_mb < size:  # every k-th document: keeps the mix of plays, fortunes and code
        step = int(size // target_mb)
        return base.take(pa.array(range(0, base.num_rows, step)))
    copies = max(1, int(-(-target_mb // size)))
    ids = pa.concat_arrays([pa.array([f"{i}#{c}" for i in base.column("id").to_pylist()]) for c in range(copies)])
    texts = pa.concat_arrays([base.column("text")] * copies)
    return pa.record_batch({"id": ids, "text": texts})


def text_mb(batch: pa.RecordBatch) -> float:
    col = batch.column("text")
    offs = col.offsets.to_numpy() if hasattr(col, "offsets") else None
    return float(offs[-1] - offs[0]) / 1e6 if offs is not None else col.nbytes / 1e6


def timed_pair(ours: tuple[str, Callable[[], Any]], peer: tuple[str, Callable[[], Any]], *, mb: float,
               repeat: int) -> tuple[Timing, Timing]:
    """(ours, peer) Timings in MB, median CPU seconds (time.process_time) of `repeat` alternating runs after one
    warm-up each.

    CPU time, not wall time, and alternation: the dev box is 2 cores shared by several engineers (load average
    8-18 seen), where wall-clock ratios of the same code swung from 0.57 to 1.53 between two runs.
    """
    samples: dict[str, list[float]] = {ours[0]: [], peer[0]: []}
    for name, fn in (ours, peer):
        fn()
    for _ in range(max(1, repeat)):
        for name, fn in (ours, peer):
            t0 = time.process_time()
            fn()
            samples[name].append(time.process_time() - t0)
    return (Timing(ours[0], statistics.median(samples[ours[0]]), mb, "MB", mb),
            Timing(peer[0], statistics.median(samples[peer[0]]), mb, "MB", mb))
