"""JSONL reading: every record becomes a document or a quarantine row with its reason, line and offset.

Protects the promise "nothing lost": in = documents + quarantined for each bad-input kind, byte-range splits give
the same documents as one pass, and truncated compressed files keep what precedes the cut.
"""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.read import ReadConfig, plan_partitions, read_partition
from tests.data.bad_inputs import write_bad_inputs


def read_all(paths: list[str], **kw) -> tuple[pa.Table, pa.Table]:
    config = ReadConfig(paths=paths, **kw)
    results = [read_partition(p, config) for p in plan_partitions(config)]
    return (pa.concat_tables([r.documents for r in results]), pa.concat_tables([r.quarantine for r in results]))


def test_each_bad_record_is_quarantined_with_its_reason_and_line(tmp_path: Path) -> None:
    expected = write_bad_inputs(tmp_path)["mixed.jsonl"]
    docs, quarantine = read_all([str(tmp_path / "mixed.jsonl")])
    assert docs.num_rows == expected["documents"]
    reasons = {}
    for r in quarantine.column("reason").to_pylist():
        reasons[r] = reasons.get(r, 0) + 1
    assert reasons == expected["quarantined"]
    # Every quarantine row names its file and line (1-based, blank lines counted), and keeps the raw record.
    rows = quarantine.to_pylist()
    assert all(r["file"].endswith("mixed.jsonl") and r["line"] >= 2 and r["raw"] is not None for r in rows)
    malformed = next(r for r in rows if r["reason"] == "read.malformed_json")
    assert malformed["line"] == 2 and malformed["raw"].startswith(b'{"id": "broken"')
    assert "nul" in docs.column("id").to_pylist()  # a NUL byte is valid text, not a reason to drop


def test_missing_ids_are_derived_from_file_and_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "noid.jsonl"
    path.write_text('{"text": "first document here"}\n{"text": "second document here"}\n')
    docs, _ = read_all([str(path)])
    first_len = len('{"text": "first document here"}\n')
    assert docs.column("id").to_pylist() == [f"{path}:0", f"{path}:{first_len}"]
    assert docs.column("source").to_pylist() == ["noid", "noid"]


def test_meta_and_extra_fields_are_kept_as_json(tmp_path: Path) -> None:
    path = tmp_path / "meta.jsonl"
    path.write_text('{"id": "a", "text": "some text", "meta": {"url": "http://x", "n": 3}}\n')
    docs, _ = read_all([str(path)])
    assert json.loads(docs.column("meta")[0].as_py()) == {"url": "http://x", "n": 3}


def test_truncated_compressed_files_keep_complete_lines_and_quarantine_the_tail(tmp_path: Path) -> None:
    write_bad_inputs(tmp_path)
    for name in ("truncated.jsonl.zst", "truncated.jsonl.gz"):
        docs, quarantine = read_all([str(tmp_path / name)])
        assert docs.num_rows > 0, f"{name}: the lines before the cut are documents"
        assert quarantine.column("reason").to_pylist() == ["read.truncated_file"], name
        assert "cut off" in quarantine.column("detail")[0].as_py()


@settings(max_examples=25, deadline=None)
@given(n_docs=st.integers(0, 60), split=st.integers(1 << 16, 1 << 17), sizes=st.integers(1, 4000))
def test_byte_range_splits_read_every_line_exactly_once(tmp_path_factory, n_docs: int, split: int, sizes: int) -> None:
    folder = tmp_path_factory.mktemp("split")
    path = folder / "big.jsonl"
    lines = [json.dumps({"id": f"d{i}", "text": f"doc {i} " + "x" * ((i * 7919) % sizes + 1)}) for i in range(n_docs)]
    path.write_text("".join(line + "\n" for line in lines))
    whole, _ = read_all([str(path)], split_bytes=1 << 30)
    parts, _ = read_all([str(path)], split_bytes=split)
    assert parts.column("id").to_pylist() == whole.column("id").to_pylist() == [f"d{i}" for i in range(n_docs)]


def test_empty_file_gives_no_rows(tmp_path: Path) -> None:
    write_bad_inputs(tmp_path)
    docs, quarantine = read_all([str(tmp_path / "empty.jsonl")])
    assert docs.num_rows == 0 and quarantine.num_rows == 0


def test_giant_document_is_quarantined_not_loaded_downstream(tmp_path: Path) -> None:
    path = tmp_path / "giant.jsonl"
    path.write_text(json.dumps({"id": "big", "text": "y" * 200_000}) + "\n" + json.dumps({"id": "ok", "text": "fine"}) + "\n")
    docs, quarantine = read_all([str(path)], max_doc_bytes=100_000)
    assert docs.column("id").to_pylist() == ["ok"]
    assert quarantine.column("reason").to_pylist() == ["read.too_large"]
    assert len(quarantine.column("raw")[0].as_py()) <= 64 << 10
