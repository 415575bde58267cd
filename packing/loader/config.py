"""Loader configuration (spec shards-loader.md, Parameters): one frozen dataclass, every default with its source."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Layout", "LabelShift", "ReadFormat", "LoaderConfig"]


class Layout(StrEnum):
    """How the rows of one rank's step become a batch."""

    FLAT = "flat"
    """Rows concatenated to [1, T], no padding, `cu_seqlens = [0, cumsum(all doc_lens)]` (HF
    `DataCollatorWithFlattening`, the FlashAttention varlen call)."""
    PADDED = "padded"
    """[B, L]; each row's padding is its own final, loss-masked segment, so `cu_seqlens[-1] == B * L`."""


class LabelShift(StrEnum):
    """Who shifts labels by one token."""

    MODEL = "model"
    """`labels = input_ids` with -100 at segment starts, padding and masked tokens; the model shifts (HF, OLMo-core)."""
    LOADER = "loader"
    """`labels[t] = input_ids[t + 1]` inside a segment, else -100: pre-shifted (torchtitan, Megatron)."""


class ReadFormat(StrEnum):
    """Which copy of the shards the loader reads."""

    AUTO = "auto"
    """Arrow IPC when the manifest lists it for every shard (zero-copy mmap), else Parquet."""
    ARROW = "arrow"
    """Arrow IPC files, memory-mapped: no decode, the OS pages tokens in on demand."""
    PARQUET = "parquet"
    """Parquet files, decoded one row group at a time into a small cache (slower; for folders without .arrow)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LoaderConfig:
    """What one rank reads per step, in which order, and how each batch is laid out."""

    rows_per_rank: int
    """Rows each rank takes per step (required; OLMo-core's FSL loader: global batch = world * rows_per_rank)."""
    seed: int = 0
    """Seed of the epoch order: the order is a function of (seed, epoch) only (OLMo-core FSL loader)."""
    drop_last: bool = True
    """Skip the last N mod (world * rows_per_rank) positions of an epoch (counted in the epoch report); False
    makes them one smaller step split over the ranks (OLMo-core default: drop)."""
    shuffle_block_rows: int = 262_144
    """B: the epoch order permutes blocks of B rows, then rows inside each block, in O(B) memory
    (MosaicML Streaming's py1e shuffle uses blocks of >= 2^18 samples)."""
    layout: Layout = Layout.FLAT
    """`flat` [1, T] for varlen attention (default, HF padding-free collator) or `padded` [B, L]."""
    label_shift: LabelShift = LabelShift.MODEL
    """`model`: labels aligned with input_ids, the model shifts (HF, OLMo-core); `loader`: pre-shifted."""
    reset_position_ids: bool = True
    """position_ids restart at 0 in every segment (HF padding-free collator); Ding et al. 2024 did not reset
    (RoPE is relative), so False counts positions from each row's start."""
    pad_token_id: int = 0
    """Id written into `padded` layout padding (carding id layout: 0 is `pad`); its labels are always -100."""
    read_format: ReadFormat = ReadFormat.AUTO
    """Which shard copy to read; `auto` prefers memory-mapped Arrow IPC (shards/loader issue)."""
    verify_checksums: bool = True
    """Recompute every shard's sha256 on open (spec: a flag may skip the hash for speed, never the counts)."""
    parquet_cache_row_groups: int = 64
    """Decoded Parquet row groups kept in memory (LRU); 64 x 1024 rows x 8192 uint32 = 2 GiB at most.
    Carding choice: covers the sequential reads of a shuffle block's rows spread over nearby row groups."""

    def __post_init__(self) -> None:
        if self.rows_per_rank < 1:
            raise ValueError(f"rows_per_rank={self.rows_per_rank}: must be >= 1, each rank needs a row per step")
        if self.seed < 0:
            raise ValueError(f"seed={self.seed}: must be >= 0 (it seeds numpy's SeedSequence)")
        if self.shuffle_block_rows < 1:
            raise ValueError(f"shuffle_block_rows={self.shuffle_block_rows}: must be >= 1 (memory is "
                             "O(N / B + B) rows: 1 is a full permutation, N a single shuffled block)")
        if self.pad_token_id < 0:
            raise ValueError(f"pad_token_id={self.pad_token_id}: must be a token id >= 0")
        if self.parquet_cache_row_groups < 1:
            raise ValueError(f"parquet_cache_row_groups={self.parquet_cache_row_groups}: must be >= 1")
        for name, enum in (("layout", Layout), ("label_shift", LabelShift), ("read_format", ReadFormat)):
            value = getattr(self, name)
            if value not in set(enum):
                raise ValueError(f"{name}={value!r}: must be one of {[e.value for e in enum]}")
