"""hawk synth: determinism, every event's ground truth, HAWK format, CLI resume and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hawk_core.errors import ConfigError, InputError
from hawk_core.media.motion import farneback, flow_magnitude
from hawk_core.synth import (
    ANOMALY_TYPES, EVENTS, SynthConfig, event_type_from_text, make_video, synthesize, validate_record,
)
from hawk_core.media.video import sample_clip
from tests.helpers import invoke

SMALL = SynthConfig(frames=32)


def test_same_seed_same_frames_and_text():
    a = make_video(5, "train", 3, SMALL)
    b = make_video(5, "train", 3, SMALL)
    assert np.array_equal(a.frames, b.frames)
    assert a.record == b.record
    c = make_video(5, "test", 3, SMALL)  # another split: another stream
    d = make_video(6, "train", 3, SMALL)  # another seed
    assert not np.array_equal(a.frames, c.frames) and not np.array_equal(a.frames, d.frames)


def _flow_diff(a: np.ndarray, b: np.ndarray, t: int) -> np.ndarray:
    return flow_magnitude(farneback(a[t - 1], a[t]) - farneback(b[t - 1], b[t]))  # (S, S) px/frame


@pytest.mark.parametrize("event", ANOMALY_TYPES)
def test_event_span_and_region_hold_the_anomalous_motion(event):
    """Render each event and its counterfactual (same seed, anomaly replaced by normal
    behaviour): before the span the videos are identical; inside the span the optical flow
    differs, and much more inside the region than outside it."""
    v = make_video(2, "t", 1, SMALL, event=event)
    r = v.record
    assert r["event_type"] == event and r["anomaly"] and r["scene"] in EVENTS[event]
    cf = make_video(2, "t", 1, SMALL, event=event, counterfactual=True, attempt=r["synth"]["attempt"])
    s, e = r["time_span"]["start_frame"], r["time_span"]["end_frame"]
    assert e - s + 1 >= 4
    assert r["time_span"]["start_s"] == pytest.approx(s / r["fps"]) and r["time_span"]["end_s"] == pytest.approx((e + 1) / r["fps"])
    assert np.array_equal(v.frames[:s], cf.frames[:s]), "frames before the span must match the normal counterfactual"
    assert not np.array_equal(v.frames[s : e + 1], cf.frames[s : e + 1])
    x0, y0, x1, y1 = (int(round(c)) for c in r["region"]["bbox"])
    inside = np.zeros((SMALL.size, SMALL.size), dtype=bool)
    inside[y0 : y1 + 1, x0 : x1 + 1] = True
    d_in, d_out = [], []
    for t in np.unique(np.linspace(max(s, 1), e, 8).round().astype(int)):  # 8 frames across the span
        d = _flow_diff(v.frames, cf.frames, t)
        d_in.append(d[inside].mean())
        d_out.append(d[~inside].mean() if (~inside).any() else 0.0)
    assert np.mean(d_in) > 0.1, f"{event}: motion in the region hardly differs from normal ({np.mean(d_in):.3f} px/frame)"
    assert np.mean(d_in) > 2 * np.mean(d_out), f"{event}: the difference is not concentrated in the region"


def test_running_is_faster_than_walking_in_the_flow():
    """The runner looks like everyone else; only motion tells: in the region, over the span,
    the peak flow is well above that of the same person walking on (the counterfactual)."""
    ratios = []
    for idx in range(4):
        v = make_video(4, "t", idx, SMALL, event="running")
        r = v.record
        cf = make_video(4, "t", idx, SMALL, event="running", counterfactual=True, attempt=r["synth"]["attempt"])
        s, e = r["time_span"]["start_frame"], r["time_span"]["end_frame"]
        x0, y0, x1, y1 = (int(round(c)) for c in r["region"]["bbox"])

        def peak(frames, t):
            return np.percentile(flow_magnitude(farneback(frames[t - 1], frames[t]))[y0 : y1 + 1, x0 : x1 + 1], 99.5)

        ts = np.unique(np.linspace(s + 3, e, 6).round().astype(int))  # after the 3-frame acceleration
        ratios.append(np.median([peak(v.frames, t) for t in ts]) / np.median([peak(cf.frames, t) for t in ts]))
    assert min(ratios) > 1.4 and np.median(ratios) > 2.0, ratios


def test_descriptions_name_their_event_and_records_are_valid():
    seen = set()
    for i in range(36):
        r = make_video(9, "train", i, SMALL).record
        seen.add(r["event_type"])
        assert event_type_from_text(r["description"]) == r["event_type"], r["description"]
        assert len(r["QA"]) == SMALL.qa
        assert len({x["q"] for x in r["QA"]}) == len(r["QA"])
        assert validate_record(r) == [], validate_record(r)
    assert len(seen) >= 8  # the random stream covers most types


def test_questions_are_the_papers_and_match_their_class():
    """The answerable questions are read from the paper's list by number; each number must
    point at a question of the class (who/what/.../how much) its answer slot is written for."""
    from hawk_core.language.prompts import OPEN_QUESTIONS
    from hawk_core.synth import questions

    qs = questions()
    assert len(qs) == 18
    for k, (text, cls, _slot) in qs.items():
        assert text == OPEN_QUESTIONS[k - 1]
        assert text.lower().startswith(cls + " "), (k, text, cls)
        if cls == "how":
            assert not text.lower().startswith("how much"), (k, text)


def test_short_question_list_is_a_clear_error(tmp_path, monkeypatch):
    from hawk_core.language import prompts

    for name in ("describe_prompts.txt", "instruction.txt", "instruction_no_motion.txt"):
        (tmp_path / name).write_text((prompts.prompts_dir() / name).read_text())
    (tmp_path / "open_questions.txt").write_text("Who is causing the disturbance in the video?\n")
    monkeypatch.setenv("HAWK_PROMPTS", str(tmp_path))
    r = invoke("synth", "--out", tmp_path / "d", "--n", "1", "--frames", "16")
    assert r.exit_code == 2 and "open_questions.txt holds 1 questions" in r.output
    assert not (tmp_path / "d").exists()


def test_event_type_from_text_on_free_text():
    assert event_type_from_text("A man suddenly falls to the ground.") == "falling"
    assert event_type_from_text("Two cars collide at the junction.") == "collision"
    assert event_type_from_text("A car drives against the flow of traffic.") == "wrong_way"
    assert event_type_from_text("People walk calmly through the plaza.") == "normal"


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="frames"):
        SynthConfig(frames=8)
    with pytest.raises(ConfigError, match="unknown event"):
        SynthConfig(events=("dancing",))
    with pytest.raises(ConfigError, match="does not happen"):
        make_video(0, "t", 0, SMALL, event="collision", scene="walkway")


def test_synthesize_writes_hawk_records_and_readable_videos(tmp_path):
    cfg = SynthConfig(frames=16, qa=2)
    s = synthesize(tmp_path / "d", 5, 3, "train", cfg)
    assert s.written == 5 and s.skipped == 0
    records = json.loads((tmp_path / "d" / "train.json").read_text())
    assert [r["synth"]["index"] for r in records] == list(range(5))
    for r in records:
        assert validate_record(r, tmp_path / "d") == []
        clip = sample_clip(tmp_path / "d" / r["video"], 16, 224, with_prev=False)
        assert clip.num_native_frames == 16 and clip.frames.shape == (16, 224, 224, 3)
    assert not list((tmp_path / "d" / "videos").glob(".*"))  # no temporary files left


def test_synthesize_resumes_and_refuses_other_options(tmp_path):
    out = tmp_path / "d"
    cfg = SynthConfig(frames=16)
    synthesize(out, 3, 0, "train", cfg)
    (out / "videos" / "train_s0_000001.mp4").unlink()  # lost video: made again
    with open(out / "train.jsonl", "a") as fh:  # a torn last line from a killed run
        fh.write('{"id": "train_s0_0000')
    (out / "videos" / ".train_s0_000003.999.tmp.mp4").write_bytes(b"half a video")  # and its temp file
    s = synthesize(out, 4, 0, "train", cfg)
    assert (s.written, s.skipped) == (2, 2)
    assert len(json.loads((out / "train.json").read_text())) == 4
    assert not list((out / "videos").glob(".*"))
    with pytest.raises(InputError, match="seed 0"):
        synthesize(out, 4, 1, "train", cfg)
    with pytest.raises(InputError, match="frames 16"):
        synthesize(out, 4, 0, "train", SynthConfig(frames=20))
    s = synthesize(out, 2, 1, "train", cfg, overwrite=True)
    assert s.written == 2 and len(list((out / "videos").glob("train_*.mp4"))) == 2


def test_cli_synth_writes_resumes_and_prints_rate(tmp_path):
    out = tmp_path / "d"
    args = ("synth", "--out", out, "--n", "3", "--seed", "1", "--split", "test", "--frames", "16")
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    assert "3 written" in r.output and "videos/s" in r.output
    assert len(json.loads((out / "test.json").read_text())) == 3
    r = invoke(*args, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["written"] == 0 and data["skipped_existing"] == 3


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--events", "dancing"), "unknown event type"),
        (("--split", "a/b"), "split name"),
        (("--n", "0"), "--n"),
        (("--frames", "8"), "--frames"),
        (("--zoom", "8"), "--zoom"),
    ],
)
def test_cli_synth_bad_input_one_line(tmp_path, extra, message):
    r = invoke("synth", "--out", tmp_path / "d", "--n", "2", *extra)
    assert r.exit_code == 2
    assert message in r.output and "Traceback" not in r.output
    assert not (tmp_path / "d" / "train.json").exists()


def test_cli_synth_out_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = invoke("synth", "--out", f, "--n", "1")
    assert r.exit_code == 2 and "not a folder" in r.output


def test_committed_sample_is_what_the_readme_command_makes():
    """examples/sample.mp4 (+ .json) is made by `hawk synth --out examples/sample.mp4 --seed 4
    --split sample --events wrong_way --normal-fraction 0`; a generator change must remake it."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "examples"
    [committed] = json.loads((root / "sample.json").read_text())
    assert committed["video"] == "sample.mp4" and validate_record(committed, root) == []
    v = make_video(4, "sample", 0, SynthConfig(events=("wrong_way",), normal_fraction=0.0))
    assert {**v.record, "video": "sample.mp4"} == committed
    clip = sample_clip(root / "sample.mp4", 48, 224, with_prev=False)
    assert clip.num_native_frames == 48
    assert np.abs(clip.frames.astype(int) - v.frames[clip.indices].astype(int)).mean() < 4  # mp4 is lossy


