"""Bad input beyond the generator's kinds (test_bad_inputs.py), found by probing the readers, and the issue's two
full-size inputs (a 200 MB document, a 5-million-line file), which run only with CARDING_FULL_SIZE=1.

Protects the same promise: every record is a document or a quarantine row with its reason, or the file is refused in
one line naming it; nothing crashes a worker. Two faults found here (invalid UTF-8 in a Parquet column passing as
text, a deeply nested line segfaulting the fast JSON path) are fixed in the readers; their tests stay. The readers
are called directly: no Ray.
"""
from __future__ import annotations

import gzip
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from stages.read import ReadConfig, plan_partitions, read_partition

REPO = Path(__file__).resolve().parents[2]


def read_all(path: Path, **kw) -> tuple[pa.Table, pa.Table]:
    config = ReadConfig(paths=[str(path)], **kw)
    results = [read_partition(p, config) for p in plan_partitions(config)]
    return pa.concat_tables([r.documents for r in results]), pa.concat_tables([r.quarantine for r in results])


# name: (bytes, documents, quarantine reasons). Each a case a user's corpus can hold; the expected outcome is the
# one the issue asks for (kept when it is valid JSON Lines, else a named quarantine reason).
JSONL_CASES = {
    "crlf.jsonl": (b'{"id": "a", "text": "one"}\r\n{"id": "b", "text": "two"}\r\n', 2, {}),
    "bom.jsonl": (b'\xef\xbb\xbf{"id": "a", "text": "one"}\n{"id": "b", "text": "two"}\n', 2, {}),
    "no_final_newline.jsonl": (b'{"id": "a", "text": "one"}\n{"id": "b", "text": "two"}', 2, {}),
    "cr_only.jsonl": (b'{"id": "a", "text": "one"}\r{"id": "b", "text": "two"}\r', 0, {"read.malformed_json": 1}),
    "ids_of_other_types.jsonl": ((b'{"id": 5, "text": "one"}\n{"id": ["x"], "text": "two"}\n{"id": null, '
                                  b'"text": "three"}\n{"id": "5", "text": "four"}\n'), 3, {"read.duplicate_id": 1}),
    "not_gzip.jsonl.gz": (b'{"id": "a", "text": "plain text named .gz"}\n', 0, {"read.truncated_file": 1}),
    "garbage.jsonl.zst": (bytes(range(256)) * 4, 0, {"read.truncated_file": 1}),
}


@pytest.mark.parametrize("name", list(JSONL_CASES))
def test_odd_but_real_jsonl_is_read_or_quarantined_with_its_reason(tmp_path: Path, name: str) -> None:
    body, n_docs, reasons = JSONL_CASES[name]
    (tmp_path / name).write_bytes(body)
    docs, quarantine = read_all(tmp_path / name)
    assert docs.num_rows == n_docs and dict(Counter(quarantine.column("reason").to_pylist())) == reasons
    assert all(row["file"] == str(tmp_path / name) and row["detail"] for row in quarantine.to_pylist())
    docs.validate(full=True)


def test_parquet_null_texts_and_non_string_ids_are_accounted_for(tmp_path: Path) -> None:
    path = tmp_path / "odd.parquet"
    pq.write_table(pa.table({"id": [1, 2, 2, 1, None], "text": ["x text", None, "z text", "y text", "w text"]}),
                   path)
    docs, quarantine = read_all(path)
    assert docs.column("id").to_pylist() == ["1", "2", f"{path}:4"]  # the id of a quarantined row stays free
    assert quarantine.column("reason").to_pylist() == ["read.missing_text", "read.duplicate_id"]


def test_invalid_utf8_in_a_parquet_text_column_is_quarantined(tmp_path: Path) -> None:
    raw = pa.array([b"ok text", b"bad \xff\xfe text", b"\xed\xa0\x80 encoded surrogate"], pa.binary())
    path = tmp_path / "bad_utf8.parquet"
    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": pa.Array.from_buffers(pa.string(), 3, raw.buffers())}),
                   path)
    docs, quarantine = read_all(path)
    assert docs.num_rows + quarantine.num_rows == 3
    assert quarantine.column("reason").to_pylist() == ["read.invalid_utf8"] * 2
    docs.validate(full=True)


