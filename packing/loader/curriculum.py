"""Step plans: which global rows rank r reads at (epoch, step), for fixed-length rows and for decomposition buckets.

`FixedPlan`: the block-shuffled epoch order cut into steps of world_size x rows_per_rank rows (`order.py`).
`CurriculumPlan`: dataset-decomposition shards (bucket k rows of 2^k tokens) go through the packing issue's
`packing.sampler.CurriculumSampler` (Pouransari et al. 2024 §2): every step holds b tokens from one bucket, the same
bucket on every rank, b / 2^k / world_size rows per rank. The sampler is keyed by a seed derived from (seed, epoch),
so each epoch reshuffles the buckets; an epoch's steps are drawn once per process (one rng draw per step, ~10 µs)
and any step is then a lookup, which is what worker sharding (step s on worker s mod W) and exact resume need.
Its resume state at a step is the sampler's own `state_dict()` (cycle, step in cycle, steps taken per bucket).
"""
from __future__ import annotations

import typing
from dataclasses import fields
from enum import StrEnum
from typing import Any

import numpy as np

from packing.loader.order import EpochOrder, StepPlan

__all__ = ["FixedPlan", "CurriculumPlan", "epoch_seed"]


def epoch_seed(seed: int, epoch: int) -> int:
    """A sampler seed for (seed, epoch): a uint32 from numpy's SeedSequence, the same on every machine."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])


class FixedPlan:
    """Fixed rows per rank per step over a block-shuffled epoch order."""

    kind = "fixed"

    def __init__(self, n_rows: int, *, world_size: int, rows_per_rank: int, drop_last: bool, seed: int,
                 block_rows: int) -> None:
        self.steps = StepPlan(n_rows, world_size, rows_per_rank, drop_last)
        self.n_rows, self.seed, self.block_rows = n_rows, seed, block_rows
        self._order: EpochOrder | None = None

    @property
    def n_steps(self) -> int:
        return self.steps.n_steps

    @property
    def skipped_rows(self) -> int:
        return self.steps.skipped_rows

    def _epoch_order(self, epoch: int) -> EpochOrder:
        if self._order is None or self._order_epoch != epoch:
            self._order = EpochOrder(self.n_rows, seed=self.seed, epoch=epoch, block_rows=self.block_rows)
            self._order_epoch = epoch
        return self._order

    def rows(self, epoch: int, step: int, rank: int) -> np.ndarray:
        """Global rows of `rank` at (`epoch`, `step`): (n,) int64."""
        return self._epoch_order(epoch).rows(*self.steps.positions(step, rank))

    def skipped(self, epoch: int) -> np.ndarray:
        if not self.skipped_rows:
            return np.empty(0, dtype=np.int64)
        return self._epoch_order(epoch).rows(self.n_rows - self.skipped_rows, self.n_rows)

    def state(self, epoch: int, step: int) -> dict[str, Any]:
        return {}

    def report(self) -> dict[str, int]:
        return {"rows_per_step": self.steps.step_rows, "tail_rows": self.steps.tail_rows}


def decomposition_config(packer: dict[str, Any], world_size: int) -> Any:
    """The manifest's `packer.decomposition` as a `packing.config.DecompositionConfig`, for `world_size` ranks.

    StrEnum fields come back from their JSON strings; a batch_tokens that does not split over the ranks raises
    (each rank must read b / 2^k / world_size whole rows)."""
    from packing.config import DecompositionConfig

    raw = dict(packer.get("decomposition") or {})
    hints = typing.get_type_hints(DecompositionConfig)
    known = {f.name for f in fields(DecompositionConfig)}
    kwargs = {}
    for name, value in raw.items():
        if name not in known:
            continue
        kind = hints.get(name)
        kwargs[name] = kind(value) if isinstance(kind, type) and issubclass(kind, StrEnum) else value
    kwargs["world_size"] = world_size
    return DecompositionConfig(**kwargs)


class CurriculumPlan:
    """Decomposition buckets through the curriculum sampler; the same bucket on every rank per step."""

    kind = "curriculum"

    def __init__(self, row_buckets: np.ndarray, packer: dict[str, Any], *, world_size: int, seed: int) -> None:
        """row_buckets: (N,) bucket of each global row in manifest order; packer: the manifest's `packer`."""
        self.config = decomposition_config(packer, world_size)
        self.world_size, self.seed = world_size, seed
        row_buckets = np.asarray(row_buckets)
        keys, counts = np.unique(row_buckets, return_counts=True)
        # bucket k's i-th row in shard order -> global row (the sampler's row numbering)
        order = np.argsort(row_buckets, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)])
        self.bucket_rows = {int(k): order[starts[i]:starts[i + 1]].astype(np.int64) for i, k in enumerate(keys)}
        self.bucket_counts = {int(k): int(c) for k, c in zip(keys, counts)}
        self._epoch: int | None = None
        self._steps: list[Any] = []
        self._sampler: Any = None
        self._first_of_cycle: np.ndarray = np.empty(0, dtype=np.int64)
        self._load(0)

    def _load(self, epoch: int) -> None:
        if self._epoch == epoch:
            return
        from packing.sampler import CurriculumSampler

        self._sampler = CurriculumSampler(self.bucket_counts, self.config, seed=epoch_seed(self.seed, epoch))
        self._steps = list(self._sampler)
        cycles = np.array([s.cycle for s in self._steps], dtype=np.int64)
        self._first_of_cycle = np.searchsorted(cycles, np.arange(self.config.cycles + 1), side="left")
        self._epoch = epoch

    @property
    def n_steps(self) -> int:
        return len(self._steps)

    @property
    def skipped_rows(self) -> int:
        return int(self._sampler.dropped_rows)

    def bucket(self, epoch: int, step: int) -> int:
        self._load(epoch)
        return int(self._steps[step].bucket)

    def rows(self, epoch: int, step: int, rank: int) -> np.ndarray:
        self._load(epoch)
        s = self._steps[step]
        return self.bucket_rows[int(s.bucket)][s.for_rank(rank, self.world_size)]

    def skipped(self, epoch: int) -> np.ndarray:
        """Rows in no step of `epoch` (each part's last partial step, dropped by the sampler)."""
        self._load(epoch)
        used = np.zeros(sum(self.bucket_counts.values()), dtype=bool)
        for s in self._steps:
            used[self.bucket_rows[int(s.bucket)][s.rows]] = True
        return np.flatnonzero(~used)

    def state(self, epoch: int, step: int) -> dict[str, Any]:
        """The sampler's state_dict() positioned before `step` of `epoch` (what it would resume from)."""
        self._load(epoch)
        if step >= len(self._steps):
            cycle, in_cycle, taken = self.config.cycles, 0, {}
        else:
            cycle = int(self._steps[step].cycle)
            first = int(self._first_of_cycle[cycle])
            in_cycle = step - first
            taken = {}
            for s in self._steps[first:step]:
                taken[int(s.bucket)] = taken.get(int(s.bucket), 0) + 1
        from packing.sampler import STATE_VERSION

        return {"version": STATE_VERSION, "seed": epoch_seed(self.seed, epoch), "cycle": cycle,
                "step_in_cycle": in_cycle, "taken": {str(k): taken.get(k, 0) for k in self._sampler.buckets}}

    def report(self) -> dict[str, int]:
        return {"batch_tokens": self.config.batch_tokens, "buckets": len(self.bucket_counts)}
