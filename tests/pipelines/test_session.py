"""The embedded Ray that `start_ray` starts: one worker process per CPU however many tasks wait, kept between
stages, and the workers' allocator settings, which stay out of the caller's own environment."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from pipelines.config import RayConfig
from pipelines.session import WORKER_ENV, start_ray

pytestmark = pytest.mark.ray


@pytest.fixture
def embedded() -> Iterator[None]:
    if ray.is_initialized():
        ray.shutdown()
    start_ray(RayConfig(num_cpus=2, progress=False))
    yield
    ray.shutdown()


def _started_workers() -> int:
    """Worker processes this Ray has started so far (each writes its own worker-*.out log)."""
    logs = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs"
    return len(list(logs.glob("worker-*.out")))


@ray.remote(num_cpus=1)
def _pause(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def test_queued_tasks_start_no_spare_workers_and_a_later_stage_reuses_them(embedded: None) -> None:
    # Ray starts workers for queued tasks up to its num_workers_soft_limit: 3 per CPU started 8 here, not 2
    first = set(ray.get([_pause.remote(0.05) for _ in range(48)]))
    time.sleep(2.0)  # longer than Ray's default idle time (1 s) before it kills spare workers
    second = set(ray.get([_pause.remote(0.05) for _ in range(48)]))
    assert len(first) == 2 and second == first
    assert _started_workers() == 2


@ray.remote(num_cpus=1)
def _environment() -> dict[str, str | None]:
    return {k: os.environ.get(k) for k in WORKER_ENV}


def test_workers_get_the_allocator_settings_and_the_caller_keeps_its_environment(embedded: None) -> None:
    assert ray.get(_environment.remote()) == WORKER_ENV
    assert not any(k in os.environ for k in WORKER_ENV)


def test_a_value_the_caller_set_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    if ray.is_initialized():
        ray.shutdown()
    monkeypatch.setenv("MIMALLOC_PURGE_DELAY", "250")
    start_ray(RayConfig(num_cpus=1, progress=False))
    try:
        assert ray.get(_environment.remote())["MIMALLOC_PURGE_DELAY"] == "250"
        assert os.environ["MIMALLOC_PURGE_DELAY"] == "250"
    finally:
        ray.shutdown()
