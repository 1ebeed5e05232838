"""The fault battery (issue 16, point 3), as far as it goes: a SIGKILL at seeded random points
then a rerun (every record once, every line valid JSON, no temp files); a write that fails
midway (ENOSPC / permission denied) keeps the last complete output and says so in one line;
a corrupt judge-cache line is reported and asked again, never reused or fatal."""

from __future__ import annotations

import errno
import importlib
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
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
    assert [str(p) for p in folder.rglob("*.tmp*")] == []


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


# ---- a write that fails midway, through each writer's command -----------------------------


def _disk_fills_after(monkeypatch, n_ok: int, err: int) -> None:
    """Every JSONL appender writes ``n_ok`` records, then the disk is full (or the file is no
    longer writable): the next write lands half a line and fails."""
    real = JsonlAppender.write
    calls = [0]

    def write(self, record: dict) -> None:
        calls[0] += 1
        if calls[0] > n_ok:
            self._fh = _FullDisk(self._fh, err)
        return real(self, record)

    monkeypatch.setattr(JsonlAppender, "write", write)


def _fail_on(monkeypatch, owner: object, name: str, err: int, when: Callable[..., bool]) -> None:
    """``owner.name(...)`` raises ``OSError(err)`` when ``when(*args)``; otherwise it works."""
    real = getattr(owner, name)

    def call(*args, **kwargs):
        if when(*args):
            raise OSError(err, os.strerror(err))
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, call)


