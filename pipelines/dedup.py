"""The dedup stage on Ray: maps from stages/dedup, one exchange (keys grouped across the corpus), then verification
in Ray tasks; only counts, candidate ids and verified edges reach the driver.

    files ─key task (one per file)─► key rows: one exact row per document (+ its signature counts) and one row per
                                     LSH band, tagged with the hash partition of its key, sorted by it
    key blocks ─one task per partition─► exact groups of >= 2, unique candidate pairs (each tagged with its verify
                                          share), big buckets, signature counts; driver: candidate ids and counts
    files ─feature task (one per file; text of candidate row groups only)─► normalised text + shingle sets
                                                                             (stay in the object store)
    verify share s ─task each─► exact edges, near edges (edge=true), counts   (reads every feature block by ref)
    driver: union-find components over the edges → keep smallest id (or best quality) → removed rows

`dedup_files` (the runner's path) runs all of it as plain `ray.remote` tasks, each submitted as soon as its inputs
are known, and Ray starts each when its refs are ready. `dedup_dataset` takes a Ray Data dataset (tests, the
benchmark) and runs the two maps as `map_batches` over its blocks; from the key refs on, both share `_dedup_keys`.

Why plain tasks for the maps: with both maps as Ray Data maps over a per-file read, dedup of 200k documents (128
files) took 37.3 s -> 5.44 s for the key map from 1 to 16 CPUs (~7 CPUs wide) and 13.2 -> 3.29 s for the feature
map (~4 wide), while the CPU-seconds of the stage were the same (70.7 vs 70.8): the loss was idleness, ~1.5 s at 1-2
busy CPUs at the start of dedup and again before the feature map, and maps running 7-11 wide, not 16 (device,
16 CPUs). A Ray Data executor takes 0.32 s to start against 0.013 s for plain tasks (pipelines/windows.py), and
each task is one whole file anyway. Measured here (30k documents in 20 one-row-group Parquet files, the 2-core box
at load ~1.4, fresh Ray per run, 3 rounds alternating; median seconds, `dedup_dataset(read_per_file(...))` ->
`dedup_files`): at 1 CPU, total 9.60 -> 7.26 (key map 7.19 -> 5.11, feature map 1.53 -> 1.22); at 2 CPUs, 9.08 ->
4.46 (key map 7.04 -> 3.21, feature map 1.48 -> 0.74), so 1 -> 2 CPUs gained x1.06 before and x1.63 after; the
exchange and verify steps did not change (~0.3 and ~0.6 s at 1 CPU); removed rows identical. A second run of
3 rounds: 9.30 -> 7.28 s at 1 CPU, 8.91 -> 4.23 s at 2. On the device after the change, the same 200k on 16 CPUs:
dedup's stage 8.5-9.3 s -> 4.5 s, the key and feature tasks 16 wide in Ray's timeline. `start_file_dedup` lets the
runner submit the key tasks together with read+filter's, each waiting only for its own file.

The exchange is plain Ray tasks: partition p's task gets every key block by reference and slices its rows out of
each by binary search (the map sorted them), so exact and band keys travel together in one step with no Ray Data
groupby (sample, sort-map and sort-reduce stages, then the group map: ~1 s each of the two on 16 CPUs, device). On
one node the blocks are read in place from the object store; on several, a node fetches each block once.

Each key's rows land in one exchange partition (key mod `exchange_partitions`), each exact key's rows and each pair
(by a hash of both ids: a pair found in several bands meets itself there) in one verify share (one per Ray CPU, at
most `exchange_partitions`), and every step is the pure function of the single-process path
(`stages.dedup.dedup_table`) applied to whole groups: the result does not depend on the number of CPUs, file or
block boundaries or partition count. The input is read twice (key rows, then candidate features): a dataset with a
costly upstream should be materialised first; a feature task reads the `id` column of its file, then the other
columns of only the row groups that hold a candidate.

Measured before the exchange was plain tasks (device, 200k documents, 16 Ray CPUs): the signature map bundled ~4
blocks per task (two waves), the exact and band keys took two groupbys one after the other, and verification ran
serially on the driver after every candidate's features were collected there (5.0 s of 25.3 s; driver peak RSS
1.5 GB). After, on 30k documents (20 files) on the shared 2-core box at load 2-5: the two exchange steps 1.4-1.8 s
-> 0.35 s at 1 CPU and ~1.0 s at 2; the driver's share of verification -> 0 (2 tasks of ~0.35 s at 2 CPUs); driver
peak RSS 560 -> 350 MB; Ray tasks: one key task and one feature task per file, 16 exchange tasks, one verify task
per CPU.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stages.dedup import (BAND_ROW_SCHEMA, BIG_GROUP_SCHEMA, EXACT_EDGE_SCHEMA, EXACT_SCHEMA, FEATURE_SCHEMA,
                          NEAR_EDGE_SCHEMA, PAIR_SCHEMA, QUALITY, REMOVED_SCHEMA, DedupConfig, DedupShingler,
                          DedupSignatures, Keep, band_rows, candidate_features, candidate_ids,
                          candidate_pairs, check_keep_input, exact_candidates, finish_clusters, unique_pairs,
                          verify_candidates)
from stages.schema import stable_hash

if TYPE_CHECKING:
    import ray
    import ray.data

_PART = "_partition"
_KEY_SCHEMA = pa.schema([pa.field(_PART, pa.int64()), pa.field("band_key", pa.uint64()), pa.field("id", pa.string()),
                         pa.field("exact_hi", pa.uint64()), pa.field("exact_lo", pa.uint64()),
                         pa.field("n_shingles", pa.int32()), pa.field("capped", pa.bool_())])
"""What the key map sends into the exchange. band_key null: the document's exact row (partition = exact_hi mod P),
which also carries its signature counts; else one LSH band row (partition = band_key mod P, counts null)."""

_SHARE = "_share"
_EXCHANGE_SCHEMA = pa.schema([pa.field("kind", pa.string()), pa.field(_SHARE, pa.int64()),
                              pa.field("id_a", pa.string()), pa.field("id_b", pa.string()),
                              pa.field("key_hi", pa.uint64()), pa.field("key_lo", pa.uint64()),
                              pa.field("n", pa.int64())])
"""What an exchange task leaves in the object store for the verify tasks, one tagged table. kind="exact": a row of an
exact group (id_a, key_hi/key_lo = exact key); "pair": a candidate pair (id_a < id_b); both carry their verify
share. "big": an LSH bucket above max_pairs_group (key_hi = band key, n = size, id_a = smallest id). "stat": a
signature count of the partition's documents (id_a = its name, n = its value)."""

