"""hawk detect: the model's yes/no anomaly score (answer tokens per tokenizer, one forward on
generate's prompt), events from window scores, the motion baseline, and the command on one
video (table, --json, --plot) and over a split (resumable, scored by `hawk score
--detection`), on the tiny random-weight preset and short `hawk synth` clips made here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from hawk_core.errors import ConfigError
from hawk_core.inference.anomaly import AnswerTokens, answer_tokens, yes_probability
from hawk_core.inference.detect import DetectConfig, WindowScore, default_window, find_events
from tests.helpers import invoke

TINY = ("--model", "tiny")


def _one_error(r) -> str:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error:") and sum(x.startswith("error:") for x in lines) == 1, r.output
    return lines[-1]


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    """A 4-video `hawk synth` test split of 6 s clips (60 frames at 10 fps), with time_span."""
    from tests.hawk_dataset import synth_test_split

    return synth_test_split(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="module")
def clip(split) -> Path:
    rec = json.loads(split.read_text())[0]
    return split.parent / rec["video"]


# ---- the score --------------------------------------------------------------------------


class _Tok:
    """A tokenizer given by a table of words -> ids."""

    def __init__(self, table):
        self.table = table

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": self.table[text]}


def test_answer_tokens_of_the_byte_tokenizer_drop_the_shared_space():
    from hawk_core.model.backbones import byte_tokenizer

    tok = byte_tokenizer()
    t = answer_tokens(tok)
    ids = lambda w: tok(w, add_special_tokens=False)["input_ids"]  # noqa: E731
    assert t.prefix == () and set(t.yes) == {ids("Yes")[0], ids("yes")[0]} and set(t.no) == {ids("No")[0], ids("no")[0]}
    assert ids(" Yes")[0] not in t.yes + t.no  # the space opens both answers


def test_answer_tokens_step_past_a_common_first_token():
    # every variant starts with token 7 (say, a space); the second token decides
    tok = _Tok({"Yes": [7, 1, 9], " Yes": [7, 1, 9], "yes": [7, 2], " yes": [7, 2], "No": [7, 3], " No": [7, 3], "no": [7, 4, 5], " no": [7, 4, 5]})
    assert answer_tokens(tok) == AnswerTokens(yes=(1, 2), no=(3, 4), prefix=(7,))
    same = _Tok({w: [5] for w in ("Yes", " Yes", "yes", " yes", "No", " No", "no", " no")})
    with pytest.raises(ConfigError, match="cannot tell"):
        answer_tokens(same)


def test_yes_probability_is_the_ratio_of_summed_softmax_mass():
    import torch

    g = torch.Generator().manual_seed(3)
    logits = torch.randn(5, 50, generator=g) * 3  # (B, V)
    tokens = AnswerTokens(yes=(4, 11), no=(7, 30, 31))
    p = torch.softmax(logits, -1)
    want = (p[:, [4, 11]].sum(-1) / (p[:, [4, 11]].sum(-1) + p[:, [7, 30, 31]].sum(-1))).tolist()
    assert yes_probability(logits, tokens) == pytest.approx(want, abs=1e-6)
    # the summed mass, not the best single token: a max would give another number
    best = (p[:, [4, 11]].max(-1).values / (p[:, [4, 11]].max(-1).values + p[:, [7, 30, 31]].max(-1).values)).tolist()
    assert max(abs(a - b) for a, b in zip(want, best)) > 1e-3


def test_next_token_logits_are_trainings_answer_position_and_batch_independent():
    import torch

    from hawk_core.model import HawkModel
    from hawk_core.model.config import HawkConfig
    from hawk_core.model.text import TextSample

    m = HawkModel.build(HawkConfig.from_preset("tiny"))
    g = torch.Generator().manual_seed(0)
    fv, fm = torch.randn(2, 8, 4, 32, generator=g), torch.randn(2, 8, 4, 32, generator=g)
    qs = ["Is there an anomaly in this video? Answer yes or no.", "Why?"]
    batch = m.next_token_logits(fv, fm, qs)  # (2, V); the second prompt is shorter: left-padded
    assert batch.shape == (2, len(m.tokenizer)) and batch.dtype == torch.float32
    for i, q in enumerate(qs):
        one = m.next_token_logits(fv[i : i + 1], fm[i : i + 1], [q])
        torch.testing.assert_close(batch[i : i + 1], one, atol=1e-5, rtol=1e-5)
        # the training forward's logits where the answer "Yes" starts: the same prompt and positions
        tb = m.collate([TextSample(q, answer="Yes")])
        first = int((tb.labels[0] != -100).nonzero()[0])
        logits = m.forward(fv[i : i + 1], fm[i : i + 1], tb, full_logits=True).logits  # (1, L, V)
        torch.testing.assert_close(logits[0, first - 1 : first], one, atol=1e-5, rtol=1e-5)
    # a prefix is appended as answered tokens
    with_prefix = m.next_token_logits(fv[:1], fm[:1], qs[:1], answer_prefix=[m.tokenizer(" ")["input_ids"][0]])
    assert not torch.allclose(with_prefix, batch[:1])


# ---- windows and events -----------------------------------------------------------------


def _w(a: int, b: int, score: float, fps: float = 10.0) -> WindowScore:
    return WindowScore(a / fps, b / fps, score, a, b)


def test_events_are_the_union_of_windows_strictly_above_the_threshold():
    ws = [_w(0, 20, 0.2), _w(10, 30, 0.7), _w(20, 40, 0.9), _w(30, 50, 0.5), _w(40, 60, 0.3), _w(60, 70, 0.8), _w(70, 80, 0.6)]
    ev = find_events(ws, 0.5)
    # 0.5 is not above 0.5; overlapping (10-30, 20-40) and touching (60-70, 70-80) windows merge
    assert [(e.start, e.end, e.score) for e in ev] == [(1.0, 4.0, 0.9), (6.0, 8.0, 0.8)]
    assert [(e.start_frame, e.end_frame) for e in ev] == [(10, 40), (60, 80)]
    assert [(e.start, e.end) for e in find_events(ws, 0.49)] == [(1.0, 5.0), (6.0, 8.0)]
    assert [(e.start, e.end) for e in find_events(ws, 0.5, min_duration=2.5)] == [(1.0, 4.0)]
    assert find_events(ws, 0.95) == []


def test_default_window_and_spans():
    assert default_window(4.8) == 2.0 and default_window(40.0) == 5.0 and default_window(600.0) == 16.0
    assert DetectConfig().spans(40.0) == (5.0, 2.5)
    assert DetectConfig(window=3.0).spans(600.0) == (3.0, 1.5)
    assert DetectConfig(window=3.0, stride=3.0).spans(10.0) == (3.0, 3.0)
    with pytest.raises(ConfigError, match="--stride 5 is longer than the window 2"):
        DetectConfig(stride=5.0).spans(10.0)


@pytest.mark.parametrize(("kw", "flag"), [
    ({"window": 0.0}, "--window"), ({"window": -2.0}, "--window"), ({"window": math.inf}, "--window"),
    ({"stride": 0.0}, "--stride"), ({"window": 2.0, "stride": 3.0}, "--stride"), ({"threshold": 1.5}, "--threshold"),
    ({"threshold": -0.1}, "--threshold"), ({"threshold": math.nan}, "--threshold"), ({"min_duration": -1.0}, "--min-duration"),
    ({"batch": 0}, "--batch-size"),
])
def test_detect_config_rejects_bad_values(kw, flag):
    with pytest.raises(ConfigError, match=flag):
        DetectConfig(**kw)


# ---- one video --------------------------------------------------------------------------


def test_detect_json_shape_and_events_follow_the_windows(clip):
    r = invoke("detect", clip, *TINY, "--window", "2", "--stride", "1", "--max-new-tokens", "3", "--threshold", "0", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert {"video", "duration", "windows", "events"} <= set(d) and d["video"] == str(clip)
    assert d["duration"] == pytest.approx(6.0) and d["fps"] == pytest.approx(10.0)
    ws = d["windows"]
    assert [(w["start"], w["end"]) for w in ws] == [(float(a), float(a + 2)) for a in range(5)]
    assert all(set(w) == {"start", "end", "score"} and 0.0 <= w["score"] <= 1.0 for w in ws)
    # threshold 0: every window is above it; they all touch, so one event over the whole video
    assert len(d["events"]) == 1
    ev = d["events"][0]
    assert set(ev) == {"start", "end", "score", "description"} and (ev["start"], ev["end"]) == (0.0, 6.0)
    assert ev["score"] == max(w["score"] for w in ws) and isinstance(ev["description"], str)
    s = d["settings"]
    assert s["scorer"]["name"] == "model" and s["scorer"]["question"] == "Is there an anomaly in this video? Answer yes or no."
    assert s["window"] == 2.0 and s["stride"] == 1.0 and s["model"]["source"] == "tiny"


def test_detect_table_and_plot(clip, tmp_path):
    import cv2

    png = tmp_path / "timeline.png"
    r = invoke("detect", clip, *TINY, "--no-describe", "--plot", png)
    assert r.exit_code == 0, r.output
    assert "window scores (model)" in r.stdout and "00:00.0-00:02.0" in r.stdout
    assert png.stat().st_size > 0
    img = cv2.imread(str(png))
    assert img is not None and img.ndim == 3 and img.shape[1] >= 1000 and img.shape[0] >= 400
    assert not list(tmp_path.glob(".*.tmp"))


def test_motion_baseline_is_min_max_normalised_flow_energy(clip):
    from hawk_core.inference.detect import Sampling
    from hawk_core.inference.windows import VideoTimeline, window_samples
    from hawk_core.media.windows import plan_windows, window_result

    r = invoke("detect", clip, "--scorer", "motion", "--no-describe", "--window", "2", "--stride", "1", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["settings"]["model"] is None and d["settings"]["scorer"]["name"] == "motion"
    got = [w["score"] for w in d["windows"]]
    # the same windows' mean flow magnitudes, computed here
    s = Sampling.of(None)
    tl = VideoTimeline.of(clip)
    windows = plan_windows(tl.num_frames, tl.fps, 2.0, 1.0)
    energy = {w.index: window_result(w, m).energy for w, _, m in window_samples(clip, windows, tl, num_frames=s.frames, size=s.size, resize=s.resize, motion=s.motion)}
    e = np.array([energy[w.index] for w in windows])
    assert e.min() > 0  # so dividing by the max alone would give another number
    assert got == pytest.approx(((e - e.min()) / (e.max() - e.min())).tolist(), abs=1e-9)
    assert min(got) == 0.0 and max(got) == 1.0


def test_detect_a_real_clip(fighting_video):
    r = invoke("detect", fighting_video, *TINY, "--no-describe", "--window", "4", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["duration"] == pytest.approx(271 / d["fps"], abs=1e-3)
    ends = [w["end"] for w in d["windows"]]
    assert d["windows"][0]["start"] == 0.0 and ends[-1] == pytest.approx(d["duration"], abs=1e-3)
    assert all(b["start"] <= a["end"] for a, b in zip(d["windows"], d["windows"][1:]))  # no gaps


@pytest.mark.parametrize(("args", "needle"), [
    (("{missing}",), "no such file"),
    (("{text}",), "cannot be opened as a video"),
    (("{clip}", "--window", "0"), "--window must be > 0"),
    (("{clip}", "--window", "-3"), "--window must be > 0"),
    (("{clip}", "--window", "2", "--stride", "3"), "--stride 3 is longer than --window 2"),
    (("{clip}", "--stride", "0"), "--stride must be > 0"),
    (("{clip}", "--threshold", "1.5"), "--threshold must be >= 0 and <= 1"),
    (("{clip}", "--threshold", "-0.2"), "--threshold must be >= 0 and <= 1"),
    (("{clip}", "--batch-size", "0"), "--batch-size must be >= 1"),
    (("{clip}", "--scorer", "magic"), "--scorer must be one of auto, model, head, frames, motion"),
    (("{clip}", "--plot", "{tmp}/t.jpg"), "--plot wants a .png"),
    (("{clip}", "--out", "{tmp}/d.jsonl"), "--out is for a split"),
])
def test_bad_inputs_are_one_error_line_and_write_nothing(clip, tmp_path, args, needle):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    fill = {"missing": tmp_path / "nowhere.mp4", "text": text, "clip": clip, "tmp": tmp_path}
    argv = [a.format(**fill) for a in args]
    if "--plot" not in argv:
        argv += ["--plot", str(tmp_path / "p.png")]  # asked for, and not written
    before = set(tmp_path.iterdir())
    assert needle in _one_error(invoke("detect", *argv, *TINY))
    assert set(tmp_path.iterdir()) == before


# ---- over a split -----------------------------------------------------------------------


def test_split_resumes_refuses_other_settings_and_scores_end_to_end(split, tmp_path):
    out = tmp_path / "det.jsonl"
    args = ("detect", split, *TINY, "--no-describe", "--out", out)
    r = invoke(*args, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["written"] == 4 and summary["already_done"] == 0 and summary["failed_videos"] == {}
    full = _lines(out)
    records = json.loads(split.read_text())
    assert [x["id"] for x in full] == [rec["id"] for rec in records]
    assert [x["video"] for x in full] == [rec["video"] for rec in records]  # as written in the split
    assert all({"id", "video", "duration", "fps", "windows", "events"} <= set(x) for x in full)
    assert json.loads((tmp_path / "det.jsonl.meta.json").read_text())["scorer"]["name"] == "model"

    # an interrupted run: the first video done, the second torn mid-line
    part = tmp_path / "part.jsonl"
    part.write_text(json.dumps(full[0]) + "\n" + json.dumps(full[1])[:40])
    (tmp_path / "part.jsonl.meta.json").write_text((tmp_path / "det.jsonl.meta.json").read_text())
    r = invoke("detect", split, *TINY, "--no-describe", "--out", part, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["already_done"] == 1 and json.loads(r.stdout)["written"] == 3
    assert _lines(part) == full  # the torn line repaired, the rest the same as one run

    r = invoke("detect", split, *TINY, "--no-describe", "--out", part, "--threshold", "0.7")
    assert "other settings" in _one_error(r) and _lines(part) == full

    r = invoke("score", "--detection", out, "--gt", split, "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert 0.0 <= rep["frame_auc"] <= 1.0 and 0.0 < rep["frame_ap"] <= 1.0
    assert rep["videos"]["scored"] == 4 and rep["frames"]["total"] == sum(rec["num_frames"] for rec in records)
    assert rep["ground_truth"]["format"] == "hawk"
    r = invoke("score", "--detection", out, "--gt", split)
    assert r.exit_code == 0 and "frame AUC" in r.stdout and "mAP@0.1" in r.stdout


def test_split_skips_unreadable_videos_and_leaves_nothing_when_none_can_be_read(split, tmp_path):
    records = json.loads(split.read_text())
    data = tmp_path / "mixed.json"
    data.write_text(json.dumps([dict(records[0], video=str(split.parent / records[0]["video"])), {"id": "gone", "video": "nowhere.mp4"}]))
    out = tmp_path / "d.jsonl"
    r = invoke("detect", data, "--scorer", "motion", "--no-describe", "--out", out)
    assert r.exit_code == 0, r.output
    assert "skipped nowhere.mp4" in " ".join(r.stderr.split()) and [x["id"] for x in _lines(out)] == [records[0]["id"]]

    only_bad = tmp_path / "bad.json"
    only_bad.write_text(json.dumps([{"video": "nowhere.mp4"}, {"video": "gone.mp4"}]))
    out2 = tmp_path / "none.jsonl"
    r = invoke("detect", only_bad, "--scorer", "motion", "--no-describe", "--out", out2)
    assert "no video could be read" in _one_error(r)
    assert not out2.exists() and not (tmp_path / "none.jsonl.meta.json").exists()

    malformed = tmp_path / "malformed.json"
    malformed.write_text('[{"video": 3}]')
    r = invoke("detect", malformed, "--scorer", "motion", "--no-describe", "--out", tmp_path / "m.jsonl")
    assert "'video' must be a non-empty string" in _one_error(r) and not (tmp_path / "m.jsonl").exists()
    r = invoke("detect", split, "--scorer", "motion", "--plot", tmp_path / "x.png")
    assert "--plot draws one video" in _one_error(r)


@pytest.mark.slow
def test_the_embedded_models_answer_tokens_and_scores(clip):
    from hawk_core.embedded import load_smollm2

    _, tok = load_smollm2(None)
    t = answer_tokens(tok)
    assert t.prefix == () and tok.decode([t.yes[0]]).strip().lower() == "yes" and tok.decode([t.no[0]]).strip().lower() == "no"
    r = invoke("detect", clip, "--no-describe", "--json")
    assert r.exit_code == 0, r.output
    scores = [w["score"] for w in json.loads(r.stdout)["windows"]]
    assert scores and all(0.0 <= s <= 1.0 for s in scores)


def test_a_detection_record_reads_back_and_plots_with_ground_truth(tmp_path):
    import cv2

    from hawk_core.inference.detect import Detection
    from hawk_core.inference.timeline import plot_timeline, score_curve

    rec = {"id": "v", "video": "videos/v.mp4", "duration": 6.0, "fps": 10.0,
           "windows": [{"start": 0.0, "end": 2.0, "score": 0.2}, {"start": 1.0, "end": 3.0, "score": 0.9}, {"start": 2.0, "end": 4.0, "score": 0.4},
                       {"start": 3.0, "end": 5.0, "score": 0.3}, {"start": 4.0, "end": 6.0, "score": 0.1}],
           "events": [{"start": 1.0, "end": 3.0, "score": 0.9, "description": "a fall"}]}
    det = Detection.from_dict(rec)
    assert det.to_dict() == {k: rec[k] for k in ("video", "duration", "fps", "windows", "events")}
    assert (det.num_frames, det.window, det.stride) == (60, 2.0, 1.0)
    assert [(e.start_frame, e.end_frame) for e in det.events] == [(10, 30)]
    t, sc = score_curve(det)
    assert len(t) == 61 and t[-1] == 6.0
    assert sc[5] == 0.2 and sc[15] == 0.9 and sc[25] == 0.9 and sc[35] == 0.4 and sc[59] == sc[60] == 0.1  # max of the covering windows
    png = plot_timeline(det, tmp_path / "t.png", truth=[(1.5, 2.5)], scorer="model")
    assert cv2.imread(str(png)) is not None
    with pytest.raises(ConfigError, match=".png"):
        plot_timeline(det, tmp_path / "t.svg")
    from hawk_core.errors import DataError

    with pytest.raises(DataError, match="not a detection record"):
        Detection.from_dict({"windows": []})


def test_head_scorer_is_one_minus_the_class_heads_normal_probability(clip, tmp_path):
    """--scorer head: 1 - P(normal) of the model's own class head (head.classes), no LLM
    forward; a model without a head, or whose head has no 'normal', is one error line."""
    import math

    import torch

    from hawk_core.model.config import HawkConfig
    from hawk_core.model.hawk import HawkModel

    model = HawkModel.build(HawkConfig.from_preset("tiny", overrides={"head": {"classes": ["fighting", "normal", "running"]}}))
    with torch.no_grad():  # zero weights: every window gets the bias's softmax
        model.cluster_head.bias.copy_(torch.tensor([0.5, 1.0, -1.0]))
    model.save_pretrained(tmp_path / "headed")
    p = torch.tensor([0.5, 1.0, -1.0]).softmax(-1)
    r = invoke("detect", clip, "--model", tmp_path / "headed", "--scorer", "head", "--no-describe", "--window", "2", "--stride", "1", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert len(d["windows"]) == 5 and all(w["score"] == pytest.approx(1 - float(p[1]), abs=1e-6) for w in d["windows"])
    assert d["settings"]["scorer"]["classes"] == ["fighting", "normal", "running"]
    with torch.no_grad():  # a head with weights: still a probability per window
        model.cluster_head.weight.normal_(0, 5.0)
    model.save_pretrained(tmp_path / "headed")
    r = invoke("detect", clip, "--model", tmp_path / "headed", "--scorer", "head", "--no-describe", "--window", "2", "--stride", "1", "--json")
    assert r.exit_code == 0, r.output
    scores = [w["score"] for w in json.loads(r.stdout)["windows"]]
    assert len(scores) == 5 and all(0.0 <= s <= 1.0 and math.isfinite(s) for s in scores)
    r = invoke("detect", clip, *TINY, "--scorer", "head", "--no-describe")
    assert r.exit_code != 0 and "no class head" in _one_error(r)
    odd = HawkModel.build(HawkConfig.from_preset("tiny", overrides={"head": {"classes": ["a", "b"]}}))
    odd.save_pretrained(tmp_path / "odd")
    r = invoke("detect", clip, "--model", tmp_path / "odd", "--scorer", "head", "--no-describe")
    assert r.exit_code != 0 and "has no 'normal' class" in _one_error(r)
