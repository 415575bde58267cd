"""Rewrite client throughput and parse success against a real llama.cpp server (SmolLM2-135M-Instruct, started here).

Throughput: on the same drafts and the same request bodies (paper sampling, per-document seed, the JSON output
schema), carding's ChatClient vs the peer, a bare `openai.AsyncOpenAI` client, at the same concurrency N (and both
at 1). Metric: output tokens/s (sum of usage.completion_tokens / wall s). The two run in alternating order
(peer first in even rounds, carding first in odd ones) and `ratio` is the median of the per-round ratios: on a
shared 2-core machine the load drifts by more than the client's cost, and pairing cancels the drift (spec target
>= 0.9). Measured here: one run of 3 requests takes 1.6-7.5 s for either client (12 alternating rounds: median
3.80 s carding, 3.68 s openai), so a single round's ratio spans 0.26-2.0 and only the median of many means anything. `client_overhead_ratio` is the same comparison in requests/s against an instant loopback server, where
only the clients' own cost counts.
Parse success: the whole Rewriter stage (prompt, client, parse) on the drafts with `output: json_object` (the
server constrains decoding to {"task", "plan", "document"}); outcomes counted by reason. `parse_success` counts
every draft; `parse_success_of_finished` leaves out replies cut by max_tokens (`rewrite.truncated`: a budget
outcome, the model never closed its document). Measured with `--docs 100` (max_tokens 512): 97/100 parsed, the 3
others truncated, 97/97 of the finished replies parsed. With the free-text marker format the tiny model wrote the
markers in 0 of 7 replies (the earlier figure of this bench).
GPU cost: projected H100 GPU-hours per billion kept tokens for a 70B model, from the paper's cost figure (100 B
generated tokens ~ 88 K H100 GPU-hours, REWIRE §2.2) and the measured kept share of generated tokens
(parse success x keep_top_share x the document's share of a parsed reply).

`python -m bench.rewrite [--quick]`; the last line is the JSON line.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from bench.common import Timing, emit, parser, print_environment, print_table
from stages.rewrite.cache import ReplyCache
from stages.rewrite.client import ChatClient
from stages.rewrite.config import Output, RewriteConfig
from stages.rewrite.local_server import SMOLLM2_MODEL, FaultProxy, LlamaServer
from stages.rewrite.parse import Reply
from stages.rewrite.prompt import build_request, load_prompt
from stages.rewrite.rewriter import Rewriter
from stages.schema import REASON

PAPER_GPU_HOURS_PER_GENERATED_TOKEN = 88_000 / 100e9
"""REWIRE §2.2 cost figure: 100 B generated tokens ~ 88 K H100 GPU-hours with Llama-3.3-70B-Instruct."""

TOPICS = ["cooking rice", "fixing a flat bicycle tire", "Python list methods", "photosynthesis", "a trip to Rome",
          "saving money on groceries", "how vaccines work", "learning to juggle", "the water cycle",
          "writing a cover letter", "composting at home", "basic chess openings"]


def drafts(n: int) -> list[tuple[str, str]]:
    """(id, text): short, messy web-like drafts, as the filter's near-misses look."""
    out = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        text = (f"{topic} - ok so {topic} is easy. first step do it. then next step, "
                f"dont forget!! click here for more about {topic}. (part {i})")
        out.append((f"bench{i:03d}", text))
    return out


async def _openai_run(base_url: str, bodies: list[dict[str, Any]], concurrency: int) -> list[Reply]:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=600)
    sem = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> Reply:
        async with sem:
            r = await client.chat.completions.create(**body)
        return Reply(content=r.choices[0].message.content, finish_reason=r.choices[0].finish_reason,
                     completion_tokens=r.usage.completion_tokens if r.usage else None)

    try:
        return list(await asyncio.gather(*(one(b) for b in bodies)))
    finally:
        await client.close()


async def _carding_run(config: RewriteConfig, bodies: list[dict[str, Any]]) -> list[Reply]:
    async with ChatClient(config) as client:
        return await client.complete_many(bodies)


def _tokens(replies: list[Reply]) -> int:
    return sum(r.completion_tokens or 0 for r in replies)