_STATS = ("documents", "too_short_for_minhash", "shingles", "capped_documents")
"""The signature counts (`stages.dedup.signature_stats`), summed over the partitions' exact rows."""

_NO_QUALITY = "candidates_without_quality"


def _key_rows(batch: pa.Table, config: DedupConfig) -> pa.Table:
    """Signatures of one block as _KEY_SCHEMA rows, sorted by partition: an exchange task slices its partition out
    of every block by binary search (no split step, no copy on one node)."""
    parts = np.uint64(config.exchange_partitions)
    sig = pa.Table.from_batches([DedupSignatures(config).process(batch)])
    hi = sig.column("exact_hi").to_numpy()
    exact = pa.table([pa.array((hi % parts).astype(np.int64)), pa.nulls(sig.num_rows, pa.uint64()), sig.column("id"),
                      sig.column("exact_hi"), sig.column("exact_lo"), sig.column("n_shingles"), sig.column("capped")],
                     schema=_KEY_SCHEMA)
    bands = band_rows(sig)
    keys = bands.column("band_key").to_numpy()
    n = bands.num_rows
    band = pa.table([pa.array((keys % parts).astype(np.int64)), bands.column("band_key"), bands.column("id"),
                     bands.column("exact_hi"), bands.column("exact_lo"), pa.nulls(n, pa.int32()),
                     pa.nulls(n, pa.bool_())], schema=_KEY_SCHEMA)
    rows = pa.concat_tables([exact, band]).combine_chunks()
    return rows.take(pa.array(np.argsort(rows.column(_PART).to_numpy(), kind="stable")))


def _share_of_pairs(pairs: pa.Table, shares: int) -> np.ndarray:
    """Verify share of each pair, from both ids: every copy of a pair (one per band it shares) gets the same one."""
    return ((stable_hash(pairs.column("id_a")) ^ (stable_hash(pairs.column("id_b"), seed=1)))
            % np.uint64(shares)).astype(np.int64)


def _col(table: pa.Table, name: str) -> pa.Array:
    return table.column(name).combine_chunks()


