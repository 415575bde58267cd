"""Scaling of the MinHash signature step with 1, 2, 4, 8, 16 processes (strong scaling: fixed total work).

Ray is not installed on the 16-core device machine and its wheel is over the carry limit, so this measures the
signature kernel alone in a fork-based process pool, loaded by path: `--kernel numba` (default, what the stage
runs: stages/dedup/kernels.py, needs numba) or `--kernel numpy` (`hashing.minhash_signatures`, numpy only);
the Ray exchange is not part of it. Input: random uint64 shingle hashes, documents of
300 shingles, 112 permutations.

    python -m bench.dedup_scaling [--quick] [--procs 1,2,4,8,16]

Measured on the 16-core device machine with the numpy kernel (H100 host, numpy 2.5.2, 25,600 documents,
2026-11-22; the numba kernel has not been run there yet):
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

_DEDUP = Path(__file__).resolve().parent.parent / "stages" / "dedup"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"carding_dedup_{name}", _DEDUP / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_MOD = _load("hashing")
_A, _B = _MOD.permutations(112, 1)
_KERNEL = {"numpy": None}
"""--kernel numba loads stages/dedup/kernels.py (numpy + numba only) into this slot before the pool forks."""


def _signatures(sh: np.ndarray, counts: np.ndarray) -> np.ndarray:
    kernels = _KERNEL.get("numba")
    if kernels is None:
        return _MOD.minhash_signatures(sh, counts, _A, _B)
    sig = np.full((len(counts), len(_A)), np.iinfo(np.uint64).max, dtype=np.uint64)
    kernels.flat_signatures(sh, counts, _A, _B, False, sig)
    return sig


def _work(args: tuple[int, int, int]) -> int:
    """Signatures of n_docs documents of `shingles` random hashes (seeded by the chunk index)."""
    chunk, n_docs, shingles = args
    rng = np.random.default_rng(chunk)
    sh = rng.integers(0, 2**63, size=n_docs * shingles, dtype=np.uint64)
    counts = np.full(n_docs, shingles, dtype=np.int64)
    return int(_signatures(sh, counts).shape[0])


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
    p.add_argument("--kernel", choices=("numpy", "numba"), default="numba",
                   help="numba: stages/dedup/kernels.py, what the stage runs; numpy: hashing.minhash_signatures")
    a = p.parse_args()
    if a.kernel == "numba":
        _KERNEL["numba"] = _load("kernels")
        _signatures(np.ones(10, np.uint64), np.array([10]))  # compile or load from the cache before forking
    procs = [int(x) for x in a.procs.split(",") if int(x) <= (os.cpu_count() or 1)]
    chunks, docs, shingles = (32, 50, 300) if a.quick else (128, 200, 300)
    if a.kernel == "numba":
        docs *= 10  # ~14x faster per signature: 10x the documents keeps a task's work above pool overheads
    total_docs = chunks * docs
    print(f"environment: cores={os.cpu_count()}, numpy={np.__version__}, kernel={a.kernel}; {total_docs:,} documents "
          f"x {shingles} shingles, 112 permutations, {chunks} tasks")
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
                      "ratio": round(last[3], 4), "kernel": a.kernel, "procs": [r[0] for r in rows],
                      "speedup": [round(r[3], 3) for r in rows],
                      "signatures_per_s": [round(r[2], 1) for r in rows]}))


if __name__ == "__main__":
    main()
