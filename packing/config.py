"""Packing configuration: one frozen dataclass per concern, every default with its source (spec/packing.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Packer(StrEnum):
    """Which builder turns a window of documents into rows."""

    BEST_FIT = "best_fit"
    """Optimized best-fit decreasing (Ding et al. 2024 §3, App. B): cut only documents longer than L."""
    FIRST_FIT = "first_fit"
    """First-fit decreasing, the classic bin-packing baseline (capacity tree over rows)."""
    CONCAT = "concat"
    """Concat-and-chunk: all documents end to end, cut every L tokens (the baseline every paper compares to)."""
    DECOMPOSITION = "decomposition"
    """Dataset decomposition (Pouransari et al. 2024 §2): power-of-two pieces, one piece per row, bucket = log2."""
    KNOTS = "knots"
    """Untie the Knots (Tian et al. 2024): a seeded share of documents is chunked, shuffled and backtraced."""


class RowTokens(StrEnum):
    """How many tokens a full row holds (spec/packing.md, Traps: "L vs L+1")."""

    L = "L"
    """Rows hold <= L tokens; the loss shifts inside the row (OLMo-core, HF). Carding's default."""
    L_PLUS_1 = "L+1"
    """Rows hold <= L + 1 tokens (Megatron reads L + 1 per sample; Apple's DD pieces are 2^k + 1)."""


class Padding(StrEnum):
    """What happens to the free space at the end of a row."""

    NONE = "none"
    """Rows are stored unpadded; the free space is counted as `padding_tokens` (the loader pads)."""
    SEGMENT = "segment"
    """Rows are padded to the row capacity with `pad_token_id` as one extra segment whose doc_id is "" and
    whose `loss_mask` is False (the packing issue: "padding is its own loss-masked segment and counted")."""


class Flavour(StrEnum):
    """How decomposition cuts a document (spec/packing.md §2)."""

    PAPER = "paper"
    """Pieces of exactly 2^k by the binary digits of the length, longest first (DD §2; OLMo-core)."""
    APPLE = "apple"
    """apple/ml-dataset-decomposition `scripts/make_dd_buckets.py` (`get_binary`): pieces of 2^k + 1 tokens (an
    L + 1 reader), largest fitting k first, but while the rest needs k > kmax, k is drawn from kmin..kmax with
    p(k) proportional to 2^(kmax - k) (seeded by (seed, id)). Needs rows of at least 2^kmax + 1 tokens."""


class ShortRest(StrEnum):
    """What decomposition does with the part of a document shorter than 2^kmin."""

    DROP = "drop"
    """Dropped and counted as `dropped_tokens` (Pouransari et al. 2024 §2, "DD>=256")."""
    PAD = "pad"
    """Kept as its own row in bucket kmin, shorter than 2^kmin; the missing tokens count as padding."""


class Curriculum(StrEnum):
    """Bucket odds of the variable-sequence-length sampler, short to long (DD Table 2)."""

    UNIFORM = "uniform"
    """Odds 1:1:...:1."""
    GROW_LINEAR = "grow_linear"
    """Odds n:n-1:...:1 (6:5:4:3:2:1 for D8..D13)."""
    GROW_P2 = "grow_p2"
    """Odds 2^(n-1):...:2:1 (32:16:8:4:2:1 for D8..D13); the paper's best (DD Table 2)."""


