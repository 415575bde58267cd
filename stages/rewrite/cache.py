"""Resume cache of finished replies: small parquet files written atomically, looked up by request key.

A file holds up to `cache_flush_replies` replies and is named by the sha256 of its keys, so writing the same
replies twice is idempotent and a crash loses at most one unflushed group per actor. Lookups are by key, never
by batch: Ray may cut blocks differently on a rerun, and the cache still answers.
Only replies that came back (any finish_reason) are stored; requests that failed are sent again on a rerun.

Known limit: each reader indexes every key of the folder in memory (~150 B per reply, ~1.5 GB at 10 M replies);
past that, give each run its own `cache_dir`.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stages.rewrite.parse import Reply

CACHE_SCHEMA = pa.schema([
    pa.field("key", pa.string(), nullable=False),
    pa.field("content", pa.large_string()),
    pa.field("finish_reason", pa.string()),
    pa.field("completion_tokens", pa.int64()),
])
"""One row per finished reply: key = prompt.request_key(...)."""


class ReplyCache:
    """A folder of reply files shared by every worker; thread-safe within one process."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._index: dict[str, Path] | None = None

    def _load_index(self) -> dict[str, Path]:
        if self._index is None:
            index: dict[str, Path] = {}
            for path in sorted(self.folder.glob("*.parquet")):
                for key in pq.read_table(path, columns=["key"]).column("key").to_pylist():
                    index[key] = path
            self._index = index
        return self._index

    def __len__(self) -> int:
        with self._lock:
            return len(self._load_index())

    def get_many(self, keys: Iterable[str]) -> dict[str, Reply]:
        """{key: reply} for the keys already answered; missing keys are absent."""
        with self._lock:
            index = self._load_index()
            by_file: dict[Path, set[str]] = {}
            for key in keys:
                if key in index:
                    by_file.setdefault(index[key], set()).add(key)
        found: dict[str, Reply] = {}
        for path, wanted in by_file.items():
            for row in pq.read_table(path).to_pylist():
                if row["key"] in wanted:
                    found[row["key"]] = Reply(content=row["content"], finish_reason=row["finish_reason"],
                                              completion_tokens=row["completion_tokens"])
        return found

    def put_many(self, items: list[tuple[str, Reply]]) -> Path | None:
        """Persist finished replies in one file (temp file + rename: readers never see half a file)."""
        items = [(k, r) for k, r in items if r.error is None]
        if not items:
            return None
        items.sort(key=lambda kv: kv[0])
        name = hashlib.sha256("\n".join(k for k, _ in items).encode()).hexdigest()[:32]
        path = self.folder / f"{name}.parquet"
        table = pa.table({
            "key": [k for k, _ in items],
            "content": [r.content for _, r in items],
            "finish_reason": [r.finish_reason for _, r in items],
            "completion_tokens": [r.completion_tokens for _, r in items],
        }, schema=CACHE_SCHEMA)
        tmp = path.with_name(f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        with self._lock:
            index = self._load_index()
            for key, _ in items:
                index[key] = path
        return path
