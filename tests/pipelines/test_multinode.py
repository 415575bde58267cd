"""The pipeline on a two-node Ray cluster started here: `ray start --head` plus a second `ray start --address=...`
node, 1 CPU each, the job submitted with `ray job submit --working-dir .`.

Protects what issue 11 promises users who outgrow one machine: the same recipe runs unchanged on a cluster, its
tasks really spread over more than one node (read/filter actors, dedup exchange, packing windows), and the shards
it writes equal, byte for byte, those of a single-node embedded run (window membership is a hash of the id and
rows are packed in id order, so the output must not depend on where or on how many CPUs a window ran).
Every process the test starts is in its own process group and only those groups are stopped (never `ray stop`,
which would stop other Ray instances on the machine).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bench.corpus import CorpusSpec, ensure_corpus
from pipelines.manifest import load_manifest
from pipelines.validate import validate_output

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
READY_S = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_ports() -> list[str]:
    """The ports two raylets on one host would otherwise share (each agent defaults to a fixed port)."""
    return [f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}"]


def _start(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    with open(log, "wb") as f:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([str(BIN / "ray"), "start", "--block", "--num-cpus=1",
                                 "--object-store-memory=150000000", "--disable-usage-stats", *_node_ports(), *args],
                                env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    """Stop one `ray start --block` and everything it started (its own process group), nothing else."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _ray(args: list[str], env: dict, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ray"), *args], env=env, capture_output=True, text=True, **kw)


def _alive_nodes(address: str, env: dict) -> list[dict]:
    out = _ray(["list", "nodes", "--address", address, "--format", "json", "--filter", "state=ALIVE"], env)
    return json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip().startswith("[") else []


@pytest.fixture()
def two_nodes(tmp_path):
    """A head and a worker node (1 CPU each) on free ports and their own temp dir; yields (dashboard URL, env)."""
    temp = Path(tempfile.mkdtemp(prefix="rmn", dir="/tmp"))  # short: Ray's socket paths must stay < 108 bytes
    port, dashboard = free_port(), free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    address = f"http://127.0.0.1:{dashboard}"
    procs = []
    try:
        procs.append(_start(["--head", f"--port={port}", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                             f"--dashboard-port={dashboard}", f"--ray-client-server-port={free_port()}",
                             f"--temp-dir={temp}"], tmp_path / "head.log", env))
        deadline = time.monotonic() + READY_S
        while _ray(["job", "list", "--address", address], env).returncode != 0:
            if procs[0].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"head not ready: {(tmp_path / 'head.log').read_text()[-2000:]}")
            time.sleep(2)
        procs.append(_start([f"--address=127.0.0.1:{port}"], tmp_path / "worker.log", env))
        while len(_alive_nodes(address, env)) < 2:
            if procs[1].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"second node did not join: {(tmp_path / 'worker.log').read_text()[-2000:]}")
            time.sleep(2)
        yield address, env
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(temp, ignore_errors=True)


def _recipe(path: Path, inputs: list[Path], out: Path) -> Path:
    path.write_text(
        "name: multinode\nseed: 0\n"
        f"input:\n  paths: [{', '.join(str(p) for p in inputs)}]\n"
        f"output:\n  dir: {out}\n"
        "dedup: {exact: true, near: true, exchange_partitions: 4}\n"
        "pack: {packer: best_fit, max_tokens: 2048, window_docs: 40}\n"
        "shards: {formats: [parquet, arrow]}\n"
        "ray: {progress: false}\n")
    return path


def _submit(address: str, env: dict, recipe: Path) -> tuple[str, str]:
    command = ["job", "submit", "--address", address, "--working-dir", str(REPO), "--no-wait", "--",
               "python", "-m", "pipelines", "run", str(recipe)]
    deadline = time.monotonic() + READY_S
    while True:  # the head answers before its job agent is up: "No available agent", retried
        submit = _ray(command, env, cwd=REPO, timeout=300)
        if submit.returncode == 0 or "No available agent" not in submit.stderr or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert submit.returncode == 0, submit.stderr[-2000:]
    job_id = re.search(r"(raysubmit_\w+)", submit.stdout + submit.stderr).group(1)
    status = ""
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        status = _ray(["job", "status", "--address", address, job_id], env).stdout
        if re.search(r"succeeded|failed|stopped", status, re.IGNORECASE):  # Ray 2.60: "Job '…' succeeded"
            break
        time.sleep(3)
    logs = _ray(["job", "logs", "--address", address, job_id], env).stdout
    assert "succeeded" in status.lower(), f"job {job_id}: {status}\n{logs[-3000:]}"
    return job_id, logs


def _shard_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "shards").rglob("*")) if p.is_file()}


def test_two_node_cluster_runs_the_pipeline_on_both_nodes_and_matches_one_node(tmp_path, two_nodes) -> None:
    address, env = two_nodes
    corpus = ensure_corpus(CorpusSpec(n_docs=320, n_files=4, seed=11), procs=1, cache=tmp_path / "corpus")
    cluster_out, local_out = tmp_path / "cluster-out", tmp_path / "local-out"

    _, logs = _submit(address, env, _recipe(tmp_path / "cluster.yaml", corpus.files, cluster_out))
    assert "documents in" in logs, "the job ends with the summary table"
    report = json.loads((cluster_out / "report.json").read_text())
    assert report["cluster"].startswith("Ray ") and "2 node(s)" in report["cluster"], report["cluster"]

    # where the work ran: the state API lists every task with the node it ran on
    nodes = {n["node_id"] for n in _alive_nodes(address, env)}
    tasks = _ray(["list", "tasks", "--address", address, "--format", "json", "--limit", "10000", "--detail"], env)
    assert tasks.returncode == 0, tasks.stderr[-2000:]
    ran = [t for t in json.loads(tasks.stdout) if t.get("node_id") and t.get("state") == "FINISHED"]
    ran_on = {t["node_id"] for t in ran}
    assert len(nodes) == 2 and ran_on == nodes, f"tasks ran on {len(ran_on)} of {len(nodes)} nodes"
    data_tasks = {t["node_id"] for t in ran if re.search(r"MapBatches|MapWorker|ReadParquet|Aggregate|Shuffle|"
                                                           r"map_groups|MapGroups", t.get("name", ""))}
    assert data_tasks == nodes, "Ray Data's own tasks (not only the job driver) ran on both nodes"

    # the same recipe on one embedded node (2 CPUs, no cluster): the shards must be the same bytes
    local_env = {k: v for k, v in env.items() if k != "RAY_ADDRESS"}
    single = subprocess.run([sys.executable, "-m", "pipelines", "run",
                             str(_recipe(tmp_path / "local.yaml", corpus.files, local_out)), "--num-cpus", "2"],
                            cwd=REPO, env=local_env, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]

    cluster_m, local_m = load_manifest(cluster_out), load_manifest(local_out)
    assert cluster_m["counts"] == local_m["counts"]
    assert cluster_m["counts"]["sequences"] > 0 and len(cluster_m["shards"]) >= 2, "several windows were packed"
    assert sum(cluster_m["counts"]["removed"].get(r, 0) for r in ("dedup.exact", "dedup.near")) > 0, \
        "the planted copies reached the dedup exchange"
    assert [(s["path"], s["sha256"]) for s in cluster_m["shards"]] == \
        [(s["path"], s["sha256"]) for s in local_m["shards"]]
    cluster_bytes, local_bytes = _shard_bytes(cluster_out), _shard_bytes(local_out)
    assert cluster_bytes.keys() == local_bytes.keys() and cluster_bytes == local_bytes
    assert validate_output(cluster_out) == []
