"""Readers: raw files → document batches (`id`, `text`, `source`, `meta`) plus quarantine rows.

In:  JSONL (plain, .gz, .zst), Parquet, HTML pages, WARC archives (`ReadConfig.paths`).
Out: `ReadResult(documents: pa.Table[DOCUMENT_SCHEMA], quarantine: pa.Table[QUARANTINE_SCHEMA])` per partition;
     every input record is exactly one of the two. A whole input that can't be read (missing file, wrong Parquet
     schema) raises an error naming it.
"""
from __future__ import annotations

from stages.read.config import InputFormat, ReadConfig
from stages.read.jsonl import read_jsonl
from stages.read.parquet import read_parquet
from stages.read.partitions import Partition, expand_paths, plan_partitions
from stages.read.records import ReadResult
from stages.read.web import read_html, read_warc

__all__ = ["InputFormat", "Partition", "ReadConfig", "ReadResult", "expand_paths", "plan_partitions", "read_partition"]

_READERS = {
    InputFormat.JSONL: read_jsonl,
    InputFormat.PARQUET: read_parquet,
    InputFormat.HTML: read_html,
    InputFormat.WARC: read_warc,
}


def read_partition(part: Partition, config: ReadConfig) -> ReadResult:
    """Read one partition with the reader of its format."""
    return _READERS[InputFormat(part.format)](part, config)
