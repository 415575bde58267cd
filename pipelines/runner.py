"""One run of the plan on Ray: read+filter (tasks) → dedup (exchange) → rewrite → tokenize (tasks) →
pack per window (a file exchange, pipelines/windows.py) → shards → manifest.

Every map writes its result per input partition, atomically, under a name made of the partition key, so a rerun
after a crash skips finished partitions and windows. Window membership is `stable_hash(id, seed) % n_windows` and
rows are packed in id order, so shards do not depend on the number of CPUs or on Ray's block boundaries.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray

from pipelines.config import PipelineConfig, to_dict
from pipelines.manifest import MANIFEST_NAME, atomic_write_bytes, load_manifest, write_manifest
from pipelines.paths import check_output_tree
from pipelines.quality_threshold import fix_quality_threshold
from pipelines.session import start_ray
from pipelines.tasks import gather
from pipelines.windows import json_default as _json_default
from pipelines.windows import tokenize_pack_write as _tokenize_pack_write
from stages.filter import REWRITE_CANDIDATE, FilterChain, warm_rule_cache
from stages.filter.rule_cache import has_tables as has_rule_tables
from stages.read import Partition, plan_partitions, read_partition
from stages.reasons import check_conservation, count_reasons, merge_counts, split_kept
from stages.schema import REASON, stable_hash

WORK = "_work"


@dataclass
class RunReport:
    """What a run did: counts (the manifest's `counts`), seconds per stage, and where the output is."""

    out_dir: Path
    counts: dict[str, Any]
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_docs: dict[str, int] = field(default_factory=dict)
    cluster: str = ""
    dry_run: bool = False
    resumed_partitions: int = 0
    dedup_stats: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "counts": self.counts, "stage_seconds": self.stage_seconds,
                "stage_docs": self.stage_docs, "cluster": self.cluster, "dry_run": self.dry_run,
                "resumed_partitions": self.resumed_partitions, "dedup": self.dedup_stats}


