"""Opening shards: the loader checks the manifest's counts always and the sha256 unless told not to; a bit-flipped
or truncated shard fails naming that shard. Both formats hold the same rows. Torch stays unimported."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from packing.loader import LoaderConfig, ShardError, ShardSource
from pipelines.manifest import MANIFEST_NAME


def _victim(out: Path, fmt: str = "arrow", index: int = 2) -> tuple[str, Path]:
    entries = [s for s in json.loads((out / MANIFEST_NAME).read_text())["shards"] if s["format"] == fmt]
    assert len(entries) > index, "fixture must hold several shards"
    return entries[index]["path"], out / entries[index]["path"]


def test_bit_flip_named(make_output) -> None:
    out = make_output(80, 32)
    rel, path = _victim(out)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(ShardError, match=f"^{rel}: sha256 mismatch"):
        ShardSource(out)


@pytest.mark.parametrize("fmt", ["arrow", "parquet"])
def test_truncated_shard_named_even_without_hash(make_output, fmt) -> None:
    """verify_checksums=False skips the hash, never the file and count checks."""
    out = make_output(80, 32)
    rel, path = _victim(out, fmt)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ShardError, match=f"^{rel}: unreadable {fmt}"):
        ShardSource(out, read_format=fmt, verify_checksums=False)


def test_count_mismatch_and_missing_file_named(make_output) -> None:
    out = make_output(80, 32)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    arrow = [s for s in manifest["shards"] if s["format"] == "arrow"]
    arrow[1]["rows"] += 1
    (out / MANIFEST_NAME).write_text(json.dumps({**manifest, "fingerprint": None}))
    with pytest.raises(ShardError, match=f"^{arrow[1]['path']}: holds .* the manifest says"):
        ShardSource(out, verify_checksums=False)
    (out / arrow[0]["path"]).unlink()
    with pytest.raises(ShardError, match=f"^{arrow[0]['path']}: missing file"):
        ShardSource(out, verify_checksums=False)


@pytest.mark.parametrize("escape", ["../outside.arrow", "absolute"])
def test_manifest_path_leaving_the_folder_refused(make_output, tmp_path_factory, escape) -> None:
    """A manifest is input: a path to a valid shard outside the folder (relative or absolute) is still refused."""
    out = make_output(80, 32)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    entry = next(s for s in manifest["shards"] if s["format"] == "arrow")
    outside = tmp_path_factory.mktemp("elsewhere") / "outside.arrow" if escape == "absolute" else \
        out.parent / "outside.arrow"
    outside.write_bytes((out / entry["path"]).read_bytes())
    entry["path"] = str(outside) if escape == "absolute" else escape
    (out / MANIFEST_NAME).write_text(json.dumps({**manifest, "fingerprint": None}))
    with pytest.raises(ShardError, match="leaves the output folder"):
        ShardSource(out, read_format="arrow")


def test_formats_agree_row_by_row(make_output) -> None:
    out = make_output(50, 32, loss_mask=True, group_rows=4)
    arrow = ShardSource(out, read_format="arrow")
    parquet = ShardSource(out, read_format="parquet", parquet_cache_row_groups=2)
    assert arrow.n_rows == parquet.n_rows == 50 and arrow.has_loss_mask and parquet.has_loss_mask
    rows = np.random.default_rng(0).permutation(50)
    a, p = arrow.gather(rows), parquet.gather(rows)
    for name in ("input_ids", "row_lens", "doc_lens", "row_segments", "loss_mask"):
        assert np.array_equal(getattr(a, name), getattr(p, name)), name
    assert a.input_ids.dtype == np.uint16
    assert a.input_ids[np.concatenate([[0], np.cumsum(a.row_lens)[:-1]])].tolist() == rows.tolist()  # stamped


def test_import_without_torch() -> None:
    """`import packing.loader` (config, order, source, batch) must not import torch (STYLE.md §1)."""
    code = "import sys, packing.loader; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])


@pytest.mark.parametrize("kwargs, message", [
    ({"rows_per_rank": 0}, "rows_per_rank"), ({"rows_per_rank": 1, "seed": -1}, "seed"),
    ({"rows_per_rank": 1, "shuffle_block_rows": 0}, "shuffle_block_rows"),
    ({"rows_per_rank": 1, "layout": "ragged"}, "layout"),
])
def test_config_rejects_bad_values(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        LoaderConfig(**kwargs)
