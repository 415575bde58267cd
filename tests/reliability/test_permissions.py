"""Input the run may not read: a folder without read permission, a subfolder of one, a file, folders a glob lists.

Each must stop `carding run` with one line naming the path, before any work; none may be skipped without a word
(`os.walk` and `glob` skip a folder they cannot list unless told, and its documents would be silently missing).

CI runs as root, for whom `chmod 000` denies nothing. So the CLI runs in a child process that drops to `nobody`
(setgroups/setgid/setuid, which also drops root's capabilities) after importing carding: the interpreter lives
under /root here, which `nobody` cannot read, so the child imports first and then gives up root. As a non-root user
the child keeps its own ids, and chmod alone denies. The child checks that the denial is real before running.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import contextlib, io, json, os, sys
import pipelines.cli, pipelines.config, pipelines.paths, pipelines.runner, pipelines.summary  # import, then drop
from pipelines.cli import main
cases, uid, gid = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
results = {"euid": os.geteuid()}
for name, recipe, probe in cases:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["run", recipe, "--no-progress", "--num-cpus", "1"])
    results[name] = {"code": code, "err": err.getvalue(), "denied": not os.access(probe, os.R_OK)}
print(json.dumps(results))
"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Path]:
    """A folder every user may enter (pytest's tmp_path sits in a root-only folder): the child must reach it."""
    base = Path(tempfile.mkdtemp(prefix="carding-perm-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        for p in [base, *base.rglob("*")]:
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
        shutil.rmtree(base)


def _recipe(folder: Path, name: str, path: str) -> str:
    recipe = folder / f"{name}.yaml"
    recipe.write_text(f"input: {{paths: ['{path}']}}\noutput: {{dir: {folder / 'out' / name}}}\n")
    recipe.chmod(0o644)
    return str(recipe)


def test_an_unreadable_folder_or_file_stops_the_run_with_one_line_naming_it(world: Path) -> None:
    def doc_file(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"id": path.name, "text": "a document that must not go missing"}) + "\n")
        path.chmod(0o644)
        return path

    data = world / "data"
    locked = data / "locked"       # chmod 000: neither listed nor entered
    doc_file(data / "good.jsonl")
    doc_file(locked / "hidden.jsonl")
    doc_file(world / "files" / "ok.jsonl")
    secret = doc_file(world / "files" / "secret.jsonl")
    doc_file(world / "tree" / "a" / "deep" / "x.jsonl")
    for folder in (world / "data", world / "files", world / "tree", world / "tree" / "a", world / "tree" / "a" / "deep"):
        folder.chmod(0o755)
    locked.chmod(0o000)
    secret.chmod(0o000)
    (world / "tree" / "a").chmod(0o311)  # can be entered, not listed
    cases = {  # name: (input path, path that must be named, expected message after the path)
        "folder": (str(locked), str(locked), "folder is not readable"),
        "subfolder": (str(data), str(locked), "folder is not readable (Permission denied)"),
        "file": (str(world / "files"), str(secret), "input file is not readable"),
        "glob": (f"{data}/*/*.jsonl", str(locked), f"folder is not readable (the glob {data}/*/*.jsonl needs to list it)"),
        "recursive glob": (f"{world / 'tree'}/**/*.jsonl", str(world / "tree" / "a"), "folder is not readable"),
    }
    nobody = pwd.getpwnam("nobody")
    args = [[name, _recipe(world, name.replace(" ", "_"), path), named] for name, (path, named, _) in cases.items()]
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args), str(nobody.pw_uid), str(nobody.pw_gid)],
                          check=False, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    if not results["folder"]["denied"]:
        pytest.skip(f"cannot deny a read here: running as uid {os.geteuid()} and the child still reads a chmod-000 "
                    "folder (root without setuid, or CAP_DAC_OVERRIDE)")
    assert results["euid"] != 0
    for name, (_, named, message) in cases.items():
        r = results[name]
        assert r["code"] == 2, (name, r)
        assert r["err"].startswith(f"carding: error: {named}: {message}") and r["err"].count("\n") == 1, (name, r)
    assert not (world / "out").exists(), "a refused input must stop the run before the output folder is made"
