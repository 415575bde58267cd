"""Partition planning: deterministic order, clear errors for inputs that cannot be read at all."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stages.read import ReadConfig, plan_partitions, read_partition


def test_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.jsonl: input file not found"):
        plan_partitions(ReadConfig(paths=[str(tmp_path / "nowhere.jsonl")]))


def test_unknown_extension_named_explicitly_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="notes.txt: cannot tell the format"):
        plan_partitions(ReadConfig(paths=[str(tmp_path / "notes.txt")]))


def test_folder_reads_data_files_only_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("not data")
    (tmp_path / "b.jsonl").write_text('{"text": "b"}\n')
    (tmp_path / "a.jsonl").write_text('{"text": "a"}\n')
    parts = plan_partitions(ReadConfig(paths=[str(tmp_path)]))
    assert [Path(p.path).name for p in parts] == ["a.jsonl", "b.jsonl"]
    assert len({p.key for p in parts}) == 2


def test_parquet_with_wrong_schema_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"body": ["no text column here"]}), path)
    config = ReadConfig(paths=[str(path)])
    with pytest.raises(ValueError, match=r"wrong.parquet: no column 'text'"):
        read_partition(plan_partitions(config)[0], config)


def test_parquet_row_groups_become_partitions(tmp_path: Path) -> None:
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(10)], "text": [f"text {i}" for i in range(10)]}),
                   path, row_group_size=3)
    config = ReadConfig(paths=[str(path)])
    parts = plan_partitions(config)
    assert len(parts) == 4
    ids = [i for p in parts for i in read_partition(p, config).documents.column("id").to_pylist()]
    assert ids == [f"d{i}" for i in range(10)]

