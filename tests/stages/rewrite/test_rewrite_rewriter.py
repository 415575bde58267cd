"""Rewriter.process: one rewrite row per selected draft with provenance, originals untouched, reasons for every
outcome, and resume: a rerun over the same cache sends only the requests that never finished.

The server here is FaultProxy answering on its own (a real loopback HTTP server of ours that writes a
well-formed reply); test_rewrite_llama.py runs the same stage against the real llama.cpp server."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.reasons import count_reasons
from stages.rewrite.cache import ReplyCache
from stages.rewrite.config import Backend, RewriteConfig, Select
from stages.rewrite.local_server import FaultProxy
from stages.rewrite.parse import ERROR, TOO_LONG
from stages.rewrite.rewriter import REWRITE_SCHEMA, Rewriter, select_for_rewrite
from stages.schema import REASON


def docs(n: int, *, candidate_every: int = 1, long_every: int = 0) -> pa.RecordBatch:
    texts = [("word " * 2000 if long_every and i % long_every == 0 else f"Draft number {i} about cooking rice.")
             for i in range(n)]
    return pa.RecordBatch.from_pydict({
        "id": [f"d{i}" for i in range(n)],
        "text": pa.array(texts, pa.large_string()),
        "source": ["web"] * n,
        "meta": [json.dumps({"url": f"https://x/{i}"}) for i in range(n)],
        REASON: [None if i % candidate_every else "quality.low_score" for i in range(n)],
        "rewrite_candidate": [i % candidate_every == 0 for i in range(n)],
    })


def make(url: str, tmp_path: Path | None = None, **kw: object) -> Rewriter:
    return Rewriter(RewriteConfig(base_url=url, model="m", backoff_s=0.01, backoff_max_s=0.02,
                                  cache_dir=str(tmp_path / "cache") if tmp_path else None, **kw))


def test_rows_trace_to_drafts_and_originals_are_untouched() -> None:
    batch = docs(6, candidate_every=2, long_every=4)
    before = batch.to_pylist()
    with FaultProxy() as proxy:
        stage = make(proxy.base_url, max_draft_tokens=1000)
        out = stage.process(batch)
        stage.close()
    assert batch.to_pylist() == before
    assert out.schema == REWRITE_SCHEMA
    assert out.column("id").to_pylist() == ["d0#rw", "d2#rw", "d4#rw"]  # candidates only
    assert count_reasons(out) == {TOO_LONG: 2}  # d0 and d4 are 2000 words: not sent
    assert proxy.posts == 1
    row = out.to_pylist()[1]
    meta = json.loads(row["meta"])
    assert row["source"] == "rewrite" and row[REASON] is None and row["text"].startswith("rewrite of ")
    assert meta["source_id"] == "d2" and meta["url"] == "https://x/2"
    assert meta["rewrite"]["model"] == "m" and len(meta["rewrite"]["prompt_sha256"]) == 64
    assert meta["rewrite"]["sampling"] == {"temperature": 1.0, "top_p": 0.9, "max_tokens": 8192}


def test_select_all_passing_adds_kept_rows_and_candidates_requires_the_column() -> None:
    batch = docs(4, candidate_every=2)
    assert select_for_rewrite(batch, Select.ALL_PASSING).to_pylist() == [True] * 4
    assert select_for_rewrite(batch, Select.CANDIDATES).to_pylist() == [True, False, True, False]
    with pytest.raises(ValueError, match="rewrite_candidate"):
        select_for_rewrite(batch.drop_columns(["rewrite_candidate"]), Select.CANDIDATES)


def test_failed_requests_become_error_rows_and_conservation_holds() -> None:
    with FaultProxy(script=["500", "400"]) as proxy:  # retries=0: each fault ends one request
        stage = make(proxy.base_url, retries=0, max_concurrency=1)
        out = stage.process(docs(3))
        stage.close()
    counts = count_reasons(out)
    assert out.num_rows == 3 and counts[ERROR] == 2 and proxy.posts == 3
    assert sum(counts.values()) + sum(r is None for r in out.column(REASON).to_pylist()) == 3
    errors = [json.loads(m)["rewrite"]["error"] for m, r in zip(out.column("meta").to_pylist(),
                                                                out.column(REASON).to_pylist()) if r == ERROR]
    assert sorted(e[:8] for e in errors) == ["HTTP 400", "HTTP 500"]


def test_rerun_sends_only_what_did_not_finish(tmp_path: Path) -> None:
    """Resume: the first run's finished replies are in the cache; failed ones are not, so only they are resent,
    and the rerun's rows equal a clean run's rows."""
    batch = docs(8)
    with FaultProxy(script=["400", "400"]) as proxy:  # two documents fail at once on the first run
        first = make(proxy.base_url, tmp_path, cache_flush_replies=3, max_concurrency=1)
        out1 = first.process(batch)
        first.close()
        assert proxy.posts == 8 and count_reasons(out1) == {ERROR: 2}
        assert len(ReplyCache(tmp_path / "cache")) == 6
        second = make(proxy.base_url, tmp_path, cache_flush_replies=3)
        out2 = second.process(batch)
        second.close()
        assert proxy.posts == 10 and second.sent == 2 and count_reasons(out2) == {}
        third = make(proxy.base_url, tmp_path)
        out3 = third.process(pa.RecordBatch.from_pylist(batch.to_pylist()[::-1], schema=batch.schema))
        third.close()
    assert proxy.posts == 10 and third.sent == 0  # a different batch composition still hits the cache
    assert sorted(out3.to_pylist(), key=lambda r: r["id"]) == sorted(out2.to_pylist(), key=lambda r: r["id"])
    assert not list((tmp_path / "cache").glob("*.tmp"))


def test_passthrough_returns_the_draft_without_a_server() -> None:
    stage = Rewriter(RewriteConfig(backend=Backend.PASSTHROUGH))
    out = stage.process(docs(2))
    assert out.column("text").to_pylist() == docs(2).column("text").to_pylist()
    assert json.loads(out.column("meta")[0].as_py())["rewrite"]["model"] == "passthrough"


def test_no_selected_rows_gives_an_empty_batch_of_the_schema() -> None:
    out = Rewriter(RewriteConfig(backend=Backend.PASSTHROUGH)).process(docs(3, candidate_every=5).slice(1, 2))
    assert out.num_rows == 0 and out.schema == REWRITE_SCHEMA


@settings(max_examples=25, deadline=None)
@given(texts=st.lists(st.text(max_size=40), min_size=0, max_size=8), flags=st.lists(st.booleans(), min_size=8,
                                                                                     max_size=8))
def test_one_row_per_selected_draft_for_any_text(texts: list[str], flags: list[bool]) -> None:
    """Conservation: selected == output rows, each `<id>#rw` exactly once; any unicode survives the passthrough."""
    n = len(texts)
    batch = pa.RecordBatch.from_pydict({
        "id": [f"x{i}" for i in range(n)], "text": pa.array(texts, pa.large_string()), "source": ["s"] * n,
        "meta": ["{}"] * n, "rewrite_candidate": flags[:n]})
    out = Rewriter(RewriteConfig(backend=Backend.PASSTHROUGH)).process(batch)
    chosen = [i for i in range(n) if flags[i]]
    assert out.column("id").to_pylist() == [f"x{i}#rw" for i in chosen]
    for i, (text, reason) in zip(chosen, zip(out.column("text").to_pylist(), out.column(REASON).to_pylist())):
        assert (text, reason) == ((texts[i].strip(), None) if texts[i].strip() else (text, "rewrite.empty"))
