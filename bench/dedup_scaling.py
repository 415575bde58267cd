"""Scaling of the MinHash signature step with 1, 2, 4, 8, 16 processes (strong scaling: fixed total work).

Ray is not installed on the 16-core device machine and its wheel is over the carry limit, so this measures the
signature kernel alone (`stages/dedup/hashing.py:minhash_signatures`, loaded by path: numpy is all it needs) in
a fork-based process pool; the Ray exchange is not part of it. Input: random uint64 shingle hashes, documents of
300 shingles, 112 permutations.

    python -m bench.dedup_scaling [--quick] [--procs 1,2,4,8,16]

Measured on the 16-core device machine (H100 host, numpy 2.5.2, 25,600 documents, 2026-11-22):
procs 1 / 2 / 4 / 8 / 16 → 5,061 / 10,543 / 20,471 / 36,421 / 58,428 signatures/s, speedup 11.5 at 16,
parallel efficiency 0.72 (goal 0.7). The 2-core dev machine, shared, cannot show scaling.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np

_HASHING = Path(__file__).resolve().parent.parent / "stages" / "dedup" / "hashing.py"


def _kernel():
    spec = importlib.util.spec_from_file_location("carding_dedup_hashing", _HASHING)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_MOD = _kernel()
_A, _B = _MOD.permutations(112, 1)


def _work(args: tuple[int, int, int]) -> int:
    """Signatures of n_docs documents of `shingles` random hashes (seeded by the chunk index)."""
    chunk, n_docs, shingles = args
    rng = np.random.default_rng(chunk)
    sh = rng.integers(0, 2**63, size=n_docs * shingles, dtype=np.uint64)
    counts = np.full(n_docs, shingles, dtype=np.int64)
    return int(_MOD.minhash_signatures(sh, counts, _A, _B).shape[0])


def run(procs: int, chunks: int, docs_per_chunk: int, shingles: int) -> float:
    tasks = [(c, docs_per_chunk, shingles) for c in range(chunks)]
    with mp.get_context("fork").Pool(procs) as pool:
        pool.map(_work, tasks[:procs])  # warm-up: every worker touches numpy once
        t0 = time.perf_counter()
        done = sum(pool.map(_work, tasks, chunksize=1))
        dt = time.perf_counter() - t0
    assert done == chunks * docs_per_chunk
    return dt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--procs", default="1,2,4,8,16")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    procs = [int(x) for x in a.procs.split(",") if int(x) <= (os.cpu_count() or 1)]
    chunks, docs, shingles = (32, 50, 300) if a.quick else (128, 200, 300)
    total_docs = chunks * docs
    print(f"environment: cores={os.cpu_count()}, numpy={np.__version__}; {total_docs:,} documents x {shingles} "
          f"shingles, 112 permutations, {chunks} tasks")
    print(f"{'procs':>5} {'median s':>9} {'signatures/s':>13} {'speedup':>8} {'efficiency':>10}")
    base = None
    rows = []
    for n in procs:
        t = sorted(run(n, chunks, docs, shingles) for _ in range(a.repeat))[a.repeat // 2]
        if n == 1:
            base = t
        speed = base / t if base else float("nan")
        rows.append((n, t, total_docs / t, speed, speed / n))
        print(f"{n:>5} {t:>9.3f} {total_docs / t:>13,.0f} {speed:>8.2f} {speed / n:>10.2f}")
    last = rows[-1]
    print(json.dumps({"bench": "dedup_scaling", "metric": "parallel_efficiency", "value": round(last[4], 4),
                      "unit": f"speedup/procs at {last[0]} procs", "peer": "1 process",
                      "ratio": round(last[3], 4), "procs": [r[0] for r in rows],
                      "speedup": [round(r[3], 3) for r in rows],
                      "signatures_per_s": [round(r[2], 1) for r in rows]}))


if __name__ == "__main__":
    main()
