"""`carding run` on a real local Ray: the whole chain, conservation, traceability, resume and dry run.

Protects the spine's promises: every input record is kept, removed with a reason or quarantined with a reason;
every token in the shards traces to a kept input id; a rerun of a finished run resumes and gives the same bytes;
a dry run writes nothing to the destination.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.config import load_config
from pipelines.manifest import load_manifest
from pipelines.runner import run
from pipelines.validate import validate_output
from stages.filter import QualityTrainConfig, train_quality_classifier
from tests.data.bad_inputs import prose
from tests.pipelines.cluster import REPO
from tests.pipelines.corpus import make_small_corpus

pytestmark = pytest.mark.ray


def recipe(tmp_path: Path, inputs: list[str], out: Path, extra: str = "", filters: str = "") -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(
        f"name: test\ninput:\n  paths: {json.dumps(inputs)}\noutput:\n  dir: {out}\n"
        "filter:\n  length: {min_chars: 100}\n" + filters +
        "tokenize: {scheme: bytes}\npack: {packer: best_fit, max_tokens: 512}\n"
        "shards: {formats: [parquet, arrow]}\nray: {progress: false}\n" + extra
    )
    return path


def _quality_model(tmp_path: Path) -> Path:
    """A fastText quality model: generated prose (the corpus's kind) against word salad of web junk."""
    rng = random.Random(3)
    junk = ["click", "here", "buy", "now", "free", "login", "cookie", "subscribe", "deal", "menu", "home", "#tag"]
    (tmp_path / "pos.jsonl").write_text("".join(json.dumps({"text": prose(rng, rng.randint(20, 150))}) + "\n"
                                                for _ in range(200)))
    (tmp_path / "neg.jsonl").write_text("".join(json.dumps({"text": " ".join(rng.choice(junk) for _ in range(
        rng.randint(20, 150)))}) + "\n" for _ in range(200)))
    model = tmp_path / "quality.bin"
    train_quality_classifier(QualityTrainConfig(positive_paths=[str(tmp_path / "pos.jsonl")],
                                                negative_paths=[str(tmp_path / "neg.jsonl")], dim=16, epoch=5), model)
    return model


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, local_ray):
    """One real run shared by the tests below (a run costs tens of seconds on 2 cores). The quality filter keeps
    the top 80 % (one threshold fixed on the driver) and dedup keeps the best-scoring copy."""
    tmp_path = tmp_path_factory.mktemp("run")
    folder, expected = make_small_corpus(tmp_path)
    out = tmp_path / "out"
    filters = f"  quality: {{model_path: {_quality_model(tmp_path)}, keep_top_fraction: 0.8}}\n"
    config = load_config(recipe(tmp_path, [str(folder), "data/sample/html"], out, "dedup: {keep: best_quality}\n",
                                filters))
    return config, run(config), out, expected


def test_run_accounts_for_every_record_and_traces_every_token(finished_run) -> None:
    config, report, out, expected = finished_run
    manifest = load_manifest(out)
    c = manifest["counts"]
    assert c["documents_in"] == c["documents_kept"] + sum(c["removed"].values()) + sum(c["quarantined"].values())
    for name, exp in expected.items():
        for reason, n in exp["quarantined"].items():
            assert c["quarantined"].get(reason, 0) >= n, (name, reason)
    assert c["quarantined"]["read.malformed_json"] == 1 and c["quarantined"]["read.invalid_utf8"] == 2
    # each planted copy is removed as an exact duplicate, unless the quality cut removed it and its original
    dups = set(pq.read_table(out / "duplicates").column("id").to_pylist())
    low = set(pq.read_table(out / "rejected").filter(
        pc.equal(pq.read_table(out / "rejected").column("reject_reason"), "quality.low_score")).column("id").to_pylist())
    for i in range(3):
        pair = {f"prose-{i}", f"copy-{i}"}
        assert len(pair & dups) == 1 or pair <= low, (i, pair & dups, pair & low)
    assert 1 <= c["removed"].get("dedup.exact", 0) <= len(dups)  # a copy of a rewrite candidate counts as quality
    assert c["documents_kept"] > 0 and c["sequences"] > 0 and report.counts == c
    cut = manifest["quality_threshold"]
    assert cut["keep_top_fraction"] == 0.8 and c["removed"]["quality.low_score"] > 0 and 0 < cut["min_score"] < 1
    assert manifest["config"]["filter"]["quality"]["keep_top_fraction"] == 0.8, "the manifest keeps the recipe"
    # every quarantine row names its file; the total matches the report
    quarantine = pq.read_table(out / "quarantine").to_pylist()
    assert all(row["file"] and row["reason"].startswith("read.") for row in quarantine)
    assert sum(c["quarantined"].values()) == len(quarantine)
    # traceability: the shards hold exactly the kept documents' tokens, each under its input id
    shards = pa.concat_tables([pq.read_table(f, columns=["doc_ids", "doc_lens"])
                               for f in sorted((out / "shards").rglob("*.parquet"))])
    seg_ids = {d.split("@")[0] for ids in shards.column("doc_ids").to_pylist() for d in ids if d}
    assert len(seg_ids) == c["documents_kept"]
    assert sum(sum(x) for x in shards.column("doc_lens").to_pylist()) == c["tokens"]
    assert validate_output(out) == []


