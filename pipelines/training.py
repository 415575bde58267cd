"""The two training commands: a byte-level BPE on the recipe's input, and the fastText quality classifier.

Both read through the same readers as `carding run` (so quarantine rules apply) and write their model atomically.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from pipelines.config import ConfigError, load_config
from stages.filter import train_quality_classifier
from stages.read import plan_partitions, read_partition
from tokenization.bpe import train_tokenizer


def _documents(config_path: Path) -> Iterator[pa.Table]:
    config = load_config(config_path)
    for part in plan_partitions(config.input):
        docs = read_partition(part, config.input).documents
        if docs.num_rows:
            yield docs


def train_tokenizer_from_config(config_path: Path, output: Path) -> str:
    """Train the recipe's `tokenize.train` BPE on its input; returns a one-line summary."""
    config = load_config(config_path)
    path = train_tokenizer(config.tokenize, _documents(config_path), output)
    vocab = json.loads(Path(path).read_text())["model"]["vocab"]
    return f"{path}: byte-level BPE with {len(vocab):,} tokens"


def train_quality_from_config(config_path: Path, output: Path) -> str:
    """Train the classifier described by the recipe's `quality_training` section; returns its held-out scores."""
    config = load_config(config_path)
    if config.quality_training is None:
        raise ConfigError(f"{config_path}: quality_training: section missing (positive_paths, negative_paths, ...)")
    card = train_quality_classifier(config.quality_training, output)
    held = card["heldout"]
    return (f"{output}: fastText quality classifier; held-out precision {held['precision']:.3f}, "
            f"recall {held['recall']:.3f}, F1 {held['f1']:.3f} on {held['n']:,} documents")
