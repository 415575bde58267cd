"""What the reader reads and how it splits the input into partitions (one Ray task each)."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class InputFormat(StrEnum):
    AUTO = "auto"
    """Chosen per file from its name: .jsonl/.json(.gz|.zst), .parquet, .html/.htm, .warc(.gz)."""
    JSONL = "jsonl"
    PARQUET = "parquet"
    HTML = "html"
    WARC = "warc"


@dataclass(frozen=True, kw_only=True, slots=True)
class ReadConfig:
    paths: list[str] = field(default_factory=list)
    """Files, folders (read recursively, sorted) or glob patterns; relative paths are taken from the working
    directory, so `ray job submit --working-dir .` finds the same files."""
    format: InputFormat = InputFormat.AUTO
    """Input format; auto picks it per file from the extension."""
    text_field: str = "text"
    """The JSONL/Parquet field holding the document text."""
    id_field: str = "id"
    """The field holding a stable document id; rows without one get `<file>:<byte offset>` (or `<file>:<row>`)."""
    split_bytes: int = 64 << 20
    """Uncompressed JSONL files larger than this are split into byte ranges, one task each (carding choice:
    64 MiB keeps a task's Arrow table near 100 MB). Compressed files are one task each: they cannot be seeked."""
    parquet_row_groups_per_task: int = 1
    """Parquet row groups read by one task."""
    max_doc_bytes: int | None = 64 << 20
    """Documents larger than this go to quarantine as `read.too_large` (a 200 MB line would dominate a worker's
    memory and every later stage); None keeps every size."""
    sample_docs: int | None = None
    """Read only about this many documents (the first ones of each partition, spread over partitions): the
    `--dry-run` sample. None reads everything."""

    def __post_init__(self) -> None:
        if self.split_bytes < 1 << 16:
            raise ValueError(f"split_bytes={self.split_bytes}: must be >= 65536 so a range holds whole lines")
        if self.parquet_row_groups_per_task < 1:
            raise ValueError(f"parquet_row_groups_per_task={self.parquet_row_groups_per_task}: must be >= 1")
        if self.max_doc_bytes is not None and self.max_doc_bytes < 1:
            raise ValueError(f"max_doc_bytes={self.max_doc_bytes}: must be >= 1, or null for no limit")
        if self.sample_docs is not None and self.sample_docs < 1:
            raise ValueError(f"sample_docs={self.sample_docs}: must be >= 1, or null to read everything")
