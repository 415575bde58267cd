"""C4's sentence count per kept line equals datatrove's `len(split_into_sentences(line))` on lines whose
whitespace spaCy turns into tokens (runs other than one space, leading runs, trailing runs): the count reads
those runs from one pass over the lines' UTF-8 bytes (`c4._separators`), so odd whitespace is the risk."""
from __future__ import annotations

import pyarrow as pa
from datatrove.utils.text import split_into_sentences, split_into_words
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.filter.c4 import C4Config, C4Filter

WORDS = ["The", "cat", "sat.", "Yes!", "no?", "Mr.", "(a)", "e.g.", "...", "…", "日本。", "x", "“Quote.”", ")"]
SPACES = [" ", " ", "  ", "\t", "\u00a0", " \u00a0 ", "\u3000", "\x1c", "   "]

lines = st.lists(st.tuples(st.sampled_from(SPACES + [""]), st.sampled_from(WORDS)), min_size=0, max_size=10).flatmap(
    lambda parts: st.sampled_from(SPACES + [""]).map(lambda tail: "".join(s + w for s, w in parts) + tail))


C4 = C4Filter(C4Config())


@settings(max_examples=60, deadline=None)
@given(st.lists(lines, min_size=1, max_size=6))
def test_sentences_per_line_match_datatrove(values: list[str]):
    sentences, words = C4._sentences(pa.array(values, pa.large_string()))
    assert sentences.tolist() == [float(len(split_into_sentences(v))) for v in values], values
    # the word counts C4 hands to FineWeb with its edited text
    assert words.tolist() == [float(len([w for w in split_into_words(v) if w.strip()])) for v in values], values


def test_fixture_has_whitespace_tokens():
    """The strategy reaches lines with leading, inner and trailing whitespace runs other than one space."""
    line = "\u00a0The cat sat.  Yes!\tno? "
    got = C4._sentences(pa.array([line, " " + line + "\u3000"], pa.large_string()))[0].tolist()
    assert got == [float(len(split_into_sentences(line))), float(len(split_into_sentences(" " + line + "\u3000")))]
    assert got[0] >= 3