def config_hash(config: PipelineConfig) -> str:
    """sha256 of everything that decides the output bytes (not where it goes, nor how many CPUs make it)."""
    body = to_dict(config)
    for volatile in ("output", "ray"):
        body.pop(volatile, None)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def run(config: PipelineConfig) -> RunReport:
    """Run the whole plan; returns the report once manifest.json is written (last, atomically)."""
    out = Path(config.output.dir)
    digest = config_hash(config)
    partitions = plan_partitions(config.input)  # a refused input fails here: no Ray started, no folder made
    check_output_tree(out)  # no symlink under the output folder may lead writes outside it
    work = out / WORK / digest
    if config.rewrite.enabled and not (work / "rewrite.done.json").exists():
        from pipelines.rewrite import check_rewrite_endpoint

        check_rewrite_endpoint(config.rewrite)  # a dead server fails now, not after read, filter and dedup
    recipe = config
    config, quality_cut = fix_quality_threshold(config, partitions)  # one threshold for every worker
    _prepare_output(out, digest, config.output.overwrite)
    report = RunReport(out_dir=out, counts={})
    report.cluster = start_ray(config.ray)

    t0 = time.perf_counter()
    partitions = sorted(partitions, key=lambda p: p.key)
    filtered_files = [str(work / "filtered" / f"{p.key}.parquet") for p in partitions]
    if not has_rule_tables():  # a machine's first run: one task builds spaCy's tables, not every worker at once
        ray.get(_warm_rule_cache.remote())
    tasks = _submit_read_filter(partitions, config, out, work)
    dedup = _start_dedup(filtered_files, [summary for summary, _ in tasks], config, out, work)
    summaries = _read_filter_summaries(tasks, dedup, partitions, config, out, work)
    report.stage_seconds["read+filter"] = time.perf_counter() - t0
    report.resumed_partitions = sum(1 for s in summaries if s["resumed"])
    n_in = sum(s["records"] for s in summaries)
    removed = merge_counts(*(json.loads(s["removed"]) for s in summaries))
    quarantined = merge_counts(*(json.loads(s["quarantined"]) for s in summaries))
    report.stage_docs["read+filter"] = n_in

    t0 = time.perf_counter()
    # rewrite candidates (rows with a reason that go on into dedup) sit only in files whose summary counts some;
    # a marker from before the count was kept says nothing, so its file is read
    with_candidates = [f for f, s in zip(filtered_files, summaries) if s.get("candidates", 1)]
    dup_ids, dedup_removed, report.dedup_stats = _dedup(with_candidates, dedup, config, out, work)
    report.stage_seconds["dedup"] = time.perf_counter() - t0
    removed = merge_counts(removed, dedup_removed)
    n_kept = n_in - sum(removed.values()) - sum(quarantined.values())
    report.stage_docs["dedup"] = n_kept + sum(dedup_removed.values())

    t0 = time.perf_counter()
    rewrite_files, rewrite_summary = _rewrite(filtered_files, dup_ids, config, out, work)
    n_rewrites = int(rewrite_summary.get("kept", 0))
    if config.rewrite.enabled:
        report.stage_seconds["rewrite"] = time.perf_counter() - t0
        report.stage_docs["rewrite"] = int(rewrite_summary.get("rewrites", 0))

    t0 = time.perf_counter()
    window_docs = config.pack.window_docs
    n_windows = max(1, math.ceil((n_kept + n_rewrites) / window_docs))
    shard_entries, pack_stats, tokenizer_spec = _tokenize_pack_write(
        filtered_files + rewrite_files, dup_ids, n_windows, config, out, work)
    report.stage_seconds["tokenize+pack+write"] = time.perf_counter() - t0
    report.stage_docs["tokenize+pack+write"] = n_kept + n_rewrites

    counts = {
        "documents_in": n_in, "documents_kept": n_kept, "removed": removed, "quarantined": quarantined,
        "tokens": pack_stats["tokens"], "sequences": pack_stats["sequences"],
        "padding_tokens": pack_stats["padding_tokens"], "truncations": pack_stats["truncations"],
        "fill": pack_stats["fill"], "buckets": pack_stats["buckets"],
        "rewrites_kept": n_rewrites,
    }
    check_conservation(n_in, n_kept, removed, quarantined, where=str(out))
    if pack_stats["documents"] != n_kept + n_rewrites:
        raise RuntimeError(f"{out}: {n_kept} documents kept and {n_rewrites} rewrites, but "
                           f"{pack_stats['documents']} reached the packer")
    report.counts = counts
    if config.tokenize.bpe_path:  # the output folder decodes on its own: Tokenizer.from_spec(spec, out/tokenizer.json)
        atomic_write_bytes(out / "tokenizer.json", Path(config.tokenize.bpe_path).read_bytes())
    atomic_write_bytes(out / "report.json", (json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n").encode())
    write_manifest(out, {
        "carding_version": _version(),
        "config_hash": digest,
        "config": to_dict(recipe),
        "quality_threshold": quality_cut,
        "tokenizer": tokenizer_spec,
        "packer": to_dict(config.pack),
        "row_tokens": config.pack.capacity,
        "packing": pack_stats,
        "rewrite": rewrite_summary,
        "counts": counts,
        "shards": shard_entries,
    })
    return report


def dry_run_config(config: PipelineConfig, sample_docs: int, scratch: Path) -> PipelineConfig:
    """The same plan on about `sample_docs` documents, written to `scratch` instead of the real destination."""
    n_parts = max(1, len(plan_partitions(config.input)))
    per_part = max(1, math.ceil(sample_docs / n_parts))
    return replace(config, input=replace(config.input, sample_docs=per_part),
                   output=replace(config.output, dir=str(scratch), overwrite=True))


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("carding")
    except metadata.PackageNotFoundError:
        return "unknown (run from a source tree)"


def _prepare_output(out: Path, digest: str, overwrite: bool) -> None:
    """Refuse to mix two configs in one folder; a finished folder of another config is replaced only on request."""
    if not out.exists():
        out.mkdir(parents=True)
        return
    if (out / MANIFEST_NAME).exists():
        previous = load_manifest(out).get("config_hash")
        if previous != digest:
            if not overwrite:
                raise FileExistsError(f"{out}: holds a finished run of another config ({previous}); "
                                      f"choose another --output or set output.overwrite: true")
            shutil.rmtree(out)
            out.mkdir(parents=True)
            return
        (out / MANIFEST_NAME).unlink()  # same config: the run is rebuilt from its finished parts
    stale = [p for p in (out / WORK).glob("*") if p.name != digest] if (out / WORK).exists() else []
    if stale and not overwrite:
        raise FileExistsError(f"{out}: holds unfinished work of another config ({stale[0].name}); "
                              f"choose another --output or set output.overwrite: true")
    for p in stale:
        shutil.rmtree(p)
    for tmp in out.rglob(".*.tmp"):  # temp files of a killed run: never renamed, so never complete
        tmp.unlink()


# ---------------------------------------------------------------- read + filter (map over partitions)

class _ReadFilter:
    """One partition per call → files under rejected/, quarantine/, _work/filtered/; see `_read_filter`.

    Returns the partition's summary (also written to its done marker: key, records, kept, removed and quarantined
    counts as JSON text, seconds; plus resumed, true when the marker was already there) and the `stable_hash` of
    every id it read (kept and removed; not the quarantined rows), for the driver's uniqueness check."""

    def __init__(self, config: PipelineConfig, out: str, work: str) -> None:
        self.config, self.out, self.work = config, Path(out), Path(work)
        self.chain = FilterChain(config.filter)

    def __call__(self, part: Partition) -> tuple[dict[str, Any], np.ndarray]:
        done = self.work / "filtered" / f"{part.key}.done.json"
        if done.exists():
            kept = pq.read_table(self.work / "filtered" / f"{part.key}.parquet", columns=["id", REASON])
            rejected = pq.read_table(self.out / "rejected" / f"{part.key}.parquet", columns=["id"])
            return {**json.loads(done.read_text()), "resumed": True}, _id_hashes(kept, rejected)
        t0 = time.perf_counter()
        result = read_partition(part, self.config.input)
        docs = result.documents
        batch = self.chain.process(docs.combine_chunks().to_batches()[0]) if docs.num_rows else None
        table = pa.Table.from_batches([batch]) if batch is not None else docs
        if REASON not in table.column_names:  # every filter off: the column still exists, all null
            table = table.append_column(pa.field(REASON, pa.string()), pa.nulls(table.num_rows, pa.string()))
        kept, rejected = split_kept(table)
        removed = count_reasons(rejected)
        quarantined = count_reasons(result.quarantine.rename_columns(
            [REASON if c == "reason" else c for c in result.quarantine.column_names])) if result.quarantine.num_rows else {}
        check_conservation(result.records, kept.num_rows, removed, quarantined, where=part.path)
        _write_parquet(self.out / "quarantine" / f"{part.key}.parquet", result.quarantine)
        _write_parquet(self.out / "rejected" / f"{part.key}.parquet", rejected)
        # Rewrite candidates travel on with the kept rows through dedup (spec/README.md, "The chain").
        onward = table.filter(_onward_mask(table)) if table.num_rows else table
        _write_parquet(self.work / "filtered" / f"{part.key}.parquet", onward)
        summary = {"key": part.key, "records": result.records, "kept": kept.num_rows,
                   "candidates": onward.num_rows - kept.num_rows,
                   "removed": json.dumps(removed), "quarantined": json.dumps(quarantined),
                   "seconds": time.perf_counter() - t0}
        atomic_write_bytes(done, json.dumps(summary).encode())
        return {**summary, "resumed": False}, _id_hashes(kept, rejected)


def _id_hashes(filtered: pa.Table, rejected: pa.Table) -> np.ndarray:
    """stable_hash of the ids of a partition's kept rows (reason null in `filtered`, which also carries the rewrite
    candidates) and of its `rejected` rows."""
    kept = filtered.filter(pc.is_null(filtered.column(REASON))) if REASON in filtered.column_names else filtered
    return np.concatenate([stable_hash(kept.column("id")), stable_hash(rejected.column("id"))])


_READ_FILTER: dict[tuple[str, str, str], _ReadFilter] = {}
"""This worker process's `_ReadFilter` for the run in progress (one entry: a new run replaces it)."""


@ray.remote(num_cpus=1, num_returns=2)
def _read_filter(part: Partition, config: PipelineConfig, out: str, work: str) -> tuple[dict[str, Any], np.ndarray]:
    """Ray task: read and filter one partition.

    A plain task, not an actor pool: the filter's models (fastText, spaCy) still load once per worker process,
    through `_READ_FILTER`, but the processes outlive the stage. An actor pool's processes are started for the stage
    and killed after it, and Ray frees their CPUs seconds later, so each actor stage paid a start (imports, spaCy,
    numba caches) and a teardown gap, and the next stage's tasks started in cold processes.

    Not Ray Data's map either: on 16 CPUs its stage had one task running for the first ~3 s (device, 200k
    documents in 128 files, Ray's task timeline); plain tasks are all submitted at once.
    """
    key = (config_hash(config), out, work)
    stage = _READ_FILTER.get(key)
    if stage is None:
        _READ_FILTER.clear()
        stage = _READ_FILTER[key] = _ReadFilter(config, out, work)
    return stage(part)


@ray.remote(num_cpus=1)
def _warm_rule_cache() -> None:
    """Ray task: build spaCy's tokenizer tables into the filter's `rule_cache` (`stages.filter.warm_rule_cache`).

    A task, not the driver: spaCy's import calls `Path.cwd()`, which fails in a `ray job submit` driver whose
    working directory Ray has replaced (tests/pipelines/test_multinode.py)."""
    warm_rule_cache()


def _check_unique_ids(partitions: list[Partition], out: Path, work: Path) -> None:
    """Raise when one id stands in two partitions: a reader only sees its own partition, and every later step
    (dedup, packing, provenance) needs ids unique across the whole input.

    It reads every partition's id columns on the driver (0.7 s for 330k documents in 424 files, 2-core box), so it
    runs only when the tasks' id hashes repeat; otherwise the ids are unique."""
    import polars as pl

    frames = []
    for part in partitions:
        # filtered/ also carries the rewrite candidates, which rejected/ holds too: count only its kept rows there
        kept = pq.read_table(work / "filtered" / f"{part.key}.parquet", columns=["id", REASON])
        kept = kept.filter(pc.is_null(kept.column(REASON))).select(["id"])
        for ids in (kept, pq.read_table(out / "rejected" / f"{part.key}.parquet", columns=["id"])):
            frames.append(pl.from_arrow(ids).with_columns(pl.lit(part.path).alias("file")))
    ids = pl.concat(frames) if frames else pl.DataFrame({"id": [], "file": []})
    repeated = ids.filter(pl.col("id").is_duplicated())
    if repeated.height:
        first = repeated.row(0, named=True)["id"]
        files = repeated.filter(pl.col("id") == first)["file"].unique(maintain_order=True).to_list()
        raise ValueError(f"{first!r}: the same document id in {' and '.join(files)} "
                         f"({repeated['id'].n_unique()} ids repeat); ids must be unique across the input")


def _onward_mask(table: pa.Table) -> pa.Array:
    keep = pc.is_null(table.column(REASON)) if REASON in table.column_names else pa.array([True] * table.num_rows)
    if REWRITE_CANDIDATE in table.column_names:
        keep = pc.or_(keep, pc.fill_null(table.column(REWRITE_CANDIDATE), False))
    return keep


def _submit_read_filter(partitions: list[Partition], config: PipelineConfig, out: Path,
                        work: Path) -> list[tuple[ray.ObjectRef, ray.ObjectRef]]:
    """Submit one `_read_filter` task per partition, largest first (which shortens the stage's tail); returns the
    (summary, id hashes) refs in the order of `partitions`."""
    config_ref = ray.put(config)  # once, not pickled into each of the tasks
    order = sorted(range(len(partitions)), key=lambda i: -_partition_bytes(partitions[i]))
    refs = {i: _read_filter.remote(partitions[i], config_ref, str(out), str(work)) for i in order}
    return [tuple(refs[i]) for i in range(len(partitions))]


def _read_filter_summaries(tasks: list[tuple[ray.ObjectRef, ray.ObjectRef]], dedup: Any,
                           partitions: list[Partition], config: PipelineConfig, out: Path, work: Path) -> list[dict]:
    """The partitions' summaries (see `_ReadFilter`), in the order of `tasks`, once the ids are known to be unique
    across partitions. On a failed task, the tasks failing with it (its id hashes, dedup's key tasks waiting for it) are collected."""
    summaries = gather([summary for summary, _ in tasks], "read+filter", config.ray.progress,
                       also=[h for _, h in tasks] + (dedup.keys if dedup is not None else []))
    hashes = ray.get([h for _, h in tasks])
    if hashes:
        flat = np.sort(np.concatenate(hashes))
        if (flat[1:] == flat[:-1]).any():  # a repeated id, or (rarely) two ids with one hash: the exact check says
            _check_unique_ids(partitions, out, work)
    return summaries


def _partition_bytes(part: Partition) -> int:
    """Bytes of a JSONL partition's range, else (a whole file, a run of Parquet row groups) the file's size."""
    if part.format == "jsonl" and part.end is not None:
        return part.end - part.start
    return Path(part.path).stat().st_size


# ---------------------------------------------------------------- dedup (exchange)

def _dedup_columns(config: PipelineConfig) -> list[str]:
    ranked = ["quality_score"] if config.dedup.keep == "best_quality" else []  # keep: the best of a cluster
    return ["id", "text", "source", "meta", *ranked]


def _start_dedup(files: list[str], written: list[ray.ObjectRef], config: PipelineConfig, out: Path,
                 work: Path) -> Any:
    """Dedup's key tasks, submitted with the read+filter tasks: each starts once its file is written
    (`pipelines.dedup.start_file_dedup`). None when dedup is off or already done (a rerun)."""
    if not _dedup_enabled(config) or _dedup_done(out, work):
        return None
    from pipelines.dedup import start_file_dedup  # imported only when on: it pulls the exchange code

    return start_file_dedup(files, _dedup_columns(config), config.dedup, after=written)


def _dedup_done(out: Path, work: Path) -> bool:
    return (work / "dedup.done.json").exists() and (out / "duplicates" / "duplicates.parquet").exists()


def _dedup(candidate_files: list[str], started: Any, config: PipelineConfig, out: Path,
           work: Path) -> tuple[pa.Array, dict[str, int], dict]:
    """Ids to drop as duplicates, the count per reason among *kept* rows, and the exchange's stats.

    candidate_files: the filtered files that may hold rewrite candidates (their duplicates are not counted again).

    started: `_start_dedup`'s result; its stats["seconds"]["signatures"] counts only the key tasks' time after
    read+filter ended (the rest ran beside the filter)."""
    done = work / "dedup.done.json"
    dup_path = out / "duplicates" / "duplicates.parquet"
    if _dedup_done(out, work):
        stats = json.loads(done.read_text())
        dups = pq.read_table(dup_path)
    elif started is None:
        return pa.array([], pa.string()), {}, {"enabled": False}
    else:
        dups, stats = started.finish(since=time.perf_counter())
        dups = dups.sort_by("id")
        _write_parquet(dup_path, dups)
        atomic_write_bytes(done, json.dumps(stats, default=str).encode())
    # A rewrite candidate found to be a copy is already counted as removed by the filter: count kept rows only.
    candidates = _candidate_ids(candidate_files)
    kept_dups = dups.filter(pc.invert(pc.is_in(dups.column("id"), value_set=candidates)))
    return dups.column("id").combine_chunks(), count_reasons(kept_dups), stats


def _read_files(batch: pa.Table, columns: list[str]) -> pa.Table:
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in batch.column("file").to_pylist()])


