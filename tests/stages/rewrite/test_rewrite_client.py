"""The chat client against a real loopback HTTP server of ours (FaultProxy) that answers scripted faults:
retries with backoff on 429/5xx/timeouts/dropped connections/malformed JSON, no retry on other 4xx, a final
failure becomes a Reply with an error (never an exception), and the API key is sent but never leaks."""
from __future__ import annotations

import asyncio
import json

import pytest

from stages.rewrite.client import ChatClient, EndpointError, check_endpoint
from stages.rewrite.config import RewriteConfig
from stages.rewrite.local_server import FaultProxy, free_port

BODY = {"model": "m", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}


def config(url: str, **kw: object) -> RewriteConfig:
    return RewriteConfig(base_url=url, model="m", backoff_s=0.01, backoff_max_s=0.05, **kw)


def complete(cfg: RewriteConfig, bodies: list[dict]) -> tuple[list, ChatClient]:
    async def go() -> tuple[list, ChatClient]:
        async with ChatClient(cfg) as client:
            return await client.complete_many(bodies), client
    return asyncio.run(go())


@pytest.mark.parametrize("faults", [["429", "500"], ["503", "malformed"], ["drop", "502"]])
def test_transient_faults_are_retried_until_success(faults: list[str]) -> None:
    with FaultProxy(script=list(faults)) as proxy:
        (reply,), client = complete(config(proxy.base_url), [BODY])
    assert reply.error is None and reply.finish_reason == "stop" and "rewrite of" in reply.content
    assert proxy.posts == len(faults) + 1 and reply.attempts == len(faults) + 1
    assert client.stats.retries == len(faults) and client.stats.failed == 0


def test_timeout_is_retried() -> None:
    with FaultProxy(script=["sleep:1.5"]) as proxy:
        (reply,), client = complete(config(proxy.base_url, timeout_s=0.3), [BODY])
    assert reply.error is None and proxy.posts == 2 and client.stats.retries == 1


def test_retries_exhausted_gives_an_error_reply() -> None:
    with FaultProxy(script=["500"] * 3) as proxy:
        (reply,), client = complete(config(proxy.base_url, retries=2), [BODY])
    assert reply.content is None and reply.error.startswith("HTTP 500") and reply.attempts == 3
    assert proxy.posts == 3 and client.stats.failed == 1


def test_client_error_is_not_retried() -> None:
    with FaultProxy(script=["400"]) as proxy:
        (reply,), _ = complete(config(proxy.base_url), [BODY])
    assert reply.error.startswith("HTTP 400") and proxy.posts == 1


def test_connection_refused_is_an_error_after_retries() -> None:
    (reply,), client = complete(config(f"http://127.0.0.1:{free_port()}/v1", retries=1), [BODY])
    assert reply.error.startswith("connection error") and client.stats.attempts == 2


def test_concurrency_is_bounded_and_order_is_kept() -> None:
    bodies = [{**BODY, "messages": [{"role": "user", "content": f"doc {i}"}]} for i in range(12)]
    with FaultProxy() as proxy:
        replies, _ = complete(config(proxy.base_url, max_concurrency=3), bodies)
    assert proxy.posts == 12
    sent = [json.loads(b)["messages"][0]["content"] for b in proxy.bodies]
    assert sorted(sent) == sorted(f"doc {i}" for i in range(12))
    for i, reply in enumerate(replies):  # the echo document is a hash of the prompt: checks reply order
        import hashlib
        assert hashlib.sha256(f"doc {i}".encode()).hexdigest()[:12] in reply.content


def test_api_key_is_sent_from_the_named_env_var_and_never_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-0123456789"
    monkeypatch.setenv("MY_KEY_VAR", secret)
    with FaultProxy(script=["500", "500"]) as proxy:
        cfg = config(proxy.base_url, api_key_env="MY_KEY_VAR", retries=1)
        (reply,), client = complete(cfg, [BODY])
    assert proxy.auth_headers == [f"Bearer {secret}"] * 2
    assert secret not in repr(client) and secret not in repr(cfg) and secret not in reply.error


def test_no_key_sends_no_authorization_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARDING_LLM_API_KEY", raising=False)
    with FaultProxy() as proxy:
        complete(config(proxy.base_url), [BODY])
    assert proxy.auth_headers == [None]


def test_check_endpoint_names_the_url_and_what_to_start_in_one_line() -> None:
    """`carding run` prints a ValueError's message as one line and exits 2 (pipelines/cli.py): the endpoint error
    must be one, on one line, naming the URL and the fix."""
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EndpointError, match="does not answer GET /models") as info:
        check_endpoint(config(url), timeout_s=2)
    message = str(info.value)
    assert isinstance(info.value, ValueError) and "\n" not in message
    assert url in message and "vllm serve" in message and "rewrite.enabled: false" in message
    with FaultProxy(script=[]) as proxy:
        assert check_endpoint(config(proxy.base_url)) == ["fault-proxy"]


def test_check_endpoint_refuses_a_server_that_answers_badly() -> None:
    """A 500 on GET /models, or a body that is not a model list, is an endpoint error too (one line)."""
    import http.server
    import threading

    class Broken(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = b"<html>\n<h1>502 Bad Gateway</h1>\n</html>" if self.path.endswith("/models") else b""
            self.send_response(502)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(EndpointError, match="HTTP 502") as info:
            check_endpoint(config(f"http://127.0.0.1:{server.server_address[1]}/v1"), timeout_s=2)
    finally:
        server.shutdown()
        server.server_close()
    assert "\n" not in str(info.value)


def test_server_down_then_restarted_mid_run_is_retried() -> None:
    """The server dies (connection refused) and comes back on the same port: the request succeeds."""
    import threading
    import time

    port = free_port()
    proxies: list[FaultProxy] = []

    def restart() -> None:
        time.sleep(0.4)
        proxies.append(FaultProxy(port=port).start())

    thread = threading.Thread(target=restart)
    thread.start()
    try:
        cfg = RewriteConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", retries=20, backoff_s=0.1,
                            backoff_max_s=0.2)
        (reply,), client = complete(cfg, [BODY])
    finally:
        thread.join()
        for p in proxies:
            p.stop()
    assert reply.error is None and client.stats.retries >= 1 and proxies[0].posts == 1
