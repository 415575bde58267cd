"""A worker with a warm `rule_cache` tokenizes without importing spaCy, and gets spaCy's tokens all the same.

The cache exists to keep `import spacy` (1.0 s) and `spacy.blank("en")` (0.3 s) out of every Ray worker's start;
it must never change a token. Each case runs in a fresh process (the cache is read once per process) on chunks
that the compiled rules answer and on chunks they defer to spaCy (special-case matcher runs, URL cores).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import spacy

REPO = Path(__file__).resolve().parents[3]
TEXTS = ["Im. going wed. id. (don't) U.S.A. 10km/h 30°F.", "see http://example.com/a.b?q=1 and f(x): ok",
         "plain words, nothing odd here!"]
NEW_DEFERRED = ["read www.carding-test.org/x.html now", "it's 5US$), :) ok"]

_CODE = """
import json, sys
import pyarrow as pa
from stages.filter.words import WordSplitter
texts = json.loads(sys.argv[1])
s = WordSplitter()
t = s.tokens(pa.array(texts, pa.large_string()))
names = {i: w for w, i in s._type_id.items()}
print(json.dumps({"tokens": [[names[int(x)] for x in t.types[t.offsets[i]:t.offsets[i + 1]]]
                             for i in range(len(texts))], "spacy": "spacy" in sys.modules,
                  "scipy_linalg": "scipy.linalg" in sys.modules, "torch": "torch" in sys.modules}))
"""


def _fresh(texts: list[str], cache: Path) -> dict:
    env = {**os.environ, "CARDING_RULE_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", _CODE, json.dumps(texts)], check=True, capture_output=True,
                         text=True, cwd=str(REPO), env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _spacy_tokens(texts: list[str]) -> list[list[str]]:
    nlp = spacy.blank("en")
    return [[t.text for t in nlp.tokenizer(x) if not t.text.isspace()] for x in texts]


def test_warm_cache_tokenizes_without_spacy(tmp_path: Path):
    cold = _fresh(TEXTS, tmp_path)
    assert cold["spacy"], "the first process must build the tables from spaCy"
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == ["spacy_answers", "spacy_rules"], \
        "the fixture must make the rules defer a chunk, so that an answer is stored"
    warm = _fresh(TEXTS, tmp_path)
    assert not warm["spacy"], "a warm cache must keep spaCy out of the process"
    assert not warm["scipy_linalg"], "stages.imports must keep numba's BLAS probe from importing scipy.linalg"
    assert cold["tokens"] == warm["tokens"] == _spacy_tokens(TEXTS)


def test_new_deferred_chunk_asks_spacy(tmp_path: Path):
    """Tables cached, answer not: the process imports spaCy for that chunk only, and stores its answer."""
    _fresh(TEXTS, tmp_path)
    miss = _fresh(NEW_DEFERRED, tmp_path)
    assert miss["spacy"], "the fixture must hold a deferred chunk no earlier process answered"
    assert not miss["torch"], "spaCy imported for an answer must still hide torch (words._import_spacy)"
    hit = _fresh(NEW_DEFERRED, tmp_path)
    assert not hit["spacy"]
    assert miss["tokens"] == hit["tokens"] == _spacy_tokens(NEW_DEFERRED)
