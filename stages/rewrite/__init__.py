"""REWIRE-style guided rewriting (Nguyen et al. 2025, "Recycling the Web"): pure logic, no Ray.

In:  deduplicated document batches (`id`, `text`, `source`, `meta`, `reject_reason`, `rewrite_candidate`).
Out: rewrite rows of `REWRITE_SCHEMA` (document schema + `reject_reason`), one per selected draft:
     `id = <orig>#rw`, `source = "rewrite"`, `meta` JSON with `source_id` and `rewrite` = {model, prompt_sha256,
     sampling, seed, key, finish_reason, completion_tokens, draft_source, score}. Originals are never touched.
Reasons: rewrite.too_long, .error, .truncated, .no_output_marker, .empty, .below_refilter, .over_mix.

Steps: `Rewriter.process` (per batch: prompt, async chat client, resume cache, parse) ->
`score_batch` (fastText re-filter) -> `plan_selection` (driver: top share + token-ratio mix) -> `apply_selection`.
"""
from stages.rewrite.cache import ReplyCache
from stages.rewrite.client import ChatClient, check_endpoint, list_models
from stages.rewrite.config import Backend, RewriteConfig, Select
from stages.rewrite.parse import REASONS, Reply, parse_reply
from stages.rewrite.prompt import MARKERS, Markers, PromptTemplate, build_request, load_prompt, request_key
from stages.rewrite.refilter import (
                                     RefilterClassifier,
                                     SelectionPlan,
                                     apply_selection,
                                     hash_sample,
                                     plan_selection,
                                     read_reference,
                                     score_batch,
)
from stages.rewrite.rewriter import REWRITE_SCHEMA, Rewriter, estimate_tokens, select_for_rewrite

__all__ = [
    "REASONS", "REWRITE_SCHEMA", "MARKERS", "Backend", "ChatClient", "Markers", "PromptTemplate", "RefilterClassifier",
    "Reply", "ReplyCache", "RewriteConfig", "Rewriter", "Select", "SelectionPlan", "apply_selection", "build_request",
    "check_endpoint", "estimate_tokens", "hash_sample", "list_models", "load_prompt", "parse_reply", "plan_selection",
    "read_reference", "request_key", "score_batch", "select_for_rewrite",
]
