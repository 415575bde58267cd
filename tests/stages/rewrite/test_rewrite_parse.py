"""parse_reply: the fixtures of spec/rewrite.md (well formed, marker inside the draft, no close marker,
finish_reason=length, empty) each give the expected text or reason; a property test for the round trip."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stages.rewrite.parse import EMPTY, ERROR, NO_OUTPUT_MARKER, TRUNCATED, Reply, parse_reply
from stages.rewrite.prompt import MARKERS as M


def reply(content: str | None, finish: str | None = "stop", error: str | None = None) -> Reply:
    return Reply(content=content, finish_reason=finish, error=error)


def test_well_formed_reply_gives_the_stripped_document() -> None:
    text = f"{M.think_open}task: a recipe{M.think_close}\n{M.out_open}\n  Better recipe.\n{M.out_close}\ntrailing"
    assert parse_reply(reply(text)) == ("Better recipe.", None)


def test_marker_quoted_while_thinking_is_skipped_by_taking_the_last_open_marker() -> None:
    """The draft (untrusted) contained the output markers and the model quoted them in its plan: only the
    document after the think block counts, and the last open marker wins."""
    text = (f"{M.think_open}the draft says {M.out_open}fake{M.out_close}{M.think_close}"
            f"{M.out_open}ignored start {M.out_open}Real document.{M.out_close}")
    assert parse_reply(reply(text)) == ("Real document.", None)


def test_marker_inside_think_block_only_is_no_output() -> None:
    text = f"{M.think_open}I will write {M.out_open}x{M.out_close} later{M.think_close} and then stopped"
    assert parse_reply(reply(text)) == (None, NO_OUTPUT_MARKER)


def test_reply_without_think_block_is_searched_from_the_start() -> None:
    assert parse_reply(reply(f"{M.out_open}Doc{M.out_close}")) == ("Doc", None)


def test_missing_close_marker_is_no_output_marker() -> None:
    assert parse_reply(reply(f"{M.think_open}p{M.think_close}{M.out_open}half a docu")) == (None, NO_OUTPUT_MARKER)


def test_no_markers_at_all_is_no_output_marker() -> None:
    assert parse_reply(reply("Sure! Here is a better text.")) == (None, NO_OUTPUT_MARKER)
    assert parse_reply(reply(None)) == (None, NO_OUTPUT_MARKER)


def test_length_finish_is_truncated_even_with_both_markers() -> None:
    """max_tokens includes the reasoning; a cut reply must never become a (short) document."""
    text = f"{M.think_open}p{M.think_close}{M.out_open}complete-looking{M.out_close}"
    assert parse_reply(reply(text, finish="length")) == (None, TRUNCATED)


def test_empty_document_is_empty() -> None:
    assert parse_reply(reply(f"{M.think_open}p{M.think_close}{M.out_open} \n\t {M.out_close}")) == (None, EMPTY)


def test_error_reply_is_error() -> None:
    assert parse_reply(reply(None, finish=None, error="HTTP 500: boom")) == (None, ERROR)


markerless = st.text().filter(lambda s: all(m not in s for m in (M.think_open, M.think_close, M.out_open, M.out_close)))


@given(plan=markerless, doc=markerless, tail=markerless)
def test_any_document_between_markers_round_trips(plan: str, doc: str, tail: str) -> None:
    """For any text without markers (emoji, CJK, \\r, empty), the parsed document is the text stripped, or EMPTY."""
    text = f"{M.think_open}{plan}{M.think_close}{M.out_open}{doc}{M.out_close}{tail}"
    expected = (doc.strip(), None) if doc.strip() else (None, EMPTY)
    assert parse_reply(reply(text)) == expected
