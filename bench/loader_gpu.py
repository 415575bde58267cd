"""The loader feeding a real training step: a small bf16 causal transformer on carding shards, document-masked.

`python -m bench.loader_gpu --shards OUT` (OUT from `carding run`; `--synthetic` makes seeded shards instead) trains
for `--steps` steps on one GPU and reports the loss curve, the loader's tokens/s per process, the GPU step's
tokens/s and the share of step wall time spent waiting for data (goal: < 2 %, shards/loader issue).

Attention never crosses documents: `varlen` calls `torch.nn.attention.varlen.varlen_attn` with the loader's
`cu_seqlens` and `max_seqlen` (flat [1, T] layout, no padding); `flex` builds a FlexAttention block mask from a
per-token document id (causal and same document), with the batch padded to a fixed T so the compiled kernel
is built once (varying T recompiles, spec Traps); `dense` (CPU, tests) is SDPA with the same boolean mask.
RoPE takes the loader's `position_ids`, which restart at every document.

Timing: `next(loader)` is the data wait; each step ends with `loss.item()` (a sync), so step wall = wait + H2D +
forward/backward/optimizer. The first `--warmup` steps (compilation) are left out of every figure. The peer is the
same model fed by a naive per-row Python loader in the training process (same rows, same order), for
`--peer-steps` steps: ratio = our data-wait share / the peer's.

Measured 2026-11-22 on one H100 80GB (torch 2.11, 16 cores), `carding run configs/sample.yaml` shards (1032 rows,
2.1 M byte tokens, L = 2048), 12.7 M-parameter model (4 layers, d = 512), 16 rows = 32 Ki tokens per step, 2
workers: varlen attention, 300 steps: loss 3.87 -> 1.83 (mean of the first / last 10 steps), data wait 1.28 %
(naive loader 39.1 %), 1.04 M GPU tokens/s, loader alone 98 M tokens/s per process; flex attention, 200 steps:
wait 0.89 %, 0.82 M GPU tokens/s, loss 3.87 -> 2.04.
"""
from __future__ import annotations

import argparse
import inspect
import math
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.common import emit, print_environment
from bench.loader import naive_batches
from packing.loader import IGNORE_INDEX, LoaderConfig, ShardLoader, synthetic_sequences, to_device
from pipelines.manifest import load_manifest, write_manifest
from pipelines.shards import ShardConfig, write_shards


# ---------------------------------------------------------------- model
def _doc_ids(cu_seqlens: torch.Tensor, total: int) -> torch.Tensor:
    """Per-token document index from cu_seqlens: (T,) int32. [0, 3, 7] -> [0, 0, 0, 1, 1, 1, 1]."""
    lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).long()
    return torch.repeat_interleave(torch.arange(len(lengths), device=cu_seqlens.device, dtype=torch.int32), lengths,
                                   output_size=total)


class _Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, backend: str) -> None:
        super().__init__()
        self.n_heads, self.head_dim, self.backend = n_heads, d_model // n_heads, backend
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], ctx: dict[str, Any]) -> torch.Tensor:
        T = x.shape[0]
        q, k, v = self.qkv(x).view(T, 3, self.n_heads, self.head_dim).unbind(1)  # (T, H, D) each
        q, k = _apply_rope(q, *rope), _apply_rope(k, *rope)
        if self.backend == "varlen":
            y = ctx["varlen"](q, k, v, ctx["cu_seqlens"], ctx["cu_seqlens"], ctx["max_seqlen"], ctx["max_seqlen"],
                              **ctx["varlen_causal"])
        elif self.backend == "flex":
            y = ctx["flex"](q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None],
                            block_mask=ctx["block_mask"])[0].transpose(0, 1)
        else:
            y = F.scaled_dot_product_attention(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1),
                                               attn_mask=ctx["dense_mask"]).transpose(0, 1)
        return self.out(y.reshape(T, -1))


