"""The rewrite stage: selected documents in, one rewrite row per selected document out (REWIRE §2.2).

In:  document batches (`id`, `text`, `source`, `meta`, optional `reject_reason`, `rewrite_candidate`).
Out: REWRITE_SCHEMA rows, one per selected input: `id = <orig>#rw`, `source = "rewrite"`, `text` = the
     parsed document (kept, `reject_reason` null) or the raw reply (rejected, with its reason; null when nothing
     was generated), `meta` JSON = the draft's meta plus `source_id` and `rewrite` = {model, prompt_sha256,
     sampling, seed, key, finish_reason, completion_tokens, draft_source[, error]}.
The input batch is never modified: originals keep flowing through the pipeline untouched.

Per-row Python work here (building a request, parsing a reply, a JSON meta) is bounded by the requests made:
each costs seconds of LLM time, so ~20 µs of Python per row is noise (bench/rewrite.py measures client overhead).
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from stages.reasons import reasons_of
from stages.rewrite.cache import ReplyCache
from stages.rewrite.client import ChatClient
from stages.rewrite.config import Backend, Output, RewriteConfig, Select
from stages.rewrite.parse import TOO_LONG, Reply, parse_json_reply, parse_reply
from stages.rewrite.prompt import build_request, load_prompt, request_key, request_seed
from stages.schema import DOCUMENT_SCHEMA, REASON

CANDIDATE = "rewrite_candidate"
"""Boolean column set by the filter: rejected only by the quality classifier (spec/filter.md)."""

REWRITE_SOURCE = "rewrite"
"""`source` of every rewrite row."""

ID_SUFFIX = "#rw"
"""Appended to the draft's id: `<orig>#rw`."""

REWRITE_SCHEMA = pa.schema([*DOCUMENT_SCHEMA, pa.field(REASON, pa.string())])
"""The document schema plus `reject_reason` (null = kept)."""

T = TypeVar("T")


def select_for_rewrite(batch: pa.RecordBatch | pa.Table, select: Select) -> pa.Array:
    """(n,) bool: which rows are drafts. `candidates`: `rewrite_candidate` is true; `all_passing`: those plus kept rows.

    Rows must already be deduplicated (the dedup exchange runs first), so no copy is sent twice.
    """
    names = batch.schema.names
    if CANDIDATE in names:
        col = batch.column(CANDIDATE)
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        candidates = pc.fill_null(col.cast(pa.bool_()), False)
    elif select == Select.CANDIDATES:
        raise ValueError(f"rewrite.select=candidates: the input has no `{CANDIDATE}` column (columns: {names}); "
                         "run the filter with rewrite candidates on, or use select: all_passing")
    else:
        candidates = pa.array([False] * batch.num_rows, pa.bool_())
    if select == Select.CANDIDATES:
        return candidates
    return pc.or_(candidates, pc.is_null(reasons_of(batch)))


def estimate_tokens(texts: pa.Array | pa.ChunkedArray, bytes_per_token: float) -> pa.Array:
    """(n,) int64 token estimate, ceil(UTF-8 bytes / bytes_per_token); null text counts 0."""
    n_bytes = pc.fill_null(pc.binary_length(texts), 0).cast(pa.float64())
    return pc.ceil(pc.divide(n_bytes, bytes_per_token)).cast(pa.int64())


