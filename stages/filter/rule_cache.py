"""spaCy's tokenizer tables and answers, kept on disk so a filter worker need not import spaCy.

Every Ray worker that filters used to import spaCy and build `spacy.blank("en")` before its first document, only
to read the tables `affix_rules` compiles (1.3 CPU-s of a fresh process here: `import spacy` 1.0 s, the blank
pipeline 0.3 s). The tables are plain data, so the first process builds them from spaCy and writes them here;
later processes load them (a few ms) and import spaCy only for a chunk the rules defer (a URL core, a special-case
matcher run) whose answer is not on disk yet. Answers are spaCy's own tokens of a chunk alone, appended by every
process that asked spaCy; on the bench corpus the few deferred chunks (`im.`, `wed.`, `id.`) recur in every file.

Both files are keyed by spaCy's version and by the source of the modules that build and read them, written to a
temporary name and renamed (atomic), and only ever replaced by equal or larger content: two workers writing at
once lose at most some answers, never a table. A cache that cannot be written (a read-only checkout) costs only
the speed-up. The content never changes a result (test_rule_cache.py checks tokens with and without it).
"""
from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

MAX_ANSWERS = 200_000
"""Deferred chunks kept on disk; past this, new answers stay in the process (the file stays a few MB)."""

_MODULES = ("affix_rules.py", "words.py", "rule_cache.py")


def cache_dir() -> Path:
    """`$CARDING_RULE_CACHE_DIR`, else `__pycache__` beside this module (where numba keeps its kernels)."""
    return Path(os.environ.get("CARDING_RULE_CACHE_DIR") or Path(__file__).parent / "__pycache__")


def cache_key() -> str:
    """spaCy's version and a hash of the modules whose code decides the tables and answers."""
    digest = hashlib.sha256()
    for name in _MODULES:
        digest.update((Path(__file__).parent / name).read_bytes())
    return f"spacy{importlib.metadata.version('spacy')}-{digest.hexdigest()[:16]}"


def _encode(value: Any) -> Any:
    """JSON of the payload: arrays as dtype, shape and base64 bytes; tuples tagged (JSON has lists only)."""
    if isinstance(value, np.ndarray):
        return {"__array__": value.dtype.str, "shape": list(value.shape),
                "data": base64.b64encode(np.ascontiguousarray(value).tobytes()).decode("ascii")}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, dict):
        return {"__dict__": [[k, _encode(v)] for k, v in value.items()]}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "__array__" in value:
            data = base64.b64decode(value["data"], validate=True)
            return np.frombuffer(data, dtype=np.dtype(value["__array__"])).reshape(value["shape"]).copy()
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        return {k: _decode(v) for k, v in value["__dict__"]}
    return value


def _read(path: Path, key: str) -> dict | None:
    """The payload stored under `key`, or None when the file is missing, unreadable or of another key.

    JSON, not pickle: the folder may be shared (a checkout other users write), and loading a pickle runs code."""
    try:
        with open(path, encoding="utf-8") as f:
            stored = json.load(f)
        if not isinstance(stored, dict) or stored.get("key") != key:
            return None
        return _decode(stored["payload"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a file this code did not write whole (renames are atomic): rebuild and replace it


def _write(path: Path, key: str, payload: dict) -> None:
    """Write atomically (temporary file in the same folder, then rename); an unwritable folder is left alone."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=path.name + ".",
                                         delete=False) as f:
            json.dump({"key": key, "payload": _encode(payload)}, f)
        os.chmod(f.name, 0o644)  # mkstemp makes it 0600; other users of a shared checkout may read it
        os.replace(f.name, path)
    except OSError:
        return  # read-only checkout or full disk: the cache is only a speed-up, the caller has its data


def has_tables() -> bool:
    """Whether a process on this machine already stored the tables under the current key."""
    return _tables_path(cache_key()).exists()


def _tables_path(key: str) -> Path:
    return cache_dir() / f"spacy_rules-{key}.json"


def load_tables(build) -> dict:  # build: () -> dict, the spaCy path (affix_rules.rule_tables of a tokenizer)
    """The tables of `affix_rules.SpacyRules`, from disk, else from `build()` (then stored for later processes)."""
    key = cache_key()
    path = _tables_path(key)
    tables = _read(path, key)
    if tables is None:
        tables = build()
        _write(path, key, tables)
    return tables


def load_answers() -> dict[str, tuple[int, ...]]:
    """Stored spaCy answers: chunk -> token lengths in code points (they tile the chunk)."""
    key = cache_key()
    return _read(cache_dir() / f"spacy_answers-{key}.json", key) or {}


def store_answers(new: dict[str, tuple[int, ...]]) -> None:
    """Merge `new` answers into the file (re-read first, so answers of other processes are kept)."""
    key = cache_key()
    path = cache_dir() / f"spacy_answers-{key}.json"
    answers = _read(path, key) or {}
    if len(answers) >= MAX_ANSWERS or all(c in answers for c in new):
        return
    answers.update(new)
    _write(path, key, answers)
