"""Training loader over carding shards (packing/loader): shards in, batches for a GPU step out.

In: an output folder (`manifest.json` + `shards/<partition>/part-*.arrow|.parquet`, rows with `input_ids
list<uint16|uint32>`, `doc_lens list<int32>`, `doc_ids list<string>`, `bucket int16`, optional `loss_mask`).
Out: batches of `input_ids`, `labels`, `position_ids` (int64), `cu_seqlens` (int32) and `max_seqlen` (int).
Depends on pyarrow and numpy; torch is imported lazily, only by the torch dataset.
"""
from packing.loader.synthetic import sequence_schema, synthetic_sequences

__all__ = ["sequence_schema", "synthetic_sequences"]
