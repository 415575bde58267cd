"""TokenizeConfig: bad values fail before any work with a message naming the field; id layouts never overlap."""
from __future__ import annotations

import dataclasses
import typing

import pytest

from tokenization import BpeTrainConfig, Codec, Layout, Scheme, TokenizeConfig
from tokenization.layout import byt5_layout, carding_layout


@pytest.mark.parametrize("bad, field", [(dict(window_bytes=0), "window_bytes"), (dict(share=1.5), "share"),
                                        (dict(pair_prob=-0.1), "pair_prob"), (dict(level=99), "level"),
                                        (dict(codec="gzip", level=12), "level"), (dict(seed=-1), "seed"),
                                        (dict(scheme="proxy", layout="byt5"), "layout"),
                                        (dict(scheme="bpe"), "bpe_path"),
                                        (dict(scheme="bpe", bpe_path="/nonexistent/tokenizer.json"),
                                         "/nonexistent/tokenizer.json")])
def test_config_rejects_bad_values(bad: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        TokenizeConfig(**bad)


def test_train_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        BpeTrainConfig(vocab_size=100)
    with pytest.raises(ValueError, match="special_tokens"):
        BpeTrainConfig(special_tokens=["<a>", "<a>"])
    # bpe with `train` set may name a model that train-tokenizer has not written yet
    assert TokenizeConfig(scheme="bpe", bpe_path="/not/yet.json", train=BpeTrainConfig()).train is not None


def test_field_types_are_the_loader_kinds() -> None:
    """Every field is one of the kinds pipelines/config's YAML loader introspects (int, float, str, bool,
    X | None, StrEnum, list[T], nested config dataclass), so a recipe can set any of them."""
    allowed = {int, float, str, bool, type(None), Scheme, Layout, Codec, BpeTrainConfig}
    for cls in (TokenizeConfig, BpeTrainConfig):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            args = typing.get_args(hint) or (hint,)
            for arg in args:
                origin = typing.get_origin(arg)
                assert arg in allowed or (origin is list and typing.get_args(arg)[0] in allowed), (f.name, hint)


@pytest.mark.parametrize("layout", [carding_layout(False), carding_layout(True), byt5_layout()])
def test_layout_ids_are_disjoint(layout) -> None:
    """Specials, markers, raw bytes and compressed bytes occupy disjoint id ranges inside the vocabulary."""
    ranges = [set(layout.specials.values()), set(layout.markers),
              set(range(layout.byte_base, layout.byte_base + 256))]
    if layout.comp_base is not None:
        ranges.append(set(range(layout.comp_base, layout.comp_base + 256)))
    union = set().union(*ranges)
    assert len(union) == sum(map(len, ranges)) and max(union) < layout.vocab_size
