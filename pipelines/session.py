"""Where Ray runs: an embedded local Ray, the cluster at RAY_ADDRESS, or the one `ray job submit` started us on."""
from __future__ import annotations

import logging
import os

import ray

from pipelines.config import RayConfig

_WORKERS_PER_CPU = 3
"""Worker processes an embedded Ray keeps, per CPU, before it kills idle ones (Ray's default: 1 per CPU).

The runner's stages (read+filter, dedup, tokenize, pack) are tasks that reuse the same worker processes, which
have imported pyarrow, spaCy and the numba kernels once. An actor pool (the rewrite stage's; the tokenizer's until
it became tasks) adds processes; with Ray's default limit the raylet then killed the idle task workers, and the
next stage's tasks waited for cold processes that Ray starts a few at a time: on 16 CPUs an 11 s stretch at 2-3
busy CPUs before packing (device, 100k documents); on 2 CPUs, tasks after an actor stage took 4.8 s in new
processes and 0.3 s in kept ones. Idle workers cost memory (about 0.7 GB private each after the filters), so the
limit stays a small multiple of the CPUs. A cluster sets it on its own nodes:
`ray start --system-config='{"num_workers_soft_limit": 48}'` for 16 CPUs.
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
        workers = _WORKERS_PER_CPU * (config.num_cpus or os.cpu_count() or 1)
        ray.init(address="local", num_cpus=config.num_cpus, include_dashboard=False,
                 _system_config={"num_workers_soft_limit": workers}, **kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = config.progress
    ctx.print_on_execution_start = False
    return _describe()


def _describe() -> str:
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus = int(ray.cluster_resources().get("CPU", 0))
    return f"Ray {ray.__version__}: {len(nodes)} node(s), {cpus} CPU(s)"

