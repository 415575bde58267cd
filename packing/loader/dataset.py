"""The torch side of the loader: `ShardDataset` (an IterableDataset) and `ShardLoader` (DataLoader + exact resume).

Importing this module imports torch; the rest of carding never does (`packing.loader` loads it on first use).

Sharding: rank r of `world_size` reads its slice of every global step (`packing.loader.order`, `packing.loader.curriculum`); DataLoader worker
w of W builds steps s = next_step + w, next_step + w + W, ..., and torch's in-order round robin over workers
hands them out as next_step, next_step + 1, ... . A worker that runs out stops exactly when every later step is
gone too, so the order holds with any W. Resume state is {fingerprint, seed, epoch, next_step} plus the layout
that fixes the order (world_size, rows_per_rank, drop_last, shuffle_block_rows): no worker count inside, so W may
change between save and load, and a changed shard set or order layout is refused with its cause.

Dataset-decomposition shards (buckets >= 0 in the manifest) use the packing issue's curriculum sampler instead
(`packing.loader.curriculum`): each step is b tokens of one bucket on every rank; `rows_per_rank`, `drop_last` and
`shuffle_block_rows` do not apply, and the state adds the sampler's own position.

Tail under `drop_last=False`: the last step is split over the ranks; a rank with no row gets an empty batch
(T = 0, cu_seqlens = [0]) rather than no batch, so every rank takes the same number of steps and no DDP
collective waits forever (spec, Traps). Its loss has no tokens: normalise by a global token count.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from packing.loader.batch import build_batch
from packing.loader.config import Layout, LoaderConfig
from packing.loader.curriculum import CurriculumPlan, FixedPlan
from packing.loader.source import ShardSource

__all__ = ["ShardDataset", "ShardLoader", "to_device", "STATE_VERSION"]

STATE_VERSION = 1
"""Version of the resume state's layout; a state from another version is refused."""

_ORDER_KEYS = ("seed", "world_size", "rows_per_rank", "drop_last", "shuffle_block_rows")
"""State entries that fix which rows a step holds: resuming with any other value would not be exact."""


