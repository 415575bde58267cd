"""The rewrite stage on a real local Ray against the real llama.cpp server (SmolLM2-135M-Instruct), with a
counting FaultProxy in front of it: every candidate becomes one rewrite row (kept or rejected by reason) tracing to
its `source_id`; a rerun after a partial run sends no request twice; injected faults are retried; then the re-filter
and the mix on Ray keep exactly the top share with conservation. A tiny model writes poor prose: this checks the
plumbing, parsing, provenance, resume and counts, not the quality."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import ray

from pipelines.rewrite import check_rewrite_endpoint, refilter_and_mix, rewrite_dataset
from stages.reasons import count_reasons
from stages.rewrite.config import RewriteConfig
from stages.rewrite.local_server import SMOLLM2_MODEL, FaultProxy, LlamaServer
from stages.rewrite.parse import REASONS
from stages.schema import REASON

pytestmark = pytest.mark.ray

DRAFTS = [
    "how to cook rice. wash rice. add water 2 cups. boil. 15 min. done",
    "Python lists: append adds item. pop removes. len gives size",
    "best phone 2024 buy now!!! cheap cheap, the battery is good and camera ok",
    "Photosynthesis plants make food from light water and co2, oxygen comes out",
    "my trip to rome was nice we saw the colosseum and ate pasta it rained one day",
    "To fix a flat tire remove wheel find hole patch it pump air back",
]


def documents(n: int) -> pa.Table:
    """n rows in the filter's output shape: half candidates (rejected by the classifier only), half kept."""
    return pa.table({
        "id": [f"doc{i:02d}" for i in range(n)],
        "text": pa.array([DRAFTS[i % len(DRAFTS)] + f" (v{i})" for i in range(n)], pa.large_string()),
        "source": ["web"] * n,
        "meta": [json.dumps({"url": f"https://example.org/{i}"}) for i in range(n)],
        REASON: ["quality.low_score" if i % 2 == 0 else None for i in range(n)],
        "rewrite_candidate": [i % 2 == 0 for i in range(n)],
    })


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    # address="local": a fresh Ray of our own, even if another `ray start` cluster runs on this machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with LlamaServer(n_ctx=2048, log_path=tmp_path_factory.mktemp("llama") / "server.log") as server:
        yield server


def rows(ds: ray.data.Dataset) -> list[dict]:
    return sorted(ds.take_all(), key=lambda r: r["id"])


def test_candidates_become_traced_rewrites_and_a_rerun_sends_nothing_twice(
        ray_local: None, llama: LlamaServer, tmp_path: Path) -> None:
    docs = documents(8)  # 4 candidates
    with FaultProxy(upstream=llama.base_url, script=["500", "429"]) as proxy:
        config = RewriteConfig(base_url=proxy.base_url, model=SMOLLM2_MODEL, max_tokens=16, batch_docs=2,
                               max_concurrency=2, cache_dir=str(tmp_path / "cache"), backoff_s=0.05,
                               backoff_max_s=0.1)
        assert check_rewrite_endpoint(config)
        # A partial run: only the first 4 rows (2 candidates) finish, as if the job died after 2 partitions.
        partial = rows(rewrite_dataset(ray.data.from_arrow(docs.slice(0, 4)), config))
        assert len(partial) == 2 and proxy.forwarded == 2 and proxy.posts == 4  # 2 faults retried
        full = rows(rewrite_dataset(ray.data.from_arrow(docs).repartition(3), config))
        assert proxy.forwarded == 4  # the 2 finished replies came from the cache, whatever the new blocks
    candidates = [r["id"] for r in docs.to_pylist() if r["rewrite_candidate"]]
    assert [r["id"] for r in full] == [f"{c}#rw" for c in candidates]
    assert partial == full[:2]  # the rerun reused the finished replies: identical rows
    for row in full:
        meta = json.loads(row["meta"])
        assert row["id"] == meta["source_id"] + "#rw" and row["source"] == "rewrite"
        assert meta["rewrite"]["model"] == SMOLLM2_MODEL and meta["rewrite"]["sampling"]["max_tokens"] == 16
        assert row[REASON] is None or row[REASON] in REASONS
        assert row[REASON] is not None or row["text"]
    reasons = count_reasons(pa.Table.from_pylist(full))
    assert sum(reasons.values()) + sum(r[REASON] is None for r in full) == len(candidates)
    assert "rewrite.error" not in reasons  # every injected fault was retried


def test_refilter_and_mix_on_ray_keep_the_top_share_with_conservation(ray_local: None, tmp_path: Path) -> None:
    """FaultProxy answers alone here (well-formed replies), so every rewrite parses and the re-filter has work."""
    ref = tmp_path / "reference.jsonl"
    ref.write_text("".join(json.dumps({"text": f"A careful explanation of topic {i}: definitions, steps and an "
                                               f"example, written for students."}) + "\n" for i in range(60)))
    docs = documents(80)  # 40 candidates
    with FaultProxy() as proxy:
        config = RewriteConfig(base_url=proxy.base_url, model="echo", batch_docs=8, refilter_reference=str(ref),
                               refilter_bucket=1000, refilter_dim=8, keep_top_share=0.1, mix_token_ratio=1.0)
        rewrites = rewrite_dataset(ray.data.from_arrow(docs).repartition(4), config)
        kept_raw = ray.data.from_arrow(docs.filter(pc.is_null(docs.column(REASON))))
        final, summary = refilter_and_mix(rewrites, kept_raw, config, work_dir=tmp_path / "work")
        out = pa.concat_tables(ray.get(final.to_arrow_refs()))
    assert out.num_rows == 40 and summary["rewrites"] == 40 and summary["parsed"] == 40
    assert summary["selection"]["summary"]["refilter_kept"] == 4  # 10 % of 40
    assert summary["kept"] == out.num_rows - sum(summary["removed"].values())
    assert summary["kept"] == pc.sum(pc.is_null(out.column(REASON))).as_py() <= 4
    assert summary["classifier"]["trained"] and Path(summary["classifier"]["model"]).is_file()
    assert sorted(json.loads(m)["source_id"] for m in out.column("meta").to_pylist()) == \
        [r["id"] for r in docs.to_pylist() if r["rewrite_candidate"]]
