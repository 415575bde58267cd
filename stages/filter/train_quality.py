"""`carding train-quality`: a fastText supervised quality classifier (the DCLM recipe, Li et al. 2024).

Positives are reference text worth imitating, negatives are random pages of the corpus to filter; each side is
files (read like `input.paths`) narrowed by an optional SQL expression over the documents (`source`, `id`,
`text`, `meta` JSON; polars `sql_expr`). Documents are sampled and split by `stable_hash(id, seed)`, so the
split is a function of the ids, never of file order. fastText trains with one thread (its multi-threaded SGD
is not reproducible, spec filter.md traps). The card reports held-out precision/recall/F1 of the positive
class at 0.5.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.filter.fasttext_model import FastTextModel
from stages.schema import stable_hash


@dataclass(frozen=True, kw_only=True, slots=True)
class QualityTrainConfig:
    """Data and fastText parameters for `carding train-quality` (not used by the filter stage itself)."""

    positive_paths: list[str] = field(default_factory=list)
    """High-quality reference documents: files, folders or globs, read like `input.paths` (DCLM: OpenHermes-2.5 +
    ELI5). Required."""

    negative_paths: list[str] = field(default_factory=list)
    """Random documents of the corpus to filter (DCLM: random RefinedWeb pages). Required."""

    positive_where: str | None = None
    """SQL boolean expression selecting positives among the documents of positive_paths, e.g.
    `source LIKE '%gutenberg%'`; None takes them all. Carding choice (issue: "a filter expression over a corpus")."""

    negative_where: str | None = None
    """Same for negatives, e.g. `NOT (source LIKE '%gutenberg%')`."""

    max_docs_per_class: int | None = 200_000
    """Most documents per class, sampled by stable hash of the id; DCLM trains on 200 K of each."""

    balance_classes: bool = True
    """Sample both classes down to the smaller one's size, as DCLM trains on equal counts (200 K each): an
    unbalanced set pushes P(positive) below 0.5 for most documents (on the bundled sample, 420 positives
    against 1 790 negatives gave held-out recall 0 at 0.5)."""

    holdout_fraction: float = 0.1
    """Share of each class held out for precision/recall/F1 (carding choice)."""

    positive_label: str = "hq"
    """Label of positives (negatives are `lq`); the filter's `quality.positive_label` must match."""

    lr: float = 0.1
    """fastText learning rate; DCLM `train_fasttext_classifier.py` 0.1."""

    dim: int = 100
    """Embedding size; DCLM 100."""

    ws: int = 5
    """Context window; DCLM 5 (unused by supervised training, kept for the card)."""

    epoch: int = 5
    """Passes over the data; DCLM 5."""

    min_count: int = 1
    """Rarest word kept; DCLM 1."""

    word_ngrams: int = 2
    """Word n-gram features; 2 as in DCLM's released bigram model (its script defaults to 1)."""

    seed: int = 0
    """Seed of the sample, the split and fastText."""

    def __post_init__(self) -> None:
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ValueError(f"quality_training.holdout_fraction={self.holdout_fraction}: must be in (0, 1)")
        if self.max_docs_per_class is not None and self.max_docs_per_class < 2:
            raise ValueError(f"quality_training.max_docs_per_class={self.max_docs_per_class}: must be >= 2 or null")
        for name in ("dim", "epoch", "min_count", "word_ngrams", "ws"):
            if getattr(self, name) < 1:
                raise ValueError(f"quality_training.{name}={getattr(self, name)}: must be >= 1")
        if not self.lr > 0:
            raise ValueError(f"quality_training.lr={self.lr}: must be > 0")
        if not self.positive_label or self.positive_label == "lq":
            raise ValueError("quality_training.positive_label: must be a non-empty label other than lq")


def read_documents(paths: list[str], where: str | None = None) -> pa.Table:
    """Documents of paths (through `stages.read`), narrowed by an SQL expression; quarantined rows are left out."""
    import polars as pl

    from stages.read import ReadConfig, plan_partitions, read_partition

    config = ReadConfig(paths=list(paths))
    tables = [read_partition(part, config).documents for part in plan_partitions(config)]
    table = pa.concat_tables(tables) if tables else pa.table({"id": [], "text": []})
    if where:
        try:
            table = pl.from_arrow(table).filter(pl.sql_expr(where)).to_arrow()
        except Exception as e:  # polars raises several error types for a bad expression; name the expression
            raise ValueError(f"quality_training: cannot apply the SQL expression {where!r}: {e}") from e
    return table