def to_device(batch: dict[str, Any], device: torch.device | str) -> dict[str, Any]:
    """Move a batch's tensors with non_blocking=True (pinned sources copy asynchronously); ints stay Python ints
    (`max_seqlen` as a tensor would force a host sync or a graph break)."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


class ShardDataset(IterableDataset):
    """Batches of one rank from a carding output folder; one item = one step's batch for this rank.

    Items: `input_ids`, `labels`, `position_ids` (int64 tensors, (1, T) flat or (B, L) padded), `cu_seqlens`
    (int32 tensor), `max_seqlen` (int), `step`, `epoch` and `bucket` (ints; bucket -1 outside decomposition).
    Iterating yields the rest of the current epoch from `next_step`, then moves to the next epoch; with
    `infinite=True` it runs on through every later epoch. The manifest's counts are checked on open (and sha256 unless
    `config.verify_checksums` is False); workers reopen the files with counts only.
    """

    def __init__(self, out_dir: Path | str, config: LoaderConfig, *, rank: int = 0, world_size: int = 1,
                 infinite: bool = False) -> None:
        super().__init__()
        self.infinite = infinite
        if not 0 <= rank < world_size:
            raise ValueError(f"rank={rank}, world_size={world_size}: need 0 <= rank < world_size")
        self.out_dir = Path(out_dir)
        self.config = config
        self.rank = rank
        self.world_size = world_size
        self._source: ShardSource | None = self._open(config.verify_checksums)
        self.fingerprint = self._source.fingerprint
        self.n_rows = self._source.n_rows
        self.row_tokens = self._source.row_tokens
        manifest = self._source.manifest
        buckets = {int(b) for b in (manifest.get("counts") or {}).get("buckets", {}) or {}}
        self.plan: FixedPlan | CurriculumPlan
        if buckets - {-1}:  # dataset decomposition: the curriculum sampler, the same bucket on every rank per step
            self.plan = CurriculumPlan(self._source.row_buckets(), manifest.get("packer") or {},
                                       world_size=world_size, seed=config.seed)
        else:
            self.plan = FixedPlan(self.n_rows, world_size=world_size, rows_per_rank=config.rows_per_rank,
                                  drop_last=config.drop_last, seed=config.seed, block_rows=config.shuffle_block_rows)
        self.epoch = 0
        self.next_step = 0

    def _open(self, verify_checksums: bool) -> ShardSource:
        return ShardSource(self.out_dir, read_format=self.config.read_format, verify_checksums=verify_checksums,
                           parquet_cache_row_groups=self.config.parquet_cache_row_groups)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_source"] = None  # memory maps and Parquet handles are reopened in the worker
        return state

    def __len__(self) -> int:
        """Steps per epoch for this rank (every rank has the same count)."""
        return self.plan.n_steps

    def epoch_report(self) -> dict[str, Any]:
        """Rows, steps and the rows skipped per epoch (the drop_last tail, or the curriculum's partial steps)."""
        return {"plan": self.plan.kind, "rows": self.n_rows, "steps": self.plan.n_steps,
                "skipped_rows": self.plan.skipped_rows, **self.plan.report()}

    def skipped_rows(self, epoch: int) -> np.ndarray:
        """Global rows no rank reads in `epoch`, (n,) int64."""
        return self.plan.skipped(epoch)

    def state_dict(self) -> dict[str, Any]:
        """Where the next batch comes from: restore it with `load_state_dict` (any DataLoader worker count)."""
        state = {"version": STATE_VERSION, "fingerprint": self.fingerprint, "epoch": self.epoch,
                 "next_step": self.next_step, **self._order_state()}
        if isinstance(self.plan, CurriculumPlan):
            state["sampler"] = self.plan.state(self.epoch, self.next_step)
        return state

    def _order_state(self) -> dict[str, Any]:
        c = self.config
        if isinstance(self.plan, CurriculumPlan):  # rows per step come from batch_tokens / 2^k, not the config
            return {"seed": c.seed, "world_size": self.world_size, "rows_per_rank": None, "drop_last": None,
                    "shuffle_block_rows": None}
        return {"seed": c.seed, "world_size": self.world_size, "rows_per_rank": c.rows_per_rank,
                "drop_last": c.drop_last, "shuffle_block_rows": c.shuffle_block_rows}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state`; a state from other shards or another order layout raises, naming the cause."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"loader state version {state.get('version')!r}, this loader reads {STATE_VERSION}")
        if state.get("fingerprint") != self.fingerprint:
            raise ValueError(f"loader state is for shards with fingerprint {str(state.get('fingerprint'))[:16]}…, "
                             f"{self.out_dir} has {self.fingerprint[:16]}…: the shard set changed, so the saved "
                             "position means other rows; start a fresh epoch or point at the original folder")
        mine = self._order_state()
        differ = [f"{k}: saved {state.get(k)!r}, now {mine[k]!r}" for k in _ORDER_KEYS if state.get(k) != mine[k]]
        if differ:
            raise ValueError("loader state was saved with another order layout (" + "; ".join(differ) + "): resume "
                             "is exact only with the same seed, world size, rows per rank, drop_last and block size")
        epoch, step = int(state["epoch"]), int(state["next_step"])
        if epoch < 0 or not 0 <= step <= self.plan.n_steps:
            raise ValueError(f"loader state epoch={epoch}, next_step={step}: outside [0, {self.plan.n_steps}]")
        if "sampler" in state and isinstance(self.plan, CurriculumPlan) and \
                state["sampler"] != self.plan.state(epoch, step):
            raise ValueError("loader state's sampler position does not match its epoch and step for these shards "
                             "(a state from another carding version or edited by hand)")
        self.epoch, self.next_step = epoch, step

    def batch(self, epoch: int, step: int, source: ShardSource | None = None) -> dict[str, Any]:
        """This rank's batch of `step` in `epoch`, as tensors (also the building block of iteration)."""
        return self._batch(source or self._source_here(), epoch, step)

    def _batch(self, source: ShardSource, epoch: int, step: int) -> dict[str, Any]:
        rows = source.gather(self.plan.rows(epoch, step, self.rank))
        # padded width: the manifest's L for fixed rows; a curriculum step's rows all have its bucket's length
        fixed = isinstance(self.plan, FixedPlan)
        width = self.row_tokens if self.config.layout == Layout.PADDED and fixed else None
        out: dict[str, Any] = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
                               for k, v in build_batch(rows, self.config, width).items()}
        out["step"] = step
        out["epoch"] = epoch
        out["bucket"] = self.plan.bucket(epoch, step) if isinstance(self.plan, CurriculumPlan) else -1
        return out

    def _source_here(self) -> ShardSource:
        if self._source is None:
            self._source = self._open(verify_checksums=False)
        return self._source

    def advance(self, epoch: int, step: int) -> None:
        """Record that the batch of (`epoch`, `step`) was consumed: the next one is step + 1, or the next epoch."""
        self.epoch, self.next_step = (epoch, step + 1) if step + 1 < self.plan.n_steps else (epoch + 1, 0)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The rest of the current epoch, or, when `infinite`, every following epoch too.

        Steps are numbered across epochs (k = epoch * n_steps + step) and worker w of W builds k = start + w,
        start + w + W, ...: epochs follow each other with no restart of the workers and no gap in the round robin.
        """
        info = get_worker_info()
        worker, n_workers = (0, 1) if info is None else (info.id, info.num_workers)
        source = self._source_here()
        n_steps = self.plan.n_steps
        if self.infinite and n_steps == 0:
            raise ValueError(f"{self.out_dir}: {self.n_rows} rows make no step ({self.epoch_report()}); lower "
                             "rows_per_rank (or batch_tokens) or set drop_last=False")
        start = self.epoch * n_steps + self.next_step
        stop = None if self.infinite else (self.epoch + 1) * n_steps
        k = start + worker
        while stop is None or k < stop:
            epoch, step = divmod(k, n_steps)
            batch = self._batch(source, epoch, step)
            if info is None:  # in the consumer's process: keep the resume state current
                self.advance(epoch, step)
            yield batch
            k += n_workers
        if info is None and not self.infinite and start >= stop:  # an epoch with nothing left still moves on
            self.epoch, self.next_step = self.epoch + 1, 0


class ShardLoader:
    """A DataLoader over a `ShardDataset` that tracks the resume state in the training process.

    `for batch in loader` yields the rest of the current epoch; call it again for the next epoch (or pass
    `infinite=True`: one pass runs through every epoch, workers never restart, no wait at epoch edges). `state_dict()`
    after k batches, then `load_state_dict()` on a new loader (any `num_workers`), gives the same next batches.
    Tensors are pinned when CUDA is available; move them with `to_device`.
    """

    def __init__(self, out_dir: Path | str, config: LoaderConfig, *, rank: int = 0, world_size: int = 1,
                 num_workers: int = 0, pin_memory: bool | None = None, prefetch_factor: int | None = None,
                 infinite: bool = False) -> None:
        if num_workers < 0:
            raise ValueError(f"num_workers={num_workers}: must be >= 0 (0 reads in the training process)")
        self.dataset = ShardDataset(out_dir, config, rank=rank, world_size=world_size, infinite=infinite)
        self.num_workers = num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.prefetch_factor = prefetch_factor if num_workers else None

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        ds = self.dataset
        epoch, first = ds.epoch, ds.next_step
        loader = DataLoader(ds, batch_size=None, num_workers=self.num_workers, pin_memory=self.pin_memory,
                            prefetch_factor=self.prefetch_factor, persistent_workers=False)
        for batch in loader:
            ds.advance(int(batch["epoch"]), int(batch["step"]))
            yield batch
        if not ds.infinite and first >= ds.plan.n_steps:  # nothing was left of this epoch: move on all the same
            ds.epoch, ds.next_step = epoch + 1, 0

    def state_dict(self) -> dict[str, Any]:
        return self.dataset.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.dataset.load_state_dict(state)

    def epoch_report(self) -> dict[str, int]:
        return self.dataset.epoch_report()
