"""`filter.quality.keep_top_fraction` becomes one threshold for the whole run, fixed on the driver before the map.

Protects determinism across CPU counts: a per-worker estimate would depend on which partition each worker read
first. Here the threshold must not depend on the order the partitions are listed in, and with a sample covering
every document it must keep exactly the asked share of the documents that reach the classifier. No Ray.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines.config import PipelineConfig, build
from pipelines.quality_threshold import fix_quality_threshold
from stages.filter import FilterChain, QualityTrainConfig, train_quality_classifier
from stages.read import plan_partitions, read_partition
from stages.schema import REASON
from tests.data.bad_inputs import prose

JUNK = ["click", "here", "buy", "now", "lol", "free", "!!!", "win", "cheap", "deal", "subscribe", "login", "#tag"]


def _junk(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(JUNK) for _ in range(n_words))


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[PipelineConfig, int]:
    """A small quality model (generated prose against generated spam) and 4 JSONL files mixing both kinds."""
    tmp = tmp_path_factory.mktemp("qthreshold")
    rng = random.Random(5)
    good = [{"id": f"good-{i}", "text": prose(rng, rng.randint(30, 120))} for i in range(220)]
    bad = [{"id": f"bad-{i}", "text": _junk(rng, rng.randint(30, 120))} for i in range(220)]
    for name, rows in (("pos.jsonl", good[:150]), ("neg.jsonl", bad[:150])):
        (tmp / name).write_text("".join(json.dumps(d) + "\n" for d in rows))
    model = tmp / "quality.bin"
    train_quality_classifier(QualityTrainConfig(positive_paths=[str(tmp / "pos.jsonl")],
                                                negative_paths=[str(tmp / "neg.jsonl")], dim=16, epoch=5), model)
    # the model has seen the first 150 of each kind; the run reads the other 70 + a few seen ones, mixed
    picked = good[100:] + bad[100:]
    rng.shuffle(picked)
    folder = tmp / "input"
    folder.mkdir()
    for k in range(4):
        (folder / f"part{k}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in picked[k::4]))
    config = build(PipelineConfig, {
        "input": {"paths": [str(folder)]}, "output": {"dir": str(tmp / "out")},
        "filter": {"gopher_repetition": None, "gopher_quality": None, "c4": None, "fineweb": None,
                   "length": {"min_chars": 40},
                   "quality": {"model_path": str(model), "keep_top_fraction": 0.25, "seed": 3}},
    }, "test")
    return config, len(picked)


def test_no_share_leaves_the_config_alone(setup) -> None:
    config, _ = setup
    fixed = replace(config, filter=replace(config.filter, quality=replace(
        config.filter.quality, keep_top_fraction=None, min_score=0.4)))
    assert fix_quality_threshold(fixed, plan_partitions(fixed.input)) == (fixed, None)


def test_one_threshold_keeps_the_share_whatever_the_partition_order(setup) -> None:
    config, n_docs = setup
    parts = plan_partitions(config.input)
    assert len(parts) == 4
    fixed, info = fix_quality_threshold(config, parts)
    again, info_again = fix_quality_threshold(config, parts[::-1])
    assert fixed == again and info == info_again
    quality = fixed.filter.quality
    assert quality.keep_top_fraction is None and quality.min_score == info["min_score"]
    assert info["keep_top_fraction"] == 0.25 and info["seed"] == 3 and info["partitions_read"] == 4

    # the sample (10,000 by default) covers every document: the fixed cut keeps exactly the top quarter of those
    # the length rule passed (ties at the threshold aside, which the count allows for)
    chain = FilterChain(fixed.filter)
    batches = [chain.process(read_partition(p, config.input).documents.combine_chunks().to_batches()[0])
               for p in parts]
    table = pa.Table.from_batches(batches)
    reached = table.filter(pc.invert(pc.fill_null(pc.starts_with(table.column(REASON), "length."), False)))
    kept = reached.filter(pc.is_null(reached.column(REASON))).num_rows
    assert info["threshold_sample_docs"] == reached.num_rows <= n_docs
    scores = reached.column("quality_score").to_numpy()
    assert kept == int((scores >= info["min_score"]).sum()) >= math.ceil(0.25 * reached.num_rows)
    assert kept <= math.ceil(0.25 * reached.num_rows) + int((scores == info["min_score"]).sum()) - 1


def test_a_small_sample_stops_reading_early(setup) -> None:
    config, _ = setup
    small = replace(config, filter=replace(config.filter, quality=replace(
        config.filter.quality, threshold_sample_docs=10)))
    fixed, info = fix_quality_threshold(small, plan_partitions(small.input))
    assert info["partitions_read"] == 1 and info["threshold_sample_docs"] == 10
    assert 0.0 <= fixed.filter.quality.min_score <= 1.0


def test_nothing_reaching_the_classifier_is_one_clear_error(setup, tmp_path: Path) -> None:
    config, _ = setup
    strict = replace(config, filter=replace(config.filter, length=replace(config.filter.length, min_chars=10**9)))
    with pytest.raises(ValueError, match="keep_top_fraction: no document passes"):
        fix_quality_threshold(strict, plan_partitions(strict.input))
