"""Split the input into partitions: one Ray task each, named deterministically so a rerun finds finished work.

A large uncompressed JSONL file is split by byte range (a range owns the lines that *start* inside it), a Parquet
file by row groups; compressed JSONL, HTML and WARC files are one partition each.
"""
from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from stages.read.config import InputFormat, ReadConfig

_SUFFIXES = {
    ".jsonl": InputFormat.JSONL, ".json": InputFormat.JSONL, ".ndjson": InputFormat.JSONL,
    ".parquet": InputFormat.PARQUET, ".html": InputFormat.HTML, ".htm": InputFormat.HTML,
    ".warc": InputFormat.WARC,
}
_COMPRESSIONS = (".gz", ".zst")


@dataclass(frozen=True, slots=True)
class Partition:
    """One unit of reading: a file, a byte range of one, or a run of Parquet row groups."""

    path: str
    format: str
    start: int = 0
    """Byte offset (JSONL) or first row group (Parquet)."""
    end: int | None = None
    """Exclusive end byte (JSONL) or row group (Parquet); None = to the end of the file."""

    @property
    def key(self) -> str:
        """A stable file-name-safe name: the file's name, the range, and a short hash of the full path."""
        digest = hashlib.sha256(self.path.encode()).hexdigest()[:10]
        stem = Path(self.path).name.replace(".", "_")[:60]
        return f"{stem}-{digest}-{self.start:012d}"

    @property
    def source(self) -> str:
        """The `source` column value: the file name without its extensions (`gutenberg.jsonl.zst` → `gutenberg`)."""
        return Path(self.path).name.split(".")[0]


def detect_format(path: str, configured: InputFormat) -> InputFormat:
    """The format of one file: the configured one, or from its extension under `auto`."""
    if configured is not InputFormat.AUTO:
        return configured
    name = path.lower()
    for comp in _COMPRESSIONS:
        if name.endswith(comp):
            name = name[: -len(comp)]
    suffix = os.path.splitext(name)[1]
    if suffix not in _SUFFIXES:
        raise ValueError(f"{path}: cannot tell the format from the extension {suffix!r}; "
                         f"name it .jsonl/.parquet/.html/.warc(.gz|.zst) or set input.format")
    return _SUFFIXES[suffix]


def _known(name: str) -> bool:
    try:
        detect_format(name, InputFormat.AUTO)
    except ValueError:
        return False
    return True


def expand_paths(paths: list[str]) -> list[str]:
    """Files named by paths, folders (recursive; data files only) and globs, sorted, deduplicated; a missing one raises."""
    if not paths:
        raise ValueError("input.paths is empty: name at least one file, folder or glob to read")
    files: list[str] = []
    for p in paths:
        if any(ch in p for ch in "*?["):
            matched = sorted(glob.glob(p, recursive=True))
            if not matched:
                raise FileNotFoundError(f"{p}: the glob matches no file")
            files.extend(m for m in matched if os.path.isfile(m))
        elif os.path.isdir(p):
            if not os.access(p, os.R_OK | os.X_OK):
                raise PermissionError(f"{p}: folder is not readable")
            # A folder contributes its data files only: READMEs and licenses beside the data are not documents.
            for root, dirs, names in os.walk(p):
                dirs.sort()
                files.extend(os.path.join(root, n) for n in sorted(names) if not n.startswith(".") and _known(n))
        elif os.path.isfile(p):
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: input file not found")
    return sorted(dict.fromkeys(os.path.normpath(f) for f in files))


def plan_partitions(config: ReadConfig) -> list[Partition]:
    """All partitions of the input, in a deterministic order."""
    partitions: list[Partition] = []
    for path in expand_paths(config.paths):
        if not os.access(path, os.R_OK):
            raise PermissionError(f"{path}: input file is not readable")
        fmt = detect_format(path, config.format)
        compressed = path.lower().endswith(_COMPRESSIONS)
        if fmt is InputFormat.JSONL and not compressed:
            size = os.path.getsize(path)
            starts = range(0, max(size, 1), config.split_bytes)
            partitions.extend(
                Partition(path, fmt.value, s, min(s + config.split_bytes, size)) for s in starts
            )
        elif fmt is InputFormat.PARQUET:
            try:
                n_groups = pq.ParquetFile(path).num_row_groups
            except Exception as e:  # pyarrow raises several types for a corrupt footer
                raise ValueError(f"{path}: not a readable Parquet file ({e})") from e
            step = config.parquet_row_groups_per_task
            partitions.extend(
                Partition(path, fmt.value, g, min(g + step, n_groups)) for g in range(0, max(n_groups, 1), step)
            )
        else:
            partitions.append(Partition(path, fmt.value))
    return partitions