class ChunkCut(StrEnum):
    """Where Untie-the-Knots cuts a document into chunks."""

    EQUAL = "equal"
    """n nearly equal chunks."""
    RANDOM = "random"
    """n - 1 cut points drawn from an rng seeded by (seed, id) (`gpt_dataset_utk.py` draws them at random)."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True, kw_only=True, slots=True)
class DecompositionConfig:
    """Dataset decomposition (Pouransari et al. 2024) and its variable-sequence-length curriculum sampler."""

    kmin: int = 8
    """Smallest bucket is 2^kmin tokens; shorter rests are dropped or padded (DD "DD>=256" for 8k)."""
    kmax: int = 13
    """Largest bucket is 2^kmax tokens; longer documents are first cut into 2^kmax pieces (DD, 8k)."""
    flavour: Flavour = Flavour.PAPER
    """Deterministic binary cut (paper) or Apple's released script (2^k + 1 pieces, random long cuts)."""
    short_rest: ShortRest = ShortRest.DROP
    """What to do with the rest below 2^kmin (DD drops it; `pad` keeps it in bucket kmin)."""
    curriculum: Curriculum = Curriculum.GROW_P2
    """Sampler odds short to long (DD Table 2: Grow-P2 best, 54.4 regular / 28.0 MDQA at 1B)."""
    cycles: int = 8
    """Curriculum cycles: each bucket is split into this many parts, one per cycle (DD Table 2: 8 cycles)."""
    batch_tokens: int = 262_144
    """Tokens per optimizer step b; a step from bucket k holds b / 2^k rows (DD §2: fixed tokens per step).
    Carding choice: 256 Ki = 32 rows of 8k."""
    world_size: int = 1
    """Data-parallel ranks; b / 2^k must split evenly over them (each rank reads b / 2^k / world rows)."""

    def __post_init__(self) -> None:
        _check(0 <= self.kmin <= self.kmax <= 30,
               f"decomposition.kmin={self.kmin}, kmax={self.kmax}: need 0 <= kmin <= kmax <= 30")
        _check(self.cycles >= 1, f"decomposition.cycles={self.cycles}: must be >= 1")
        _check(self.world_size >= 1, f"decomposition.world_size={self.world_size}: must be >= 1")
        _check(self.batch_tokens % (2**self.kmax * self.world_size) == 0,
               f"decomposition.batch_tokens={self.batch_tokens}: must be a multiple of 2^kmax * world_size = "
               f"{2**self.kmax * self.world_size}, so every bucket's step splits evenly over the ranks")


@dataclass(frozen=True, kw_only=True, slots=True)
class KnotsConfig:
    """Untie the Knots (Tian et al. 2024; rgtjf/Untie-the-Knots `gpt_dataset_utk.py`). Marker ids default to the
    packing range 7-31 of carding's byte/proxy id layout (spec/tokenization.md, "Id layout")."""

    utk_share: float = 0.3
    """Share of documents that are knotted, drawn per document from stable_hash(seed, id) (UtK slides: 0.3;
    0.8 did better in the paper)."""
    n_chunks: int = 3
    """Chunks per knotted document (UtK: 2-3 best). A document shorter than this stays plain."""
    chunk_cut: ChunkCut = ChunkCut.EQUAL
    """Equal or random cut points (official code: random)."""
    rid_chars: int = 6
    """Characters of the random chunk id, from [A-Za-z0-9] (official code: 6)."""
    keep_doc_order: bool = False
    """True keeps each document's chunks in order while still interleaving documents (UtK ablation)."""
    knot_open_id: int = 7
    """Token that opens every chunk but the first (carding id layout, packing range)."""
    knot_close_id: int = 8
    """Token that closes every chunk but the last."""
    doc_open_id: int = 9
    """`<D>`, opens a chunk header `<D> rid </D>`."""
    doc_close_id: int = 10
    """`</D>`, closes a chunk header."""
    summary_open_id: int = 11
    """`<S>`, opens the backtracing summary after a document's last-appearing chunk."""
    summary_sep_id: int = 12
    """`<s>`, separates rids in the summary."""
    summary_close_id: int = 13
    """`</S>`, closes the summary."""
    rid_char_ids: tuple[int, ...] | None = None
    """Token id of each of the 62 rid characters in the order A-Z, a-z, 0-9; None means carding's byte layout
    (byte v -> 64 + v). A BPE tokenizer must give one token per character."""

    def __post_init__(self) -> None:
        _check(0.0 <= self.utk_share <= 1.0, f"knots.utk_share={self.utk_share}: must be in [0, 1]")
        _check(self.n_chunks >= 2, f"knots.n_chunks={self.n_chunks}: must be >= 2 (one chunk is no knot)")
        _check(self.rid_chars >= 1, f"knots.rid_chars={self.rid_chars}: must be >= 1")
        _check(self.rid_char_ids is None or len(self.rid_char_ids) == 62,
               "knots.rid_char_ids: must be None (byte layout) or 62 token ids for A-Z, a-z, 0-9")


