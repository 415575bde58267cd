"""Ray wiring of the rewrite stage (spec/rewrite.md): generation as an actor-pool map, then the re-filter and mix
as maps around one driver-side step.

The runner calls, in order:
    check_rewrite_endpoint(config)                       # before any work: the server answers, or a clear error
    rewrites = rewrite_dataset(candidates_ds, config)    # one row per selected draft, REWRITE_SCHEMA
    final, summary = refilter_and_mix(rewrites, kept_raw_ds, config, work_dir=<run folder>/rewrite)
    # final: same rows as `rewrites`; reject_reason null = keep (join the kept raw rows, source="rewrite");
    # summary: JSON-able dict for manifest["rewrite"] (model, prompt sha, counts by reason, threshold, mix).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray
import ray.data

from stages.reasons import count_reasons, merge_counts, reasons_of
from stages.rewrite.client import check_endpoint
from stages.rewrite.config import Backend, RewriteConfig
from stages.rewrite.prompt import load_prompt
from stages.rewrite.refilter import (
    SCORE,
    RefilterClassifier,
    SelectionPlan,
    apply_selection,
    hash_sample,
    plan_selection,
    plan_to_dict,
    read_reference,
    score_batch,
)
from stages.rewrite.rewriter import REWRITE_SCHEMA, Rewriter, estimate_tokens
from stages.schema import stable_hash

_ACTOR_CPUS = 0.25
"""CPU reserved per rewrite actor: it waits on the server; parsing and JSON cost ~20 µs per reply."""


def _one_batch(table: pa.Table) -> pa.RecordBatch | None:
    table = table.combine_chunks()
    batches = table.to_batches()
    return batches[0] if batches else None


class _RewriteActor:
    """Holds one Rewriter (its event loop, HTTP session and cache index) for the actor's life."""

    def __init__(self, config: RewriteConfig) -> None:
        self.stage = Rewriter(config)

    def __call__(self, table: pa.Table) -> pa.Table:
        batch = _one_batch(table)
        if batch is None:
            return REWRITE_SCHEMA.empty_table()
        return pa.Table.from_batches([self.stage.process(batch)], schema=REWRITE_SCHEMA)


def check_rewrite_endpoint(config: RewriteConfig) -> list[str]:
    """Raise EndpointError, a ValueError with a one-line message naming the URL and what to start or fix, unless the
    server answers GET /models and serves `config.model`; [] for passthrough. The runner calls it before the stage
    runs, and `carding run` prints the message and exits 2."""
    if config.backend == Backend.PASSTHROUGH:
        return []
    return check_endpoint(config)


def rewrite_dataset(ds: ray.data.Dataset, config: RewriteConfig) -> ray.data.Dataset:
    """Rewrite rows (REWRITE_SCHEMA) for the drafts `config.select` picks from `ds`; `ds` itself is not changed.

    `ds` must hold deduplicated documents with `rewrite_candidate` (and `reject_reason`). An actor pool of
    `config.actors` actors, each running up to ceil(max_concurrency / batch_docs) batches at once on one
    event loop, so at most `max_concurrency` requests per actor are in flight.
    """
    calls = max(1, math.ceil(config.max_concurrency / config.batch_docs))
    return ds.map_batches(
        _RewriteActor,
        fn_constructor_kwargs={"config": config},
        batch_format="pyarrow",
        batch_size=config.batch_docs,
        compute=ray.data.ActorPoolStrategy(size=config.actors, max_tasks_in_flight_per_actor=calls,
                                           max_concurrent_calls_per_actor=calls, enable_true_multi_threading=True),
        num_cpus=_ACTOR_CPUS,
    )


def _ok_sample(table: pa.Table, fraction: float, seed: int) -> pa.Table:
    ok = pc.is_null(reasons_of(table)).to_numpy(zero_copy_only=False)
    pick = ok & hash_sample(table.column("id"), fraction, seed)
    return table.select(["id", "text"]).filter(pa.array(pick))


def _ok_stats(table: pa.Table, bytes_per_token: float) -> pa.Table:
    ok = pc.is_null(reasons_of(table))
    return pa.table({"ok": ok, "tokens": estimate_tokens(table.column("text"), bytes_per_token)})


def _score_stats(table: pa.Table, bytes_per_token: float, seed: int) -> pa.Table:
    scored = table.filter(pc.is_valid(table.column(SCORE)))
    return pa.table({"score": scored.column(SCORE), "tie": pa.array(stable_hash(scored.column("id"), seed)),
                     "tokens": estimate_tokens(scored.column("text"), bytes_per_token)})


def _raw_tokens(table: pa.Table, bytes_per_token: float) -> pa.Table:
    return pa.table({"tokens": [int(pc.sum(estimate_tokens(table.column("text"), bytes_per_token)).as_py() or 0)]})


def _reason_counts(table: pa.Table) -> pa.Table:
    counts = count_reasons(table)
    return pa.table({"reason": list(counts), "n": list(counts.values())}, schema=pa.schema(
        [("reason", pa.string()), ("n", pa.int64())]))


class _ScoreActor:
    def __init__(self, model_path: str) -> None:
        self.classifier = RefilterClassifier(model_path)

    def __call__(self, table: pa.Table) -> pa.Table:
        batch = _one_batch(table)
        if batch is None:
            return table.append_column(pa.field(SCORE, pa.float64()), pa.nulls(0, pa.float64()))
        return pa.Table.from_batches([score_batch(batch, self.classifier)])


