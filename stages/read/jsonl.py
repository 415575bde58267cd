"""JSONL (plain, .gz, .zst) → document rows, one byte range or one compressed file per call.

Fast path: pyarrow's JSON reader parses the whole range in C++ (~10× `json.loads` per line). It rejects the whole
block on one bad line and silently replaces invalid UTF-8, so a range is first checked for valid UTF-8 and any
failure of the fast path falls back to a per-line parse of that range only, which names the line of each bad record.
A range nested deeper than `MAX_FAST_DEPTH` also takes the per-line path: at ~1,000 levels polars' struct encoder
segfaults and at ~100,000 pyarrow's JSON reader overflows the C stack, either of which would kill the Ray worker.
"""
from __future__ import annotations

import io
import json
import zlib

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.json as pj
import zstandard

from stages.read.config import ReadConfig
from stages.read.partitions import Partition
from stages.read.records import RAW_KEEP_BYTES, QuarantineRows, ReadResult, finish_partition

_ID_TEXT = pa.schema([("id", pa.string()), ("text", pa.large_string())])
MAX_FAST_DEPTH = 64
"""Deepest bracket nesting handed to pyarrow/polars; real metadata stays far below it."""
_BRACKET_STEP = np.zeros(256, dtype=np.int8)
_BRACKET_STEP[[ord("["), ord("{")]] = 1
_BRACKET_STEP[[ord("]"), ord("}")]] = -1


def read_jsonl(part: Partition, config: ReadConfig) -> ReadResult:
    """Read one JSONL partition; bad records go to quarantine with file, line (when known), byte offset, reason."""
    quarantine = QuarantineRows(part.path)
    body, base, first_line = _load(part, quarantine)
    starts, ends = _line_bounds(body)
    blank = _blank_lines(body, starts, ends)
    starts, ends = starts[~blank], ends[~blank]
    lines = None if first_line is None else first_line + _line_numbers(body, starts)
    if config.sample_docs is not None:
        starts, ends = starts[: config.sample_docs], ends[: config.sample_docs]
        body = body[: int(ends[-1]) + 1] if len(ends) else b""
        lines = None if lines is None else lines[: len(starts)]
    parsed = _parse_fast(body, len(starts)) if _is_utf8(body) and _max_depth(body) <= MAX_FAST_DEPTH else None
    if parsed is None:
        parsed = _parse_slow(body, starts, ends, base, lines, quarantine)
        keep = parsed.pop("row_index")
        starts, ends = starts[keep], ends[keep]
        lines = None if lines is None else lines[keep]

    def raw(i: int) -> bytes:  # only quarantined rows are sliced: no second copy of a 200 MB body
        return body[int(starts[i]): min(int(ends[i]), int(starts[i]) + RAW_KEEP_BYTES)]

    return finish_partition(
        file=part.path, source=part.source, ids=parsed["id"], texts=parsed["text"], metas=parsed["meta"],
        offsets=base + starts, lines=lines, raw=raw, quarantine=quarantine, max_doc_bytes=config.max_doc_bytes,
        bad_type=parsed.get("bad_type"),
    )


def _load(part: Partition, quarantine: QuarantineRows) -> tuple[bytes, int, int | None]:
    """(bytes of the lines this partition owns, byte offset of the first, its line number or None).

    A plain range owns the lines that start inside [start, end). A compressed file is read whole; a truncated one
    keeps its complete lines and quarantines the cut-off tail as `read.truncated_file`.
    """
    path = part.path
    lower = path.lower()
    if lower.endswith((".gz", ".zst")):
        data, error = _decompress(path, zstd=lower.endswith(".zst"))
        if error is not None:
            cut = data.rfind(b"\n") + 1
            quarantine.add("read.truncated_file", f"compressed stream ends early ({error}); "
                           f"{len(data) - cut} decompressed bytes after the last complete line",
                           offset=cut, raw=data[cut:])
            data = data[:cut]
        return data, 0, 1
    with open(path, "rb") as f:
        if part.start > 0:
            f.seek(part.start - 1)
            f.readline()  # the line holding byte start-1 belongs to the previous range
        pos = f.tell()
        end = part.end if part.end is not None else 1 << 62
        body = f.read(max(0, end - pos))
        if body and not body.endswith(b"\n"):
            body += f.readline()
    # Line numbers of a later range would need a count over all earlier bytes: ranges report byte offsets only.
    return body, pos, 1 if part.start == 0 else None


def _decompress(path: str, *, zstd: bool) -> tuple[bytes, str | None]:
    """All bytes that decompress, and why the stream ended early (None when it is complete).

    Frames (zstd) and members (gzip) are decoded one after another, in 1 MiB input chunks so a cut file still
    yields everything before the cut; each frame must reach its end, else the file was truncated.
    """
    out = io.BytesIO()
    new_decoder = (lambda: zstandard.ZstdDecompressor().decompressobj()) if zstd \
        else (lambda: zlib.decompressobj(wbits=47))  # 47 = 32 + 15: gzip or zlib header, 32 KiB window
    decoder, fed = new_decoder(), False
    with open(path, "rb") as raw:
        while chunk := raw.read(1 << 20):
            while chunk:
                try:
                    out.write(decoder.decompress(chunk))
                except (zstandard.ZstdError, zlib.error) as e:
                    return out.getvalue(), f"{type(e).__name__}: {e}"
                fed = True
                if not decoder.eof:
                    break
                chunk, decoder, fed = decoder.unused_data, new_decoder(), False
    if fed and not decoder.eof:
        return out.getvalue(), "the compressed stream is cut off before its end"
    return out.getvalue(), None


