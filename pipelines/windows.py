"""The runner's last stage: tokenize (one task per file) → pack per window (a file exchange) → shards.

    filtered/<key>.parquet ─tokenize task─► _work/<digest>/tokenized/<key>.arrow   rows in (window, id) order
                                            _work/<digest>/tokenized/<key>.done.json   row range of each window,
                                                                                        the tokenizer's counts
    every <key>.arrow, memory-mapped ─pack task (one window)─► its row slice of each file, zero-copy
                                            → sorted by id → pack_window → shards/ + windows/w<w>.done.json

Window = stable_hash(id, seed) % n_windows and rows are packed in id order, so the shards do not depend on the
number of CPUs, on which task tokenized a file, or on the order in which tasks finished.

Trade-off: the exchange goes through files on the output's filesystem, not through Ray. It replaces a fixed-size
actor pool (a process per CPU, started for the stage and killed after it) and Ray Data's pull-based sort shuffle
(`groupby("window")`): on the 16-core machine that stage took 22.0 s for 200k documents on 16 CPUs against 48.3 s on
1 (efficiency 0.14), about 12 s of it with 2-3 CPUs busy, and the sort's map and reduce alone 19.4 s; with this file
exchange it took 5.4 s there (24.7 s on 1 CPU; device, session 3). Here the tokenize tasks run in the task workers
that read+filter and dedup already warmed, and a file that finished is skipped by a rerun (the shuffle's state was
lost with the driver, so tokenization reran whole). The price is one write and one page-cache read of the tokenized
rows (2 bytes per token for the bytes scheme), and a filesystem all nodes share, which the runner already needs for
`_work/filtered/`. Plain `@ray.remote` tasks rather than Ray Data: no streaming executor to start per stage (16
trivial items on 2 CPUs: 0.32 s through Ray Data, 0.013 s as tasks), and each task is one whole file or window
anyway.
"""
from __future__ import annotations

import json
import os
import signal
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
from pyarrow import ipc

from packing import merge_stats, pack_window, rows_by_bucket
from pipelines.config import PipelineConfig, to_dict
from pipelines.manifest import atomic_write_bytes
from pipelines.shards import write_shards
from pipelines.tasks import gather
from stages.reasons import merge_counts
from stages.schema import REASON, stable_hash
from tokenization import TokenizeConfig, Tokenizer, summarize_counts

_MAX_PACK_TASKS = 512
"""Cap on the pack tasks: beyond it several windows share a task (one window in memory at a time)."""

FAULT_KILL_TOKENIZE = "CARDING_FAULT_KILL_TOKENIZE"
"""Test hook: the environment variable naming a marker file; see `_maybe_kill_for_test`."""

_TOKENIZED_COLUMNS = ["id", "tokens", "n_tokens"]

_TOKENIZER: dict[str, Tokenizer] = {}
"""This worker process's tokenizer, keyed by its config (one entry: a new config replaces it)."""


