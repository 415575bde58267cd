"""`carding run` on a real local Ray under faults: bad input, SIGKILL of the driver in each stage, 1 vs 2 CPUs.

Protects issue 10's promises: every input record is kept, removed with a reason or quarantined with a reason; a
rerun after a crash resumes and writes the same bytes as an uninterrupted run, with no document lost or duplicated;
a killed run leaves no partial file under a final name; the shards do not depend on the number of Ray CPUs.

Every run is the CLI in a subprocess (`python -m pipelines run`), as a user or a cluster job runs it, so the test
can SIGKILL it. One uninterrupted reference run is shared by the module; the corpus is small (a few hundred
documents over 17 files) because each run costs tens of seconds on 2 cores.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import ipc

from pipelines.validate import validate_output
from pipelines.windows import FAULT_KILL_TOKENIZE
from stages.read import ReadConfig, plan_partitions, read_partition
from tests.data.bad_inputs import generate_bad_inputs, prose

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[2]
RUN_KINDS = ("malformed_json", "invalid_utf8", "surrogates", "nul_bytes", "missing_text", "duplicate_id",
             "empty_docs", "large_doc", "truncated_zst", "truncated_gz", "empty_file")
"""The bad inputs that end in quarantine rows (the refused ones stop a run: see test_bad_inputs.py)."""
MAX_DOC_BYTES = 100_000
RUN_TIMEOUT_S = 900


def write_corpus(folder: Path) -> dict[str, dict]:
    """Bad-input files plus four files of prose with planted exact copies; returns the generator's expectations."""
    expected = generate_bad_inputs(folder, seed=0, large_doc_bytes=3 * MAX_DOC_BYTES, kinds=RUN_KINDS)
    (folder / "empty_file.parquet").unlink()  # a refused file: it would stop the run
    del expected["empty_file.parquet"]
    rng = random.Random(10)
    for f in range(4):
        docs = [{"id": f"prose{f}-{i}", "text": prose(rng, 60 + rng.randrange(120))} for i in range(50)]
        docs += [{"id": f"prose{f}-copy-{i}", "text": docs[i]["text"]} for i in range(2)]
        (folder / f"prose{f}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
        expected[f"prose{f}.jsonl"] = {"documents": len(docs), "quarantined": {}}
    return expected


def write_recipe(path: Path, inputs: Path, out: Path) -> Path:
    path.write_text(
        f"name: reliability\ninput:\n  paths: [{inputs}]\n  max_doc_bytes: {MAX_DOC_BYTES}\n"
        f"output:\n  dir: {out}\nfilter:\n  length: {{min_chars: 100}}\ntokenize: {{scheme: bytes}}\n"
        "pack: {packer: best_fit, max_tokens: 512, window_docs: 50}\nshards: {formats: [parquet, arrow]}\n")
    return path


def carding(recipe: Path, *args: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `python -m pipelines run RECIPE` in its own session, so its Ray processes can be found and ended."""
    with open(log, "ab") as f:
        return subprocess.Popen([sys.executable, "-m", "pipelines", "run", str(recipe), "--no-progress", *args],
                                cwd=REPO, stdout=f, stderr=subprocess.STDOUT, start_new_session=True, env=env)


def end_session(proc: subprocess.Popen) -> None:
    """SIGKILL what is left of a run we started: Ray's agents and workers live in the driver's session."""
    for pid in _session_pids(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _session_pids(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # state ppid pgrp session ...
        if int(fields[3]) == sid and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


STARVED = b"may hang forever"
"""Ray Data's own line for an operator that cannot get resources (after RAY_DATA_STARVATION_WARNING_DELAY_S)."""


def run_to_end(recipe: Path, *args: str, log: Path, stop_when_starved: bool = False,
               env: dict[str, str] | None = None) -> int:
    """Exit code of a whole run; with stop_when_starved, -9 as soon as Ray logs that the run cannot progress.
    `env`: variables added to this process's environment for the run."""
    extra = {**(env or {}), **({"RAY_DATA_STARVATION_WARNING_DELAY_S": "20"} if stop_when_starved else {})}
    env = {**os.environ, **extra} if extra else None
    proc = carding(recipe, *args, log=log, env=env)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if stop_when_starved and STARVED in log.read_bytes():
                os.kill(proc.pid, signal.SIGKILL)
            time.sleep(0.5)
        return proc.wait(timeout=10)
    finally:
        end_session(proc)


def run_and_kill(recipe: Path, when: Callable[[], bool], log: Path, *args: str) -> bool:
    """Start a run and SIGKILL its driver as soon as `when()` holds; False if the run ended first."""
    proc = carding(recipe, *args, log=log)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if when():
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.02)
        return False
    finally:
        end_session(proc)


def visible_files(out: Path) -> dict[str, bytes]:
    """Every file under a final name (temp files start with '.'), except timings (report.json, _work markers)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not p.name.startswith(".") and p.relative_to(out).parts[0] != "_work"
            and p.name != "report.json"}


def assert_complete(out: Path) -> None:
    """A killed run leaves only complete files under final names: each parses in full."""
    for p in sorted(out.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        if p.suffix == ".parquet":
            pq.read_table(p)
        elif p.suffix == ".arrow":
            with pa.memory_map(str(p), "r") as source:
                ipc.open_file(source).read_all()
        elif p.suffix == ".json":
            json.loads(p.read_text())


def shard_pieces(out: Path) -> list[str]:
    """Every `doc_ids` entry of the Parquet shards: `<document id>@<token offset>`, one per packed piece."""
    tables = [pq.read_table(f, columns=["doc_ids"]) for f in sorted((out / "shards").rglob("*.parquet"))]
    return [d for t in tables for ids in t.column("doc_ids").to_pylist() for d in ids if d]


def assert_each_kept_document_packed_once(out: Path, n_kept: int) -> None:
    """No piece twice (nothing duplicated), and exactly the kept documents' ids (nothing lost, nothing foreign)."""
    pieces = shard_pieces(out)
    assert len(pieces) == len(set(pieces)), "a piece of a document was packed twice"
    assert len({p.rsplit("@", 1)[0] for p in pieces}) == n_kept


CANARY_KEY = "sk-carding-canary-7f3a91c2e4b8d605"
"""A fake LLM API key put in the reference run's environment, under the variable `rewrite.api_key_env` names."""


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Iterator[dict]:
    """One uninterrupted 2-CPU run, moved to `ref/` so later runs can write to the same `out/` path (the manifest
    holds the output path, so byte-identical manifests need the same one). It runs with a fake API key in the
    environment and Ray's session files in a folder of its own, so both can be searched for the key."""
    base = tmp_path_factory.mktemp("reliability")
    inputs = base / "input"
    expected = write_corpus(inputs)
    recipe = write_recipe(base / "recipe.yaml", inputs, base / "out")
    log = base / "reference.log"
    ray_tmp = Path(tempfile.mkdtemp(prefix="crk"))  # short: Ray's socket paths must stay under 107 bytes
    env = {"CARDING_LLM_API_KEY": CANARY_KEY, "RAY_TMPDIR": str(ray_tmp)}
    try:
        assert run_to_end(recipe, "--num-cpus", "2", log=log, env=env) == 0, log.read_text()[-3000:]
        (base / "out").rename(base / "ref")
        n_partitions = len(plan_partitions(ReadConfig(paths=[str(inputs)])))
        yield {"base": base, "inputs": inputs, "expected": expected, "recipe": recipe, "ref": base / "ref",
               "out": base / "out", "n_partitions": n_partitions, "log": log, "ray_tmp": ray_tmp}
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_the_api_key_in_the_environment_is_in_no_output_and_no_log(reference) -> None:
    """The key lives only in the environment: the manifest names the variable (`rewrite.api_key_env`), never its
    value. Searched: every file the run wrote (work files included), its stdout/stderr, and Ray's session folder
    (the driver's and workers' logs; Ray's workers inherit the variable, so a log of their environment would show
    it)."""
    manifest = json.loads((reference["ref"] / "manifest.json").read_text())
    assert manifest["config"]["rewrite"]["api_key_env"] == "CARDING_LLM_API_KEY"
    ray_files = [p for p in reference["ray_tmp"].rglob("*") if p.is_file() and not p.is_socket()]
    assert any(p.name.startswith("raylet") for p in ray_files), "the run's Ray session was not kept here"
    files = [p for p in reference["ref"].rglob("*") if p.is_file()] + [reference["log"]] + ray_files
    assert len(files) > 50
    needles = (CANARY_KEY.encode(), CANARY_KEY.encode("utf-16-le"), CANARY_KEY[3:].encode())
    leaks = [str(p) for p in files if any(n in p.read_bytes() for n in needles)]
    assert leaks == []


def test_reference_run_accounts_for_every_bad_record(reference) -> None:
    ref, expected = reference["ref"], reference["expected"]
    manifest = json.loads((ref / "manifest.json").read_text())
    c = manifest["counts"]
    assert c["documents_in"] == c["documents_kept"] + sum(c["removed"].values()) + sum(c["quarantined"].values())
    # Per file and reason, the quarantine holds exactly what the generator planted (a vacuous-pass guard as well).
    rows = pq.read_table(ref / "quarantine").to_pylist()
    got = Counter((Path(r["file"]).name, r["reason"]) for r in rows)
    planted = Counter({(name, reason): n for name, e in expected.items() for reason, n in e["quarantined"].items()})
    assert got == planted and len(planted) >= 9
    assert c["quarantined"] == dict(sorted(Counter(r["reason"] for r in rows).items()))
    # documents_in: the planted good documents, plus what precedes the cut in the truncated streams.
    config = ReadConfig(paths=[str(reference["inputs"] / "truncated.jsonl.zst"),
                               str(reference["inputs"] / "truncated.jsonl.gz")])
    cut_docs = sum(read_partition(p, config).documents.num_rows for p in plan_partitions(config))
    good = sum(e["documents"] for e in expected.values() if e["documents"] is not None)
    assert c["documents_in"] == good + cut_docs + sum(planted.values())
    assert c["removed"].get("dedup.exact", 0) >= 8, "the planted copies are removed"
    assert_each_kept_document_packed_once(ref, c["documents_kept"])
    assert validate_output(ref) == []


def test_sigkill_in_each_stage_then_rerun_gives_identical_bytes(reference) -> None:
    """Kill the driver during read+filter, dedup and pack, each time rerunning the same command, which resumes what
    the killed run finished; then let it end (losing one tokenize worker on the way) and compare every output byte
    with the reference.
    (No kill of its own inside tokenization, for time: its tasks last milliseconds here; the last rerun tests its
    resume per file instead.)"""
    out, recipe, base = reference["out"], reference["recipe"], reference["base"]
    shutil.rmtree(out, ignore_errors=True)
    work = out / "_work"

    def markers(pattern: str) -> int:
        return len(list(work.glob(f"*/{pattern}")))

    stages = {
        "read+filter": lambda: markers("filtered/*.done.json") >= 1,
        "dedup": lambda: markers("filtered/*.done.json") >= reference["n_partitions"],
        "pack": lambda: markers("windows/*.done.json") >= 1,
    }
    killed = []
    for stage, when in stages.items():
        if run_and_kill(recipe, when, base / f"kill-{stage}.log", "--num-cpus", "2"):
            assert not (out / "manifest.json").exists(), f"killed in {stage} after the run had finished"
            assert_complete(out)
            killed.append(stage)
    assert len(killed) >= 2, f"only {killed} kills landed before the run ended"
    # The pack-stage run tokenized every file. Remove one file's marker, as a crash between its Arrow file and its
    # marker leaves it: the last rerun tokenizes that file again, in a worker that SIGKILLs itself once (the test
    # hook in pipelines/windows.py) so Ray retries the task elsewhere, and resumes the other files untouched.
    tokenized = sorted(work.glob("*/tokenized/*.arrow"))
    assert len(tokenized) >= reference["n_partitions"], "the pack-stage run did not tokenize every file"
    redone = max(tokenized, key=lambda p: p.stat().st_size)
    redone.with_suffix(".done.json").unlink()
    kept_mtimes = {p: p.stat().st_mtime_ns for p in tokenized if p != redone}
    marker = base / "tokenize-worker-killed"
    log = base / "resume.log"
    code = run_to_end(recipe, "--num-cpus", "2", log=log, env={FAULT_KILL_TOKENIZE: str(marker)})
    assert code == 0, log.read_text()[-3000:]
    assert marker.exists(), "no tokenize worker was killed"
    assert redone.with_suffix(".done.json").exists()
    assert {p: p.stat().st_mtime_ns for p in kept_mtimes} == kept_mtimes, "finished files were tokenized again"
    assert json.loads((out / "report.json").read_text())["resumed_partitions"] == reference["n_partitions"]
    final, ref = visible_files(out), visible_files(reference["ref"])
    assert sorted(final) == sorted(ref)
    assert [name for name in ref if final[name] != ref[name]] == []
    kept = json.loads((out / "manifest.json").read_text())["counts"]["documents_kept"]
    assert_each_kept_document_packed_once(out, kept)
    leftovers = [str(p.relative_to(out)) for p in out.rglob(".*") if "_work" not in p.parts]
    assert leftovers == [], f"temp files of the killed runs left beside the output: {leftovers}"


@pytest.mark.parametrize("cpus", [1])
def test_the_number_of_cpus_does_not_change_a_byte(reference, cpus: int) -> None:
    """The same recipe on 1 Ray CPU writes the bytes of the 2-CPU reference (other task placement and block layout).
    A run that Ray reports as starved stops the test early."""
    out, base = reference["out"], reference["base"]
    shutil.rmtree(out, ignore_errors=True)  # else the run would only resume the finished work
    log = base / f"cpus-{cpus}.log"
    code = run_to_end(reference["recipe"], "--num-cpus", str(cpus), log=log, stop_when_starved=True)
    assert code == 0, log.read_text()[-3000:]
    one, two = visible_files(out), visible_files(reference["ref"])
    manifests = [json.loads(files.pop("manifest.json")) for files in (one, two)]
    for m in manifests:
        m["config"].pop("ray")  # the one intended difference: num_cpus
    assert manifests[0] == manifests[1]
    assert sorted(one) == sorted(two) and [name for name in two if one[name] != two[name]] == []
    assert any(name.startswith("shards/") for name in two)


def test_the_same_id_in_two_files_is_quarantined_or_refused(tmp_path: Path) -> None:
    rng = random.Random(5)
    inputs = tmp_path / "input"
    inputs.mkdir()
    for name in ("a", "b"):
        docs = [{"id": f"{name}-{i}", "text": prose(rng, 150)} for i in range(10)]
        docs.append({"id": "shared", "text": prose(rng, 160)})  # one id, two different documents
        (inputs / f"{name}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = tmp_path / "out"
    log = tmp_path / "run.log"
    code = run_to_end(write_recipe(tmp_path / "recipe.yaml", inputs, out), "--num-cpus", "2", log=log)
    lines = log.read_text().strip().splitlines()
    if code == 2:  # refused: one line naming the id
        assert lines[-1].startswith("carding: error: ") and "shared" in lines[-1]
        return
    assert code == 0, lines[-20:]
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["quarantined"] == {"read.duplicate_id": 1}
    assert_each_kept_document_packed_once(out, counts["documents_kept"])


def test_a_refused_input_stops_the_run_with_one_line_naming_it(tmp_path: Path) -> None:
    inputs = tmp_path / "input"
    inputs.mkdir()
    (inputs / "ok.jsonl").write_text(json.dumps({"id": "a", "text": prose(random.Random(1), 80)}) + "\n")
    (inputs / "dump.json").write_text(json.dumps([{"id": "b", "text": "x"}], indent=2))
    log = tmp_path / "run.log"
    assert run_to_end(write_recipe(tmp_path / "recipe.yaml", inputs, tmp_path / "out"), "--num-cpus", "1",
                      log=log) == 2
    last = log.read_text().strip().splitlines()[-1]
    assert last.startswith(f"carding: error: {inputs / 'dump.json'}: one JSON array, not JSON Lines"), last
    assert "Traceback" not in log.read_text()
