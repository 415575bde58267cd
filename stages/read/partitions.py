"""Split the input into partitions: one Ray task each, named deterministically so a rerun finds finished work.

A large uncompressed JSONL file is split by byte range (a range owns the lines that *start* inside it), a Parquet
file by row groups; compressed JSONL, HTML and WARC files are one partition each.

Whole-file problems are found here, in the driver, before any Ray task starts, so they stop the run with one line
naming the file: a missing or unreadable file, an unknown extension, a Parquet file that is unreadable or has no
string `text` column, and a `.json`/`.jsonl` file that holds one JSON array instead of one object per line.
"""
from __future__ import annotations

import glob
import gzip
import hashlib
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from stages.read.config import InputFormat, ReadConfig

_SUFFIXES = {
    ".jsonl": InputFormat.JSONL, ".json": InputFormat.JSONL, ".ndjson": InputFormat.JSONL,
    ".parquet": InputFormat.PARQUET, ".html": InputFormat.HTML, ".htm": InputFormat.HTML,
    ".warc": InputFormat.WARC,
}
_COMPRESSIONS = (".gz", ".zst")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
"""Characters that never reach an output name (dots included, so no name is hidden, `.` or `..`)."""


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
        """A stable file-name-safe name: the file's name, the range, and a short hash of the full path.

        Output files are named by it (`quarantine/<key>.parquet`), so it holds `[A-Za-z0-9_-]` only: an input
        named `..`, `a\\b` or with control characters cannot name a path (`../../x.jsonl` → `x_jsonl-<hash>-0…0`).
        """
        digest = hashlib.sha256(self.path.encode("utf-8", "surrogateescape")).hexdigest()[:10]
        stem = _UNSAFE.sub("_", Path(self.path).name)[:60]
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
        name = name.removesuffix(comp)
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
            _check_glob_folders_readable(p)
            matched = sorted(glob.glob(p, recursive=True))
            if not matched:
                raise FileNotFoundError(f"{p}: the glob matches no file")
            files.extend(m for m in matched if os.path.isfile(m))
        elif os.path.isdir(p):
            if not os.access(p, os.R_OK | os.X_OK):
                raise PermissionError(f"{p}: folder is not readable")
            # A folder contributes its data files only: READMEs and licenses beside the data are not documents.
            # os.walk skips a subfolder it cannot list unless told: its documents would vanish without a word.
            for root, dirs, names in os.walk(p, onerror=_unreadable_folder):
                dirs.sort()
                files.extend(os.path.join(root, n) for n in sorted(names) if not n.startswith(".") and _known(n))
        elif os.path.isfile(p):
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: input file not found")
    return sorted(dict.fromkeys(os.path.normpath(f) for f in files))


def _unreadable_folder(error: OSError) -> None:
    raise PermissionError(f"{error.filename}: folder is not readable ({error.strerror})") from error


def _check_glob_folders_readable(pattern: str) -> None:
    """Raise PermissionError naming the first folder that `glob` would have to list but cannot.

    `glob` skips such a folder without a word, so the files in it would be missing from the run. The folders
    listed are those before each wildcard part (`data/*/x.jsonl`: `data`, then none; `data/*/*.jsonl`: `data` and
    each `data/<sub>`), and every folder below a `**`.
    """
    parts = Path(pattern).parts
    for i, part in enumerate(parts):
        if not any(ch in part for ch in "*?["):
            continue
        prefix = os.path.join(*parts[:i]) if i else os.curdir
        bases = glob.glob(prefix, recursive=True) if any(ch in prefix for ch in "*?[") else [prefix]
        for base in sorted(bases):
            if not os.path.isdir(base):
                continue
            if not os.access(base, os.R_OK | os.X_OK):
                raise PermissionError(f"{base}: folder is not readable (the glob {pattern} needs to list it)")
            if part == "**":
                for _ in os.walk(base, onerror=_unreadable_folder):
                    pass


def plan_partitions(config: ReadConfig) -> list[Partition]:
    """All partitions of the input, in a deterministic order."""
    partitions: list[Partition] = []
    for path in expand_paths(config.paths):
        if not os.access(path, os.R_OK):
            raise PermissionError(f"{path}: input file is not readable")
        fmt = detect_format(path, config.format)
        compressed = path.lower().endswith(_COMPRESSIONS)
        if fmt is InputFormat.JSONL:
            check_not_json_array(path)
        if fmt is InputFormat.JSONL and not compressed:
            size = os.path.getsize(path)
            starts = range(0, max(size, 1), config.split_bytes)
            partitions.extend(
                Partition(path, fmt.value, s, min(s + config.split_bytes, size)) for s in starts
            )
        elif fmt is InputFormat.PARQUET:
            try:
                parquet = pq.ParquetFile(path)
            except Exception as e:  # pyarrow raises several types for a corrupt footer
                raise ValueError(f"{path}: not a readable Parquet file ({e})") from e
            check_parquet_schema(path, parquet.schema_arrow, config.text_field)
            n_groups = parquet.num_row_groups
            step = config.parquet_row_groups_per_task
            partitions.extend(
                Partition(path, fmt.value, g, min(g + step, n_groups)) for g in range(0, max(n_groups, 1), step)
            )
        else:
            partitions.append(Partition(path, fmt.value))
    return partitions


def check_parquet_schema(path: str, schema: pa.Schema, text_field: str) -> None:
    """Raise ValueError naming the file when it has no string column `text_field` (a wrong schema, not bad rows)."""
    if text_field not in schema.names:
        raise ValueError(f"{path}: no column {text_field!r} (columns: {', '.join(schema.names)}); "
                         f"set input.text_field")
    text_type = schema.field(text_field).type
    if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)):
        raise ValueError(f"{path}: column {text_field!r} is {text_type}, expected a string column")


_HEAD_BYTES = 4096


def _head(path: str) -> bytes:
    """The first few KiB of a JSONL file, decompressed; b"" when they don't decompress (the reader then quarantines
    the file's unreadable part as `read.truncated_file`, naming it: this check has nothing to add)."""
    lower = path.lower()
    try:
        if lower.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read(_HEAD_BYTES)
        if lower.endswith(".zst"):
            with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as f:
                return f.read(_HEAD_BYTES)
    except (OSError, EOFError, zlib.error, zstandard.ZstdError):
        return b""
    with open(path, "rb") as f:
        return f.read(_HEAD_BYTES)


def check_not_json_array(path: str) -> None:
    """Raise ValueError naming the file when it is one JSON array of records instead of JSON Lines.

    Such a file (what `json.dump(list_of_dicts)` writes) would otherwise read as one `read.not_an_object` record, or
    one `read.malformed_json` per line when indented: every document in it lost to quarantine. Recognised by its
    first byte `[` followed by `{` or by a line break; a JSONL line `["a", "b"]` is one bad record, not this.
    """
    head = _head(path).lstrip(b" \t\r\n")
    if head.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
        head = head[3:].lstrip(b" \t\r\n")
    if not head.startswith(b"["):
        return
    after = head[1:].lstrip(b" \t")
    if after.startswith((b"{", b"\n", b"\r")) or not after:
        raise ValueError(f"{path}: one JSON array, not JSON Lines (one object per line); convert it first, e.g. "
                         f"`jq -c '.[]' {path} > {os.path.splitext(path)[0]}.jsonl`")