def _exchange(part: pa.Table, config: DedupConfig, shares: int) -> pa.Table:
    """One exchange partition: its exact groups, candidate pairs and big buckets (each candidate tagged with its
    verify share in [0, shares)), and its documents' counts."""
    is_band = pc.is_valid(part.column("band_key"))
    docs = part.filter(pc.invert(is_band))
    n_sh = docs.column("n_shingles").to_numpy(zero_copy_only=False)
    values = [docs.num_rows, int((n_sh == 0).sum()), int(n_sh.sum()), int(pc.sum(docs.column("capped")).as_py() or 0)]
    exact = exact_candidates(docs.select(EXACT_SCHEMA.names)) if config.exact else EXACT_SCHEMA.empty_table()
    if config.near:
        pairs, big = candidate_pairs(part.filter(is_band).select(BAND_ROW_SCHEMA.names), config.max_pairs_group,
                                     dedupe_exact=config.exact)
    else:
        pairs, big = PAIR_SCHEMA.empty_table(), BIG_GROUP_SCHEMA.empty_table()
    n_e, n_p, n_b, n_s = exact.num_rows, pairs.num_rows, big.num_rows, len(_STATS)
    exact_hi = exact.column("exact_hi").to_numpy()
    share = np.concatenate([(exact_hi % np.uint64(shares)).astype(np.int64), _share_of_pairs(pairs, shares),
                            np.full(n_b + n_s, -1, dtype=np.int64)])
    return pa.table([
        pa.array(["exact"] * n_e + ["pair"] * n_p + ["big"] * n_b + ["stat"] * n_s, pa.string()),
        pa.array(share, pa.int64()),
        pa.concat_arrays([_col(exact, "id"), _col(pairs, "id_a"), _col(big, "smallest_id"), pa.array(_STATS)]),
        pa.concat_arrays([pa.nulls(n_e, pa.string()), _col(pairs, "id_b"), pa.nulls(n_b + n_s, pa.string())]),
        pa.concat_arrays([_col(exact, "exact_hi"), pa.nulls(n_p, pa.uint64()), _col(big, "band_key"),
                          pa.nulls(n_s, pa.uint64())]),
        pa.concat_arrays([_col(exact, "exact_lo"), pa.nulls(n_p + n_b + n_s, pa.uint64())]),
        pa.concat_arrays([pa.nulls(n_e + n_p, pa.int64()), _col(big, "size"), pa.array(values, pa.int64())]),
    ], schema=_EXCHANGE_SCHEMA)


def _exchange_task(partition: int, config: DedupConfig, shares: int, *blocks: pa.Table
                   ) -> tuple[pa.Table, pa.Array, pa.Table]:
    """Ray task: exchange partition `partition` from every key block (resolved by Ray from refs; on one node read in
    place). Returns (the partition's _EXCHANGE_SCHEMA rows, left in the object store for the verify tasks; its
    distinct candidate ids; its big and stat rows), the last two small enough for the driver."""
    parts = []
    for block in blocks:
        if block.num_rows:
            lo, hi = np.searchsorted(block.column(_PART).to_numpy(), [partition, partition + 1])
            parts.append(block.slice(int(lo), int(hi - lo)))
    rows = pa.concat_tables([_KEY_SCHEMA.empty_table()] + [t.select(_KEY_SCHEMA.names).cast(_KEY_SCHEMA)
                                                          for t in parts])
    out = _exchange(rows, config, shares)
    exact, pairs = _kind(out, "exact"), _kind(out, "pair")
    chunks = [c for col in (exact.column("id_a"), pairs.column("id_a"), pairs.column("id_b")) for c in col.chunks]
    ids = pc.unique(pa.chunked_array(chunks, pa.string())) if chunks else pa.array([], pa.string())
    return out, ids, out.filter(pc.is_in(out.column("kind"), pa.array(["big", "stat"])))


def _kind(table: pa.Table, kind: str) -> pa.Table:
    return table.filter(pc.equal(table.column("kind"), kind))