def _paired_rounds(rounds: int, peer: Callable[[], list[Reply]], ours: Callable[[], list[Reply]]
                   ) -> tuple[list[float], list[float], list[Reply], list[Reply]]:
    """Wall seconds of `rounds` runs of each, alternating which goes first; the last replies of each."""
    t_peer: list[float] = []
    t_ours: list[float] = []
    r_peer: list[Reply] = []
    r_ours: list[Reply] = []
    for r in range(rounds):
        order = [("peer", peer), ("ours", ours)] if r % 2 == 0 else [("ours", ours), ("peer", peer)]
        for name, fn in order:
            t0 = time.perf_counter()
            replies = fn()
            (t_peer if name == "peer" else t_ours).append(time.perf_counter() - t0)
            if name == "peer":
                r_peer = replies
            else:
                r_ours = replies
    return t_peer, t_ours, r_peer, r_ours


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=None, help="drafts of the stage run (default 3 quick, 24 full)")
    p.add_argument("--client-docs", type=int, default=None,
                   help="drafts of each client round, the first ones of --docs (default 3 quick, 8 full)")
    p.add_argument("--max-tokens", type=int, default=512,
                   help="max_tokens per reply of the stage run (parse success; a reply cut here is truncated)")
    p.add_argument("--max-plan-chars", type=int, default=200, help="maxLength of the task and plan strings")
    p.add_argument("--throughput-tokens", type=int, default=None,
                   help="max_tokens per reply of the client runs (default 8 quick, 32 full)")
    p.add_argument("--rounds", type=int, default=None, help="paired client rounds (default 10 quick, 16 full)")
    p.add_argument("--concurrency", type=int, default=4, help="N, requests in flight for the concurrent runs")
    args = p.parse_args()
    n_docs = args.docs or (3 if args.quick else 24)
    n_client = min(n_docs, args.client_docs or (3 if args.quick else 8))
    gen_tokens = args.throughput_tokens or (8 if args.quick else 32)
    rounds = args.rounds or (10 if args.quick else 16)
    print_environment(("llama_cpp_python", "openai", "aiohttp", "ray"), seed=args.seed)

    log = Path(tempfile.mkdtemp(prefix="bench-rewrite-")) / "server.log"
    with LlamaServer(n_ctx=2048, log_path=log) as server:
        config = RewriteConfig(base_url=server.base_url, model=SMOLLM2_MODEL, max_tokens=args.max_tokens,
                               max_concurrency=args.concurrency, seed=args.seed, output=Output.JSON_OBJECT,
                               max_plan_chars=args.max_plan_chars)
        template = load_prompt(config.prompt_path)
        docs = drafts(n_docs)
        client_cfg = dataclasses.replace(config, max_tokens=gen_tokens)
        bodies = [build_request(template, client_cfg, i, t) for i, t in docs[:n_client]]
        seq_cfg = dataclasses.replace(client_cfg, max_concurrency=1)

        # One warm-up request (loads weights, fills the server's prompt-prefix cache).
        asyncio.run(_carding_run(seq_cfg, bodies[:1]))
        n = args.concurrency
        t_peer, t_ours, peer_r, ours_r = _paired_rounds(
            rounds, lambda: asyncio.run(_openai_run(server.base_url, bodies, n)),
            lambda: asyncio.run(_carding_run(client_cfg, bodies)))
        seq_bodies = bodies[:2]  # sequential requests: two are enough for the per-request time
        s_peer, s_ours, seq_peer_r, seq_ours_r = _paired_rounds(
            1, lambda: asyncio.run(_openai_run(server.base_url, seq_bodies, 1)),
            lambda: asyncio.run(_carding_run(seq_cfg, seq_bodies)))

        batch = pa.RecordBatch.from_pydict({
            "id": [i for i, _ in docs], "text": pa.array([t for _, t in docs], pa.large_string()),
            "source": ["bench"] * n_docs, "meta": ["{}"] * n_docs, "rewrite_candidate": [True] * n_docs})
        cache_dir = log.parent / "cache"  # the stage's raw replies, read back for the document's share
        stage = Rewriter(dataclasses.replace(config, cache_dir=str(cache_dir)))
        t0 = time.perf_counter()
        out = stage.process(batch)
        stage_s = time.perf_counter() - t0
        stage.close()

    # Client overhead alone: the same two clients against FaultProxy's instant replies (no model), so the server's
    # noise on this shared machine does not hide the client's cost. Requests/s, same bodies, same concurrency.
    n_echo = 100 if args.quick else 400
    echo_bodies = [bodies[i % n_client] for i in range(n_echo)]
    with FaultProxy() as echo:
        echo_cfg = dataclasses.replace(client_cfg, base_url=echo.base_url)
        asyncio.run(_carding_run(echo_cfg, echo_bodies[:8]))  # warm-up: imports, first connections
        asyncio.run(_openai_run(echo.base_url, echo_bodies[:8], n))
        e_peer, e_ours, _, _ = _paired_rounds(max(3, rounds), lambda: asyncio.run(_openai_run(echo.base_url,
                                                                                             echo_bodies, n)),
                                              lambda: asyncio.run(_carding_run(echo_cfg, echo_bodies)))
    echo_ratio = statistics.median(p / o for p, o in zip(e_peer, e_ours))
    echo_timings = [Timing("openai, echo server", statistics.median(e_peer), n_echo, "requests"),
                    Timing("carding client, echo server", statistics.median(e_ours), n_echo, "requests")]
    print_table(f"requests/s against an instant loopback server (client overhead), c={n}", echo_timings,
                peer=echo_timings[0])

    agree = sum(a.content == b.content for a, b in zip(ours_r, peer_r))
    tokens_ours, tokens_peer = _tokens(ours_r), _tokens(peer_r)
    print(f"\noutputs agree (carding vs openai, same bodies and seeds): {agree}/{n_client}; "
          f"tokens {tokens_ours} vs {tokens_peer}")
    # tokens/s per round; the rounds' replies are identical (same seeds), so the ratio is a ratio of wall times
    ratios = [(tokens_ours / o) / (tokens_peer / p) for p, o in zip(t_peer, t_ours)]
    ratio = statistics.median(ratios)
    peer_t = Timing(f"openai c={n}", statistics.median(t_peer), tokens_peer, "tokens")
    ours_t = Timing(f"carding client c={n}", statistics.median(t_ours), tokens_ours, "tokens")
    seq_peer_t = Timing("openai c=1 (sequential)", s_peer[0], _tokens(seq_peer_r), "tokens")
    seq_ours_t = Timing("carding client c=1", s_ours[0], _tokens(seq_ours_r), "tokens")
    metas = [json.loads(m)["rewrite"] for m in out.column("meta").to_pylist()]
    stage_tokens = sum(m["completion_tokens"] or 0 for m in metas)
    stage_t = Timing(f"carding stage c={n}", stage_s, stage_tokens, "tokens")
    print_table(f"output tokens/s, {n_client} drafts, max_tokens={gen_tokens}, {rounds} paired rounds, "
                "SmolLM2-135M-Instruct on llama.cpp", [peer_t, ours_t, seq_peer_t, seq_ours_t], peer=peer_t)
    print(f"per-round ratios carding/openai: {[round(r, 3) for r in ratios]} -> median {ratio:.3f}")
    print(f"stage run (max_tokens={config.max_tokens}, output={config.output}): {stage_tokens} tokens in "
          f"{stage_s:.1f} s = {stage_t.per_s:.1f} tokens/s")

    reasons = out.column(REASON).to_pylist()
    parsed = [i for i, r in enumerate(reasons) if r is None]
    parse_success = len(parsed) / n_docs
    finished = sum(r != "rewrite.truncated" for r in reasons)
    parse_finished = len(parsed) / finished if finished else 0.0
    by_reason: dict[str, int] = {}
    for r in reasons:
        by_reason[r or "parsed"] = by_reason.get(r or "parsed", 0) + 1
    print(f"\nstage outcomes: {by_reason}; parse success {parse_success:.2%} ({len(parsed)}/{n_docs}), "
          f"{parse_finished:.2%} of the replies not cut by max_tokens ({len(parsed)}/{finished})")
    for i in parsed[:2]:
        print(f"  e.g. {out.column('id')[i].as_py()}: {out.column('text')[i].as_py()[:160]!r}")
    # the document's share of a parsed reply, in characters (~ in tokens: same text, same tokenizer)
    doc_chars = sum(len(out.column("text")[i].as_py()) for i in parsed)
    replies = ReplyCache(cache_dir).get_many([metas[i]["key"] for i in parsed])
    reply_chars = sum(len(replies[metas[i]["key"]].content or "") for i in parsed)
    doc_share = doc_chars / reply_chars if reply_chars else 0.0
    kept_share = parse_success * config.keep_top_share * doc_share
    gpu_h = PAPER_GPU_HOURS_PER_GENERATED_TOKEN * 1e9 / kept_share if kept_share > 0 else None
    gpu_h_target = PAPER_GPU_HOURS_PER_GENERATED_TOKEN * 1e9 / (0.99 * config.keep_top_share * 0.5)
    print(f"projected H100 GPU-hours per 1 B kept tokens (70B): kept share of generated tokens {kept_share:.4f} "
          f"(parse {parse_success:.2f} x keep_top_share {config.keep_top_share} x document share {doc_share:.2f}) -> "
          f"{'n/a' if gpu_h is None else f'{gpu_h:,.0f}'}; at the spec's 99 % parse success and a document half of "
          f"the generated tokens -> {gpu_h_target:,.0f}")
    emit("rewrite", metric="output_tokens_per_s", value=round(ours_t.per_s, 4), unit="tokens/s", peer="openai_client",
         ratio=round(ratio, 4), parse_success=round(parse_success, 4),
         parse_success_of_finished=round(parse_finished, 4), parse_outcomes=by_reason,
         output=str(config.output), docs=n_docs, concurrency=n, rounds=rounds,
         ratio_min=round(min(ratios), 4), ratio_max=round(max(ratios), 4),
         docs_per_s=round(n_client / ours_t.seconds, 4),
         speedup_vs_sequential=round(ours_t.per_s / seq_ours_t.per_s, 4),
         stage_tokens_per_s=round(stage_t.per_s, 4), outputs_agree=f"{agree}/{n_client}",
         client_overhead_ratio=round(echo_ratio, 4), kept_share_of_generated=round(kept_share, 4),
         gpu_hours_per_1b_kept_tokens=None if gpu_h is None else round(gpu_h),
         gpu_hours_per_1b_kept_tokens_at_target=round(gpu_h_target))


if __name__ == "__main__":
    main()
