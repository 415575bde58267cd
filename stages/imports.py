"""Imports that a fresh Ray worker pays for once, made cheaper by hiding modules it never uses while they import.

numba's array-math registry: the first numba kernel a process runs (compiled or read from the cache) loads numba's
CPU registries, and one of them (`numba.np.arraymath`) imports `scipy.linalg` only to learn whether BLAS is there
(`_check_blas`): 0.26 s of the 0.66 s that a fresh filter worker spent loading its six cached kernels here,
measured before this module. BLAS serves numba's float `np.dot`, `np.convolve` and `np.correlate`; no carding kernel
calls them, so the answer changes no output.

pandas: pyarrow's first conversion of a Python or numpy object (`pa.array`, `pa.scalar`, a compute call with a
Python scalar) imports pandas, ~300 modules, only to learn whether the object is a pandas one. A fresh worker of
the 16-core device machine paid 0.4 s of its first filter call for it, 16 at once (`arrow_without_pandas`).
"""
from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.machinery import ModuleSpec


@contextmanager
def hidden_modules(*names: str) -> Iterator[None]:
    """Make `import name` fail for each of `names` not yet imported, for the length of the block.

    Hidden means `sys.modules[name] = None`, which an import reads as "not installed"; the entries are removed
    afterwards, so the process can still import those modules itself (what imported inside the block keeps
    believing them absent).
    """
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def load_numba_math() -> None:
    """Import `numba.np.arraymath` with `scipy.linalg` hidden, unless either is imported; call before a kernel runs.

    numba reads the ImportError as "no BLAS" for this process (it imports the top `scipy` package itself, which is
    cheap); a process that imported `scipy.linalg` first keeps the normal path.
    """
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    with hidden_modules("scipy.linalg"):
        import numba.np.arraymath  # noqa: F401


class _Refuse(importlib.abc.MetaPathFinder):
    """An import finder that answers "not installed" for `names` and their submodules.

    Not `hidden_modules`: pyarrow's Cython import reads a `None` in sys.modules as the module itself, and fails on
    it with an AttributeError instead of an ImportError."""

    def __init__(self, *names: str) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: object, target: object = None) -> ModuleSpec | None:
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (refused while pyarrow looks)", name=fullname)
        return None


def arrow_without_pandas() -> None:
    """Let pyarrow look for pandas once while pandas is refused, so that its conversions stop importing it.

    For a process that runs only carding's tasks (a Ray worker): those never hand pyarrow a pandas object. What
    changes: pyarrow no longer recognises a pandas object passed to `pa.array` (it reads it as a plain sequence)
    until something asks for pandas by name. An explicit use (`to_pandas`, `from_pandas`) retries the import,
    which then succeeds, and from then on pyarrow behaves as usual. No-op where pandas is imported already.

    Device, 16 fresh processes at once, import + first filter call: 4.33-4.65 s with pandas, 3.99-4.16 s without.
    """
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    refuse = _Refuse("pandas")
    sys.meta_path.insert(0, refuse)
    try:
        pa.array([0])  # pyarrow's pandas shim tries its import here, once per process
    finally:
        sys.meta_path.remove(refuse)