def _verify_share(share: int, config: DedupConfig, n_parts: int, *tables: pa.Table) -> tuple[pa.Table, pa.Table,
                                                                                                 pa.Table, dict]:
    """Ray task: verify share `share` of the candidates. tables: the n_parts exchange tables, then every feature
    block (resolved by Ray from refs; on one node they are read in place from the object store). Returns (exact
    edges, near edges with edge=true, (id, quality_score) of their nodes under keep=best_quality else empty,
    counts). Share 0 also counts the candidates without a quality score, over all feature blocks."""
    rows = pa.concat_tables([_EXCHANGE_SCHEMA.empty_table()] + [t.filter(pc.equal(t.column(_SHARE), share))
                                                                for t in tables[:n_parts]])
    exact = _kind(rows, "exact")
    exact_rows = pa.table([exact.column("id_a"), exact.column("key_hi"), exact.column("key_lo")], schema=EXACT_SCHEMA)
    pairs = unique_pairs(_kind(rows, "pair").select(["id_a", "id_b"]).cast(PAIR_SCHEMA))
    needed = candidate_ids(exact_rows, pairs)
    blocks = [t.select(FEATURE_SCHEMA.names).cast(FEATURE_SCHEMA) for t in tables[n_parts:] if t.num_rows]
    # only this share's documents: a filter per block copies just their rows, never every block's shingle sets
    mine_f = [b.filter(pc.is_in(b.column("id"), value_set=needed)) for b in blocks]
    features = pa.concat_tables(mine_f) if mine_f else FEATURE_SCHEMA.empty_table()
    exact_edges, near, counts = verify_candidates(exact_rows, pairs, features, config)
    near = near.filter(near.column("edge")) if near.num_rows else near
    quality = pa.table({"id": pa.array([], pa.string()), QUALITY: pa.array([], pa.float64())})
    if config.keep is Keep.best_quality:
        nodes = pa.chunked_array([c for col in (exact_edges.column("id"), exact_edges.column("rep_id"),
                                                near.column("id_a"), near.column("id_b")) for c in col.chunks],
                                 pa.string())
        quality = features.filter(pc.is_in(features.column("id"), value_set=pc.unique(nodes))).select(["id", QUALITY])
        if share == 0:
            counts[_NO_QUALITY] = sum(b.column(QUALITY).null_count for b in blocks)
    return exact_edges, near, quality, counts


def dedup_dataset(ds: ray.data.Dataset, config: DedupConfig) -> tuple[ray.data.Dataset, dict]:
    """Removed documents of `ds` as a dataset (REMOVED_SCHEMA: id, reject_reason, cluster_id, kept_id,
    cluster_size) and the stage's stats (counts, largest clusters, seconds per step).

    ds: documents with at least `id`, `text` (and `source` under scope=per_source, `quality_score` under
    keep=best_quality: checked here first, which reads one block for the schema). Ids must be unique. The maps are
    Ray Data maps over `ds` (one task per block); everything after them is `dedup_files`'s code.

    stats["seconds"]: signatures = the key map (signatures and band rows); exchange_exact = the one exchange, which
    carries exact and band keys together (its tasks, from the last key block until their candidate ids are on the
    driver); exchange_bands = the union of those ids, the big buckets and counts on the driver (the band exchange
    itself is inside exchange_exact); features = the candidate map; verify = the verify tasks (exact bytes and
    Jaccard); components = union-find and keep-one on the driver.
    """
    import ray.data

    if config.keep is Keep.best_quality:  # fail here, naming the fix, not as a RayTaskError from a worker
        schema = ds.schema()
        check_keep_input(list(schema.names) if schema is not None else [], config)
    t0 = time.perf_counter()
    # no batch_size: one task per input block (= per filtered file); the map slices text itself (signatures.py)
    keys = ds.map_batches(_key_rows, fn_kwargs={"config": config}, batch_format="pyarrow").to_arrow_refs()

    def features_of(ids: pa.Array) -> list[ray.ObjectRef]:
        return ds.map_batches(_features, fn_kwargs={"ids": ids, "config": config},
                              batch_format="pyarrow").to_arrow_refs()

    removed, stats = _dedup_keys(keys, features_of, config, t0)
    return ray.data.from_arrow(removed), stats


def dedup_files(files: list[str], columns: list[str], config: DedupConfig) -> tuple[pa.Table, dict]:
    """Removed documents of the Parquet `files` (REMOVED_SCHEMA rows, in no set order) and the stage's stats,
    equal to `dedup_dataset` over the same documents: `columns` of each file (at least `id`, `text`; `source` under
    scope=per_source, `quality_score` under keep=best_quality, checked here first). Ids must be unique across files.

    Plain Ray tasks, one key task and (once the candidate ids are known) one feature task per file, all submitted
    at once; a feature task reads the text of only the row groups that hold candidates. A file with 0 rows gives
    empty outputs (its columns are not read); a file that cannot be read raises ValueError naming it (on the driver
    as a RayTaskError that is also a ValueError). stats["seconds"]: as `dedup_dataset`, signatures = from the
    first submission until every key task is done.
    """
    return start_file_dedup(files, columns, config).finish()


