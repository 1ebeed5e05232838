"""One writer per output (hawk_core.locks): every resumable writer refuses a second process on
its output at once (exit 2, naming the holder's pid), waits with --wait, and takes over a lock
file left by a dead process with a warning. The holders are real, separate processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hawk_core.errors import OutputLockedError
from hawk_core.locks import StaleLockWarning, lock_path, output_lock
from tests.helpers import LockHolder, hawk, subprocess_env, write_small_inputs

LOCKED = "is being written by another hawk process (pid {pid})"


# ---- the module ------------------------------------------------------------------------------


def test_lock_file_names_its_writer_and_goes_away(tmp_path):
    out = tmp_path / "preds.jsonl"
    with output_lock(out, command="hawk predict x") as path:
        assert path == tmp_path / "preds.jsonl.lock"
        owner = json.loads(path.read_text())
        assert owner["pid"] == os.getpid() and owner["command"] == "hawk predict x" and owner["host"]
        with output_lock(out):  # re-entrant in one thread (a command and the library it calls)
            pass
        assert path.exists()
    assert not lock_path(out).exists()


def test_second_process_fails_at_once_naming_the_holder(tmp_path):
    out = tmp_path / "o.jsonl"
    with LockHolder(out) as holder:
        t0 = time.monotonic()
        with pytest.raises(OutputLockedError, match=LOCKED.format(pid=holder.pid).replace("(", r"\(").replace(")", r"\)")):
            with output_lock(out):
                pass
        assert time.monotonic() - t0 < 2
    with output_lock(out):  # released when the holder exits
        pass


def test_wait_blocks_until_the_holder_is_done(tmp_path):
    out = tmp_path / "o.jsonl"
    holder = LockHolder(out)
    threading.Timer(1.0, holder.release).start()
    t0 = time.monotonic()
    with output_lock(out, wait=True):
        assert time.monotonic() - t0 >= 0.8
        assert json.loads(lock_path(out).read_text())["pid"] == os.getpid()


def test_threads_of_one_process_are_exclusive(tmp_path):
    out = tmp_path / "o.jsonl"
    inside = []

    def work(k: int) -> None:
        with output_lock(out, wait=True):
            inside.append(k)
            time.sleep(0.05)
            assert inside[-1] == k  # nobody else entered meanwhile

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(inside) == [0, 1, 2, 3]


def test_lock_of_a_killed_process_is_taken_over_with_a_warning(tmp_path):
    out = tmp_path / "o.jsonl"
    holder = LockHolder(out)
    holder.proc.kill()  # SIGKILL: the OS drops the flock, the file (naming the dead pid) stays
    holder.proc.wait()
    assert lock_path(out).exists()
    with pytest.warns(StaleLockWarning, match=f"pid {holder.pid}"):
        with output_lock(out):
            pass


def test_taking_the_lock_removes_what_a_killed_writer_left(tmp_path):
    run = tmp_path / "run"
    half = run / "checkpoints" / ".step-00000002.a1b2c3d4.tmp"  # atomic_path's temp of a killed checkpoint write
    half.mkdir(parents=True)
    (half / "model.safetensors").write_bytes(b"half")
    beside = tmp_path / ".run.e5f6g7h8.tmp"
    beside.write_text("x")
    other = tmp_path / ".other.e5f6g7h8.tmp"  # another output's
    other.write_text("x")
    keep = run / "notes.tmp"
    keep.write_text("not a temp of atomic_path")
    with output_lock(run):
        assert not half.exists() and not beside.exists()
    assert other.exists() and keep.exists() and (run / "checkpoints").is_dir()


# ---- every writer, through the real CLI ------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, fighting_video) -> dict:
    d = tmp_path_factory.mktemp("inputs")
    videos = d / "videos"
    videos.mkdir()
    (videos / "a.mp4").symlink_to(fighting_video)
    return {**write_small_inputs(d, fighting_video), "videos": videos}


# writer -> (command line given the output path, the locked path)
WRITERS = {
    "predict": (lambda i, o: ["predict", i["split"], "--out", o, "--model", "tiny"], lambda o: o),
    "flow": (lambda i, o: ["flow", i["videos"], "--out", o], lambda o: o),
    "synth": (lambda i, o: ["synth", "--out", o, "--n", "1"], lambda o: o),
    "parse": (lambda i, o: ["parse", "--in", i["texts"], "--out", o], lambda o: o),
    "score": (lambda i, o: ["score", i["preds"], "--items", o, "--no-semantic"], lambda o: o),
    "train": (lambda i, o: ["train", "--preset", "tiny", "--data", i["split"], "--out", o, "--steps", "1"], lambda o: o),
    "detect": (lambda i, o: ["detect", i["split"], "--out", o, "--scorer", "motion"], lambda o: o),
    "annotate": (lambda i, o: ["annotate", i["videos"], "--out", o.with_suffix(".json"), "-m", "x", "--base-url", "http://127.0.0.1:9/v1"],
                 lambda o: o.with_name(o.stem + ".work.jsonl")),
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_every_writer_refuses_a_second_process(writer, inputs, tmp_path):
    argv, locked = WRITERS[writer]
    out = tmp_path / "out"
    with LockHolder(locked(out)) as holder:
        r = hawk(*argv(inputs, out))
    assert r.returncode == 2, r.stdout + r.stderr
    errors = [x for x in r.stderr.splitlines() if x.startswith("error: ")]
    assert len(errors) == 1 and LOCKED.format(pid=holder.pid) in errors[0], r.stderr
    assert "Traceback" not in r.stderr


def test_score_waits_with_wait_and_warns_on_a_stale_lock(inputs, tmp_path):
    items = tmp_path / "items.jsonl"
    holder = LockHolder(items)
    threading.Timer(1.5, holder.release).start()
    t0 = time.monotonic()
    r = hawk("score", inputs["preds"], "--items", items, "--no-semantic", "--wait")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 >= 1.5 and len(items.read_text().splitlines()) == 1
    lock_path(items).write_text(json.dumps({"pid": 999999999, "host": "elsewhere", "command": "hawk score"}))
    r = hawk("score", inputs["preds"], "--items", items, "--no-semantic")
    assert r.returncode == 0, r.stderr
    assert "warning: took over the stale lock" in r.stderr and "pid 999999999" in r.stderr
    assert not lock_path(items).exists()


def test_detect_waits_with_wait(tmp_path):
    from tests.helpers import moving_square_frames, write_video

    clip = write_video(tmp_path / "clip.mp4", moving_square_frames(12))
    split = tmp_path / "test.json"
    split.write_text(json.dumps([{"video": str(clip), "description": "a square moves"}]))
    out = tmp_path / "det.jsonl"
    holder = LockHolder(out)
    threading.Timer(1.5, holder.release).start()
    t0 = time.monotonic()
    r = hawk("detect", split, "--out", out, "--scorer", "motion", "--no-describe", "--wait")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 >= 1.5 and len(out.read_text().splitlines()) == 1
    assert not lock_path(out).exists()


def test_judge_cache_appends_wait_for_the_other_run(tmp_path):
    from hawk_core.scoring.judge import JudgeCache

    path = tmp_path / "judge.jsonl"
    path.write_text(json.dumps({"key": "a", "score": 1}) + "\n")
    holder = LockHolder(path)
    threading.Timer(1.0, holder.release).start()
    t0 = time.monotonic()
    cache = JudgeCache(path)  # opening (repair + load) waits for the other writer
    assert time.monotonic() - t0 >= 0.8 and cache.get("a") == {"key": "a", "score": 1}
    cache.put({"key": "b", "score": 2})
    cache.close()
    assert [json.loads(x)["key"] for x in path.read_text().splitlines()] == ["a", "b"]


def _start(*args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hawk_cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=subprocess_env(COLUMNS="200"))


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize("writer", ["predict", "train"])
def test_two_real_hawk_processes_on_one_output(writer, inputs, tmp_path):
    """The issue's case: start one run, start the same command while it works; the second
    fails at once naming the first, the first finishes with every record once."""
    out = tmp_path / "out.jsonl" if writer == "predict" else tmp_path / "run"
    if writer == "predict":
        argv = ["predict", inputs["split"], "--out", out, "--model", "tiny", "--max-new-tokens", "48"]
    else:
        argv = ["train", "--preset", "tiny", "--data", inputs["split"], "--out", out, "--steps", "3",
                "--batch-size", "1", "--eval-every", "0", "--test-fraction", "0", "--cache-dir", tmp_path / "cache", "--device", "cpu"]
    first = _start(*argv)
    _wait_for(lock_path(out), first)
    second = hawk(*argv)
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    assert second.returncode == 2, second.stderr
    assert LOCKED.format(pid=first.pid) in second.stderr
    assert not lock_path(out).exists()
    if writer == "predict":
        ids = [json.loads(x)["id"] for x in out.read_text().splitlines()]
        assert len(ids) == 2 and len(set(ids)) == 2
    else:
        assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


_CONVERT_ONCE = r"""
import sys, time
from pathlib import Path
import hawk_core.embedded as emb

def fake_convert(target):  # a slow conversion that writes the folder, as convert_smollm2 does
    log = Path(sys.argv[1])
    with log.open("a") as f:
        f.write("convert\n")
    time.sleep(1.0)
    target.mkdir(parents=True, exist_ok=True)
    (target / "config.json").write_text("{}")
    return target

emb.convert_smollm2 = fake_convert
folder = emb.ensure_smollm2_cached()
assert (folder / "config.json").is_file(), "returned before the folder was complete"
"""


def test_processes_starting_on_a_fresh_cache_convert_the_llm_once(tmp_path):
    """torchrun's ranks start on an empty cache together: one converts the embedded LLM, the
    others wait for its folder instead of loading it half-written (a real crash once)."""
    log = tmp_path / "converted.log"
    env = {**subprocess_env(), "HAWK_CACHE": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", _CONVERT_ONCE, str(log)], env=env) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert log.read_text().splitlines() == ["convert"]
    assert not lock_path(tmp_path / "cache" / "smollm2-135m-instruct").exists()
