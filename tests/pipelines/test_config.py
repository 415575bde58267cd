"""Recipes: bad keys, types and values fail before any work with one line naming file and key; round trips hold."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import ConfigError, PipelineConfig, build, dump_yaml, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def test_sample_recipe_loads() -> None:
    config = load_config("configs/sample.yaml")
    assert config.input.paths == ["data/sample"]
    assert config.pack.max_tokens == 2048


def test_typo_in_a_key_names_file_path_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "input: {paths: [x]}\npack:\n  max_tokenz: 10\n")
    with pytest.raises(ConfigError, match=r"recipe.yaml: pack.max_tokenz: unknown key \(did you mean max_tokens\?\)"):
        load_config(path)


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "input: {paths: [x]}\npack:\n  max_tokens: lots\n")
    with pytest.raises(ConfigError, match=r"pack.max_tokens: expected an integer, got 'lots'"):
        load_config(path)


def test_negative_threshold_is_rejected_by_the_stage_config(tmp_path: Path) -> None:
    path = write(tmp_path, "input: {paths: [x]}\npack:\n  window_docs: -5\n")
    with pytest.raises(ConfigError, match=r"recipe.yaml: pack: window_docs=-5: must be >= 1"):
        load_config(path)


def test_bad_enum_value_lists_the_choices(tmp_path: Path) -> None:
    path = write(tmp_path, "input: {paths: [x]}\ntokenize:\n  scheme: bites\n")
    with pytest.raises(ConfigError, match=r"tokenize.scheme: 'bites' is not one of .*bytes.*did you mean bytes"):
        load_config(path)


def test_missing_config_file_is_one_line() -> None:
    with pytest.raises(ConfigError, match="nope.yaml: config file not found"):
        load_config("nope.yaml")


def test_overrides_replace_recipe_values() -> None:
    config = load_config("configs/sample.yaml", {"pack.max_tokens": 512, "output.dir": "elsewhere"})
    assert config.pack.max_tokens == 512 and config.output.dir == "elsewhere"


def test_round_trip_dataclass_yaml_dataclass() -> None:
    """The manifest stores the resolved config; loading it again must give the same config."""
    import yaml

    config = load_config("configs/sample.yaml")
    again = build(PipelineConfig, yaml.safe_load(dump_yaml(config)), "<round trip>")
    assert again == config
