"""REWIRE-style guided rewriting (Nguyen et al. 2025, "Recycling the Web"): pure logic, no Ray.

In:  deduplicated document batches (`id`, `text`, `source`, `meta`, `reject_reason`, `rewrite_candidate`).
Out: rewrite rows of `REWRITE_SCHEMA` (document schema + `reject_reason`), one per selected draft:
     `id = <orig>#rw`, `source = "rewrite"`, `meta` JSON with `source_id` and `rewrite` = {model, prompt_sha256,
     sampling, seed, key, finish_reason, completion_tokens, draft_source, score}. Originals are never touched.
Reasons: rewrite.too_long, .error, .truncated, .no_output_marker, .invalid_json, .empty, .below_refilter, .over_mix.
Output formats: `markers` (free text, the spec's parser) or `json_schema` / `json_object` (constrained decoding).

Steps: `Rewriter.process` (per batch: prompt, async chat client, resume cache, parse) ->
`score_batch` (fastText re-filter) -> `plan_selection` (driver: top share + token-ratio mix) -> `apply_selection`.
"""
from stages.rewrite.cache import ReplyCache
from stages.rewrite.client import ChatClient, EndpointError, check_endpoint, list_models
from stages.rewrite.config import Backend, Output, RewriteConfig, Select
from stages.rewrite.parse import REASONS, Reply, parse_json_reply, parse_reply
from stages.rewrite.prompt import (
    MARKERS,
    Markers,
    PromptTemplate,
    build_request,
    load_prompt,
    output_schema,
    request_key,
    response_format,
)
from stages.rewrite.refilter import (
    RefilterClassifier,
    SelectionPlan,
    apply_selection,
    hash_sample,
    plan_selection,
    read_reference,
    score_batch,
)
from stages.rewrite.rewriter import (
    REWRITE_SCHEMA,
    Rewriter,
    estimate_tokens,
    select_for_rewrite,
)

__all__ = [
    "MARKERS", "REASONS", "REWRITE_SCHEMA", "Backend", "ChatClient", "EndpointError", "Markers", "Output",
    "PromptTemplate", "RefilterClassifier", "Reply", "ReplyCache", "RewriteConfig", "Rewriter", "Select",
    "SelectionPlan",
    "apply_selection", "build_request", "check_endpoint", "estimate_tokens", "hash_sample", "list_models",
    "load_prompt", "output_schema", "parse_json_reply", "parse_reply", "plan_selection", "read_reference",
    "request_key", "response_format", "score_batch", "select_for_rewrite",
]
