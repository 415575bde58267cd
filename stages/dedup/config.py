"""The dedup stage's one config dataclass (STYLE.md §3): defaults live here, each with its source."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ShingleUnit(StrEnum):
    """What one n-gram is made of."""

    word = "word"
    """Words of the normalised text split on " " (datatrove/FineWeb: word 5-grams)."""
    char = "char"
    """Unicode code points of the normalised text, spaces included (for short or unsegmented text)."""


class Verify(StrEnum):
    """How a candidate pair from an LSH bucket becomes an edge of the duplicate graph."""

    exact = "exact"
    """Exact Jaccard of the two sorted unique shingle sets (removes every LSH false positive)."""
    signature = "signature"
    """Share of equal MinHash values (cheaper; sigma ~ 0.04 at J = 0.8 with 112 values)."""
    off = "off"
    """Every candidate pair is an edge (datatrove's behaviour: no verification)."""


class Scope(StrEnum):
    """Which documents may be duplicates of each other."""

    global_ = "global"
    """Every document against every other (FineWeb2 dedups globally per language)."""
    per_source = "per_source"
    """Only documents with the same `source` (FineWeb deduplicated each crawl snapshot on its own)."""


class Keep(StrEnum):
    """Which document of an exact group or near-duplicate cluster survives (spec/dedup.md `keep`)."""

    smallest_id = "smallest_id"
    """The smallest id (byte order): depends on nothing but the ids, so any CPU count gives the same output."""
    best_quality = "best_quality"
    """The highest `quality_score` (the filter's quality classifier writes it), ties to the smallest id; a
    document whose score is null or NaN ranks below every scored one. The input must have the column: a batch
    without it raises ValueError before any work (no silent fallback to smallest_id)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class NormalizeConfig:
    """datatrove `TextNormConfig` (utils/text.py `simplify_text`): every step on by default except weekday/month."""

    lowercase: bool = True
    """datatrove `TextNormConfig.lowercase`. pyarrow `utf8_lower`; differs from `str.lower` on final sigma."""
    norm_numbers: bool = True
    """datatrove `TextNormConfig.norm_numbers`: each `\\p{Nd}+([.,،٫⎖⎗⎘]\\p{Nd}+)?` becomes `0`."""
    remove_punctuation: bool = True
    """datatrove `TextNormConfig.remove_punctuation`: datatrove's `PUNCTUATION` characters become spaces."""
    norm_whitespace: bool = True
    """datatrove `TextNormConfig.norm_whitespace`: runs of `[\\s\\p{Z}]` become one space, ends stripped."""
    norm_unicode_diacritics: bool = True
    """datatrove `TextNormConfig.norm_unicode_diacritics`: NFD, then combining marks (Mn) dropped."""
    norm_weekdays: bool = False
    """datatrove `TextNormConfig.norm_weekdays` (English names become `WEEKDAY`); off as in datatrove."""
    norm_monthnames: bool = False
    """datatrove `TextNormConfig.norm_monthnames` (English names become `MONTH`); off as in datatrove."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DedupConfig:
    """Exact + MinHash-LSH near-duplicate removal (spec/dedup.md). Output depends on (input, config) only."""

    exact: bool = True
    """Remove exact copies of the normalised text (dedup issue, "Exact"); reason `dedup.exact`."""
    near: bool = True
    """Remove MinHash-LSH near-duplicates verified by Jaccard (dedup issue); reason `dedup.near`."""
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    """Text normalisation before hashing and shingling: datatrove `simplify_text` defaults."""
    scope: Scope = Scope.global_
    """spec/dedup.md `scope`: global (FineWeb2) or per_source (FineWeb per snapshot)."""
    shingle_unit: ShingleUnit = ShingleUnit.word
    """spec/dedup.md: word n-grams as datatrove/FineWeb; char n-grams as an option for short texts."""
    n_grams: int = 5
    """Shingle size in units: datatrove `MinhashConfig.n_grams` = 5 (FineWeb). Shorter documents skip near dedup."""
    bands: int = 14
    """LSH bands b: datatrove `MinhashConfig.num_buckets` = 14 (FineWeb, FineWeb2, DPK); threshold
    (1/b)^(1/r) ~ 0.72."""
    rows: int = 8
    """MinHash values per band r: datatrove `MinhashConfig.hashes_per_bucket` = 8; b x r = 112 permutations."""
    signature_bits: int = 64
    """Signature width: 64 as datatrove `HashConfig(precision=64)`; 32 masks to the low 32 bits as datasketch legacy."""
    seed: int = 1
    """Permutation seed: datatrove `MinhashConfig.seed` = 1; (a, b) drawn as datatrove (`np.random.RandomState`)."""
    verify: Verify = Verify.exact
    """spec/dedup.md `verify`: exact Jaccard removes LSH false positives (dedup issue: precision >= 0.99)."""
    jaccard_threshold: float = 0.8
    """Verified edge iff Jaccard >= this: dedup issue default 0.8 (IBM DPK `fdedup` verifies at 0.75)."""
    keep: Keep = Keep.smallest_id
    """spec/dedup.md `keep`: smallest_id (deterministic from ids alone) or best_quality (`quality_score` column)."""
    max_shingles_per_doc: int | None = 100_000
    """carding: only the first this-many shingles of a document count (mega-document guard; Marin caps text at
    500 000 chars for the same reason). It also bounds the signature kernel's scratch to 2 x (cap + n_grams - 1)
    uint64 (1.6 MB) whatever the document's length. None: no cap (scratch follows the longest document)."""
    max_pairs_group: int = 64
    """carding: an LSH bucket of up to this many documents verifies all pairs; a larger one (boilerplate) verifies
    each member against its smallest id only and is listed in the report."""
    exchange_partitions: int = 16
    """carding: hash partitions of the Ray exchange (band keys, exact keys): one task each. Results do not depend
    on it."""
    report_top_clusters: int = 10
    """spec/dedup.md: the report lists this many largest clusters, each with a sample id."""

    def __post_init__(self) -> None:
        if not isinstance(self.keep, Keep):
            if self.keep not in Keep.__members__:
                raise ValueError(f"keep={self.keep!r}: must be one of {', '.join(Keep.__members__)}")
            object.__setattr__(self, "keep", Keep(self.keep))
        if self.n_grams < 1:
            raise ValueError(f"n_grams={self.n_grams}: must be >= 1 (datatrove uses 5 words)")
        if self.bands < 1 or self.rows < 1:
            raise ValueError(f"bands={self.bands}, rows={self.rows}: both must be >= 1 (datatrove: 14 x 8)")
        if self.signature_bits not in (32, 64):
            raise ValueError(f"signature_bits={self.signature_bits}: must be 32 or 64")
        if not 0.0 < self.jaccard_threshold <= 1.0:
            raise ValueError(f"jaccard_threshold={self.jaccard_threshold}: must be in (0, 1]")
        if self.max_shingles_per_doc is not None and self.max_shingles_per_doc < 1:
            raise ValueError(f"max_shingles_per_doc={self.max_shingles_per_doc}: must be >= 1, or null for no cap")
        if self.max_pairs_group < 2:
            raise ValueError(f"max_pairs_group={self.max_pairs_group}: must be >= 2 (a pair needs two documents)")
        if self.exchange_partitions < 1:
            raise ValueError(f"exchange_partitions={self.exchange_partitions}: must be >= 1")
        if self.report_top_clusters < 0:
            raise ValueError(f"report_top_clusters={self.report_top_clusters}: must be >= 0")
        if self.seed < 0 or self.seed >= 2**32:
            raise ValueError(f"seed={self.seed}: must be in [0, 2^32) (numpy RandomState seed)")

    @property
    def num_perm(self) -> int:
        """Number of MinHash permutations, bands x rows."""
        return self.bands * self.rows
