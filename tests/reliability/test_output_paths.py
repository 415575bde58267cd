"""Output paths cannot escape the output folder.

The rule (pipelines/paths.py): the output folder is the user's choice (and may itself be a symlink); everything
carding writes resolves inside it. Input file names reach output names only through partition keys, which hold
`[A-Za-z0-9_-]` only; shard partitions must be plain names; a symlink under the folder that leads out (planted, or
left by a tool) stops the run before anything is written. Pure functions and the CLI's checks: no Ray starts here.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.cli import main
from pipelines.paths import check_output_tree, inside_output
from pipelines.shards import ShardConfig, write_shards
from stages.read import Partition, ReadConfig, plan_partitions

KEY = re.compile(r"[A-Za-z0-9_-]{1,60}-[0-9a-f]{10}-[0-9]{12,}")


@pytest.mark.parametrize("path", ["../../etc/passwd.jsonl", "/abs/dir/..jsonl", "..", "...", "a\\..\\b.jsonl",
                                  "new\nline.jsonl", "tab\t.jsonl", "données.jsonl", ".hidden.jsonl",
                                  "x" * 300 + ".jsonl", "/tmp/\udcff\udcfe.jsonl", "C:\\Windows\\x.jsonl"])
def test_a_partition_key_from_a_hostile_file_name_is_a_plain_name(tmp_path: Path, path: str) -> None:
    """Quarantine, rejected and work files are named `<key>.parquet`: the key must carry no path at all."""
    key = Partition(path, "jsonl", 123).key
    assert KEY.fullmatch(key), key
    for folder in ("quarantine", "rejected", "_work/abc/filtered"):
        assert inside_output(tmp_path, f"{folder}/{key}.parquet").parent == tmp_path / folder


@settings(max_examples=100, deadline=None)
@given(name=st.text(min_size=1, max_size=80), start=st.integers(0, 2**40))
def test_any_file_name_gives_a_plain_distinct_key(name: str, start: int) -> None:
    a, b = Partition(f"/in/{name}", "jsonl", start), Partition(f"/in/{name}x", "jsonl", start)
    assert KEY.fullmatch(a.key) and a.key != b.key


def test_keys_of_a_real_folder_with_hostile_names_stay_plain(tmp_path: Path) -> None:
    """Planned from disk (the path a run takes): names with dots, spaces, newlines and backslashes."""
    names = ["a..b.jsonl", "a b.jsonl", "line\nbreak.jsonl", "back\\slash.jsonl", "-dash.jsonl"]
    for n in names:
        (tmp_path / n).write_text('{"text": "t"}\n')
    parts = plan_partitions(ReadConfig(paths=[str(tmp_path)]))
    assert len(parts) == len(names) and all(KEY.fullmatch(p.key) for p in parts)


@pytest.mark.parametrize("relative", ["../x", "/etc/x", "shards/../../x", "", "."])
def test_a_name_with_dotdot_or_an_absolute_part_is_refused(tmp_path: Path, relative: str) -> None:
    with pytest.raises(ValueError, match="an output name must be a relative path without '..'"):
        inside_output(tmp_path / "out", relative)


def _sequences(n: int = 4) -> pa.Table:
    ids = [np.arange(8, dtype=np.uint32) + i for i in range(n)]
    return pa.table({"input_ids": pa.array(ids, pa.list_(pa.uint32())),
                     "doc_lens": pa.array([[8]] * n, pa.list_(pa.int32())),
                     "doc_ids": pa.array([[f"d{i}@0"] for i in range(n)], pa.list_(pa.string())),
                     "bucket": pa.array([-1] * n, pa.int16())})


@pytest.mark.parametrize("partition", ["..", "../up", "/abs", ".hidden", "a/b", "a\\b", "", "nul\x00"])
def test_a_shard_partition_that_is_not_a_plain_name_is_refused(tmp_path: Path, partition: str) -> None:
    with pytest.raises(ValueError, match="must be a plain folder name"):
        write_shards(_sequences(), tmp_path / "out", partition, ShardConfig())
    assert not (tmp_path / "up").exists() and not (tmp_path / "out").exists()


def test_a_symlinked_shards_folder_leading_out_is_refused_and_nothing_lands_there(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "shards").symlink_to(elsewhere)
    with pytest.raises(ValueError, match=r"outside the output folder"):
        write_shards(_sequences(), out, "w00000", ShardConfig())
    assert list(elsewhere.iterdir()) == []
    (out / "shards").unlink()
    (out / "shards").mkdir()
    (out / "shards" / "w00000").symlink_to(out / "shards", target_is_directory=True)  # stays inside: allowed
    assert [e["path"] for e in write_shards(_sequences(), out, "w00000", ShardConfig(formats=["parquet"]))] == [
        "shards/w00000/part-00000.parquet"]


def test_the_output_folder_itself_may_be_a_symlink(tmp_path: Path) -> None:
    """The folder is the user's choice: a link to it is followed once, and its contents are checked from there."""
    real = tmp_path / "disk" / "run"
    real.mkdir(parents=True)
    (tmp_path / "out").symlink_to(real, target_is_directory=True)
    check_output_tree(tmp_path / "out")
    entries = write_shards(_sequences(), tmp_path / "out", "w00000", ShardConfig(formats=["arrow"]))
    assert (real / entries[0]["path"]).is_file()


def test_a_planted_symlink_anywhere_under_the_output_folder_stops_the_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "_work" / "abc" / "filtered").mkdir(parents=True)
    (out / "quarantine").mkdir()
    (out / "quarantine" / "inside").symlink_to(out / "_work")  # a link that stays inside is fine
    check_output_tree(out)
    check_output_tree(tmp_path / "not-made-yet")  # carding creates it: nothing to check
    link = out / "_work" / "abc" / "filtered" / "x.parquet"
    link.symlink_to(tmp_path / "victim.parquet")
    with pytest.raises(ValueError, match=re.escape(f"{link}: a symlink to {tmp_path / 'victim.parquet'}, which does "
                                                   "not exist")):
        check_output_tree(out)
    (tmp_path / "victim.parquet").write_bytes(b"precious")
    with pytest.raises(ValueError, match=re.escape(f"{link}: a symlink to {tmp_path / 'victim.parquet'}, outside "
                                                   f"the output folder {out}")):
        check_output_tree(out)


def test_the_cli_refuses_an_output_folder_with_a_link_leading_out_before_any_work(tmp_path: Path, capsys) -> None:
    inputs, out, victim = tmp_path / "in", tmp_path / "out", tmp_path / "victim"
    inputs.mkdir()
    out.mkdir()
    victim.mkdir()
    (inputs / "a.jsonl").write_text('{"id": "a", "text": "some text"}\n')
    (out / "shards").symlink_to(victim, target_is_directory=True)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"input: {{paths: [{inputs}]}}\noutput: {{dir: {tmp_path / 'elsewhere'}}}\n")
    assert main(["run", str(recipe), "--set", f"output.dir={out}", "--num-cpus", "1"]) == 2
    err = capsys.readouterr().err
    assert err == (f"carding: error: {out / 'shards'}: a symlink to {victim}, outside the output folder {out}; "
                   "carding writes only inside the output folder: remove the link or choose another output folder\n")
    assert sorted(os.listdir(out)) == ["shards"] and os.listdir(victim) == []
