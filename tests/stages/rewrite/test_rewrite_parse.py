"""parse_reply: the fixtures of spec/rewrite.md (well formed, marker inside the draft, no close marker,
finish_reason=length, empty) each give the expected text or reason; a property test for the round trip.
parse_json_reply: the same outcomes for the JSON outputs, plus `rewrite.invalid_json`."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stages.rewrite.parse import (
    EMPTY,
    ERROR,
    INVALID_JSON,
    NO_OUTPUT_MARKER,
    TRUNCATED,
    Reply,
    parse_json_reply,
    parse_reply,
)
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


def test_json_reply_gives_the_stripped_document_field() -> None:
    text = json.dumps({"task": "a recipe", "plan": "1. wash 2. boil", "document": "\n  Better recipe.\n"})
    assert parse_json_reply(reply(text)) == ("Better recipe.", None)


def test_json_reply_with_raw_newlines_in_strings_parses() -> None:
    """llama-cpp-python's JSON grammar lets a model write a literal newline inside a string (measured on
    SmolLM2-135M); strict JSON refuses it, but it is plainly text: the document keeps its line breaks."""
    text = '{"task": "t", "plan": "line one\nline two", "document": "Para one.\n\nPara two."}'  # raw newlines
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)  # the fixture hits the case: strict JSON refuses it
    assert parse_json_reply(reply(text)) == ("Para one.\n\nPara two.", None)


@pytest.mark.parametrize("content", ['{"task": "t", "plan": "p"', "Sure! here it is", "", None, "[1, 2]",
                                     '{"task": "t", "plan": "p"}', '{"document": 3}'])
def test_json_reply_without_a_document_string_is_invalid_json(content: str | None) -> None:
    assert parse_json_reply(reply(content)) == (None, INVALID_JSON)


def test_json_reply_outcomes_match_the_marker_parser() -> None:
    whole = json.dumps({"task": "t", "plan": "p", "document": "complete-looking"})
    assert parse_json_reply(reply(whole, finish="length")) == (None, TRUNCATED)
    assert parse_json_reply(reply(json.dumps({"task": "", "plan": "", "document": " \t\n"}))) == (None, EMPTY)
    assert parse_json_reply(reply(None, finish=None, error="timeout after 1 s")) == (None, ERROR)


@given(plan=st.text(), doc=st.text())
def test_any_json_document_round_trips(plan: str, doc: str) -> None:
    """Any text (markers, quotes, emoji, CJK, \\r) survives json.dumps -> parse_json_reply, stripped, or is EMPTY."""
    text = json.dumps({"task": "t", "plan": plan, "document": doc}, ensure_ascii=False)
    assert parse_json_reply(reply(text)) == ((doc.strip(), None) if doc.strip() else (None, EMPTY))
