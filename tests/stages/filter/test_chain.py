"""The filter stage's contract: same rows, first reason wins, score columns present, picklable for Ray."""
import pickle

import pyarrow as pa
import pytest

from stages.filter import FilterChain, FilterConfig, LanguageConfig, LengthConfig
from stages.reasons import count_reasons, split_kept


def _batch(texts: list[str]) -> pa.RecordBatch:
    n = len(texts)
    return pa.RecordBatch.from_pydict({
        "id": [f"d{i}" for i in range(n)], "text": pa.array(texts, pa.large_string()),
        "source": ["t"] * n, "meta": ["{}"] * n})


def test_same_rows_and_columns_added():
    """Filters never drop rows; every output column of the contract is present with its type."""
    batch = _batch(["", "two words", "The cat sat on the mat. " * 30])
    out = pickle.loads(pickle.dumps(FilterChain(FilterConfig()))).process(batch)
    assert out.num_rows == batch.num_rows
    assert out.column("id").to_pylist() == batch.column("id").to_pylist()
    assert out.schema.field("rewrite_candidate").type == pa.bool_()
    for name in ("reject_reason", "language", "language_score", "quality_score"):
        assert name in out.schema.names
    reasons = out.column("reject_reason").to_pylist()
    assert reasons[0] == "length.too_short"
    kept, rejected = split_kept(out)
    assert kept.num_rows + rejected.num_rows == batch.num_rows
    assert sum(count_reasons(out).values()) == rejected.num_rows


def test_earlier_reason_is_kept():
    """A row rejected upstream keeps its reason and is not re-scored."""
    batch = _batch(["", "x"]).append_column("reject_reason", pa.array(["read.bad", None], pa.string()))
    out = FilterChain(FilterConfig(length=LengthConfig(min_chars=5))).process(batch)
    assert out.column("reject_reason").to_pylist() == ["read.bad", "length.too_short"]


def test_missing_model_path_names_it():
    with pytest.raises(ValueError, match="/no/such/lid.ftz"):
        LanguageConfig(model_path="/no/such/lid.ftz")


def test_bad_value_says_what_is_allowed():
    with pytest.raises(ValueError, match="must be"):
        LengthConfig(min_chars=-1)
