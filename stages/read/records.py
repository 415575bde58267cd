"""Turning parsed records into document rows and quarantine rows; shared by every reader.

Each reader yields the candidate rows of one partition as columns (`id`, `text`, `meta`, and where each came from);
`finish_partition` applies the checks every format shares, all on whole columns: missing or non-string text,
empty or whitespace-only text, documents over `max_doc_bytes`, an id already used earlier in the partition.
Nothing is dropped: a row is a document or a quarantine row with its reason.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from stages.schema import DOCUMENT_SCHEMA, QUARANTINE_SCHEMA

RAW_KEEP_BYTES = 64 << 10
"""A quarantine row keeps at most this much of the raw record: enough to see the problem, bounded for giants."""


@dataclass
class ReadResult:
    """What one partition gave: documents, quarantined records, and how many records it held in all."""

    documents: pa.Table
    quarantine: pa.Table

    @property
    def records(self) -> int:
        return self.documents.num_rows + self.quarantine.num_rows


class QuarantineRows:
    """Collects quarantine rows of one file (a Python list: only bad records pass through here)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.rows: list[dict] = []

    def add(self, reason: str, detail: str, *, offset: int | None = None, line: int | None = None,
            raw: bytes | None = None) -> None:
        self.rows.append({
            "file": self.file, "offset": offset, "line": line, "reason": reason, "detail": detail,
            "raw": None if raw is None else raw[:RAW_KEEP_BYTES],
        })

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=QUARANTINE_SCHEMA)


def finish_partition(
    *,
    file: str,
    source: str,
    ids: pa.Array,
    texts: pa.Array,
    metas: pa.Array,
    offsets: np.ndarray,
    lines: np.ndarray | None,
    raw: Callable[[int], bytes] | None,
    quarantine: QuarantineRows,
    max_doc_bytes: int | None,
    bad_type: np.ndarray | None = None,
) -> ReadResult:
    """Check candidate rows column-wise; send failures to quarantine, derive missing ids, build the documents.

    ids/texts/metas: (n,) string-like, nulls allowed; offsets: (n,) int64 byte offset of each record in `file`
    (row number for Parquet); lines: (n,) 1-based line numbers or None; raw: row index -> the raw record bytes (at
    most RAW_KEEP_BYTES needed), called for quarantined rows only, or None (Parquet, web); bad_type: (n,) bool, true
    where `text` existed but was not a string.

    Ids must be unique (DESIGN.md): a row whose id an earlier good row of this partition already has goes to
    quarantine as `read.duplicate_id`, its detail naming the first one's line or offset. Uniqueness across
    partitions is the runner's check (it sees every partition).
    """
    n = len(texts)
    texts = texts.cast(pa.large_string())
    not_utf8 = _invalid_utf8(texts) | _invalid_utf8(ids.cast(pa.string()))
    if not_utf8.any():  # nulled here so no kernel below reads them; their reason is set after the other checks
        texts = pc.if_else(pa.array(not_utf8), pa.scalar(None, pa.large_string()), texts)
        ids = pc.if_else(pa.array(not_utf8), pa.scalar(None, pa.string()), ids.cast(pa.string()))
    nbytes = pc.fill_null(pc.binary_length(texts), 0).to_numpy(zero_copy_only=False)
    stripped_len = pc.fill_null(pc.utf8_length(pc.utf8_trim_whitespace(texts)), 0).to_numpy(zero_copy_only=False)
    missing = pc.is_null(texts).to_numpy(zero_copy_only=False)
    wrong_type = bad_type if bad_type is not None else np.zeros(n, dtype=bool)
    reason = np.full(n, None, dtype=object)
    # First failing check wins, in this order (a non-string text is also "missing" as a string).
    too_large = (nbytes > max_doc_bytes) if max_doc_bytes is not None else np.zeros(n, dtype=bool)
    for mask, name in ((too_large, "read.too_large"), (stripped_len == 0, "read.empty_text"),
                       (missing, "read.missing_text"), (wrong_type, "read.text_not_string")):
        reason[mask] = name
    reason[not_utf8] = "read.invalid_utf8"
    offsets_arr = pa.array(offsets, pa.int64())
    derived = pc.binary_join_element_wise(pa.scalar(file), offsets_arr.cast(pa.string()), ":")
    ids = pc.coalesce(ids.cast(pa.string()), derived)
    # Duplicate ids among the rows that passed every other check; the first keeps the id. ["a", "b", "a"] → row 2.
    good = np.flatnonzero(reason == None)  # noqa: E711 - numpy elementwise comparison
    good_ids = pl.from_arrow(ids.take(pa.array(good, pa.int64()))) if len(good) else None
    first_of: dict[str, int] = {}
    if good_ids is not None and not good_ids.is_unique().all():
        first = good_ids.is_first_distinct().to_numpy()
        reason[good[~first]] = "read.duplicate_id"
        # {id: row of its first record} for the repeated ids only, for the quarantine detail
        rows = pl.DataFrame({"id": good_ids, "row": good}).filter(pl.Series(first) & good_ids.is_duplicated())
        first_of = dict(zip(rows["id"].to_list(), rows["row"].to_list()))
    bad = np.flatnonzero(reason != None)  # noqa: E711
    for i in bad:  # only bad rows: a loop over the few quarantined records
        if reason[i] == "read.duplicate_id":
            j = first_of[ids[int(i)].as_py()]
            where = f"line {lines[j]}" if lines is not None else f"offset {offsets[j]}"
            detail = f"id {ids[int(i)].as_py()!r} already belongs to the record at {where} of this file"
        else:
            detail = {
                "read.too_large": f"document of {nbytes[i]:,} bytes exceeds max_doc_bytes={max_doc_bytes:,}",
                "read.empty_text": "text is empty or whitespace only",
                "read.missing_text": "no text field (or null)",
                "read.text_not_string": "text field is not a string",
                "read.invalid_utf8": "id or text is not valid UTF-8",
            }[reason[i]]
        quarantine.add(reason[i], detail, offset=int(offsets[i]),
                       line=None if lines is None else int(lines[i]), raw=None if raw is None else raw(int(i)))
    keep = pa.array(reason == None)  # noqa: E711
    docs = pa.table(
        {
            "id": ids,
            "text": texts,
            "source": pa.array(np.full(n, source, dtype=object), pa.string()),
            "meta": pc.fill_null(metas.cast(pa.string()), "{}"),
        },
        schema=DOCUMENT_SCHEMA,
    ).filter(keep)
    return ReadResult(docs, quarantine.table())


def _invalid_utf8(values: pa.Array) -> np.ndarray:
    """(n,) bool: rows of a string array whose bytes are not UTF-8 (Parquet and Arrow do not check on read).

    `validate(full=True)` checks the whole array in C++; only when it fails are the values decoded one by one
    to find the bad rows (a Python loop on an already-broken file only).
    """
    try:
        values.validate(full=True)
        return np.zeros(len(values), dtype=bool)
    except pa.ArrowInvalid:
        raw = values.view(pa.large_binary() if pa.types.is_large_string(values.type) else pa.binary())
        bad = np.zeros(len(values), dtype=bool)
        for i, value in enumerate(raw.to_pylist()):
            if value is not None:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    bad[i] = True
        return bad