def _one_write_error(r, target: Path) -> str:
    assert r.exit_code not in (0, None), r.output
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    errors = [x for x in r.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: cannot write {target}"), r.output
    return errors[0]


WRITE_ERRNOS = [errno.ENOSPC, pytest.param(errno.EACCES, marks=pytest.mark.slow)]  # the same path: one in the default run


@pytest.mark.parametrize("err", WRITE_ERRNOS)
@pytest.mark.parametrize("writer", ["predict", "detect", "parse", "synth"])
def test_appending_writer_fails_midway_keeps_its_complete_records(writer, err, tmp_path, monkeypatch, inputs):
    argv, _, _, progress, total = RESUMABLE[writer]
    argv = argv(inputs, tmp_path / "out")
    target = Path(argv[argv.index("--out") + 1])
    log = target / "train.jsonl" if writer == "synth" else target
    n_ok = max(1, total // 4)
    _disk_fills_after(monkeypatch, n_ok, err)
    line = _one_write_error(invoke(*argv), log)
    assert "its complete lines are kept, rerun to resume" in line
    assert len(_valid_lines(log)) == n_ok
    monkeypatch.undo()
    r = invoke(*argv)  # room again: the rerun completes the output
    assert r.exit_code == 0, r.output
    RESUMABLE[writer][1](target)
    _no_temp_files(tmp_path)


@pytest.mark.parametrize("err", WRITE_ERRNOS)
def test_score_items_write_fails_keeps_the_previous_items(err, tmp_path, monkeypatch, inputs):
    items = tmp_path / "items.jsonl"
    argv = ["score", inputs["small"]["preds"], "--no-semantic", "--no-meteor", "--items", items]
    assert invoke(*argv).exit_code == 0
    before = items.read_bytes()
    _disk_fills_after(monkeypatch, 100, err)
    line = _one_write_error(invoke(*argv), items)
    assert f"the previous {items} is unchanged" in line
    assert items.read_bytes() == before
    _no_temp_files(tmp_path)


def _checkpoints(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "checkpoints").iterdir())


# writer -> (the call that fails: its owner, its name, when (given the output and the call's path));
#            the output the error names; what must be kept (given the output)
WHOLE_WRITES = {
    "flow": (lambda: Path, "write_text", lambda out, path: path.name == "stats.json" and _flow_done(out) >= 2,  # the third video's
             lambda out: out / "c2", lambda out: sorted(p.name for p in out.iterdir()) == ["c0", "c1"] and _flow_done(out) == 2),
    "train": (lambda: importlib.import_module("hawk_core.training.trainer"), "write_json",  # the second checkpoint's
              lambda out, path: path.name == "train_config.json" and (out / "checkpoints" / "step-00000001").is_dir(),
              lambda out: out / "checkpoints" / "step-00000002",
              lambda out: _checkpoints(out) == ["step-00000001"] and json.loads((out / "latest.json").read_text())["step"] == 1),
}


@pytest.mark.parametrize("err", WRITE_ERRNOS)
@pytest.mark.parametrize("writer", sorted(WHOLE_WRITES))
def test_write_of_a_whole_output_fails_keeps_the_complete_ones(writer, err, tmp_path, monkeypatch, inputs):
    """A flow output folder / a training checkpoint cannot be written: one line, the complete
    ones (and no partial one) kept, and the rerun (train: with --resume) completes the output."""
    owner, name, when, named, kept = WHOLE_WRITES[writer]
    argv, check, rerun_extra, _, _ = RESUMABLE[writer]
    out = tmp_path / "out"
    argv = argv(inputs, out)
    _fail_on(monkeypatch, owner(), name, err, lambda path, *a: when(out, path))
    _one_write_error(invoke(*argv), named(out))
    assert kept(out)
    monkeypatch.undo()
    r = invoke(*argv, *rerun_extra)
    assert r.exit_code == 0, r.output
    check(out)
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


def _hawk_argv(*args: object) -> list[str]:
    return [sys.executable, "-m", "hawk_cli", *map(str, args)]


def kill_then_rerun(argv: list, ready: Callable[[], bool], rerun: list | None = None) -> bool:
    """Start ``hawk ARGV``, SIGKILL it as soon as ``ready()`` (or let it finish, if it is
    quicker), then run ``RERUN`` (default: the same command) to the end: it must succeed.
    Returns whether the kill landed (the first run had not finished)."""
    env = subprocess_env()
    proc = subprocess.Popen(_hawk_argv(*argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    end = time.monotonic() + 300
    while not ready() and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    killed = proc.wait() == -signal.SIGKILL
    again = subprocess.run(_hawk_argv(*(rerun or argv)), capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr
    return killed


def _ids_once(path: Path, n: int, key: str = "id") -> None:
    ids = [r[key] for r in _valid_lines(path)]
    assert len(ids) == len(set(ids)) == n, ids  # every record exactly once


@pytest.fixture(scope="module")
def split(tmp_path_factory, fighting_video, accident_video) -> Path:
    path = tmp_path_factory.mktemp("split") / "test.json"
    path.write_text(json.dumps([{"video": str(v), "description": f"d{i}", "QA": [{"q": "What happens?", "a": f"a{i}"}]}
                                for i, v in enumerate([fighting_video, accident_video])]))
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict:
    """Small, quick inputs: four short synthetic clips (a folder and a split of them), 400 texts
    to parse, 400 predictions to score."""
    from tests.helpers import moving_square_frames, write_video

    d = tmp_path_factory.mktemp("small")
    clips = d / "clips"
    clips.mkdir()
    videos = [write_video(clips / f"c{i}.mp4", moving_square_frames(16, step=1 + i)) for i in range(4)]
    split = d / "clips.json"
    split.write_text(json.dumps([{"video": str(v), "description": "a square moves"} for v in videos]))
    texts = d / "texts.jsonl"
    texts.write_text("".join(json.dumps({"id": f"t{i}", "video": f"v{i}.mp4", "description": f"A man in a red coat runs across road {i} and falls."}) + "\n"
                          for i in range(400)))
    preds = d / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": f"p{i}", "task": "description", "prediction": f"a man runs {i}",
                                         "reference": f"a man runs away {i}"}) + "\n" for i in range(400)))
    return {"clips": clips, "split": split, "texts": texts, "preds": preds}


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.is_file() else 0


def _check_flow(out: Path) -> None:
    from hawk_core.media.flow import is_complete

    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["c0", "c1", "c2", "c3"]
    assert all(is_complete(p) for p in out.iterdir() if p.is_dir())


def _flow_done(out: Path) -> int:
    from hawk_core.media.flow import is_complete

    return sum(is_complete(p) for p in out.iterdir()) if out.is_dir() else 0


def _check_synth(out: Path) -> None:
    _ids_once(out / "train.jsonl", 3)
    assert len(json.loads((out / "train.json").read_text())) == 3
    assert len(list((out / "videos").glob("*.mp4"))) == 3


def _check_train(out: Path) -> None:
    steps = [r["step"] for r in _valid_lines(out / "metrics.jsonl")]
    assert steps == [1, 2, 3, 4], steps  # every step logged once, the run finished
    assert (out / "model" / "config.json").is_file()


