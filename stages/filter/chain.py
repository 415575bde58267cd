"""The filter stage: every enabled filter in FineWeb's order, each seeing only the rows earlier ones kept.

Order (spec filter.md, `examples/fineweb.py` in huggingface/datatrove): length -> lid -> gopher_rep ->
gopher_qual -> c4 -> fineweb_qual -> quality. A row keeps the first reason in that order; C4 edits `text` of
the rows it keeps, and later filters see the edited text (as in datatrove).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.filter.c4 import C4Config, C4Filter
from stages.filter.fineweb import FineWebConfig, FineWebFilter
from stages.filter.gopher_quality import GopherQualityConfig, GopherQualityFilter
from stages.filter.gopher_repetition import (
    GopherRepetitionConfig,
    GopherRepetitionFilter,
)
from stages.filter.language import LanguageConfig, LanguageFilter
from stages.filter.length import LengthConfig, LengthFilter
from stages.filter.quality import QualityConfig, QualityFilter
from stages.filter.result import FilterResult
from stages.filter.words import Tokens, WordSplitter
from stages.reasons import add_reasons, reasons_of
from stages.schema import REASON

SCORE_COLUMNS: dict[str, pa.DataType] = {
    "language": pa.string(),
    "language_score": pa.float64(),
    "quality_score": pa.float64(),
}
"""Columns the stage always adds (null where a filter is off or never saw the row), then `rewrite_candidate`."""

REWRITE_CANDIDATE = "rewrite_candidate"


@dataclass(frozen=True, kw_only=True, slots=True)
class FilterConfig:
    """One sub-config per filter; `None` turns that whole filter off. Defaults: FineWeb's heuristic chain."""

    length: LengthConfig | None = field(default_factory=LengthConfig)
    """Character bounds (`length.*`); carding choice, default rejects empty texts only."""

    language: LanguageConfig | None = None
    """fastText LID (`lid.*`); off by default because it needs a local model path (datatrove `LanguageFilter`)."""

    gopher_repetition: GopherRepetitionConfig | None = field(default_factory=GopherRepetitionConfig)
    """Gopher repetition rules (`gopher_rep.*`); datatrove `GopherRepetitionFilter` defaults."""

    gopher_quality: GopherQualityConfig | None = field(default_factory=GopherQualityConfig)
    """Gopher quality rules (`gopher_qual.*`); datatrove `GopherQualityFilter` defaults."""

    c4: C4Config | None = field(default_factory=lambda: C4Config(filter_no_terminal_punct=False))
    """C4 line rules (`c4.*`); datatrove `C4QualityFilter` defaults except `filter_no_terminal_punct=False`,
    FineWeb's setting (`examples/fineweb.py`)."""

    fineweb: FineWebConfig | None = field(default_factory=FineWebConfig)
    """FineWeb rules (`fineweb_qual.*`); datatrove `FineWebQualityFilter` defaults."""

    quality: QualityConfig | None = None
    """fastText quality classifier (`quality.*`); off by default because it needs a trained model."""


def _build_filters(config: FilterConfig, words: WordSplitter) -> list:
    """The enabled filters in chain order; the word filters share one WordSplitter (one chunk cache)."""
    filters: list = []
    if config.length is not None:
        filters.append(LengthFilter(config.length))
    if config.language is not None:
        filters.append(LanguageFilter(config.language))
    if config.gopher_repetition is not None:
        filters.append(GopherRepetitionFilter(config.gopher_repetition, words))
    if config.gopher_quality is not None:
        filters.append(GopherQualityFilter(config.gopher_quality, words))
    if config.c4 is not None:
        filters.append(C4Filter(config.c4, words))
    if config.fineweb is not None:
        filters.append(FineWebFilter(config.fineweb, words))
    if config.quality is not None:
        filters.append(QualityFilter(config.quality))
    return filters


