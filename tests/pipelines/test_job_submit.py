"""`ray job submit --working-dir . -- python -m pipelines run ...` against a real head node started here.

Protects the cluster path users take after a local dry run: the repository's packages import from the uploaded
working dir with no install step, the job finds the cluster through the address Ray gives it, and the output
folder it writes is complete (manifest, valid shards).
"""
from __future__ import annotations

import json

import pytest

from pipelines.manifest import load_manifest
from pipelines.validate import validate_output
from tests.pipelines.cluster import ray_nodes, submit_pipeline
from tests.pipelines.corpus import make_small_corpus

pytestmark = pytest.mark.ray


@pytest.fixture()
def head_node(tmp_path):
    """A real `ray start --head` (2 CPUs, dashboard and job agent) on free ports, stopped afterwards."""
    with ray_nodes(tmp_path, n_nodes=1, num_cpus=2) as (address, env):
        yield address, env


def test_job_submit_runs_the_pipeline_on_the_head_node(tmp_path, head_node) -> None:
    address, env = head_node
    out = tmp_path / "job-out"
    recipe = tmp_path / "job.yaml"
    folder, _ = make_small_corpus(tmp_path)
    recipe.write_text(
        f"name: job\ninput:\n  paths: [data/sample/html, {folder}]\n"
        f"output:\n  dir: {out}\nfilter:\n  length: {{min_chars: 100}}\n"
        "pack: {packer: best_fit, max_tokens: 1024}\nray: {progress: false}\n"
    )
    _, logs = submit_pipeline(address, env, recipe)
    assert "documents in" in logs, "the job ends with the summary table"
    manifest = load_manifest(out)
    counts = manifest["counts"]
    assert counts["documents_in"] == counts["documents_kept"] + sum(counts["removed"].values()) + \
        sum(counts["quarantined"].values())
    assert counts["sequences"] > 0 and manifest["shards"]
    assert validate_output(out) == []
    assert json.loads((out / "report.json").read_text())["cluster"].startswith("Ray ")
