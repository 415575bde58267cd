"""The rewrite stage's one config (STYLE.md §2-3): REWIRE defaults (Nguyen et al. 2025), carding choices named."""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

DEFAULT_PROMPT_FILE = str(Path(__file__).with_name("prompts") / "guided_rewrite_v1.txt")
"""Carding's own guided-rewrite prompt (REWIRE App. B restated), versioned as a file; its sha256 is provenance."""

DEFAULT_JSON_PROMPT_FILE = str(Path(__file__).with_name("prompts") / "guided_rewrite_json_v1.txt")
"""The same prompt asking for one JSON object {"task", "plan", "document"} instead of marker pairs."""


class Select(StrEnum):
    """Which documents are sent to the LLM."""

    CANDIDATES = "candidates"
    """Rows the filter marked `rewrite_candidate` (rejected only by the quality classifier): ~82 % of REWIRE's
    kept yield for ~90 % less generation (REWIRE §4.1: 81.7 % of kept rewrites come from discarded pages)."""
    ALL_PASSING = "all_passing"
    """Candidates plus every kept row: the paper's setup (REWIRE §2.2 rewrote the whole pre-classifier pool)."""


class Backend(StrEnum):
    """How requests are served."""

    OPENAI_HTTP = "openai_http"
    """Async `/v1/chat/completions` client to vLLM, SGLang or llama.cpp's server (`base_url`)."""
    PASSTHROUGH = "passthrough"
    """Returns the draft between the markers without any server: for `--dry-run` only, never in tests."""


