"""RewriteConfig rejects bad values before any work starts, naming the key; defaults are the paper's."""
from __future__ import annotations

import dataclasses

import pytest
import yaml

from stages.rewrite.config import Backend, Output, RewriteConfig, Select


def test_defaults_are_the_papers() -> None:
    c = RewriteConfig()
    assert not c.enabled and c.select == Select.CANDIDATES
    assert (c.temperature, c.top_p, c.max_tokens, c.keep_top_share, c.mix_token_ratio) == (1.0, 0.9, 8192, 0.1, 1.0)
    assert c.api_key_env == "CARDING_LLM_API_KEY" and c.max_draft_tokens == 3072


@pytest.mark.parametrize(("changes", "key"), [
    ({"enabled": True}, "rewrite.model"),
    ({"max_concurrency": 0}, "max_concurrency"),
    ({"retries": -1}, "retries"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"top_p": 0.0}, "top_p"),
    ({"temperature": 3.0}, "temperature"),
    ({"keep_top_share": 0.0}, "keep_top_share"),
    ({"mix_token_ratio": -1.0}, "mix_token_ratio"),
    ({"max_draft_tokens": 0}, "max_draft_tokens"),
    ({"max_plan_chars": 0}, "max_plan_chars"),
    ({"min_document_chars": 0}, "min_document_chars"),
    ({"prompt_file": "/nonexistent/prompt.txt"}, "prompt_file"),
    ({"refilter_reference": "/nonexistent/ref.jsonl"}, "refilter_reference"),
    ({"base_url": "127.0.0.1:8000"}, "base_url"),
    ({"enabled": True, "model": "m"}, "refilter_reference"),
])
def test_bad_values_raise_naming_the_key(changes: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        RewriteConfig(**changes)


def test_round_trip_through_yaml() -> None:
    c = RewriteConfig(model="m", select=Select.ALL_PASSING, backend=Backend.PASSTHROUGH, mix_token_ratio=None,
                      output=Output.JSON_OBJECT, max_plan_chars=300)
    text = yaml.safe_dump({k: (str(v) if isinstance(v, (Select, Backend, Output)) else v)
                           for k, v in dataclasses.asdict(c).items()})
    data = yaml.safe_load(text)
    back = RewriteConfig(**{**data, "select": Select(data["select"]), "backend": Backend(data["backend"]),
                            "output": Output(data["output"])})
    assert back == c


def test_stage_package_imports_without_ray() -> None:
    """STYLE.md §1: stages/ is pure logic; only pipelines/ may import Ray."""
    import subprocess
    import sys

    code = "import sys; sys.modules['ray'] = None; import stages.rewrite, stages.rewrite.local_server"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", ["rewrite.yaml", "rewrite-vllm.yaml"])
def test_shipped_rewrite_recipes_load(name: str) -> None:
    """The shipped recipes stay valid as the config grows (a typo'd key would fail `carding run` at once)."""
    from pipelines.config import load_config

    config = load_config(f"configs/{name}").rewrite
    assert config.enabled and config.output in (Output.JSON_SCHEMA, Output.JSON_OBJECT)
