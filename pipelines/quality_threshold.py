"""One quality threshold for the whole run when the recipe asks for a share (`filter.quality.keep_top_fraction`).

Left to itself, each `QualityFilter` estimates its threshold on the first batch it scores, so with several workers
the cut would depend on which partition each worker happened to read first, and the output on the CPU count. The
driver therefore estimates it once, before the read+filter map, on a seeded sample of the documents that reach the
classifier (the rest of the chain runs first, as in the map: DCLM ranks pages that passed its heuristics), and hands
every worker the fixed `min_score`. A rerun draws the same sample, so it resumes with the same threshold.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.config import PipelineConfig
from stages.filter import FilterChain, estimate_quality_threshold
from stages.read import Partition, read_partition
from stages.schema import REASON, stable_hash


def fix_quality_threshold(config: PipelineConfig,
                          partitions: list[Partition]) -> tuple[PipelineConfig, dict[str, Any] | None]:
    """(config whose quality cut is a fixed `min_score`, what decided it) — unchanged and None without a share.

    Partitions are read in a seeded order (by the hash of their key) until `threshold_sample_docs` documents
    passed the chain before the classifier; `estimate_quality_threshold` then draws its seeded sample from those.
    """
    quality = config.filter.quality
    if quality is None or quality.keep_top_fraction is None:
        return config, None
    before = FilterChain(replace(config.filter, quality=None))
    rank = stable_hash([p.key for p in partitions], quality.seed)
    order = sorted(range(len(partitions)), key=lambda i: (int(rank[i]), i))
    texts: list[pa.Array] = []
    n_texts, n_read = 0, 0
    for i in order:
        if n_texts >= quality.threshold_sample_docs:
            break
        docs = read_partition(partitions[i], config.input).documents
        n_read += 1
        if docs.num_rows == 0:
            continue
        batch = before.process(docs.combine_chunks().to_batches()[0])
        passed = batch.filter(pc.is_null(batch.column(REASON))).column("text")
        texts.append(passed.cast(pa.large_string()))
        n_texts += len(passed)
    if n_texts == 0:
        raise ValueError("filter.quality.keep_top_fraction: no document passes the filters before the quality "
                         "classifier, so there is nothing to rank; use min_score or relax the other filters")
    threshold, scored = estimate_quality_threshold(quality, pa.concat_arrays(texts))
    fixed = replace(config, filter=replace(config.filter, quality=replace(
        quality, min_score=threshold, keep_top_fraction=None)))
    return fixed, {"min_score": threshold, "keep_top_fraction": quality.keep_top_fraction,
                   "threshold_sample_docs": scored, "seed": quality.seed, "partitions_read": n_read}
