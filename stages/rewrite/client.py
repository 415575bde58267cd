"""Async client for an OpenAI-compatible `/v1/chat/completions` server (vLLM, SGLang, llama.cpp).

Bounded concurrency (one semaphore per client), retries with exponential backoff and full jitter on timeouts,
dropped connections, 408/429/5xx and malformed 200 bodies; any other status fails at once. The API key comes
from the environment variable the config names and is sent only in the Authorization header: it never enters
an error message, a reply, a row, a log or `repr(client)`.

Chosen over the `openai` package: aiohttp is already installed with `ray[default]`, and the bench measures
this client against a bare `openai` client on the same server (spec target: >= 0.9 of its tokens/s). Measured
against an instant loopback server (bench/rewrite.py, c=4, 400 requests): 82 requests/s vs openai's 61 (1.35x);
under cProfile 4.3 of its 4.7 s are spent idle in epoll waiting for the server, i.e. about 1 ms of client work
per request, against 0.4-5 s of generation per request even for the 135M model on 2 cores.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stages.rewrite.config import Output, RewriteConfig
from stages.rewrite.parse import Reply
from stages.rewrite.prompt import response_format

if TYPE_CHECKING:
    import aiohttp

_RETRY_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))


class EndpointError(ValueError):
    """The configured endpoint (rewrite.base_url, .model, the key in rewrite.api_key_env) cannot serve the run.

    A ValueError, like every other bad config value, so `carding run` prints its one-line message and exits 2
    instead of a traceback."""


@dataclass(slots=True)
class ClientStats:
    """Counters of one client: HTTP attempts sent, retries among them, and replies that failed for good."""

    attempts: int = 0
    retries: int = 0
    failed: int = 0


def _api_key(config: RewriteConfig) -> str | None:
    return os.environ.get(config.api_key_env) or None


def _headers(config: RewriteConfig) -> dict[str, str]:
    key = _api_key(config)
    return {"Authorization": f"Bearer {key}"} if key else {}


def _redacted(text: str, config: RewriteConfig) -> str:
    """Server text with the API key replaced by `***`, before it is cut or enters an error line or a row:
    a server or proxy that echoes the Authorization header must not put the key into stderr or `rewrites/`."""
    key = _api_key(config)
    return text.replace(key, "***") if key else text


def _parse_body(text: str) -> Reply:
    """A 200 body -> Reply; raises ValueError on a body that is not a chat completion."""
    data = json.loads(text)
    choice = data["choices"][0]
    content = choice["message"]["content"]
    if content is not None and not isinstance(content, str):
        raise ValueError(f"message.content is {type(content).__name__}, expected a string")
    usage = data.get("usage") or {}
    tokens = usage.get("completion_tokens")
    return Reply(content=content, finish_reason=choice.get("finish_reason"),
                 completion_tokens=int(tokens) if tokens is not None else None)


class ChatClient:
    """One aiohttp session + semaphore; use `async with ChatClient(config) as c: await c.complete_many(bodies)`."""

    def __init__(self, config: RewriteConfig) -> None:
        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self.stats = ClientStats()
        self._session: aiohttp.ClientSession | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._rng = random.Random(config.seed)  # jitter only: never part of any output

    def __repr__(self) -> str:
        return f"ChatClient(url={self.url!r}, model={self.config.model!r}, api_key_env={self.config.api_key_env!r})"

    async def __aenter__(self) -> ChatClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Create the session and semaphore on the running loop (they are bound to it)."""
        import aiohttp  # here, not at module level: every Ray worker imports this package's config (0.1 s)
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.config.max_concurrency)
            self._session = aiohttp.ClientSession(connector=connector, headers=_headers(self.config))
            self._semaphore = asyncio.Semaphore(self.config.max_concurrency)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _backoff_s(self, attempt: int, retry_after: str | None) -> float:
        cap = self.config.backoff_max_s
        if retry_after is not None:
            try:
                return min(cap, max(0.0, float(retry_after)))
            except ValueError:
                pass  # an HTTP-date Retry-After: fall back to our own backoff
        return self._rng.uniform(0.0, min(cap, self.config.backoff_s * 2.0**attempt))

    async def _attempt(self, body: dict[str, Any]) -> tuple[Reply | None, str, str, bool, str | None]:
        """One HTTP try: (reply or None, error text, error kind, retryable, Retry-After header)."""
        import aiohttp
        assert self._session is not None and self._semaphore is not None, "call open() first"
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        async with self._semaphore:
            self.stats.attempts += 1
            try:
                async with self._session.post(self.url, json=body, timeout=timeout) as resp:
                    status = resp.status
                    text = await resp.text(errors="replace")
                    retry_after = resp.headers.get("Retry-After")
            except TimeoutError:
                return None, f"timeout after {self.config.timeout_s:g} s", "timeout", True, None
            except aiohttp.ClientError as exc:  # refused, reset, server gone mid-reply, bad HTTP
                return None, f"connection error: {type(exc).__name__}: {_redacted(str(exc), self.config)}", "connection", \
                    True, None
        if status == 200:
            try:
                return _parse_body(text), "", "", False, None
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                return None, f"malformed reply: {type(exc).__name__}: {_redacted(str(exc), self.config)[:200]}", \
                    "malformed", True, None
        return None, f"HTTP {status}: {_redacted(text, self.config)[:200]}", f"http_{status}", status in _RETRY_STATUS, \
            retry_after

    async def complete(self, body: dict[str, Any]) -> Reply:
        """Send one request with retries; never raises for server faults: a final failure is `Reply(error=...)`."""
        error, kind = "", ""
        for attempt in range(self.config.retries + 1):
            reply, error, kind, retryable, retry_after = await self._attempt(body)
            if reply is not None:
                return Reply(content=reply.content, finish_reason=reply.finish_reason,
                             completion_tokens=reply.completion_tokens, attempts=attempt + 1)
            if not retryable or attempt == self.config.retries:
                break
            self.stats.retries += 1
            await asyncio.sleep(self._backoff_s(attempt, retry_after))  # outside the semaphore: others go on
        self.stats.failed += 1
        return Reply(content=None, finish_reason=None, error=error, attempts=attempt + 1, error_kind=kind)

    async def complete_many(self, bodies: Sequence[dict[str, Any]]) -> list[Reply]:
        """Replies in the order of `bodies`; at most `max_concurrency` requests are in flight."""
        await self.open()
        return list(await asyncio.gather(*(self.complete(b) for b in bodies)))


