"""Resume: save after k steps, reload with another worker count -> identical next batches (STYLE.md §8); a state
from other shards or another order layout is refused, naming the cause."""
from __future__ import annotations

import pytest
import torch

from packing.loader import LoaderConfig, ShardDataset, ShardLoader

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")


def _same(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(torch.equal(x[k], y[k]) if isinstance(x[k], torch.Tensor) else x[k] == y[k]
                                     for k in x) for x, y in zip(a, b))


@pytest.mark.parametrize("layout", ["flat", "padded"])
@pytest.mark.parametrize("workers_before, workers_after", [(0, 3), (2, 0), (3, 1)])
def test_resume_with_another_worker_count(make_output, layout, workers_before, workers_after) -> None:
    out = make_output(70, 24, seed=9)
    config = LoaderConfig(rows_per_rank=3, seed=11, shuffle_block_rows=16, layout=layout, verify_checksums=False)
    reference = list(ShardLoader(out, config, rank=1, world_size=2))  # one uninterrupted epoch
    assert len(reference) == 70 // 6
    k = 4
    first = ShardLoader(out, config, rank=1, world_size=2, num_workers=workers_before)
    it = iter(first)
    head = [next(it) for _ in range(k)]
    state = first.state_dict()
    del it
    assert state["next_step"] == k and state["epoch"] == 0
    resumed = ShardLoader(out, config, rank=1, world_size=2, num_workers=workers_after)
    resumed.load_state_dict(state)
    tail = list(resumed)
    assert _same(head, reference[:k]) and _same(tail, reference[k:])
    # the next epoch continues in a new order, identical for a fresh loader set to that epoch
    assert resumed.state_dict()["epoch"] == 1
    next_epoch = list(resumed)
    fresh = ShardLoader(out, config, rank=1, world_size=2)
    fresh.load_state_dict({**state, "epoch": 1, "next_step": 0})
    assert _same(next_epoch, list(fresh)) and not _same(next_epoch, reference)


def test_direct_iteration_keeps_state(make_output) -> None:
    out = make_output(40, 16)
    ds = ShardDataset(out, LoaderConfig(rows_per_rank=4, shuffle_block_rows=8))
    it = iter(ds)
    [next(it) for _ in range(3)]
    state = ds.state_dict()
    again = ShardDataset(out, LoaderConfig(rows_per_rank=4, shuffle_block_rows=8))
    again.load_state_dict(state)
    assert _same([next(it)], [next(iter(again))])


def test_other_fingerprint_is_refused(make_output) -> None:
    config = LoaderConfig(rows_per_rank=2, verify_checksums=False)
    state = ShardLoader(make_output(30, 16, seed=1), config).state_dict()
    other = ShardLoader(make_output(30, 16, seed=2), config)
    with pytest.raises(ValueError, match="the shard set changed"):
        other.load_state_dict(state)


def test_other_order_layout_is_refused(make_output) -> None:
    out = make_output(30, 16)
    state = ShardLoader(out, LoaderConfig(rows_per_rank=2), world_size=2).state_dict()
    with pytest.raises(ValueError, match="world_size: saved 2, now 1"):
        ShardLoader(out, LoaderConfig(rows_per_rank=2)).load_state_dict(state)
    with pytest.raises(ValueError, match="rows_per_rank: saved 2, now 3"):
        ShardLoader(out, LoaderConfig(rows_per_rank=3), world_size=2).load_state_dict(state)
    with pytest.raises(ValueError, match="seed: saved 0, now 1"):
        ShardLoader(out, LoaderConfig(rows_per_rank=2, seed=1), world_size=2).load_state_dict(state)


@pytest.mark.parametrize("workers", [0, 2])
def test_infinite_runs_through_epochs_and_resumes(make_output, workers) -> None:
    """infinite=True gives epoch 0 then epoch 1 ... in the same order as epoch-by-epoch loaders; its state resumes."""
    out = make_output(30, 16, seed=4)
    config = LoaderConfig(rows_per_rank=4, seed=2, shuffle_block_rows=8, verify_checksums=False)
    stepwise = ShardLoader(out, config)
    reference = list(stepwise) + list(stepwise) + list(stepwise)
    assert [b["epoch"] for b in reference].count(1) == 7
    loader = ShardLoader(out, config, num_workers=workers, infinite=True)
    it = iter(loader)
    got = [next(it) for _ in range(10)]
    state = loader.state_dict()
    assert (state["epoch"], state["next_step"]) == (1, 3)
    del it
    resumed = ShardLoader(out, config, num_workers=2 - workers, infinite=True)
    resumed.load_state_dict(state)
    it = iter(resumed)
    got += [next(it) for _ in range(11)]
    assert _same(got, reference)
