"""The pack stage's file maps (pipelines/windows.py `_read_arrow`): one map per file and stage, never a stale one."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from pyarrow import ipc

from pipelines.windows import _read_arrow


def _write(path: Path, ids: list[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, pa.schema([("id", pa.string())])) as writer:
        writer.write_table(pa.table({"id": ids}))
    tmp.replace(path)  # as _tokenize_file does: a new file renamed over the old one


def test_a_stage_maps_each_file_once(tmp_path: Path) -> None:
    path = tmp_path / "a.arrow"
    _write(path, ["x", "y"])
    first = _read_arrow(str(path), "stage-1")
    assert _read_arrow(str(path), "stage-1") is first
    assert first.column("id").to_pylist() == ["x", "y"]


def test_a_new_stage_reads_the_file_replaced_under_the_old_map(tmp_path: Path) -> None:
    path = tmp_path / "a.arrow"
    _write(path, ["x", "y"])
    old = _read_arrow(str(path), "stage-1")
    _write(path, ["z"])  # a rerun's tokenize task replaced the file; the old map still shows the old rows
    assert old.column("id").to_pylist() == ["x", "y"]
    assert _read_arrow(str(path), "stage-2").column("id").to_pylist() == ["z"]