def _rope_tables(position_ids: torch.Tensor, head_dim: int, base: float = 10_000.0) -> tuple[torch.Tensor, torch.Tensor]:
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=position_ids.device, dtype=torch.float32) / head_dim))
    angles = position_ids.float()[:, None] * inv[None, :]  # (T, D/2)
    return angles.cos()[:, None, :], angles.sin()[:, None, :]


def _apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)


class _Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, backend: str) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.RMSNorm(d_model), nn.RMSNorm(d_model)
        self.attn = _Attention(d_model, n_heads, backend)
        self.up = nn.Linear(d_model, 8 * d_model // 3 * 2, bias=False)
        self.down = nn.Linear(8 * d_model // 3, d_model, bias=False)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], ctx: dict[str, Any]) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), rope, ctx)
        gate, up = self.up(self.norm2(x)).chunk(2, dim=-1)
        return x + self.down(F.silu(gate) * up)


class TinyLM(nn.Module):
    """A small pre-norm causal transformer (RoPE, SwiGLU, tied embeddings) over one flat [T] token stream."""

    def __init__(self, vocab_size: int, d_model: int, n_layers: int, n_heads: int, backend: str) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.embed.weight, std=0.02)  # tied head: unit-variance rows would start at loss ~30
        self.blocks = nn.ModuleList(_Block(d_model, n_heads, backend) for _ in range(n_layers))
        self.norm = nn.RMSNorm(d_model)
        self.head_dim = d_model // n_heads

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, ctx: dict[str, Any]) -> torch.Tensor:
        x = self.embed(input_ids)
        rope = _rope_tables(position_ids, self.head_dim)
        for block in self.blocks:
            x = block(x, rope, ctx)
        return self.norm(x) @ self.embed.weight.T


# ---------------------------------------------------------------- batches
def _pad_flat(batch: dict[str, Any], total: int) -> dict[str, Any]:
    """Pad a flat batch to `total` tokens with one masked segment (fixed shapes for the compiled flex kernel)."""
    n = batch["input_ids"].shape[1]
    if n > total:
        raise ValueError(f"batch of {n} tokens exceeds the fixed width {total}")
    if n == total:
        return batch
    pad = total - n
    ids = torch.cat([batch["input_ids"], torch.zeros(1, pad, dtype=torch.int64)], dim=1)
    labels = torch.cat([batch["labels"], torch.full((1, pad), IGNORE_INDEX, dtype=torch.int64)], dim=1)
    pos = torch.cat([batch["position_ids"], torch.arange(pad, dtype=torch.int64)[None]], dim=1)
    cu = torch.cat([batch["cu_seqlens"], torch.tensor([total], dtype=torch.int32)])
    return {**batch, "input_ids": ids, "labels": labels, "position_ids": pos, "cu_seqlens": cu,
            "max_seqlen": max(batch["max_seqlen"], pad)}


def _forever(make: Any) -> Iterator[dict[str, Any]]:
    """Epoch after epoch from `make(epoch)`."""
    epoch = 0
    while True:
        yield from make(epoch)
        epoch += 1


# ---------------------------------------------------------------- training
def _context(batch: dict[str, Any], backend: str, attn: dict[str, Any], device: torch.device) -> dict[str, Any]:
    ctx = dict(attn)
    T = batch["input_ids"].shape[1]
    cu = batch["cu_seqlens"]
    if backend == "varlen":
        ctx.update(cu_seqlens=cu, max_seqlen=batch["max_seqlen"])
    elif backend == "flex":
        docs = _doc_ids(cu, T)

        def document_causal(b, h, q_idx, kv_idx):
            return (q_idx >= kv_idx) & (docs[q_idx] == docs[kv_idx])
        ctx["block_mask"] = attn["create_block_mask"](document_causal, B=None, H=None, Q_LEN=T, KV_LEN=T,
                                                      device=device, **attn["mask_kwargs"])
    else:
        docs = _doc_ids(cu, T)
        causal = torch.ones(T, T, dtype=torch.bool, device=device).tril()
        ctx["dense_mask"] = causal & (docs[:, None] == docs[None, :])
    return ctx