def read_per_file(files: list[str], columns: list[str]) -> ray.data.Dataset:
    """`columns` of Parquet `files` as a Ray Data dataset, one read task (and one block) per file: `read_parquet`
    packs small files into one task. The rewrite stage maps it; Ray fuses the read with that map as long as the map
    sets no `batch_size` (with one, Ray bundles the *file list* up to that many rows per task)."""
    if not files:
        return ray.data.from_arrow(pa.table({c: pa.array([], pa.string()) for c in columns}))
    return ray.data.from_items([{"file": f} for f in files], override_num_blocks=len(files)).map_batches(
        _read_files, batch_size=1, batch_format="pyarrow", fn_kwargs={"columns": columns})


def _dedup_enabled(config: PipelineConfig) -> bool:
    dedup = config.dedup
    return bool(getattr(dedup, "enabled", True)) and (
        bool(getattr(dedup, "exact", False)) or bool(getattr(dedup, "near", False)))


def _candidate_ids(files: list[str]) -> pa.Array:
    """Ids of the rewrite candidates (rows with a reason) that went on into dedup: two columns per file, not the
    text (the driver read every text column here, serially, between dedup and tokenize)."""
    ids = []
    for f in files:
        if REASON in pq.read_schema(f).names:
            t = pq.read_table(f, columns=["id", REASON])
            ids.append(t.filter(pc.is_valid(t.column(REASON))).column("id").combine_chunks())
    return pa.concat_arrays(ids) if ids else pa.array([], pa.string())


