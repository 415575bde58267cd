"""Epoch order and step plan: which global rows rank r reads at step s (spec shards-loader.md, "order, sharding").

The order is a bijection on [0, N) built from (seed, epoch) alone: permute the ceil(N / B) blocks of B rows, then
the rows inside each block, drawing each block's permutation from rng(seed, epoch, block) only when a step reaches
it. Memory is O(N / B + B) whatever N is, and any position can be mapped without replaying earlier steps, so a
resume costs one block permutation, not an epoch of skipping (OLMo-core replays its global indices instead).

A global step covers positions [s * G, (s + 1) * G) with G = world_size * rows_per_rank; rank r takes the
contiguous slice [r * rows_per_rank, (r + 1) * rows_per_rank) of it. The tail of N mod G positions is skipped
(drop_last) or becomes one smaller step split as evenly as possible (earlier ranks get the extra rows).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EpochOrder", "StepPlan"]


def _rng(*key: int) -> np.random.Generator:
    """A generator keyed by integers: the same key gives the same stream on every machine and numpy 2.x."""
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


class EpochOrder:
    """The position -> global row bijection of one epoch (block shuffle, O(N / B + B) memory)."""

    def __init__(self, n_rows: int, *, seed: int, epoch: int, block_rows: int) -> None:
        if n_rows < 0 or block_rows < 1 or seed < 0 or epoch < 0:
            raise ValueError(f"n_rows={n_rows}, block_rows={block_rows}, seed={seed}, epoch={epoch}: need n_rows "
                             ">= 0, block_rows >= 1, seed >= 0, epoch >= 0")
        self.n_rows = n_rows
        self.block_rows = block_rows
        self._seed = seed
        self._epoch = epoch
        n_blocks = -(-n_rows // block_rows)
        self._blocks = _rng(seed, epoch).permutation(n_blocks).astype(np.int64)
        lengths = np.minimum(block_rows, n_rows - self._blocks * block_rows)
        # _starts[i] = first position of the i-th block in the permuted order (the short last block may sit anywhere)
        self._starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self._cache: dict[int, np.ndarray] = {}

    def _block_perm(self, block: int) -> np.ndarray:
        perm = self._cache.get(block)
        if perm is None:
            length = min(self.block_rows, self.n_rows - block * self.block_rows)
            perm = _rng(self._seed, self._epoch, block).permutation(length).astype(np.int64)
            if len(self._cache) >= 2:  # a step spans at most a few blocks; keep the current and the next
                self._cache.pop(next(iter(self._cache)))
            self._cache[block] = perm
        return perm

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Global rows at positions [start, stop): (stop - start,) int64.

        Example: N = 5, B = 2, block order [2, 0, 1] -> starts [0, 1, 3, 5]; positions [0, 2) are block 2's only
        row (4) and block 0's first row in its own permutation.
        """
        if not 0 <= start <= stop <= self.n_rows:
            raise IndexError(f"positions [{start}, {stop}) outside the epoch's [0, {self.n_rows})")
        out = []
        i = int(np.searchsorted(self._starts, start, side="right")) - 1
        pos = start
        while pos < stop:
            block = int(self._blocks[i])
            lo = pos - int(self._starts[i])
            hi = min(stop, int(self._starts[i + 1])) - int(self._starts[i])
            out.append(block * self.block_rows + self._block_perm(block)[lo:hi])
            pos += hi - lo
            i += 1
        return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class StepPlan:
    """Steps of one epoch and each rank's slice of positions."""

    n_rows: int
    world_size: int
    rows_per_rank: int
    drop_last: bool

    def __post_init__(self) -> None:
        if self.world_size < 1 or self.rows_per_rank < 1 or self.n_rows < 0:
            raise ValueError(f"world_size={self.world_size}, rows_per_rank={self.rows_per_rank}, "
                             f"n_rows={self.n_rows}: need world_size >= 1, rows_per_rank >= 1, n_rows >= 0")

    @property
    def step_rows(self) -> int:
        """G: rows of one global step."""
        return self.world_size * self.rows_per_rank

    @property
    def full_steps(self) -> int:
        return self.n_rows // self.step_rows

    @property
    def tail_rows(self) -> int:
        """N mod G: positions that do not fill a global step."""
        return self.n_rows % self.step_rows

    @property
    def n_steps(self) -> int:
        return self.full_steps + (1 if self.tail_rows and not self.drop_last else 0)

    @property
    def skipped_rows(self) -> int:
        """Positions no rank reads this epoch: the tail under drop_last, else 0."""
        return self.tail_rows if self.drop_last else 0

    def positions(self, step: int, rank: int) -> tuple[int, int]:
        """[start, stop) positions of `rank` at `step`; in the tail step a rank may get zero rows.

        Tail example: G = 4 x 2, tail 5 -> ranks take 2, 1, 1, 1 rows (sizes tail // W, +1 for the first tail % W).
        """
        if not 0 <= rank < self.world_size:
            raise IndexError(f"rank={rank}: must be in [0, {self.world_size})")
        if not 0 <= step < self.n_steps:
            raise IndexError(f"step={step}: the epoch has {self.n_steps} steps")
        if step < self.full_steps:
            start = step * self.step_rows + rank * self.rows_per_rank
            return start, start + self.rows_per_rank
        base, extra = divmod(self.tail_rows, self.world_size)
        start = self.full_steps * self.step_rows + rank * base + min(rank, extra)
        return start, start + base + (1 if rank < extra else 0)
