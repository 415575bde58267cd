"""The tokenize stage's config: one frozen dataclass, every default with its source (spec/tokenization.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Scheme(StrEnum):
    """Which ids a document becomes."""

    bytes = "bytes"
    """UTF-8 bytes as ids after 64 specials (proxy-compression id layout)."""
    proxy = "proxy"
    """Compressed views (zstd / gzip / zlib / deflate) mixed with raw bytes (Zheng et al. 2026)."""
    bpe = "bpe"
    """A `tokenizers` BPE model loaded from tokenizer.json (or trained by `carding train-tokenizer`)."""


class Layout(StrEnum):
    """Id layout of the bytes scheme."""

    carding = "carding"
    """0-63 specials (pad 0, bos 1, eos 2, ...), byte v -> 64 + v: the proxy-compression convention."""
    byt5 = "byt5"
    """ByT5 (Xue et al. 2022): pad 0, eos 1, unk 2, byte v -> v + 3, 125 sentinels, 384 ids."""


class Codec(StrEnum):
    """The external compressor of the proxy scheme."""

    zstd = "zstd"
    """Zstandard frames, no checksum, no content size, no dict id (python-zstandard)."""
    gzip = "gzip"
    """RFC 1952 via zlib (wbits 31): mtime 0, so the same input gives the same bytes."""
    zlib = "zlib"
    """RFC 1950 via zlib (wbits 15): 2-byte header, adler32 trailer."""
    deflate = "deflate"
    """Raw RFC 1951 deflate (wbits -15): no header, no trailer, the smallest of the three."""


MARKER_COUNT = 25
"""Packing markers reserved by every scheme (ids 7-31 in the byte layouts; special tokens in bpe)."""

BPE_PAD, BPE_BOS, BPE_EOS = "<|pad|>", "<|bos|>", "<|eos|>"


def default_bpe_specials() -> list[str]:
    """pad, bos, eos, then the packing markers: ids 0..27 of a tokenizer that `train_tokenizer` builds."""
    return [BPE_PAD, BPE_BOS, BPE_EOS] + [f"<|marker_{i}|>" for i in range(MARKER_COUNT)]


@dataclass(frozen=True, kw_only=True, slots=True)
class BpeTrainConfig:
    """How `carding train-tokenizer CONFIG` trains a byte-level BPE (spec/tokenization.md, Algorithms)."""

    vocab_size: int = 32_768
    """Target vocabulary incl. specials; <= 65 536 keeps ids uint16 (carding choice, spec Parameters)."""
    special_tokens: list[str] = field(default_factory=default_bpe_specials)
    """Added first, so they get ids 0..k-1: pad, bos, eos and the packing markers (spec: bpe reserves them)."""
    sample_docs: int = 100_000
    """Documents in the training sample: the ones with the smallest stable_hash(id, seed), so the sample does
    not depend on batch boundaries or input order (carding choice)."""
    min_frequency: int = 2
    """A pair merges only if seen this often (tokenizers BpeTrainer default is 0; 2 drops one-off merges)."""
    seed: int = 0
    """Seed of the sample's stable hash."""

    def __post_init__(self) -> None:
        if self.vocab_size < 256 + len(self.special_tokens):
            raise ValueError(f"vocab_size={self.vocab_size}: must be >= 256 + "
                             f"{len(self.special_tokens)} specials (the byte-level alphabet needs 256 ids)")
        if self.vocab_size > 2**32 - 1:
            raise ValueError(f"vocab_size={self.vocab_size}: must fit uint32")
        if len(set(self.special_tokens)) != len(self.special_tokens) or any(not s for s in self.special_tokens):
            raise ValueError(f"special_tokens={self.special_tokens}: must be distinct, non-empty")
        if self.sample_docs < 1:
            raise ValueError(f"sample_docs={self.sample_docs}: must be >= 1")
        if self.min_frequency < 0:
            raise ValueError(f"min_frequency={self.min_frequency}: must be >= 0")
        if not 0 <= self.seed < 2**64:
            raise ValueError(f"seed={self.seed}: must be in [0, 2**64)")


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenizeConfig:
    """One recipe's `tokenize:` section. Only the fields of the chosen scheme are read."""

    scheme: Scheme = Scheme.bytes
    """bytes | proxy | bpe (DESIGN.md: bytes by default, so the spine needs no model)."""
    append_eos: bool = True
    """One EOS after every document, counted in n_tokens (spec/tokenization.md, Purpose)."""
    layout: Layout = Layout.carding
    """Bytes-scheme id layout: carding (proxy-compression convention) or byt5 (HF ByT5Tokenizer)."""

    codec: Codec = Codec.zstd
    """Proxy compressor: zstd | gzip | zlib | deflate (tokenization issue; proxy compression `gzip_no_mtime`)."""
    level: int = 3
    """Compression level: zstd 1..22 (3 is zstd's default), zlib family 0..9 (spec Parameters)."""
    window_bytes: int | None = 4096
    """W: the compressor restarts every W input bytes so a window decodes alone (Equal-Info Windows,
    Lester et al. 2024). None compresses the whole document as one frame."""
    share: float = 0.9
    """Share of documents that get the compressed view (proxy compression: 0.9 after the warm-up)."""
    pair_prob: float = 0.0
    """Share of compressed documents that carry both views, raw and compressed, in seeded order, split by the
    `view_sep` special (proxy compression's paired warm-up; 0 after it)."""
    fallback_raw: bool = True
    """Emit a window raw when its compressed form is not shorter (carding: tiny windows expand; zstd of 0 bytes
    is 9 bytes)."""
    checksum: bool = True
    """zstd frames end with a 4-byte content checksum. carding departs from the spec's "no checksum" here: a frame
    is canonical, so a flipped literal byte decodes to other text that re-compresses to the flipped frame; without
    the checksum 19 of 25 single-byte flips went undetected (tests/tokenization/test_proxy.py). gzip and zlib
    always carry CRC32 / adler32; raw deflate carries nothing, so it cannot catch a flip."""
    magicless: bool = False
    """zstd frames without the 4-byte magic number (python-zstandard FORMAT_ZSTD1_MAGICLESS)."""
    seed: int = 0
    """Seed of stable_hash(id, seed): which documents are compressed and paired, independent of batching."""

    bpe_path: str | None = None
    """tokenizer.json of the bpe scheme (a path: nothing is downloaded). Written by `carding train-tokenizer`
    when `train` is set."""
    bpe_eos_token: str = BPE_EOS
    """The bpe model's EOS token string; it must be in the vocabulary when append_eos is on (carding default)."""
    bpe_pad_token: str | None = BPE_PAD
    """The bpe model's padding token, for the packer; None when the model has none (carding default)."""
    bpe_bos_token: str | None = BPE_BOS
    """The bpe model's BOS token; None when the model has none (carding default)."""
    train: BpeTrainConfig | None = None
    """Settings of `carding train-tokenizer`, which writes `bpe_path`; None: bpe_path must already exist."""

    def __post_init__(self) -> None:
        if self.level < (-7 if self.codec == Codec.zstd else 0) or self.level > (22 if self.codec == Codec.zstd else 9):
            allowed = "-7..22" if self.codec == Codec.zstd else "0..9"
            raise ValueError(f"level={self.level}: codec {self.codec} allows {allowed}")
        if self.window_bytes is not None and self.window_bytes < 1:
            raise ValueError(f"window_bytes={self.window_bytes}: must be >= 1 byte, or null for whole "
                             "documents")
        for name in ("share", "pair_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value}: must be a probability in [0, 1]")
        if not 0 <= self.seed < 2**64:
            raise ValueError(f"seed={self.seed}: must be in [0, 2**64)")
        if self.scheme == Scheme.proxy and self.layout != Layout.carding:
            raise ValueError(f"layout={self.layout}: the proxy scheme needs layout carding (its "
                             "compressed ids live at 320-575)")
        if self.scheme == Scheme.bpe:
            if self.bpe_path is None:
                raise ValueError("bpe_path: required for scheme bpe (a tokenizer.json path; "
                                 "`carding train-tokenizer CONFIG` writes one when tokenize.train is set)")
            if self.train is None:
                _require_file(self.bpe_path)


def _require_file(path: str) -> None:
    from pathlib import Path

    if not Path(path).is_file():
        raise ValueError(f"bpe_path={path}: no such file (run `carding train-tokenizer CONFIG` with "
                         "train set, or point at an existing tokenizer.json)")
