"""Where Ray runs: an embedded local Ray, the cluster at RAY_ADDRESS, or the one `ray job submit` started us on."""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import ray

from pipelines.config import RayConfig

_WORKER_POOL = {"num_workers_soft_limit": 0, "idle_worker_killing_time_threshold_ms": 30 * 60 * 1000}
"""How an embedded Ray keeps its worker processes: one per CPU, started once, kept idle for up to 30 minutes.

The runner's stages (read+filter, dedup, tokenize, pack) are tasks that reuse the same worker processes, which
have imported pyarrow, polars and the numba kernels once, so a worker that Ray kills or starts between stages
costs a cold start (1.5-2.5 s of imports and first calls on the 16-core device machine, with 16 at once).

- The idle time: Ray's default kills a worker idle for 1 s once there are more than one per CPU, and an actor
  stage (the rewrite's pool) adds processes, so the next stage's tasks waited for cold processes: on 16 CPUs an
  11 s stretch at 2-3 busy CPUs before packing (device, 100k documents).
- The soft limit: Ray also starts new workers for queued tasks until the pool reaches this limit, whether or not
  a CPU is free to run them. At 3 per CPU (sessions 2-5) a stage of 256 tasks on 16 CPUs started 16 more
  processes within 2 s of its first task (device, dedup alone: 18 -> 34), each a Ray worker boot of ~1.5 CPU
  seconds, with the raylet busy for 12-15 CPU seconds, while 16 workers stood ready. At 0, a task waits for
  the worker a finishing task frees: on a local 4-CPU Ray, 64 queued tasks in 3 stages started 4 processes, not
  24.

A cluster sets the same on its nodes: `ray start --system-config='{"num_workers_soft_limit": 0,
"idle_worker_killing_time_threshold_ms": 1800000}'`.
"""


WORKER_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 32),
              "MIMALLOC_PURGE_DELAY": "-1"}
"""Environment of an embedded Ray's workers: glibc (numpy's arrays) and mimalloc (pyarrow's default pool) keep the
memory a task freed for the next task instead of handing it back to the kernel and faulting it in again.

Page faults are the work that slows most when 16 processes run at once (`bench.contention`: fresh 64 MB
allocations keep 0.50 of their one-process speed at 16, the filter's compute 0.96-1.06). With 16 warm workers at
once on the device, a filter call of 1,562 documents took 11,000-14,000 minor faults and 1.39-1.46 s without
these, 800-1,900 faults and 1.31-1.34 s with them. The price: a worker keeps its peak heap (0.65-0.76 GB private at
16 CPUs in the bench, bounded by the partition and window sizes) until Ray stops it.

They reach the workers as the environment of the raylet that `ray.init` starts, not as a runtime env: workers of
a runtime env are not the ones Ray prestarts at `ray.init`, so the run's first tasks would wait for new
processes. A value already set in the environment wins. A cluster sets them where it starts its nodes
(`MIMALLOC_PURGE_DELAY=-1 ... ray start`).
"""


def start_ray(config: RayConfig) -> str:
    """Connect to or start Ray once per process; returns a one-line description for the report.

    Inside `ray job submit` (or with RAY_ADDRESS set) `ray.init()` joins that cluster; otherwise it starts an
    embedded Ray with `num_cpus` CPUs and no dashboard, so a laptop run needs no server.
    """
    if ray.is_initialized():
        return _describe()
    address = config.address or os.environ.get("RAY_ADDRESS")
    kwargs: dict = {"logging_level": logging.WARNING, "log_to_driver": True}
    if address:
        ray.init(address=address, **kwargs)
    else:
        # address="local": a new embedded Ray, never a stray `ray start` cluster found in /tmp/ray on this machine
        with _environment(WORKER_ENV):
            ray.init(address="local", num_cpus=config.num_cpus, include_dashboard=False,
                     _system_config=_WORKER_POOL, **kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = config.progress
    ctx.print_on_execution_start = False
    return _describe()


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """os.environ with `values` added (those not set already) inside the block, as it was after it."""
    added = {k: v for k, v in values.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def _describe() -> str:
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus = int(ray.cluster_resources().get("CPU", 0))
    return f"Ray {ray.__version__}: {len(nodes)} node(s), {cpus} CPU(s)"