# ---------------------------------------------------------------- rewrite (actor pool against an LLM server)

def _drop_ids(batch: pa.Table, ids: pa.Array) -> pa.Table:
    return batch.filter(pc.invert(pc.is_in(batch.column("id"), value_set=ids)))


def _kept_only(batch: pa.Table) -> pa.Table:
    return batch.filter(pc.is_null(batch.column(REASON))) if REASON in batch.column_names else batch


def _rewrite(files: list[str], dup_ids: pa.Array, config: PipelineConfig, out: Path,
             work: Path) -> tuple[list[str], dict[str, Any]]:
    """Rewrite the deduplicated candidates; returns the file of kept rewrites (for tokenization) and the summary.

    Every rewrite row, kept or not, goes to `rewrites/` with its reason and its source id; originals are untouched.
    """
    if not config.rewrite.enabled:
        return [], {}
    kept_path = work / "rewrite" / "kept.parquet"
    done = work / "rewrite.done.json"
    if done.exists() and kept_path.exists():
        return [str(kept_path)], json.loads(done.read_text())
    from pipelines.rewrite import check_rewrite_endpoint, refilter_and_mix, rewrite_dataset

    check_rewrite_endpoint(config.rewrite)
    files = [f for f in files if pq.ParquetFile(f).metadata.num_rows > 0]
    if not files:
        return [], {"rewrites": 0, "kept": 0}
    docs = read_per_file(files, pq.read_schema(files[0]).names).map_batches(
        _drop_ids, fn_kwargs={"ids": dup_ids}, batch_format="pyarrow")
    rewrites = rewrite_dataset(docs, config.rewrite)
    raw_kept = docs.map_batches(_kept_only, batch_format="pyarrow")
    final, summary = refilter_and_mix(rewrites, raw_kept, config.rewrite, work_dir=work / "rewrite")
    blocks = ray.get(final.to_arrow_refs())
    table = pa.concat_tables(blocks).sort_by("id") if blocks else pa.table(
        {"id": pa.array([], pa.string()), "text": pa.array([], pa.large_string()),
         "source": pa.array([], pa.string()), "meta": pa.array([], pa.string()), REASON: pa.array([], pa.string())})
    _write_parquet(out / "rewrites" / "rewrites.parquet", table)
    kept = table.filter(pc.is_null(table.column(REASON))).select(["id", "text", "source", "meta", REASON])
    _write_parquet(kept_path, kept)
    atomic_write_bytes(done, json.dumps(summary, default=_json_default).encode())
    return [str(kept_path)], summary


def _write_parquet(path: Path, table: pa.Table) -> None:
    """Write a Parquet file atomically (temp name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)
