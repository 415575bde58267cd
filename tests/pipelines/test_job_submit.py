"""`ray job submit --working-dir . -- python -m pipelines run ...` against a real head node started here.

Protects the cluster path users take after a local dry run: the repository's packages import from the uploaded
working dir with no install step, the job finds the cluster through the address Ray gives it, and the output
folder it writes is complete (manifest, valid shards).
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.manifest import load_manifest
from pipelines.validate import validate_output
from tests.pipelines.corpus import make_small_corpus

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def head_node(tmp_path):
    """`ray start --head --block` on free ports in its own process group; the group is stopped afterwards,
    so the test never touches another Ray on this machine (as a plain `ray stop` would). Every port is a free one:
    a second head on the default agent port would leave this one without a job agent ("No available agent")."""
    port, dashboard = free_port(), free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    log = open(tmp_path / "head.log", "wb")
    head = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
         f"--ray-client-server-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
         f"--dashboard-agent-grpc-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
         f"--metrics-export-port={free_port()}", f"--node-manager-port={free_port()}",
         f"--object-manager-port={free_port()}", "--disable-usage-stats"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            probe = subprocess.run([str(BIN / "ray"), "job", "list", "--address", address], env=env,
                                   capture_output=True, text=True)
            if probe.returncode == 0:
                break
            if head.poll() is not None:
                raise RuntimeError(f"ray start exited {head.returncode}: {(tmp_path / 'head.log').read_text()[-2000:]}")
            time.sleep(2)
        else:
            raise RuntimeError(f"head node not ready in 120 s: {(tmp_path / 'head.log').read_text()[-2000:]}")
        yield address, env
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        log.close()


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
    command = [str(BIN / "ray"), "job", "submit", "--address", address, "--working-dir", str(REPO), "--no-wait",
               "--", "python", "-m", "pipelines", "run", str(recipe)]
    deadline = time.monotonic() + 180
    while True:  # the head answers before its job agent is up: "No available agent", retried for 3 minutes
        submit = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO, timeout=300)
        if submit.returncode == 0 or "No available agent" not in submit.stderr or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert submit.returncode == 0, submit.stderr[-2000:]
    job_id = re.search(r"(raysubmit_\w+)", submit.stdout + submit.stderr).group(1)
    status = ""
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        status = subprocess.run([str(BIN / "ray"), "job", "status", "--address", address, job_id], env=env,
                                capture_output=True, text=True).stdout
        if re.search(r"succeeded|failed|stopped", status, re.IGNORECASE):  # "Job '...' succeeded"
            break
        time.sleep(3)
    logs = subprocess.run([str(BIN / "ray"), "job", "logs", "--address", address, job_id], env=env,
                          capture_output=True, text=True).stdout
    assert re.search(r"succeeded", status, re.IGNORECASE), f"job {job_id}: {status}\n{logs[-3000:]}"
    assert "documents in" in logs, "the job ends with the summary table"
    manifest = load_manifest(out)
    counts = manifest["counts"]
    assert counts["documents_in"] == counts["documents_kept"] + sum(counts["removed"].values()) + \
        sum(counts["quarantined"].values())
    assert counts["sequences"] > 0 and manifest["shards"]
    assert validate_output(out) == []
    assert json.loads((out / "report.json").read_text())["cluster"].startswith("Ray ")
