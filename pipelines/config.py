"""YAML recipes → the stage config dataclasses, validated before any work starts (STYLE.md §3).

The loader knows no stage: it walks the dataclass fields of `PipelineConfig` and the stage configs it nests, so
defaults live only in those dataclasses. Every error names the file, the key path and what is allowed:
`configs/web.yaml: filter.gopher_quality.min_wrods: unknown key (did you mean min_doc_words?)`.
"""
from __future__ import annotations

import dataclasses
import difflib
import enum
import reprlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from packing import PackConfig
from pipelines.shards import ShardConfig
from stages.dedup.config import DedupConfig
from stages.filter import FilterConfig, QualityTrainConfig
from stages.read import ReadConfig
from stages.rewrite.config import RewriteConfig
from tokenization import TokenizeConfig


class ConfigError(ValueError):
    """A recipe that cannot run: the message is one line naming file, key path and what is allowed."""


@dataclass(frozen=True, kw_only=True, slots=True)
class OutputConfig:
    dir: str = "out/carding"
    """Output folder: shards/, rejected/, duplicates/, quarantine/, report.json, manifest.json (written last)."""
    overwrite: bool = False
    """carding choice: refuse to mix a finished run with a new config unless asked; a resume of the same config
    never needs this (finished partitions are found by name and skipped)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RayConfig:
    address: str | None = None
    """Ray cluster to join; None uses RAY_ADDRESS, or the cluster of `ray job submit`, or starts an embedded Ray."""
    num_cpus: int | None = None
    """CPUs of the embedded Ray (None = all of this machine). Ignored when joining a cluster."""
    progress: bool = True
    """Ray Data progress bars on long stages."""

    def __post_init__(self) -> None:
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ValueError(f"num_cpus={self.num_cpus}: must be >= 1 (or null for all CPUs)")


@dataclass(frozen=True, kw_only=True, slots=True)
class PipelineConfig:
    """One run: where the documents come from, what each stage does, where shards go."""

    name: str = "carding"
    """A label for the run, printed in the report and stored in the manifest."""
    seed: int = 0
    """The one seed of the run; stages derive theirs from it and from document ids."""
    input: ReadConfig
    output: OutputConfig = field(default_factory=OutputConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    rewrite: RewriteConfig = field(default_factory=RewriteConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    pack: PackConfig = field(default_factory=PackConfig)
    shards: ShardConfig = field(default_factory=ShardConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    quality_training: QualityTrainConfig | None = None
    """What `carding train-quality` trains on (not used by `carding run`, which loads filter.quality.model_path)."""


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Read a YAML recipe and build a validated `PipelineConfig`; raise ConfigError naming file and key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8")) or {}
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from e
    except yaml.YAMLError as e:
        raise ConfigError(yaml_error_line(str(path), e)) from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value, str(path))
    return build(PipelineConfig, data, str(path))


def build(cls: type, data: Any, file: str, keypath: str = "") -> Any:
    """Turn plain YAML data into an instance of the config dataclass `cls`, checking every key and type."""
    return _convert(cls, data, file, keypath)


def to_dict(config: Any) -> Any:
    """A config dataclass as plain YAML/JSON data (enums as their values): the manifest's `config`."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, enum.Enum):
        return config.value
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    if isinstance(config, dict):
        return {k: to_dict(v) for k, v in config.items()}
    if isinstance(config, Path):
        return str(config)
    return config


def dump_yaml(config: Any) -> str:
    """The resolved config as YAML, loadable again by `load_config`."""
    return yaml.safe_dump(to_dict(config), sort_keys=False, allow_unicode=True)