def start_file_dedup(files: list[str], columns: list[str], config: DedupConfig,
                     after: list[ray.ObjectRef] | None = None) -> FileDedup:
    """Submit the key task of every file now and return the dedup, whose `finish()` runs the rest (`dedup_files`).

    after: one ref per file, the task that writes it (the runner's read+filter tasks): a file's key task starts as
    soon as its file is written, so the key map fills the CPUs the filter's last tasks leave idle instead of
    waiting for the slowest of them."""
    import ray

    check_keep_input(columns, config)
    key_task = ray.remote(_file_keys)
    keys = [key_task.remote(f, columns, config, *([after[i]] if after else [])) for i, f in enumerate(files)]
    return FileDedup(files, columns, config, keys)


@dataclass
class FileDedup:
    """A dedup of Parquet files with its key tasks submitted (`start_file_dedup`)."""

    files: list[str]
    columns: list[str]
    config: DedupConfig
    keys: list[ray.ObjectRef]
    started: float = field(default_factory=time.perf_counter)

    def finish(self, since: float | None = None) -> tuple[pa.Table, dict]:
        """The removed rows and stats, once the exchange, features, verify and components are done.
        since: the start of stats["seconds"]["signatures"] (default: when the key tasks were submitted)."""
        import ray

        def features_of(ids: pa.Array) -> list[ray.ObjectRef]:
            ids_ref = ray.put(ids)  # once: every task reads the same object, not a copy pickled into each call
            feature_task = ray.remote(_file_features)
            return [feature_task.remote(f, self.columns, ids_ref, self.config) for f in self.files]

        keys, self.keys = self.keys, []  # the exchange owns them now: the object store frees them after it
        return _dedup_keys(keys, features_of, self.config, self.started if since is None else since)


def _dedup_keys(keys: list[ray.ObjectRef], features_of: Callable[[pa.Array], list[ray.ObjectRef]],
                config: DedupConfig, t0: float) -> tuple[pa.Table, dict]:
    """Everything after the key map, for both inputs: exchange, candidate features, verify, components.

    keys: refs of _KEY_SCHEMA blocks, done or still running (the exchange tasks are submitted at once and wait for
    them in Ray); the list is emptied (this call owns the refs). features_of(candidate ids): refs of FEATURE_SCHEMA
    blocks covering those ids. t0: when the key map started (stats["seconds"]["signatures"] runs from it until the
    last key block is done). When a task fails, the others that fail with it are collected before its error is raised
    (`pipelines.tasks.settle`)."""
    from pipelines.tasks import settle

    running = list(keys)
    keys.clear()  # owned here: `running` holds them until the exchange has read them
    try:
        return _dedup_steps(running, features_of, config, t0)
    except Exception:
        settle(running)
        raise


def _dedup_steps(running: list[ray.ObjectRef], features_of: Callable[[pa.Array], list[ray.ObjectRef]],
                 config: DedupConfig, t0: float) -> tuple[pa.Table, dict]:
    """`_dedup_keys`'s steps. running: the key refs on entry; every task submitted here is appended to it, and the
    key refs are dropped from it once the exchange has read them."""
    import ray

    keys = list(running)
    seconds: dict[str, float] = {}
    # one verify task per CPU at most: more only adds tasks that each read every feature block
    shares = max(1, min(config.exchange_partitions, int(ray.cluster_resources().get("CPU", 1))))
    exchange = ray.remote(_exchange_task).options(num_returns=3)
    outs = [exchange.remote(p, config, shares, *keys) for p in range(config.exchange_partitions)]
    running += [ref for out in outs for ref in out]
    if keys:
        ray.wait(keys, num_returns=len(keys), fetch_local=False)
    seconds["signatures"] = time.perf_counter() - t0

    t = time.perf_counter()
    id_chunks = [a for a in ray.get([o[1] for o in outs]) if len(a)]
    del running[:len(keys)], keys  # the key rows are spent: let the object store free them
    parts = [o[0] for o in outs]
    seconds["exchange_exact"] = time.perf_counter() - t

    t = time.perf_counter()
    small = pa.concat_tables([_EXCHANGE_SCHEMA.empty_table(), *ray.get([o[2] for o in outs])])
    ids = pc.unique(pa.chunked_array(id_chunks, pa.string())) if id_chunks else pa.array([], pa.string())
    big_rows = _kind(small, "big")
    big = pa.table([big_rows.column("key_hi"), big_rows.column("n"), big_rows.column("id_a")], schema=BIG_GROUP_SCHEMA)
    stat_rows = _kind(small, "stat")
    stats = {name: int(pc.sum(stat_rows.filter(pc.equal(stat_rows.column("id_a"), name)).column("n")).as_py() or 0)
             for name in _STATS}
    seconds["exchange_bands"] = time.perf_counter() - t

    t = time.perf_counter()
    features = features_of(ids) if len(ids) else []
    verify = ray.remote(_verify_share)
    pending = [verify.remote(s, config, len(parts), *parts, *features) for s in range(shares)] if len(ids) else []
    running += features + pending
    if features:
        ray.wait(features, num_returns=len(features), fetch_local=False)
    seconds["features"] = time.perf_counter() - t

    t = time.perf_counter()
    verified = ray.get(pending)
    seconds["verify"] = time.perf_counter() - t

    counts = {k: sum(c.get(k, 0) for _, _, _, c in verified)
              for k in ("exact_candidates", "exact_collisions", "candidate_pairs", "verified_edges", "rejected_pairs",
                        _NO_QUALITY)}
    exact_edges = pa.concat_tables([v[0] for v in verified]) if verified else EXACT_EDGE_SCHEMA.empty_table()
    near = pa.concat_tables([v[1] for v in verified]) if verified else NEAR_EDGE_SCHEMA.empty_table()
    quality = pa.concat_tables([v[2] for v in verified]) if verified and config.keep is Keep.best_quality else None
    removed, finish = finish_clusters(exact_edges, near, big, quality, counts, config)
    stats = {**stats, **finish}
    stats["seconds"] = {**{k: round(v, 4) for k, v in seconds.items()}, **finish["seconds"]}
    return removed.cast(REMOVED_SCHEMA), stats