def tokenize_pack_write(files: list[str], dup_ids: pa.Array, n_windows: int, config: PipelineConfig, out: Path,
                        work: Path) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Tokenize the kept, non-duplicate rows of `files`, pack each of `n_windows` windows, write the shards.

    Returns (manifest shard entries in window order, merged packing stats, tokenizer spec with its `stats`).
    `files`: Parquet with `id`, `text` and `reject_reason` (rows with a reason, and rows whose id is in `dup_ids`,
    are not tokenized). Finished files (tokenized/<key>.done.json) and windows (windows/w<w>.done.json) are reused.
    """
    tokenizer_spec = Tokenizer(config.tokenize).spec()
    folder = work / "tokenized"
    folder.mkdir(parents=True, exist_ok=True)
    # once each: every task reads the same objects, not copies pickled into each call (0.3 ms per PipelineConfig
    # here); the paths once per file, not per (file, window): 36k Path joins held the driver ~1 s between tokenize
    # and pack (device, 256 files, 142 windows; 0.24 s for 12.9k of them in a local profile)
    dup_ref, config_ref = ray.put(dup_ids), ray.put(config)
    stems = [str(folder / _file_key(f)) for f in files]
    largest_first = sorted(range(len(files)), key=lambda i: -os.path.getsize(files[i]))  # shortens the tail
    refs = {i: _tokenize_file.remote(files[i], stems[i], dup_ref, n_windows, config_ref) for i in largest_first}
    tokenized = gather([refs[i] for i in range(len(files))], "tokenize", config.ray.progress)

    slices: dict[int, list[tuple[str, int, int]]] = defaultdict(list)  # window -> (file, start, stop), file order
    for stem, body in zip(stems, tokenized):
        arrow = f"{stem}.arrow"
        for window, start, stop in body["windows"]:
            slices[window].append((arrow, start, stop))
    windows = sorted(slices)  # a window no row hashed to has no shards and no marker
    n_tasks = min(len(windows), _MAX_PACK_TASKS)
    groups = [[(w, slices[w]) for w in windows[t::n_tasks]] for t in range(n_tasks)]
    stage = uuid.uuid4().hex  # the pack tasks' key to this stage's file maps (`_read_arrow`)
    packed = gather([_pack_windows.remote(g, config_ref, str(out), str(work), stage) for g in groups], "pack",
                     config.ray.progress)
    results = sorted((json.loads(body) for bodies in packed for body in bodies), key=lambda w: w["window"])

    token_counts = merge_counts(*(body["counts"] for body in tokenized))
    tokenizer_spec = {**tokenizer_spec, "stats": summarize_counts(token_counts) if token_counts else {}}
    if not results:  # every document was removed: an empty but valid output
        stats = {"documents": 0, "tokens": 0, "sequences": 0, "padding_tokens": 0, "truncations": 0, "fill": 0.0,
                 "buckets": {}}
        return [], stats, tokenizer_spec
    entries = [e for w in results for e in w["shards"]]
    return entries, merge_stats([w["stats"] for w in results]), tokenizer_spec


def json_default(value: Any) -> Any:
    """`json.dumps` default for the numpy scalars in packing stats and summaries."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _file_key(path: str) -> str:
    """Name of a file's tokenized output: its folder and stem (`filtered-<partition key>`, `rewrite-kept`)."""
    p = Path(path)
    return f"{p.parent.name}-{p.stem}"


def _tokenizer(config: TokenizeConfig) -> Tokenizer:
    """This process's tokenizer for `config`, built on the first call: a BPE model loads once per worker."""
    key = json.dumps(to_dict(config), sort_keys=True)
    tokenizer = _TOKENIZER.get(key)
    if tokenizer is None:
        os.environ.setdefault("RAYON_NUM_THREADS", "1")  # one CPU per task: no BPE thread pool oversubscribing
        _TOKENIZER.clear()
        tokenizer = _TOKENIZER[key] = Tokenizer(config)
    return tokenizer


def _maybe_kill_for_test() -> None:
    """Test hook (tests/reliability/test_crash_resume.py): lose a tokenize worker mid-task, deterministically.

    With CARDING_FAULT_KILL_TOKENIZE=<marker path> in the run's environment (Ray's workers inherit it), the first
    tokenize task to find no marker creates it and SIGKILLs its own process, after writing its Arrow file and
    before its done marker: Ray retries the task in another worker, which rewrites both. Unset, it does nothing.
    """
    marker = os.environ.get(FAULT_KILL_TOKENIZE)
    if not marker:
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))  # exactly one task wins, even in parallel
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


