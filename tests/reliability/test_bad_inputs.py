"""Bad input, read without Ray: each kind of issue 10 ends in quarantine rows with their reason, or in one error
line that names the input; no record is lost (in = documents + quarantined, per file).

Protects the promise "a run either accounts for every input document or stops with a clear error naming the file".
The inputs come from the seeded generator `tests/data/bad_inputs.py` (nothing downloaded). Two sizes are smaller
than the issue's, to keep this file fast: the giant document is 2 MiB read with `max_doc_bytes` = 1 MiB (the
`read.too_large` path a 200 MB line takes; `generate_bad_inputs(large_doc_bytes=200 << 20)` writes the real size),
and the many-tiny-documents file has 200 000 lines, not 5 million (the reader is linear in lines).
The whole pipeline over these files, on Ray, is in test_crash_resume.py.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.cli import main
from pipelines.config import ConfigError, load_config
from stages.read import ReadConfig, plan_partitions, read_partition
from tests.data.bad_inputs import GENERATED_KINDS, generate_bad_inputs

MAX_DOC_BYTES = 1 << 20
"""The reader's limit in these tests; the generated giant document is twice this."""


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    folder = tmp_path_factory.mktemp("bad")
    return folder, generate_bad_inputs(folder, seed=0, large_doc_bytes=2 * MAX_DOC_BYTES, tiny_docs=200_000)


def read_file(path: Path, **kw) -> tuple[pa.Table, pa.Table]:
    config = ReadConfig(paths=[str(path)], max_doc_bytes=MAX_DOC_BYTES, **kw)
    results = [read_partition(p, config) for p in plan_partitions(config)]
    return (pa.concat_tables([r.documents for r in results]), pa.concat_tables([r.quarantine for r in results]))


def records_in(path: Path) -> int | None:
    """Non-blank lines of a plain JSONL file: the records a reader must account for (None for other files)."""
    if path.suffix not in (".jsonl", ".json"):
        return None
    return sum(1 for line in path.read_bytes().split(b"\n") if line.strip(b" \t\r"))


def test_the_generator_covers_every_kind_and_is_seeded(tmp_path: Path, bad_folder) -> None:
    """Same seed, same bytes: a failure found here can be replayed exactly."""
    _, expected = bad_folder
    assert {e["kind"] for e in expected.values()} >= {
        "malformed JSON lines", "a JSON array instead of lines", "invalid UTF-8", "lone surrogates", "NUL bytes",
        "a missing or non-string text", "a duplicate id", "empty and whitespace-only documents", "one giant document",
        "many tiny documents", "a truncated .zst", "a truncated .gz", "a Parquet file with a wrong schema",
        "an empty file"}
    assert len(GENERATED_KINDS) == 14

    def digest(folder: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}

    small = {"large_doc_bytes": 1000, "tiny_docs": 100}
    generate_bad_inputs(tmp_path / "a", seed=3, **small)
    generate_bad_inputs(tmp_path / "b", seed=3, **small)
    generate_bad_inputs(tmp_path / "c", seed=4, **small)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


QUARANTINING = ["malformed.jsonl", "invalid_utf8.jsonl", "surrogates.jsonl", "nul_bytes.jsonl", "missing_text.jsonl",
                "duplicate_id.jsonl", "empty_docs.jsonl", "large_doc.jsonl", "truncated.jsonl.zst",
                "truncated.jsonl.gz", "empty_file.jsonl", "empty_file.jsonl.gz", "empty_file.jsonl.zst"]


@pytest.mark.parametrize("name", QUARANTINING)
def test_bad_records_are_quarantined_with_reason_and_place_and_none_is_lost(bad_folder, name: str) -> None:
    folder, expected = bad_folder
    exp = expected[name]
    docs, quarantine = read_file(folder / name)
    reasons = Counter(quarantine.column("reason").to_pylist())
    assert dict(reasons) == exp["quarantined"], name
    if exp["documents"] is not None:
        assert docs.num_rows == exp["documents"], name
    else:  # a truncated stream: what precedes the cut is read
        assert docs.num_rows > 0, name
    n_records = records_in(folder / name)
    if n_records is not None:  # conservation per file: every non-blank line is a document or a quarantine row
        assert docs.num_rows + quarantine.num_rows == n_records, name
    assert docs.column("id").null_count == 0 and len(set(docs.column("id").to_pylist())) == docs.num_rows
    for row in quarantine.to_pylist():  # each row names its file and place, why, and keeps (a bounded) raw record
        assert row["file"] == str(folder / name) and row["detail"], row
        assert row["offset"] is not None, row
        if name.endswith(".jsonl"):
            assert row["line"] is not None and row["raw"] is not None and len(row["raw"]) <= 64 << 10, row