# writer -> (command line given the inputs and the output; the check of the output after the rerun;
#            extra arguments of the rerun; progress: records written so far, given the output; records in all).
# A seeded point is a number of records k (0: as soon as the lock is taken, before any work) and the run is
# killed once it has written k. `score --items` writes its file atomically at the end, so its points are
# times after the lock instead.
RESUMABLE = {
    "predict": (lambda i, o: ["predict", i["split"], "--out", o.with_suffix(".jsonl"), "--model", "tiny", "--max-new-tokens", "6",
                              "--batch-size", "1", "--gen-batch", "1"], lambda t: _ids_once(t, 4), [], _lines, 4),
    "detect": (lambda i, o: ["detect", i["small"]["split"], "--out", o.with_suffix(".jsonl"), "--scorer", "motion", "--no-describe"],
               lambda t: _ids_once(t, 4), [], _lines, 4),
    "flow": (lambda i, o: ["flow", i["small"]["clips"], "--out", o, "--frames", "8", "--size", "32"], _check_flow, [], _flow_done, 4),
    "synth": (lambda i, o: ["synth", "--out", o, "--n", "3", "--frames", "16", "--size", "64", "--codec", "mp4v"], _check_synth, [],
              lambda t: _lines(t / "train.jsonl"), 3),
    "parse": (lambda i, o: ["parse", "--in", i["small"]["texts"], "--out", o.with_suffix(".jsonl"), "--batch-size", "8"],
              lambda t: _ids_once(t, 400), [], _lines, 400),
    "score": (lambda i, o: ["score", i["small"]["preds"], "--no-semantic", "--no-meteor", "--items", o.with_suffix(".jsonl")],
              lambda t: _ids_once(t, 400), [], None, 0),
    "train": (lambda i, o: ["train", "--preset", "tiny", "--data", i["split"], "--out", o, "--steps", "4", "--batch-size", "1",
                            "--save-every", "1", "--eval-every", "0", "--test-fraction", "0", "--device", "cpu", "--cache-dir", o.parent / "cache"],
              _check_train, ["--resume"], lambda t: _lines(t / "metrics.jsonl"), 4),
}
FAST_SEED = 16
FAST = ("flow", "predict", "synth")  # each well under 10 s; the rest of the battery is marked slow


def _battery(writer: str, seed: int, tmp_path: Path, inputs: dict) -> None:
    from hawk_core.locks import lock_path

    argv, check, rerun_extra, progress, total = RESUMABLE[writer]
    argv = argv(inputs, tmp_path / "out")
    target = Path(argv[argv.index("--out" if "--out" in argv else "--items") + 1])
    rng = random.Random(seed)
    lock = lock_path(target)
    delay = rng.uniform(0.0, 4.0)
    k = rng.randrange(total) if progress is not None else 0
    if writer == "train":  # killed before its first step there is no run yet, and `--resume` says so
        k = max(k, 1)
    locked_at: list[float] = []

    def ready() -> bool:
        if not locked_at and lock.exists():
            locked_at.append(time.monotonic())
        if progress is not None:
            return bool(locked_at) and progress(target) >= k
        return bool(locked_at) and time.monotonic() - locked_at[0] >= delay
    killed = kill_then_rerun(argv, ready, [*argv, *rerun_extra])
    assert killed or progress is None, "the first run finished before the kill point"
    check(target)
    _no_temp_files(tmp_path)
    assert not lock.exists()


@pytest.fixture
def inputs(split, small) -> dict:
    return {"split": split, "small": small}


@pytest.mark.parametrize("writer", FAST)
def test_writer_killed_at_a_random_point_resumes(writer, tmp_path, inputs):
    _battery(writer, FAST_SEED, tmp_path, inputs)


@pytest.mark.slow
@pytest.mark.parametrize("point", [-1, 0, 1, 2, 3])
@pytest.mark.parametrize("writer", sorted(RESUMABLE))
def test_writer_killed_at_seeded_points_resumes(writer, point, tmp_path, inputs):
    if point == -1 and writer in FAST:
        pytest.skip("in the default run")
    _battery(writer, FAST_SEED if point == -1 else 1600 + point, tmp_path, inputs)


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
