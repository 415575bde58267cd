"""The whole pipeline (read → filter → dedup → tokenize → pack → shards, rewrite off) on a generated web-like corpus,
against datatrove 0.10.1's local executor doing the same filters and MinHash dedup on the same files and cores.

    python -m bench.pipeline [--quick] [--cpus N] [--docs N] [--kind synthetic|real] [--scaling 1,2,4,8,16]

- ours: `pipelines.runner.run` on configs/bench.yaml (an embedded Ray of `--cpus` CPUs, started before the clock);
  per stage the RunReport's seconds and documents, plus MB (JSONL bytes read; text bytes into dedup and into
  tokenize), per core; dedup's exchange steps from its stats; peak memory from a psutil sampler over the driver
  and every process it started (Ray's GCS, raylet and workers), and Ray's object-store use and spill.
- peer: datatrove's `LocalPipelineExecutor` (tasks = workers = cores): JsonlReader → GopherRepetition →
  GopherQuality → C4 (filter_no_terminal_punct=False, FineWeb's setting) → FineWebQuality → JsonlWriter →
  MinhashDedupSignature; MinhashDedupBuckets (14 tasks); MinhashDedupCluster (1 task); JsonlReader →
  MinhashDedupFilter → JsonlWriter. No LanguageFilter / C4BadWordsFilter (they download at run time), no
  tokenization (datatrove's DocumentTokenizer needs a downloaded tokenizer): ours does more work per document.
- agreement: documents left after the filters and after dedup, ours vs datatrove (printed with the difference;
  dedup differs by design: carding also removes exact copies first and verifies LSH pairs by Jaccard >= 0.8).
- `--scaling`: the whole pipeline and dedup alone at each CPU count (each a fresh embedded Ray), speedup and
  parallel efficiency = speedup / CPUs, PNGs of the curve and of the stage timeline into bench/plots/.

Last line: `{"bench": "pipeline", "metric": "docs_per_s", "value", "unit", "peer": "datatrove", "ratio", ...}`
with per-stage figures (and `efficiency_16` when 16 CPUs were measured).
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import re
import shutil
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit, environment, parser, print_environment  # noqa: E402
from bench.corpus import Corpus, CorpusSpec, ensure_corpus  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs" / "bench.yaml"
WORK = REPO / "out" / "bench"
PLOTS = REPO / "bench" / "plots"
STAGES = ("read+filter", "dedup", "tokenize+pack+write")


# ---------------------------------------------------------------- memory and CPU of a process tree

class TreeSampler:
    """Samples, every `interval_s`, CPU % and RSS of this process and all its descendants (Ray's GCS, raylet and
    workers, or datatrove's pool): totals over time for the timeline, and the peak RSS of each process.

    RSS counts the object-store pages a worker has mapped, so `peak_worker_private_mb` (RSS - shared) is the
    figure that shows memory held by a worker's own batches.
    """

    def __init__(self, interval_s: float = 0.5) -> None:
        import ray  # noqa: F401 - Ray puts its bundled psutil on sys.path when psutil is not installed
        import psutil

        self._psutil = psutil
        self.interval_s = interval_s
        self.samples: list[tuple[float, float, float]] = []  # (t, cpu %, total RSS MB)
        self.peak_rss: dict[int, tuple[str, float, float]] = {}  # pid -> (name, rss MB, private MB)
        self._procs: dict[int, Any] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.t0 = 0.0

    def __enter__(self) -> "TreeSampler":
        self.t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        me = self._psutil.Process()
        while not self._stop.is_set():
            self._sample(me)
            self._stop.wait(self.interval_s)
        self._sample(me)

    def _sample(self, me: Any) -> None:
        psutil = self._psutil
        try:
            tree = [me, *me.children(recursive=True)]
        except psutil.Error:
            return
        cpu = rss_total = 0.0
        for p in tree:
            proc = self._procs.setdefault(p.pid, p)
            try:
                c = proc.cpu_percent(None)
                mem = proc.memory_info()
                name = proc.name()
            except psutil.Error:
                continue
            cpu += c
            rss, private = mem.rss / 2**20, (mem.rss - getattr(mem, "shared", 0)) / 2**20
            rss_total += rss
            old = self.peak_rss.get(p.pid)
            if old is None or rss > old[1]:
                self.peak_rss[p.pid] = (name, rss, max(private, old[2] if old else 0.0))
        self.samples.append((time.perf_counter() - self.t0, cpu, rss_total))

    def summary(self) -> dict[str, float]:
        me = os.getpid()
        workers = [v for pid, v in self.peak_rss.items() if pid != me and v[0].startswith("ray::")]
        others = [v for pid, v in self.peak_rss.items() if pid != me]
        pool = workers or others
        return {
            "peak_driver_rss_mb": round(self.peak_rss.get(me, ("", 0.0, 0.0))[1], 1),
            "peak_total_rss_mb": round(max((s[2] for s in self.samples), default=0.0), 1),
            "peak_worker_rss_mb": round(max((v[1] for v in pool), default=0.0), 1),
            "peak_worker_private_mb": round(max((v[2] for v in pool), default=0.0), 1),
            "workers_seen": len(pool),
            "mean_cpu_percent": round(sum(s[1] for s in self.samples) / max(1, len(self.samples)), 1),
        }


# ---------------------------------------------------------------- ours

def _recipe(corpus: Corpus, cpus: int, out: Path, window_docs: int | None) -> Any:
    from pipelines.config import load_config

    overrides: dict[str, Any] = {"input.paths": [str(f) for f in corpus.files], "output.dir": str(out),
                                 "ray.num_cpus": cpus, "output.overwrite": True}
    if window_docs is not None:
        overrides["pack.window_docs"] = window_docs
    return load_config(RECIPE, overrides)


def _object_store() -> dict[str, float]:
    """Object-store use and spill as Ray reports them for this run's own cluster (never another one)."""
    import ray
    from ray._private.internal_api import memory_summary

    try:
        text = memory_summary(address=ray.get_runtime_context().gcs_address, stats_only=True)
    except Exception as e:  # noqa: BLE001 - the figure is optional; say why it is missing
        return {"object_store_error": f"{type(e).__name__}: {e}"[:200]}
    used = re.search(r"Plasma memory usage (\d+) MiB", text)
    spilled = re.search(r"Spilled (\d+) MiB", text)
    return {"object_store_used_mb": int(used.group(1)) if used else 0,
            "spilled_mb": int(spilled.group(1)) if spilled else 0}


def _stage_bytes(report: Any, config: Any) -> dict[str, float]:
    """Text MB that entered dedup (rows the filters kept) and tokenize (rows dedup kept), from the run's files."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from pipelines.runner import WORK as RUN_WORK
    from pipelines.runner import config_hash

    out = Path(report.out_dir)
    dup_path = out / "duplicates" / "duplicates.parquet"
    dups = pq.read_table(dup_path, columns=["id"]).column("id") if dup_path.exists() else None
    into_dedup = into_tokenize = 0
    for f in sorted((out / RUN_WORK / config_hash(config) / "filtered").glob("*.parquet")):
        t = pq.read_table(f)
        if t.num_rows == 0:
            continue
        n_bytes = pc.binary_length(t.column("text").cast("large_binary")).to_numpy(zero_copy_only=False)
        into_dedup += int(n_bytes.sum())
        keep = pc.invert(pc.is_in(t.column("id"), value_set=dups)) if dups is not None else None
        if "reject_reason" in t.column_names:
            ok = pc.is_null(t.column("reject_reason"))
            keep = ok if keep is None else pc.and_(keep, ok)
        kept = n_bytes if keep is None else n_bytes[keep.to_numpy(zero_copy_only=False)]
        into_tokenize += int(kept.sum())
    return {"dedup": into_dedup / 1e6, "tokenize+pack+write": into_tokenize / 1e6}


def output_digests(out: Path) -> dict[str, str]:
    """sha256 of every output file, as tests/reliability compares two runs: every file under a final name except
    `_work/` and report.json (timings); manifest.json with `config.ray` (num_cpus) dropped, re-serialised."""
    import hashlib

    digests = {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*"))
               if p.is_file() and not p.name.startswith(".") and p.relative_to(out).parts[0] != "_work"
               and p.name not in ("report.json", "manifest.json")}
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["config"].pop("ray", None)
    digests["manifest.json"] = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    return digests


def determinism(rows: list[dict]) -> dict[str, Any] | None:
    """Whether every run of `rows` (same corpus, config and seed; different CPU counts) wrote the same bytes."""
    rows = [r for r in rows if r.get("output_sha256")]
    if len(rows) < 2:
        return None
    ref = rows[0]["output_sha256"]
    differ = {r["cpus"]: sorted(k for k in ref.keys() | r["output_sha256"].keys()
                                if ref.get(k) != r["output_sha256"].get(k)) for r in rows[1:]}
    return {"cpus": [r["cpus"] for r in rows], "files": len(ref), "identical": not any(differ.values()),
            "differing_files": {str(c): d[:10] for c, d in differ.items() if d}}


def run_ours(corpus: Corpus, cpus: int, out: Path, window_docs: int | None = None) -> dict[str, Any]:
    """One run of the whole pipeline on a fresh embedded Ray of `cpus` CPUs; figures per stage."""
    import ray

    from pipelines.runner import run
    from pipelines.session import start_ray

    config = _recipe(corpus, cpus, out, window_docs)
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    cluster = start_ray(config.ray)
    ray_start_s = time.perf_counter() - t
    try:
        with TreeSampler() as sampler:
            t0 = time.perf_counter()
            report = run(config)
            seconds = time.perf_counter() - t0
        store = _object_store()
    finally:
        ray.shutdown()
    mb = {"read+filter": corpus.n_bytes / 1e6, **_stage_bytes(report, config)}
    stages = {}
    for name in STAGES:
        s = report.stage_seconds.get(name, 0.0)
        d = report.stage_docs.get(name, 0)
        stages[name] = {"seconds": round(s, 3), "docs": d, "mb": round(mb.get(name, 0.0), 2),
                        "docs_per_s": round(d / s, 1) if s else 0.0, "mb_per_s": round(mb.get(name, 0.0) / s, 2) if s else 0.0}
    counts = report.counts
    dedup_removed = sum(v for k, v in counts["removed"].items() if k.startswith("dedup."))
    after_filter = counts["documents_kept"] + dedup_removed
    return {"cpus": cpus, "cluster": cluster, "ray_start_s": round(ray_start_s, 2), "seconds": round(seconds, 3),
            "docs": counts["documents_in"], "docs_per_s": counts["documents_in"] / seconds,
            "mb_per_s": corpus.n_bytes / 1e6 / seconds, "after_filter": after_filter,
            "after_dedup": counts["documents_kept"], "tokens": counts["tokens"], "sequences": counts["sequences"],
            "fill": counts.get("fill"), "stages": stages,
            "dedup_steps": {k: round(float(v), 3) for k, v in (report.dedup_stats.get("seconds") or {}).items()},
            "memory": {**sampler.summary(), **store}, "timeline": sampler.samples,
            "output_sha256": output_digests(out)}


def parquet_copy(corpus: Corpus, procs: int = 1) -> list[str]:
    """The corpus as Parquet (id, text, source, meta), cached beside it: the input of the dedup-alone runs.
    procs: files converted at once, each in its own process (spawned: the caller may hold Ray or threads)."""
    folder = corpus.folder / "parquet"
    files = [folder / (f.stem + ".parquet") for f in corpus.files]
    todo = [(str(src), str(dst)) for src, dst in zip(corpus.files, files) if not dst.exists()]
    folder.mkdir(exist_ok=True)
    if procs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(min(procs, len(todo)), mp_context=mp.get_context("spawn")) as pool:
            list(pool.map(_jsonl_to_parquet, *zip(*todo)))
    else:
        for src, dst in todo:
            _jsonl_to_parquet(src, dst)
    return [str(f) for f in files]


def _jsonl_to_parquet(src: str, dst: str) -> None:
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    t = pj.read_json(src, parse_options=pj.ParseOptions(explicit_schema=pa.schema(
        [("id", pa.string()), ("text", pa.large_string())]), unexpected_field_behavior="ignore"))
    t = t.append_column("source", pa.array([Path(src).name] * t.num_rows, pa.string()))
    t = t.append_column("meta", pa.array(["{}"] * t.num_rows, pa.string()))
    tmp = Path(dst).with_suffix(".tmp")
    pq.write_table(t, tmp, compression="zstd")
    tmp.replace(dst)


def run_dedup_alone(corpus: Corpus, cpus: int) -> dict[str, Any]:
    """Dedup alone (pipelines.dedup.dedup_files: signatures, the exchange, features, verify) on the Parquet copy,
    one task per file as the runner reads the filtered partitions."""
    import ray

    from pipelines.config import RayConfig
    from pipelines.dedup import dedup_files
    from pipelines.session import start_ray
    from stages.dedup.config import DedupConfig

    files = parquet_copy(corpus, procs=os.cpu_count() or 1)
    start_ray(RayConfig(num_cpus=cpus, progress=False))
    try:
        with TreeSampler() as sampler:
            t0 = time.perf_counter()
            removed, stats = dedup_files(files, ["id", "text", "source", "meta"], DedupConfig())
            seconds = time.perf_counter() - t0
    finally:
        ray.shutdown()
    return {"cpus": cpus, "seconds": round(seconds, 3), "docs": corpus.n_docs, "docs_per_s": corpus.n_docs / seconds,
            "removed": removed.num_rows, "steps": {k: round(float(v), 3) for k, v in (stats.get("seconds") or {}).items()},
            "memory": sampler.summary()}


# ---------------------------------------------------------------- the peer

def run_datatrove(corpus: Corpus, cpus: int, work: Path) -> dict[str, Any]:
    """datatrove's 4 heuristic filters and its 4 MinHash steps on the same files, tasks = workers = cpus."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter,
                                          MinhashDedupSignature)
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cfg = MinhashConfig()  # 5-grams, 14 buckets x 8 hashes, seed 1: carding's DedupConfig defaults
    tasks = min(cpus, len(corpus.files))

    def executor(pipeline: list, name: str, n_tasks: int, workers: int) -> LocalPipelineExecutor:
        return LocalPipelineExecutor(pipeline=pipeline, tasks=n_tasks, workers=workers,
                                     logging_dir=str(work / "logs" / name), skip_completed=False)

    steps = [
        ("read+filter+signatures", executor([
            JsonlReader(str(corpus.folder), glob_pattern="*.jsonl"),
            GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False),
            FineWebQualityFilter(),
            JsonlWriter(str(work / "filtered"), compression=None),
            MinhashDedupSignature(output_folder=str(work / "signatures"), config=cfg),
        ], "1", tasks, cpus)),
        ("buckets", executor([MinhashDedupBuckets(input_folder=str(work / "signatures"),
                                                  output_folder=str(work / "buckets"), config=cfg)],
                             "2", cfg.num_buckets, cpus)),
        ("cluster", executor([MinhashDedupCluster(input_folder=str(work / "buckets"),
                                                  output_folder=str(work / "remove_ids"), config=cfg)], "3", 1, 1)),
        ("filter+write", executor([
            JsonlReader(str(work / "filtered"), glob_pattern="*.jsonl"),
            MinhashDedupFilter(input_folder=str(work / "remove_ids")),
            JsonlWriter(str(work / "deduplicated"), compression=None),
        ], "4", tasks, cpus)),
    ]
    seconds: dict[str, float] = {}
    with TreeSampler() as sampler:
        for name, ex in steps:
            t0 = time.perf_counter()
            _quiet(ex.run)
            seconds[name] = round(time.perf_counter() - t0, 3)
            if name == "read+filter+signatures":
                _check_alignment(work / "filtered", tasks)
    total = sum(seconds.values())
    return {"cpus": cpus, "seconds": round(total, 3), "docs": corpus.n_docs, "docs_per_s": corpus.n_docs / total,
            "after_filter": _count_lines(work / "filtered"), "after_dedup": _count_lines(work / "deduplicated"),
            "steps": seconds, "memory": sampler.summary()}


