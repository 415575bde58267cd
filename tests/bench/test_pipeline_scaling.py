"""bench.pipeline's scaling arithmetic: a point of several runs is its median run, and efficiency uses it."""
from __future__ import annotations

from bench.pipeline import efficiency, median_runs


def _run(cpus: int, seconds: float) -> dict:
    return {"cpus": cpus, "seconds": seconds, "docs_per_s": 1000 / seconds}


def test_each_point_is_its_median_run_with_every_run_kept():
    rows = [_run(16, 45.1), _run(1, 480.0), _run(16, 37.1), _run(1, 410.0), _run(16, 40.1), _run(1, 470.0)]
    points = median_runs(rows)
    assert [(p["cpus"], p["seconds"], p["runs_s"]) for p in points] == [
        (1, 470.0, [480.0, 410.0, 470.0]), (16, 40.1, [45.1, 37.1, 40.1])]
    assert round(efficiency(points, 16), 4) == round(470.0 / (16 * 40.1), 4)


def test_an_even_count_takes_the_faster_middle_run_and_one_run_is_itself():
    assert median_runs([_run(2, 10.0), _run(2, 12.0)])[0]["seconds"] == 10.0
    assert median_runs([_run(4, 7.0)]) == [{**_run(4, 7.0), "runs_s": [7.0]}]
    assert efficiency(median_runs([_run(4, 7.0)]), 4) is None  # no 1-CPU run
