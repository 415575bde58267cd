"""bpe scheme throughput vs calling `tokenizers` directly on the same column, with the same model.

`python -m bench.tokenization_bpe [--quick] [--threads N]`. Peer: Arrow column -> list[str] ->
`encode_batch_fast(add_special_tokens=False)` -> one id list per document (what a caller of `tokenizers` gets).
Ours adds EOS, flattens into one numpy buffer and builds the large_list column. Target (tokenization issue):
ratio >= 0.9. The model is a byte-level BPE that `train_tokenizer` trains on the bundled sample first.
RAYON_NUM_THREADS = --threads (default 1: MB/s per core).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench.common import emit, parser, print_environment, print_table
from bench.tokenization_corpus import corpus, text_mb, timed_pair


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="RAYON_NUM_THREADS for tokenizers (ours and peer)")
    args = p.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # before the tokenizers pool starts
    from tokenizers import Tokenizer as HfTokenizer

    from tokenization import BpeTrainConfig, TokenizeConfig, Tokenizer, train_tokenizer

    print_environment(("tokenizers", "numpy", "pyarrow"), seed=args.seed)
    vocab = 4096 if args.quick else 32_768
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "tokenizer.json")
        t0 = time.perf_counter()
        train_tokenizer(TokenizeConfig(scheme="bpe", bpe_path=path, train=BpeTrainConfig(
            vocab_size=vocab, sample_docs=2_000 if args.quick else 20_000, seed=args.seed)),
            [corpus(2 if args.quick else 8)])
        print(f"trained a {vocab}-id byte-level BPE in {time.perf_counter() - t0:.1f} s")
        tok = Tokenizer(TokenizeConfig(scheme="bpe", bpe_path=path))
        hf = HfTokenizer.from_file(path)
        hf.encode_special_tokens = True

    batch = corpus(0.5 if args.quick else 8)
    texts = batch.column("text")
    mb = text_mb(batch)

    def peer() -> list[list[int]]:
        return [e.ids for e in hf.encode_batch_fast(texts.to_pylist(), add_special_tokens=False)]

    def peer_offsets() -> list[list[int]]:
        return [e.ids for e in hf.encode_batch(texts.to_pylist(), add_special_tokens=False)]

    def ours() -> pa.LargeListArray:
        return tok.encode(texts)

    got = ours()
    offs = got.offsets.to_numpy()
    flat = got.values.to_numpy()
    ref = peer()
    keep = np.ones(len(flat), bool)
    keep[offs[1:] - 1] = False
    assert np.array_equal(flat[keep], np.fromiter((i for ids in ref for i in ids), np.int64)), "ids differ"
    assert (flat[offs[1:] - 1] == tok.eos_id).all()

    t_ours, t_peer = timed_pair(("carding bpe scheme", ours), ("tokenizers encode_batch_fast", peer), mb=mb,
                                repeat=args.repeat)
    t_off, _ = timed_pair(("tokenizers encode_batch", peer_offsets), ("tokenizers encode_batch_fast", peer), mb=mb,
                          repeat=1)
    print_table(f"bpe scheme, vocab {tok.vocab_size}, {batch.num_rows:,} documents, {mb:.1f} MB, "
                f"{args.threads} thread(s) (MB/s per CPU-second in 'per s')", [t_ours, t_peer, t_off], peer=t_peer)
    bytes_per_token = mb * 1e6 / len(flat)
    print(f"bytes per token (EOS included): {bytes_per_token:.3f}; dtype {tok.token_dtype}")
    emit("tokenization_bpe", metric="bpe_mb_per_s", value=t_ours.per_s, unit="MB/s",
         peer="tokenizers encode_batch_fast", ratio=t_ours.per_s / t_peer.per_s,
         bpe_ratio=round(t_ours.per_s / t_peer.per_s, 4), bpe_bytes_per_token=round(bytes_per_token, 4),
         vocab_size=tok.vocab_size, threads=args.threads, mb=round(mb, 2))


if __name__ == "__main__":
    main()
