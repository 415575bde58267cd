"""Re-filter and mix (REWIRE §2.2, Table 1): a fastText classifier trained in-test on reference positives vs
rewrites keeps exactly the top share (10 % of 1000 = 100), prefers reference-like rewrites, and the token-ratio
mix caps the kept rewrites; the cutoffs do not depend on row order (so not on Ray's blocks)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.reasons import count_reasons
from stages.rewrite.config import RewriteConfig
from stages.rewrite.parse import BELOW_REFILTER, ERROR, OVER_MIX
from stages.rewrite.refilter import (
    SCORE,
    RefilterClassifier,
    apply_selection,
    hash_sample,
    plan_selection,
    read_reference,
    score_batch,
)
from stages.schema import REASON, stable_hash

GOOD = "theorem proof lemma derivation equation hypothesis experiment measurement analysis result".split()
BAD = "click here buy now cheap deal subscribe login cookie banner offer sale".split()


def texts(rng: np.random.Generator, n: int, good_share: float) -> list[str]:
    out = []
    for _ in range(n):
        vocab = GOOD if rng.random() < good_share else BAD
        out.append(" ".join(rng.choice(vocab, size=30)))
    return out


def config(tmp_path: Path, **kw: object) -> RewriteConfig:
    ref = tmp_path / "reference.jsonl"
    if not ref.exists():
        rng = np.random.default_rng(1)
        ref.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts(rng, 300, 1.0)))
    return RewriteConfig(refilter_reference=str(ref), refilter_bucket=1000, refilter_dim=16, refilter_epochs=5,
                         refilter_train_docs=300, **kw)


def rewrites(n: int, rng: np.random.Generator) -> pa.RecordBatch:
    body = texts(rng, n, 0.3)
    reasons = [ERROR if i % 10 == 9 else None for i in range(n)]  # 10 % failed: not scored, keep their reason
    return pa.RecordBatch.from_pydict({
        "id": [f"d{i}#rw" for i in range(n)], "text": pa.array(body, pa.large_string()), "source": ["rewrite"] * n,
        "meta": [json.dumps({"source_id": f"d{i}", "rewrite": {"model": "m"}}) for i in range(n)], REASON: reasons})


def test_trained_refilter_keeps_exactly_the_top_share_and_prefers_reference_like_text(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    rng = np.random.default_rng(0)
    batch = rewrites(1111, rng)  # 1000 parsed + 111 errors
    ok = pc.is_null(batch.column(REASON)).to_numpy(zero_copy_only=False)
    negatives = [t for t, k in zip(batch.column("text").to_pylist(), ok) if k][:300]
    clf = RefilterClassifier.train(read_reference(cfg.refilter_reference, 300, 0), negatives, cfg,
                                   tmp_path / "clf.bin")
    scored = score_batch(batch, clf)
    s = scored.column(SCORE)
    assert s.null_count == 111
    valid = pc.is_valid(s).to_numpy(zero_copy_only=False)
    plan = plan_selection(s.to_numpy(zero_copy_only=False)[valid], stable_hash(batch.column("id"), 0)[valid],
                          np.full(valid.sum(), 8), keep_top_share=cfg.keep_top_share, raw_tokens=None,
                          mix_token_ratio=None)
    out = apply_selection(scored, plan, 0)
    counts = count_reasons(out)
    assert counts == {ERROR: 111, BELOW_REFILTER: 900}  # exactly 100 = 10 % of 1000 parsed kept
    assert plan.summary["refilter_kept_share"] == 0.1 and plan.summary["refilter_threshold"] is not None
    kept = out.filter(pc.is_null(out.column(REASON)))
    good = sum(t.split()[0] in GOOD for t in kept.column("text").to_pylist())
    assert good >= 95  # 30 % of the pool is reference-like; the classifier puts them on top
    assert SCORE not in out.schema.names
    metas = [json.loads(m) for m in kept.column("meta").to_pylist()]
    assert all(m["rewrite"]["score"] >= plan.refilter.score and m["source_id"] for m in metas)


def test_training_is_deterministic(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    ref = read_reference(cfg.refilter_reference, 300, 0)
    neg = texts(np.random.default_rng(3), 200, 0.0)
    a = RefilterClassifier.train(ref, neg, cfg, tmp_path / "a.bin")
    b = RefilterClassifier.train(ref, neg, cfg, tmp_path / "b.bin")
    probe = pa.array(texts(np.random.default_rng(4), 20, 0.5), pa.large_string())
    assert np.array_equal(a.score(probe), b.score(probe))


def test_mix_caps_rewrite_tokens_at_raw_over_ratio() -> None:
    """Raw 1000 tokens at 1:1 -> at most 1000 rewrite tokens; at 1.5 (0.6 : 0.4) -> 666."""
    scores = np.linspace(1.0, 0.0, 100)
    ties = np.arange(100, dtype=np.uint64)
    tokens = np.full(100, 100, dtype=np.int64)
    plan = plan_selection(scores, ties, tokens, keep_top_share=0.5, raw_tokens=1000, mix_token_ratio=1.0)
    assert plan.summary["refilter_kept"] == 50 and plan.summary["mix_kept"] == 10
    assert plan.summary["rewrite_tokens_kept"] == 1000
    plan = plan_selection(scores, ties, tokens, keep_top_share=0.5, raw_tokens=1000, mix_token_ratio=1.5)
    assert plan.summary["mix_kept"] == 6
    batch = pa.RecordBatch.from_pydict({"id": [f"r{i}" for i in range(100)], "text": ["x"] * 100,
                                        "source": ["rewrite"] * 100, "meta": ["{}"] * 100,
                                        REASON: pa.nulls(100, pa.string()), SCORE: scores})
    # apply with ties = stable_hash(id, 0), matching plan built on the same ties
    plan = plan_selection(scores, stable_hash(batch.column("id"), 0), tokens, keep_top_share=0.5, raw_tokens=1000,
                          mix_token_ratio=1.0)
    assert count_reasons(apply_selection(batch, plan, 0)) == {BELOW_REFILTER: 50, OVER_MIX: 40}


@settings(max_examples=40, deadline=None)
@given(scores=st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), min_size=1, max_size=60),
       share=st.floats(0.01, 1.0), seed=st.integers(0, 2**32))
def test_cutoff_keeps_exactly_round_n_share_in_any_row_order(scores: list[float], share: float, seed: int) -> None:
    """Many ties: the rank cutoff still keeps round(n * share) rows, the same rows for any permutation."""
    n = len(scores)
    s = np.array(scores)
    ties = stable_hash([f"id{i}" for i in range(n)], 0)
    plan = plan_selection(s, ties, np.ones(n, np.int64), keep_top_share=share, raw_tokens=None, mix_token_ratio=None)
    kept = plan.refilter.keeps(s, ties)
    assert kept.sum() == int(n * share + 0.5)
    if kept.any() and not kept.all():
        assert s[kept].min() >= s[~kept].max()
    perm = np.random.default_rng(seed % 2**32).permutation(n)
    plan2 = plan_selection(s[perm], ties[perm], np.ones(n, np.int64), keep_top_share=share, raw_tokens=None,
                           mix_token_ratio=None)
    assert plan2.refilter == plan.refilter


def test_hash_sample_is_a_function_of_ids() -> None:
    ids = [f"d{i}" for i in range(2000)]
    mask = hash_sample(ids, 0.25, 7)
    assert 400 < mask.sum() < 600
    assert np.array_equal(hash_sample(ids[::-1], 0.25, 7), mask[::-1])
