"""How much of its one-process speed each kind of carding's work keeps when N processes run it at once.

    python -m bench.contention [--quick] [--procs 8,16] [--works filter,minhash,...] [--busy-s 2]

Each work is timed warm in one process, then in N spawned processes released together by a barrier; each process
reports the median of its calls over `--busy-s` seconds. kept = alone / mean of the N medians: an upper bound on the
parallel efficiency of a stage made of that work on this machine, whatever the scheduler. The works:

- compute: `pyloop` (a pure-Python loop), `normalize` (dedup's text normalisation, pyarrow regex kernels),
  `minhash` (the MinHash kernel on normalised text), `key_rows` (dedup's whole key map of one file),
  `filter` (the filter chain of `configs/bench.yaml` on one file);
- memory: `read_parquet`, `read_jsonl` (the reader of the runner), `alloc` (ten fresh 64 MB arrays: page faults),
  `memcpy` (ten 64 MB copies).

Device, session 5 (nvidia-h100-x1, 16 vCPUs; the script this module was made from, same works and method): kept
at 16 = pyloop 1.01, minhash 0.98, key_rows 0.96, normalize 0.95, filter 1.06; read_parquet 0.74, read_jsonl
0.74, alloc 0.50, memcpy 0.39. Compute keeps its speed there, memory traffic does not. Session 4's machine kept 0.75 in the filter chain, session 3's 0.96: the figure belongs
to the machine and the day.

The JSON line: metric `filter_kept_<largest N>`, peer "one process", and `kept` = {work: {N: kept}}.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import emit, parser, print_environment

WORKS = ("pyloop", "normalize", "minhash", "key_rows", "filter", "read_parquet", "read_jsonl", "alloc", "memcpy")
RECIPE = Path(__file__).resolve().parent.parent / "configs" / "bench.yaml"
_BARRIER: Any = None


@dataclass(frozen=True)
class Inputs:
    """One corpus file in both forms the works read."""

    jsonl: str
    parquet: str


def _init(barrier: Any) -> None:
    global _BARRIER
    _BARRIER = barrier


def _jsonl_partition(path: str) -> tuple[Any, Any]:
    from pipelines.config import load_config
    from stages.read import plan_partitions

    config = load_config(RECIPE, {"input.paths": [path]})
    return config, plan_partitions(config.input)[0]


def _work(name: str, inputs: Inputs) -> Callable[[], object]:
    """The call to time for `name`, with its input loaded and its models built (not timed)."""
    import pyarrow.parquet as pq

    if name == "pyloop":
        return lambda: sum(i * i & 7 for i in range(2_000_000))
    if name == "memcpy":
        src, dst = np.ones(8 << 20), np.empty(8 << 20)
        return lambda: [np.copyto(dst, src) for _ in range(10)]
    if name == "alloc":
        return lambda: [np.ones(8 << 20) for _ in range(10)]
    columns = ["id", "text", "source", "meta"]
    if name == "read_parquet":
        return lambda: pq.read_table(inputs.parquet, columns=columns)
    if name in ("read_jsonl", "filter"):
        from stages.read import read_partition

        config, part = _jsonl_partition(inputs.jsonl)
        if name == "read_jsonl":
            return lambda: read_partition(part, config.input)
        from stages.filter import FilterChain

        docs = read_partition(part, config.input).documents.combine_chunks().to_batches()[0]
        chain = FilterChain(config.filter)
        return lambda: chain.process(docs)
    from stages.dedup.config import DedupConfig
    from stages.dedup.normalize import normalize_text
    from stages.dedup.signatures import DedupShingler

    dedup = DedupConfig()
    table = pq.read_table(inputs.parquet, columns=columns)
    if name == "normalize":
        return lambda: normalize_text(table.column("text"), dedup.normalize)
    if name == "minhash":
        norm, shingler = normalize_text(table.column("text"), dedup.normalize), DedupShingler(dedup)
        return lambda: shingler.text_signatures(norm)
    if name == "key_rows":
        from pipelines.dedup import _key_rows

        return lambda: _key_rows(table, dedup)
    raise ValueError(f"unknown work {name!r}; one of {', '.join(WORKS)}")


def _timed(args: tuple[str, Inputs, float]) -> dict[str, float]:
    """In a pool process: warm the work, wait for the others, then time calls for `busy_s` seconds."""
    name, inputs, busy_s = args
    fn = _work(name, inputs)
    fn(), fn()  # warm: imports, numba's caches, the filter's tables, the allocator's pools
    if _BARRIER is not None:
        _BARRIER.wait()
    r0, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    samples: list[float] = []
    while not samples or time.perf_counter() - start < busy_s:
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"median_s": statistics.median(samples), "sys": (r1.ru_stime - r0.ru_stime) / cpu if cpu else 0.0}


def _run(name: str, inputs: Inputs, n: int, busy_s: float) -> list[dict[str, float]]:
    ctx = mp.get_context("spawn")  # a fresh interpreter each, as a Ray worker is
    barrier = ctx.Barrier(n) if n > 1 else None
    with ctx.Pool(n, initializer=_init, initargs=(barrier,)) as pool:
        return pool.map(_timed, [(name, inputs, busy_s)] * n)


def kept(name: str, inputs: Inputs, counts: list[int], busy_s: float = 2.0) -> dict[str, Any]:
    """`name` alone, then in each of `counts` processes at once: seconds per call and the share of speed kept."""
    alone = _run(name, inputs, 1, busy_s)[0]
    out: dict[str, Any] = {"alone_s": round(alone["median_s"], 4), "sys": round(alone["sys"], 3), "together": {}}
    for n in counts:
        runs = _run(name, inputs, n, busy_s)
        mean = sum(r["median_s"] for r in runs) / n
        out["together"][n] = {"mean_s": round(mean, 4), "max_s": round(max(r["median_s"] for r in runs), 4),
                              "kept": round(alone["median_s"] / mean, 3),
                              "sys": round(sum(r["sys"] for r in runs) / n, 3)}
    return out


def corpus_inputs(docs: int, files: int, seed: int) -> Inputs:
    """The first file of a generated bench corpus, as JSONL and as its Parquet copy."""
    from bench.corpus import CorpusSpec, ensure_corpus
    from bench.pipeline import parquet_copy

    corpus = ensure_corpus(CorpusSpec(kind="synthetic", n_docs=docs, seed=seed, n_files=files),
                           procs=min(files, os.cpu_count() or 1))
    return Inputs(jsonl=str(corpus.files[0]), parquet=parquet_copy(corpus)[0])


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--procs", default=None, help="process counts, e.g. 8,16 (default: half and all of the cores)")
    p.add_argument("--works", default=",".join(WORKS), help="comma-separated, from: " + ", ".join(WORKS))
    p.add_argument("--busy-s", type=float, default=None, help="seconds of timed calls per process (default 2)")
    a = p.parse_args()
    cores = os.cpu_count() or 1
    # default: half and all of the cores, never 1 (the alone run already is one process)
    counts = [int(c) for c in a.procs.split(",")] if a.procs else [c for c in sorted({cores // 2, cores}) if c > 1]
    counts = counts or [1]
    busy_s = a.busy_s or (0.5 if a.quick else 2.0)
    works = [w for w in a.works.split(",") if w]
    print_environment(("numpy", "pyarrow", "numba"), seed=a.seed)
    inputs = corpus_inputs(1_000 if a.quick else 16_000, 8, a.seed)
    print(f"one file of 1/8 of the corpus: {inputs.jsonl}; {busy_s} s of calls per process\n")
    head = f"{'work':<14} {'alone s':>9} {'sys':>5}" + "".join(f" {'kept@' + str(n):>9} {'sys':>5}" for n in counts)
    print(head + "\n" + "-" * len(head))
    results = {}
    for name in works:
        r = results[name] = kept(name, inputs, counts, busy_s)
        print(f"{name:<14} {r['alone_s']:>9.4f} {r['sys']:>5.2f}"
              + "".join(f" {r['together'][n]['kept']:>9.3f} {r['together'][n]['sys']:>5.2f}" for n in counts),
              flush=True)
    top = counts[-1]
    headline = results.get("filter", next(iter(results.values())))["together"][top]["kept"]
    emit("contention", metric=f"{'filter' if 'filter' in results else works[0]}_kept_{top}", value=headline,
         unit="fraction of one-process speed", peer="one process", ratio=headline, cores=cores,
         kept={name: {str(n): r["together"][n]["kept"] for n in counts} for name, r in results.items()},
         sys_fraction={name: {str(n): r["together"][n]["sys"] for n in counts} for name, r in results.items()})


if __name__ == "__main__":
    main()
