"""PackConfig: bad values fail before any work with a message saying what is allowed; field types stay within
what the YAML loader introspects (int, float, str, bool, X | None, StrEnum, list, dict, nested dataclasses)."""
from __future__ import annotations

import ast
import dataclasses
import inspect
import typing
from enum import StrEnum

import pytest

from packing import DecompositionConfig, KnotsConfig, PackConfig, Packer, RowTokens

ALLOWED = (int, float, str, bool, type(None))


def _allowed(tp: object) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        return all(_allowed(a) for a in typing.get_args(tp))
    if origin in (list, tuple, dict):
        return all(_allowed(a) for a in typing.get_args(tp) if a is not Ellipsis)
    return tp in ALLOWED or (isinstance(tp, type) and (issubclass(tp, StrEnum) or dataclasses.is_dataclass(tp)))


@pytest.mark.parametrize("cls", [PackConfig, DecompositionConfig, KnotsConfig])
def test_field_types_and_docstrings(cls):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        assert _allowed(hints[f.name]), f"{cls.__name__}.{f.name}: {hints[f.name]} is not a YAML-loadable type"
    assert cls.__dataclass_params__.frozen
    body = ast.parse(inspect.getsource(cls)).body[0].body
    documented = {a.target.id for a, b in zip(body, body[1:]) if isinstance(a, ast.AnnAssign)
                  and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str)}
    assert documented == {f.name for f in dataclasses.fields(cls)}, "every field needs a docstring naming its source"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_tokens": 0}, "max_tokens=0: must be >= 1"),
    ({"window_docs": 0}, "window_docs=0: must be >= 1, each window needs one document"),
    ({"packer": "best-fit"}, "packer='best-fit': must be one of"),
    ({"row_tokens": "L+2"}, "row_tokens='L\\+2': must be one of"),
    ({"packer": Packer.DECOMPOSITION, "max_tokens": 4096}, "2\\^kmax = 8192 must be <= max_tokens = 4096"),
    ({"packer": Packer.KNOTS, "max_tokens": 52}, "cannot hold 3 chunks plus their 50 marker tokens"),
])
def test_bad_values_say_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PackConfig(**kwargs)


def test_nested_bad_values():
    with pytest.raises(ValueError, match="kmin=9, kmax=8"):
        DecompositionConfig(kmin=9, kmax=8)
    with pytest.raises(ValueError, match="utk_share=1.5"):
        KnotsConfig(utk_share=1.5)
    with pytest.raises(ValueError, match="62 token ids"):
        KnotsConfig(rid_char_ids=[64, 65])


def test_capacity_follows_row_tokens():
    assert PackConfig(max_tokens=2048).capacity == 2048
    assert PackConfig(max_tokens=2048, row_tokens=RowTokens.L_PLUS_1).capacity == 2049