def test_cli_synth_single_video(tmp_path):
    out = tmp_path / "clip.mp4"
    args = ("synth", "--out", out, "--seed", "2", "--events", "falling", "--normal-fraction", "0", "--frames", "16")
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    [rec] = json.loads((tmp_path / "clip.json").read_text())
    assert rec["video"] == "clip.mp4" and rec["event_type"] == "falling" and validate_record(rec, tmp_path) == []
    r = invoke(*args)
    assert r.exit_code == 2 and "--overwrite" in r.output
    assert invoke(*args, "--overwrite").exit_code == 0
    r = invoke("synth", "--out", tmp_path / "x.mp4", "--n", "3")
    assert r.exit_code == 2 and "--n must be 1" in r.output and not (tmp_path / "x.mp4").exists()


def test_workers_give_the_same_dataset(tmp_path):
    cfg = SynthConfig(frames=16, qa=1)
    synthesize(tmp_path / "a", 4, 8, "train", cfg, workers=1)
    synthesize(tmp_path / "b", 4, 8, "train", cfg, workers=2)
    a = json.loads((tmp_path / "a" / "train.json").read_text())
    b = json.loads((tmp_path / "b" / "train.json").read_text())
    assert a == b


def test_cli_synth_codec(tmp_path):
    """Issue 18, defect 2: --codec vp9 writes a browser-playable video; auto warns when it
    falls back to mp4v."""
    from hawk_core.media.video import BROWSER_FOURCCS, can_encode, video_codec

    r = invoke("synth", "--out", tmp_path / "auto.mp4", "--frames", "16", "--size", "64")
    assert r.exit_code == 0, r.output
    assert ("browsers do not play" in r.stderr) == (not can_encode("h264"))
    if can_encode("vp9"):
        r = invoke("synth", "--out", tmp_path / "vp9.mp4", "--frames", "16", "--size", "64", "--codec", "vp9")
        assert r.exit_code == 0 and "warning" not in r.stderr, r.output
        assert video_codec(tmp_path / "vp9.mp4") in BROWSER_FOURCCS
    r = invoke("synth", "--out", tmp_path / "x.mp4", "--codec", "hevc")
    assert r.exit_code == 2 and "unknown codec" in r.output