def _line_bounds(body: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of every line, ends exclusive of the newline: (n,) int64 each. b"a\\nbc" → [0,2], [1,4]."""
    arr = np.frombuffer(body, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    starts = np.concatenate([[0], nl + 1]).astype(np.int64)
    ends = np.concatenate([nl, [len(arr)]]).astype(np.int64)
    keep = starts < len(arr)
    return starts[keep], ends[keep]


def _blank_lines(body: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """True for lines holding only spaces, tabs or \\r: not records, skipped (the JSON reader skips them too).

    Only lines that are empty or start with one of those bytes are looked at (a Python strip each: in JSONL these are
    the rare blank lines): a per-byte cumulative sum cost 8 bytes of memory per input byte (1.6 GB for a 200 MB
    line) and most of the read time.
    """
    arr = np.frombuffer(body, dtype=np.uint8)
    blank = starts >= ends
    first = arr[np.minimum(starts, max(len(arr) - 1, 0))] if len(arr) else np.zeros(len(starts), np.uint8)
    maybe = np.flatnonzero(~blank & np.isin(first, np.frombuffer(b" \t\r", dtype=np.uint8)))
    for i in maybe:  # candidates only, see above
        blank[i] = not body[int(starts[i]): int(ends[i])].strip(b" \t\r")
    return blank


def _line_numbers(body: bytes, starts: np.ndarray) -> np.ndarray:
    """0-based line index of each start (blank lines counted), to add to the first line number.

    The count of newlines before each start: a search in the newline positions, not a per-byte cumulative sum.
    """
    nl = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 10)
    return np.searchsorted(nl, starts).astype(np.int64)


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _max_depth(body: bytes) -> int:
    """Deepest nesting of `[`/`{` in the range, counting brackets inside strings too (they only overcount).

    One table lookup over the bytes, then a cumulative sum over the few bracket positions:
    b'{"a": [[1]]}' -> steps +1 +1 +1 -1 -1 -1 -> depth 3.
    """
    step = _BRACKET_STEP[np.frombuffer(body, dtype=np.uint8)]
    nz = step[np.flatnonzero(step)]
    return int(np.cumsum(nz, dtype=np.int64).max()) if len(nz) else 0


def _parse_fast(body: bytes, n_lines: int) -> dict[str, pa.Array] | None:
    """Parse with pyarrow; None when the block has a bad record or the rows don't map 1:1 onto lines."""
    if n_lines == 0:
        return {"id": pa.array([], pa.string()), "text": pa.array([], pa.large_string()),
                "meta": pa.array([], pa.string())}
    try:
        table = pj.read_json(
            pa.BufferReader(body),
            read_options=pj.ReadOptions(block_size=max(1 << 20, min(len(body) + 1, 1 << 30))),
            parse_options=pj.ParseOptions(explicit_schema=_ID_TEXT, unexpected_field_behavior="infer"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != n_lines:
        return None
    extra = [name for name in table.column_names if name not in ("id", "text")]
    if extra == ["meta"] and pa.types.is_string(table.schema.field("meta").type):
        metas = table.column("meta").combine_chunks()
    elif extra:
        struct = table.column("meta") if extra == ["meta"] else pa.StructArray.from_arrays(
            [table.column(c).combine_chunks() for c in extra], names=extra)
        struct = struct.combine_chunks() if isinstance(struct, pa.ChunkedArray) else struct
        metas = pl.from_arrow(struct).struct.json_encode().to_arrow().cast(pa.string())
    else:
        metas = pa.nulls(table.num_rows, pa.string())
    return {"id": table.column("id").combine_chunks(), "text": table.column("text").combine_chunks(), "meta": metas}


def _parse_slow(body: bytes, starts: np.ndarray, ends: np.ndarray, base: int, lines: np.ndarray | None,
                quarantine: QuarantineRows) -> dict:
    """Per-line `json.loads`: only for a range the fast path refused; names each bad line."""
    ids, texts, metas, bad_type, row_index = [], [], [], [], []
    for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
        raw = body[s:e]
        where = {"offset": base + s, "line": None if lines is None else int(lines[i]), "raw": raw}
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            quarantine.add("read.invalid_utf8", f"invalid UTF-8 at byte {err.start} of the line", **where)
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            quarantine.add("read.malformed_json", f"invalid JSON ({err.msg} at col {err.colno})", **where)
            continue
        except RecursionError:
            quarantine.add("read.malformed_json", "JSON nested deeper than Python's recursion limit", **where)
            continue
        if not isinstance(obj, dict):
            quarantine.add("read.not_an_object", f"a JSON {type(obj).__name__}, expected an object", **where)
            continue
        text = obj.get("text")
        if isinstance(text, str):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                quarantine.add("read.invalid_utf8", "text holds a lone surrogate (\\ud800-\\udfff escape)", **where)
                continue
        doc_id = obj.get("id")
        extra = {k: v for k, v in obj.items() if k not in ("id", "text")}
        meta = extra.get("meta") if list(extra) == ["meta"] else (extra or None)
        try:
            meta = meta if isinstance(meta, str) or meta is None else json.dumps(meta, ensure_ascii=False)
        except RecursionError:  # parsed within the limit, but encoding it again needs a few more frames
            quarantine.add("read.malformed_json", "JSON nested deeper than Python's recursion limit", **where)
            continue
        ids.append(None if doc_id is None else str(doc_id))
        texts.append(text if isinstance(text, str) else None)
        bad_type.append(text is not None and not isinstance(text, str))
        metas.append(meta)
        row_index.append(i)
    return {
        "id": pa.array(ids, pa.string()), "text": pa.array(texts, pa.large_string()),
        "meta": pa.array(metas, pa.string()), "bad_type": np.array(bad_type, dtype=bool),
        "row_index": np.array(row_index, dtype=np.int64),
    }
