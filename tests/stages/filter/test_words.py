"""The word splitter is spaCy's tokenizer, exactly: on every distinct whitespace-free chunk of the bundled corpus
(nearly all of them answered by the compiled rules of `affix_rules`) and on whole texts with odd whitespace."""
from __future__ import annotations

import functools
import random
from pathlib import Path

import pyarrow as pa
import spacy

from bench.filter_corpus import EDGE_CASES, sample_texts
from stages.filter.words import PY_WHITESPACE, WordSplitter


@functools.lru_cache(maxsize=1)
def _spacy():
    return spacy.blank("en")


def _tokens_of(splitter: WordSplitter, texts: list[str]) -> list[list[str]]:
    """Token strings per text, read back through the splitter's type table."""
    tokens = splitter.tokens(pa.array(texts, pa.large_string()))
    names = {i: t for t, i in splitter._type_id.items()}
    return [[names[int(t)] for t in tokens.types[tokens.offsets[i]:tokens.offsets[i + 1]]] for i in range(len(texts))]


def test_every_distinct_corpus_chunk_tokenizes_as_spacy():
    """Protects the plain-word shortcut: each distinct chunk, alone, gives spaCy's tokens."""
    chunks = sorted({c for t in sample_texts(max_chars=2000, limit_per_source=120) for c in t.split()})
    assert len(chunks) > 15_000, "the fixture must cover a real vocabulary"
    ours = _tokens_of(WordSplitter(), chunks)
    nlp = _spacy()
    with nlp.memory_zone():
        theirs = [[t.text for t in nlp.tokenizer(c)] for c in chunks]
    diffs = [(c, o, t) for c, o, t in zip(chunks, ours, theirs) if o != t]
    assert not diffs, diffs[:10]


def test_whole_texts_tokenize_as_datatrove():
    """datatrove's `split_into_words`: spaCy tokens of the whole text, whitespace tokens dropped."""
    texts = EDGE_CASES + ["a\u3000b\x1fc  d\t\te", "  lead and trail  ", "x" + PY_WHITESPACE + "y",
                          # long suffixes: ellipses longer than the suffix search window, units, currencies
                          "wait" + "." * 30, "hmm" + "…" * 12, "x" + "." * 7, "abcdefghij" + "." * 9,
                          "speed(12km/h). cost:5US$), 30°F. 4اكواب 1234567890kmh 'twas rock'n'roll's U.S.A."]
    ours = _tokens_of(WordSplitter(), texts)
    nlp = _spacy()
    theirs = [[t.text.strip() for t in nlp.tokenizer(x) if t.text.strip()] for x in texts]
    assert ours == theirs


def test_chunk_tokens_do_not_depend_on_neighbours():
    """Random punctuation-heavy chunks, tokenized together in two orders, each equal spaCy on the chunk alone
    (spaCy's emoticon special cases can interact across a space inside one document)."""
    rng = random.Random(0)
    alphabet = list("aZ9.…,'\"()-–—/:$°Fkm%_#<>[]{}’s") + ["US$", "km/h", "...", "'s", "n't", ":(", "(:"]
    chunks = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10))) for _ in range(4000)})
    nlp = _spacy()
    alone = [[t.text for t in nlp.tokenizer(c)] for c in chunks]
    for order in (chunks, chunks[::-1]):
        got = dict(zip(order, _tokens_of(WordSplitter(), order)))
        diffs = [(c, got[c], a) for c, a in zip(chunks, alone) if got[c] != a]
        assert not diffs, diffs[:5]


def test_chunks_of_a_text_ending_in_non_ascii_whitespace_are_stable():
    """pyarrow 26's `utf8_split_whitespace` reads past the buffer when the last text ends in non-ASCII whitespace
    and then sometimes returns a stray " " chunk (a C4 word count off by one, flaky): the split must equal
    `str.split()` on every call, whatever else the process allocated in between."""
    texts = ["   ", "   cat\u3000Yes! ) \u00a0 ", "\x1ccat(a)   Mr. Yes!   \u65e5\u672c\u3002(a)  ... \u00a0 "]
    splitter, churn = WordSplitter(), []
    for i in range(3000):
        churn = churn[-50:] + [pa.array(["x\u00a0 " * (i % 50 + 1)])]
        chunks, offsets = splitter.split_chunks(pa.array(texts, pa.large_string()))
        got = chunks.to_pylist()
        assert [got[offsets[j]:offsets[j + 1]] for j in range(len(texts))] == [t.split() for t in texts], i


def test_spacy_loads_without_torch_and_torch_still_imports_after() -> None:
    """A filter worker's spaCy must not pull in PyTorch (seconds per Ray worker), and must not break it either."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from stages.filter.words import WordSplitter\n"
            "WordSplitter().nlp\n"
            "assert 'torch' not in sys.modules and 'cupy' not in sys.modules, 'spaCy pulled in torch'\n"
            "import importlib.util\n"
            "if importlib.util.find_spec('torch') is not None:\n"
            "    import torch\n"
            "    assert torch.tensor([1, 2]).sum().item() == 3\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(Path(__file__).resolve().parents[3]))


def test_py_whitespace_is_what_python_says():
    """PY_WHITESPACE is spelled out to spare every worker a scan of all code points; it must equal that scan."""
    import sys

    assert PY_WHITESPACE == "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