def test_zoom_makes_actors_larger_and_keeps_zoom_1_as_it_was():
    base = make_video(3, "train", 1, SMALL)
    same = make_video(3, "train", 1, SynthConfig(frames=32, zoom=1.0))
    assert np.array_equal(base.frames, same.frames) and base.record == same.record  # zoom 1: every earlier dataset
    assert "zoom" not in base.record["synth"]
    near = make_video(3, "train", 1, SynthConfig(frames=32, zoom=2.0))
    assert near.record["synth"]["zoom"] == 2.0 and near.record["event_type"] == base.record["event_type"]
    assert near.record["camera"]["ground_width_m"] == pytest.approx(base.record["camera"]["ground_width_m"] / 2, abs=0.01)
    with pytest.raises(ConfigError, match="zoom"):
        SynthConfig(zoom=0.1)


def test_zoom_is_part_of_the_dataset_identity(tmp_path):
    synthesize(tmp_path, 2, 0, "train", SynthConfig(frames=16, qa=0))
    with pytest.raises(InputError):
        synthesize(tmp_path, 2, 0, "train", SynthConfig(frames=16, qa=0, zoom=2.0))


def test_start_time_is_read_as_the_grammar_states_it():
    from hawk_core.synth import start_time_from_text

    assert start_time_from_text("From the beginning of the clip, a car drives the wrong way.") == 0.0
    assert start_time_from_text("Midway through the video, at about 6.3 seconds, a man falls.") == 6.3
    assert start_time_from_text("About 2.5 seconds into the clip, two men fight. At 9 s they stop.") == 2.5
    assert start_time_from_text("Late in the video, at around 11 sec, a cart rolls.") == 11.0
    assert start_time_from_text("No anomaly occurs: everyone behaves normally.") is None