def list_models(config: RewriteConfig, timeout_s: float = 10.0) -> list[str]:
    """GET `{base_url}/models` once; the served model ids. Raises EndpointError (one line) saying what to fix."""
    import aiohttp

    async def _get() -> list[str]:
        async with aiohttp.ClientSession(headers=_headers(config)) as session:
            async with session.get(config.base_url.rstrip("/") + "/models",
                                   timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                text = await resp.text(errors="replace")
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}: {_redacted(text, config)[:200]}")
                return [m["id"] for m in json.loads(text)["data"]]

    try:
        return asyncio.run(_get())
    except (TimeoutError, aiohttp.ClientError, RuntimeError, ValueError, KeyError, TypeError) as exc:
        detail = " ".join(_redacted(f"{type(exc).__name__}: {exc}", config).split())[:300]  # one line, whatever the server said
        raise EndpointError(
            f"rewrite: the LLM endpoint {config.base_url} does not answer GET /models ({detail}). "
            "Start the server (vLLM: `vllm serve MODEL`; SGLang: `python -m sglang.launch_server --model-path MODEL`;"
            " llama.cpp: `python -m llama_cpp.server --model FILE.gguf`), or fix rewrite.base_url"
            f" / the key in ${config.api_key_env}, or set rewrite.enabled: false."
        ) from exc


def _probe_output_format(config: RewriteConfig) -> None:
    """POST one 1-token request with the configured `response_format`; EndpointError if the server refuses it.

    Without this, a server that does not speak the chosen dialect (llama-cpp-python answers `json_schema` with
    HTTP 500) would turn every document of the run into `rewrite.error` after its retries."""
    import aiohttp
    body = {"model": config.model, "messages": [{"role": "user", "content": "Reply with a JSON object."}],
            "max_tokens": 1, "temperature": 0.0, "response_format": response_format(config)}

    async def _post() -> tuple[int, str]:
        async with aiohttp.ClientSession(headers=_headers(config)) as session:
            async with session.post(config.base_url.rstrip("/") + "/chat/completions", json=body,
                                    timeout=aiohttp.ClientTimeout(total=config.timeout_s)) as resp:
                return resp.status, await resp.text(errors="replace")

    try:
        status, text = asyncio.run(_post())
    except (TimeoutError, aiohttp.ClientError) as exc:
        status, text = 0, f"{type(exc).__name__}: {exc}"
    if status != 200:
        detail = " ".join(_redacted(text, config).split())[:300]
        other = "json_object" if config.output == Output.JSON_SCHEMA else "json_schema"
        raise EndpointError(
            f"rewrite.output={config.output}: the server at {config.base_url} refused a request with its "
            f"response_format (HTTP {status}: {detail}). llama-cpp-python's server takes output: json_object; vLLM, "
            f"SGLang and llama.cpp's llama-server take json_schema; try output: {other} or markers.")


def check_endpoint(config: RewriteConfig, timeout_s: float = 10.0) -> list[str]:
    """Raise EndpointError if the endpoint is down, does not serve `config.model`, or refuses the configured JSON
    output format (one 1-token request); returns the served ids.

    llama.cpp's server answers any model name with its one model, so a mismatch there is only reported,
    not fatal, when exactly one model is served.
    """
    models = list_models(config, timeout_s)
    if config.model not in models and len(models) != 1:
        raise EndpointError(f"rewrite.model={config.model!r} is not served at {config.base_url}; "
                            f"the server lists {models}")
    if config.output != Output.MARKERS:
        _probe_output_format(config)
    return models