def test_valid_text_is_never_quarantined(bad_folder) -> None:
    """The cases next to the faults: an escaped NUL and a valid surrogate pair are text, kept unchanged."""
    folder, _ = bad_folder
    nul, _ = read_file(folder / "nul_bytes.jsonl")
    assert "nul-escaped" in nul.column("id").to_pylist()
    assert any("\x00" in t for t in nul.column("text").to_pylist())
    pair, _ = read_file(folder / "surrogates.jsonl")
    assert "a valid pair \U0001F600 is an emoji, not a fault" in pair.column("text").to_pylist()


def test_a_duplicate_id_keeps_the_first_record_and_names_it(bad_folder) -> None:
    folder, _ = bad_folder
    docs, quarantine = read_file(folder / "duplicate_id.jsonl")
    assert docs.column("id").to_pylist() == ["dup-good-0", "dup-good-1", "dup-good-2"]
    rows = quarantine.to_pylist()
    assert [(r["line"], r["reason"]) for r in rows] == [(4, "read.duplicate_id"), (5, "read.duplicate_id")]
    assert "'dup-good-0' already belongs to the record at line 1" in rows[0]["detail"]


def test_a_giant_document_is_quarantined_with_a_bounded_raw_copy(bad_folder) -> None:
    folder, _ = bad_folder
    docs, quarantine = read_file(folder / "large_doc.jsonl")
    assert docs.column("id").to_pylist() == ["large-good-0", "large-good-1"]
    row = quarantine.to_pylist()[0]
    assert row["reason"] == "read.too_large" and row["line"] == 2
    assert f"exceeds max_doc_bytes={MAX_DOC_BYTES:,}" in row["detail"]
    assert len(row["raw"]) == 64 << 10 and row["raw"].startswith(b'{"id": "giant"')


def test_many_tiny_documents_split_in_byte_ranges_are_each_read_once(bad_folder) -> None:
    """200k lines (the issue's 5M, scaled down) over 1 MiB ranges: every line once, ids derived and unique."""
    folder, expected = bad_folder
    path = folder / "tiny_docs.jsonl"
    n = expected["tiny_docs.jsonl"]["documents"]
    parts = plan_partitions(ReadConfig(paths=[str(path)], split_bytes=1 << 20))
    assert len(parts) >= 3, "the file must span several byte ranges"
    docs, quarantine = read_file(path, split_bytes=1 << 20)
    assert quarantine.num_rows == 0 and docs.num_rows == n
    assert docs.column("text").to_pylist() == [f"t{i}" for i in range(n)]
    assert len(set(docs.column("id").to_pylist())) == n


REFUSED = ["array_compact.json", "array_indented.json", "no_text.parquet", "int_text.parquet", "empty_file.parquet"]


@pytest.mark.parametrize("name", REFUSED)
def test_a_whole_bad_file_is_refused_before_any_task_with_one_line_naming_it(bad_folder, name: str) -> None:
    """Refused while planning (in the driver, before Ray work starts), so the run stops with the file's name."""
    folder, expected = bad_folder
    with pytest.raises(ValueError) as info:
        plan_partitions(ReadConfig(paths=[str(folder / name)]))
    message = str(info.value)
    assert "\n" not in message and str(folder / name) in message
    assert re.search(expected[name]["error"], message), message


def test_a_jsonl_line_holding_an_array_is_one_bad_record_not_a_refused_file(tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b'["an", "array"]\n{"id": "a", "text": "fine text"}\n')
    docs, quarantine = read_file(path)
    assert docs.num_rows == 1 and quarantine.column("reason").to_pylist() == ["read.not_an_object"]


def test_a_missing_file_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"^\S*nowhere\.jsonl: input file not found$"):
        plan_partitions(ReadConfig(paths=[str(tmp_path / "nowhere.jsonl"), str(tmp_path)]))


@pytest.mark.parametrize(("body", "message"), [
    ("input: {paths: [x]}\nfilter:\n  length: {min_chras: 3}\n",
     "filter.length.min_chras: unknown key (did you mean min_chars?)"),
    ("input: {paths: [x], max_doc_bytse: 10}\n", "input.max_doc_bytse: unknown key (did you mean max_doc_bytes?)"),
    ("input: {paths: [x]}\nfilter:\n  length: {min_chars: -5}\n", "filter.length: length.min_chars=-5: must be >= 0"),
    ("input: {paths: [x], max_doc_bytes: -1}\n", "input: max_doc_bytes=-1: must be >= 1"),
    ("input: {paths: [x]}\npack: {window_docs: -3}\n", "pack: window_docs=-3: must be >= 1"),
    ("input: {paths: [x]}\ndedup: {jaccard_threshold: -0.5}\n", "dedup: jaccard_threshold=-0.5: must be in (0, 1]"),
])
def test_a_bad_config_is_one_line_naming_file_and_key(tmp_path: Path, capsys, body: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "\n" not in str(info.value) and str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert main(["run", str(path)]) == 2  # the CLI: exit 2, the same single line, no traceback
    assert capsys.readouterr().err == f"carding: error: {info.value}\n"
