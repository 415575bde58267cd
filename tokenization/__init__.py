"""Tokenization: document batches in, the same batches with token ids out; every scheme decodes back exactly.

In:  a document batch (DESIGN.md schema: id string, text large_string, source string, meta string).
Out: the same rows and columns plus `tokens: large_list<uint16|uint32>` and `n_tokens: int32` (EOS included).
Schemes (TokenizeConfig.scheme): `bytes` (byte v -> 64 + v), `proxy` (zstd/gzip/zlib/deflate views of windows
of W bytes, compressed byte v -> 320 + v, between span sentinels), `bpe` (a `tokenizers` tokenizer.json).
`Tokenizer.spec()` goes to manifest.json["tokenizer"]; `Tokenizer.from_spec` decodes a shard without the recipe.
`train_tokenizer(config, batches)` is `carding train-tokenizer CONFIG`: a byte-level BPE on a seeded sample.
"""
from tokenization.bpe import train_tokenizer
from tokenization.config import BpeTrainConfig, Codec, Layout, Scheme, TokenizeConfig
from tokenization.tokenizer import Tokenizer, summarize_counts

__all__ = ["BpeTrainConfig", "Codec", "Layout", "Scheme", "TokenizeConfig", "Tokenizer", "summarize_counts", "train_tokenizer"]
