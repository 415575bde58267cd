"""Real Ray nodes started by a test (`ray start --block` in its own session) and jobs submitted to them.

Shared by the job-submit and multi-node tests. Each node gets free ports and a short temp dir of its own, so a
test never touches another Ray on this machine (a plain `ray stop` would). Teardown is SIGKILL of the node's
session, not SIGTERM: `ray start --block` shuts down gracefully in ~34 s on the 2-core CI box, a third of the
test's time, while every process it starts (GCS, raylet, dashboard, agents, workers) stays in its session and
dies with it in ~1 s; the temp dir is removed afterwards, so nothing of the node outlives the test.
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
READY_S = 180
JOB_S = 420


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_env() -> dict[str, str]:
    """The environment of `ray` commands: this venv's `ray` first, no inherited address, no auth prompt."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    return env


def ray(args: list[str], env: dict, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ray"), *args], env=env, capture_output=True, text=True, check=False, **kw)


def _node_ports() -> list[str]:
    """The ports two raylets on one host would otherwise share (each agent defaults to a fixed port)."""
    return [f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}"]


def _session_pids(sid: int) -> list[int]:
    """Every live process of session `sid` (field 6 of /proc/<pid>/stat)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:  # exited while we looked
                continue
            if int(stat[stat.rindex(")") + 2:].split()[3]) == sid:
                pids.append(int(entry))
    return pids


def _kill_session(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in _session_pids(proc.pid):  # anything that changed its process group but kept the session
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


@contextmanager
def ray_nodes(log_dir: Path, n_nodes: int = 1, num_cpus: int = 1) -> Iterator[tuple[str, dict]]:
    """A head (with dashboard and job agent) plus `n_nodes - 1` workers; yields (dashboard URL, env)."""
    temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short: Ray's socket paths must stay < 108 bytes
    port, dashboard = free_port(), free_port()
    env, address = ray_env(), f"http://127.0.0.1:{dashboard}"
    procs: list[subprocess.Popen] = []

    def start(args: list[str], log: Path) -> subprocess.Popen:
        with open(log, "wb") as f:  # the child keeps its own copy of the descriptor
            procs.append(subprocess.Popen(
                [str(BIN / "ray"), "start", "--block", f"--num-cpus={num_cpus}", "--object-store-memory=150000000",
                 "--disable-usage-stats", *_node_ports(), *args],
                env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True))
        return procs[-1]

    def wait(ready, proc: subprocess.Popen, log: Path, what: str) -> None:
        deadline = time.monotonic() + READY_S
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what}: {log.read_text()[-2000:]}")
            time.sleep(2)

    try:
        head_log = log_dir / "head.log"
        head = start(["--head", f"--port={port}", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                      f"--dashboard-port={dashboard}", f"--ray-client-server-port={free_port()}",
                      f"--temp-dir={temp}"], head_log)
        wait(lambda: ray(["job", "list", "--address", address], env).returncode == 0, head, head_log,
             "head not ready")
        for i in range(1, n_nodes):
            log = log_dir / f"worker{i}.log"
            node = start([f"--address=127.0.0.1:{port}"], log)
            wait(lambda n=i: len(alive_nodes(address, env)) > n, node, log, "node did not join")
        yield address, env
    finally:
        for proc in reversed(procs):
            _kill_session(proc)
        shutil.rmtree(temp, ignore_errors=True)


def alive_nodes(address: str, env: dict) -> list[dict]:
    out = ray(["list", "nodes", "--address", address, "--format", "json", "--filter", "state=ALIVE"], env)
    return json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip().startswith("[") else []


def submit_pipeline(address: str, env: dict, recipe: Path) -> tuple[str, str]:
    """`ray job submit --working-dir <repo> -- python -m pipelines run RECIPE`; waits for success, returns
    (job id, driver log)."""
    command = ["job", "submit", "--address", address, "--working-dir", str(REPO), "--no-wait", "--",
               "python", "-m", "pipelines", "run", str(recipe)]
    deadline = time.monotonic() + READY_S
    while True:  # the head answers before its job agent is up: "No available agent", retried
        submit = ray(command, env, cwd=REPO, timeout=300)
        if submit.returncode == 0 or "No available agent" not in submit.stderr or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert submit.returncode == 0, submit.stderr[-2000:]
    job_id = re.search(r"(raysubmit_\w+)", submit.stdout + submit.stderr).group(1)
    status = ""
    deadline = time.monotonic() + JOB_S
    while time.monotonic() < deadline:
        status = ray(["job", "status", "--address", address, job_id], env).stdout
        if re.search(r"succeeded|failed|stopped", status, re.IGNORECASE):  # Ray 2.60: "Job '…' succeeded"
            break
        time.sleep(2)
    logs = ray(["job", "logs", "--address", address, job_id], env).stdout
    assert "succeeded" in status.lower(), f"job {job_id}: {status}\n{logs[-3000:]}"
    return job_id, logs
