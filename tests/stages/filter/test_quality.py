"""The quality classifier carding trains: `train_quality_classifier` writes a model and a JSON card with held-out
scores, and the chain scores every row, rejects below the threshold and marks rewrite candidates."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from stages.filter import (
    FilterChain,
    FilterConfig,
    QualityConfig,
    QualityTrainConfig,
    read_documents,
    train_quality_classifier,
)

SAMPLE = "data/sample"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[str, dict]:
    """Gutenberg prose (positives) against fortunes (negatives), chosen by SQL expressions over one corpus."""
    out = tmp_path_factory.mktemp("quality") / "quality.bin"
    config = QualityTrainConfig(
        positive_paths=[f"{SAMPLE}/gutenberg.jsonl.zst", f"{SAMPLE}/fortunes.jsonl.gz"],
        positive_where="source = 'gutenberg'",
        negative_paths=[f"{SAMPLE}/gutenberg.jsonl.zst", f"{SAMPLE}/fortunes.jsonl.gz"],
        negative_where="source <> 'gutenberg'",
        max_docs_per_class=150, dim=16, epoch=5)
    return str(out), train_quality_classifier(config, out)


def test_card_reports_heldout_scores(trained):
    path, card = trained
    with open(path.removesuffix(".bin") + ".json", encoding="utf-8") as f:
        on_disk = json.load(f)
    assert on_disk == card
    assert card["data"]["heldout"]["positives"] > 0 and card["data"]["heldout"]["negatives"] > 0
    assert card["heldout"]["f1"] >= 0.8, card["heldout"]
    assert card["params"]["word_ngrams"] == 2 and card["params"]["thread"] == 1


def test_training_is_reproducible(trained, tmp_path):
    """Same config, same seed: same held-out scores (one fastText thread)."""
    _, card = trained
    config = QualityTrainConfig(
        positive_paths=[f"{SAMPLE}/gutenberg.jsonl.zst", f"{SAMPLE}/fortunes.jsonl.gz"],
        positive_where="source = 'gutenberg'",
        negative_paths=[f"{SAMPLE}/gutenberg.jsonl.zst", f"{SAMPLE}/fortunes.jsonl.gz"],
        negative_where="source <> 'gutenberg'",
        max_docs_per_class=150, dim=16, epoch=5)
    again = train_quality_classifier(config, tmp_path / "q.bin")
    assert again["heldout"] == card["heldout"]


def test_chain_scores_and_marks_rewrite_candidates(trained):
    """Rows rejected only by the classifier become rewrite candidates; rows above rewrite_min_score only."""
    path, _ = trained
    docs = read_documents([f"{SAMPLE}/gutenberg.jsonl.zst"]).slice(0, 10)
    fortunes = read_documents([f"{SAMPLE}/fortunes.jsonl.gz"]).slice(0, 30)
    table = pa.concat_tables([docs, fortunes]).select(["id", "text", "source", "meta"])
    batch = table.combine_chunks().to_batches()[0]
    heuristics_off = {"length": None, "gopher_repetition": None, "gopher_quality": None, "c4": None, "fineweb": None}
    out = FilterChain(FilterConfig(**heuristics_off, quality=QualityConfig(model_path=path))).process(batch)
    score = out.column("quality_score").to_numpy(zero_copy_only=False)
    reasons = out.column("reject_reason").to_pylist()
    candidate = out.column("rewrite_candidate").to_pylist()
    assert np.all((score >= 0) & (score <= 1 + 1e-6))
    assert sum(r == "quality.low_score" for r in reasons) >= 20, "most fortunes score low"
    assert candidate == [r == "quality.low_score" for r in reasons]
    floor = float(np.median(score[[r is not None for r in reasons]]))
    out = FilterChain(FilterConfig(**heuristics_off, quality=QualityConfig(
        model_path=path, rewrite_min_score=floor))).process(batch)
    got = out.column("rewrite_candidate").to_pylist()
    assert got == [r == "quality.low_score" and s >= floor for r, s in zip(reasons, score)]
    assert 0 < sum(got) < sum(candidate)


def test_heuristic_rejection_is_not_a_candidate(trained):
    """A row an earlier filter rejects is never a rewrite candidate (and is not scored)."""
    path, _ = trained
    batch = pa.RecordBatch.from_pydict({"id": ["a"], "text": pa.array([""], pa.large_string()), "source": ["t"],
                                        "meta": ["{}"]})
    out = FilterChain(FilterConfig(quality=QualityConfig(model_path=path))).process(batch)
    assert out.column("reject_reason").to_pylist() == ["length.too_short"]
    assert out.column("rewrite_candidate").to_pylist() == [False]
    assert out.column("quality_score").to_pylist() == [None]


def test_bad_training_config_says_what_is_allowed():
    with pytest.raises(ValueError, match="holdout_fraction"):
        QualityTrainConfig(holdout_fraction=1.5)


def test_keep_top_fraction_keeps_that_share(trained):
    """`keep_top_fraction` keeps the best-scoring share of a seeded sample (DCLM's top-10 % cut); the threshold is
    reported, the same for a second chain (seeded), and `estimate_quality_threshold` gives the same value."""
    from stages.filter import estimate_quality_threshold

    path, _ = trained
    table = pa.concat_tables([read_documents([f"{SAMPLE}/gutenberg.jsonl.zst"]).slice(0, 20),
                              read_documents([f"{SAMPLE}/fortunes.jsonl.gz"]).slice(0, 60)])
    batch = table.select(["id", "text", "source", "meta"]).combine_chunks().to_batches()[0]
    heuristics_off = {"length": None, "gopher_repetition": None, "gopher_quality": None, "c4": None, "fineweb": None}
    config = QualityConfig(model_path=path, keep_top_fraction=0.25, threshold_sample_docs=60, seed=3)
    chain = FilterChain(FilterConfig(**heuristics_off, quality=config))
    out = chain.process(batch)
    report = chain.quality_threshold()
    score = out.column("quality_score").to_numpy(zero_copy_only=False)
    kept = np.array([r is None for r in out.column("reject_reason").to_pylist()])
    assert report["keep_top_fraction"] == 0.25 and report["threshold_sample_docs"] == 60 and report["seed"] == 3
    assert np.array_equal(kept, score >= report["min_score"])
    assert 0.15 <= kept.mean() <= 0.35, kept.mean()  # a 60-of-80 sample's quantile, applied to all 80
    again = FilterChain(FilterConfig(**heuristics_off, quality=config))
    again.process(batch)
    assert again.quality_threshold() == report
    assert estimate_quality_threshold(config, batch.column("text")) == (report["min_score"], 60)
    # the next batch keeps the first batch's threshold instead of re-estimating
    chain.process(batch.slice(0, 20))
    assert chain.quality_threshold() == report


def test_keep_top_fraction_config_is_checked(trained):
    path, _ = trained
    with pytest.raises(ValueError, match="exclusive"):
        QualityConfig(model_path=path, min_score=0.4, keep_top_fraction=0.1)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="keep_top_fraction"):
            QualityConfig(model_path=path, keep_top_fraction=bad)
    assert QualityConfig(model_path=path).min_score == 0.5
    assert QualityConfig(model_path=path, keep_top_fraction=1.0).min_score is None
    with pytest.raises(ValueError, match="rewrite_min_score"):
        QualityConfig(model_path=path, min_score=0.3, rewrite_min_score=0.4)