NESTED = """
import json, sys
import pyarrow as pa
from stages.read import ReadConfig, plan_partitions, read_partition
config = ReadConfig(paths=sys.argv[1:])
results = [read_partition(p, config) for p in plan_partitions(config)]
print(json.dumps({"documents": sum(r.documents.num_rows for r in results),
                  "reasons": [x for r in results for x in r.quarantine.column("reason").to_pylist()]}))
"""


def test_a_deeply_nested_line_is_quarantined_not_a_crash(tmp_path: Path) -> None:
    """In a child process: the fault is a segfault, which would end pytest itself."""
    paths = []
    for depth in (1_000, 100_000):
        path = tmp_path / f"nested_{depth}.jsonl"
        path.write_bytes(b'{"id": "deep", "text": "one", "meta": ' + b"[" * depth + b"]" * depth + b'}\n'
                         b'{"id": "fine", "text": "two"}\n')
        paths.append(str(path))
    proc = subprocess.run([sys.executable, "-c", NESTED, *paths], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, f"the reader died: exit {proc.returncode}"
    assert json.loads(proc.stdout.splitlines()[-1]) == {"documents": 2, "reasons": ["read.malformed_json"] * 2}


FULL_SIZE = os.environ.get("CARDING_FULL_SIZE") == "1"
full_size = pytest.mark.skipif(not FULL_SIZE, reason="the issue's full sizes take ~1 min and ~1 GB: set "
                                                     "CARDING_FULL_SIZE=1 (figures in RELIABILITY.md)")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@full_size
def test_full_size_one_200_mb_document_is_quarantined_with_a_bounded_raw_copy(tmp_path: Path) -> None:
    path = tmp_path / "giant.jsonl"
    with open(path, "wb") as f:
        f.write(b'{"id": "before", "text": "a small document"}\n{"id": "giant", "text": "')
        f.write(b"x" * (200 << 20))
        f.write(b'"}\n{"id": "after", "text": "another small document"}\n')
    t0 = time.perf_counter()
    docs, quarantine = read_all(path)  # max_doc_bytes: the default 64 MiB
    seconds = time.perf_counter() - t0
    print(f"\n200 MB document: read in {seconds:.1f} s, peak RSS {_peak_rss_mb():.0f} MB")
    assert docs.column("id").to_pylist() == ["before", "after"]
    row = quarantine.to_pylist()[0]
    assert quarantine.num_rows == 1 and row["reason"] == "read.too_large" and row["line"] == 2
    assert len(row["raw"]) == 64 << 10


@full_size
def test_full_size_five_million_tiny_documents_are_each_read_once(tmp_path: Path) -> None:
    n = 5_000_000
    path = tmp_path / "tiny.jsonl"
    with open(path, "wb") as f:
        f.writelines(b"".join(b'{"text": "t%d"}\n' % i for i in range(start, start + 500_000))
                     for start in range(0, n, 500_000))
    for name, target in (("plain", path), ("gz", tmp_path / "tiny.jsonl.gz")):
        if name == "gz":  # one partition: a compressed file cannot be split
            with open(path, "rb") as src, gzip.open(target, "wb", compresslevel=1) as dst:
                dst.write(src.read())
        t0 = time.perf_counter()
        config = ReadConfig(paths=[str(target)])
        ids, last = [], None
        for part in plan_partitions(config):
            result = read_partition(part, config)
            assert result.quarantine.num_rows == 0
            ids.append(result.documents.column("id"))
            last = result.documents.column("text")[-1].as_py()
        seconds = time.perf_counter() - t0
        print(f"\n5M tiny documents ({name}, {target.stat().st_size / 1e6:.0f} MB, "
              f"{len(plan_partitions(config))} partitions): read in {seconds:.1f} s, peak RSS {_peak_rss_mb():.0f} MB "
              "(the process's peak so far)")
        all_ids = pa.chunked_array([c for a in ids for c in a.chunks], pa.string())
        assert len(all_ids) == n and pc.count_distinct(all_ids).as_py() == n and last == f"t{n - 1}"
