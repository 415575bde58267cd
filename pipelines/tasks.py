"""Waiting on Ray tasks the way the runner's stages do: results in order, a progress bar, and a failure that ends
the run with its own error only (its sibling tasks cancelled and collected, not reported by Ray one by one)."""
from __future__ import annotations

import contextlib
from typing import Any

import ray


def gather(refs: list[ray.ObjectRef], label: str, progress: bool, also: list[ray.ObjectRef] = ()) -> list[Any]:
    """Results of `refs`, in their order; with `progress`, a bar of finished tasks on stderr.

    A failed task raises here as soon as it is seen, not after the others finish; the other tasks (`refs` and
    `also`, e.g. tasks that wait for these) are then cancelled and their errors collected, so the user reads the
    one error, not Ray's "Unhandled error" report of every sibling after it.
    """
    try:
        if not progress:
            return ray.get(refs)
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True)) as bar:
            task = bar.add_task(label, total=len(refs))
            pending = list(refs)
            while pending:
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
                ray.get(ready)
                bar.advance(task, len(ready))
        return ray.get(refs)
    except Exception:
        settle([*refs, *also])
        raise


def settle(refs: list[ray.ObjectRef]) -> None:
    """Cancel the tasks behind `refs` and collect their results or errors, while another error is being raised."""
    for ref in refs:
        ray.cancel(ref)
    for ref in refs:
        with contextlib.suppress(Exception):  # each is a sibling of the error being raised, or its cancellation
            ray.get(ref, timeout=30)
