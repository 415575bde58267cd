"""packing: tokenized documents -> training rows (spec/packing.md).

In: one packing window, an Arrow table with `id: string`, `tokens: large_list<uint16|uint32>`, `n_tokens: int32`
(the runner assigns window = stable_hash(id) mod ceil(n_docs / window_docs) and passes rows sorted by id).
Out (`pack_window` -> `PackResult.sequences`), one row per training sequence:
- `input_ids: list<uint16|uint32>`: at most `config.capacity` tokens (L, or L + 1 under `row_tokens: L+1`),
  same dtype as the input tokens; no padding stored unless `padding: segment`.
- `doc_lens: list<int32>`: segment lengths, `sum(doc_lens) == len(input_ids)`; cu_seqlens = [0, *cumsum].
- `doc_ids: list<string>`, one per segment: `<id>` for a whole document, `<id>@<token offset>` for a piece of a
  cut document (offset into the document's tokens, so the piece is tokens[offset : offset + doc_len]; parse with
  `rpartition("@")`), `""` for a padding segment. Exception: a knots row is ONE attention segment
  (`doc_lens = [len]`, plus a pad segment under `padding: segment`) whose doc_ids name every member document.
- `bucket: int16`: log2 of the piece length under `packer: decomposition`, -1 otherwise.
- `loss_mask: list<bool>` only under `packer: knots` or `padding: segment`: loss_mask[t] says whether token t is
  a training target (the loss for predicting t from tokens < t counts); False at padding and knots markers.
Stats (`PackResult.stats`, summed over windows by `merge_stats`): documents, input_tokens, tokens (stored, with
knots markers), sequences, padding_tokens (row slots left empty, stored or not), truncations (documents cut),
truncated_short_docs (documents <= L cut: 0 for best fit), dropped_tokens/dropped_documents (decomposition),
fill = tokens / (tokens + padding_tokens), concat_sequences = ceil(input_tokens / capacity), extra_sequences(_pct),
buckets / bucket_tokens (rows and tokens per bucket), attention_cost (sum of squared segment lengths; whole rows
for decomposition) vs concat_attention_cost (concat-and-chunk rows, full causal), marker_tokens,
knotted_documents, knots_sequences.
Randomness (knots membership, cuts, rids, chunk order, Apple-flavour cuts) comes from stable_hash(id, seed).

No Ray here: the runner in `pipelines/` calls `pack_window` per window. `packing.loader` is a separate package.
"""
from packing.config import (ChunkCut, Curriculum, DecompositionConfig, Flavour, KnotsConfig, PackConfig, Packer,
                            Padding, RowTokens, ShortRest)
from packing.decomposition import decompose, decompose_apple, rows_by_bucket
from packing.knots import RID_ALPHABET, extra_tokens
from packing.rows import PAD_DOC_ID, sequence_schema
from packing.sampler import CurriculumSampler, Step, curriculum_odds
from packing.window import PackResult, merge_stats, pack_window

__all__ = [
    "ChunkCut", "Curriculum", "curriculum_odds", "CurriculumSampler", "decompose", "decompose_apple",
    "DecompositionConfig", "extra_tokens", "Flavour", "KnotsConfig", "merge_stats", "pack_window", "PackConfig",
    "Packer", "PackResult", "PAD_DOC_ID", "Padding", "RID_ALPHABET", "rows_by_bucket", "RowTokens",
    "sequence_schema", "ShortRest", "Step",
]
