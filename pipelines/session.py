"""Where Ray runs: an embedded local Ray, the cluster at RAY_ADDRESS, or the one `ray job submit` started us on."""
from __future__ import annotations

import logging
import os

import ray

from pipelines.config import RayConfig


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
        ray.init(address="local", num_cpus=config.num_cpus, include_dashboard=False, **kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = config.progress
    ctx.print_on_execution_start = False
    return _describe()


def _describe() -> str:
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus = int(ray.cluster_resources().get("CPU", 0))
    return f"Ray {ray.__version__}: {len(nodes)} node(s), {cpus} CPU(s)"