class FilterChain:
    """The filter stage: same rows out, plus `reject_reason`, the score columns and `rewrite_candidate`.

    Rows already carrying a reason are passed through untouched (not scored, not edited).
    """

    def __init__(self, config: FilterConfig) -> None:
        self.config = config
        stop_words = config.gopher_quality.stop_words if config.gopher_quality is not None else ()
        self._words = WordSplitter(stop_words)
        self._filters = _build_filters(config, self._words)

    def quality_threshold(self) -> dict[str, float | int | None] | None:
        """The quality cut this chain applied (`QualityFilter.threshold_report`), for the run report and manifest;
        None when the classifier is off. With `keep_top_fraction` it is known after the first batch."""
        for f in self._filters:
            if isinstance(f, QualityFilter):
                return f.threshold_report()
        return None

    @property
    def filter_names(self) -> list[str]:
        """Reason prefixes of the enabled filters, in chain order."""
        return [f.name for f in self._filters]

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Add `reject_reason` (first failing rule), `language`, `language_score`, `quality_score`,
        `rewrite_candidate` (bool, never null); C4 replaces `text` of the rows it keeps."""
        n = batch.num_rows
        text_col = batch.column("text")
        text = text_col.cast(pa.large_string())
        alive = pc.is_null(reasons_of(batch)).to_numpy(zero_copy_only=False).copy()
        reasons = np.full(n, None, dtype=object)
        scores: dict[str, np.ndarray] = {name: np.full(n, None, dtype=object) for name in SCORE_COLUMNS}
        text_edited = False
        shared: tuple[np.ndarray, Tokens] | None = None  # (rows, their tokens) of the current text
        word_counts: np.ndarray | None = None  # (n,) words of the current text, where an editing filter gave them
        for f in self._filters:
            rows = np.flatnonzero(alive)
            if len(rows) == 0:
                break
            sub = text if len(rows) == n else text.take(pa.array(rows))
            if getattr(f, "uses_words", False) and getattr(f, "counts_words_only", False) and word_counts is not None:
                result = f.evaluate(sub, n_words=word_counts[rows])
            elif getattr(f, "uses_words", False):
                # Gopher repetition, Gopher quality and FineWeb count the same words: split once per text version
                if shared is None:
                    shared = (rows, self._words.tokens(sub))
                tokens = shared[1].take(np.searchsorted(shared[0], rows))
                result: FilterResult = f.evaluate(sub, tokens=tokens)
            else:
                result = f.evaluate(sub)
            for name, values in result.columns.items():
                scores[name][rows] = values.to_numpy(zero_copy_only=False)
            failed = pc.is_valid(result.reasons).to_numpy(zero_copy_only=False)
            if result.text is not None and not failed.all():
                # only the rows this filter keeps take its edit (datatrove edits a document it passes on)
                passed = ~failed
                text = _scatter_text(text, rows[passed], result.text.filter(pa.array(passed)))
                text_edited = True
                shared = None
                word_counts = None
                if result.word_counts is not None:
                    word_counts = np.zeros(n, dtype=np.int64)
                    word_counts[rows] = result.word_counts
            reasons[rows[failed]] = np.asarray(result.reasons.to_numpy(zero_copy_only=False), dtype=object)[failed]
            alive[rows[failed]] = False

        out = batch
        if text_edited:
            out = out.set_column(out.schema.get_field_index("text"), out.schema.field("text"),
                                 text.cast(text_col.type))
        out = add_reasons(out, pa.array(reasons, pa.string()))
        for name, typ in SCORE_COLUMNS.items():
            out = _set_or_append(out, name, pa.array(scores[name], typ))
        candidate = _rewrite_candidates(self.config.quality, out)
        return _set_or_append(out, REWRITE_CANDIDATE, candidate)


def _rewrite_candidates(quality: QualityConfig | None, batch: pa.RecordBatch) -> pa.Array:
    """True where the row's only (hence first) reason is the quality classifier's, score above the floor."""
    if quality is None:
        return pa.array(np.zeros(batch.num_rows, dtype=bool))
    by_quality = pc.fill_null(pc.starts_with(batch.column(REASON), "quality."), False)
    if quality.rewrite_min_score is not None:
        floor = pc.fill_null(pc.greater_equal(batch.column("quality_score"), quality.rewrite_min_score), False)
        by_quality = pc.and_(by_quality, floor)
    return by_quality


def _scatter_text(text: pa.Array, rows: np.ndarray, new: pa.Array) -> pa.Array:
    """`text` with positions `rows` replaced by `new` (same length as rows)."""
    if len(rows) == len(text):
        return new.cast(pa.large_string())
    # Build through an index map: where = position in the concatenation [text, new] of each output row.
    where = np.arange(len(text), dtype=np.int64)
    where[rows] = len(text) + np.arange(len(rows), dtype=np.int64)
    both = pa.concat_arrays([text.cast(pa.large_string()), new.cast(pa.large_string())])
    return both.take(pa.array(where))


def _set_or_append(batch: pa.RecordBatch, name: str, values: pa.Array) -> pa.RecordBatch:
    if name in batch.schema.names:
        return batch.set_column(batch.schema.get_field_index(name), pa.field(name, values.type), values)
    return batch.append_column(pa.field(name, values.type), values)
