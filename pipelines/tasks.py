"""Waiting on Ray tasks the way the runner's stages do: results in order, a progress bar, and a failure that ends
the run with its own error only (the sibling tasks that fail with it collected, not reported by Ray one by one)."""
from __future__ import annotations

import contextlib
from typing import Any

import ray


def gather(refs: list[ray.ObjectRef], label: str, progress: bool, also: list[ray.ObjectRef] = ()) -> list[Any]:
    """Results of `refs`, in their order; with `progress`, a bar of finished tasks on stderr.

    A failed task raises here as soon as it is seen, not after the others finish; the other tasks (`refs` and
    `also`, e.g. tasks that wait for these) that fail with it are then collected (`settle`), so the user reads the
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


def settle(refs: list[ray.ObjectRef], wait_s: float = 1.0) -> None:
    """Collect the results or errors of those of `refs` that finish within `wait_s`, while another error is being
    raised: the tasks that waited for the failed one fail at once, and an error collected is not reported again.

    No `ray.cancel`: in Ray 2.60 a task that completes while it is being cancelled stops the driver
    (`task_manager.cc:1329`, "An unexpected system state has occurred"; seen in this project's tests). Tasks still
    running are left to finish or to end with Ray.
    """
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=wait_s, fetch_local=False)
    for ref in ready:
        with contextlib.suppress(Exception):  # each is a sibling of the error being raised
            ray.get(ref)
