"""numba's array-math registry, loaded without SciPy: the first kernel of a fresh worker gets 0.2 s cheaper.

The first numba kernel a process runs (compiled or read from the cache) loads numba's CPU registries, and one of
them (`numba.np.arraymath`) imports `scipy.linalg` only to learn whether BLAS is there (`_check_blas`): 0.26 s of
the 0.66 s that a fresh filter worker spent loading its six cached kernels here, measured before this module.
BLAS serves numba's float `np.dot`, `np.convolve` and `np.correlate`; no carding kernel calls them, so the answer
changes no output. With `scipy.linalg` hidden numba believes BLAS absent, for this process; a process that
imported `scipy.linalg` first keeps the normal path.
"""
from __future__ import annotations

import sys


def load_numba_math() -> None:
    """Import `numba.np.arraymath` with `scipy.linalg` hidden, unless either is imported; call before a kernel runs.

    Hidden means `sys.modules["scipy.linalg"] = None` for the length of the import (numba reads the ImportError as
    "no BLAS"; numba itself imports the top `scipy` package, which is cheap); the entry is removed afterwards, so
    the process can still import `scipy.linalg` itself.
    """
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    sys.modules["scipy.linalg"] = None  # type: ignore[assignment]
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        if sys.modules.get("scipy.linalg", 0) is None:
            del sys.modules["scipy.linalg"]
