"""The fault battery (issue 16, point 3), as far as it goes: a SIGKILL at seeded random points
then a rerun (every record once, every line valid JSON, no temp files); a write that fails
midway (ENOSPC / permission denied) keeps the last complete output and says so in one line;
a corrupt judge-cache line is reported and asked again, never reused or fatal."""

from __future__ import annotations

import errno
import json
import math
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hawk_core.errors import OutputWriteError
from hawk_core.io import JsonlAppender
from tests.helpers import invoke, subprocess_env


def _valid_lines(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "a torn last line"
    return [json.loads(line) for line in text.splitlines()]  # every line valid JSON


def _no_temp_files(folder: Path) -> None:
    assert [p.name for p in folder.rglob("*.tmp")] == []


# ---- a write that fails midway -------------------------------------------------------------


class _FullDisk:
    """A file object that writes part of what it is given, then fails as a full disk does."""

    def __init__(self, fh, err: int) -> None:
        self.fh, self.err = fh, err

    def write(self, text: str) -> int:
        self.fh.write(text[: len(text) // 2])
        self.fh.flush()
        raise OSError(self.err, "No space left on device" if self.err == errno.ENOSPC else "Permission denied")

    def __getattr__(self, name):
        return getattr(self.fh, name)


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EACCES])
def test_failed_append_keeps_the_complete_lines(tmp_path, err):
    path = tmp_path / "preds.jsonl"
    app = JsonlAppender(path)
    app.write({"id": "a"})
    app.write({"id": "b"})
    app._fh = _FullDisk(app._fh, err)
    with pytest.raises(OutputWriteError, match=rf"cannot write {path}: .*; its complete lines are kept, rerun to resume"):
        app.write({"id": "c" * 100})
    app.write({"id": "d"})  # the disk has room again: appending goes on after the last complete line
    app.close()
    assert [r["id"] for r in _valid_lines(path)] == ["a", "b", "d"]


def test_failed_report_write_keeps_the_previous_report(tmp_path, monkeypatch):
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": "a", "task": "description", "prediction": "a man runs", "reference": "a man runs away"}) + "\n")
    report = tmp_path / "report.json"
    assert invoke("score", preds, "--no-semantic", "--out", report).exit_code == 0
    before = report.read_text()
    real = Path.write_text

    def full_disk(self, *a, **k):
        if self.name.endswith(".tmp"):
            real(self, "{\"partial", encoding="utf-8")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", full_disk)
    r = invoke("score", preds, "--no-semantic", "--out", report)
    assert r.exit_code == 2
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert lines[-1] == f"error: cannot write {report}: No space left on device; the previous {report} is unchanged"
    assert "Traceback" not in r.output and report.read_text() == before
    _no_temp_files(tmp_path)


# ---- a corrupt cache entry -----------------------------------------------------------------


def test_corrupt_judge_cache_line_is_reported_and_asked_again(tmp_path, monkeypatch, hivau_jsonl):
    from tests.fake_openai import FakeOpenAI
    from tests.scoring_data import build_pairs, write_jsonl

    refs, preds = build_pairs(hivau_jsonl, limit=2)
    preds_path = write_jsonl(tmp_path / "p.jsonl", [dict(p, prediction=p["prediction"] + " [good]") for p in preds])
    refs_path = tmp_path / "refs.json"
    refs_path.write_text(json.dumps(refs))
    cache = tmp_path / "judge.jsonl"
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAI() as server:
        args = ["score", preds_path, "--refs", refs_path, "--no-semantic", "--judge", "--judge-base-url", server.base_url,
                "--judge-cache", cache, "--judge-backoff", "0"]
        first = invoke(*args, "--json")
        assert first.exit_code == 0, first.output
        lines = cache.read_text().splitlines()
        n = len(lines)
        assert n == 3 * len(preds)  # one verdict per (item, dimension)
        lines[2] = lines[2][: len(lines[2]) // 2]  # a broken line in the middle
        cache.write_text("\n".join(lines) + "\n")
        server.reset()
        again = invoke(*args)
        assert again.exit_code == 0, again.output
        assert len(server.requests) == 1  # only the broken verdict is asked again; the rest reused
    assert "judge cache: 1 corrupt line(s) dropped; their verdicts were asked again" in " ".join(again.output.split())
    assert len(_valid_lines(cache)) == n
    scores = json.loads(first.stdout)["runs"][0]["tasks"]
    assert all(not isinstance(v, float) or math.isfinite(v) for t in scores.values() for v in t.values())


# ---- SIGKILL, then rerun -------------------------------------------------------------------


def _predict_argv(split: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "hawk_cli", "predict", str(split), "--out", str(out), "--model", "tiny",
            "--max-new-tokens", "6", "--batch-size", "1", "--gen-batch", "1"]


def _kill_then_resume(tmp_path: Path, split: Path, delay: float) -> None:
    out = tmp_path / f"preds-{delay:.2f}.jsonl"
    env = subprocess_env()
    proc = subprocess.Popen(_predict_argv(split, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    lock = out.with_name(out.name + ".lock")
    end = time.monotonic() + 120
    while not lock.exists() and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run(_predict_argv(split, out), capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    ids = [r["id"] for r in _valid_lines(out)]
    assert len(ids) == len(set(ids)) == 4  # every record exactly once
    _no_temp_files(tmp_path)
    assert not lock.exists()


@pytest.fixture(scope="module")
def split(tmp_path_factory, fighting_video, accident_video) -> Path:
    path = tmp_path_factory.mktemp("split") / "test.json"
    path.write_text(json.dumps([{"video": str(v), "description": f"d{i}", "QA": [{"q": "What happens?", "a": f"a{i}"}]}
                                for i, v in enumerate([fighting_video, accident_video])]))
    return path


def test_predict_killed_at_a_random_point_resumes(tmp_path, split):
    _kill_then_resume(tmp_path, split, random.Random(16).uniform(2.0, 6.0))


@pytest.mark.slow
@pytest.mark.parametrize("point", range(4))
def test_predict_killed_at_seeded_points_resumes(tmp_path, split, point):
    _kill_then_resume(tmp_path, split, random.Random(1600 + point).uniform(0.0, 10.0))


def test_truncated_feature_cache_entry_is_recomputed(tmp_path, fighting_video, hivau_jsonl):
    """The cache is written by the real writer (`hawk train` on the tiny preset); one entry is
    truncated; the next run reports it, recomputes it and trains."""
    from tests.hawk_dataset import write_dataset

    data = write_dataset(tmp_path / "hawk.json", fighting_video.parent, hivau_jsonl)
    cache = tmp_path / "cache"
    args = ["train", "--preset", "tiny", "--data", data, "--cache-dir", cache, "--batch-size", "2", "--steps", "1",
            "--eval-every", "0", "--device", "cpu"]
    assert invoke(*args, "--out", tmp_path / "a").exit_code == 0
    entries = sorted(cache.rglob("*.safetensors"))
    assert entries
    entries[0].write_bytes(entries[0].read_bytes()[:100])
    r = invoke(*args, "--out", tmp_path / "b")
    assert r.exit_code == 0, r.output
    assert "feature cache: 1 corrupt file(s) removed and recomputed" in " ".join(r.output.split())
    from safetensors import safe_open

    with safe_open(str(entries[0]), framework="pt") as f:
        assert "video" in f.keys()
