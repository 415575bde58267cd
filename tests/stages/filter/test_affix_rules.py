"""The compiled rule path (`affix_rules`) gives spaCy's own tokens on every chunk it answers.

It replaces spaCy for ~98 % of new chunks, so an error here would change word counts everywhere: each test
compares with a real `spacy.blank("en")` tokenizer on the chunk alone, and checks that the fixture exercised the
rules it is meant to (prefixes, suffixes, infixes, special cases, the matcher, URLs) instead of deferring them.
"""
from __future__ import annotations

import functools
import random

import numpy as np
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.filter.words import _spacy_rules

PIECES = list("aZbQzeistnAISTNUSC$Ad.,;:!?()[]{}<>-_~'\"`#*&%=+/^|\\@019mkghFfKc°…—–’‘“”«»£€²µкмгéÉßİΣσ日本©☺\ufffd"
              "\u0301¿¡。，、·\x01") + [
    "n't", "'s", "...", "..", "US$", "km", "don't", "Mr.", "a.m.", "e.g.", ":)", "(:", "'ll", "co.", "http://",
    "www.", ".com", "--", "---", "——", "etc.", "cannot", "ca", "gonna", "n’t", "’s", "……", "km²", "м/с", ":’(",
    "°F.", "10a.m.", "Don’t", "/path?q=1", "@", "1", "2"]
"""Characters and literals each rule names (affix classes, units, currencies, hyphens, special cases, URL
parts), plus letters of other scripts and a symbol, so random concatenations hit every branch."""


@functools.lru_cache(maxsize=1)
def _spacy():
    return spacy.blank("en")


def _rule_tokens(chunks: list[str]) -> tuple[list[list[str] | None], int]:
    """Tokens per chunk from the rule path (None where it defers to spaCy), and how many it deferred."""
    joined = "".join(chunks)
    offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
    np.cumsum([len(c) for c in chunks], out=offsets[1:])
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    n_tok, ends, deferred = _spacy_rules().token_ends(joined, cps, offsets)
    out: list[list[str] | None] = []
    skip = set(deferred.tolist())
    for i in range(len(chunks)):
        if i in skip:
            out.append(None)
            continue
        e = ends[offsets[i]:offsets[i] + n_tok[i]].tolist()
        out.append([joined[a:b] for a, b in zip([int(offsets[i])] + e[:-1], e)])
    return out, len(skip)


def _differences(chunks: list[str]) -> tuple[list[tuple], int, int]:
    ours, n_deferred = _rule_tokens(chunks)
    nlp = _spacy()
    diffs, n_split = [], 0
    with nlp.memory_zone():
        for c, o in zip(chunks, ours):
            if o is None:
                continue
            theirs = [t.text for t in nlp.tokenizer(c)]
            n_split += len(theirs) > 1
            if o != theirs:
                diffs.append((c, o, theirs))
    return diffs, n_deferred, n_split


def test_random_chunks_tokenize_as_spacy():
    """10 000 random concatenations of the rule alphabet: answered ones equal spaCy, and most are answered."""
    rng = random.Random(0)
    chunks = sorted({"".join(rng.choice(PIECES) for _ in range(rng.randint(1, 9))) for _ in range(10_000)})
    diffs, n_deferred, n_split = _differences(chunks)
    assert not diffs, diffs[:10]
    assert n_deferred < 0.2 * len(chunks), "the rule path should answer most chunks, not defer them"
    assert n_split > 0.5 * len(chunks), "the fixture must exercise affix and infix splits"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=8))
def test_generated_chunks_tokenize_as_spacy(pieces: list[str]):
    """Hypothesis-shrunk chunks: a failure prints the smallest chunk the rules get wrong."""
    chunk = "".join(pieces)
    ours, _ = _rule_tokens([chunk])
    if ours[0] is not None:
        assert ours[0] == [t.text for t in _spacy().tokenizer(chunk)], chunk


def test_special_cases_and_matcher_are_handled():
    """Exceptions split by rule (contractions), keep whole (abbreviations), or defer when the matcher would
    rewrite a token run (`x-:)` has tokens `:` `)` spelling the emoticon). Corpus chunks: test_words.py."""
    chunks = ["don't", "(Don't.", "can't!", "Mr.", "e.g.,", "U.S.A.", "x-:)", "word'll", "O'Neil's"]
    ours, _ = _rule_tokens(chunks)
    nlp = _spacy()
    for c, o in zip(chunks, ours):
        if o is not None:
            assert o == [t.text for t in nlp.tokenizer(c)], c
    assert ours[0] == ["do", "n't"] and ours[1] == ["(", "Do", "n't", "."]