@ray.remote(num_cpus=1)
def _tokenize_file(path: str, stem: str, dup_ids: pa.Array, n_windows: int,
                   config: PipelineConfig) -> dict[str, Any]:
    """Tokenize one file's kept rows into `<stem>.arrow`; returns (and writes to `<stem>.done.json`) its summary.

    Summary: `windows` = [[window, start, stop], ...] for the non-empty windows, row ranges into the Arrow file,
    whose rows are in (window, id) order; `counts` = the tokenizer's additive counts (summed by the driver).
    A plain task, so it runs in the task workers the earlier stages warmed (`_tokenizer` caches the model there).
    The Arrow file is written uncompressed, so a pack task memory-maps it and slices its window without a copy.
    Like the other data files it is renamed into place but not fsynced: the marker, written after it, is.
    """
    done = Path(f"{stem}.done.json")
    if done.exists():
        return json.loads(done.read_text())
    tokenizer = _tokenizer(config.tokenize)
    batch = pq.read_table(path, columns=["id", "text", REASON])
    keep = pc.and_(pc.invert(pc.is_in(batch.column("id"), value_set=dup_ids)), pc.is_null(batch.column(REASON)))
    docs = batch.filter(keep).select(["id", "text"]).combine_chunks()
    tokenized = pa.Table.from_batches([tokenizer.process(b) for b in docs.to_batches()] or
                                      [tokenizer.process(pa.RecordBatch.from_pylist([], schema=docs.schema))])
    counts = merge_counts(*(tokenizer.counts(b) for b in tokenized.to_batches())) if tokenized.num_rows else {}
    window = (stable_hash(tokenized.column("id"), config.seed) % np.uint64(n_windows)).astype(np.int64)
    rows = tokenized.select(_TOKENIZED_COLUMNS).append_column("window", pa.array(window))
    rows = rows.take(pc.sort_indices(rows, sort_keys=[("window", "ascending"), ("id", "ascending")]))
    # Row ranges per window, e.g. sorted windows [0, 0, 3] -> bincount [2, 0, 0, 1] -> bounds [0, 2, 2, 2, 3]
    # -> windows [[0, 0, 2], [3, 2, 3]] (empty windows left out).
    bounds = np.concatenate([[0], np.cumsum(np.bincount(window, minlength=n_windows))])
    ranges = [[w, int(bounds[w]), int(bounds[w + 1])] for w in np.flatnonzero(np.diff(bounds)).tolist()]
    table = rows.drop_columns(["window"]).combine_chunks()
    arrow = Path(f"{stem}.arrow")
    tmp = arrow.with_name(f".{arrow.name}.{os.getpid()}.tmp")
    with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    tmp.replace(arrow)
    _maybe_kill_for_test()
    summary = {"rows": table.num_rows, "n_windows": n_windows, "windows": ranges, "counts": counts}
    atomic_write_bytes(done, json.dumps(summary).encode())
    return summary


@ray.remote(num_cpus=1)
def _pack_windows(windows: list[tuple[int, list[tuple[str, int, int]]]], config: PipelineConfig, out: str,
                  work: str, stage: str) -> list[str]:
    """Pack each (window, [(arrow file, start, stop), ...]) in turn; returns each window's done-marker text.
    stage: the token of this pack stage (`_read_arrow`).

    Memory holds one window (its slices are zero-copy views of memory-mapped files until the sort copies them).
    A window whose marker exists is skipped: its shards were written before the marker.
    """
    bodies = []
    for window, slices in windows:
        partition = f"w{window:05d}"
        done = Path(work) / "windows" / f"{partition}.done.json"
        if done.exists():
            bodies.append(done.read_text())
            continue
        parts = [_read_arrow(path, stage).slice(start, stop - start) for path, start, stop in slices]
        docs = pa.concat_tables(parts).sort_by("id")
        result = pack_window(docs, config.pack)
        # Decomposition rows go to one partition per bucket (w00003-b11), so a sampler reads one bucket's files.
        entries = [
            entry
            for bucket, rows in rows_by_bucket(result.sequences)
            for entry in write_shards(rows, Path(out), partition if bucket < 0 else f"{partition}-b{bucket:02d}",
                                      config.shards)
        ]
        body = json.dumps({"window": window, "shards": entries, "stats": result.stats}, default=json_default)
        atomic_write_bytes(done, body.encode())
        bodies.append(body)
    return bodies


_MAPPED: dict[str, dict[str, pa.Table]] = {}
"""This worker process's memory-mapped tokenized files, for the pack stage whose token is the key (one entry)."""


def _read_arrow(path: str, stage: str) -> pa.Table:
    """An Arrow IPC file as a table backed by a memory map (no copy), mapped once per worker process and stage.

    Every window has rows in every tokenized file, so each pack task reads a slice of each: opening the file per
    slice cost 0.1 ms (map, footer, schema) and its page-table entries anew, 36k opens for 142 windows of 256 files
    (device, 400k documents), 0.58 of 1.65 s of a pack task here (local profile, 137 files per window).
    stage: a token new for each pack stage, so that a later run in the same worker (a rerun whose tokenize tasks
    replaced the files) never reads an old map; the maps go when a task of another stage comes, or with the worker
    process, which Ray ends with the run's driver. The pages a worker touched stay in its RSS as shared, clean file
    pages that the kernel can drop: on the device (400k documents, 16 CPUs) peak worker RSS went from 1.9 to 2.9 GB
    while private memory stayed at 0.65 GB."""
    if stage not in _MAPPED:
        _MAPPED.clear()
        _MAPPED[stage] = {}
    tables = _MAPPED[stage]
    table = tables.get(path)
    if table is None:
        table = tables[path] = ipc.open_file(pa.memory_map(path, "r")).read_all()
    return table
