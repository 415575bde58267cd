"""The LLM server's API key comes from the environment and is never written anywhere: not in an error line, a
quarantine or rewrite row, a repr, the resolved config or the manifest.

Complements test_crash_resume.py::test_the_api_key_in_the_environment_is_in_no_output_and_no_log (a whole run
with the key set, every output and log searched): here the rewrite client talks to a loopback HTTP server that
records the Authorization header (proof the key was really read and sent) and answers with faults. No Ray.
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from pipelines.config import dump_yaml, to_dict
from pipelines.rewrite import check_rewrite_endpoint
from stages.rewrite.client import ChatClient
from stages.rewrite.config import RewriteConfig

KEY = "sk-carding-canary-2b9e64d1c07a35f8"


class _Recorder(BaseHTTPRequestHandler):
    """401 for every request; the body echoes the Authorization header when the server is told to."""

    seen: ClassVar[list[str]] = []
    echo: ClassVar[bool] = False

    def _answer(self) -> None:
        type(self).seen.append(self.headers.get("Authorization", ""))
        if self.command == "POST":
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
        auth = self.headers.get("Authorization", "")
        body = json.dumps({"error": f"invalid credentials {auth}" if self.echo else "invalid credentials"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:  # quiet: the test reads what it needs from `seen`
        pass


@pytest.fixture
def server(monkeypatch) -> Iterator[tuple[RewriteConfig, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"seen": [], "echo": False})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("CARDING_LLM_API_KEY", KEY)
    config = RewriteConfig(enabled=True, model="m", base_url=f"http://127.0.0.1:{httpd.server_port}/v1",
                           retries=0, timeout_s=10.0,
                           refilter_model=__file__)  # must name a file; the client never loads it
    try:
        yield config, handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_refused_key_is_not_repeated_in_the_error_line(server) -> None:
    config, handler = server
    with pytest.raises((RuntimeError, ValueError)) as info:  # ValueError: an EndpointError, printed by the CLI
        check_rewrite_endpoint(config)
    assert handler.seen == [f"Bearer {KEY}"], "the key must be read from the environment and sent"
    assert "HTTP 401" in str(info.value) and KEY not in str(info.value)
    assert KEY not in repr(ChatClient(config)) and KEY not in dump_yaml(config) and KEY not in json.dumps(to_dict(config))


def test_a_failed_request_row_does_not_hold_the_key(server) -> None:
    config, handler = server

    async def one() -> object:
        async with ChatClient(config) as client:
            return await client.complete({"model": "m", "messages": [{"role": "user", "content": "hi"}]})

    reply = asyncio.run(one())
    assert handler.seen == [f"Bearer {KEY}"]
    assert reply.error_kind == "http_401" and KEY not in (reply.error or "")


def test_a_server_that_echoes_the_key_does_not_get_it_written(server) -> None:
    config, handler = server
    handler.echo = True

    async def one() -> object:
        async with ChatClient(config) as client:
            return await client.complete({"model": "m", "messages": [{"role": "user", "content": "hi"}]})

    reply = asyncio.run(one())
    with pytest.raises((RuntimeError, ValueError)) as info:  # ValueError: an EndpointError, printed by the CLI
        check_rewrite_endpoint(config)
    assert handler.seen == [f"Bearer {KEY}"] * 2
    assert KEY not in (reply.error or "") and KEY not in str(info.value)