def _features(batch: pa.Table, ids: pa.Array, config: DedupConfig) -> pa.Table:
    return pa.Table.from_batches([candidate_features(batch, ids, config, DedupShingler(config))], schema=FEATURE_SCHEMA)


def _open_parquet(path: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise ValueError(f"{path}: dedup cannot open this Parquet file ({e})") from e


def _read_parquet(file: pq.ParquetFile, path: str, columns: list[str], row_groups: list[int] | None = None
                  ) -> pa.Table:
    missing = [c for c in columns if c not in file.schema_arrow.names]
    if missing:  # ParquetFile.read would leave them out silently
        raise ValueError(f"{path}: dedup needs columns {missing}, the file has {file.schema_arrow.names}")
    try:
        if row_groups is None:
            return file.read(columns=columns)
        return file.read_row_groups(row_groups, columns=columns)
    except (OSError, pa.ArrowException) as e:
        raise ValueError(f"{path}: dedup cannot read columns {columns} ({e})") from e


def _file_keys(path: str, columns: list[str], config: DedupConfig, *_written: object) -> pa.Table:
    """Ray task: the key rows (_KEY_SCHEMA, sorted by partition) of one Parquet file's documents. _written: the
    result of the task that wrote the file, if any (passed only so that Ray starts this task after it)."""
    file = _open_parquet(path)
    if file.metadata.num_rows == 0:
        return _KEY_SCHEMA.empty_table()
    return _key_rows(_read_parquet(file, path, columns), config)


def _file_features(path: str, columns: list[str], ids: pa.Array, config: DedupConfig) -> pa.Table:
    """Ray task: FEATURE_SCHEMA rows of one Parquet file's documents whose id is in `ids`. Only the `id` column is
    read whole; the other columns only for the row groups that hold a candidate (none: nothing more is read)."""
    file = _open_parquet(path)
    sizes = np.array([file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)], dtype=np.int64)
    if not sizes.sum():
        return FEATURE_SCHEMA.empty_table()
    hit = pc.is_in(_read_parquet(file, path, ["id"]).column("id"), value_set=ids.cast(pa.string()))
    # candidates per row group from the running count of hits: sizes [2, 0, 3], hit [1,0, 0,0,1] → ends [0, 2, 2, 5],
    # cum [0, 1, 1, 1, 1, 2] → per group [1, 0, 1] → groups [0, 2] (a 0-row group is never read)
    cum = np.concatenate([[0], np.cumsum(hit.to_numpy(zero_copy_only=False))])
    ends = np.concatenate([[0], np.cumsum(sizes)])
    groups = np.flatnonzero(cum[ends[1:]] - cum[ends[:-1]]).tolist()
    if not groups:
        return FEATURE_SCHEMA.empty_table()
    return _features(_read_parquet(file, path, columns, groups), ids, config)


__all__ = ["dedup_dataset", "dedup_files"]
