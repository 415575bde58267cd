"""Curriculum sampler: fixed tokens per step, short-to-long cycles, every row at most once, exact resume.

Protects DD's training contract (b tokens per step, Grow-P2 odds without replacement, Pouransari et al. 2024
Table 2) and the resume contract (STYLE.md §8: stop after k steps, save, restart, same next steps).
"""
from __future__ import annotations

import numpy as np
import pytest

from packing import Curriculum, DecompositionConfig
from packing.sampler import CurriculumSampler, curriculum_odds

CONFIG = DecompositionConfig(kmin=2, kmax=5, batch_tokens=64, world_size=2, cycles=3)
ROWS = {2: 400, 3: 190, 4: 90, 5: 41}


def test_paper_odds():
    assert list(curriculum_odds(Curriculum.GROW_P2, 8, 13).values()) == [32, 16, 8, 4, 2, 1]
    assert list(curriculum_odds(Curriculum.GROW_LINEAR, 8, 13).values()) == [6, 5, 4, 3, 2, 1]
    assert list(curriculum_odds(Curriculum.UNIFORM, 8, 13).values()) == [1] * 6


def test_steps_have_fixed_tokens_and_use_rows_once():
    sampler = CurriculumSampler(ROWS, CONFIG, seed=3)
    steps = list(sampler)
    assert len(steps) == sampler.total_steps > 0
    seen: dict[int, list[int]] = {k: [] for k in ROWS}
    for s in steps:
        assert len(s.rows) * 2**s.bucket == CONFIG.batch_tokens
        shares = [s.for_rank(r, CONFIG.world_size) for r in range(CONFIG.world_size)]
        assert np.array_equal(np.concatenate(shares), s.rows)
        seen[s.bucket].extend(s.rows.tolist())
    used = 0
    for k, rows in seen.items():
        assert len(rows) == len(set(rows)) and all(0 <= r < ROWS[k] for r in rows)
        used += len(rows)
    assert used + sampler.dropped_rows == sum(ROWS.values())
    assert sampler.dropped_rows > 0  # the fixture hits the partial-step case
    assert [s.index for s in steps] == list(range(len(steps)))


def test_grow_p2_cycles_go_short_to_long():
    """Within each cycle the mean bucket of the first half of steps is below that of the second half."""
    steps = list(CurriculumSampler(ROWS, CONFIG, seed=0))
    for c in range(CONFIG.cycles):
        ks = [s.bucket for s in steps if s.cycle == c]
        half = len(ks) // 2
        assert np.mean(ks[:half]) < np.mean(ks[half:])


def test_resume_gives_the_same_next_steps():
    full = list(CurriculumSampler(ROWS, CONFIG, seed=7))
    first = CurriculumSampler(ROWS, CONFIG, seed=7)
    it = iter(first)
    head = [next(it) for _ in range(11)]
    state = first.state_dict()
    resumed = CurriculumSampler(ROWS, CONFIG, seed=7)
    resumed.load_state_dict(state)
    rest = list(resumed)
    got = head + rest
    assert len(got) == len(full)
    for a, b in zip(got, full):
        assert (a.cycle, a.index, a.bucket) == (b.cycle, b.index, b.bucket) and np.array_equal(a.rows, b.rows)
    with pytest.raises(ValueError, match="seed 7"):
        CurriculumSampler(ROWS, CONFIG, seed=8).load_state_dict(state)


def test_attention_cost_below_concat():
    cost = CurriculumSampler(ROWS, CONFIG).attention_cost()
    assert 0 < cost["ratio"] < 1


def test_batch_tokens_must_split_over_ranks():
    with pytest.raises(ValueError, match="multiple of 2\\^kmax \\* world_size"):
        DecompositionConfig(kmin=2, kmax=5, batch_tokens=48, world_size=2)
