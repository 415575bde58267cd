"""Filter stage: decide per document whether to train on it, name the first rule it fails, score it.

In:  document batches (`stages.schema.DOCUMENT_SCHEMA`: id, text, source, meta), optionally a `reject_reason`.
Out: the same rows, plus
     - `reject_reason` string: null = keep, else `<filter>.<rule>` of the first failing rule
       (filters: length, lid, gopher_rep, gopher_qual, c4, fineweb_qual, quality);
     - `language` string, `language_score` float64 (fastText LID; null when LID is off or the row was rejected
       before it);
     - `quality_score` float64 (P(positive) of the quality classifier; null likewise);
     - `rewrite_candidate` bool: rejected only by the quality classifier (REWIRE input).
     C4 replaces `text` of the rows it keeps by their kept lines (as datatrove does).
"""
from stages.filter.c4 import C4Config
from stages.filter.chain import (
    REWRITE_CANDIDATE,
    SCORE_COLUMNS,
    FilterChain,
    FilterConfig,
)
from stages.filter.fasttext_model import BUNDLED_LID176, bundled_lid176_path
from stages.filter.fineweb import FineWebConfig
from stages.filter.gopher_quality import GopherQualityConfig
from stages.filter.gopher_repetition import GopherRepetitionConfig
from stages.filter.language import LanguageConfig
from stages.filter.length import LengthConfig
from stages.filter.quality import QualityConfig, estimate_quality_threshold
from stages.filter.train_quality import (
    QualityTrainConfig,
    read_documents,
    train_quality_classifier,
)
from stages.filter.words import warm_rule_cache

__all__ = [
    "BUNDLED_LID176",
    "REWRITE_CANDIDATE",
    "SCORE_COLUMNS",
    "C4Config",
    "FilterChain",
    "FilterConfig",
    "FineWebConfig",
    "GopherQualityConfig",
    "GopherRepetitionConfig",
    "LanguageConfig",
    "LengthConfig",
    "QualityConfig",
    "QualityTrainConfig",
    "bundled_lid176_path",
    "estimate_quality_threshold",
    "read_documents",
    "train_quality_classifier",
    "warm_rule_cache",
]
