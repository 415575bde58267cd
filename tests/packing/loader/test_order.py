"""Epoch order and sharding: every row exactly once per epoch across ranks x workers (drop_last=False), at most
once with drop_last=True and the skipped set equal to the counted tail; the order depends on (seed, epoch) only."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from packing.loader import LoaderConfig, ShardLoader
from packing.loader.order import EpochOrder, StepPlan

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")  # 3 workers on 2 cores


@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 300), block=st.integers(1, 64), seed=st.integers(0, 2**32), epoch=st.integers(0, 5),
       cuts=st.lists(st.integers(0, 300), max_size=6))
def test_epoch_order_is_a_bijection_and_slices_agree(n, block, seed, epoch, cuts) -> None:
    order = EpochOrder(n, seed=seed, epoch=epoch, block_rows=block)
    full = order.rows(0, n)
    assert sorted(full.tolist()) == list(range(n))
    edges = sorted({0, n, *(min(c, n) for c in cuts)})
    pieces = [EpochOrder(n, seed=seed, epoch=epoch, block_rows=block).rows(a, b) for a, b in zip(edges, edges[1:])]
    assert np.concatenate(pieces or [np.empty(0, np.int64)]).tolist() == full.tolist()


def test_order_depends_on_seed_and_epoch() -> None:
    a = EpochOrder(1000, seed=1, epoch=0, block_rows=100).rows(0, 1000)
    assert (a == EpochOrder(1000, seed=1, epoch=0, block_rows=100).rows(0, 1000)).all()
    assert not (a == EpochOrder(1000, seed=1, epoch=1, block_rows=100).rows(0, 1000)).all()
    assert not (a == EpochOrder(1000, seed=2, epoch=0, block_rows=100).rows(0, 1000)).all()


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 200), world=st.integers(1, 5), per_rank=st.integers(1, 9), drop_last=st.booleans())
def test_step_plan_covers_positions(n, world, per_rank, drop_last) -> None:
    """Ranks' slices tile [0, N) (or [0, N - tail)) without overlap; every rank has the same number of steps."""
    plan = StepPlan(n, world, per_rank, drop_last)
    seen = []
    for step in range(plan.n_steps):
        sizes = []
        for rank in range(world):
            a, b = plan.positions(step, rank)
            seen += range(a, b)
            sizes.append(b - a)
        assert max(sizes) - min(sizes) <= (0 if step < plan.full_steps else 1)
    assert seen == list(range(n - plan.skipped_rows))
    assert plan.skipped_rows == (n % (world * per_rank) if drop_last else 0)


def batch_rows(batch) -> list[int]:
    """Global rows of a flat batch built with reset_position_ids=False: the token at each row start (stamped)."""
    starts = np.flatnonzero(batch["position_ids"][0].numpy() == 0)
    return batch["input_ids"][0].numpy()[starts].tolist()


@pytest.mark.parametrize("world", [1, 2, 3, 4])
@pytest.mark.parametrize("workers", [0, 1, 3])
@pytest.mark.parametrize("drop_last", [False, True])
def test_exactly_once_across_ranks_and_workers(make_output, world, workers, drop_last) -> None:
    """The acceptance property with real DataLoader workers: 47 rows (a prime, so every world size leaves a tail)."""
    out = make_output(47, 16, seed=3)
    config = LoaderConfig(rows_per_rank=2, seed=5, drop_last=drop_last, shuffle_block_rows=8,
                          reset_position_ids=False, verify_checksums=False)
    seen: Counter[int] = Counter()
    steps = set()
    for rank in range(world):
        loader = ShardLoader(out, config, rank=rank, world_size=world, num_workers=workers)
        n_batches = 0
        for batch in loader:
            assert batch["step"] == n_batches  # in-order round robin over workers restores step order
            n_batches += 1
            seen.update(batch_rows(batch))
        steps.add(n_batches)
        assert loader.state_dict()["epoch"] == 1 and loader.state_dict()["next_step"] == 0
    assert len(steps) == 1, "every rank takes the same number of steps"
    assert all(c == 1 for c in seen.values())
    tail = 47 % (world * 2)
    if drop_last:
        skipped = set(loader.dataset.skipped_rows(0).tolist())
        assert len(skipped) == tail == loader.epoch_report()["skipped_rows"]
        assert set(seen) | skipped == set(range(47)) and not set(seen) & skipped
    else:
        assert set(seen) == set(range(47))
