"""Where carding may write: everything it writes resolves inside the output folder.

The rule (issue 10, untrusted inputs): the output folder itself is the user's choice (`output.dir`, `--output`,
`--set output.dir=...`, and it may be a symlink: it is resolved once). Every file carding writes is named *inside*
it, and must still be inside once resolved: no `..`, no absolute part, no symlink under the folder that leads out.
Names that come from input (file names become partition keys) are made of `[A-Za-z0-9_-]` only, so they cannot
carry a path (stages/read/partitions.py); the checks here catch what slips past that, and planted symlinks.

A check costs one `resolve()` per file written and one walk of the folder per run (`lstat` per entry, no reads).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["PLAIN_NAME", "check_output_tree", "inside_output"]

PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
"""A folder or file name carding makes: starts with a letter or digit (so not hidden, not `.` or `..`), no `/`."""


def inside_output(out_dir: str | Path, relative: str | Path) -> Path:
    """`out_dir / relative`, after checking it resolves inside the resolved `out_dir`; raise ValueError naming both.

    `relative` must be relative and free of `..`; a symlink already on disk along the way that leads outside
    `out_dir` is refused too (its target is where the bytes would land).
    """
    out = Path(out_dir)
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"{relative}: an output name must be a relative path without '..' "
                         f"(it would be written outside the output folder {out})")
    path = out / rel
    root = out.resolve()
    target = path.resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"{path}: resolves to {target}, outside the output folder {root} (a symlink inside it "
                         f"leads out); remove the link or choose another output folder")
    return path


def check_output_tree(out_dir: str | Path) -> None:
    """Raise ValueError naming the first symlink under `out_dir` whose target is outside it (or missing).

    Run before a run writes: carding creates folders with `mkdir(exist_ok=True)` and writes into them, so a planted
    `out/shards -> /somewhere` would redirect every shard. Links that stay inside the folder are allowed.
    A folder that does not exist yet passes (carding creates it); `out_dir` itself may be a symlink.
    """
    out = Path(out_dir)
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() and not out.exists():
        raise ValueError(f"{out}: the output folder is a symlink to {os.readlink(out)}, which does not exist")
    if not out.is_dir():
        raise ValueError(f"{out}: the output folder exists and is not a folder")
    root = out.resolve()

    def refuse(error: OSError) -> None:
        raise ValueError(f"{error.filename}: cannot list it inside the output folder ({error.strerror})") from error

    for folder, dirs, files in os.walk(out, onerror=refuse):  # walk does not follow symlinked folders
        for name in sorted(dirs + files):
            path = Path(folder) / name
            if not path.is_symlink():
                continue
            target = path.resolve()
            if not path.exists():
                raise ValueError(f"{path}: a symlink to {os.readlink(path)}, which does not exist, inside the output "
                                 f"folder {root}; remove it")
            if target != root and root not in target.parents:
                raise ValueError(f"{path}: a symlink to {target}, outside the output folder {root}; carding writes "
                                 f"only inside the output folder: remove the link or choose another output folder")
