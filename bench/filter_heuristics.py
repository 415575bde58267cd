"""The heuristic filter chain (Gopher repetition + Gopher quality + C4 + FineWeb) vs datatrove 0.10.1's classes.

`python -m bench.filter_heuristics [--quick] [--docs N] [--batch-docs B]`. Both run in this process, on one
core, on the same ~800-character documents cut from the bundled corpus (data/sample). datatrove runs its four
filters per document, in FineWeb's order (C4 with `filter_no_terminal_punct=False`), as `BaseFilter.run` would;
carding runs `FilterChain` over Arrow batches of B documents, built fresh for every timed run so its chunk cache
starts empty (a Ray worker keeps one chain for all its batches, as here within a run). Agreement (same keep/drop
decision) and same first reason are checked first. Target (filter issue): ratio >= 20.

Cold figure (`cold_*` keys): the same two on `--cold-docs` synthetic web-like pages of `bench.corpus` (~3 KB each,
the pipeline benchmark's input), carding with a *fresh* chain per batch, so every batch starts with an empty chunk
cache: the worst case a pipeline worker sees.

Seconds are CPU seconds of this process (`time.process_time`), so documents/s is per core even on a shared
machine, where wall time also counts other tenants' load; wall seconds are printed beside them.
"""
from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import statistics
import time
from collections.abc import Callable

import pyarrow as pa

from bench.common import Timing, emit, parser, print_environment, print_table
from bench.filter_corpus import (
    bench_documents,
    datatrove_decisions,
    datatrove_filters,
    synthetic_documents,
)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=None, help="documents (default 4000; --quick 600)")
    p.add_argument("--batch-docs", type=int, default=1000, help="documents per Arrow batch for carding")
    p.add_argument("--cold-docs", type=int, default=None,
                   help="synthetic bench.corpus documents for the cold-cache figure (default 2000; --quick 300)")
    args = p.parse_args()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    from stages.filter import FilterChain, FilterConfig

    print_environment(("datatrove", "spacy", "pyarrow", "numpy", "numba"), seed=args.seed)
    n_docs = args.docs or (600 if args.quick else 4000)
    texts = bench_documents(n_docs)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    config = FilterConfig(length=None, language=None, quality=None)  # the four heuristic filters only
    batches = _batches(texts, args.batch_docs)

    def ours() -> list[str | None]:
        chain = FilterChain(config)
        return [r for b in batches for r in chain.process(b).column("reject_reason").to_pylist()]

    filters = datatrove_filters()

    def peer() -> list[str | None]:
        return [r for r, _ in datatrove_decisions(texts, filters)]

    # warm-up on a slice (spaCy models, numba's compiled kernels), then check agreement on the full input
    datatrove_decisions(texts[:50], filters)
    FilterChain(config).process(batches[0].slice(0, 50))
    t_ours, got = _cpu_time("carding FilterChain", ours, n_docs, mb, args.repeat)
    t_peer, want = _cpu_time("datatrove 4 filters", peer, n_docs, mb, 1)
    same_decision = sum((a is None) == (b is None) for a, b in zip(got, want)) / n_docs
    same_reason = sum(a == b for a, b in zip(got, want)) / n_docs
    kept = sum(r is None for r in got)
    print(f"documents: {n_docs} ({mb:.2f} MB), kept {kept}; same keep/drop {same_decision:.4%}, "
          f"same reason {same_reason:.4%}")
    print_table("heuristic chain, one core (docs/s per core)", [t_ours, t_peer], peer=t_peer)

    # What the word splitter costs on its own: carding's cached chunk splitter (fresh, as above) against
    # datatrove's `split_into_words` (spaCy on every document), both once over the same texts.
    from datatrove.utils.text import split_into_words

    from stages.filter.words import WordSplitter

    column = pa.array(texts, pa.large_string())
    w_ours, _ = _cpu_time("carding WordSplitter", lambda: [WordSplitter().tokens(column)], n_docs, mb, args.repeat)
    w_peer, _ = _cpu_time("datatrove split_into_words", lambda: [split_into_words(t) for t in texts], n_docs, mb, 1)
    print_table("word splitter alone, one core (docs/s per core)", [w_ours, w_peer], peer=w_peer)

    # Cold: synthetic web pages, a fresh chain (empty chunk cache) for every batch.
    n_cold = args.cold_docs or (300 if args.quick else 2000)
    cold_texts = synthetic_documents(n_cold)
    cold_mb = sum(len(t.encode()) for t in cold_texts) / 1e6
    cold_batches = _batches(cold_texts, args.batch_docs)

    def ours_cold() -> list[str | None]:
        return [r for b in cold_batches for r in FilterChain(config).process(b).column("reject_reason").to_pylist()]

    c_ours, got = _cpu_time("carding FilterChain, cold", ours_cold, n_cold, cold_mb, args.repeat)
    c_peer, want = _cpu_time("datatrove 4 filters, cold", lambda: [r for r, _ in datatrove_decisions(cold_texts, filters)],
                             n_cold, cold_mb, 1)
    cold_decision = sum((a is None) == (b is None) for a, b in zip(got, want)) / n_cold
    cold_reason = sum(a == b for a, b in zip(got, want)) / n_cold
    print(f"cold documents: {n_cold} ({cold_mb:.2f} MB, synthetic bench.corpus), kept {sum(r is None for r in got)}; "
          f"same keep/drop {cold_decision:.4%}, same reason {cold_reason:.4%}")
    print_table("heuristic chain, cold chunk cache, synthetic pages (docs/s per core)", [c_ours, c_peer], peer=c_peer)
    emit("filter_heuristics", metric="docs_per_s_per_core", value=t_ours.per_s, unit="docs/s", peer="datatrove",
         ratio=t_ours.per_s / t_peer.per_s, agreement=round(same_decision, 6), same_reason=round(same_reason, 6),
         peer_docs_per_s=round(t_peer.per_s, 2), docs=n_docs,
         words_share_of_ours=round(w_ours.seconds / t_ours.seconds, 4), words_ratio=round(w_ours.per_s / w_peer.per_s, 4),
         cold_docs_per_s_per_core=round(c_ours.per_s, 2), cold_peer_docs_per_s=round(c_peer.per_s, 2),
         cold_ratio=round(c_ours.per_s / c_peer.per_s, 4), cold_agreement=round(cold_decision, 6),
         cold_same_reason=round(cold_reason, 6), cold_docs=n_cold)


def _batches(texts: list[str], batch_docs: int) -> list[pa.RecordBatch]:
    return [pa.RecordBatch.from_pydict({
        "id": [f"d{i}" for i in range(s, min(s + batch_docs, len(texts)))],
        "text": pa.array(texts[s:s + batch_docs], pa.large_string()),
        "source": ["bench"] * len(texts[s:s + batch_docs]), "meta": ["{}"] * len(texts[s:s + batch_docs])})
        for s in range(0, len(texts), batch_docs)]


def _cpu_time(name: str, fn: Callable[[], list], n_docs: int, mb: float, repeat: int) -> tuple[Timing, list]:
    """Median CPU seconds of `repeat` runs (the warm-up ran before, on a slice); wall seconds in `extra`."""
    cpu, wall, result = [], [], []
    for _ in range(max(1, repeat)):
        c0, w0 = time.process_time(), time.perf_counter()
        result = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    timing = Timing(name, statistics.median(cpu), n_docs, "docs", mb, {"wall_s": statistics.median(wall)})
    print(f"{name}: {timing.seconds:.3f} CPU s, {timing.extra['wall_s']:.3f} wall s")
    return timing, result


if __name__ == "__main__":
    main()
