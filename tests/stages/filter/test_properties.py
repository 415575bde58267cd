"""Properties of the filter stage (hypothesis): parity with datatrove on generated texts full of the traps of
spec filter.md (NBSP, U+2028, \\r\\n, \\x1c, dotted capitals, citations, braces, bullets, ellipses), decisions
independent of batch boundaries, and rows conserved."""
from __future__ import annotations

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.filter_corpus import DATATROVE_CRASH, datatrove_decisions, datatrove_filters
from stages.filter import FilterChain, FilterConfig

PIECES = ["the", "The", "be", "to", "of", "and", "that", "have", "with", "cat", "sat", "mat", "word", "İstanbul",
          "don't", "U.S.", "well-known", "e.g.", "lorem", "ipsum", "Lorem Ipsum", "javascript", "cookie policy",
          "{", "}", "[1]", "[edit]", "[citation needed]", "#", "...", "…", "•", "-", ".", "!", "?", ",", '"', "'",
          "http://x.org/a", "3.5%", "ΣΑΣ", "日本語", "x" * 40]
SEPARATORS = [" ", " ", " ", "  ", "\n", "\n\n", "\r\n", "\t", "\u00a0", "\u2028", "\x1c", ". ", ".\n", " \n"]

texts = st.lists(st.tuples(st.sampled_from(PIECES), st.sampled_from(SEPARATORS)), min_size=0, max_size=120).map(
    lambda parts: "".join(p + s for p, s in parts))


def _batch(values: list[str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({"id": [f"d{i}" for i in range(len(values))],
                                       "text": pa.array(values, pa.large_string()),
                                       "source": ["t"] * len(values), "meta": ["{}"] * len(values)})


CHAIN = FilterChain(FilterConfig(length=None))
ORACLE = datatrove_filters()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, min_size=1, max_size=8))
def test_generated_texts_match_datatrove(values: list[str]):
    """Same first reason (or keep) and the same C4-edited text as datatrove's four filters, on every text."""
    out = CHAIN.process(_batch(values))
    ours = out.column("reject_reason").to_pylist()
    edited = out.column("text").to_pylist()
    for i, (reason, text) in enumerate(datatrove_decisions(values, ORACLE)):
        if reason == DATATROVE_CRASH:
            continue
        assert ours[i] == reason, (values[i], ours[i], reason)
        if reason is None:
            assert edited[i] == text


@settings(max_examples=25, deadline=None)
@given(st.lists(texts, min_size=2, max_size=12), st.integers(min_value=1, max_value=11))
def test_batch_boundaries_do_not_matter(values: list[str], cut: int):
    """Processing a batch whole or in two slices gives the same rows (Ray block boundaries are arbitrary)."""
    cut = min(cut, len(values) - 1)
    whole = FilterChain(FilterConfig()).process(_batch(values))
    chain = FilterChain(FilterConfig())
    batch = _batch(values)
    parts = [chain.process(batch.slice(0, cut)), chain.process(batch.slice(cut))]
    joined = pa.Table.from_batches(parts)
    assert joined.equals(pa.Table.from_batches([whole]))
    assert joined.num_rows == len(values)
