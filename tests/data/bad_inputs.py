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
    gz = gzip.compress(body, mtime=0)
    (folder / "truncated.jsonl.gz").write_bytes(gz[: len(gz) * 2 // 3])
    # How many complete lines survive a cut depends on the compressor: the tests read these two back and check
    # conservation plus exactly one `read.truncated_file` row each, not a fixed document count.
    expected["truncated.jsonl.zst"] = {"documents": None, "quarantined": {"read.truncated_file": 1}}
    expected["truncated.jsonl.gz"] = {"documents": None, "quarantined": {"read.truncated_file": 1}}
    return expected
