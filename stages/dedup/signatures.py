"""The map side of dedup: one pass over document batches gives each document's exact key and LSH band keys;
a second pass over the few candidate documents gives what verification compares (normalised text, shingle sets).

Keeping shingle sets only for candidates (documents in an exact group or an LSH bucket of size >= 2) is what
spec/dedup.md asks: the first pass emits ~150 bytes per document whatever its length.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from stages.dedup.config import DedupConfig, Keep, Scope, Verify
from stages.dedup.hashing import permutations
from stages.dedup.minhash import TextMinHash, band_keys, sorted_unique_sets, text_buffers
from stages.dedup.normalize import normalize_text
from stages.schema import stable_hash

QUALITY = "quality_score"
"""The column keep=best_quality ranks by (stages/filter/quality.py writes it: P(high quality), float64)."""

SIGNATURE_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("exact_hi", pa.uint64()),
    pa.field("exact_lo", pa.uint64()),
    pa.field("n_shingles", pa.int32()),
    pa.field("capped", pa.bool_()),
    pa.field("band_keys", pa.large_list(pa.uint64())),
])
"""Per document: xxh3-128 of the normalised text (source-salted under per_source) and its `bands` LSH keys
(empty when the document has fewer than n_grams units or near dedup is off)."""

FEATURE_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("norm_text", pa.large_string()),
    pa.field("shingles", pa.large_list(pa.uint64())),
    pa.field("signature", pa.large_list(pa.uint64())),
    pa.field(QUALITY, pa.float64()),
])
"""Per candidate document: what verification compares. `signature` is filled only for verify=signature;
`quality_score` only for keep=best_quality (null otherwise, and where the document has none)."""

_WORD_HASH_SEED = 0
"""xxh3 seed of word hashes (fixed: shingles must not change with the permutation seed)."""


_SLICE_BYTES = 8 << 20
"""Text bytes per slice of the signature map: peak memory above the input is ~8x the text processed at once
(normalisation copies, digests, keys): 1,090 MB for a 131 MB batch of 600,000 documents processed whole,
73 MB in 8 MB slices (VmHWM, same run; the numpy path before the kernels: 2,923 MB). A slice is ~5,000
documents of 1.7 kB, so the per-slice overhead is nothing measurable."""


def _byte_slices(texts: pa.Array | pa.ChunkedArray, max_bytes: int) -> list[tuple[int, int]]:
    """Row ranges [start, stop) covering all rows, each with at most max_bytes of text unless one row alone is
    longer. Example (max 10): lengths [4, 4, 4, 30, 1] -> [(0, 2), (2, 3), (3, 4), (4, 5)]."""
    lengths = pc.fill_null(pc.binary_length(texts), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    n = len(lengths)
    out, start = [], 0
    ends = np.cumsum(lengths)
    while start < n:
        # the last row whose cumulative length stays within the budget, at least one row
        base = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + max_bytes, side="right")))
        out.append((start, stop))
        start = stop
    return out


def _as_batch(batch: pa.RecordBatch | pa.Table) -> pa.RecordBatch:
    if isinstance(batch, pa.Table):
        return batch.combine_chunks().to_batches()[0] if batch.num_rows else \
            pa.RecordBatch.from_pylist([], schema=batch.schema)
    return batch


def check_keep_input(columns: list[str], config: DedupConfig) -> None:
    """Raise ValueError if keep=best_quality and the documents' columns have no `quality_score`."""
    if config.keep is Keep.best_quality and QUALITY not in columns:
        raise ValueError(
            f"dedup.keep=best_quality ranks documents by a `{QUALITY}` column, and the documents have none "
            f"(columns: {', '.join(columns)}); turn on filter.quality (it writes `{QUALITY}`) and pass the "
            f"column to dedup, or set dedup.keep: smallest_id")


def _source_salt(batch: pa.RecordBatch, config: DedupConfig) -> np.ndarray | None:
    if config.scope is Scope.per_source:
        return stable_hash(pc.fill_null(batch.column("source"), ""), seed=config.seed)
    return None