def _attention_kit(backend: str) -> dict[str, Any]:
    if backend == "varlen":
        from torch.nn.attention.varlen import varlen_attn

        params = inspect.signature(varlen_attn).parameters  # the causal flag changed between releases (spec Traps)
        causal = {"is_causal": True} if "is_causal" in params else {"window_size": (-1, 0)}
        return {"varlen": varlen_attn, "varlen_causal": causal}
    if backend == "flex":
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        # _compile builds the block mask without materialising the T x T mask (1 GiB at T = 32 Ki); torch 2.11
        # calls the flag deprecated but still honours it, and the suggested torch.compile(create_block_mask) would
        # retrace for each batch's document-id tensor
        kwargs = {"_compile": True} if "_compile" in inspect.signature(create_block_mask).parameters else {}
        warnings.filterwarnings("ignore", message="_compile flag on create_block_mask", category=DeprecationWarning)
        return {"flex": torch.compile(flex_attention, dynamic=False), "create_block_mask": create_block_mask,
                "mask_kwargs": kwargs}
    return {}


def train(batches: Iterator[dict[str, Any]], model: nn.Module, steps: int, *, backend: str, device: torch.device,
          fixed_tokens: int | None, warmup: int, lr: float, label: str, log_every: int) -> dict[str, Any]:
    """Run `steps` optimizer steps; return losses and timing (data wait vs step wall) after `warmup` steps."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1, fused=device.type == "cuda")
    attn = _attention_kit(backend)
    # bf16 autocast on the GPU; on CPU (the tests) bf16 matmuls are emulated and slow, so fp32 there
    amp = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    losses, waits, walls, tokens = [], [], [], []
    for step in range(steps):
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        n_tokens = batch["input_ids"].shape[1]  # real tokens, before any fixed-width padding
        if fixed_tokens is not None:
            batch = _pad_flat(batch, fixed_tokens)
        batch = to_device(batch, device)
        ctx = _context(batch, backend, attn, device)
        lr_now = lr * min(1.0, (step + 1) / max(1, warmup)) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for group in opt.param_groups:
            group["lr"] = lr_now
        with amp:
            logits = model(batch["input_ids"][0], batch["position_ids"][0], ctx)
        loss = F.cross_entropy(logits.float()[:-1], batch["labels"][0][1:], ignore_index=IGNORE_INDEX)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())  # sync: the step's GPU work is done when this returns
        t2 = time.perf_counter()
        if step >= warmup:
            waits.append(t1 - t0)
            walls.append(t2 - t0)
            tokens.append(n_tokens)
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"  [{label}] step {step:4d}  loss {losses[-1]:.4f}  wait {1e3 * (t1 - t0):7.2f} ms  "
                  f"step {1e3 * (t2 - t0):7.2f} ms", flush=True)
    wall, wait = sum(walls), sum(waits)
    return {"losses": losses, "wait_s": wait, "wall_s": wall, "tokens": sum(tokens),
            "data_wait_pct": 100.0 * wait / wall if wall else 0.0,
            "gpu_tokens_per_s": sum(tokens) / (wall - wait) if wall > wait else 0.0,
            "tokens_per_s": sum(tokens) / wall if wall else 0.0}


def _loader_tokens_per_s(out: Path, config: LoaderConfig, n_batches: int) -> float:
    """The loader alone, in this process (no workers, no GPU): tokens/s per process."""
    loader = iter(ShardLoader(out, config, num_workers=0, pin_memory=False, infinite=True))
    next(loader)
    t0, tokens = time.perf_counter(), 0
    for _ in range(n_batches):
        tokens += next(loader)["input_ids"].shape[1]
    return tokens / (time.perf_counter() - t0)


def _vocab_size(out: Path) -> int:
    manifest = load_manifest(out)
    spec = manifest.get("tokenizer") or {}
    for key in ("vocab_size", "n_vocab"):
        if isinstance(spec.get(key), int):
            return spec[key]
    top = 0
    for e in manifest["shards"]:
        if e["format"] == "parquet":
            col = pq.read_table(out / e["path"], columns=["input_ids"]).column("input_ids")
            top = max(top, int(pc.max(pc.list_flatten(col)).as_py() or 0))
    return top + 1


def _synthetic_shards(out: Path, rows: int, max_tokens: int, vocab: int, seed: int) -> None:
    """Seeded rows with a learnable signal: each document repeats a short random motif (the loss can fall)."""
    table = synthetic_sequences(rows, max_tokens, seed=seed, vocab_size=vocab)
    ids = table.column("input_ids").combine_chunks()
    values = ids.values.to_numpy().copy()
    values[:] = values[np.arange(len(values)) // 8 * 8]  # runs of 8 equal tokens: predictable after the first
    table = table.set_column(0, "input_ids", pa.ListArray.from_arrays(ids.offsets, pa.array(values)))
    entries = write_shards(table, out, "w00000", ShardConfig(shard_target_mb=1.0))
    write_manifest(out, {"row_tokens": max_tokens, "tokenizer": {"vocab_size": vocab}, "counts": {},
                         "shards": entries})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shards", type=Path, help="an output folder of `carding run`")
    p.add_argument("--synthetic", action="store_true", help="train on seeded shards made here instead")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=10, help="steps left out of the timing (compilation, lr warm-up)")
    p.add_argument("--rows-per-step", type=int, default=16)
    p.add_argument("--d-model", type=int, default=512)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--attention", choices=["auto", "varlen", "flex", "dense"], default="auto",
                   help="auto: varlen on CUDA if it runs, else flex; dense on CPU")
    p.add_argument("--num-workers", type=int, default=2)
    p.add_argument("--peer-steps", type=int, default=40, help="steps fed by the naive loader (0: no peer)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--synthetic-rows", type=int, default=2048)
    p.add_argument("--synthetic-tokens", type=int, default=2048, help="L of the synthetic rows")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--loader-batches", type=int, default=200, help="batches timed for the loader-alone figure")
    args = p.parse_args(argv)
    if (args.shards is None) == (not args.synthetic):
        p.error("give exactly one of --shards OUT or --synthetic")
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    print_environment(("torch", "pyarrow", "numpy"), seed=args.seed)
    if device.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(device)}")
    with tempfile.TemporaryDirectory(prefix="loader-gpu-") as tmp:
        out = args.shards
        if out is None:
            out = Path(tmp)
            _synthetic_shards(out, args.synthetic_rows, args.synthetic_tokens, 512, args.seed)
        return _run(args, out, device)


def _pick_backend(args: argparse.Namespace, device: torch.device) -> str:
    if args.attention != "auto":
        return args.attention
    if device.type != "cuda":
        return "dense"
    try:  # varlen needs a recent torch and a flash kernel for this GPU; try one tiny call
        kit = _attention_kit("varlen")
        q = torch.randn(16, 2, 64, device=device, dtype=torch.bfloat16)
        cu = torch.tensor([0, 5, 16], device=device, dtype=torch.int32)
        kit["varlen"](q, q, q, cu, cu, 11, 11, **kit["varlen_causal"])
        return "varlen"
    except (ImportError, RuntimeError, TypeError, NotImplementedError) as e:
        print(f"varlen attention unavailable ({type(e).__name__}: {str(e)[:120]}); using flex")
        return "flex"


def _run(args: argparse.Namespace, out: Path, device: torch.device) -> dict[str, Any]:
    manifest = load_manifest(out)
    vocab = _vocab_size(out)
    L = manifest.get("row_tokens") if isinstance(manifest.get("row_tokens"), int) else None
    config = LoaderConfig(rows_per_rank=args.rows_per_step, seed=args.seed, shuffle_block_rows=4096)
    backend = _pick_backend(args, device)
    probe = ShardLoader(out, config, num_workers=0, pin_memory=False)
    if L is None:
        L = max(int(b["max_seqlen"]) for b in [next(iter(probe))])
    fixed = args.rows_per_step * L if backend == "flex" else None
    rows, tokens = probe.dataset.n_rows, probe.dataset._source_here().n_tokens
    print(f"shards: {out} ({rows} rows, {tokens:,} tokens, L={L}, vocab {vocab}); attention: {backend}; "
          f"{args.rows_per_step} rows/step, {len(probe)} steps/epoch, {args.num_workers} loader workers")
    loader_tps = _loader_tokens_per_s(out, config, n_batches=args.loader_batches)
    print(f"loader alone: {loader_tps / 1e6:.1f} M tokens/s per process")

    def model() -> nn.Module:
        torch.manual_seed(args.seed)
        m = TinyLM(vocab, args.d_model, args.layers, args.heads, backend).to(device)
        print(f"model: {sum(p.numel() for p in m.parameters()) / 1e6:.1f} M parameters, "
              f"{'bf16 autocast' if device.type == 'cuda' else 'fp32 (CPU)'}, "
              f"{args.layers} layers, d={args.d_model}")
        return m

    feeder = ShardLoader(out, config, num_workers=args.num_workers, infinite=True, prefetch_factor=4)
    ours = train(iter(feeder), model(), args.steps,
                 backend=backend, device=device, fixed_tokens=fixed, warmup=min(args.warmup, args.steps - 1),
                 lr=args.lr, label="carding loader", log_every=args.log_every)
    peer = None
    if args.peer_steps:
        peer = train(_forever(lambda e: naive_batches(out, config, e)), model(), args.peer_steps, backend=backend,
                     device=device, fixed_tokens=fixed, warmup=min(args.warmup, args.peer_steps - 1), lr=args.lr,
                     label="naive loader", log_every=0)
    losses = ours["losses"]
    k = max(1, min(10, len(losses) // 10))
    loss_first, loss_last = statistics.fmean(losses[:k]), statistics.fmean(losses[-k:])
    print("\nloss curve (mean over windows of steps):")
    window = max(1, len(losses) // 10)
    for s in range(0, len(losses), window):
        print(f"  steps {s:4d}-{min(len(losses), s + window) - 1:4d}: {statistics.fmean(losses[s:s + window]):.4f}")
    print(f"\n{'feeder':<16} {'steps':>6} {'tokens/s (wall)':>16} {'GPU tokens/s':>14} {'data wait %':>12}")
    for name, r, n in (("carding loader", ours, args.steps), ("naive loader", peer, args.peer_steps)):
        if r is not None:
            print(f"{name:<16} {n:>6} {r['tokens_per_s']:>16,.0f} {r['gpu_tokens_per_s']:>14,.0f} "
                  f"{r['data_wait_pct']:>12.3f}")
    ratio = ours["data_wait_pct"] / peer["data_wait_pct"] if peer and peer["data_wait_pct"] else 0.0
    result = {"data_wait_pct": ours["data_wait_pct"], "loss_first": loss_first, "loss_last": loss_last,
              "loader_tokens_per_s": loader_tps, "gpu_tokens_per_s": ours["gpu_tokens_per_s"],
              "tokens_per_s": ours["tokens_per_s"], "peer_data_wait_pct": peer["data_wait_pct"] if peer else None,
              "attention": backend, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "steps": args.steps}
    emit("loader_gpu", metric="data_wait_pct", value=ours["data_wait_pct"], unit="%", peer="naive per-row loader",
         ratio=ratio, loss_first=round(loss_first, 4), loss_last=round(loss_last, 4),
         loader_tokens_per_s=round(loader_tps, 1), gpu_tokens_per_s=round(ours["gpu_tokens_per_s"], 1),
         tokens_per_s=round(ours["tokens_per_s"], 1),
         peer_data_wait_pct=None if peer is None else round(peer["data_wait_pct"], 4), attention=backend,
         device=result["device"], steps=args.steps)
    return result


if __name__ == "__main__":
    main()
