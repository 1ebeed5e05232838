"""Temporal detection evaluation: frame AUC / AP equal scikit-learn's on frames built here by
brute force from the stated convention, hand-checked tiny cases (ties, a frame on an interval
boundary, overlapping windows, uncovered frames, micro vs per-video), event IoU / mAP by hand,
the three ground-truth readers (HAWK records written by the real `hawk synth`), and the error
paths."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from hawk_core.errors import ConfigError, DataError, InputError
from hawk_core.scoring.detection import (
    DetectionConfig, Window, evaluate_detection, evaluate_detection_files, frame_scores, frame_times, interval_ap,
    load_detections, parse_detection, temporal_iou, union_iou,
)
from hawk_core.scoring.detection_gt import VideoTruth, ground_truth_from, read_ground_truth
from tests.helpers import invoke


def _det(vid, duration, windows, events=None, **extra):
    rec = {"id": vid, "duration": duration, "windows": [{"start": s, "end": e, "score": sc} for s, e, sc in windows], **extra}
    if events is not None:
        rec["events"] = [{"start": s, "end": e, "score": sc} for s, e, sc in events]
    return rec


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _dets(records):
    return [parse_detection(r, f"record {i}", i) for i, r in enumerate(records, 1)]


def _brute_frames(rec, intervals, fps, uncovered="nearest"):
    """The convention, frame by frame, written independently of the library."""
    scores, labels = [], []
    n = math.ceil(rec["duration"] * fps - 1e-9)
    for i in range(n):
        t = i / fps
        cover = [w["score"] for w in rec["windows"] if w["start"] <= t < w["end"]]
        if cover:
            s = max(cover)
        elif uncovered == "zero":
            s = 0.0
        else:
            d = [max(w["start"] - t, t - w["end"], 0.0) for w in rec["windows"]]
            m = min(d)
            s = max(w["score"] for w, x in zip(rec["windows"], d) if abs(x - m) <= 1e-9)
        scores.append(s)
        labels.append(int(any(a <= t < b for a, b in intervals)))
    return scores, labels


# ---- hand-checkable ---------------------------------------------------------------------


def test_tiny_case_by_hand():
    # video a: 3 s at 2 fps -> frames t = 0, .5, 1, 1.5, 2, 2.5 ; GT [1.0, 2.0): frames 1.0 and 1.5
    # windows [0,1) .2, [0.5,2) .6 (overlap: frames .5 take max .6), [2,3) .6 (a tie with the anomaly)
    # video b: 1 s, normal; one window [0, 0.5) .9 -> frame 0 = .9, frame .5 uncovered -> nearest .9
    a = _det("a", 3.0, [(0.0, 1.0, 0.2), (0.5, 2.0, 0.6), (2.0, 3.0, 0.6)])
    b = _det("b", 1.0, [(0.0, 0.5, 0.9)])
    truth = ground_truth_from([VideoTruth("a", ((1.0, 2.0),)), VideoTruth("b", ())])
    rep = evaluate_detection(_dets([a, b]), truth, DetectionConfig(fps=2.0))
    # frames: scores a = [.2, .6, .6, .6, .6, .6], labels [0,0,1,1,0,0]; b = [.9, .9], [0, 0]
    # positives (.6, .6) vs negatives (.2, .6, .6, .6, .9, .9): pairs won 1 + ties 3 x .5 -> per positive 2.5 / 6
    assert rep.frames == 8 and rep.anomalous_frames == 2
    assert rep.frame_auc == pytest.approx(2.5 / 6, abs=1e-12)
    # AP: thresholds .9 (P 0, R 0), .6 (TP 2 of the 7 frames >= .6 -> P 2/7, R 1) -> AP = 1 * 2/7
    assert rep.frame_ap == pytest.approx(2 / 7, abs=1e-12)
    # zero for uncovered frames changes b's second frame to 0: one more negative below the positives
    rep0 = evaluate_detection(_dets([a, b]), truth, DetectionConfig(fps=2.0, uncovered="zero"))
    assert rep0.frame_auc == pytest.approx((1 + 1 + 1.5) / 6, abs=1e-12)


def test_interval_boundaries_are_half_open():
    t = frame_times(1.0, 10)  # 0.0 .. 0.9
    assert len(t) == 10 and len(frame_times(1.05, 10)) == 11 and len(frame_times(0.9999999999, 10)) == 10
    from hawk_core.scoring.detection import frame_labels

    lab = frame_labels([(0.3, 0.6)], t)
    assert lab.tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]  # 0.3 in, 0.6 out
    sc = frame_scores([Window(0.0, 0.3, 1.0), Window(0.3, 1.0, 2.0)], t)
    assert sc.tolist()[2:4] == [1.0, 2.0]  # the window ending at 0.3 does not cover 0.3


def test_nearest_window_for_uncovered_frames_takes_the_higher_of_equal_distances():
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.5])
    sc = frame_scores([Window(0.5, 1.5, 0.3), Window(2.5, 3.5, 0.8), Window(2.5, 2.6, 0.1)], t)
    # 0 -> first (0.5 away); 2 -> 0.5 from both neighbours -> max(.3, .8); 4.5 -> 1.0 after the second
    assert sc.tolist() == [0.3, 0.3, 0.8, 0.8, 0.8]
    with pytest.raises(DataError):
        frame_scores([], t)


def test_frame_auc_and_ap_equal_sklearn_on_brute_force_frames():
    rng = np.random.default_rng(7)
    recs, videos = [], []
    for v in range(9):
        duration = float(rng.uniform(4, 12))
        fps = float(rng.choice([5.0, 10.0, 7.5]))
        n_win, windows, t = 0, [], 0.0
        while t < duration - 0.5:  # overlapping windows with a stride, scores rounded to make ties
            w = float(rng.choice([1.0, 2.0]))
            windows.append((round(t, 3), round(t + w, 3), float(round(rng.random(), 1))))
            t += float(rng.choice([0.5, 1.0, 1.5, 2.5]))  # 2.5 > window: gaps -> uncovered frames
            n_win += 1
        k = v % 3  # 0: normal, 1: one interval, 2: two intervals (one on a frame boundary)
        ivs = [] if k == 0 else [(1.0, 3.2)] if k == 1 else [(0.2, 1.0), (2.0, duration - 1.0)]
        recs.append(_det(f"v{v}", duration, windows, fps=fps))
        videos.append(VideoTruth(f"v{v}", tuple(ivs)))
    truth = ground_truth_from(videos)
    for cfg in (DetectionConfig(), DetectionConfig(fps=3.0), DetectionConfig(uncovered="zero")):
        scores, labels = [], []
        for rec, vt in zip(recs, videos):
            s, lab = _brute_frames(rec, vt.intervals, cfg.fps or rec["fps"], cfg.uncovered)
            scores += s
            labels += lab
        rep = evaluate_detection(_dets(recs), truth, cfg)
        assert rep.frames == len(labels) and rep.anomalous_frames == sum(labels)
        assert rep.frame_auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
        assert rep.frame_ap == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
        # micro, not the mean of per-video AUCs, and sklearn's AP, not the trapezoid PR area
        from sklearn.metrics import auc, precision_recall_curve

        p, r, _ = precision_recall_curve(labels, scores)
        assert abs(rep.frame_ap - auc(r, p)) > 1e-4
    assert 0.3 < rep.frame_auc < 0.8  # random scores: non-degenerate, not 0 or 1


def test_micro_average_differs_from_per_video_average():
    # each video alone is perfectly ranked (AUC 1), but video b's scores are all higher
    a = _det("a", 2.0, [(0.0, 1.0, 0.1), (1.0, 2.0, 0.2)])
    b = _det("b", 2.0, [(0.0, 1.0, 0.5), (1.0, 2.0, 0.9)])
    truth = ground_truth_from([VideoTruth("a", ((1.0, 2.0),)), VideoTruth("b", ((1.0, 2.0),))])
    rep = evaluate_detection(_dets([a, b]), truth, DetectionConfig(fps=1.0))
    assert rep.frame_auc == pytest.approx(roc_auc_score([0, 1, 0, 1], [0.1, 0.2, 0.5, 0.9]))
    assert rep.frame_auc == pytest.approx(0.75) and rep.frame_auc < 1.0


# ---- event level ------------------------------------------------------------------------


def test_temporal_iou_and_union_iou():
    assert temporal_iou((0, 10), (5, 15)) == pytest.approx(5 / 15)
    assert temporal_iou((0, 1), (2, 3)) == 0.0
    # union of predictions [0,2)+[1,4) = [0,4); GT [3,6): inter 1, union 6
    assert union_iou([(0, 2), (1, 4)], [(3, 6)]) == pytest.approx(1 / 6)
    assert union_iou([], []) is None and union_iou([(0, 1)], []) == 0.0


def test_interval_ap_by_hand():
    gt = {"a": [(0.0, 10.0)], "b": [(5.0, 6.0)]}
    preds = [("a", 0.0, 9.0, 0.9), ("a", 0.0, 10.0, 0.8), ("b", 5.5, 7.0, 0.7)]
    # ranked: a1 IoU .9 -> TP; a2 IoU 1.0 but its GT is used -> FP; b IoU .5/2 = .25
    assert interval_ap(preds, gt, 0.5) == pytest.approx(0.5)  # recall .5 at precision 1
    assert interval_ap(preds, gt, 0.2) == pytest.approx(0.5 * 1 + 0.5 * (2 / 3))
    # a tie in score keeps file order: the duplicate first makes the better one the FP
    tied = [("a", 0.0, 10.0, 0.9), ("a", 0.0, 9.0, 0.9)]
    assert interval_ap(tied, {"a": [(0.0, 10.0)]}, 0.95) == pytest.approx(1.0)
    assert interval_ap(tied[::-1], {"a": [(0.0, 10.0)]}, 0.95) == pytest.approx(0.5)
    assert interval_ap(preds, {"a": []}, 0.5) is None and interval_ap([], gt, 0.5) == 0.0


def test_event_metrics_in_the_report():
    a = _det("a", 10.0, [(0, 5, 0.1), (5, 10, 0.9)], events=[(5.0, 9.0, 0.9)])
    b = _det("b", 10.0, [(0, 10, 0.5)], events=[(1.0, 2.0, 0.5)])  # a false alarm on a normal video
    c = _det("c", 10.0, [(0, 10, 0.2)], events=[])  # normal, nothing found: left out of the IoU mean
    truth = ground_truth_from([VideoTruth("a", ((4.0, 10.0),)), VideoTruth("b", ()), VideoTruth("c", ())])
    rep = evaluate_detection(_dets([a, b, c]), truth)
    assert rep.mean_iou == pytest.approx((4 / 6 + 0.0) / 2) and rep.iou_videos == 2
    assert rep.event_map[0.5] == pytest.approx(1.0) and rep.event_map[0.1] == pytest.approx(1.0)
    assert rep.events == 2 and rep.gt_intervals == 1
    d = rep.to_dict(per_video=True)
    assert d["events"]["map"]["0.5"] == pytest.approx(1.0) and d["videos"]["normal"] == 2
    assert [v["iou"] for v in d["per_video"]] == [pytest.approx(4 / 6), 0.0, None]
    noev = evaluate_detection(_dets([_det("a", 10.0, [(0, 5, 0.1), (5, 10, 0.9)])]), truth)
    assert noev.event_map == {} and "no 'events'" in noev.event_note


# ---- ground-truth readers ---------------------------------------------------------------


@pytest.fixture(scope="module")
def synth_split(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    res = invoke("synth", "--out", str(out), "--n", "6", "--seed", "5")
    assert res.exit_code == 0, res.output
    return out / "train.json"


def test_hawk_records_from_hawk_synth(synth_split):
    records = json.loads(synth_split.read_text())
    gt = read_ground_truth(synth_split)
    assert gt.fmt == "hawk" and len(gt) == len(records)
    anomalous = [r for r in records if r["anomaly"]]
    assert anomalous and len(anomalous) < len(records)
    for r in records:
        v = gt.lookup(r["id"])
        assert v.duration == pytest.approx(r["num_frames"] / r["fps"]) and v.fps == r["fps"]
        if r["anomaly"]:
            ts = r["time_span"]
            assert v.intervals == ((ts["start_s"], ts["end_s"]),)
            # at the video's own fps the labelled frames are exactly start_frame..end_frame
            from hawk_core.scoring.detection import frame_labels

            lab = frame_labels(v.intervals, frame_times(v.duration, v.fps))
            assert np.flatnonzero(lab).tolist() == list(range(ts["start_frame"], ts["end_frame"] + 1))
        else:
            assert v.intervals == ()
        assert gt.lookup(None, "/elsewhere/" + r["video"]) is v  # by file name
    # frame-only spans (no start_s/end_s) give the same seconds; a list of spans is accepted
    r = dict(anomalous[0])
    r["time_span"] = [{"start_frame": r["time_span"]["start_frame"], "end_frame": r["time_span"]["end_frame"]}]
    p = synth_split.parent / "frames.jsonl"
    p.write_text(json.dumps(r) + "\n")
    (got,), (want,) = read_ground_truth(p).videos[0].intervals, gt.lookup(r["id"]).intervals
    assert got == pytest.approx(want, abs=1e-3)
    # detections scored against the synth split: the real fps, duration and spans flow through
    dets = [_det(r["id"], r["num_frames"] / r["fps"], [(0.0, 2.0, 0.2 + 0.5 * r["anomaly"]), (2.0, 5.0, 0.4)]) for r in records]
    rep = evaluate_detection(_dets(dets), gt)
    assert rep.frames == sum(r["num_frames"] for r in records)
    assert rep.anomalous_frames == sum(r["time_span"]["end_frame"] - r["time_span"]["start_frame"] + 1 for r in anomalous)


UCF_TXT = """Abuse028_x264.mp4  Abuse  165  240  -1  -1
Arson011_x264.mp4  Arson  150  420  680  1267
Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1
"""


def test_ucf_crime_reader(tmp_path):
    p = tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    p.write_text(UCF_TXT)
    gt = read_ground_truth(p)
    assert gt.fmt == "ucf" and len(gt) == 3
    abuse = gt.lookup("Abuse028_x264")
    assert abuse.intervals == ((164 / 30, 240 / 30),) and abuse.fps == 30.0  # 1-based inclusive frames
    assert gt.lookup(None, "videos/test/Arson011_x264.mp4").intervals == ((149 / 30, 420 / 30), (679 / 30, 1267 / 30))
    assert gt.lookup("Normal_Videos_003_x264.mp4").intervals == ()
    assert read_ground_truth(p, "ucf", fps=25.0).lookup("Abuse028_x264").intervals == ((164 / 25, 240 / 25),)
    # at 30 fps frames 165..240 (1-based) are the instants of decoded frames 164..239
    lab = np.flatnonzero([any(a <= i / 30 < b for a, b in abuse.intervals) for i in range(300)])
    assert lab[0] == 164 and lab[-1] == 239


def test_hivau_reader(tmp_path):
    raw = {
        "Abuse001_x264": {"n_frames": 2729, "fps": 30.0, "label": ["Abuse"], "events": [[3.933, 15.867], [24.7, 42.5]], "clips": []},
        "v=S-7rRLrxnVQ__#1_label_B4-0-0": {"n_frames": 3273, "fps": 24.0, "label": ["Riot"], "events": [[0.0, 63.208]],
                                           "events(frame)": [[0, 1517]]},
        "Normal_Videos_010_x264": {"n_frames": 900, "fps": 30.0, "label": ["Normal"], "events": []},
    }
    p = tmp_path / "ucf_database_test.json"
    p.write_text(json.dumps(raw))
    gt = read_ground_truth(p)
    assert gt.fmt == "hivau" and len(gt) == 3
    v = gt.lookup(None, "ucf-crime/videos/test/Abuse001_x264.mp4")  # stem match
    assert v.intervals == ((3.933, 15.867), (24.7, 42.5)) and v.duration == pytest.approx(2729 / 30) and v.fps == 30.0
    assert gt.lookup("v=S-7rRLrxnVQ__#1_label_B4-0-0").duration == pytest.approx(3273 / 24)
    assert not gt.lookup("Normal_Videos_010_x264").anomalous


@pytest.mark.parametrize(
    ("name", "text", "fmt", "match"),
    [
        ("bad.txt", "Abuse028_x264.mp4 Abuse 165\n", "ucf", "line 1: expected"),
        ("bad2.txt", "Abuse028_x264.mp4 Abuse 165 x -1 -1\n", "ucf", "not an integer"),
        ("bad3.txt", "Abuse028_x264.mp4 Abuse 240 165 -1 -1\n", "auto", "1-based with start <= end"),
        ("bad4.txt", "Abuse028_x264.mp4 Abuse 0 10 -1 -1\n", "auto", "1-based"),
        ("h.json", '{"A": {"fps": 30, "events": [[5, 2]]}}', "auto", "0 <= start < end"),
        ("h2.json", '{"A": {"fps": 30, "events": [5, 2]}}', "hivau", r"events\[0\] must be"),
        ("h3.json", '{"A": {"fps": 30, "events": [[1, 2]]}', "hivau", "invalid JSON"),
        ("r.json", '[{"video": "a.mp4", "time_span": {"start": 1}}]', "auto", "expected null"),
        ("r2.json", '[{"video": "a.mp4", "time_span": {"start_frame": 3, "end_frame": 9}}]', "auto", "need the record's fps"),
        ("r3.json", '[{"video": "a.mp4", "description": "x"}]', "auto", "no record carries a time_span"),
        ("r4.jsonl", '{"video": "a.mp4", "time_span": null}\n{"video": "a.mp4", "time_span": null}\n', "auto", "appears twice"),
        ("j.jsonl", '{"video": "a.mp4", "time_span": null}\nnot json\n', "auto", "line 2: invalid JSON"),
        ("what.txt", "hello world\n", "auto", "cannot tell the ground-truth format"),
        ("o.json", '{"x": 1}', "auto", "neither HIVAU-70k"),
        ("e.txt", "  \n", "auto", "empty"),
    ],
)
def test_malformed_ground_truth_gets_one_line_errors(tmp_path, name, text, fmt, match):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(DataError, match=match) as ei:
        read_ground_truth(p, fmt)
    assert "\n" not in str(ei.value) and str(p) in str(ei.value)


def test_ground_truth_arguments_are_checked(tmp_path):
    with pytest.raises(InputError, match="no such"):
        read_ground_truth(tmp_path / "nope.txt")
    with pytest.raises(ConfigError, match="format"):
        read_ground_truth(tmp_path / "nope.txt", "xd")
    with pytest.raises(ConfigError, match="fps"):
        read_ground_truth(tmp_path / "nope.txt", fps=0)


# ---- bad detections and policies --------------------------------------------------------


def test_missing_ground_truth_is_skipped_and_listed_or_an_error(tmp_path):
    dets = _write_jsonl(tmp_path / "d.jsonl", [
        _det("a", 4.0, [(0, 2, 0.1), (2, 4, 0.9)]), _det("ghost", 4.0, [(0, 4, 0.5)]), _det("b", 4.0, [(0, 4, 0.3)]),
    ])
    gt = _write_jsonl(tmp_path / "gt.jsonl", [
        {"id": "a", "video": "a.mp4", "time_span": {"start_s": 2.0, "end_s": 4.0}, "fps": 2.0},
        {"id": "b", "video": "b.mp4", "time_span": None, "fps": 2.0}, {"id": "c", "video": "c.mp4", "time_span": None},
    ])
    rep = evaluate_detection_files(dets, gt)
    assert rep.skipped_no_gt == ["ghost"] and rep.gt_without_detection == 1 and len(rep.videos) == 2
    assert rep.frame_auc == 1.0 and rep.to_dict()["videos"]["skipped"] == ["ghost"]
    with pytest.raises(DataError, match="no ground truth .* 'ghost'"):
        evaluate_detection_files(dets, gt, config=DetectionConfig(missing_gt="error"))


def test_intervals_beyond_the_duration_are_clipped_and_counted_or_an_error():
    dets = _dets([_det("a", 4.0, [(0, 2, 0.1), (2, 4, 0.9)]), _det("b", 4.0, [(0, 4, 0.2)])])
    truth = ground_truth_from([VideoTruth("a", ((2.0, 6.0), (5.0, 7.0))), VideoTruth("b", ((0.0, 4.0005),))])
    rep = evaluate_detection(dets, truth, DetectionConfig(fps=1.0))
    assert rep.clipped_intervals == 1 and rep.dropped_intervals == 1  # 4.0005 is within the 1 ms slack
    assert any("clipped to 4 s" in x for x in rep.clip_examples) and any("dropped" in x for x in rep.clip_examples)
    assert rep.anomalous_frames == 2 + 4
    with pytest.raises(DataError, match=r"interval \[2, 6\] s ends after its duration 4 s"):
        evaluate_detection(dets, truth, DetectionConfig(out_of_range="error"))


def test_all_frames_one_class_is_an_error_naming_the_problem():
    dets = _dets([_det("a", 2.0, [(0, 2, 0.1)]), _det("b", 2.0, [(0, 2, 0.3)])])
    with pytest.raises(DataError, match="all 4 frames of the 2 evaluated videos are normal"):
        evaluate_detection(dets, ground_truth_from([VideoTruth("a", ()), VideoTruth("b", ())]), DetectionConfig(fps=1.0))
    with pytest.raises(DataError, match="are anomalous"):
        evaluate_detection(dets, ground_truth_from([VideoTruth("a", ((0, 2),)), VideoTruth("b", ((0, 2),))]), DetectionConfig(fps=1.0))
    with pytest.raises(DataError, match="no detection matches"):
        evaluate_detection(dets, ground_truth_from([VideoTruth("z", ())]))


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('{"duration": 3, "windows": []}', "needs 'id' or 'video'"),
        ('{"id": "a", "duration": 3}', "no 'windows'"),
        ('{"id": "a", "duration": 3, "windows": [{"start": 2, "end": 1, "score": 0.5}]}', r"windows\[0\]: \[2, 1\] s"),
        ('{"id": "a", "duration": 3, "windows": [{"start": 0, "end": 1, "score": "high"}]}', "score must be a finite number"),
        ('{"id": "a", "duration": -1, "windows": []}', "duration must be > 0"),
        ('{"id": "a", "duration": 3, "windows": {"start": 0}}', "must be a list"),
        ('{"id": "a", "duration": 3, "windows": [], "events": [{"start": 0, "end": 1}]}', r"events\[0\]: score"),
        ('{"id": "a", "windows": []}\n{"id": "a", "windows": []}', "records 1 and 2 are both 'a'"),
        ("not json", "line 1: invalid JSON"),
        ('{"id": "a", "duration": 3, "windows": [{"start": 0, "end": "x", "score": 1}]}', r"windows\[0\]: end must be a finite number \(got 'x'\)"),
        ('{"id": "a", "duration": "long", "windows": []}', r"\(a\): duration must be a finite number \(got 'long'\)"),
        ('{"video": "", "windows": []}', "needs 'id' or 'video'"),
    ],
)
def test_malformed_detections_get_one_line_errors(tmp_path, line, match):
    p = tmp_path / "d.jsonl"
    p.write_text(line + "\n")
    with pytest.raises(DataError, match=match) as ei:
        load_detections(p)
    assert "\n" not in str(ei.value)


def test_detection_errors_in_evaluation():
    truth = ground_truth_from([VideoTruth("a", ((0, 1),)), VideoTruth("b", ())])
    with pytest.raises(DataError, match="no windows"):
        evaluate_detection(_dets([_det("a", 2.0, [])]), truth)
    with pytest.raises(DataError, match="no duration"):
        evaluate_detection(_dets([{"id": "a", "windows": [{"start": 0, "end": 1, "score": 1}]}]), truth)
    with pytest.raises(DataError, match="same ground-truth video"):
        evaluate_detection(_dets([_det("a", 2.0, [(0, 1, 1)]), {"id": "x", "video": "a", "duration": 2.0, "windows": [{"start": 0, "end": 1, "score": 1}]}]),
                           ground_truth_from([VideoTruth("a", ((0, 1),), names=("a",)), VideoTruth("x2", ())]))
    for bad in ({"fps": 0}, {"uncovered": "mean"}, {"missing_gt": "normal"}, {"out_of_range": "keep"}, {"iou_thresholds": (0.0,)}):
        with pytest.raises(ConfigError):
            DetectionConfig(**bad)


# ---- edges the mutation run found untested ------------------------------------------------


def test_an_uncovered_frame_equally_near_takes_the_higher_score_on_either_side():
    t = np.array([2.0])
    assert frame_scores([Window(0.5, 1.5, 0.9), Window(2.5, 3.5, 0.2)], t).tolist() == [0.9]  # the higher one before
    assert frame_scores([Window(0.5, 1.5, 0.2), Window(2.5, 3.5, 0.9)], t).tolist() == [0.9]  # ... or after
    assert frame_scores([Window(0.5, 1.5, 0.9), Window(2.4, 3.5, 0.2)], t).tolist() == [0.2]  # nearer wins


def test_temporal_iou_of_empty_intervals_is_zero_and_iou_at_the_threshold_counts():
    assert temporal_iou((1.0, 1.0), (1.0, 1.0)) == 0.0  # no union: 0, not a division by zero
    gt = {"a": [(0.0, 5.0)]}
    assert temporal_iou((0.0, 10.0), (0.0, 5.0)) == 0.5
    assert interval_ap([("a", 0.0, 10.0, 0.9)], gt, 0.5) == 1.0  # IoU == threshold is a match
    assert interval_ap([("a", 0.0, 10.0, 0.9)], gt, 0.51) == 0.0
    # a prediction for a video without ground truth is a false positive
    assert interval_ap([("ghost", 0.0, 5.0, 0.9), ("a", 0.0, 5.0, 0.5)], gt, 0.5) == pytest.approx(0.5)


def test_interval_ap_ranks_by_score_and_makes_precision_monotone():
    gt = {"a": [(0.0, 1.0), (2.0, 3.0), (4.0, 5.0)]}
    tp = [("a", 0.0, 1.0), ("a", 2.0, 3.0), ("a", 4.0, 5.0)]
    fp = [("a", 7.0, 8.0), ("a", 8.0, 9.0)]
    # ranked by score: TP, FP, FP, TP, TP -> precision 1, .5, .33, .5, .6 at recall 1/3, 1/3, 1/3, 2/3, 1;
    # made monotone the .5 at recall 2/3 becomes .6: AP = 1/3 (1 + .6 + .6)
    preds = [(*fp[1], 0.7), (*tp[2], 0.5), (*tp[1], 0.6), (*fp[0], 0.8), (*tp[0], 0.9)]  # file order is not rank order
    assert interval_ap(preds, gt, 0.5) == pytest.approx((1 + 0.6 + 0.6) / 3)
    assert interval_ap([(*tp[0], 0.1), (*fp[0], 0.9)], {"a": [(0.0, 1.0)]}, 0.5) == pytest.approx(0.5)  # the FP ranks first


def test_the_report_takes_the_duration_from_the_ground_truth_and_averages_the_map():
    det = {"id": "a", "windows": [{"start": 0, "end": 2, "score": 0.1}, {"start": 2, "end": 4, "score": 0.9}],
           "events": [{"start": 2.0, "end": 4.0, "score": 0.9}, {"start": 0.0, "end": 1.4, "score": 0.8}]}
    truth = ground_truth_from([VideoTruth("a", ((2.0, 4.0), (0.0, 1.0)), duration=4.0)])
    rep = evaluate_detection(_dets([det]), truth, DetectionConfig(fps=1.0, iou_thresholds=(0.5, 0.8)))
    assert rep.videos[0].duration == 4.0 and rep.frames == 4  # no duration in the detection: the ground truth's
    # IoU of the second event 1/1.4 = .71: a match at 0.5, not at 0.8
    assert rep.event_map == {0.5: pytest.approx(1.0), 0.8: pytest.approx(0.5)} and rep.map_avg == pytest.approx(0.75)
    assert rep.ground_truth["file"] == "<memory>" and rep.event_note is None
    normal = evaluate_detection(_dets([_det("a", 4.0, [(0, 2, 0.1), (2, 4, 0.9)], events=[(1.0, 2.0, 0.5)]), _det("b", 2.0, [(0, 2, 0.3)])]),
                                ground_truth_from([VideoTruth("a", ((2.0, 4.0),)), VideoTruth("b", ())]),
                                DetectionConfig(fps=1.0))
    assert normal.map_avg == 0.0 and normal.event_note is None


def test_an_interval_ending_exactly_one_millisecond_late_is_not_counted_as_clipped():
    dets = _dets([_det("a", 8.0, [(0, 4, 0.1), (4, 8, 0.9)])])
    rep = evaluate_detection(dets, ground_truth_from([VideoTruth("a", ((4.0, 8.001),))]), DetectionConfig(fps=1.0))
    assert rep.clipped_intervals == 0 and rep.anomalous_frames == 4
    rep = evaluate_detection(dets, ground_truth_from([VideoTruth("a", ((4.0, 8.0011),))]), DetectionConfig(fps=1.0))
    assert rep.clipped_intervals == 1


def test_describe_states_the_uncovered_rule():
    assert DetectionConfig().describe()["frame_score"].endswith("uncovered frames: the nearest window's score")
    assert DetectionConfig(uncovered="zero").describe()["frame_score"].endswith("uncovered frames: 0")


def test_ground_truth_lookup_by_a_windows_path_name_or_stem():
    truth = ground_truth_from([VideoTruth("x/Abuse001.mp4", ()), VideoTruth("y/Abuse001.avi", ()), VideoTruth("z/Arson002.mp4", ())])
    # the file name matches one video (the stems are ambiguous)
    assert truth.lookup(None, "D:\\clips\\Abuse001.avi").key == "y/Abuse001.avi"
    assert truth.lookup(None, "D:\\clips\\Abuse001.mkv") is None  # the stem matches two
    assert truth.lookup(None, "D:\\clips\\Arson002.avi").key == "z/Arson002.mp4"  # the stem matches one


def _gt_file(tmp_path, records, name="gt.json"):
    p = tmp_path / name
    p.write_text(json.dumps(records))
    return read_ground_truth(p)


def test_hawk_records_spans_as_pairs_duration_names_and_labels(tmp_path):
    gt = _gt_file(tmp_path, [
        {"id": "v1", "video": "clips/a.mp4", "time_span": [[1.0, 2.0], [3.0, 4.5]], "duration": 12.5, "event_type": "Fighting"},
        {"video": "clips/b.mp4", "time_span": [0.5, 1.5], "num_frames": 50, "fps": 10.0},
        {"id": 7, "video": "clips/c.mp4", "time_span": None},  # a non-string id is ignored
        {"video": "clips/d.mp4", "description": "no time span"},
        {"video": "clips/e.mp4"},
    ])
    v1 = gt.lookup(None, "clips/a.mp4")  # by its video path, though its key is the id
    assert v1.key == "v1" and v1.names == ("clips/a.mp4",) and v1.intervals == ((1.0, 2.0), (3.0, 4.5))
    assert v1.duration == 12.5 and v1.label == "Fighting"
    b = gt.lookup("clips/b.mp4")
    assert b.intervals == ((0.5, 1.5),) and b.duration == 5.0 and b.names == () and b.label is None
    assert gt.lookup("clips/c.mp4").key == "clips/c.mp4"
    assert gt.without_time_span == 2


@pytest.mark.parametrize(("span", "message"), [
    ([["x", 2.0]], "record 1 (a.mp4): time_span: start must be a finite number (got 'x')"),
    ([[1.0, "y"]], "record 1 (a.mp4): time_span: end must be a finite number (got 'y')"),
    ({"start_s": 1.0, "end_s": None}, "record 1 (a.mp4): time_span: end_s must be a finite number (got None)"),
    ({"start_frame": 9, "end_frame": 3}, "record 1 (a.mp4): time_span: end_frame 3 is before start_frame 9"),
    ({"end_frame": 3}, "record 1 (a.mp4): time_span: expected null, {start_s, end_s}, {start_frame, end_frame} or [start_s, end_s] "
                       '(got {"end_frame": 3})'),
    ({"note": "x" * 80}, "record 1 (a.mp4): time_span: expected null, {start_s, end_s}, {start_frame, end_frame} or [start_s, end_s] "
                         f"(got {json.dumps({'note': 'x' * 80})[:60]})"),  # the span quoted to 60 characters
])
def test_hawk_span_errors_name_the_record_and_the_field(tmp_path, span, message):
    with pytest.raises(DataError) as ei:
        _gt_file(tmp_path, [{"video": "a.mp4", "fps": 30.0, "time_span": span}])
    assert str(ei.value) == f"{tmp_path / 'gt.json'}: {message}"


def test_hivau_fps_from_the_caller_labels_and_errors(tmp_path):
    p = tmp_path / "h.json"
    p.write_text(json.dumps({"A": {"n_frames": 50, "label": ["Abuse", "Riot"], "events": [[1.0, 2.0]]},
                             "B": {"n_frames": 30, "fps": 10.0, "label": "Normal"}}))
    gt = read_ground_truth(p, "hivau", fps=25.0)
    assert gt.lookup("A").fps == 25.0 and gt.lookup("A").duration == 2.0 and gt.lookup("A").label == "Abuse,Riot"
    assert gt.lookup("B").fps == 10.0 and gt.lookup("B").duration == 3.0 and gt.lookup("B").label == "Normal"
    p.write_text(json.dumps({"A": {"fps": 0, "events": []}}))
    with pytest.raises(DataError, match=r"video 'A': fps must be > 0 \(got 0\)"):
        read_ground_truth(p, "hivau")
    p.write_text("{}")
    with pytest.raises(DataError) as ei:
        read_ground_truth(p, "hivau")
    assert str(ei.value) == f"{p}: no videos in the annotation"


def test_ucf_half_absent_interval_is_an_error(tmp_path):
    p = tmp_path / "u.txt"
    p.write_text("Abuse028_x264.mp4 Abuse 165 -1 -1 -1\n")
    with pytest.raises(DataError, match="frames 165..-1: frame numbers are 1-based"):
        read_ground_truth(p)


def test_config_errors_list_the_choices():
    with pytest.raises(ConfigError) as ei:
        DetectionConfig(out_of_range="keep")
    assert str(ei.value) == "out_of_range must be one of clip, error (got 'keep')"
    with pytest.raises(ConfigError, match=r"IoU thresholds must be in \(0, 1\]"):
        DetectionConfig(iou_thresholds=(0.5, 1.5))
    assert DetectionConfig(iou_thresholds=(1.0,)).iou_thresholds == (1.0,)


def test_ground_truth_containers_and_a_low_fps(tmp_path):
    rec = {"video": "a.mp4", "time_span": [1.0, 2.0]}
    p = tmp_path / "gt.json"
    p.write_text("\n  " + json.dumps({"annotations": [rec]}))  # a blank line before the JSON
    assert read_ground_truth(p).lookup("a.mp4").intervals == ((1.0, 2.0),)
    assert read_ground_truth(p, "hawk").lookup("a.mp4").intervals == ((1.0, 2.0),)
    p.write_text(json.dumps(rec))  # one record, not in a list
    assert read_ground_truth(p, "hawk").lookup("a.mp4").intervals == ((1.0, 2.0),)
    u = tmp_path / "u.txt"
    u.write_text("Abuse028_x264.mp4 Abuse 2 3 -1 -1\n")
    assert read_ground_truth(u, "ucf", fps=0.5).lookup("Abuse028_x264").intervals == ((2.0, 6.0),)  # one frame per 2 s


def test_bootstrap_intervals_resample_whole_videos():
    """--bootstrap: 95% percentile intervals over resamples of the videos, computed here
    independently with the same generator; a video's frames stay together; seeded; none by
    default; a bad count is refused."""
    from hawk_core.scoring.detection import bootstrap_intervals

    rng = np.random.default_rng(3)
    scores = [rng.random(20) + (0.5 if i % 3 else 0.0) * (np.arange(20) >= 10) for i in range(12)]
    labels = [((np.arange(20) >= 10) & bool(i % 3)).astype(int) for i in range(12)]
    auc_ci, ap_ci = bootstrap_intervals(scores, labels, 200, seed=5)
    gen = np.random.default_rng(5)
    aucs, aps = [], []
    while len(aucs) < 200:
        idx = gen.integers(0, 12, 12)
        y = np.concatenate([labels[i] for i in idx])
        if 0 < y.sum() < y.size:
            s = np.concatenate([scores[i] for i in idx])
            aucs.append(roc_auc_score(y, s))
            aps.append(average_precision_score(y, s))
    assert auc_ci == pytest.approx((np.percentile(aucs, 2.5), np.percentile(aucs, 97.5)))
    assert ap_ci == pytest.approx((np.percentile(aps, 2.5), np.percentile(aps, 97.5)))
    point = roc_auc_score(np.concatenate(labels), np.concatenate(scores))
    assert auc_ci[0] < point < auc_ci[1] and bootstrap_intervals(scores, labels, 200, seed=5) == (auc_ci, ap_ci)
    with pytest.raises(DataError, match="one class only"):
        bootstrap_intervals([np.zeros(5), np.ones(5)], [np.zeros(5, int), np.zeros(5, int)], 10)
    for bad in (-1, True, 2.5):
        with pytest.raises(ConfigError, match="bootstrap must be"):
            DetectionConfig(bootstrap=bad)
    truth = ground_truth_from([VideoTruth(key=f"v{i}", intervals=((5.0, 10.0),) if i % 2 else (), duration=10.0) for i in range(6)])
    dets = _dets([_det(f"v{i}", 10.0, [(0, 5, 0.2 + 0.1 * i), (5, 10, 0.3 + 0.1 * (i % 2))], fps=2) for i in range(6)])
    assert evaluate_detection(dets, truth).frame_auc_ci is None
    rep = evaluate_detection(dets, truth, DetectionConfig(bootstrap=50))
    assert rep.frame_auc_ci[0] <= rep.frame_auc_ci[1] and rep.to_dict()["frame_ap_ci"] == list(rep.frame_ap_ci)
    assert "bootstrap" in rep.convention["interval"]
