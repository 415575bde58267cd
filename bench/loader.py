"""Loader read speed on CPU: tokens/s per process from memory-mapped Arrow IPC and from Parquet, one epoch each.

Input: seeded packed rows (`packing.loader.synthetic_sequences`, uint16 ids, 1-6 documents per row) written by the
shard writer with its defaults (zstd Parquet + uncompressed Arrow IPC). Each timed run opens the folder afresh
(counts checked, sha256 skipped: that is a one-off per open and is timed on its own) and reads one rank's epoch
through `ShardDataset` in the process (no DataLoader workers): gather rows, widen ids to int64, build labels,
position_ids and cu_seqlens, wrap as tensors.

Peers, same process, same rows and order:
- `naive per-row python`: pyarrow `to_pylist` per row and Python loops for labels/positions, then `torch.tensor`
  (what a quick hand-written loader does); its output is checked equal to ours on the first steps.
- `numpy memmap flat` (OLMo-core's `NumpyFSLDataset` way: fixed L windows of one flat token file, no document
  boundaries, so no labels masking or cu_seqlens): the speed of reading alone, an upper bound for context.
Goal (shards/loader issue): >= 50 M tokens/s per process from Arrow IPC. Measured 2026-11-22 on this 2-core
machine (shared, load ~15), full size (4096 rows x 8192, 33.5 M tokens): Arrow IPC 101 M tokens/s, Parquet
34 M, naive 0.54 M (ratio 188), flat memmap without boundaries 813 M; full size on the H100 host's CPU: Arrow
167 M, Parquet 59 M, naive 1.1 M (ratio 150), memmap 1.27 G. The gap to the flat memmap is the labels, positions and cu_seqlens work (24 bytes written
per token against 8).
"""
from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import Timing, emit, parser, print_environment, print_table, time_it
from packing.loader import LoaderConfig, ShardDataset, synthetic_sequences
from packing.loader.batch import IGNORE_INDEX
from packing.loader.order import EpochOrder, StepPlan
from pipelines.manifest import load_manifest, write_manifest
from pipelines.shards import ShardConfig, write_shards


def _write(out: Path, n_rows: int, max_tokens: int, seed: int) -> tuple[int, pa.Table]:
    table = synthetic_sequences(n_rows, max_tokens, seed=seed)
    entries = write_shards(table, out, "w00000", ShardConfig())
    write_manifest(out, {"row_tokens": max_tokens, "counts": {}, "shards": entries})
    return sum(e["tokens"] for e in entries if e["format"] == "arrow"), table


def _epoch(out: Path, config: LoaderConfig) -> int:
    tokens = 0
    for batch in ShardDataset(out, config):
        tokens += batch["input_ids"].shape[1]
    return tokens


def naive_batches(out: Path, config: LoaderConfig, epoch: int = 0) -> Iterator[dict[str, Any]]:
    """Per-row Python: the loader a quick script would write (same order, same outputs as `ShardLoader`).

    The peer of this bench and of `bench.loader_gpu`: pyarrow `to_pylist` per row, Python lists for labels and
    positions, one tensor per field per step.
    """
    import torch

    table = pa.concat_tables([pq.read_table(out / e["path"]) for e in load_manifest(out)["shards"]
                              if e["format"] == "parquet"])
    plan = StepPlan(table.num_rows, 1, config.rows_per_rank, config.drop_last)
    order = EpochOrder(table.num_rows, seed=config.seed, epoch=epoch, block_rows=config.shuffle_block_rows)
    for step in range(plan.n_steps):
        ids, labels, positions, cu = [], [], [], [0]
        for g in order.rows(*plan.positions(step, 0)).tolist():
            row = table.slice(g, 1).to_pylist()[0]
            start = 0
            for n in row["doc_lens"]:
                seg = row["input_ids"][start:start + n]
                ids += seg
                labels += [IGNORE_INDEX] + seg[1:]
                positions += list(range(n))
                cu.append(cu[-1] + n)
                start += n
        yield {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]),
               "position_ids": torch.tensor([positions]), "cu_seqlens": torch.tensor(cu, dtype=torch.int32),
               "max_seqlen": max(b - a for a, b in itertools.pairwise(cu)), "step": step, "epoch": epoch}


def _naive_steps(out: Path, config: LoaderConfig, n_steps: int) -> list[dict]:
    """The first `n_steps` of epoch 0 from `naive_batches`."""
    return list(itertools.islice(naive_batches(out, config), n_steps))


