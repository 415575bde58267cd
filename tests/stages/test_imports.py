"""stages.imports: pyarrow stops importing pandas for its conversions, and pandas still works when asked for by
name. Each check runs in a fresh interpreter: this test process has imported pandas long before."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_conversions_skip_pandas_and_an_explicit_use_brings_it_back() -> None:
    out = _run(
        "import sys, numpy as np, pyarrow as pa, pyarrow.compute as pc\n"
        "from stages.imports import arrow_without_pandas\n"
        "arrow_without_pandas()\n"
        "pa.array(np.arange(3)); pa.scalar(1.5); pc.equal(pa.array([1, 2]), 1)\n"
        "print('pandas' in sys.modules)\n"
        "import pandas as pd\n"
        "print(type(pa.table({'a': [1]}).to_pandas()).__name__)\n"
        "print(pa.array(pd.Series([1.0, None])).null_count)\n"  # pandas' NaN is null again: pyarrow knows pandas
    )
    assert out.split() == ["False", "DataFrame", "1"]


def test_without_it_the_first_conversion_imports_pandas() -> None:
    # the cost being avoided: if pyarrow stopped doing this, the function would have nothing left to do
    assert _run("import sys, pyarrow as pa\npa.array([0])\nprint('pandas' in sys.modules)") == "True"


def test_no_op_once_pandas_is_imported() -> None:
    out = _run(
        "import sys, pandas as pd, pyarrow as pa\n"
        "from stages.imports import arrow_without_pandas\n"
        "arrow_without_pandas()\n"
        "print(pa.array(pd.Series([1.0, None])).null_count, any(type(f).__name__ == '_Refuse' for f in sys.meta_path))"
    )
    assert out.split() == ["1", "False"]
