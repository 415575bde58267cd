"""proxy scheme throughput vs zstandard's own one-shot compression of the same windows; bytes per token per
codec, level and window size.

`python -m bench.tokenization_proxy [--quick]`. Peer: `ZstdCompressor.compress(window)` in a loop over the same
windows, pre-cut (the peer does no windowing, no sentinels, no assembly). Target (tokenization issue): ratio
>= 0.8. Both single-threaded, same frame parameters (level 3, checksum on, no content size). Timed with
share 1.0 and fallback_raw off, so both compress every window and the outputs must be equal byte for byte.
"""
from __future__ import annotations

import time

import numpy as np
import pyarrow as pa

from bench.common import emit, parser, print_environment, print_table
from bench.tokenization_corpus import corpus, text_mb, timed_pair
from tokenization import Codec, TokenizeConfig, Tokenizer, summarize_counts
from tokenization.arrow_io import text_buffers

GRID = [("zstd", 3), ("zstd", 19), ("gzip", 9), ("zlib", 6), ("deflate", 9)]
WINDOWS = [256, 1024, 4096, 16384, None]


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    print_environment(("zstandard", "numpy", "pyarrow"), seed=args.seed)
    batch = corpus(8 if args.quick else 32)
    mb = text_mb(batch)
    window = 4096
    tok = Tokenizer(TokenizeConfig(scheme="proxy", share=1.0, window_bytes=window, fallback_raw=False,
                                   seed=args.seed))
    scheme = tok._scheme  # the same compressor object and parameters for the peer
    data, offs = text_buffers(batch.column("text"))
    view = memoryview(data)
    windows = [view[a:min(a + window, end)] for start, end in zip(offs[:-1].tolist(), offs[1:].tolist())
               for a in range(start, end, window)]

    def peer() -> list[bytes]:
        compress = scheme._zstd.compress
        return [compress(w) for w in windows]

    def ours() -> pa.RecordBatch:
        return tok.process(batch)

    out = ours()
    flat = out.column("tokens").values.to_numpy()
    payload = (flat[flat >= 320] - 320).astype(np.uint8).tobytes()
    assert payload == b"".join(peer()), "proxy frames differ from zstandard's one-shot frames"

    t_ours, t_peer = timed_pair(("carding proxy (zstd 3, W 4096)", ours), ("zstandard one-shot loop", peer),
                                mb=mb, repeat=args.repeat)
    print_table(f"proxy scheme, {batch.num_rows:,} documents, {len(windows):,} windows, {mb:.1f} MB "
                "(MB/s per CPU-second in 'per s')", [t_ours, t_peer], peer=t_peer)

    # bytes per token of the compressed view (sentinels and EOS included), per codec x level x window
    sample = corpus(1 if args.quick else 8)
    sample_mb = text_mb(sample)
    print(f"\nbytes per token of the compressed view, {sample.num_rows:,} documents, {sample_mb:.1f} MB "
          "(share 1.0, fallback_raw on; raw bytes scheme = 1.0 before EOS)")
    print(f"{'codec':<10} {'level':>5} " + " ".join(f"{'W=' + str(w):>9}" for w in WINDOWS) + f" {'MB/cpu-s W4096':>15}")
    figures: dict[str, float] = {}
    for codec, level in GRID:
        row = []
        speed = float("nan")
        for w in WINDOWS:
            t = Tokenizer(TokenizeConfig(scheme="proxy", codec=Codec(codec), level=level, window_bytes=w,
                                         share=1.0, seed=args.seed))
            t0 = time.process_time()
            processed = t.process(sample)
            if w == 4096:
                speed = sample_mb / (time.process_time() - t0)
            stats = summarize_counts(t.counts(processed))
            figures[f"{codec}{level}/W{w}"] = stats["comp_view_bytes_per_token"]
            row.append(stats["comp_view_bytes_per_token"])
        print(f"{codec:<10} {level:>5} " + " ".join(f"{v:>9.3f}" for v in row) + f" {speed:>15.1f}")

    emit("tokenization_proxy", metric="proxy_mb_per_s", value=t_ours.per_s, unit="MB/s",
         peer="zstandard ZstdCompressor.compress per window", ratio=t_ours.per_s / t_peer.per_s,
         proxy_ratio=round(t_ours.per_s / t_peer.per_s, 4),
         proxy_bytes_per_token=figures["zstd3/W4096"], bytes_per_token=figures, windows=len(windows),
         mb=round(mb, 2))


if __name__ == "__main__":
    main()
