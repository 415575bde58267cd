"""Training loader over carding shards (packing/loader): shards in, batches for a GPU step out.

In: an output folder of `carding run` (`manifest.json` + `shards/<partition>/part-*.arrow|.parquet`; rows with
`input_ids list<uint16|uint32>`, `doc_lens list<int32>`, `doc_ids list<string>`, `bucket int16`, optional
`loss_mask list<bool>`), verified against the manifest on open.
Out: per step and rank, `input_ids`, `labels` (-100 at segment starts, padding and masked tokens; pre-shifted
under `label_shift: loader`), `position_ids` (restarting per segment) as int64, `cu_seqlens` int32 (0 ... total,
FlashAttention's varlen form) and `max_seqlen` (Python int), in a `flat` [1, T] or `padded` [B, L] layout.
Order: a block shuffle keyed by (seed, epoch), cut into global steps of world_size x rows_per_rank rows; exact
resume from {fingerprint, seed, epoch, next_step} with any number of DataLoader workers.

With Hugging Face models on flash-attention, pass `position_ids` (or cu_seq_lens_q/k and max_length_q/k) and no
`attention_mask`, else they take the unpadding path; FlexAttention needs a block mask from a per-token document id
(`bench/loader_gpu.py` shows both). Measured: 101-167 M tokens/s per process from Arrow IPC (`bench/loader.py`); data
wait 0.9-1.3 % of an H100 step (`bench/loader_gpu.py`).

Depends on pyarrow and numpy; torch is imported only when `ShardDataset`, `ShardLoader` or `to_device` is first
used (`from packing.loader import ShardLoader`), so carding itself runs without torch.
"""
from typing import Any

from packing.loader.batch import IGNORE_INDEX, build_batch
from packing.loader.config import LabelShift, Layout, LoaderConfig, ReadFormat
from packing.loader.order import EpochOrder, StepPlan
from packing.loader.source import RowBlock, ShardError, ShardSource
from packing.loader.synthetic import sequence_schema, synthetic_sequences

_TORCH_NAMES = ("ShardDataset", "ShardLoader", "to_device", "STATE_VERSION")

__all__ = [
    "IGNORE_INDEX", "EpochOrder", "LabelShift", "Layout", "LoaderConfig", "ReadFormat", "RowBlock", "ShardError",
    "ShardSource", "StepPlan", "build_batch", "sequence_schema", "synthetic_sequences", *_TORCH_NAMES,
]


def __getattr__(name: str) -> Any:
    """Load the torch dataset on first use only (STYLE.md §1: torch is imported lazily, inside packing/loader)."""
    if name in _TORCH_NAMES:
        from packing.loader import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'packing.loader' has no attribute {name!r}")
