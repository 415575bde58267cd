"""Variable-sequence-length curriculum over decomposition buckets (Pouransari et al. 2024 §2, Table 2).

Every step holds the same number of tokens b: a step drawn from bucket k is b / 2^k rows of 2^k tokens, so the
optimizer sees a fixed token count while the attention cost per step is b * 2^k instead of b * L. Each bucket
is shuffled (seed, bucket) and split into `cycles` parts; in cycle j a step's bucket is drawn with weight
odds[k] * [part j of bucket k still has a full step], without replacement, so short buckets (large odds) run out
first and each cycle goes short -> long. The draw for step s of cycle j uses an rng seeded by (seed, j, s) only,
so every rank draws the same bucket and the state is three small things: (cycle, step in cycle, steps taken per
bucket in this cycle). A part's last partial step (fewer than b / 2^k rows) is dropped and counted.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from packing.config import Curriculum, DecompositionConfig

STATE_VERSION = 1


def curriculum_odds(curriculum: Curriculum, kmin: int, kmax: int) -> dict[int, float]:
    """Odds per bucket, short to long (DD Table 2). D8..D13: uniform 1:..:1, grow_linear 6:5:4:3:2:1,
    grow_p2 32:16:8:4:2:1."""
    n = kmax - kmin + 1
    if curriculum == Curriculum.UNIFORM:
        values = [1.0] * n
    elif curriculum == Curriculum.GROW_LINEAR:
        values = [float(n - i) for i in range(n)]
    else:
        values = [float(2 ** (n - 1 - i)) for i in range(n)]
    return {kmin + i: v for i, v in enumerate(values)}


@dataclass(frozen=True, slots=True)
class Step:
    """One optimizer step: `rows` are indices into bucket `bucket` (its rows in shard order), b / 2^k of them."""

    cycle: int
    index: int
    """Global step number since the start of the epoch."""
    bucket: int
    rows: np.ndarray
    """(b / 2^bucket,) int64 row indices within the bucket."""

    def for_rank(self, rank: int, world_size: int) -> np.ndarray:
        """This rank's contiguous share of the step's rows (b / 2^k / world_size of them)."""
        per = len(self.rows) // world_size
        return self.rows[rank * per:(rank + 1) * per]


class CurriculumSampler:
    """Seeded, resumable batch sampler over decomposition buckets; see the module docstring.

    bucket_rows: rows per bucket (the manifest's `buckets` counts, int or str keys); buckets outside kmin..kmax raise
    ValueError. Row i of bucket k is the i-th row of that bucket in shard order.
    """

    def __init__(self, bucket_rows: dict[int, int] | dict[str, int], config: DecompositionConfig,
                 seed: int = 0) -> None:
        bucket_rows = {int(k): int(v) for k, v in bucket_rows.items()}  # the manifest's JSON keys are strings
        self.config = config
        self.seed = seed
        odds = curriculum_odds(config.curriculum, config.kmin, config.kmax)
        for k in bucket_rows:
            if k not in odds:
                raise ValueError(f"bucket {k} is outside kmin..kmax = {config.kmin}..{config.kmax}; "
                                 "decompose and sample with the same decomposition config")
        self.buckets = sorted(k for k, n in bucket_rows.items() if n > 0)
        self.odds = np.array([odds[k] for k in self.buckets])
        self.rows_per_step = np.array([config.batch_tokens >> k for k in self.buckets], dtype=np.int64)
        # parts[c][i]: row indices of bucket i used in cycle c (shuffled bucket split into `cycles` parts)
        self.parts: list[list[np.ndarray]] = [[] for _ in range(config.cycles)]
        for k in self.buckets:
            perm = np.random.default_rng([seed, k]).permutation(bucket_rows[k])
            for c, part in enumerate(np.array_split(perm, config.cycles)):
                self.parts[c].append(part)
        self.steps_in_part = np.array([[len(p) // r for p, r in zip(parts, self.rows_per_step)]
                                       for parts in self.parts], dtype=np.int64).reshape(config.cycles, -1)
        self.dropped_rows = int(sum(len(p) % r for parts in self.parts for p, r in zip(parts, self.rows_per_step)))
        """Rows left in a part's last partial step: never yielded (DD needs full b-token steps)."""
        self.total_steps = int(self.steps_in_part.sum())
        self._cycle = 0
        self._step_in_cycle = 0
        self._taken = np.zeros(len(self.buckets), dtype=np.int64)

    def state_dict(self) -> dict[str, Any]:
        """Where the sampler stands: enough, with the same inputs and config, to resume at the next step."""
        return {"version": STATE_VERSION, "seed": self.seed, "cycle": self._cycle, "step_in_cycle": self._step_in_cycle,
                "taken": {str(k): int(t) for k, t in zip(self.buckets, self._taken)}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from `state_dict()`; a different seed or bucket set raises ValueError (the rows would differ)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"sampler state version {state.get('version')!r}; this sampler reads {STATE_VERSION}")
        if state["seed"] != self.seed or sorted(int(k) for k in state["taken"]) != self.buckets:
            raise ValueError(f"sampler state is for seed {state['seed']} and buckets {sorted(state['taken'])}; this "
                             f"sampler has seed {self.seed} and buckets {self.buckets}: build it from the same inputs")
        self._cycle = int(state["cycle"])
        self._step_in_cycle = int(state["step_in_cycle"])
        self._taken = np.array([int(state["taken"][str(k)]) for k in self.buckets], dtype=np.int64)

    def __iter__(self) -> Iterator[Step]:
        while self._cycle < self.config.cycles:
            left = self.steps_in_part[self._cycle] - self._taken
            if not (left > 0).any():
                self._cycle += 1
                self._step_in_cycle = 0
                self._taken[:] = 0
                continue
            weights = self.odds * (left > 0)
            rng = np.random.default_rng([self.seed, self._cycle, self._step_in_cycle])
            i = int(rng.choice(len(weights), p=weights / weights.sum()))
            r = self.rows_per_step[i]
            t = self._taken[i]
            rows = self.parts[self._cycle][i][t * r:(t + 1) * r]
            index = int(self.steps_in_part[:self._cycle].sum()) + self._step_in_cycle
            self._taken[i] += 1
            self._step_in_cycle += 1
            yield Step(cycle=self._cycle, index=index, bucket=self.buckets[i], rows=rows)

    def attention_cost(self) -> dict[str, float]:
        """Sum of squared row lengths over the epoch vs the same tokens as concat-and-chunk rows of 2^kmax.

        A step of bucket k costs (b / 2^k) * 4^k = b * 2^k; concat-and-chunk at L = 2^kmax costs b * L per step.
        """
        b = self.config.batch_tokens
        steps = self.steps_in_part.sum(axis=0)
        ours = float(sum(int(s) * b * 2**k for s, k in zip(steps, self.buckets)))
        concat = float(int(steps.sum()) * b * 2**self.config.kmax)
        return {"steps": float(steps.sum()), "attention_cost": ours, "concat_attention_cost": concat,
                "ratio": ours / concat if concat else 0.0}