def test_rerun_resumes_and_gives_identical_bytes(finished_run) -> None:
    config, _, out, _ = finished_run
    first = (out / "manifest.json").read_bytes()
    shard_bytes = {p: p.read_bytes() for p in sorted((out / "shards").rglob("*")) if p.is_file()}
    report = run(config)
    assert report.resumed_partitions > 0
    assert (out / "manifest.json").read_bytes() == first
    assert {p: p.read_bytes() for p in sorted((out / "shards").rglob("*")) if p.is_file()} == shard_bytes


def test_validate_cli_fails_on_a_flipped_byte_naming_the_shard(finished_run, tmp_path, capsys) -> None:
    _, _, finished, _ = finished_run
    out = tmp_path / "copy"
    shutil.copytree(finished, out)
    assert main(["validate", str(out)]) == 0
    shard = sorted((out / "shards").rglob("*.parquet"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert main(["validate", str(out)]) == 1
    assert shard.name in capsys.readouterr().err


def test_dry_run_writes_nothing_to_the_destination(tmp_path, local_ray, capsys) -> None:
    folder, _ = make_small_corpus(tmp_path)
    out = tmp_path / "never"
    code = main(["run", str(recipe(tmp_path, [str(folder)], out)), "--dry-run", "--sample-docs", "20"])
    assert code == 0
    assert not out.exists()
    printed = capsys.readouterr().out
    assert "dry run" in printed and "documents in" in printed


def test_an_id_in_two_files_fails_naming_both(tmp_path, local_ray) -> None:
    """Each task only sees its own partition: the driver compares the tasks' id hashes and, when one repeats,
    names the id and its files. A kept row in one file and a removed row in the other count too."""
    rng = random.Random(5)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps({"id": f"a{i}", "text": prose(rng, 80)}) + "\n" for i in range(5)) +
                 json.dumps({"id": "twice", "text": prose(rng, 80)}) + "\n")
    b.write_text(json.dumps({"id": "twice", "text": "too short"}) + "\n" +
                 "".join(json.dumps({"id": f"b{i}", "text": prose(rng, 80)}) + "\n" for i in range(5)))
    config = load_config(recipe(tmp_path, [str(a), str(b)], tmp_path / "out"))
    with pytest.raises(ValueError, match=r"'twice': the same document id in .*a\.jsonl and .*b\.jsonl"):
        run(config)


def test_a_failed_task_prints_its_error_once(tmp_path) -> None:
    """A read+filter task that fails (here: `rejected` is a file, so its folder cannot be made) ends the run with
    that one error; its sibling tasks (the partition's id hashes, dedup's key tasks waiting for it) are collected,
    not reported by Ray as "Unhandled error" after it. A subprocess: Ray prints those when the
    driver drops the refs."""
    folder, _ = make_small_corpus(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "rejected").write_text("not a folder")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run([sys.executable, "-m", "pipelines", "run", str(recipe(tmp_path, [str(folder)], out)),
                           "--num-cpus", "2"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "rejected" in done.stderr and "File exists" in done.stderr, done.stderr[-2000:]
    assert "Unhandled error" not in done.stderr, done.stderr[-3000:]


def test_a_config_error_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("input: {paths: [x]}\nfilter:\n  lenght: {min_chars: 3}\n")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"carding: error: {path}: filter.lenght: unknown key (did you mean length?)"
