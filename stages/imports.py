"""Imports that a fresh Ray worker pays for once, made cheaper by hiding modules it never uses while they import.

numba's array-math registry: the first numba kernel a process runs (compiled or read from the cache) loads numba's
CPU registries, and one of them (`numba.np.arraymath`) imports `scipy.linalg` only to learn whether BLAS is there
(`_check_blas`): 0.26 s of the 0.66 s that a fresh filter worker spent loading its six cached kernels here,
measured before this module. BLAS serves numba's float `np.dot`, `np.convolve` and `np.correlate`; no carding kernel
calls them, so the answer changes no output.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


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
