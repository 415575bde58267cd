"""Dataset-decomposition shards: the loader uses the packing issue's curriculum sampler. Every step holds
batch_tokens tokens of one bucket on every rank, rows are read at most once per epoch (the sampler's dropped
partial steps are the skipped set), and resume (with the sampler's own state) gives the same next batches."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from packing.config import Curriculum, DecompositionConfig
from packing.loader import LoaderConfig, ShardLoader
from packing.loader.curriculum import epoch_seed
from packing.loader.synthetic import sequence_schema
from packing.sampler import CurriculumSampler
from pipelines.manifest import write_manifest
from pipelines.shards import ShardConfig, write_shards

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")

BUCKET_ROWS = {2: 40, 3: 30, 4: 20}
DECOMPOSITION = {"kmin": 2, "kmax": 4, "flavour": "paper", "short_rest": "drop", "curriculum": "grow_p2",
                 "cycles": 2, "batch_tokens": 64, "world_size": 1}


def _dd_output(out: Path) -> Path:
    """One partition per bucket (as the runner writes them); row g's first token is g (its global index)."""
    rng = np.random.default_rng(0)
    entries, g = [], 0
    for k, n in BUCKET_ROWS.items():
        ids = rng.integers(100, 60_000, size=(n, 2**k)).astype(np.uint16)
        ids[:, 0] = np.arange(g, g + n)
        table = pa.Table.from_pydict({
            "input_ids": pa.array(list(ids), pa.list_(pa.uint16())),
            "doc_lens": pa.array([[2**k]] * n, pa.list_(pa.int32())),
            "doc_ids": pa.array([[f"web:{g + i}@0"] for i in range(n)], pa.list_(pa.string())),
            "bucket": pa.array([k] * n, pa.int16())}, schema=sequence_schema(pa.uint16()))
        entries += write_shards(table, out, f"b{k:02d}", ShardConfig(shard_target_mb=0.0005))
        g += n
    write_manifest(out, {"row_tokens": 16, "packer": {"packer": "decomposition", "decomposition": DECOMPOSITION},
                         "counts": {"buckets": {str(k): n for k, n in BUCKET_ROWS.items()}}, "shards": entries})
    return out


@pytest.mark.parametrize("world", [1, 2, 4])
@pytest.mark.parametrize("workers", [0, 2])
def test_same_bucket_fixed_tokens_at_most_once(tmp_path: Path, world: int, workers: int) -> None:
    out = _dd_output(tmp_path / "dd")
    config = LoaderConfig(rows_per_rank=1, seed=3, verify_checksums=False)
    per_rank = [list(ShardLoader(out, config, rank=r, world_size=world, num_workers=workers)) for r in range(world)]
    assert len({len(b) for b in per_rank}) == 1 and len(per_rank[0]) > 3, "fixture must give several steps"
    seen: Counter[int] = Counter()
    for step_batches in zip(*per_rank):
        assert len({b["bucket"] for b in step_batches}) == 1, "every rank reads the same bucket in a step"
        k = step_batches[0]["bucket"]
        assert sum(b["input_ids"].shape[1] for b in step_batches) == DECOMPOSITION["batch_tokens"]
        for b in step_batches:
            assert b["max_seqlen"] == 2**k and b["input_ids"].shape[1] == 64 // world
            seen.update(b["input_ids"][0, b["cu_seqlens"][:-1].long()].tolist())
    assert all(c == 1 for c in seen.values())
    loader = ShardLoader(out, config, world_size=world)
    skipped = set(loader.dataset.skipped_rows(0).tolist())
    assert len(skipped) == loader.epoch_report()["skipped_rows"] > 0
    assert set(seen) | skipped == set(range(sum(BUCKET_ROWS.values()))) and not set(seen) & skipped
    buckets_in_order = [b["bucket"] for b in per_rank[0]]
    assert buckets_in_order != sorted(buckets_in_order, reverse=True)  # short buckets come early in each cycle


def test_resume_and_sampler_state(tmp_path: Path) -> None:
    out = _dd_output(tmp_path / "dd")
    config = LoaderConfig(rows_per_rank=1, seed=5, verify_checksums=False)
    reference = list(ShardLoader(out, config, rank=1, world_size=2))
    first = ShardLoader(out, config, rank=1, world_size=2, num_workers=2)
    it = iter(first)
    head = [next(it) for _ in range(3)]
    state = first.state_dict()
    del it
    # the sampler state is the packing sampler's own: loading it there continues with the loader's next step
    sampler = CurriculumSampler({k: n for k, n in BUCKET_ROWS.items()},
                                DecompositionConfig(kmin=2, kmax=4, curriculum=Curriculum.GROW_P2, cycles=2,
                                                    batch_tokens=64, world_size=2), seed=epoch_seed(5, 0))
    sampler.load_state_dict(state["sampler"])
    assert next(iter(sampler)).bucket == reference[3]["bucket"]
    resumed = ShardLoader(out, config, rank=1, world_size=2, num_workers=0)
    resumed.load_state_dict(state)
    tail = list(resumed)
    for a, b in zip(head + tail, reference, strict=True):
        assert a["step"] == b["step"] and a["bucket"] == b["bucket"]
        assert all(bool((a[k] == b[k]).all()) for k in ("input_ids", "labels", "position_ids", "cu_seqlens"))
    with pytest.raises(ValueError, match="world_size: saved 2, now 1"):
        ShardLoader(out, config).load_state_dict(state)


def test_batch_tokens_must_split_over_ranks(tmp_path: Path) -> None:
    out = _dd_output(tmp_path / "dd")
    with pytest.raises(ValueError, match="batch_tokens=64"):
        ShardLoader(out, LoaderConfig(rows_per_rank=1), world_size=8)
