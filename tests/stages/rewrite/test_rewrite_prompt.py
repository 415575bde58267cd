"""The request builder is a pure function: identical bodies and keys for identical inputs, a new key when any
component of (prompt, model, sampling, seed, id, text) changes, and the draft inserted verbatim."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stages.rewrite.config import RewriteConfig
from stages.rewrite.prompt import MARKERS, Markers, build_request, load_prompt, request_key, request_seed

CONFIG = RewriteConfig(model="m", max_tokens=64)
TEMPLATE = load_prompt(CONFIG.prompt_path)


def test_build_request_is_deterministic_and_follows_the_config() -> None:
    a = build_request(TEMPLATE, CONFIG, "doc-1", "Some draft.")
    b = build_request(load_prompt(CONFIG.prompt_path), CONFIG, "doc-1", "Some draft.")
    assert a == b
    assert a["model"] == "m" and a["max_tokens"] == 64 and a["temperature"] == 1.0 and a["top_p"] == 0.9
    assert a["messages"][0]["role"] == "user" and "Some draft." in a["messages"][0]["content"]
    assert 0 <= a["seed"] < 2**31 and a["seed"] == request_seed("doc-1", CONFIG.seed)
    assert build_request(TEMPLATE, CONFIG, "doc-2", "Some draft.")["seed"] != a["seed"]


def test_prompt_names_every_marker_and_asks_for_no_shorter_document() -> None:
    content = TEMPLATE.render("x")
    for marker in (MARKERS.think_open, MARKERS.think_close, MARKERS.out_open, MARKERS.out_close):
        assert marker in content
    assert "at least as long as the draft" in content


def test_request_key_changes_with_each_component() -> None:
    base = request_key(TEMPLATE, CONFIG, "id", "text")
    other_prompt = load_prompt(CONFIG.prompt_path, Markers(out_open="<doc>", out_close="</doc>"))
    variants = [
        request_key(other_prompt, CONFIG, "id", "text"),
        request_key(TEMPLATE, dataclasses.replace(CONFIG, model="m2"), "id", "text"),
        request_key(TEMPLATE, dataclasses.replace(CONFIG, temperature=0.5), "id", "text"),
        request_key(TEMPLATE, dataclasses.replace(CONFIG, max_tokens=65), "id", "text"),
        request_key(TEMPLATE, dataclasses.replace(CONFIG, seed=1), "id", "text"),
        request_key(TEMPLATE, CONFIG, "id2", "text"),
        request_key(TEMPLATE, CONFIG, "id", "text2"),
        request_key(TEMPLATE, CONFIG, "idt", "ext"),  # length-prefixed: no ambiguity at the boundary
    ]
    assert len({base, *variants}) == len(variants) + 1
    assert request_key(TEMPLATE, CONFIG, "id", "text") == base


def test_prompt_file_must_have_one_draft_field(tmp_path: Path) -> None:
    bad = tmp_path / "p.txt"
    bad.write_text("no field here")
    with pytest.raises(ValueError, match="exactly one"):
        load_prompt(bad)


@given(draft=st.text())
def test_any_draft_is_inserted_verbatim(draft: str) -> None:
    """Braces, markers and format fields inside a draft are data: never interpreted."""
    content = TEMPLATE.render(draft)
    before, after = TEMPLATE.text.split("{draft}")
    assert content.startswith(before.format(think_open=MARKERS.think_open, think_close=MARKERS.think_close,
                                            out_open=MARKERS.out_open, out_close=MARKERS.out_close))
    assert draft in content and len(content) >= len(draft)
