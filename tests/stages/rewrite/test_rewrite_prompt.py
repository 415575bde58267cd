"""The request builder is a pure function: identical bodies and keys for identical inputs, a new key when any
component of (prompt, model, sampling, seed, id, text) changes, and the draft inserted verbatim."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stages.rewrite.config import Output, RewriteConfig
from stages.rewrite.prompt import (
    JSON_FIELDS,
    MARKERS,
    Markers,
    build_request,
    load_prompt,
    output_schema,
    request_key,
    request_seed,
)

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


@pytest.mark.parametrize("output", [Output.JSON_SCHEMA, Output.JSON_OBJECT])
def test_json_outputs_send_the_schema_in_the_servers_dialect(output: Output) -> None:
    """json_schema is OpenAI's form (vLLM, SGLang); json_object + schema is the one llama-cpp-python accepts."""
    config = dataclasses.replace(CONFIG, output=output, max_plan_chars=300)
    body = build_request(load_prompt(config.prompt_path), config, "doc-1", "Some draft.")
    fmt = body["response_format"]
    schema = fmt["json_schema"]["schema"] if output == Output.JSON_SCHEMA else fmt["schema"]
    assert fmt["type"] == str(output) and schema == output_schema(config)
    assert list(schema["properties"]) == list(JSON_FIELDS) == schema["required"]  # think, then write
    assert schema["properties"]["plan"]["maxLength"] == 300 and "maxLength" not in schema["properties"]["document"]
    assert schema["properties"]["document"]["minLength"] == config.min_document_chars == 20
    content = body["messages"][0]["content"]
    assert content.rstrip().endswith('Start with {"task": "') and all(f'"{f}"' in content for f in JSON_FIELDS)
    assert "Some draft." in content and "at least as long as the draft" in content
    assert "response_format" not in build_request(TEMPLATE, CONFIG, "doc-1", "Some draft.")


def test_output_format_enters_the_key_and_markers_keys_are_unchanged() -> None:
    """A JSON reply must never answer a markers request from the cache (or the reverse)."""
    base = request_key(TEMPLATE, CONFIG, "id", "text")
    keys = {request_key(TEMPLATE, dataclasses.replace(CONFIG, output=o, max_plan_chars=m), "id", "text")
            for o in (Output.JSON_SCHEMA, Output.JSON_OBJECT) for m in (None, 300)}
    assert len(keys) == 4 and base not in keys
    # the markers key is the earlier formula: sha256 of [prompt sha, model, sampling, seed] then id and text
    import hashlib
    import json
    head = json.dumps([TEMPLATE.sha256, CONFIG.model, CONFIG.sampling, CONFIG.seed], sort_keys=True)
    digest = hashlib.sha256(head.encode())
    for part in ("id", "text"):
        digest.update(len(part.encode()).to_bytes(8, "little") + part.encode())
    assert base == digest.hexdigest()
