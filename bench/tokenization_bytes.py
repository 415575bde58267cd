"""bytes scheme throughput vs a memcpy-class peer (numpy widening of the same bytes, no EOS, no offsets).

`python -m bench.tokenization_bytes [--quick]`. Target (tokenization issue): >= 1 GB/s per core. One core: the
path is numpy + one Arrow kernel, both single-threaded. Also shown, not the peer: a per-document Python loop
(`list(text.encode())`), what a naive byte tokenizer does.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from bench.common import emit, parser, print_environment, print_table, time_it
from bench.tokenization_corpus import corpus, text_mb, timed_pair
from tokenization import TokenizeConfig, Tokenizer
from tokenization.arrow_io import text_buffers


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    print_environment(("numpy", "pyarrow"), seed=args.seed)
    batch = corpus(8 if args.quick else 64)
    texts = batch.column("text")
    mb = text_mb(batch)
    tok = Tokenizer(TokenizeConfig())
    data, offs = text_buffers(texts)

    def peer() -> np.ndarray:
        return np.add(data[offs[0]:offs[-1]], np.uint16(64), dtype=np.uint16)

    def ours() -> pa.LargeListArray:
        return tok.encode(texts)

    def python_loop() -> list[list[int]]:
        return [list(t.encode()) + [2] for t in sample]

    # agreement: ours without the EOS slots equals the peer, and every document decodes back
    got = ours()
    values = got.values.to_numpy()
    keep = np.ones(len(values), bool)
    keep[got.offsets.to_numpy()[1:] - 1] = False
    assert np.array_equal(values[keep], peer()), "bytes scheme disagrees with the widened bytes"
    assert tok.decode(got[0].values.to_numpy()) == texts[0].as_py().encode()
    sample = texts.slice(0, max(1, len(texts) // 20)).to_pylist()
    sample_mb = sum(len(t.encode()) for t in sample) / 1e6

    t_ours, t_peer = timed_pair(("carding bytes scheme", ours), ("numpy widen (memcpy-class)", peer), mb=mb,
                                repeat=args.repeat)
    t_loop, _ = time_it("python loop (5 % of docs)", python_loop, items=sample_mb, item_unit="MB", mb=sample_mb,
                        repeat=1)
    print_table(f"bytes scheme, {batch.num_rows:,} documents, {mb:.1f} MB (MB/s per CPU-second in 'per s'; "
                "the python loop row: wall time)",
                [t_ours, t_peer, t_loop], peer=t_peer)
    emit("tokenization_bytes", metric="bytes_mb_per_s", value=t_ours.per_s, unit="MB/s", peer="numpy widen",
         ratio=t_ours.per_s / t_peer.per_s, python_loop_mb_per_s=round(t_loop.per_s, 1),
         bytes_per_token=round(mb * 1e6 / len(values), 4), docs=batch.num_rows, mb=round(mb, 2))


if __name__ == "__main__":
    main()
