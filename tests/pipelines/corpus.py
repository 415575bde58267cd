"""A small input folder for run tests: generated prose, planted exact copies and every kind of bad record."""
from __future__ import annotations

import json
import random
from pathlib import Path

from tests.data.bad_inputs import prose, write_bad_inputs


def make_small_corpus(tmp_path: Path) -> tuple[Path, dict]:
    folder = tmp_path / "input"
    expected = write_bad_inputs(folder)
    rng = random.Random(7)
    docs = [{"id": f"prose-{i}", "text": prose(rng, 150 + i)} for i in range(40)]
    docs += [{"id": f"copy-{i}", "text": docs[i]["text"]} for i in range(3)]  # exact copies for dedup
    (folder / "prose.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    return folder, expected