def _quiet(fn: Any) -> Any:
    """Run `fn` with datatrove's per-document loguru output on stderr muted (its logs stay in logging_dir)."""
    from loguru import logger

    logger.remove()
    try:
        return fn()
    finally:
        logger.add(sys.stderr, level="WARNING")


def _check_alignment(folder: Path, tasks: int) -> None:
    """MinhashDedupFilter reads rank r's filtered file as rank r: a rank whose documents were all filtered out
    writes no file and would shift the others, so the comparison refuses to go on."""
    names = sorted(p.name for p in folder.glob("*.jsonl"))
    if len(names) != tasks:
        raise RuntimeError(f"{folder}: {len(names)} filtered files for {tasks} tasks; use more documents per file")


def _count_lines(folder: Path) -> int:
    n = 0
    for f in folder.glob("*.jsonl"):
        with open(f, "rb") as fh:
            n += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))
    return n


# ---------------------------------------------------------------- tables and plots

def print_stage_table(ours: dict[str, Any]) -> None:
    cpus = ours["cpus"]
    print(f"\ncarding, {ours['cluster']} (Ray started in {ours['ray_start_s']:.1f} s, before the clock)")
    header = (f"{'stage':<24} {'docs':>10} {'MB':>9} {'seconds':>9} {'docs/s':>10} {'MB/s':>8} "
              f"{'docs/s/core':>12} {'MB/s/core':>10}")
    print(header)
    print("-" * len(header))
    for name, s in ours["stages"].items():
        print(f"{name:<24} {s['docs']:>10,} {s['mb']:>9.1f} {s['seconds']:>9.2f} {s['docs_per_s']:>10,.1f} "
              f"{s['mb_per_s']:>8.2f} {s['docs_per_s'] / cpus:>12,.1f} {s['mb_per_s'] / cpus:>10.3f}")
    for name, s in ours["dedup_steps"].items():
        print(f"  dedup step {name:<13} {'':>10} {'':>9} {s:>9.2f}")
    print(f"{'end to end':<24} {ours['docs']:>10,} {ours['stages']['read+filter']['mb']:>9.1f} "
          f"{ours['seconds']:>9.2f} {ours['docs_per_s']:>10,.1f} {ours['mb_per_s']:>8.2f} "
          f"{ours['docs_per_s'] / cpus:>12,.1f} {ours['mb_per_s'] / cpus:>10.3f}")
    m = ours["memory"]
    print("memory: " + ", ".join(f"{k}={v}" for k, v in m.items()))


