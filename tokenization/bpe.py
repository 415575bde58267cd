"""bpe scheme: a `tokenizers` model (tokenizer.json) encodes whole batches; `train_tokenizer` builds a byte-level one.

Trade-off: `tokenizers` hands back one Encoding per document, so one Python list of ids per document is
unavoidable; everything after it (flattening, EOS, offsets) is one C-level chain into numpy. Encoding uses
`encode_batch_fast` (no offsets; ~16 % faster, tokenizers PR #1587) with `encode_special_tokens = True`, so a page
containing the text `<|eos|>` is tokenized as text and never becomes the EOS id (tokenizers 0.23 matches special
strings even with add_special_tokens=False).

Decode is exact for byte-level models: every id maps to its bytes through the ByteLevel alphabet, gathered by one
Arrow `take`, so a window ending inside a UTF-8 character still gives the exact bytes. Other models (a normaliser,
SentencePiece's `▁`) go through `Tokenizer.decode` and may be lossy: a round trip on a fixed sample at load sets
`lossless` in the spec.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from itertools import chain
from pathlib import Path

import numpy as np
import pyarrow as pa
from tokenizers import Tokenizer as HfTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from stages.schema import stable_hash
from tokenization.arrow_io import text_buffers
from tokenization.config import MARKER_COUNT, BpeTrainConfig, TokenizeConfig

LOSSLESS_PROBES = ["", "plain ascii", "  leading and trailing  ", "😀🇫🇷👩‍👩‍👧", "漢字かな交じり文", "e\u0301\u0327",
                   "line\r\nnext\rx\n\n\t", "nul\x00byte", "<|eos|><|pad|> <|marker_0|>", "\U0010ffff", "ﬁ ① Å"]
"""Texts a tokenizer.json must round-trip exactly to be called lossless in the spec."""


def _byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's bytes_to_unicode: ByteLevel alphabet character -> byte value."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def _nodes(node: dict | None) -> list[dict]:
    """The components of a normalizer / pre_tokenizer / decoder entry, Sequences flattened."""
    if not node:
        return []
    if node.get("type") == "Sequence":
        inner = node.get("pretokenizers") or node.get("decoders") or node.get("normalizers") or []
        return list(chain.from_iterable(_nodes(n) for n in inner))
    return [node]


def _is_byte_level(model_json: dict) -> bool:
    """True when text reaches the model only through ByteLevel pieces and the decoder undoes exactly that."""
    pre = _nodes(model_json.get("pre_tokenizer"))
    dec = [n.get("type") for n in _nodes(model_json.get("decoder"))]
    byte_level = [n for n in pre if n.get("type") == "ByteLevel"]
    return (not _nodes(model_json.get("normalizer")) and bool(byte_level) and dec == ["ByteLevel"]
            and not any(n.get("add_prefix_space") for n in byte_level))


class BpeScheme:
    """The bpe scheme behind `Tokenizer`; ids are uint16 when the vocabulary has at most 65 536 ids."""

    def __init__(self, config: TokenizeConfig) -> None:
        self.config = config
        path = Path(config.bpe_path or "")
        if not path.is_file():
            raise ValueError(f"tokenize.bpe_path={config.bpe_path}: no such file (run `carding train-tokenizer "
                             "CONFIG` first)")
        raw = path.read_bytes()
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self.tok = HfTokenizer.from_str(raw.decode("utf-8"))
        self.tok.encode_special_tokens = True
        self.vocab_size = self.tok.get_vocab_size(with_added_tokens=True)
        self.special_ids: dict[str, int] = {}
        for name, token in (("pad", config.bpe_pad_token), ("bos", config.bpe_bos_token),
                            ("eos", config.bpe_eos_token)):
            tid = self.tok.token_to_id(token) if token is not None else None
            if tid is not None:
                self.special_ids[name] = tid
            elif token is not None and (name != "eos" or config.append_eos):
                raise ValueError(f"tokenize.bpe_{name}_token={token!r}: not in {path} (set it to the model's "
                                 f"{name} token{', or null' if name != 'eos' else ''})")
        markers = [self.tok.token_to_id(f"<|marker_{i}|>") for i in range(MARKER_COUNT)]
        self.marker_ids = tuple(m for m in markers if m is not None)
        model_json = json.loads(raw)
        self.byte_level = _is_byte_level(model_json)
        self._drop = np.zeros(self.vocab_size, bool)
        self._drop[list(self.special_ids.values()) + list(self.marker_ids)] = True
        self._table = self._byte_table() if self.byte_level else None
        self.lossless = all(self.decode(self._encode_list([t])[1], None) == t.encode() for t in LOSSLESS_PROBES)

    def _byte_table(self) -> pa.LargeBinaryArray:
        """(vocab_size,) large_binary: the bytes of each id; empty for pad/bos/eos/markers."""
        dec = _byte_decoder()
        added = {t.content for t in self.tok.get_added_tokens_decoder().values()}
        pieces = []
        for tid in range(self.vocab_size):
            token = self.tok.id_to_token(tid)
            if token is None or self._drop[tid]:
                pieces.append(b"")
            elif token in added:
                pieces.append(token.encode("utf-8"))
            else:
                pieces.append(bytes(dec[c] for c in token))
        return pa.array(pieces, pa.large_binary())

    def _encode_list(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encodings = self.tok.encode_batch_fast(texts, add_special_tokens=False)
        ids = [e.ids for e in encodings]
        eos = self.special_ids.get("eos") if self.config.append_eos else None
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids)) + (eos is not None)
        offsets = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat_ids = chain.from_iterable(chain.from_iterable((i, (eos,)) for i in ids)) if eos is not None \
            else chain.from_iterable(ids)
        values = np.fromiter(flat_ids, dtype=np.uint32, count=int(offsets[-1]))
        return offsets, values

    def encode(self, texts: pa.Array, doc_ids: pa.Array | None, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        if pa.types.is_binary(texts.type) or pa.types.is_large_binary(texts.type):
            try:
                texts = texts.cast(pa.large_string())
            except pa.ArrowInvalid as err:
                raise ValueError(f"bpe needs UTF-8 text; the reader quarantines invalid UTF-8 ({err})") from None
        try:
            pylist = texts.to_pylist()
        except UnicodeDecodeError as err:
            raise ValueError(f"bpe needs UTF-8 text; the reader quarantines invalid UTF-8 ({err})") from None
        offsets, values = self._encode_list(pylist)
        return offsets, values.astype(dtype, copy=False)

    def decode(self, ids: np.ndarray, doc: str | None) -> bytes:
        ids = np.asarray(ids).astype(np.int64, copy=False)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            bad = int(np.flatnonzero((ids < 0) | (ids >= self.vocab_size))[0])
            where = f"document {doc}: " if doc is not None else ""
            raise ValueError(f"{where}token {bad}: id {int(ids[bad])} is outside the vocabulary "
                             f"(0..{self.vocab_size - 1})")
        if self._table is not None:
            data, offs = text_buffers(self._table.take(pa.array(ids)))
            return data[offs[0]:offs[-1]].tobytes()
        return self.tok.decode(ids[~self._drop[ids]].tolist(), skip_special_tokens=False).encode("utf-8")

    def spec(self) -> dict:
        return {"path": str(self.config.bpe_path), "sha256": self.sha256, "byte_level": self.byte_level,
                "lossless": self.lossless, "tokenizers": _version()}


def _version() -> str:
    import tokenizers
    return tokenizers.__version__


def _sample(batches: Iterable[pa.RecordBatch | pa.Table], k: int, seed: int) -> list[str]:
    """The k documents with the smallest stable_hash(id, seed), in hash order: independent of batching and order.

    A running bottom-k: each batch only adds its rows below the current k-th hash, so memory stays ~k texts.
    """
    keep_hash = np.zeros(0, np.uint64)
    keep_text: list[str] = []
    for batch in batches:
        h = stable_hash(batch.column("id"), seed)
        if len(keep_hash) >= k:
            cand = np.flatnonzero(h < keep_hash.max())
        else:
            cand = np.arange(len(h))
        if len(cand) == 0:
            continue
        texts = batch.column("text").take(pa.array(cand)).to_pylist()
        keep_hash = np.concatenate([keep_hash, h[cand]])
        keep_text = keep_text + texts
        if len(keep_hash) > k:
            top = np.argsort(keep_hash, kind="stable")[:k]
            keep_hash = keep_hash[top]
            keep_text = [keep_text[i] for i in top]
    order = np.argsort(keep_hash, kind="stable")
    return [keep_text[i] for i in order if keep_text[i] is not None]


def train_tokenizer(config: TokenizeConfig, batches: Iterable[pa.RecordBatch | pa.Table],
                    output: str | Path | None = None) -> Path:
    """Train a byte-level BPE on a seeded sample of `batches` (document schema: id, text) and write tokenizer.json.

    Writes to `output`, else to `config.bpe_path`; settings from `config.train` (defaults when None). Model:
    `models.BPE`, `ByteLevel(add_prefix_space=False)` pre-tokenizer and decoder, no normaliser,
    `BpeTrainer(vocab_size, special_tokens, initial_alphabet=ByteLevel.alphabet())` (spec/tokenization.md).
    Special tokens get ids 0..k-1 in `special_tokens` order. The file is written atomically. The sample is
    the `sample_docs` ids with the smallest stable hash, so the result does not depend on batching or order.
    Set RAYON_NUM_THREADS to bound the trainer's threads.
    """
    target = output if output is not None else config.bpe_path
    if target is None:
        raise ValueError("train-tokenizer: no output path (pass --output, or set tokenize.bpe_path)")
    train = config.train if config.train is not None else BpeTrainConfig()
    sample = _sample(batches, train.sample_docs, train.seed)
    if not sample:
        raise ValueError("train-tokenizer: the input has no documents to train on")
    tok = HfTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=train.vocab_size, min_frequency=train.min_frequency,
                                  special_tokens=list(train.special_tokens), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(sample, trainer=trainer, length=len(sample))
    out = Path(target)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text(tok.to_str(pretty=False), encoding="utf-8")
    os.replace(tmp, out)
    return out