class _LoopThread:
    """One event loop in a daemon thread, shared by every `process` call of a Rewriter (and by Ray's threads)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="rewrite-client", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


class Rewriter:
    """Sends selected documents to the LLM, parses replies, returns one rewrite row per selected document."""

    def __init__(self, config: RewriteConfig) -> None:
        if config.backend == Backend.OPENAI_HTTP and not config.model:
            raise ValueError("rewrite.model: required to send requests (the served model name)")
        self.config = config
        self.template = load_prompt(config.prompt_path)
        self.cache = ReplyCache(config.cache_dir) if config.cache_dir else None
        self.client = ChatClient(config) if config.backend == Backend.OPENAI_HTTP else None
        self._loop: _LoopThread | None = None
        self._loop_lock = threading.Lock()
        self.sent = 0
        """Requests that reached `complete` (cache misses) over this instance's life."""

    def _runner(self) -> _LoopThread:
        with self._loop_lock:
            if self._loop is None:
                self._loop = _LoopThread()
            return self._loop

    def close(self) -> None:
        """Close the HTTP session and stop the loop thread (Ray actors just exit; tests and benches call this)."""
        if self._loop is not None:
            if self.client is not None:
                self._loop.run(self.client.close())
            self._loop.loop.call_soon_threadsafe(self._loop.loop.stop)
            self._loop.thread.join(timeout=5)
            self._loop = None

    def _passthrough(self, text: str) -> Reply:
        if self.config.output != Output.MARKERS:
            content = json.dumps({"task": "", "plan": "", "document": text}, ensure_ascii=False)
            return Reply(content=content, finish_reason="stop")
        m = self.template.markers
        return Reply(content=f"{m.think_open}{m.think_close}{m.out_open}{text}{m.out_close}", finish_reason="stop")

    def parse(self, reply: Reply) -> tuple[str | None, str | None]:
        """(document, None) or (None, reason) for the configured output format."""
        if self.config.output == Output.MARKERS:
            return parse_reply(reply, self.template.markers)
        return parse_json_reply(reply)

    async def _replies(self, ids: list[str], texts: list[str], keys: list[str]) -> list[Reply]:
        """Cached replies where present; the rest from the server, flushed to the cache in groups as they finish."""
        cached = self.cache.get_many(keys) if self.cache is not None else {}
        replies: list[Reply | None] = [cached.get(k) for k in keys]
        todo = [i for i, r in enumerate(replies) if r is None]
        if self.client is None:
            for i in todo:
                replies[i] = self._passthrough(texts[i])
            return replies  # type: ignore[return-value]
        await self.client.open()
        self.sent += len(todo)

        async def one(i: int) -> tuple[int, Reply]:
            body = build_request(self.template, self.config, ids[i], texts[i])
            return i, await self.client.complete(body)  # type: ignore[union-attr]

        pending: list[tuple[str, Reply]] = []
        for fut in asyncio.as_completed([one(i) for i in todo]):
            i, reply = await fut
            replies[i] = reply
            if self.cache is not None and reply.error is None:
                pending.append((keys[i], reply))
                if len(pending) >= self.config.cache_flush_replies:
                    self.cache.put_many(pending)
                    pending = []
        if self.cache is not None:
            self.cache.put_many(pending)
        return replies  # type: ignore[return-value]

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Rewrite rows of REWRITE_SCHEMA for the selected rows of `batch` (none selected: zero rows)."""
        selected = batch.filter(select_for_rewrite(batch, self.config.select))
        n = selected.num_rows
        if n == 0:
            return pa.RecordBatch.from_pylist([], schema=REWRITE_SCHEMA)
        ids: list[str] = selected.column("id").to_pylist()
        texts: list[str] = pc.fill_null(selected.column("text"), "").to_pylist()
        if self.config.max_draft_tokens is not None:
            too_long = pc.greater(estimate_tokens(selected.column("text"), self.config.bytes_per_token),
                                  self.config.max_draft_tokens).to_pylist()
        else:
            too_long = [False] * n
        send = [i for i in range(n) if not too_long[i]]
        keys = [request_key(self.template, self.config, ids[i], texts[i]) for i in range(n)]
        got = self._runner().run(self._replies([ids[i] for i in send], [texts[i] for i in send],
                                               [keys[i] for i in send])) if send else []
        replies: list[Reply | None] = [None] * n
        for i, reply in zip(send, got):
            replies[i] = reply

        out_text: list[str | None] = []
        reasons: list[str | None] = []
        metas: list[str] = []
        sources = selected.column("source").to_pylist()
        draft_metas = selected.column("meta").to_pylist() if "meta" in selected.schema.names else [None] * n
        for i in range(n):
            reply = replies[i]
            if reply is None:
                doc, reason = None, TOO_LONG
            else:
                doc, reason = self.parse(reply)
            out_text.append(doc if reason is None else (reply.content if reply is not None else None))
            reasons.append(reason)
            metas.append(self._meta(ids[i], sources[i], draft_metas[i], keys[i], reply))
        out = pa.RecordBatch.from_arrays([
            pc.binary_join_element_wise(selected.column("id"), ID_SUFFIX, "").cast(pa.string()),
            pa.array(out_text, pa.large_string()),
            pa.array([REWRITE_SOURCE] * n, pa.string()),
            pa.array(metas, pa.string()),
            pa.array(reasons, pa.string()),
        ], schema=REWRITE_SCHEMA)
        assert out.num_rows == n, "one rewrite row per selected draft"
        return out

    def _meta(self, doc_id: str, source: str | None, draft_meta: str | None, key: str, reply: Reply | None) -> str:
        """The draft's meta keys, then carding's provenance (which wins on a name clash)."""
        try:
            base = json.loads(draft_meta) if draft_meta else {}
        except json.JSONDecodeError:
            base = {"draft_meta": draft_meta}  # kept verbatim: the draft's meta is data, not ours to fix
        if not isinstance(base, dict):
            base = {"draft_meta": base}
        info: dict[str, Any] = {
            "model": self.config.model if self.client is not None else "passthrough",
            "prompt_sha256": self.template.sha256,
            "sampling": self.config.sampling,
            "output": str(self.config.output),
            "seed": request_seed(doc_id, self.config.seed),
            "key": key,
            "draft_source": source,
            "finish_reason": reply.finish_reason if reply is not None else None,
            "completion_tokens": reply.completion_tokens if reply is not None else None,
        }
        if reply is not None and reply.error is not None:
            info["error"] = reply.error
            info["error_kind"] = reply.error_kind
            info["attempts"] = reply.attempts
        base["source_id"] = doc_id
        base["rewrite"] = info
        return json.dumps(base, ensure_ascii=False, sort_keys=True)