def print_comparison(ours: dict[str, Any], peer: dict[str, Any]) -> None:
    print(f"\nagainst datatrove on the same {ours['docs']:,} documents and {ours['cpus']} cores")
    header = f"{'implementation':<16} {'seconds':>9} {'docs/s':>10} {'after filters':>14} {'after dedup':>12}"
    print(header)
    print("-" * len(header))
    for name, r in (("carding", ours), ("datatrove", peer)):
        print(f"{name:<16} {r['seconds']:>9.2f} {r['docs_per_s']:>10,.1f} {r['after_filter']:>14,} {r['after_dedup']:>12,}")
    print(f"documents after the filters differ by {ours['after_filter'] - peer['after_filter']:+,}, after dedup by "
          f"{ours['after_dedup'] - peer['after_dedup']:+,} (carding removes exact copies too and verifies pairs)")
    print("datatrove steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in peer["steps"].items()))
    print("datatrove memory: " + ", ".join(f"{k}={v}" for k, v in peer["memory"].items()))


def plot_timeline(ours: dict[str, Any], path: Path) -> None:
    """Stage bars (dedup split into its steps) over CPU % and total RSS of the process tree."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = ours["timeline"]
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    end = samples[-1][0] if samples else ours["seconds"]
    start = end - sum(s["seconds"] for s in ours["stages"].values())  # stages run back to back, ending the run
    colours = {"read+filter": "tab:blue", "dedup": "tab:orange", "tokenize+pack+write": "tab:green"}
    t = start
    for name, s in ours["stages"].items():
        ax0.barh(1, s["seconds"], left=t, color=colours[name], label=name)
        if name == "dedup":
            u = t
            for step, sec in ours["dedup_steps"].items():
                if step in ("signatures", "exchange_exact", "exchange_bands", "features"):
                    ax0.barh(0, sec, left=u, edgecolor="k", color=colours[name], alpha=0.5)
                    ax0.text(u + sec / 2, 0, step.replace("exchange_", "x_"), ha="center", va="center", fontsize=7)
                    u += sec
        t += s["seconds"]
    ax0.set_yticks([0, 1], ["dedup steps", "stage"])
    ax0.legend(loc="upper left", fontsize=8, ncols=3)
    ax0.set_title(f"carding stage timeline: {ours['docs']:,} documents, {ours['cluster']}")
    ts = [s[0] for s in samples]
    ax1.plot(ts, [s[1] / 100 for s in samples], color="tab:red", label="CPUs busy (process tree)")
    ax1.axhline(ours["cpus"], color="tab:red", ls=":", lw=1)
    ax1.set_ylabel("CPUs busy")
    ax1.set_xlabel("seconds since run() was called")
    ax2 = ax1.twinx()
    ax2.plot(ts, [s[2] / 1024 for s in samples], color="tab:purple", label="RSS, all processes (GiB)")
    ax2.set_ylabel("RSS GiB")
    ax1.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scaling(pipeline: list[dict], dedup: list[dict], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.2))
    for rows, name, colour in ((pipeline, "whole pipeline", "tab:blue"), (dedup, "dedup alone", "tab:orange")):
        if not rows:
            continue
        cpus = [r["cpus"] for r in rows]
        base = rows[0]["docs_per_s"] / rows[0]["cpus"]
        speedup = [r["docs_per_s"] / base for r in rows]
        ax0.plot(cpus, speedup, "o-", color=colour, label=name)
        ax1.plot(cpus, [s / c for s, c in zip(speedup, cpus)], "o-", color=colour, label=name)
    top = max([r["cpus"] for r in pipeline + dedup] or [1])
    ax0.plot([1, top], [1, top], "k:", label="ideal")
    ax0.plot([1, top], [0.7, 0.7 * top], color="grey", ls="--", lw=1, label="efficiency 0.7")
    ax0.set_xlabel("Ray CPUs")
    first = min((r["cpus"] for r in pipeline + dedup), default=1)
    ax0.set_ylabel("speedup over 1 CPU (docs/s)" if first == 1 else
                   f"speedup, {first}-CPU run taken as {first}x (no 1-CPU run)")
    ax0.legend(fontsize=8)
    ax1.axhline(0.7, color="grey", ls="--", lw=1)
    ax1.set_ylim(0, 1.2)
    ax1.set_xlabel("Ray CPUs")
    ax1.set_ylabel("parallel efficiency")
    for ax in (ax0, ax1):
        ax.set_xscale("log", base=2)
        ax.set_xticks([r["cpus"] for r in pipeline or dedup], [str(r["cpus"]) for r in pipeline or dedup])
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def median_runs(rows: list[dict]) -> list[dict]:
    """One row per CPU count, in CPU order: the run of median seconds (the lower middle of an even count), with
    `runs_s` = every run's seconds at that count in the order measured."""
    by_cpus: dict[int, list[dict]] = {}
    for r in rows:
        by_cpus.setdefault(r["cpus"], []).append(r)
    out = []
    for cpus in sorted(by_cpus):
        runs = by_cpus[cpus]
        mid = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
        out.append({**mid, "runs_s": [r["seconds"] for r in runs]})
    return out


def efficiency(rows: list[dict], cpus: int) -> float | None:
    """speedup / cpus against the 1-CPU run (None when either was not measured)."""
    one = next((r for r in rows if r["cpus"] == 1), None)
    at = next((r for r in rows if r["cpus"] == cpus), None)
    if one is None or at is None:
        return None
    return at["docs_per_s"] / one["docs_per_s"] / cpus


# ---------------------------------------------------------------- the machine's own ceiling

def contention(corpus: Corpus, n: int) -> dict[str, Any]:
    """The filter chain on one corpus file alone, then in `n` processes at once (`bench.contention`): the share of
    single-process speed each of `n` busy cores keeps bounds the parallel efficiency any scheduler can reach."""
    from bench.contention import Inputs, kept

    r = kept("filter", Inputs(jsonl=str(corpus.files[0]), parquet=""), [n], busy_s=3.0)
    t = r["together"][n]
    return {"processes": n, "alone_s": round(r["alone_s"], 3), "together_mean_s": round(t["mean_s"], 3),
            "together_max_s": round(t["max_s"], 3), "ceiling": t["kept"]}


# ---------------------------------------------------------------- main

def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="Ray CPUs and datatrove workers")
    p.add_argument("--docs", type=int, help="documents to generate (default 1,000 with --quick, else 50,000)")
    p.add_argument("--kind", choices=("synthetic", "real"), default="synthetic", help="corpus generator")
    p.add_argument("--files", type=int, help="JSONL files (default: one per ~1,500 documents, at least 8)")
    p.add_argument("--window-docs", type=int, help="packing window (default: configs/bench.yaml)")
    p.add_argument("--scaling", help="Ray CPU counts in the order to run them, e.g. 16,8,4,2,1")
    p.add_argument("--what", default="pipeline,dedup", help="with --scaling: pipeline, dedup or both")
    # --repeat (bench.common: median of N timed runs) is 1 here: a 1-CPU point of the device recipe is 8 minutes. With
    # --scaling it is N rounds over the CPU counts, each point its median run (lent machines varied 37-45 s between
    # 16-CPU runs of one commit, session 5).
    p.set_defaults(repeat=1)
    p.add_argument("--no-peer", action="store_true", help="skip datatrove (the JSON line then has ratio null)")
    p.add_argument("--plots", type=Path, default=PLOTS, help="folder for the PNGs")
    p.add_argument("--save", type=Path, help="write every figure measured to this JSON file, after each run")
    p.add_argument("--report", type=Path, nargs="+", help="no run: merge these --save files, print, plot, emit")
    p.add_argument("--no-warmup", action="store_true",
                   help="skip the untimed run on a small corpus that fills numba's on-disk caches first")
    p.add_argument("--contention", type=int, metavar="N",
                   help="also time the filter chain on one file alone and in N processes at once (efficiency ceiling)")
    a = p.parse_args()
    if a.report:
        saved = _merge([json.loads(f.read_text()) for f in a.report])
        _finish(saved, a.plots)
        return
    n_docs = a.docs or (1_000 if a.quick else 50_000)
    n_files = a.files or max(8, -(-n_docs // 1_500))
    print_environment(("ray", "datatrove", "pyarrow", "numpy", "polars", "orjson"), seed=a.seed)

    corpus = ensure_corpus(CorpusSpec(kind=a.kind, n_docs=n_docs, seed=a.seed, n_files=n_files), procs=a.cpus)
    print(f"corpus: {corpus.folder} ({'reused' if corpus.reused else f'generated in {corpus.generate_seconds:.1f} s'})"
          f": {corpus.n_docs:,} documents in {len(corpus.files)} files, {corpus.n_bytes / 1e6:,.1f} MB JSONL, "
          f"{corpus.text_bytes / 1e6:,.1f} MB text; planted: "
          + ", ".join(f"{k} {v:,}" for k, v in corpus.kinds.items()), flush=True)
    saved: dict[str, Any] = {"corpus": {k: str(v) if isinstance(v, Path) else v for k, v in corpus.__dict__.items()
                                        if k != "files"} | {"files": len(corpus.files)},
                             "environment": environment(("ray", "datatrove", "pyarrow", "numpy")),
                             "ours": None, "peer": None, "scaling": [], "dedup_scaling": []}

    if a.contention:
        saved["contention"] = contention(corpus, a.contention)
        c = saved["contention"]
        print(f"contention: the filter chain on one file takes {c['alone_s']} s alone and {c['together_mean_s']} s "
              f"(max {c['together_max_s']} s) in each of {c['processes']} processes at once: ceiling {c['ceiling']}",
              flush=True)
    if not a.no_warmup:
        warm = ensure_corpus(CorpusSpec(kind=a.kind, n_docs=400, seed=a.seed, n_files=4), procs=a.cpus)
        t = time.perf_counter()
        run_ours(warm, max(int(c) for c in (a.scaling or str(a.cpus)).split(",")), WORK / "warmup", a.window_docs)
        print(f"warm-up (400 documents, untimed: numba's caches written once, not by the first timed run): "
              f"{time.perf_counter() - t:.1f} s", flush=True)

    def save() -> None:
        if a.save:
            a.save.parent.mkdir(parents=True, exist_ok=True)
            a.save.write_text(json.dumps(saved, default=str))

    if a.scaling:
        counts = [int(c) for c in a.scaling.split(",")]
        what = set(a.what.split(","))
        print(f"\nscaling on {', '.join(map(str, counts))} Ray CPUs (each a fresh embedded Ray)"
              + (f", {a.repeat} rounds" if a.repeat > 1 else ""), flush=True)
        # rounds over the counts, not each count N times in a row: a slow stretch of the host hits every count
        for n in [n for _ in range(a.repeat) for n in counts]:
            if "pipeline" in what:
                saved["scaling"].append(run_ours(corpus, n, WORK / "run", a.window_docs))
                print(_scaling_line("pipeline", saved["scaling"][-1]), flush=True)
                save()
            if "dedup" in what:
                saved["dedup_scaling"].append(run_dedup_alone(corpus, n))
                print(_scaling_line("dedup alone", saved["dedup_scaling"][-1]), flush=True)
                save()
        if saved["scaling"]:
            saved["ours"] = max(median_runs(saved["scaling"]), key=lambda r: r["cpus"])
    else:
        saved["ours"] = run_ours(corpus, a.cpus, WORK / "run", a.window_docs)
        save()
    if saved["ours"] is not None and not a.no_peer:
        saved["peer"] = run_datatrove(corpus, saved["ours"]["cpus"], WORK / "datatrove")
        save()
    _finish(saved, a.plots)


def _merge(parts: list[dict]) -> dict:
    """Several --save files of one corpus (e.g. one device call per CPU count) as one."""
    out = dict(parts[0])
    out["scaling"] = sorted((r for p in parts for r in p["scaling"]), key=lambda r: r["cpus"])
    out["dedup_scaling"] = sorted((r for p in parts for r in p["dedup_scaling"]), key=lambda r: r["cpus"])
    with_ours = [p["ours"] for p in parts if p.get("ours")] + out["scaling"]
    out["ours"] = max(median_runs(with_ours), key=lambda r: r["cpus"]) if with_ours else None
    out["peer"] = next((p["peer"] for p in parts if p.get("peer")), None)
    out["contention"] = next((p["contention"] for p in parts if p.get("contention")), None)
    return out


def _finish(saved: dict, plots: Path) -> None:
    """Tables, PNGs and the JSON line from what was measured."""
    ours, peer, corpus = saved["ours"], saved["peer"], saved["corpus"]
    same = determinism(saved["scaling"])  # every run, repeats included
    scaling, dedup_scaling = median_runs(saved["scaling"]), median_runs(saved["dedup_scaling"])
    if scaling or dedup_scaling:
        print(f"\n{'what':<12} {'cpus':>5} {'seconds':>9} {'docs/s':>10} {'speedup':>8} {'efficiency':>10} "
              f"{'worker RSS MB':>14} {'private MB':>11} {'spilled MB':>10}")
        for name, rows in (("pipeline", scaling), ("dedup alone", dedup_scaling)):
            for r in sorted(rows, key=lambda r: r["cpus"]):
                print(_scaling_line(name, r, rows))
    if ours is not None:
        print_stage_table(ours)
    if peer is not None:
        print_comparison(ours, peer)
    tag = f"{corpus['n_docs']}docs"
    if ours is not None and ours.get("timeline"):
        plot_timeline(ours, plots / f"pipeline_timeline_{tag}_{ours['cpus']}cpu.png")
    if scaling or dedup_scaling:
        plot_scaling(sorted(scaling, key=lambda r: r["cpus"]), sorted(dedup_scaling, key=lambda r: r["cpus"]),
                     f"carding scaling: {corpus['n_docs']:,} documents, {corpus['n_bytes'] / 1e6:,.0f} MB JSONL, "
                     f"{saved['environment']['cores']} cores", plots / f"pipeline_scaling_{tag}.png")
    print(f"plots: {plots}")
    if ours is None:
        if dedup_scaling:  # dedup alone on its own corpus (issue 5 asks >= 1 M documents): its own JSON line
            print(json.dumps(_dedup_line(dedup_scaling, corpus)), flush=True)
        return
    extra: dict[str, Any] = {
        "cpus": ours["cpus"], "docs": ours["docs"], "mb": round(corpus["n_bytes"] / 1e6, 2),
        "seconds": ours["seconds"], "mb_per_s": round(ours["mb_per_s"], 3),
        "docs_per_s_per_core": round(ours["docs_per_s"] / ours["cpus"], 2),
        "stages": {k: {"docs_per_s": v["docs_per_s"], "mb_per_s": v["mb_per_s"], "seconds": v["seconds"]}
                   for k, v in ours["stages"].items()},
        "dedup_steps_s": ours["dedup_steps"],
        "peak_worker_rss_mb": ours["memory"]["peak_worker_rss_mb"],
        "peak_worker_private_mb": ours["memory"]["peak_worker_private_mb"],
        "peak_driver_rss_mb": ours["memory"]["peak_driver_rss_mb"],
        "spilled_mb": ours["memory"].get("spilled_mb"),
        "peer_docs_per_s": round(peer["docs_per_s"], 2) if peer else None,
        "after_dedup": ours["after_dedup"], "peer_after_dedup": peer["after_dedup"] if peer else None,
    }
    if saved.get("contention"):
        extra["contention_ceiling"] = saved["contention"]["ceiling"]
    if same is not None:
        print(f"determinism: runs at {same['cpus']} CPUs wrote {same['files']} output files, "
              f"{'byte-identical' if same['identical'] else 'DIFFERENT: ' + json.dumps(same['differing_files'])}")
        extra["identical_across_cpus"] = same["identical"]
        extra["identical_cpus"] = same["cpus"]
    repeats = max([len(r["runs_s"]) for r in scaling + dedup_scaling], default=1)
    if repeats > 1:
        extra["runs_per_point"] = repeats
        extra["runs_s"] = {f"{what}_{r['cpus']}": r["runs_s"] for what, rows in (("pipeline", scaling),
                                                                                  ("dedup", dedup_scaling))
                           for r in rows}
    for n in sorted({16, max([r["cpus"] for r in scaling + dedup_scaling], default=0)}):
        for key, rows in ((f"efficiency_{n}", scaling), (f"dedup_efficiency_{n}", dedup_scaling)):
            e = efficiency(rows, n)
            if e is not None:
                extra[key] = round(e, 3)
    if peer is None:  # no ratio without the peer in the same run
        print(json.dumps({"bench": "pipeline", "metric": "docs_per_s", "value": round(ours["docs_per_s"], 4),
                          "unit": "docs/s", "peer": "datatrove", "ratio": None, **extra}), flush=True)
        return
    emit("pipeline", metric="docs_per_s", value=ours["docs_per_s"], unit="docs/s", peer="datatrove",
         ratio=ours["docs_per_s"] / peer["docs_per_s"], **extra)


def _dedup_line(rows: list[dict], corpus: dict) -> dict[str, Any]:
    """The JSON line of a dedup-alone curve (median run per CPU count): its widest point's speed, every run's
    seconds, and the efficiency at 16 CPUs (and at the widest count) when there is a 1-CPU run."""
    top = max(rows, key=lambda r: r["cpus"])
    line: dict[str, Any] = {"bench": "pipeline", "metric": "dedup_docs_per_s", "value": round(top["docs_per_s"], 4),
                            "unit": "docs/s", "peer": None, "ratio": None, "cpus": top["cpus"],
                            "docs": corpus["n_docs"], "mb": round(corpus["n_bytes"] / 1e6, 2),
                            "seconds": top["seconds"], "steps_s": top["steps"],
                            "runs_s": {f"dedup_{r['cpus']}": r["runs_s"] for r in rows}}
    for n in sorted({16, top["cpus"]}):
        e = efficiency(rows, n)
        if e is not None:
            line[f"dedup_efficiency_{n}"] = round(e, 3)
    return line


def _scaling_line(what: str, r: dict, rows: list[dict] | None = None) -> str:
    one = next((x for x in rows or [] if x["cpus"] == 1), None)
    speedup = r["docs_per_s"] / one["docs_per_s"] if one else float("nan")
    m = r["memory"]
    return (f"{what:<12} {r['cpus']:>5} {r['seconds']:>9.2f} {r['docs_per_s']:>10,.1f} {speedup:>8.2f} "
            f"{speedup / r['cpus']:>10.2f} {m['peak_worker_rss_mb']:>14,.0f} {m['peak_worker_private_mb']:>11,.0f} "
            f"{m.get('spilled_mb', 0):>10}" + (f"   runs {' / '.join(f'{x:.2f}' for x in r['runs_s'])} s"
                                                if len(r.get("runs_s", ())) > 1 else ""))


if __name__ == "__main__":
    main()
