"""`hawk annotate` against a real OpenAI-compatible HTTP server on 127.0.0.1 (tests/fake_openai.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.annotate_fake_llm import CAPTION, DESCRIPTION, FakeOpenAI, answer_for
from tests.helpers import invoke, moving_square_frames, write_video

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def videos(tmp_path: Path) -> Path:
    d = tmp_path / "videos"
    d.mkdir()
    write_video(d / "fight.mp4", moving_square_frames(40, 64))  # 4 s at 10 fps -> 2 clips of 2 s
    write_video(d / "calm.mp4", moving_square_frames(25, 64, step=1))  # 2.5 s -> 1 clip
    (d / "broken.mp4").write_bytes(os.urandom(4000))
    return d


@pytest.fixture()
def server(monkeypatch):
    def start(**kw) -> FakeOpenAI:
        srv = FakeOpenAI(**kw).__enter__()
        started.append(srv)
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        return srv

    started: list[FakeOpenAI] = []
    yield start
    for s in started:
        s.__exit__()


def _annotate(videos, out, *extra):
    return invoke("annotate", videos, "--out", out, "-c", "vision", "-m", "fake-gpt", "--backoff", "0.01", "--json", *extra)


def _summary(result) -> dict:
    return json.loads(result.output[result.output.index("{\n") :])


def _work_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.with_name(out.stem + ".work.jsonl").read_text().splitlines()]


def test_records_retries_and_broken_video(tmp_path, videos, server):
    srv = server(rules=[("fight.mp4", [500, 503, "ok"]), ("A user asks", ["malformed", "garbage", "ok"])])
    out = tmp_path / "ds.json"
    r = _annotate(videos, out, "--questions", "2", "--extra-questions", "1", "--price-in", "2.5", "--price-out", "10")
    assert r.exit_code == 0, r.output
    s = _summary(r)
    assert (s["records"], s["new"], s["skipped"], s["failed"]) == (2, 2, 1, 0)
    assert s["problems"][0]["video"].endswith("broken.mp4") and "cannot be opened" in s["problems"][0]["reason"]
    # 2 x 500/503 on fight's description; an empty and a non-JSON answer (both malformed)
    assert s["usage"]["retries"] == 4 and s["usage"]["malformed"] == 2
    assert s["usage"]["prompt_tokens"] > 0 and s["cost_usd"] == pytest.approx((s["usage"]["prompt_tokens"] * 2.5 + s["usage"]["completion_tokens"] * 10) / 1e6)

    records = json.loads(out.read_text())
    assert [Path(r["video"]).name for r in records] == ["calm.mp4", "fight.mp4"]  # input order (sorted folder)
    for rec in records:
        assert rec["description"] == DESCRIPTION
        assert len(rec["QA"]) == 3  # 2 paper questions + 1 generated
        for qa in rec["QA"]:
            assert qa["a"] == answer_for(qa["q"])
        prov = rec["provenance"]
        assert prov["llm"] == "fake-gpt" and prov["low_quality"] is False
        assert prov["prompt_version"].startswith("annotate-v1+")
        assert prov["captioner"]["captioner"] == "vision" and prov["generated_questions"] == 1
        assert all(c["caption"] == CAPTION for c in prov["clips"])
        assert rec["QA"][-1]["q"] == "Who starts the fight in the shop?"
    fight = records[1]
    assert [(c["start"], c["end"]) for c in fight["provenance"]["clips"]] == [(0.0, 2.0), (2.0, 4.0)]
    # the paper's questions: the right ones, seeded per video
    from hawk_core.annotate.prompts import assign_questions, open_questions

    qs = open_questions()
    assert len(qs) == 100
    ids = assign_questions(qs, fight["video"], 2, 0)
    assert fight["provenance"]["question_ids"] == ids and [qa["q"] for qa in fight["QA"][:2]] == [qs[i] for i in ids]
    # the images really went to the vision model: 3 key frames per clip
    caps = srv.kinds("caption")
    assert len(caps) == 3 and all(c["images"] >= 1 for c in caps)

    # a rerun does nothing new and keeps the dataset identical
    n_before = len(srv.log)
    r2 = _annotate(videos, out)
    s2 = _summary(r2)
    assert (s2["records"], s2["already_done"]) == (2, 2)
    assert len(srv.log) - n_before == 0  # the broken video fails before any call
    assert json.loads(out.read_text()) == records


def test_malformed_description_recorded_then_retried_with_cached_captions(tmp_path, videos, server):
    srv = server(rules=[("fight.mp4", ["malformed"])])  # always empty
    out = tmp_path / "ds.json"
    r = _annotate(videos, out, "--retries", "2")
    assert r.exit_code == 0, r.output
    s = _summary(r)
    assert (s["records"], s["failed"]) == (1, 1)
    fail = [p for p in s["problems"] if p["status"] == "failed"][0]
    assert fail["stage"] == "description" and "3 attempt(s)" in fail["reason"] and "malformed" in fail["reason"]
    assert len([e for e in srv.kinds("description") if "fight.mp4" in e["text"]]) == 3
    captions_before = len(srv.kinds("caption"))

    srv.rules.clear()  # the model behaves now
    r2 = _annotate(videos, out)
    s2 = _summary(r2)
    assert (s2["records"], s2["new"], s2["already_done"], s2["failed"]) == (2, 1, 1, 0)
    assert len(srv.kinds("caption")) == captions_before  # captions were paid for once
    videos_out = [r["video"] for r in json.loads(out.read_text())]
    assert len(videos_out) == len(set(videos_out)) == 2


def test_fatal_endpoint_error_stops_with_one_line(tmp_path, videos, server):
    server(rules=[("", [401])])
    out = tmp_path / "ds.json"
    r = _annotate(videos, out)
    assert r.exit_code != 0
    assert "HTTP 401" in r.output and "fake-gpt" in r.output and "Traceback" not in r.output


def test_bad_input(tmp_path, server):
    server()
    r = invoke("annotate", tmp_path / "nope", "--out", tmp_path / "x.json", "-m", "m")
    assert r.exit_code == 2 and "no such file or folder" in r.output
    r = invoke("annotate", tmp_path, "--out", tmp_path / "x.csv", "-m", "m")
    assert r.exit_code == 2 and ".json" in r.output
    (tmp_path / "v").mkdir()
    write_video(tmp_path / "v" / "a.mp4", moving_square_frames(12, 64))
    r = invoke("annotate", tmp_path / "v", "--out", tmp_path / "x.json", "-m", "m", "--captioner", "magic")
    assert r.exit_code == 2 and "unknown captioner 'magic'" in r.output
    r = invoke("annotate", tmp_path / "v", "--out", tmp_path / "x.json", "-m", "m", "--clips", "scenes")
    assert r.exit_code == 2 and "unknown clip mode" in r.output
    r = invoke("annotate", tmp_path / "v", "--out", tmp_path / "x.json", "-c", "vision")
    assert r.exit_code == 2 and "vision model" in r.output
    r = invoke("annotate", tmp_path / "v", "--out", tmp_path / "x.json", "-m", "m", "-c", "file")
    assert r.exit_code == 2 and "--captions" in r.output


def test_list_file_and_file_captioner(tmp_path, server):
    srv = server()
    caps = {
        "Fighting033_x264": {"duration": 20.0, "timestamps": [[0.0, 5.2], [5.2, 12.0]], "sentences": ["Two men talk in a shop.", "One man punches the other."]},
    }
    (tmp_path / "captions.json").write_text(json.dumps(caps))
    (tmp_path / "list.txt").write_text("# UCF-Crime videos\nucf/Fighting033_x264.mp4\nucf/Missing001_x264.mp4\n")
    out = tmp_path / "ds.json"
    r = invoke("annotate", tmp_path / "list.txt", "--out", out, "-c", "file", "--captions", tmp_path / "captions.json", "-m", "fake-gpt", "--questions", "1", "--json")
    assert r.exit_code == 0, r.output
    s = _summary(r)
    assert (s["records"], s["skipped"]) == (1, 1) and "no captions for 'Missing001_x264'" in s["problems"][0]["reason"]
    rec = json.loads(out.read_text())[0]
    assert rec["video"] == str(tmp_path / "ucf" / "Fighting033_x264.mp4")
    assert rec["provenance"]["clips"][1] == {"start": 5.2, "end": 12.0, "caption": "One man punches the other."}
    desc = srv.kinds("description")[0]["text"]
    assert "[00:05.2-00:12.0] One man punches the other." in desc and "human annotators" in desc


def test_caption_text_and_clip_splitting():
    from hawk_core.annotate.captioners import parse_caption_text
    from hawk_core.annotate.clips import ClipConfig, split_fixed, split_motion

    caps = parse_caption_text("0 4.5 A man walks in.\n[00:04.5-00:09] He falls.\n# comment\nA car passes.\n")
    assert caps == [
        {"start": 0.0, "end": 4.5, "caption": "A man walks in."},
        {"start": 4.5, "end": 9.0, "caption": "He falls."},
        {"start": None, "end": None, "caption": "A car passes."},
    ]
    ts = np.arange(20) * 0.5 + 0.25  # 10 s, 2 samples/s
    energy = np.full(20, 0.1)
    energy[8:12] = 3.0  # a burst of motion at 4-6 s
    fixed = split_fixed(ts, energy, 10.0, ClipConfig(clip_seconds=3.0))
    assert len(fixed) == 4 and fixed[-1].end == 10.0 and sum(len(c.samples) for c in fixed) == 20
    motion = split_motion(ts, energy, 10.0, ClipConfig(mode="motion"))
    bounds = [c.start for c in motion[1:]]
    assert len(motion) == 3 and bounds[0] == pytest.approx(4.0, abs=0.6) and bounds[1] == pytest.approx(6.0, abs=0.6)
    burst = max(motion, key=lambda c: c.energy)
    assert burst.energy > 2.0
    assert len(split_motion(ts, np.full(20, 0.1), 10.0, ClipConfig(mode="motion"))) == 1  # nothing to cut at
    with pytest.raises(Exception, match="max_clips"):
        ClipConfig(max_clips=0)


def test_question_assignment_is_seeded_per_video():
    from hawk_core.annotate.prompts import assign_questions

    qs = [f"q{i}?" for i in range(100)]
    a = assign_questions(qs, "v1.mp4", 5, seed=0)
    assert a == assign_questions(qs, "v1.mp4", 5, seed=0) and len(set(a)) == 5
    assert a != assign_questions(qs, "v1.mp4", 5, seed=1)
    assert a != assign_questions(qs, "v2.mp4", 5, seed=0)


def test_kill_and_resume_loses_nothing_and_doubles_nothing(tmp_path, server):
    srv = server(delay=0.15)
    d = tmp_path / "videos"
    d.mkdir()
    for i in range(6):
        write_video(d / f"v{i}.mp4", moving_square_frames(20 + i, 64))
    out = tmp_path / "ds.json"
    work = out.with_name("ds.work.jsonl")
    env = {**os.environ, "OPENAI_BASE_URL": srv.base_url, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "hawk_cli", "annotate", str(d), "--out", str(out), "-c", "vision", "-m", "fake-gpt", "--questions", "2", "-j", "2"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if work.exists() and sum('"status": "ok"' in ln for ln in work.read_text().splitlines()) >= 2:
                break
            time.sleep(0.05)
        else:
            pytest.fail("no record completed in 60 s: " + proc.stderr.read().decode()[-500:] if proc.poll() is not None else "timeout")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done_before = {ln["video"] for ln in _work_lines(out) if ln.get("status") == "ok"}
    assert 2 <= len(done_before) < 6, "the kill came too late to test anything"
    assert not out.exists() or isinstance(json.loads(out.read_text()), list)  # never half-written

    before = len(srv.log)
    r = _annotate(d, out, "--questions", "2")
    assert r.exit_code == 0, r.output
    s = _summary(r)
    assert s["records"] == 6 and s["already_done"] == len(done_before) and s["new"] == 6 - len(done_before)
    records = json.loads(out.read_text())
    assert [Path(r["video"]).name for r in records] == [f"v{i}.mp4" for i in range(6)]
    assert all(len(r["QA"]) == 2 for r in records)
    # nothing was asked again for the videos finished before the kill
    redone = [e for e in srv.log[before:] if e["kind"] == "description" and any(Path(v).name in e["text"] for v in done_before)]
    assert redone == []
    ok_lines = [ln for ln in _work_lines(out) if ln.get("status") == "ok"]
    assert len(ok_lines) == 6 == len({ln["video"] for ln in ok_lines})


def test_torn_work_file_is_repaired(tmp_path, videos, server):
    server()
    out = tmp_path / "ds.json"
    assert _annotate(videos, out).exit_code == 0
    work = out.with_name("ds.work.jsonl")
    work.write_bytes(work.read_bytes() + b'{"kind": "result", "status": "ok", "vid')  # killed mid-line
    r = _annotate(videos, out)
    assert r.exit_code == 0, r.output
    assert _summary(r)["records"] == 2
    assert work.read_bytes().endswith(b"\n")


@pytest.mark.slow
def test_perception_captioner_on_real_clips(accident_video, fighting_video):
    from hawk_core.annotate.captioners import PerceptionCaptioner
    from hawk_core.annotate.clips import ClipConfig, analyse_video

    cap = PerceptionCaptioner()
    a = analyse_video(accident_video, ClipConfig(mode="motion"))
    assert 6.0 <= a.duration <= 6.2 and len(a.clips) >= 2
    clips = cap.caption_video(accident_video, a)
    assert len(clips) == len(a.clips)
    for c in clips:
        assert "ImageNet tags" in c["caption"] and ("motion" in c["caption"] or "still" in c["caption"])
    # the crash (about 2.5-3.5 s into this clip) is the motion peak
    peak = max(a.clips, key=lambda s: s.energy)
    assert peak.start < 3.5 and peak.end > 2.5
    assert "motion peak" in clips[peak.index]["caption"]
    # road scene: the tags name vehicles or road things somewhere
    labels = " ".join(c["caption"] for c in clips)
    assert any(w in labels for w in ("van", "truck", "car", "cab", "traffic", "street", "solar", "trailer"))

    f = analyse_video(fighting_video, ClipConfig(mode="fixed", clip_seconds=3.0))
    fc = cap.caption_video(fighting_video, f)
    assert len(fc) == 4  # 9.03 s in windows of at most 3 s
    assert "motion peak" in fc[0]["caption"] + fc[1]["caption"]
    assert "still" in fc[-1]["caption"]  # the fight is over in the last seconds


@pytest.mark.slow
def test_offline_fallback_flags_low_quality(tmp_path):
    (tmp_path / "caps").mkdir()
    (tmp_path / "caps" / "clip.txt").write_text("0 3 A man runs across a busy road.\n3 6 A car hits him and he falls down.\n")
    out = tmp_path / "ds.json"
    r = invoke("annotate", tmp_path / "clip.mp4", "--out", out, "-c", "file", "--captions", tmp_path / "caps", "--questions", "1", "--max-tokens", "48", "--retries", "1")
    assert r.exit_code == 0, r.output
    assert "LOW QUALITY" in r.output and "low quality" in r.output
    rec = json.loads(out.read_text())[0]
    assert rec["provenance"]["low_quality"] is True and rec["provenance"]["llm"].startswith("embedded:")
    assert len(rec["description"]) >= 40 and len(rec["QA"]) == 1 and rec["QA"][0]["a"]


def test_remote_model_needs_a_key_or_endpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (tmp_path / "v").mkdir()
    write_video(tmp_path / "v" / "a.mp4", moving_square_frames(12, 64))
    r = invoke("annotate", tmp_path / "v", "--out", tmp_path / "x.json", "-m", "gpt-4o")
    assert r.exit_code == 2 and "OPENAI_API_KEY" in r.output and "--llm-model embedded" in r.output
    # an endpoint that is down: retried, then recorded as a failure per video, one line each
    r = invoke("annotate", tmp_path / "v", "--out", tmp_path / "x.json", "-m", "m", "--base-url", "http://127.0.0.1:9/v1", "--retries", "1", "--backoff", "0", "-c", "vision")
    assert r.exit_code == 1 and "cannot reach http://127.0.0.1:9/v1" in r.output and "Traceback" not in r.output


def test_two_runs_cannot_write_one_work_file(tmp_path, videos, server):
    server()
    from hawk_core.annotate.pipeline import work_path
    from tests.helpers import LockHolder

    out = tmp_path / "ds.json"
    with LockHolder(work_path(out)) as holder:  # another process writing the working file
        r = _annotate(videos, out)
        assert r.exit_code == 2 and f"is being written by another hawk process (pid {holder.pid})" in r.output
    assert _annotate(videos, out).exit_code == 0