def test_event_eval_reads_type_anomaly_start_and_distinct(tmp_path):
    from benchmarks.event_eval import evaluate

    recs = [{"video": "videos/a.mp4", "event_type": "falling", "time_span": {"start_s": 3.0}},
            {"video": "videos/b.mp4", "event_type": "collision", "time_span": {"start_s": 0.0}},
            {"video": "videos/c.mp4", "event_type": "normal"}]
    preds = [{"video": "/x/a.mp4", "prediction": "At about 3.8 seconds a man falls to the ground."},
             {"video": "/x/b.mp4", "prediction": "At about 5.0 seconds a man falls to the ground."},
             {"video": "/x/c.mp4", "prediction": "No anomaly occurs: everyone behaves normally."},
             {"video": "/x/unknown.mp4", "prediction": "ignored"}]
    out = evaluate(preds, recs)
    assert out["n"] == 3 and out["event_acc"] == 2 / 3 and out["anomaly_acc"] == 1.0
    assert out["start_within_1s"] == 0.5 and out["distinct"] == 1.0
    assert out["per_event"]["collision"]["acc"] == 0.0 and out["always_anomaly"] == 2 / 3


def test_event_eval_tells_the_guided_heads_part_from_the_descriptions():
    """Guided predictions carry the class the head named (event): the split counts how often
    that class was right and how often the description said it."""
    from benchmarks.event_eval import evaluate

    recs = [{"video": "a.mp4", "event_type": "falling", "time_span": {"start_s": 3.0}},
            {"video": "b.mp4", "event_type": "collision", "time_span": {"start_s": 0.0}},
            {"video": "c.mp4", "event_type": "normal"}]
    preds = [{"video": "a.mp4", "prediction": "A man falls to the ground.", "event": "falling"},  # right, said
             {"video": "b.mp4", "prediction": "A man falls to the ground.", "event": "falling"},  # wrong, said
             {"video": "c.mp4", "prediction": "A man falls to the ground.", "event": "normal"}]  # right, not said
    g = evaluate(preds, recs)["guide"]
    assert g["n"] == 3 and g["head_acc"] == 2 / 3 and g["says_told"] == 2 / 3 and g["says_when_right"] == 0.5
    assert evaluate([{k: v for k, v in p.items() if k != "event"} for p in preds], recs)["guide"] is None


def test_event_eval_states_the_constant_start_baseline_and_rejects_bad_files(tmp_path):
    import subprocess
    import sys

    from benchmarks.event_eval import best_constant_start

    # starts 1.0, 1.5, 2.2 lie within 1 s of one guess; 6.0 does not
    out = best_constant_start([1.0, 1.5, 2.2, 6.0])
    assert out["share"] == 0.75 and abs(out["guess"] - 1.5) <= 0.5 + 1e-9
    assert best_constant_start([0.0, 10.0, 20.0])["share"] == 1 / 3
    assert best_constant_start([]) == {"guess": None, "share": 0.0}
    data = tmp_path / "test.json"
    data.write_text("[]")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "event_eval.py"
    for preds, says in ((tmp_path / "absent.jsonl", "cannot read"), (data, None)):
        if says is None:
            preds = tmp_path / "bad.jsonl"
            preds.write_text("{not json\n")
            says = "not valid JSON lines"
        r = subprocess.run([sys.executable, str(script), str(preds), str(data)], capture_output=True, text=True)
        assert r.returncode != 0 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
