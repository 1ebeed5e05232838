"""Sharded `hawk predict`: --shard K/N, part files, --merge, torchrun (gloo on CPU)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hawk_cli.main import app
from hawk_core.errors import ConfigError
from hawk_core.inference.shards import Shard, find_parts, part_path, shard_items
from hawk_core.inference.split import plan_predictions

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample.mp4"
# Sampling with a seed, one answer per generate call, so that each answer depends only on its
# item, whatever else its process does. The random tiny LLM's answers hardly depend on the
# input (near-uniform logits): what tells a wrong sharding apart is the rest of each record
# (id, video, question, reference), compared whole, and that each id appears exactly once.
GEN = ["--model", "tiny", "--temperature", "1", "--seed", "3", "--max-new-tokens", "6", "--gen-batch", "1", "--batch-size", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def split(tmp_path_factory, fighting_video, accident_video) -> Path:
    d = tmp_path_factory.mktemp("split")
    for name in ("a.mp4", "d.mp4"):
        shutil.copy(SAMPLE, d / name)
    shutil.copy(fighting_video, d / "b.mp4")
    shutil.copy(accident_video, d / "c.mp4")
    records = [
        {"video": "a.mp4", "description": "ref a", "QA": [{"q": "Who is there?", "a": "x"}]},
        {"video": "b.mp4", "description": "ref b", "QA": [{"q": "What happens?", "a": "y"}, {"q": "Where?", "a": "z"}]},
        {"video": "c.mp4", "description": "ref c", "QA": []},
        {"video": "d.mp4", "description": "ref d", "QA": [{"q": "When?", "a": "w"}]},
        {"video": "b.mp4", "description": "ref b again", "QA": [{"q": "Why?", "a": "v"}]},
    ]
    path = d / "test.json"
    path.write_text(json.dumps(records))
    return path


def run(*args: str) -> object:
    r = CliRunner().invoke(app, ["predict", *args])
    return r


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def single(split, tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("single") / "preds.jsonl"
    r = run(str(split), "-o", str(out), *GEN)
    assert r.exit_code == 0, r.output
    recs = records(out)
    assert len(recs) == 10 and len({(r["video"], r["question"] if "question" in r else r["reference"]) for r in recs}) == 10
    return recs


def by_id(recs: list[dict]) -> dict[str, dict]:
    ids = [r["id"] for r in recs]
    assert len(ids) == len(set(ids)), "a record appears twice"
    return {r["id"]: r for r in recs}


def test_shard_parsing_and_torchrun_env():
    assert Shard.parse("1/4") == Shard(1, 4) and str(Shard.parse(" 0 / 2 ")) == "0/2"
    for bad in ("2/2", "1/0", "a/b", "1", "-1/2"):
        with pytest.raises(ConfigError, match="--shard"):
            Shard.parse(bad)
    assert Shard.from_env({"WORLD_SIZE": "3", "RANK": "2"}) == Shard(2, 3)
    assert Shard.from_env({}) is None and Shard.from_env({"WORLD_SIZE": "1", "RANK": "0"}) is None
    assert part_path(Path("o/preds.jsonl"), Shard(1, 3)) == Path("o/preds.part-1-of-3.jsonl")


def test_shards_are_disjoint_whole_and_by_video(split):
    items = plan_predictions(json.loads(split.read_text()), split, describe_prompt="Describe.")
    for n in (1, 2, 3, 7):
        parts = [shard_items(items, Shard(k, n)) for k in range(n)]
        ids = [it.id for p in parts for it in p]
        assert sorted(ids) == sorted(it.id for it in items)  # every item exactly once
        videos = [{str(it.path) for it in p} for p in parts]
        assert sum(len(v) for v in videos) == len({str(it.path) for it in items})  # a video in one shard only
    two = [shard_items(items, Shard(k, 2)) for k in range(2)]
    # distinct videos in order a, b, c, d: shard 0 gets a and c, shard 1 b (both records) and d
    assert {Path(it.video).name for it in two[0]} == {"a.mp4", "c.mp4"}
    assert {Path(it.video).name for it in two[1]} == {"b.mp4", "d.mp4"}


def test_two_shards_then_merge_equal_one_run(split, single, tmp_path):
    out = tmp_path / "preds.jsonl"
    for k in (0, 1):
        r = run(str(split), "-o", str(out), "--shard", f"{k}/2", *GEN)
        assert r.exit_code == 0, r.output
        assert part_path(out, Shard(k, 2)).is_file()
    assert not out.exists()
    r = run("--merge", str(out))
    assert r.exit_code == 0, r.output and "merged 10 of 10" in r.output
    merged = records(out)
    assert by_id(merged) == by_id(single)
    assert [m["id"] for m in merged] == [s["id"] for s in single]  # the single run's order too
    assert json.loads((tmp_path / "preds.jsonl.meta.json").read_text())["generation"]["seed"] == 3


def test_merge_refuses_incomplete_sets_unless_forced(split, single, tmp_path):
    out = tmp_path / "preds.jsonl"
    assert run(str(split), "-o", str(out), "--shard", "0/2", *GEN).exit_code == 0
    r = run("--merge", str(out))
    assert r.exit_code == 2 and "preds.part-1-of-2.jsonl: absent" in r.output and not out.exists()
    assert run(str(split), "-o", str(out), "--shard", "1/2", *GEN).exit_code == 0
    part1 = part_path(out, Shard(1, 2))
    lines = part1.read_text().splitlines(keepends=True)
    part1.write_text("".join(lines[:-2]))  # as if killed two answers before the end
    r = run("--merge", str(out))
    assert r.exit_code == 2 and "8 of 10" in r.output and "2 missing" in r.output
    r = run("--merge", str(out), "--force")
    assert r.exit_code == 0 and len(records(out)) == 8
    # resuming the shard writes only the two missing answers, then the merge is whole
    r = run(str(split), "-o", str(out), "--shard", "1/2", *GEN)
    assert r.exit_code == 0 and "2 written" in r.output
    assert run("--merge", str(out)).exit_code == 0
    assert by_id(records(out)) == by_id(single)


def test_merge_refuses_parts_of_different_runs(split, tmp_path):
    out = tmp_path / "preds.jsonl"
    assert run(str(split), "-o", str(out), "--shard", "0/2", *GEN).exit_code == 0
    assert run(str(split), "-o", str(out), "--shard", "1/2", "--limit", "3", *GEN).exit_code == 0
    r = run("--merge", str(out))
    assert r.exit_code == 2 and "different runs" in r.output
    r = run("--merge", str(tmp_path / "other.jsonl"))
    assert r.exit_code == 2 and "no part files" in r.output
    r = run()
    assert r.exit_code == 2 and "--merge" in r.output


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.mark.slow
def test_two_shard_processes(split, single, tmp_path):
    out = tmp_path / "preds.jsonl"
    cmd = [sys.executable, "-m", "hawk_cli", "predict", str(split), "-o", str(out), *GEN, "--threads", "1"]
    procs = [subprocess.Popen([*cmd, "--shard", f"{k}/2"], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for k in (0, 1)]
    for p in procs:
        output, _ = p.communicate(timeout=300)
        assert p.returncode == 0, output
    assert sorted(find_parts(out)) == [2]
    r = subprocess.run([sys.executable, "-m", "hawk_cli", "predict", "--merge", str(out)], env=_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert by_id(records(out)) == by_id(single)


@pytest.mark.slow
def test_torchrun_two_ranks_merge_at_the_end(split, single, tmp_path):
    torchrun = shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun not on PATH")
    out = tmp_path / "preds.jsonl"
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "hawk_cli", "predict", str(split), "-o", str(out), *GEN, "--threads", "1"]
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "merged 10 predictions from 2 parts" in r.stdout
    assert by_id(records(out)) == by_id(single)


def test_flow_folder_shards_cover_every_video_once(tmp_path):
    from tests.helpers import invoke, moving_square_frames, write_video

    src = tmp_path / "videos"
    src.mkdir()
    for i in range(5):
        write_video(src / f"v{i}.mp4", moving_square_frames(6, size=48, step=1 + i))
    done = []
    for k in range(2):
        out = tmp_path / f"flow{k}"
        r = invoke("flow", src, "--out", out, "-T", "2", "--size", "32", "--shard", f"{k}/2")
        assert r.exit_code == 0, r.output
        done.append(sorted(p.name for p in out.iterdir()))
    assert done == [["v0", "v2", "v4"], ["v1", "v3"]]
    r = invoke("flow", src / "v0.mp4", "--out", tmp_path / "one", "--shard", "0/2")
    assert r.exit_code == 2 and "folder of videos" in r.output
