"""Untrusted configs: a recipe is plain data. YAML builds no Python object, no config value names code to import,
and a hostile or broken recipe ends in one line naming the file, never in a traceback, a hang or a side effect.

Protects issue 10's "YAML is loaded safely (no object construction), a config cannot name code to import". Pure
functions and the CLI's config step only: no Ray starts here.
"""
from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from pathlib import Path

import pytest
import yaml

from pipelines.cli import main
from pipelines.config import ConfigError, PipelineConfig, load_config

REPO = Path(__file__).resolve().parents[2]

OBJECT_TAGS = [
    "!!python/object/apply:os.mkdir [{marker}]",
    "!!python/object/new:os.mkdir [{marker}]",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/object:pathlib.PosixPath {{}}",
]


@pytest.mark.parametrize("tag", OBJECT_TAGS)
def test_a_yaml_tag_that_builds_a_python_object_is_refused_in_one_line(tmp_path: Path, capsys, tag: str) -> None:
    marker = tmp_path / "made-by-yaml"
    payload = tag.format(marker=f'"{marker}"')
    recipe = tmp_path / "hostile.yaml"
    recipe.write_text(f"name: {payload}\ninput: {{paths: [x.jsonl]}}\n")
    if "apply" in tag:  # the payload is live: PyYAML's unsafe loader runs it (so the refusal below is real)
        yaml.unsafe_load(recipe.read_text())
        assert marker.is_dir()
        marker.rmdir()
    with pytest.raises(ConfigError) as info:
        load_config(recipe)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{recipe}:1:7: not valid YAML ("), message
    assert "tags that build Python objects or name code are refused" in message
    assert not marker.exists()
    assert main(["run", str(recipe)]) == 2  # the CLI: exit 2, the same line
    assert capsys.readouterr().err == f"carding: error: {message}\n"
    # The same payload in a --set value (parsed as YAML too) is refused the same way.
    assert main(["run", str(REPO / "configs" / "sample.yaml"), "--set", f"name={payload}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("carding: error: --set name:1:1: not valid YAML (") and err.count("\n") == 1, err
    assert not marker.exists()


def _leaf_types(tp: typing.Any, keypath: str) -> typing.Iterator[tuple[str, typing.Any]]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType, list, tuple, dict):
        for arg in typing.get_args(tp):
            if arg is not Ellipsis:
                yield from _leaf_types(arg, keypath)
    elif dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        for f in dataclasses.fields(tp):
            yield from _leaf_types(hints[f.name], f"{keypath}.{f.name}" if keypath else f.name)
    else:
        yield keypath, tp


def test_every_config_value_is_plain_data_so_no_value_can_name_code() -> None:
    """Walk every field of every section: a leaf is a str, number, bool, path, null, enum or literal. A Callable,
    `type`, `Any` or `object` field would let a recipe carry code or an object; nothing resolves a dotted path."""
    plain = (str, int, float, bool, Path, type(None))
    leaves = list(_leaf_types(PipelineConfig, ""))
    assert len(leaves) > 100, "the walk must reach the stage configs"
    odd = [(key, tp) for key, tp in leaves
           if tp not in plain and not (isinstance(tp, type) and issubclass(tp, enum.Enum))
           and typing.get_origin(tp) is not typing.Literal]
    assert odd == []


FORBIDDEN_CALLS = re.compile(r"\b(import_module|__import__|eval|exec|unsafe_load|full_load|pydoc\.locate|"
                             r"pickle\.loads?|marshal\.loads?)\s*\(|yaml\.load\(|Loader\s*=")


def test_no_package_imports_or_evaluates_a_name_taken_from_data() -> None:
    """The code side of the same promise: no module of carding's packages turns a string into code (dynamic import,
    eval/exec, an object-building YAML loader, unpickling). `importlib.util.find_spec("<literal>")`, which locates
    a bundled model file, is allowed."""
    files = [p for pkg in ("pipelines", "stages", "tokenization", "packing") for p in sorted((REPO / pkg).rglob("*.py"))]
    assert len(files) > 40
    hits = [f"{p.relative_to(REPO)}:{i}: {line.strip()}" for p in files
            for i, line in enumerate(p.read_text().splitlines(), 1)
            if FORBIDDEN_CALLS.search(line.split("#", 1)[0])]
    assert hits == []


def test_an_enum_value_naming_code_is_just_an_unknown_choice(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("input: {paths: [x.jsonl]}\ntokenize: {scheme: os.system}\n")
    with pytest.raises(ConfigError, match=r"r\.yaml: tokenize\.scheme: 'os\.system' is not one of "):
        load_config(recipe)


def test_a_yaml_alias_bomb_fails_fast_with_a_short_line(tmp_path: Path) -> None:
    """Six levels of ten aliases are 10^6 strings when expanded; the error names the key with a bounded repr of
    the value (an unbounded repr of nine levels would not finish)."""
    bomb = "&a0 [x, x, x, x, x, x, x, x, x, x]"
    for i in range(1, 6):  # level i: its own anchor, the level below written out once, then 9 aliases of it
        bomb = f"&a{i} [{bomb}, {', '.join([f'*a{i - 1}'] * 9)}]"
    recipe = tmp_path / "bomb.yaml"
    recipe.write_text(f"input: {{paths: [{bomb}]}}\n")
    assert len(recipe.read_text()) < 500
    body = yaml.safe_load(recipe.read_text())
    assert len(str(body["input"]["paths"])) > 5_000_000  # the bomb is armed
    with pytest.raises(ConfigError) as info:
        load_config(recipe)
    message = str(info.value)
    assert message.startswith(f"{recipe}: ") and "\n" not in message and len(message) < 400, message[:400]


@pytest.mark.parametrize(("body", "args", "expected"), [
    (b"name: caf\xe9\ninput: {paths: [x]}\n", [], r"^{recipe}: not UTF-8 text \(byte 9: invalid continuation"),
    (b"input: {paths: [x\n", [], r"^{recipe}:2:1: not valid YAML \(while parsing a flow sequence: expected ',' or ']'"),
    (b"input: {paths: [x]}\n", ["--set", "input.paths.extra=1"],
     r"^{recipe}: input\.paths: holds list \['x'\], not a section: cannot set input\.paths\.extra$"),
    (b"- just\n- a list\n", [], r"^{recipe}: the top level must be a mapping of sections, got list$"),
])
def test_a_broken_recipe_is_one_line_naming_it(tmp_path: Path, capsys, body: bytes, args: list[str],
                                               expected: str) -> None:
    recipe = tmp_path / "broken.yaml"
    recipe.write_bytes(body)
    assert main(["run", str(recipe), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert re.search(expected.format(recipe=re.escape(str(recipe))), err.removeprefix("carding: error: ")), err