class DedupShingler:
    """Normalisation, shingles and MinHash of a batch with the parameters of one config (built once)."""

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self.a, self.b = permutations(config.num_perm, config.seed)
        self.kernel = TextMinHash(config.shingle_unit, config.n_grams, config.max_shingles_per_doc, _WORD_HASH_SEED,
                                  self.a, self.b, config.signature_bits)

    def shingles(self, norm: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Flat shingle hashes (S,) uint64 and per-document counts (n,) int64 of normalised texts."""
        sh, counts, _ = self.shingles_capped(norm)
        return sh, counts

    def shingles_capped(self, norm: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As `shingles`, plus (n,) bool: the document had more than max_shingles_per_doc shingles."""
        return self.kernel.shingles(norm)

    def signatures(self, sh: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """(n, bands*rows) MinHash values; all-max rows for documents without shingles."""
        return self.kernel.signatures_of_shingles(sh, counts)

    def text_signatures(self, norm: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(signatures, shingles per document after the cap, capped) straight from normalised text: one kernel
        pass per document, no flat shingle array (what the signature map uses)."""
        return self.kernel.signatures(norm)


class DedupSignatures:
    """Map: document batch -> SIGNATURE_SCHEMA batch (one row per document, same order)."""

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self.shingler = DedupShingler(config)

    def process(self, batch: pa.RecordBatch | pa.Table) -> pa.RecordBatch:
        """SIGNATURE_SCHEMA rows, one per document in order. Works through the batch in slices of at most
        `_SLICE_BYTES` of text (a document longer than that is a slice of its own), so the normalised copies and
        per-document keys of a slice, not of the whole batch, are what is alive at a time."""
        check_keep_input(batch.schema.names, self.config)
        parts = [self._process(_as_batch(batch.slice(start, stop - start)))
                 for start, stop in _byte_slices(batch.column("text"), _SLICE_BYTES)]
        if not parts:
            return self._process(_as_batch(batch))
        return parts[0] if len(parts) == 1 else pa.concat_batches(parts)

    def _process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        c = self.config
        n = batch.num_rows
        norm = normalize_text(batch.column("text"), c.normalize)
        # Python loop over documents: xxh3-128 has no vectorised API; ~0.6 µs per document, far below the ~25 µs
        # of a 1.7 kB document's signature. Slices of the value buffer (memoryview) spare a str per document.
        # 128 bits make a collision practically impossible, and verification still compares the normalised bytes.
        data, offsets = text_buffers(norm)
        view = memoryview(data)
        bounds = offsets.tolist()
        digests = [xxhash.xxh3_128_intdigest(view[bounds[i]:bounds[i + 1]]) for i in range(n)]
        hi = np.fromiter((d >> 64 for d in digests), dtype=np.uint64, count=n)
        lo = np.fromiter((d & 0xFFFFFFFFFFFFFFFF for d in digests), dtype=np.uint64, count=n)
        salt = _source_salt(batch, c)
        if salt is not None:
            hi = hi ^ salt
        if c.near:
            sig, counts, capped = self.shingler.text_signatures(norm)
            keys = band_keys(sig, c.bands, c.rows, salt)
            has = counts > 0
            list_lens = np.where(has, c.bands, 0)
            offsets = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(list_lens, out=offsets[1:])
            keys_arr = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(keys[has].ravel(), pa.uint64()))
            units_full = counts  # shingles per document after the cap
        else:
            units_full = np.zeros(n, dtype=np.int64)
            keys_arr = pa.LargeListArray.from_arrays(pa.array(np.zeros(n + 1, np.int64)), pa.array([], pa.uint64()))
            capped = np.zeros(n, dtype=bool)
        return pa.RecordBatch.from_arrays(
            [batch.column("id").cast(pa.string()), pa.array(hi, pa.uint64()), pa.array(lo, pa.uint64()),
             pa.array(units_full.astype(np.int32), pa.int32()), pa.array(capped, pa.bool_()), keys_arr],
            schema=SIGNATURE_SCHEMA,
        )


def candidate_features(batch: pa.RecordBatch | pa.Table, ids: pa.Array, config: DedupConfig,
                       shingler: DedupShingler | None = None) -> pa.RecordBatch:
    """FEATURE_SCHEMA rows for the documents of `batch` whose id is in `ids` (any order, duplicates allowed).

    The candidates are worked through in slices of at most `_SLICE_BYTES` of text, as the signature map does, so a
    whole input block (the Ray map gets one per task) holds only one slice's normalisation and shingle scratch."""
    check_keep_input(batch.schema.names, config)
    batch = _as_batch(batch)
    shingler = shingler or DedupShingler(config)
    keep = pc.is_in(batch.column("id").cast(pa.string()), value_set=ids.cast(pa.string()))
    sub = batch.filter(keep)
    parts = [_features(sub.slice(start, stop - start), config, shingler)
             for start, stop in _byte_slices(sub.column("text"), _SLICE_BYTES)]
    if not parts:
        return _features(sub, config, shingler)
    return parts[0] if len(parts) == 1 else pa.concat_batches(parts)


def _features(sub: pa.RecordBatch, config: DedupConfig, shingler: DedupShingler) -> pa.RecordBatch:
    norm = normalize_text(sub.column("text"), config.normalize)
    n = sub.num_rows
    if config.near and config.verify is not Verify.off:
        sh, counts = shingler.shingles(norm)
        sets = sorted_unique_sets(sh, counts)
        if config.verify is Verify.signature:
            sig = shingler.signatures(sh, counts).astype(np.uint64)
            offs = np.arange(n + 1, dtype=np.int64) * config.num_perm
            sigs = pa.LargeListArray.from_arrays(pa.array(offs), pa.array(sig.ravel(), pa.uint64()))
        else:
            sigs = pa.nulls(n, pa.large_list(pa.uint64()))
    else:
        sets = pa.nulls(n, pa.large_list(pa.uint64()))
        sigs = pa.nulls(n, pa.large_list(pa.uint64()))
    quality = sub.column(QUALITY).cast(pa.float64()) if config.keep is Keep.best_quality else pa.nulls(n, pa.float64())
    return pa.RecordBatch.from_arrays([sub.column("id").cast(pa.string()), norm, sets, sigs, quality],
                                      schema=FEATURE_SCHEMA)