def _apply(table: pa.Table, plan: SelectionPlan, seed: int) -> pa.Table:
    batch = _one_batch(table)
    if batch is None:
        return table.drop_columns([SCORE])
    return pa.Table.from_batches([apply_selection(batch, plan, seed)])


def _concat(ds: ray.data.Dataset) -> pa.Table | None:
    tables = list(ds.iter_batches(batch_format="pyarrow", batch_size=None))
    return pa.concat_tables(tables) if tables else None


def refilter_and_mix(rewrites: ray.data.Dataset, raw_kept: ray.data.Dataset | None, config: RewriteConfig, *,
                     work_dir: str | Path) -> tuple[ray.data.Dataset, dict[str, Any]]:
    """Score parsed rewrites with the re-filter, keep the top `keep_top_share`, cap them at raw_tokens / ratio.

    rewrites: the output of `rewrite_dataset` (materialized here); raw_kept: the kept raw documents (for the
    mix's token count; None skips the mix); work_dir: where the trained classifier is written (shared by all
    workers). Returns the same rows with `rewrite.below_refilter` / `rewrite.over_mix` added, and the summary
    for the manifest. Outcome does not depend on block boundaries or arrival order.
    """
    rewrites = rewrites.materialize()
    bpt = config.bytes_per_token
    stats = _concat(rewrites.map_batches(_ok_stats, fn_kwargs={"bytes_per_token": bpt}, batch_format="pyarrow"))
    n_rows = stats.num_rows if stats is not None else 0
    n_ok = int(pc.sum(stats.column("ok")).as_py() or 0) if stats is not None else 0
    summary: dict[str, Any] = {"model": config.model, "prompt_sha256": load_prompt(config.prompt_path).sha256,
                               "sampling": config.sampling, "output": str(config.output),
                               "select": str(config.select), "rewrites": n_rows,
                               "parsed": n_ok}
    classifier: dict[str, Any] = {}
    if n_ok == 0:
        scored = rewrites.map_batches(lambda t: t.append_column(pa.field(SCORE, pa.float64()),
                                                                pa.nulls(t.num_rows, pa.float64())),
                                      batch_format="pyarrow")
        plan = plan_selection(np.zeros(0), np.zeros(0, np.uint64), np.zeros(0, np.int64),
                              keep_top_share=config.keep_top_share, raw_tokens=None, mix_token_ratio=None)
    else:
        if config.refilter_model is not None:
            model_path = config.refilter_model
            classifier = {"model": model_path, "trained": False}
        else:
            if config.refilter_reference is None:
                raise ValueError("rewrite.refilter_reference: required to train the re-filter "
                                 "(or give rewrite.refilter_model)")
            fraction = min(1.0, 1.5 * config.refilter_train_docs / n_ok)  # oversample, then cut exactly below
            sample = _concat(rewrites.map_batches(_ok_sample, fn_kwargs={"fraction": fraction, "seed": config.seed},
                                                  batch_format="pyarrow"))
            assert sample is not None
            order = np.lexsort((np.array(sample.column("id").to_pylist(), dtype=object).astype(str),
                                stable_hash(sample.column("id"), config.seed)))[:config.refilter_train_docs]
            negatives = sample.column("text").take(pa.array(np.sort(order))).to_pylist()
            positives = read_reference(config.refilter_reference, config.refilter_train_docs, config.seed)
            model_path = str(Path(work_dir) / "refilter.bin")
            RefilterClassifier.train(positives, negatives, config, model_path)
            classifier = {"model": model_path, "trained": True, "train_reference": len(positives),
                          "train_rewrites": len(negatives), "reference": config.refilter_reference}
        scored = rewrites.map_batches(_ScoreActor, fn_constructor_kwargs={"model_path": model_path},
                                      batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=1)).materialize()
        s = _concat(scored.map_batches(_score_stats, fn_kwargs={"bytes_per_token": bpt, "seed": config.seed},
                                       batch_format="pyarrow"))
        assert s is not None
        raw_tokens = None
        if raw_kept is not None and config.mix_token_ratio is not None:
            r = _concat(raw_kept.map_batches(_raw_tokens, fn_kwargs={"bytes_per_token": bpt}, batch_format="pyarrow"))
            raw_tokens = int(pc.sum(r.column("tokens")).as_py() or 0) if r is not None else 0
        plan = plan_selection(s.column("score").to_numpy(), s.column("tie").to_numpy(), s.column("tokens").to_numpy(),
                              keep_top_share=config.keep_top_share, raw_tokens=raw_tokens,
                              mix_token_ratio=config.mix_token_ratio)
    final = scored.map_batches(_apply, fn_kwargs={"plan": plan, "seed": config.seed},
                               batch_format="pyarrow").materialize()
    counts = _concat(final.map_batches(_reason_counts, batch_format="pyarrow"))
    removed = merge_counts(*({r: n} for r, n in zip(counts.column("reason").to_pylist(),
                                                       counts.column("n").to_pylist()))) if counts else {}
    summary.update({"classifier": classifier, "selection": plan_to_dict(plan), "removed": removed,
                    "kept": n_rows - sum(removed.values())})
    return final, summary


__all__ = ["check_rewrite_endpoint", "refilter_and_mix", "rewrite_dataset"]