@dataclass(frozen=True, kw_only=True, slots=True)
class PackConfig:
    """How one packing window of tokenized documents becomes training rows (spec/packing.md)."""

    packer: Packer = Packer.BEST_FIT
    """Which builder (packing issue: best-fit by default; concat and first_fit are baselines)."""
    max_tokens: int = 8192
    """L, the longest row in tokens (DD and Fewer Truncations train at 2k and 8k)."""
    row_tokens: RowTokens = RowTokens.L
    """Rows hold L tokens (default) or L + 1 (Megatron); written to the manifest (spec/packing.md, Traps)."""
    window_docs: int = 1_000_000
    """Documents packed together; the runner assigns window = stable_hash(id) mod ceil(n_docs / window_docs)
    (carding choice; TRL packs 1 000-row map batches; fill vs window size is in the benchmark)."""
    padding: Padding = Padding.NONE
    """Rows stored unpadded with the padding counted (default), or padded with a loss-masked pad segment."""
    pad_token_id: int = 0
    """Id used by `padding: segment` (carding id layout: 0 is `pad`)."""
    seed: int = 0
    """Seed of every random choice (knots membership, cuts, rids, chunk order); outputs are a function of
    (input, config) only."""
    decomposition: DecompositionConfig = field(default_factory=DecompositionConfig)
    """Buckets and sampler for `packer: decomposition`."""
    knots: KnotsConfig = field(default_factory=KnotsConfig)
    """Options for `packer: knots`."""

    def __post_init__(self) -> None:
        _check(isinstance(self.packer, Packer), f"packer={self.packer!r}: must be one of {[p.value for p in Packer]}")
        _check(isinstance(self.row_tokens, RowTokens),
               f"row_tokens={self.row_tokens!r}: must be one of {[r.value for r in RowTokens]}")
        _check(isinstance(self.padding, Padding),
               f"padding={self.padding!r}: must be one of {[p.value for p in Padding]}")
        _check(self.max_tokens >= 1, f"max_tokens={self.max_tokens}: must be >= 1 token per row")
        _check(self.window_docs >= 1, f"window_docs={self.window_docs}: must be >= 1, each window needs one document")
        _check(0 <= self.pad_token_id < 2**32, f"pad_token_id={self.pad_token_id}: must be in [0, 2^32)")
        if self.packer == Packer.DECOMPOSITION:
            _check(2**self.decomposition.kmax <= self.max_tokens,
                   f"decomposition.kmax={self.decomposition.kmax}: 2^kmax = {2**self.decomposition.kmax} must be "
                   f"<= max_tokens = {self.max_tokens}")
            _check(self.decomposition.flavour != Flavour.APPLE or 2**self.decomposition.kmax + 1 <= self.capacity,
                   f"decomposition.flavour=apple cuts pieces of 2^kmax + 1 = {2**self.decomposition.kmax + 1} tokens "
                   f"but rows hold {self.capacity}: set row_tokens: L+1 (or raise max_tokens)")

        if self.packer == Packer.KNOTS:
            extra = 2 * self.knots.n_chunks * self.knots.rid_chars + 5 * self.knots.n_chunks - 1
            _check(self.capacity - extra >= self.knots.n_chunks,
                   f"knots: a row of {self.capacity} tokens cannot hold {self.knots.n_chunks} chunks plus their "
                   f"{extra} marker tokens (2 n |rid| + 5 n - 1); raise max_tokens or lower knots.n_chunks/rid_chars")

    @property
    def capacity(self) -> int:
        """Tokens a full row holds: L, or L + 1 under `row_tokens: L+1`."""
        return self.max_tokens + (1 if self.row_tokens == RowTokens.L_PLUS_1 else 0)