class Output(StrEnum):
    """How the reply carries the final document, and whether the server constrains decoding to that shape."""

    MARKERS = "markers"
    """Free text; the document is taken from between the output markers (spec/rewrite.md, parse_reply). Needs a
    model that follows the format: SmolLM2-135M never does (0 of 7 on the bench), a 70B instruct model does."""
    JSON_SCHEMA = "json_schema"
    """One JSON object {"task", "plan", "document"}, decoding constrained by the server to the schema through
    OpenAI's `response_format: {"type": "json_schema", ...}` (vLLM, SGLang, llama.cpp's C++ `llama-server`).
    The order of the fields keeps REWIRE's think-then-write (App. B step 3 before step 4)."""
    JSON_OBJECT = "json_object"
    """The same schema sent as `response_format: {"type": "json_object", "schema": ...}`: the only form the Python
    server of llama-cpp-python (0.3.x) accepts; it answers `json_schema` with HTTP 500 (a validation error)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RewriteConfig:
    """REWIRE-style guided rewriting: endpoint, sampling, resume cache, re-filter and mix (spec/rewrite.md)."""

    enabled: bool = False
    """Off by default: rewriting needs an LLM server (carding choice; `carding run` checks it answers first)."""

    backend: Backend = Backend.OPENAI_HTTP
    """`openai_http` for real runs; `passthrough` for dry runs only (spec/rewrite.md, Backends)."""

    base_url: str = "http://127.0.0.1:8000/v1"
    """OpenAI-compatible API root, ending in `/v1` (vLLM and SGLang serve there by default; llama.cpp too)."""

    model: str | None = None
    """Served model name, required when enabled; the paper used Llama-3.3-70B-Instruct (REWIRE §2.2).
    Rewrites carry this model's licence terms, so it is recorded in every row's meta and in the manifest."""

    api_key_env: str = "CARDING_LLM_API_KEY"
    """Name of the environment variable holding the API key (sent as a Bearer token if set; never logged)."""

    max_concurrency: int = 256
    """Requests in flight per Ray actor (spec's `max_in_flight`; carding choice: keeps a vLLM batch full)."""

    actors: int = 1
    """Ray actors each holding one client (carding choice: one actor keeps `max_concurrency` requests in flight,
    which saturates one vLLM server; add actors for several servers behind a load balancer)."""

    batch_docs: int = 64
    """Documents per Ray batch; an actor runs up to ceil(max_concurrency / batch_docs) batches at once (carding
    choice: small batches flush finished rows and cache files early)."""

    timeout_s: float = 600.0
    """Seconds one request may take before it is retried (carding choice: an 8192-token reply at ~30 tok/s)."""

    retries: int = 5
    """Retries after the first try on timeouts, dropped connections, 429, 5xx and malformed replies
    (spec's `max_retries`); what still fails becomes `rewrite.error`."""

    backoff_s: float = 0.5
    """First backoff in seconds; doubles each retry, full jitter, at most `backoff_max_s` (carding choice)."""

    backoff_max_s: float = 30.0
    """Cap on one backoff sleep in seconds; a 429's Retry-After is honoured up to this cap (carding choice)."""

    output: Output = Output.MARKERS
    """`markers` (the spec's free-text format), or `json_schema` / `json_object` (server-side constrained decoding to
    a JSON schema, so every reply that is not cut by max_tokens parses; see `Output`)."""

    max_plan_chars: int | None = None
    """JSON outputs only: `maxLength` of the "task" and "plan" strings, so a model that rambles while thinking
    still reaches the document within `max_tokens` (carding choice; None = no limit, for large models).
    llama-cpp-python unrolls maxLength into nested rules and its grammar parser refuses (and its server dies) past
    roughly a thousand: keep it <= 500 there."""

    min_document_chars: int | None = 20
    """JSON outputs only: `minLength` of the "document" string, so the model cannot close it at once or leave only
    whitespace (measured on SmolLM2-135M with 1: 1 of 100 bench documents was whitespace, `rewrite.empty`). Far
    below any real draft (the filter keeps >= 200 chars); REWIRE's "no shorter than the draft" stays a prompt
    instruction, since llama-cpp-python unrolls minLength into one grammar rule per character. None: no minimum."""

    temperature: float = 1.0
    """Sampling temperature (REWIRE App. B)."""

    top_p: float = 0.9
    """Nucleus sampling mass (REWIRE App. B)."""

    max_tokens: int = 8192
    """Most generated tokens per reply, thinking included (REWIRE App. B); a reply cut here is
    `rewrite.truncated`, never a short document."""

    max_draft_tokens: int | None = 3072
    """Longer drafts are not sent (`rewrite.too_long`): thinking plus a no-shorter document must fit in
    `max_tokens` (carding choice). Counted as UTF-8 bytes / `bytes_per_token`. None turns the rule off."""

    bytes_per_token: float = 4.0
    """Token estimate before tokenization: ~4 UTF-8 bytes per BPE token on English web text (carding choice,
    the rule of thumb of GPT-2/Llama tokenizers); used by `max_draft_tokens` and the mix."""

    select: Select = Select.CANDIDATES
    """`candidates` (carding default, cost) or `all_passing` (the paper) — see `Select`."""

    prompt_file: str | None = None
    """Prompt template with `{draft}` and the marker fields; None = carding's shipped `prompts/guided_rewrite_v1.txt`
    (`guided_rewrite_json_v1.txt` for the JSON outputs), resolved on each worker, so a Ray working_dir elsewhere
    still finds it. Its sha256 goes into every row."""

    cache_dir: str | None = None
    """Folder for finished replies (resume): files written atomically, keyed by sha256(prompt, model,
    sampling, id, text), so a rerun sends only missing requests. Must be shared by all workers. None: no cache."""

    cache_flush_replies: int = 32
    """Replies per cache file: a crash loses at most this many finished replies per actor (carding choice)."""

    refilter_model: str | None = None
    """Path of a trained fastText re-filter; None trains one per run from `refilter_reference` (REWIRE §2.2)."""

    refilter_reference: str | None = None
    """Reference high-quality documents (positives; DCLM used OpenHermes-2.5 + ELI5): a parquet or jsonl file
    with a `text` column. Required when the re-filter is trained."""

    refilter_train_docs: int = 200_000
    """Documents per class for training: 200 K positives + 200 K rewrites (REWIRE §2.2, 400 K in all)."""

    refilter_bucket: int = 2_000_000
    """fastText hash buckets for word n-grams (fastText default; the model file is ~(words + bucket) x dim x 4 B)."""

    refilter_epochs: int = 5
    """fastText epochs (fastText default; DCLM's train_fasttext_classifier.py keeps it)."""

    refilter_lr: float = 0.1
    """fastText learning rate (fastText default for supervised training)."""

    refilter_word_ngrams: int = 2
    """fastText word n-grams (DCLM's OH-2.5 + ELI5 classifier uses bigrams)."""

    refilter_dim: int = 100
    """fastText embedding size (fastText default)."""

    keep_top_share: float = 0.1
    """Share of parsed rewrites kept by re-filter score (REWIRE §2.2: the same top-10 % cut as DCLM-Baseline);
    the rest get `rewrite.below_refilter`. Exact by rank; ties broken by stable_hash(id, seed)."""

    mix_token_ratio: float | None = 1.0
    """Raw : rewrite tokens in the output (REWIRE Table 1: 1:1; 1.5 gives the 0.6 : 0.4 that was better at 3B).
    Kept rewrites beyond raw_tokens / ratio get `rewrite.over_mix` (lowest score first). None: no cap."""

    seed: int = 0
    """Seeds the per-document sampling seed, the training sample and tie-breaks (stable_hash(id, seed))."""

    def __post_init__(self) -> None:
        if self.enabled and self.backend == Backend.OPENAI_HTTP and not self.model:
            raise ValueError("rewrite.model: required when rewrite is enabled (the served model name, e.g. "
                             "meta-llama/Llama-3.3-70B-Instruct)")
        if self.backend == Backend.OPENAI_HTTP and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"rewrite.base_url={self.base_url!r}: must start with http:// or https://")
        for name in ("max_concurrency", "actors", "batch_docs", "refilter_bucket", "max_tokens", "cache_flush_replies",
                     "refilter_train_docs", "refilter_epochs", "refilter_word_ngrams", "refilter_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"rewrite.{name}={getattr(self, name)}: must be >= 1")
        if self.retries < 0:
            raise ValueError(f"rewrite.retries={self.retries}: must be >= 0 (0 means one try only)")
        for name in ("timeout_s", "bytes_per_token", "refilter_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"rewrite.{name}={getattr(self, name)}: must be > 0")
        if self.backoff_s < 0 or self.backoff_max_s < self.backoff_s:
            raise ValueError(f"rewrite.backoff_s={self.backoff_s}, backoff_max_s={self.backoff_max_s}: "
                             "need 0 <= backoff_s <= backoff_max_s")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"rewrite.temperature={self.temperature}: must be in [0, 2]")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"rewrite.top_p={self.top_p}: must be in (0, 1]")
        if self.min_document_chars is not None and self.min_document_chars < 1:
            raise ValueError(f"rewrite.min_document_chars={self.min_document_chars}: must be >= 1, or None for no minimum")
        if self.max_plan_chars is not None and self.max_plan_chars < 1:
            raise ValueError(f"rewrite.max_plan_chars={self.max_plan_chars}: must be >= 1, or None for no limit")
        if self.max_draft_tokens is not None and self.max_draft_tokens < 1:
            raise ValueError(f"rewrite.max_draft_tokens={self.max_draft_tokens}: must be >= 1, or None for no limit")
        if not 0.0 < self.keep_top_share <= 1.0:
            raise ValueError(f"rewrite.keep_top_share={self.keep_top_share}: must be in (0, 1]")
        if self.mix_token_ratio is not None and not (self.mix_token_ratio > 0 and math.isfinite(self.mix_token_ratio)):
            raise ValueError(f"rewrite.mix_token_ratio={self.mix_token_ratio}: must be > 0, or None for no cap")
        if self.prompt_file is not None and not Path(self.prompt_file).is_file():
            raise ValueError(f"rewrite.prompt_file={self.prompt_file!r}: no such file")
        if self.enabled and self.refilter_model is None and self.refilter_reference is None:
            raise ValueError("rewrite.refilter_reference: required when rewrite is enabled and no refilter_model is "
                             "given (the re-filter trains on reference positives vs this run's rewrites)")
        for name in ("refilter_model", "refilter_reference"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"rewrite.{name}={path!r}: no such file")

    @property
    def prompt_path(self) -> str:
        """The prompt file in use."""
        if self.prompt_file is not None:
            return self.prompt_file
        return DEFAULT_PROMPT_FILE if self.output == Output.MARKERS else DEFAULT_JSON_PROMPT_FILE

    @property
    def sampling(self) -> dict[str, float | int]:
        """The sampling parameters that enter every request, cache key and row's provenance."""
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens}
