"""bench.pipeline's scaling arithmetic (a point of several runs is its median run, and efficiency uses it), the
dedup-alone curve's JSON line, and the Parquet copy that curve reads."""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from bench.corpus import CorpusSpec, ensure_corpus
from bench.pipeline import _dedup_line, efficiency, median_runs, parquet_copy


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


def test_a_dedup_alone_curve_has_its_own_json_line():
    rows = median_runs([{**_run(1, 390.0), "steps": {"signatures": 300.0}}, {**_run(16, 30.0), "steps": {"signatures": 20.0}},
                        {**_run(16, 31.0), "steps": {"signatures": 21.0}}])
    line = _dedup_line(rows, {"n_docs": 1000, "n_bytes": 2_000_000})
    assert line["metric"] == "dedup_docs_per_s" and line["cpus"] == 16 and line["seconds"] == 30.0
    assert line["runs_s"] == {"dedup_1": [390.0], "dedup_16": [30.0, 31.0]}
    assert line["dedup_efficiency_16"] == round(390.0 / (16 * 30.0), 3)
    assert line["steps_s"] == {"signatures": 20.0}


def test_the_parquet_copy_is_the_same_from_one_process_or_several(tmp_path):
    corpus = ensure_corpus(CorpusSpec(n_docs=60, n_files=3, seed=0), cache=tmp_path / "a")
    other = ensure_corpus(CorpusSpec(n_docs=60, n_files=3, seed=0), cache=tmp_path / "b")
    one, several = parquet_copy(corpus), parquet_copy(other, procs=3)
    assert [Path(f).name for f in one] == [Path(f).name for f in several]
    for a, b in zip(one, several):
        ta, tb = pq.read_table(a), pq.read_table(b)
        assert ta.equals(tb) and ta.num_rows == 20 and ta.column_names == ["id", "text", "source", "meta"]
    assert parquet_copy(corpus, procs=3) == one  # cached: nothing converted again