def _split(table: pa.Table, config: QualityTrainConfig, side: str, n_max: int | None) -> tuple[list[str], list[str]]:
    """(train texts, held-out texts) of one class: the n_max first by hash of (seed, id), held out by another hash."""
    if table.num_rows < 2:
        raise ValueError(f"quality_training: {side} has {table.num_rows} documents, need at least 2")
    ids = table.column("id")
    order = np.argsort(stable_hash(ids, config.seed), kind="stable")
    if n_max is not None:
        order = order[:n_max]
    texts = pc.replace_substring_regex(table.column("text").take(pa.array(order)), r"[\n\r]+", " ").to_pylist()
    held = (stable_hash(ids.take(pa.array(order)), config.seed + 1) % 1_000_000) < config.holdout_fraction * 1e6
    if held.all() or not held.any():  # tiny inputs: keep at least one document on each side
        held = np.zeros(len(texts), dtype=bool)
        held[0] = True
    return [t for t, h in zip(texts, held) if not h], [t for t, h in zip(texts, held) if h]


def train_quality_classifier(config: QualityTrainConfig, output_path: str | Path) -> dict:
    """Train, evaluate on the held-out split, save the model at output_path and the card at `<output>.json`.

    Returns the card: {"model", "data", "params", "heldout": {"precision", "recall", "f1", "accuracy", "n"}}.
    """
    import fasttext

    if not config.positive_paths or not config.negative_paths:
        raise ValueError("quality_training: positive_paths and negative_paths are both required")
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    positives = read_documents(config.positive_paths, config.positive_where)
    negatives = read_documents(config.negative_paths, config.negative_where)
    n_max = config.max_docs_per_class
    if config.balance_classes:
        n_max = min(positives.num_rows, negatives.num_rows, n_max or positives.num_rows)
    pos_train, pos_held = _split(positives, config, "positives", n_max)
    neg_train, neg_held = _split(negatives, config, "negatives", n_max)
    pos, neg = f"__label__{config.positive_label}", "__label__lq"
    lines = [f"{pos} {t}" for t in pos_train] + [f"{neg} {t}" for t in neg_train]
    rng = np.random.default_rng(config.seed)
    lines = [lines[i] for i in rng.permutation(len(lines))]
    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        model = fasttext.train_supervised(
            input=str(train_file), lr=config.lr, dim=config.dim, ws=config.ws, epoch=config.epoch,
            minCount=config.min_count, wordNgrams=config.word_ngrams, thread=1, seed=config.seed, verbose=0)
    model.save_model(str(output_path))

    scorer = FastTextModel(str(output_path))
    held = pa.array(pos_held + neg_held, pa.large_string())
    labels, probs = scorer.predict(held, k=-1)
    score = np.array([dict(zip(row, p)).get(config.positive_label, 0.0) for row, p in zip(labels, probs)])
    truth = np.r_[np.ones(len(pos_held), dtype=bool), np.zeros(len(neg_held), dtype=bool)]
    pred = score >= 0.5
    tp, fp, fn = int((pred & truth).sum()), int((pred & ~truth).sum()), int((~pred & truth).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    card = {
        "model": str(output_path),
        "labels": {"positive": config.positive_label, "negative": "lq"},
        "data": {"positive_paths": config.positive_paths, "positive_where": config.positive_where,
                 "negative_paths": config.negative_paths, "negative_where": config.negative_where,
                 "train": {"positives": len(pos_train), "negatives": len(neg_train)},
                 "heldout": {"positives": len(pos_held), "negatives": len(neg_held)}},
        "params": {k: v for k, v in asdict(config).items() if k not in {
            "positive_paths", "negative_paths", "positive_where", "negative_where"}} | {"thread": 1},
        "heldout": {"precision": round(precision, 6), "recall": round(recall, 6), "f1": round(f1, 6),
                    "accuracy": round(float((pred == truth).mean()), 6), "n": len(truth), "threshold": 0.5},
    }
    card_path = output_path.with_suffix(".json")
    card_path.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return card
