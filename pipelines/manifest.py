"""manifest.json: the public contract of an output folder (DESIGN.md, shards-loader spec).

Users' CI reads these keys, so they are stable: schema_version, config, tokenizer, packer, row_tokens, counts
(documents_in, documents_kept, removed, quarantined, tokens, sequences, padding_tokens, truncations, ...), shards
[{path, format, rows, tokens, bytes, sha256}] and fingerprint (sha256 over the ordered shard checksums).
The manifest is written last and atomically, so its presence means the folder is complete.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp name in the same folder, fsync, then rename: readers only ever see complete files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def sha256_file(path: Path, chunk_bytes: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(shards: list[dict[str, Any]]) -> str:
    """sha256 over the ordered shard checksums: one value that changes when any shard does."""
    return hashlib.sha256("".join(s["sha256"] for s in shards).encode()).hexdigest()


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write `out_dir/manifest.json` atomically with sorted keys (stable bytes for the same run)."""
    body = {"schema_version": SCHEMA_VERSION, **manifest}
    body["fingerprint"] = fingerprint(body.get("shards", []))
    path = Path(out_dir) / MANIFEST_NAME
    atomic_write_bytes(path, (json.dumps(body, indent=2, sort_keys=True) + "\n").encode())
    return path


def load_manifest(out_dir: Path) -> dict[str, Any]:
    """Read `out_dir/manifest.json`; a missing or unreadable one is an error naming the path."""
    path = Path(out_dir) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest (is this a carding output folder, and did the run finish?)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version {manifest.get('schema_version')!r}, this carding reads {SCHEMA_VERSION}")
    return manifest