def _memmap_epoch(path: Path, max_tokens: int, rows_per_step: int) -> int:
    """OLMo-core style: fixed windows of a flat uint16 token file, int64 on the way out (no boundaries)."""
    import torch

    data = np.memmap(path, dtype=np.uint16, mode="r")
    n_windows = len(data) // max_tokens
    order = np.random.default_rng(0).permutation(n_windows)
    tokens = 0
    for s in range(0, n_windows - rows_per_step + 1, rows_per_step):
        rows = [data[i * max_tokens:(i + 1) * max_tokens] for i in order[s:s + rows_per_step]]
        batch = torch.from_numpy(np.concatenate(rows).astype(np.int64))
        tokens += batch.numel()
    return tokens


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    n_rows, max_tokens, rows_per_rank = (1024, 2048, 8) if args.quick else (4096, 8192, 8)
    print_environment(("torch", "pyarrow", "numpy"), seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-loader-") as tmp:
        out = Path(tmp)
        tokens, table = _write(out, n_rows, max_tokens, args.seed)
        mb = tokens * 2 / 1e6
        print(f"input: {n_rows} rows of <= {max_tokens} tokens, {tokens:,} tokens (uint16), "
              f"{sum(p.stat().st_size for p in out.glob('shards/*/*.parquet')) / 1e6:.1f} MB parquet, "
              f"{sum(p.stat().st_size for p in out.glob('shards/*/*.arrow')) / 1e6:.1f} MB arrow")
        base = dict(rows_per_rank=rows_per_rank, seed=args.seed, verify_checksums=False)
        arrow_cfg = LoaderConfig(read_format="arrow", **base)
        parquet_cfg = LoaderConfig(read_format="parquet", **base)

        # outputs agree: ours (both formats) vs the naive loader on the first steps
        check_steps = 3
        naive = _naive_steps(out, arrow_cfg, check_steps)
        for cfg in (arrow_cfg, parquet_cfg):
            ds = ShardDataset(out, cfg)
            for step, ref in enumerate(naive):
                got = ds.batch(0, step)
                for key in ("input_ids", "labels", "position_ids", "cu_seqlens", "max_seqlen"):
                    same = got[key] == ref[key] if key == "max_seqlen" else bool((got[key] == ref[key]).all())
                    if not same:
                        raise SystemExit(f"outputs differ from the naive loader: {cfg.read_format} step {step} {key}")
        print(f"outputs agree with the naive loader on {check_steps} steps (arrow and parquet)")

        epoch_tokens = _epoch(out, arrow_cfg)
        arrow_t, _ = time_it("ours arrow ipc (mmap)", lambda: _epoch(out, arrow_cfg), items=epoch_tokens,
                             item_unit="tokens", mb=mb, repeat=args.repeat)
        parquet_t, _ = time_it("ours parquet", lambda: _epoch(out, parquet_cfg), items=epoch_tokens,
                               item_unit="tokens", mb=mb, repeat=args.repeat)
        naive_steps = 4 if args.quick else 8
        naive_tokens = sum(b["input_ids"].shape[1] for b in _naive_steps(out, arrow_cfg, naive_steps))
        naive_t, _ = time_it("naive per-row python", lambda: _naive_steps(out, arrow_cfg, naive_steps),
                             items=naive_tokens, item_unit="tokens", mb=naive_tokens * 2 / 1e6,
                             repeat=max(1, args.repeat // 2))
        flat = out / "flat.u16"
        table.column("input_ids").combine_chunks().values.to_numpy().tofile(flat)
        mm_tokens = _memmap_epoch(flat, max_tokens, rows_per_rank)
        memmap_t, _ = time_it("numpy memmap flat (no bounds)", lambda: _memmap_epoch(flat, max_tokens, rows_per_rank),
                              items=mm_tokens, item_unit="tokens", mb=mm_tokens * 2 / 1e6, repeat=args.repeat)
        verify_t, _ = time_it("open + sha256 verify", lambda: ShardDataset(out, LoaderConfig(rows_per_rank=8)),
                              items=tokens, item_unit="tokens", mb=mb, repeat=1)

        # first batch after a resume in the middle of the epoch (a fresh loader, counts checked)
        ds = ShardDataset(out, arrow_cfg)
        state = {**ds.state_dict(), "next_step": len(ds) // 2}
        t0 = time.perf_counter()
        resumed = ShardDataset(out, arrow_cfg)
        resumed.load_state_dict(state)
        next(iter(resumed))
        resume_s = time.perf_counter() - t0

    rows: list[Timing] = [arrow_t, parquet_t, naive_t, memmap_t, verify_t]
    print_table(f"loader, one rank, {rows_per_rank} rows/step, flat layout (tokens/s per process)", rows, peer=naive_t)
    print(f"first batch after resume at step {state['next_step']}: {resume_s * 1e3:.1f} ms (open + one batch)")
    emit("loader", metric="tokens_per_s", value=arrow_t.per_s, unit="tokens/s", peer="naive per-row python",
         ratio=arrow_t.per_s / naive_t.per_s, parquet_tokens_per_s=round(parquet_t.per_s, 1),
         memmap_flat_tokens_per_s=round(memmap_t.per_s, 1), naive_tokens_per_s=round(naive_t.per_s, 1),
         resume_first_batch_s=round(resume_s, 4), tokens=epoch_tokens, max_tokens=max_tokens)


if __name__ == "__main__":
    main()
