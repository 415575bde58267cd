"""Requests for the guided rewrite: the prompt, its sha256, the per-document seed and the resume key.

Everything here is a pure, deterministic function of (prompt file, markers, model, sampling, id, text):
the same document always yields byte-identical request bodies and the same cache key (spec/rewrite.md).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.rewrite.config import Output, RewriteConfig
from stages.schema import stable_hash


@dataclass(frozen=True, kw_only=True, slots=True)
class Markers:
    """The two distinct marker pairs around the reasoning and the final document (REWIRE App. B, step 6)."""

    think_open: str = "<plan>"
    """Opens the model's thinking (carding choice: XML-like tags are the format small chat models follow best)."""
    think_close: str = "</plan>"
    """Closes the thinking; the document is searched for only after it."""
    out_open: str = "<document>"
    """Opens the final document."""
    out_close: str = "</document>"
    """Closes the final document; a reply without it (e.g. cut by max_tokens) yields no document."""


MARKERS = Markers()


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """A prompt file with `{draft}` and the four marker fields, plus the sha256 that names it."""

    text: str
    markers: Markers
    sha256: str

    def render(self, draft: str) -> str:
        """The user message for one draft. The draft is inserted verbatim (never formatted: braces are data)."""
        before, after = self.text.split("{draft}", 1)
        fill = {"think_open": self.markers.think_open, "think_close": self.markers.think_close,
                "out_open": self.markers.out_open, "out_close": self.markers.out_close}
        return before.format(**fill) + draft + after.format(**fill)


def load_prompt(path: str | Path, markers: Markers = MARKERS) -> PromptTemplate:
    """Read a prompt file; its sha256 covers the file bytes and the markers, so changing either re-keys the cache."""
    raw = Path(path).read_bytes()
    text = raw.decode("utf-8")
    if text.count("{draft}") != 1:
        raise ValueError(f"{path}: the prompt must contain exactly one {{draft}} field, found {text.count('{draft}')}")
    digest = hashlib.sha256(raw)
    for m in (markers.think_open, markers.think_close, markers.out_open, markers.out_close):
        digest.update(b"\0" + m.encode("utf-8"))
    template = PromptTemplate(text=text, markers=markers, sha256=digest.hexdigest())
    template.render("")  # raises KeyError/ValueError now on an unknown {field}, not on the first document
    return template


def request_seed(doc_id: str, seed: int) -> int:
    """Per-document sampling seed in [0, 2^31): stable_hash(id, seed) fits every server's seed type."""
    return int(stable_hash([doc_id], seed)[0] & 0x7FFF_FFFF)


JSON_FIELDS = ("task", "plan", "document")
"""The fields of a JSON reply, in decoding order: infer the task, think, then write (REWIRE App. B steps 1-4)."""


def output_schema(config: RewriteConfig) -> dict[str, Any]:
    """The JSON schema of a reply for the JSON outputs: three required strings, no other keys.

    The document has a `min_document_chars` floor and no upper bound: a cap would cut it short, and a reply that
    runs past max_tokens is `rewrite.truncated`, never a short document."""
    def string(limit: int | None) -> dict[str, Any]:
        return {"type": "string"} if limit is None else {"type": "string", "maxLength": limit}

    document: dict[str, Any] = {"type": "string"}
    if config.min_document_chars is not None:
        document["minLength"] = config.min_document_chars
    return {"type": "object",
            "properties": {"task": string(config.max_plan_chars), "plan": string(config.max_plan_chars),
                           "document": document},
            "required": list(JSON_FIELDS), "additionalProperties": False}


def response_format(config: RewriteConfig) -> dict[str, Any] | None:
    """The request's `response_format` for `config.output` (None for markers: free text)."""
    if config.output == Output.JSON_SCHEMA:
        return {"type": "json_schema", "json_schema": {"name": "rewrite", "strict": True,
                                                        "schema": output_schema(config)}}
    if config.output == Output.JSON_OBJECT:
        return {"type": "json_object", "schema": output_schema(config)}
    return None


def build_request(template: PromptTemplate, config: RewriteConfig, doc_id: str, text: str) -> dict[str, Any]:
    """The `/v1/chat/completions` body for one document (deterministic; the server applies the chat template)."""
    body = {
        "model": config.model,
        "messages": [{"role": "user", "content": template.render(text)}],
        "temperature": config.temperature,
        "top_p": config.top_p,
        "max_tokens": config.max_tokens,
        "seed": request_seed(doc_id, config.seed),
    }
    fmt = response_format(config)
    if fmt is not None:
        body["response_format"] = fmt
    return body


def request_key(template: PromptTemplate, config: RewriteConfig, doc_id: str, text: str) -> str:
    """sha256 hex of (prompt sha, model, sampling, seed, output format, id, text): the resume cache key of one request.

    The output format enters only when it is not `markers`, so marker-format caches of earlier runs stay valid."""
    head_parts: list[Any] = [template.sha256, config.model, config.sampling, config.seed]
    fmt = response_format(config)
    if fmt is not None:
        head_parts.append(fmt)
    head = json.dumps(head_parts, sort_keys=True)
    digest = hashlib.sha256(head.encode("utf-8"))
    for part in (doc_id, text):
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little") + data)  # length-prefixed: ("a", "bc") != ("ab", "c")
    return digest.hexdigest()
