"""All three tokenization benchmarks, ending with the tokenization issue's one JSON line.

`python -m bench.tokenization_all [--quick]` runs bench.tokenization_bytes, _proxy and _bpe (each prints its own
table) and ends with `{"bench": "tokenize", "metric": "bytes_mb_per_s", ..., "proxy_ratio", "bpe_ratio",
"proxy_bytes_per_token"}` (the issue's benchmark contract).
"""
from __future__ import annotations

import json
import subprocess
import sys

from bench.common import emit, parser


def _run(name: str, flags: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-m", f"bench.{name}", *flags], capture_output=True, text=True,
                          check=False)
    print(proc.stdout, end="")
    if proc.returncode != 0:
        raise SystemExit(f"bench.{name} failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    flags = ["--repeat", str(args.repeat), "--seed", str(args.seed)] + (["--quick"] if args.quick else [])
    got = {name: _run(f"tokenization_{name}", flags) for name in ("bytes", "proxy", "bpe")}
    emit("tokenize", metric="bytes_mb_per_s", value=got["bytes"]["value"], unit="MB/s",
         peer=got["bytes"]["peer"], ratio=got["bytes"]["ratio"], proxy_ratio=got["proxy"]["proxy_ratio"],
         bpe_ratio=got["bpe"]["bpe_ratio"], proxy_bytes_per_token=got["proxy"]["proxy_bytes_per_token"],
         proxy_mb_per_s=got["proxy"]["value"], bpe_mb_per_s=got["bpe"]["value"],
         bpe_bytes_per_token=got["bpe"]["bpe_bytes_per_token"])


if __name__ == "__main__":
    main()
