"""hawk score --detection through the CLI: each ground-truth format (UCF-Crime txt, HIVAU-70k
JSON, HAWK records), frame AUC / AP equal to scikit-learn on frames built here independently,
and every bad input: missing ground truth (counted skip, or an error with --strict-gt), an
interval past the video's end (clipped and counted, or an error with --strict-intervals), a
malformed annotation file (exit 2, one `error:` line)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.helpers import invoke


def _dets(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _det(vid: str, duration: float, windows: list[tuple[float, float, float]], fps: float | None = None, events=None, video=None) -> dict:
    rec = {"id": vid, "video": video or f"{vid}.mp4", "duration": duration, "windows": [{"start": s, "end": e, "score": sc} for s, e, sc in windows]}
    if fps is not None:
        rec["fps"] = fps
    if events is not None:
        rec["events"] = [{"start": s, "end": e, "score": sc, "description": None} for s, e, sc in events]
    return rec


def _frames(dets: list[dict], gt: dict[str, list[tuple[float, float]]], fps: float) -> tuple[list[int], list[float]]:
    """Labels and scores frame by frame, the slow obvious way: t = i / fps below the duration,
    score = max over the windows covering t, label = t inside a ground-truth interval."""
    labels, scores = [], []
    for d in dets:
        n = math.ceil(d["duration"] * fps - 1e-9)
        for i in range(n):
            t = i / fps
            cover = [w["score"] for w in d["windows"] if w["start"] <= t < w["end"]]
            assert cover, "these tests cover every frame"
            scores.append(max(cover))
            labels.append(int(any(s <= t < e for s, e in gt[d["id"]])))
    return labels, scores


def _sk(labels, scores) -> tuple[float, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    return roc_auc_score(labels, scores), average_precision_score(labels, scores)


def _one_error(r) -> str:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error:") and sum(x.startswith("error:") for x in lines) == 1, r.output
    return lines[-1]


# UCF-Crime: 1-based inclusive frame numbers at 30 fps; frame n covers [(n-1)/30, n/30)
UCF = """Abuse028_x264.mp4  Abuse  31  60  -1  -1
Arson011_x264.mp4  Arson  16  30  91  105
Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1
"""
UCF_GT = {"Abuse028_x264": [(1.0, 2.0)], "Arson011_x264": [(0.5, 1.0), (3.0, 3.5)], "Normal_Videos_003_x264": []}


def _ucf_dets() -> list[dict]:
    return [
        _det("Abuse028_x264", 4.0, [(0.0, 1.0, 0.1), (0.5, 1.5, 0.7), (1.5, 2.5, 0.6), (2.5, 4.0, 0.2)], fps=30.0,
             events=[(0.5, 2.5, 0.7)]),
        _det("Arson011_x264", 4.0, [(0.0, 2.0, 0.45), (2.0, 3.0, 0.3), (3.0, 4.0, 0.8)], fps=30.0, events=[(3.0, 4.0, 0.8)]),
        _det("Normal_Videos_003_x264", 3.0, [(0.0, 1.5, 0.35), (1.5, 3.0, 0.65)], fps=30.0, events=[(1.5, 3.0, 0.65)]),
    ]


def test_ucf_crime_format_auc_ap_equal_sklearn_on_the_same_frames(tmp_path):
    gt = tmp_path / "Temporal_Anomaly_Annotation.txt"
    gt.write_text(UCF)
    dets = _ucf_dets()
    r = invoke("score", "--detection", _dets(tmp_path / "d.jsonl", dets), "--gt", gt, "--json", "--per-video")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    labels, scores = _frames(dets, UCF_GT, 30.0)
    auc, ap = _sk(labels, scores)
    assert rep["frame_auc"] == pytest.approx(auc, abs=1e-12) and rep["frame_ap"] == pytest.approx(ap, abs=1e-12)
    assert rep["frames"] == {"total": len(labels), "anomalous": sum(labels)}
    assert rep["ground_truth"]["format"] == "ucf" and rep["videos"]["scored"] == 3 and rep["videos"]["normal"] == 1
    assert [v["id"] for v in rep["per_video"]] == [d["id"] for d in dets]
    # a normal video with a false alarm has IoU 0; Abuse: [0.5, 2.5) vs [1, 2): 1 / 2
    assert rep["per_video"][0]["iou"] == pytest.approx(0.5) and rep["per_video"][2]["iou"] == 0.0
    assert set(rep["events"]["map"]) == {"0.1", "0.2", "0.3", "0.4", "0.5"}
    # at a fixed evaluation rate the frames differ, and so do the figures
    r = invoke("score", "--detection", tmp_path / "d.jsonl", "--gt", gt, "--eval-fps", "4", "--json")
    fixed = json.loads(r.stdout)
    labels4, scores4 = _frames(dets, UCF_GT, 4.0)
    assert fixed["frames"]["total"] == len(labels4) and fixed["frame_auc"] == pytest.approx(_sk(labels4, scores4)[0], abs=1e-12)


def test_hivau_format_and_the_table(tmp_path):
    gt = tmp_path / "hivau_database_test.json"
    gt.write_text(json.dumps({
        "Fighting033_x264": {"n_frames": 100, "fps": 25.0, "label": ["Fighting"], "events": [[1.2, 2.8]]},
        "Normal_Videos_015_x264": {"n_frames": 75, "fps": 25.0, "label": ["Normal"], "events": []},
    }))
    dets = [
        _det("Fighting033_x264", 4.0, [(0.0, 1.0, 0.2), (1.0, 2.0, 0.9), (2.0, 3.0, 0.6), (3.0, 4.0, 0.4)], events=[(1.0, 3.0, 0.9)]),
        _det("Normal_Videos_015_x264", 3.0, [(0.0, 3.0, 0.3)], events=[]),
    ]
    path = _dets(tmp_path / "d.jsonl", dets)
    r = invoke("score", "--detection", path, "--gt", gt, "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    labels, scores = _frames(dets, {"Fighting033_x264": [(1.2, 2.8)], "Normal_Videos_015_x264": []}, 25.0)  # HIVAU's own fps
    assert (rep["frame_auc"], rep["frame_ap"]) == pytest.approx(_sk(labels, scores), abs=1e-12)
    assert rep["ground_truth"]["format"] == "hivau"
    assert rep["events"]["mean_iou"] == pytest.approx(1.6 / 2.0)  # the normal video with no event is left out
    r = invoke("score", "--detection", path, "--gt", gt, "--per-video")
    assert r.exit_code == 0, r.output
    text = r.stdout
    for needle in ("Temporal detection", "frame AUC", "frame AP", "mean IoU", "mAP@0.5", "mAP avg", "per video", "Fighting033_x264"):
        assert needle in text, text
    assert "average_precision_score (step-wise, not trapezoid)" in " ".join(r.output.split())


def test_hawk_records_missing_ground_truth_is_a_counted_skip_or_an_error(tmp_path):
    gt = tmp_path / "test.json"
    gt.write_text(json.dumps([
        {"id": "a", "video": "videos/a.mp4", "time_span": {"start_s": 1.0, "end_s": 2.0}, "num_frames": 30, "fps": 10.0},
        {"id": "b", "video": "videos/b.mp4", "time_span": None, "num_frames": 30, "fps": 10.0},
    ]))
    dets = [_det("a", 3.0, [(0.0, 1.5, 0.8), (1.5, 3.0, 0.2)]), _det("b", 3.0, [(0.0, 3.0, 0.4)]),
            _det("stray", 3.0, [(0.0, 3.0, 0.9)])]
    path = _dets(tmp_path / "d.jsonl", dets)
    r = invoke("score", "--detection", path, "--gt", gt, "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["videos"]["scored"] == 2 and rep["videos"]["skipped_no_gt"] == 1 and rep["videos"]["skipped"] == ["stray"]
    labels, scores = _frames(dets[:2], {"a": [(1.0, 2.0)], "b": []}, 10.0)
    assert rep["frame_auc"] == pytest.approx(_sk(labels, scores)[0], abs=1e-12)
    assert "1 detection(s) with no ground truth skipped: stray" in " ".join(r.stderr.split())
    assert rep["events"]["note"] == "the detections have no 'events'"
    r = invoke("score", "--detection", path, "--gt", gt, "--strict-gt")
    assert "no ground truth" in _one_error(r) and "'stray'" in r.stderr
    assert rep["frame_auc_ci"] is None  # no --bootstrap
    r = invoke("score", "--detection", path, "--gt", gt, "--json", "--bootstrap", "100")
    assert r.exit_code == 0, r.output
    lo, hi = json.loads(r.stdout)["frame_auc_ci"]
    assert 0.0 <= lo <= hi <= 1.0 and "bootstrap over videos" in json.loads(r.stdout)["convention"]["interval"]
    r = invoke("score", "--detection", path, "--gt", gt, "--bootstrap", "100")
    assert r.exit_code == 0 and "95% interval" in r.stdout, r.output
    r = invoke("score", "--detection", path, "--gt", gt, "--bootstrap", "-1")
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_intervals_past_the_duration_are_clipped_and_counted_or_an_error(tmp_path):
    gt = tmp_path / "ann.txt"
    gt.write_text("Abuse028_x264.mp4  Abuse  61  150  -1  -1\nArson011_x264.mp4  Arson  10  20  200  210\n")
    dets = [_det("Abuse028_x264", 4.0, [(0.0, 2.0, 0.1), (2.0, 4.0, 0.9)], fps=30.0),
            _det("Arson011_x264", 4.0, [(0.0, 2.0, 0.6), (2.0, 4.0, 0.3)], fps=30.0)]
    path = _dets(tmp_path / "d.jsonl", dets)
    r = invoke("score", "--detection", path, "--gt", gt, "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    # Abuse: frames 61-150 = [2, 5) s clipped to [2, 4); Arson: [6.63, 7) starts after the end: dropped
    assert rep["warnings"]["clipped_intervals"] == 1 and rep["warnings"]["dropped_intervals"] == 1
    labels, scores = _frames(dets, {"Abuse028_x264": [(2.0, 4.0)], "Arson011_x264": [(9 / 30, 20 / 30)]}, 30.0)
    assert rep["frame_auc"] == pytest.approx(_sk(labels, scores)[0], abs=1e-12)
    assert "1 clipped, 1 dropped" in " ".join(r.stderr.split())
    r = invoke("score", "--detection", path, "--gt", gt, "--strict-intervals")
    assert "ends after its duration 4 s" in _one_error(r)


@pytest.mark.parametrize(("name", "text", "extra", "needle"), [
    ("ucf.txt", "Abuse028_x264.mp4  Abuse  31  sixty  -1  -1\n", ("--gt-format", "ucf"), "line 1: expected 'Video_name.mp4 Class"),
    ("ucf2.txt", "Abuse028_x264.mp4  Abuse  60  31  -1  -1\n", (), "frames 60..31"),
    ("hivau.json", '{"v1": {"n_frames": 10, "fps": 5, "events": "soon"}}', (), "'events' must be a list"),
    ("hivau2.json", '{"v1": {"n_frames": 10, "fps": 5, "events": [[2.0, 1.0]]}}', (), "must have 0 <= start < end"),
    ("hawk.json", '[{"id": "a", "video": "a.mp4", "time_span": "morning"}]', (), "time_span: expected null"),
    ("trunc.json", '[{"id": "a", "video": "a.mp4", "time_span": ', ("--gt-format", "hawk"), "invalid JSON"),
    ("empty.txt", "\n\n", (), "file is empty"),
    ("prose.txt", "the fight starts at ten seconds\n", (), "cannot tell the ground-truth format"),
])
def test_malformed_annotation_files_are_one_error_line(tmp_path, name, text, extra, needle):
    gt = tmp_path / name
    gt.write_text(text)
    path = _dets(tmp_path / "d.jsonl", [_det("a", 3.0, [(0.0, 3.0, 0.5)])])
    assert needle in _one_error(invoke("score", "--detection", path, "--gt", gt, *extra))


@pytest.mark.parametrize(("args", "needle"), [
    (("--detection", "{d}"), "--detection needs --gt"),
    (("{d}", "--detection", "{d}", "--gt", "{gt}"), "on its own"),
    (("{d}", "--gt", "{gt}"), "--gt is the ground truth of --detection"),
    ((), "nothing to score"),
    (("--detection", "{d}", "--gt", "{gt}", "--gt-format", "xml"), "ground-truth format must be one of auto, hawk, ucf, hivau"),
    (("--detection", "{d}", "--gt", "{gt}", "--uncovered", "skip"), "uncovered must be one of nearest, zero"),
    (("--detection", "{d}", "--gt", "{gt}", "--eval-fps", "0"), "Invalid value for '--eval-fps'"),  # the option named
    (("--detection", "{d}", "--gt", "{tmp}/missing.txt"), "no such ground-truth file"),
    (("--detection", "{tmp}/missing.jsonl", "--gt", "{gt}"), "no such file"),
    (("--detection", "{bad}", "--gt", "{gt}"), "no 'windows'"),
])
def test_detection_option_errors(tmp_path, args, needle):
    gt = tmp_path / "ann.txt"
    gt.write_text(UCF)
    d = _dets(tmp_path / "d.jsonl", _ucf_dets())
    bad = _dets(tmp_path / "bad.jsonl", [{"id": "Abuse028_x264", "duration": 4.0}])
    fill = {"d": d, "gt": gt, "tmp": tmp_path, "bad": bad}
    assert needle in _one_error(invoke("score", *[a.format(**fill) for a in args]))


def test_out_writes_the_json_report(tmp_path):
    gt = tmp_path / "ann.txt"
    gt.write_text(UCF)
    out = tmp_path / "rep" / "detection.json"
    r = invoke("score", "--detection", _dets(tmp_path / "d.jsonl", _ucf_dets()), "--gt", gt, "--out", out)
    assert r.exit_code == 0, r.output
    rep = json.loads(out.read_text())
    assert rep["convention"]["auc"] == "sklearn.metrics.roc_auc_score" and "per_video" not in rep
    assert f"written: {out}" in " ".join(r.stdout.split())
