"""Shared timing, table and JSON-line code for every benchmark (STYLE.md §9).

Every benchmark: check outputs agree with the peer, time each implementation (median after a warm-up), print one
table, and end with exactly one JSON line `{"bench", "metric", "value", "unit", "peer", "ratio", ...}`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any


@dataclass
class Timing:
    """Median wall seconds of `repeat` runs after one warm-up, plus the size of the input they processed."""

    name: str
    seconds: float
    items: float
    item_unit: str
    mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_s(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("inf")


def time_it(name: str, fn: Callable[[], Any], *, items: float, item_unit: str, mb: float | None = None,
            repeat: int = 3, warmup: int = 1) -> tuple[Timing, Any]:
    """Run `fn` warmup + repeat times; return (Timing with the median seconds, the last result)."""
    result = None
    for _ in range(warmup):
        result = fn()
    samples = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t0)
    return Timing(name, statistics.median(samples), items, item_unit, mb), result


def print_table(title: str, rows: list[Timing], peer: Timing | None = None) -> None:
    """One aligned table: implementation, items, MB, median s, throughput, ratio vs peer."""
    print(f"\n{title}")
    header = f"{'implementation':<28} {'items':>12} {'MB':>9} {'median s':>10} {'per s':>14} {'ratio':>8}"
    print(header)
    print("-" * len(header))
    for t in rows:
        ratio = f"{t.per_s / peer.per_s:8.2f}" if peer is not None else f"{'':>8}"
        mb = f"{t.mb:9.2f}" if t.mb is not None else f"{'':>9}"
        print(f"{t.name:<28} {t.items:>12,.0f} {mb} {t.seconds:>10.4f} {t.per_s:>14,.1f} {ratio}")


def environment(packages: tuple[str, ...] = ()) -> dict[str, Any]:
    """Cores, Python and package versions, printed by every benchmark so figures can be compared."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {"cores": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(), **versions}


def print_environment(packages: tuple[str, ...] = (), seed: int | None = None) -> None:
    env = environment(packages)
    if seed is not None:
        env["seed"] = seed
    print("environment: " + ", ".join(f"{k}={v}" for k, v in env.items()))


def emit(bench: str, *, metric: str, value: float, unit: str, peer: str, ratio: float, **extra: Any) -> None:
    """Print the benchmark's last line: one JSON object (DESIGN.md, Benchmarks)."""
    line = {"bench": bench, "metric": metric, "value": round(value, 4), "unit": unit, "peer": peer,
            "ratio": round(ratio, 4), **extra}
    print(json.dumps(line), flush=True)


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the flags every benchmark takes (`--quick`, `--repeat`, `--seed`)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small input, under a minute on 2 cores; same JSON keys")
    p.add_argument("--repeat", type=int, default=3, help="timed runs after one warm-up (median is reported)")
    p.add_argument("--seed", type=int, default=0, help="seed for generated inputs")
    return p
