"""Seeded generator of bad input for the reader and run tests: every file is made here, nothing is downloaded.

`write_bad_inputs(folder, seed)` writes one file per kind of trouble and returns what a correct run must report:
{file name: {"documents": n good documents, "quarantined": {reason: n}}}.
"""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import zstandard

WORDS = ("the quick brown fox jumps over a lazy dog while seven wise owls watch from an old oak tree near "
         "the river bank and count every leaf that falls in autumn").split()


def prose(rng: random.Random, n_words: int) -> str:
    """Sentences of common English words: passes length and most quality rules."""
    words = [rng.choice(WORDS) for _ in range(n_words)]
    sentences = [" ".join(words[i:i + 12]).capitalize() + "." for i in range(0, n_words, 12)]
    return " ".join(sentences)


def write_bad_inputs(folder: Path, seed: int = 0) -> dict[str, dict]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    good = [json.dumps({"id": f"good-{i}", "text": prose(rng, 120)}) for i in range(6)]
    expected: dict[str, dict] = {}

    lines = [
        good[0].encode(),
        b'{"id": "broken", "text": "unterminated',              # malformed JSON
        b'{"id": "bad-utf8", "text": "caf\xc3\x28 au lait"}',   # invalid UTF-8 byte sequence
        b'{"id": "surrogate", "text": "lone \\ud800 half"}',     # lone surrogate escape
        b'{"id": "no-text", "body": "text under another key"}',  # missing text
        b'{"id": "num-text", "text": 42}',                       # non-string text
        b'{"id": "empty", "text": ""}',                          # empty document
        b'{"id": "blank", "text": "  \\n\\t "}',                 # whitespace-only document
        b'["an", "array", "not", "an", "object"]',               # not an object
        json.dumps({"id": "nul", "text": "nul\u0000byte " + prose(rng, 60)}).encode(),  # NUL is valid text
        b"",                                                      # blank line: not a record
        good[1].encode(),
    ]
    (folder / "mixed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    expected["mixed.jsonl"] = {"documents": 3, "quarantined": {
        "read.malformed_json": 1, "read.invalid_utf8": 2, "read.missing_text": 1, "read.text_not_string": 1,
        "read.empty_text": 2, "read.not_an_object": 1}}

    (folder / "empty.jsonl").write_bytes(b"")
    expected["empty.jsonl"] = {"documents": 0, "quarantined": {}}

    # Several zstd blocks (128 KiB each) of varied text, so a cut keeps whole blocks of complete lines.
    body = "".join(json.dumps({"id": f"c{i}", "text": prose(rng, 40)}) + "\n" for i in range(1500)).encode()
    compressed = zstandard.ZstdCompressor(level=3).compress(body)
    (folder / "truncated.jsonl.zst").write_bytes(compressed[: len(compressed) * 2 // 3])
    # The same texts under other ids: ids are unique across the whole input (DESIGN.md), copies are dedup's job.
    gz = gzip.compress(body.replace(b'{"id": "c', b'{"id": "gz-c'), mtime=0)
    (folder / "truncated.jsonl.gz").write_bytes(gz[: len(gz) * 2 // 3])
    # How many complete lines survive a cut depends on the compressor: the tests read these two back and check
    # conservation plus exactly one `read.truncated_file` row each, not a fixed document count.
    expected["truncated.jsonl.zst"] = {"documents": None, "quarantined": {"read.truncated_file": 1}}
    expected["truncated.jsonl.gz"] = {"documents": None, "quarantined": {"read.truncated_file": 1}}
    return expected


# ---------------------------------------------------------------- the reliability suite (issue 10)

GENERATED_KINDS = (
    "malformed_json", "json_array", "invalid_utf8", "surrogates", "nul_bytes", "missing_text", "duplicate_id",
    "empty_docs", "large_doc", "tiny_docs", "truncated_zst", "truncated_gz", "wrong_schema_parquet", "empty_file",
)
"""Every bad input of issue 10 that is a file (the missing file and bad configs are made by the tests)."""


def _jsonl(records: list[dict | bytes]) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def generate_bad_inputs(folder: Path, seed: int = 0, *, large_doc_bytes: int = 2 << 20,
                        tiny_docs: int = 200_000, kinds: tuple[str, ...] = GENERATED_KINDS) -> dict[str, dict]:
    """Write one file per kind of bad input into `folder`; return {file name: what a correct read gives}.

    Each value holds "kind", "documents" (good documents, None when it depends on a compressor's block layout),
    "quarantined" ({reason: rows}) and "error" (a regex of the one-line error that refuses the whole file, or None).
    Good records are seeded prose, so the same seed writes the same bytes.

    large_doc_bytes: size of the one giant document (issue 10 says 200 MB; tests pass a few MiB and read with a
    lower `max_doc_bytes`, which is the code path a 200 MB line takes). tiny_docs: lines of the many-tiny-documents
    file (issue 10 says 5 million; tests use 200 000 to stay fast; the reader's cost is linear in lines).
    """
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, dict] = {}

    def good(prefix: str, n: int) -> list[dict]:
        return [{"id": f"{prefix}-good-{i}", "text": prose(rng, 40 + rng.randrange(40))} for i in range(n)]

    def put(name: str, kind: str, data: bytes, documents: int | None, quarantined: dict[str, int] | None = None,
            error: str | None = None) -> None:
        (folder / name).write_bytes(data)
        expected[name] = {"kind": kind, "documents": documents, "quarantined": quarantined or {}, "error": error}

    if "malformed_json" in kinds:
        bad = [b'{"id": "m1", "text": "unterminated', b'{"id": "m2", "text": "trailing comma",}',
               b"{'id': 'm3', 'text': 'single quotes'}", b'{"id": "m4", "text": "two" "strings"}', b"{",
               b'{"id": "m5", "text": "ok"} trailing garbage', b"not json at all"]
        recs = good("malformed", 4)
        put("malformed.jsonl", "malformed JSON lines", _jsonl(recs[:2] + bad + recs[2:]), 4,
            {"read.malformed_json": len(bad)})
    if "json_array" in kinds:
        # A whole file holding one JSON array of records (what `json.dump(list)` writes), compact and indented.
        recs = good("array", 5)
        put("array_compact.json", "a JSON array instead of lines", json.dumps(recs).encode(), None,
            error=r"array_compact\.json: .*JSON array")
        put("array_indented.json", "a JSON array instead of lines", json.dumps(recs, indent=2).encode(), None,
            error=r"array_indented\.json: .*JSON array")
    if "invalid_utf8" in kinds:
        bad = [b'{"id": "u1", "text": "bad continuation caf\xc3\x28"}', b'{"id": "u2", "text": "stray \xff byte"}',
               b'{"id": "u3", "text": "overlong \xc0\xaf slash"}',
               b'{"id": "u4", "text": "utf-8 encoded surrogate \xed\xa0\x80"}',
               b'{"id": "u5", "text": "cut multibyte \xe2\x82"}', b'{"id": "u6", "text": "latin-1 \xe9t\xe9"}']
        recs = good("utf8", 3)
        put("invalid_utf8.jsonl", "invalid UTF-8", _jsonl(recs[:1] + bad + recs[1:]), 3,
            {"read.invalid_utf8": len(bad)})
    if "surrogates" in kinds:
        bad = [b'{"id": "s1", "text": "lone high \\ud800 half"}', b'{"id": "s2", "text": "lone low \\udfff half"}',
               b'{"id": "s3", "text": "reversed pair \\udc00\\ud83d"}']
        pair = b'{"id": "s-pair", "text": "a valid pair \\ud83d\\ude00 is an emoji, not a fault"}'
        recs = good("surrogate", 2)
        put("surrogates.jsonl", "lone surrogates", _jsonl(recs + bad + [pair]), 3, {"read.invalid_utf8": len(bad)})
    if "nul_bytes" in kinds:
        # An escaped NUL is a valid character of the text (kept); a raw NUL byte inside a JSON string is an
        # unescaped control character (invalid JSON); a run of NULs is what a crashed writer leaves at a file's end.
        recs = good("nul", 3)
        escaped = {"id": "nul-escaped", "text": "nul\u0000inside " + prose(rng, 30)}
        raw = b'{"id": "nul-raw", "text": "raw \x00 byte"}'
        put("nul_bytes.jsonl", "NUL bytes", _jsonl(recs + [escaped, raw]) + b"\x00" * 512, 4,
            {"read.malformed_json": 2})
    if "missing_text" in kinds:
        recs = good("missing", 2)
        missing = [{"id": "t1", "body": "text under another key"}, {"id": "t2", "text": None}, {"id": "t3"}]
        wrong = [{"id": "t4", "text": 42}, {"id": "t5", "text": ["a", "list"]}, {"id": "t6", "text": {"a": 1}},
                 {"id": "t7", "text": True}]
        put("missing_text.jsonl", "a missing or non-string text", _jsonl(recs + missing + wrong), 2,
            {"read.missing_text": len(missing), "read.text_not_string": len(wrong)})
    if "duplicate_id" in kinds:
        # The first record with an id is the document; a later one with the same id (same or other text) is not.
        recs = good("dup", 3)
        again = [{"id": "dup-good-0", "text": prose(rng, 50)}, {"id": "dup-good-1", "text": recs[1]["text"]}]
        put("duplicate_id.jsonl", "a duplicate id", _jsonl(recs + again), 3, {"read.duplicate_id": len(again)})
    if "empty_docs" in kinds:
        recs = good("empty", 2)
        blank = [{"id": f"e{i}", "text": t} for i, t in
                 enumerate(["", " ", "\n\n", "\t \r\n ", "\u00a0\u2003\u3000", "\u2028\u2029\u0085"])]
        put("empty_docs.jsonl", "empty and whitespace-only documents", _jsonl(blank[:3] + recs + blank[3:]), 2,
            {"read.empty_text": len(blank)})
    if "large_doc" in kinds:
        recs = good("large", 2)
        text = "x" * (large_doc_bytes - 1) + "."
        body = _jsonl(recs[:1]) + b'{"id": "giant", "text": "' + text.encode() + b'"}\n' + _jsonl(recs[1:])
        put("large_doc.jsonl", "one giant document", body, 2, {"read.too_large": 1})
    if "tiny_docs" in kinds:
        # No ids: each gets `<file>:<byte offset>`, which must stay unique across byte-range splits.
        put("tiny_docs.jsonl", "many tiny documents",
            b"".join(b'{"text": "t%d"}\n' % i for i in range(tiny_docs)), tiny_docs)
    if "truncated_zst" in kinds or "truncated_gz" in kinds:
        # Several zstd blocks (128 KiB each) of varied text, so a cut keeps whole blocks of complete lines.
        body = _jsonl([{"id": f"z{i}", "text": prose(rng, 40)} for i in range(1500)])
        if "truncated_zst" in kinds:
            zst = zstandard.ZstdCompressor(level=3).compress(body)
            put("truncated.jsonl.zst", "a truncated .zst", zst[: len(zst) * 2 // 3], None,
                {"read.truncated_file": 1})
        if "truncated_gz" in kinds:
            gz = gzip.compress(body.replace(b'{"id": "z', b'{"id": "gz-z'), mtime=0)  # ids unique across files
            put("truncated.jsonl.gz", "a truncated .gz", gz[: len(gz) * 2 // 3], None, {"read.truncated_file": 1})
    if "wrong_schema_parquet" in kinds:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"id": ["p1"], "body": ["no text column here"]}), folder / "no_text.parquet")
        expected["no_text.parquet"] = {"kind": "a Parquet file with a wrong schema", "documents": None,
                                       "quarantined": {}, "error": r"no_text\.parquet: no column 'text'"}
        pq.write_table(pa.table({"id": ["p2"], "text": [7]}), folder / "int_text.parquet")
        expected["int_text.parquet"] = {"kind": "a Parquet file with a wrong schema", "documents": None,
                                        "quarantined": {}, "error": r"int_text\.parquet: column 'text' is int64"}
    if "empty_file" in kinds:
        put("empty_file.jsonl", "an empty file", b"", 0)
        put("empty_file.jsonl.gz", "an empty file", b"", 0)
        put("empty_file.jsonl.zst", "an empty file", b"", 0)
        put("empty_file.parquet", "an empty file", b"", None, error=r"empty_file\.parquet: not a readable Parquet")
    return expected
