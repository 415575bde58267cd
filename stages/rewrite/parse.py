"""Turn one chat reply into the final document or an outcome reason (spec/rewrite.md, parse_reply).

Only the text between the output markers (or the JSON reply's "document" field) is kept; the reasoning is dropped.
A reply cut by `max_tokens` is never trusted, even if it happens to contain both markers or parse as JSON, because
the document may be incomplete. Measured on bench/rewrite.py's drafts with SmolLM2-135M-Instruct: markers parse
0 of 7; JSON constrained by the server's grammar parses every reply that is not cut by max_tokens.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from stages.rewrite.prompt import MARKERS, Markers

TRUNCATED = "rewrite.truncated"
"""The server stopped at max_tokens (`finish_reason == "length"`)."""
NO_OUTPUT_MARKER = "rewrite.no_output_marker"
"""No output-open marker after the thinking, or no output-close marker after it."""
EMPTY = "rewrite.empty"
"""The marked document is empty or whitespace only."""
INVALID_JSON = "rewrite.invalid_json"
"""JSON outputs: the reply is not one JSON object with a string "document" (a server that ignored the schema)."""
ERROR = "rewrite.error"
"""The request failed after all retries (connection, timeout, HTTP status, malformed body)."""
TOO_LONG = "rewrite.too_long"
"""The draft is longer than `max_draft_tokens`: not sent."""
BELOW_REFILTER = "rewrite.below_refilter"
"""Parsed, but under the re-filter's top-share cut (REWIRE §2.2)."""
OVER_MIX = "rewrite.over_mix"
"""Above the re-filter cut, but beyond the rewrite token budget of the raw : rewrite mix (REWIRE Table 1)."""

REASONS = (TRUNCATED, NO_OUTPUT_MARKER, INVALID_JSON, EMPTY, ERROR, TOO_LONG, BELOW_REFILTER, OVER_MIX)


@dataclass(frozen=True, slots=True)
class Reply:
    """What the server answered for one request, after retries. `error` set means no usable answer."""

    content: str | None
    finish_reason: str | None
    completion_tokens: int | None = None
    error: str | None = None
    attempts: int = 1
    error_kind: str | None = None
    """With `error`: `timeout`, `connection`, `malformed` (a 200 that is not a chat completion) or `http_<status>`."""


def parse_reply(reply: Reply, markers: Markers = MARKERS) -> tuple[str | None, str | None]:
    """(document, None) or (None, reason).

    The document is the text after the LAST output-open marker that follows the (first) think-close marker,
    up to the next output-close marker, stripped. A reply without a think-close marker is searched from its start
    (a model may skip the thinking). Drafts are untrusted and may contain the markers themselves: taking the last
    open marker skips any the model quoted while thinking.
    """
    if reply.error is not None:
        return None, ERROR
    if reply.finish_reason == "length":
        return None, TRUNCATED
    content = reply.content or ""
    think_end = content.find(markers.think_close)
    start = 0 if think_end < 0 else think_end + len(markers.think_close)
    open_at = content.rfind(markers.out_open, start)
    if open_at < 0:
        return None, NO_OUTPUT_MARKER
    body_start = open_at + len(markers.out_open)
    close_at = content.find(markers.out_close, body_start)
    if close_at < 0:
        return None, NO_OUTPUT_MARKER
    body = content[body_start:close_at].strip()
    if not body:
        return None, EMPTY
    return body, None


def parse_json_reply(reply: Reply) -> tuple[str | None, str | None]:
    """(document, None) or (None, reason) for the JSON outputs: the stripped "document" field of one JSON object.

    Raw control characters inside strings are accepted (`strict=False`): llama-cpp-python's JSON grammar lets the
    model write a literal newline in a string, which strict JSON forbids but which is plainly part of the text.
    """
    if reply.error is not None:
        return None, ERROR
    if reply.finish_reason == "length":
        return None, TRUNCATED
    try:
        data = json.loads(reply.content or "", strict=False)
    except json.JSONDecodeError:
        return None, INVALID_JSON
    if not isinstance(data, dict) or not isinstance(data.get("document"), str):
        return None, INVALID_JSON
    body = data["document"].strip()
    if not body:
        return None, EMPTY
    return body, None
