"""The pipeline on a two-node Ray cluster started here: `ray start --head` plus a second `ray start --address=...`
node, 1 CPU each, the job submitted with `ray job submit --working-dir .`.

Protects what issue 11 promises users who outgrow one machine: the same recipe runs unchanged on a cluster, its
tasks really spread over more than one node (read/filter actors, dedup exchange, packing windows), and the shards
it writes equal, byte for byte, those of a single-node embedded run (window membership is a hash of the id and
rows are packed in id order, so the output must not depend on where or on how many CPUs a window ran).
The nodes come from `tests/pipelines/cluster.py` (own ports, temp dir and session, killed afterwards).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.corpus import CorpusSpec, ensure_corpus
from pipelines.manifest import load_manifest
from pipelines.validate import validate_output
from tests.pipelines.cluster import REPO, alive_nodes, ray, ray_nodes, submit_pipeline

pytestmark = pytest.mark.ray


@pytest.fixture()
def two_nodes(tmp_path):
    """A head and a worker node, 1 CPU each, on free ports and their own temp dir; yields (dashboard URL, env)."""
    with ray_nodes(tmp_path, n_nodes=2, num_cpus=1) as (address, env):
        yield address, env


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


def _shard_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "shards").rglob("*")) if p.is_file()}


def test_two_node_cluster_runs_the_pipeline_on_both_nodes_and_matches_one_node(tmp_path, two_nodes) -> None:
    address, env = two_nodes
    corpus = ensure_corpus(CorpusSpec(n_docs=320, n_files=4, seed=11), procs=1, cache=tmp_path / "corpus")
    cluster_out, local_out = tmp_path / "cluster-out", tmp_path / "local-out"

    _, logs = submit_pipeline(address, env, _recipe(tmp_path / "cluster.yaml", corpus.files, cluster_out))
    assert "documents in" in logs, "the job ends with the summary table"
    report = json.loads((cluster_out / "report.json").read_text())
    assert report["cluster"].startswith("Ray ") and "2 node(s)" in report["cluster"], report["cluster"]

    # where the work ran: the state API lists every task with the node it ran on
    nodes = {n["node_id"] for n in alive_nodes(address, env)}
    tasks = ray(["list", "tasks", "--address", address, "--format", "json", "--limit", "10000", "--detail"], env)
    assert tasks.returncode == 0, tasks.stderr[-2000:]
    ran = [t for t in json.loads(tasks.stdout) if t.get("node_id") and t.get("state") == "FINISHED"]
    ran_on = {t["node_id"] for t in ran}
    assert len(nodes) == 2 and ran_on == nodes, f"tasks ran on {len(ran_on)} of {len(nodes)} nodes"
    stage_tasks = {t["node_id"] for t in ran if re.fullmatch(r"_read_filter|_file_keys|_exchange_task|_file_features|"
                                                              r"_verify_share|_tokenize_file|_pack_windows",
                                                              t.get("name", ""))}
    assert stage_tasks == nodes, "the stages' own tasks (not only the job driver) ran on both nodes"

    # the same recipe on one embedded node (2 CPUs, no cluster): the shards must be the same bytes
    local_env = {k: v for k, v in env.items() if k != "RAY_ADDRESS"}
    single = subprocess.run([sys.executable, "-m", "pipelines", "run",
                             str(_recipe(tmp_path / "local.yaml", corpus.files, local_out)), "--num-cpus", "2"],
                            cwd=REPO, env=local_env, capture_output=True, text=True, timeout=600, check=False)
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