def yaml_error_line(where: str, error: yaml.YAMLError) -> str:
    """A YAML error as one line naming `where` and the line:column; a tag that would construct a Python object
    (`!!python/object/apply:os.system`) is named as refused: `yaml.safe_load` builds plain data only."""
    mark = getattr(error, "problem_mark", None)
    place = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark is not None else where
    problem = " ".join(str(getattr(error, "problem", None) or error).split())
    context = getattr(error, "context", None)
    if isinstance(error, yaml.constructor.ConstructorError) and "constructor for the tag" in problem:
        return (f"{place}: not valid YAML ({problem}); a carding config holds plain data only: "
                f"tags that build Python objects or name code are refused")
    return f"{place}: not valid YAML ({f'{context}: ' if context else ''}{problem})"


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 1, 5, 5, 80, 80


def _short(value: Any) -> str:
    """A bounded repr for error messages: a YAML alias bomb (a list of lists of aliases) repr'd in full would be
    exponential in size."""
    return _REPR.repr(value)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any, file: str = "--set") -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for i, key in enumerate(parents):
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise _fail(file, ".".join(parents[: i + 1]), f"holds {type(node).__name__} {_short(node)}, "
                                                          f"not a section: cannot set {dotted}")
    node[leaf] = value


def _fail(file: str, keypath: str, message: str) -> ConfigError:
    return ConfigError(f"{file}: {keypath or '<top level>'}: {message}")


def _convert(tp: Any, value: Any, file: str, keypath: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # `X | None`: errors inside X keep their full key path
            return _convert(options[0], value, file, keypath)
        errors = []
        for option in options:
            try:
                return _convert(option, value, file, keypath)
            except ConfigError as e:
                errors.append(str(e).split(": ", 2)[-1])
        raise _fail(file, keypath, " or ".join(dict.fromkeys(errors)))
    if dataclasses.is_dataclass(tp):
        return _convert_dataclass(tp, value, file, keypath)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        allowed = [m.value for m in tp]
        if value not in allowed:
            hint = difflib.get_close_matches(value, [str(a) for a in allowed], n=1) if isinstance(value, str) else []
            extra = f" (did you mean {hint[0]}?)" if hint else ""
            raise _fail(file, keypath, f"{_short(value)} is not one of {', '.join(map(str, allowed))}{extra}")
        return tp(value)
    if origin in (list, tuple):
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise _fail(file, keypath, f"expected a list, got {type(value).__name__} {_short(value)}")
        item_tp = args[0] if args else Any
        items = [_convert(item_tp, v, file, f"{keypath}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp) or (str, Any)
        if not isinstance(value, dict):
            raise _fail(file, keypath, f"expected a mapping, got {type(value).__name__}")
        return {_convert(key_tp, k, file, keypath): _convert(val_tp, v, file, f"{keypath}.{k}") for k, v in value.items()}
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise _fail(file, keypath, f"{_short(value)} is not one of {', '.join(map(repr, allowed))}")
        return value
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(file, keypath, f"expected true or false, got {_short(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(file, keypath, f"expected an integer, got {_short(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(file, keypath, f"expected a number, got {_short(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(file, keypath, f"expected a string, got {_short(value)}")
        return value
    if tp is Path:
        if not isinstance(value, str):
            raise _fail(file, keypath, f"expected a path, got {_short(value)}")
        return Path(value)
    raise _fail(file, keypath, f"unsupported config type {tp!r} (a carding bug: tell the maintainers)")


def _convert_dataclass(cls: type, value: Any, file: str, keypath: str) -> Any:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise _fail(file, keypath, f"expected a mapping of {cls.__name__} settings, got {type(value).__name__} {_short(value)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, raw in value.items():
        sub = f"{keypath}.{key}" if keypath else str(key)
        if key not in fields:
            hint = difflib.get_close_matches(str(key), list(fields), n=1)
            allowed = f"did you mean {hint[0]}?" if hint else f"allowed: {', '.join(fields)}"
            raise _fail(file, sub, f"unknown key ({allowed})")
        kwargs[key] = _convert(hints[key], raw, file, sub)
    missing = [
        name for name, f in fields.items()
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise _fail(file, f"{keypath}.{missing[0]}" if keypath else missing[0], "required key is missing")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise _fail(file, keypath, str(e)) from e
