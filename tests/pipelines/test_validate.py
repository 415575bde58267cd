"""`carding validate`: a clean folder passes; each kind of damage is found and names the shard it hit."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from packing.loader.synthetic import synthetic_sequences
from pipelines.manifest import MANIFEST_NAME, write_manifest
from pipelines.shards import ShardConfig, ShardFormat, write_shards
from pipelines.validate import validate_output


def make_output(out: Path, n_rows: int = 120, max_tokens: int = 64, formats=None) -> dict:
    table = synthetic_sequences(n_rows, max_tokens, seed=7)
    config = ShardConfig(shard_target_mb=0.004, row_group_rows=16,
                         **({"formats": formats} if formats is not None else {}))
    shards = write_shards(table, out, "all", config)
    tokens = sum(len(r) for r in table.column("input_ids").to_pylist())
    counts = {"documents_in": 300, "documents_kept": 250, "removed": {"gopher.too_few_words": 30},
              "quarantined": {"read.invalid_json": 20}, "sequences": n_rows, "tokens": tokens,
              "padding_tokens": n_rows * max_tokens - tokens, "truncations": 0}
    write_manifest(out, {"config": {}, "tokenizer": {}, "packer": {"packer": "best_fit", "padding": "none"}, "row_tokens": max_tokens,
                         "counts": counts, "shards": shards})
    return json.loads((out / MANIFEST_NAME).read_text())


def test_clean_output_is_valid(tmp_path: Path) -> None:
    manifest = make_output(tmp_path)
    assert len(manifest["shards"]) >= 4, "fixture must hold several shards"
    assert validate_output(tmp_path) == []


def test_bit_flip_names_the_shard(tmp_path: Path) -> None:
    manifest = make_output(tmp_path)
    victim = manifest["shards"][3]
    path = tmp_path / victim["path"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    problems = validate_output(tmp_path)
    assert problems and problems[0].startswith(victim["path"]) and "sha256 mismatch" in problems[0]
    assert all(p.startswith(victim["path"]) for p in problems)


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_truncated_shard_is_unreadable_and_named(tmp_path: Path, fmt: str) -> None:
    manifest = make_output(tmp_path)
    victim = next(s for s in manifest["shards"] if s["format"] == fmt)
    path = tmp_path / victim["path"]
    path.write_bytes(path.read_bytes()[: victim["bytes"] // 2])
    problems = validate_output(tmp_path)
    assert any(p.startswith(victim["path"]) and "unreadable" in p for p in problems), problems
    assert problems[0].startswith(victim["path"])


def test_missing_file_and_stray_file(tmp_path: Path) -> None:
    manifest = make_output(tmp_path)
    (tmp_path / manifest["shards"][0]["path"]).unlink()
    (tmp_path / "shards" / "all" / "part-09999.arrow").write_bytes(b"x")
    problems = validate_output(tmp_path)
    assert problems[0] == f"{manifest['shards'][0]['path']}: missing file"
    assert "shards/all/part-09999.arrow: file not in the manifest" in problems


def _edit_manifest(out: Path, edit) -> None:
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    edit(manifest)
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))


def test_row_and_token_count_mismatch(tmp_path: Path) -> None:
    manifest = make_output(tmp_path)
    name = manifest["shards"][1]["path"]

    def edit(m):
        m["shards"][1]["rows"] += 1
        m["shards"][1]["tokens"] -= 5
    _edit_manifest(tmp_path, edit)
    problems = validate_output(tmp_path, verify_checksums=False)
    assert any(p.startswith(name) and "row count mismatch" in p for p in problems)
    assert any(p.startswith(name) and "token count mismatch" in p for p in problems)
    assert any("counts.sequences" in p for p in problems)


def test_schema_mismatch_named(tmp_path: Path) -> None:
    """A shard rewritten with int64 ids (and its manifest entry updated) still fails on schema."""
    manifest = make_output(tmp_path, formats=[ShardFormat.PARQUET])
    table = synthetic_sequences(10, 8, seed=1)
    bad = table.set_column(0, "input_ids", table.column("input_ids").cast(pa.list_(pa.int64())))
    import pyarrow.parquet as pq
    from pipelines.manifest import sha256_file
    path = tmp_path / manifest["shards"][0]["path"]
    pq.write_table(bad, path)

    def edit(m):
        m["shards"][0].update(rows=10, tokens=sum(len(r) for r in table.column("input_ids").to_pylist()),
                              bytes=path.stat().st_size, sha256=sha256_file(path))
    _edit_manifest(tmp_path, edit)
    problems = validate_output(tmp_path)
    assert any(p.startswith(manifest["shards"][0]["path"]) and "schema mismatch" in p for p in problems), problems


def test_conservation_line(tmp_path: Path) -> None:
    make_output(tmp_path)
    _edit_manifest(tmp_path, lambda m: m["counts"]["removed"].update({"dedup.near": 1}))
    problems = validate_output(tmp_path)
    assert len(problems) == 1 and "conservation broken" in problems[0] and problems[0].startswith(MANIFEST_NAME)


def test_missing_manifest_is_one_problem(tmp_path: Path) -> None:
    problems = validate_output(tmp_path)
    assert len(problems) == 1 and "no manifest" in problems[0]


def test_bucket_and_fill_counts(tmp_path: Path) -> None:
    """counts.buckets is recomputed from the shards' bucket column; fill from tokens and padding."""
    manifest = make_output(tmp_path)
    n = manifest["counts"]["sequences"]

    def edit(m):
        m["counts"]["buckets"] = {"-1": n - 1, "8": 1}
        m["counts"]["fill"] = 0.5
    _edit_manifest(tmp_path, edit)
    problems = validate_output(tmp_path, verify_checksums=False)
    assert any("counts.buckets" in p for p in problems), problems
    assert any("counts.fill=0.5" in p for p in problems), problems

    def fix(m):
        c = m["counts"]
        c["buckets"] = {"-1": n}
        c["fill"] = c["tokens"] / (c["tokens"] + c["padding_tokens"])
    _edit_manifest(tmp_path, fix)
    assert validate_output(tmp_path) == []
