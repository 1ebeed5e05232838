"""Evaluation of temporal anomaly detection: frame-level ROC-AUC and AP, and event-level
interval IoU and mAP, the numbers the video-anomaly field reports (UCF-Crime frame AUC,
XD-Violence AP), with every convention stated.

Input: one record per video (JSONL or a JSON list, as ``hawk detect --out`` writes)::

    {"id": "...", "video": "...", "duration": 12.4, "fps": 30.0 (optional),
     "windows": [{"start": 0.0, "end": 2.0, "score": 0.12}, ...],
     "events":  [{"start": 4.0, "end": 7.5, "score": 0.91, "description": "..."}, ...] (optional)}

times in seconds, scores any finite number (higher = more anomalous); ground truth from
:mod:`.detection_gt` (HAWK records with ``time_span``, UCF-Crime txt, HIVAU-70k JSON).

**Frame level** (the convention of VadCLIP and Holmes-VAU, stated so that it can be matched):

* Frames: frame ``i`` of a video is the instant ``t_i = i / fps`` for every ``t_i`` before the
  video's duration (``ceil(duration * fps)`` frames). ``fps`` is, per video, the evaluation rate
  given (``DetectionConfig.fps``, a fixed rate such as 1 or 30) or else the video's own frame
  rate (the detection record's ``fps``, else the ground truth's), else 30.
* A frame's score is the **maximum** score of the windows covering it (a window
  ``[start, end)`` covers ``t`` when ``start <= t < end``). A frame no window covers takes the
  score of the **nearest** window (the highest of equally near ones), or 0 with
  ``uncovered="zero"``.
* A frame's label is 1 when ``t_i`` lies in a ground-truth interval ``[start, end)``.
* **Micro average**: the frames of all evaluated videos are concatenated and scored once.
  ROC-AUC is scikit-learn's ``roc_auc_score`` and AP is scikit-learn's
  ``average_precision_score`` (the step-wise sum of precision x recall increments over
  distinct score thresholds), *not* a trapezoid area under the PR curve (which LAVAD reports as
  "AP" and which is larger). Videos whose frames are all one class are fine (normal videos
  are); if every evaluated frame has the same label the figures are undefined: an error.
* The duration is the detection record's ``duration``, else the ground truth's.

**Event level** (the detection's ``events``):

* Temporal IoU of two intervals: ``|A ∩ B| / |A ∪ B|`` in seconds.
* Per-video IoU: the IoU of the union of the video's predicted events with the union of its
  ground-truth intervals; averaged over the videos that have either (a normal video with a
  false alarm scores 0; a normal video with no events is left out).
* mAP at IoU thresholds 0.1, 0.2, 0.3, 0.4, 0.5 (ActivityNet / THUMOS detection AP with one
  class, "anomaly"): all predicted events of all videos ranked by score, highest first (ties
  keep file order); each is a true positive when its best still-unmatched ground-truth
  interval of the same video has IoU >= the threshold (that interval is then used up), else a
  false positive; AP is the area under the precision-recall curve with precision made
  monotone (ActivityNet's interpolation, all points); recall is over all ground-truth
  intervals. ``map_avg`` is the mean over the thresholds. With no ground-truth interval at all
  the event AP is undefined (None).

**Bad input**: a malformed detections file (not JSON, a record without ``id``/``video`` or
``windows``, a window with ``end <= start``, a non-finite score, a duplicate id) is a
:class:`DataError` naming the record. A detection whose video has no ground truth is skipped
and listed (``missing_gt="skip"``) or an error (``"error"``). A ground-truth interval that
reaches beyond the video's duration (by more than 1 ms) is clipped to it and counted, or dropped
when it starts after the end (``out_of_range="clip"``), or an error (``"error"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, InputError
from ..io import read_json_or_jsonl
from .detection_gt import GroundTruth, Interval, VideoTruth

IOU_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)
DEFAULT_FPS = 30.0
UNCOVERED = ("nearest", "zero")
MISSING_GT = ("skip", "error")
OUT_OF_RANGE = ("clip", "error")
_SLACK = 1e-3  # seconds an interval may pass the duration by without being counted as clipped
_MAX_FRAMES = 50_000_000


@dataclass(frozen=True)
class DetectionConfig:
    fps: float | None = None  # evaluation frame rate; None: each video's own (else DEFAULT_FPS)
    default_fps: float = DEFAULT_FPS
    uncovered: str = "nearest"
    missing_gt: str = "skip"
    out_of_range: str = "clip"
    iou_thresholds: tuple[float, ...] = IOU_THRESHOLDS
    bootstrap: int = 0  # resamples of the videos for 95% intervals of frame AUC / AP (0: none)
    seed: int = 0  # the bootstrap's seed

    def __post_init__(self) -> None:
        if isinstance(self.bootstrap, bool) or not isinstance(self.bootstrap, int) or self.bootstrap < 0:
            raise ConfigError(f"bootstrap must be a number of resamples >= 0 (got {self.bootstrap!r})")
        for name in ("fps", "default_fps"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ConfigError(f"{name} must be > 0 (got {v})")
        if self.uncovered not in UNCOVERED:
            raise ConfigError(f"uncovered must be one of {', '.join(UNCOVERED)} (got {self.uncovered!r})")
        if self.missing_gt not in MISSING_GT:
            raise ConfigError(f"missing_gt must be one of {', '.join(MISSING_GT)} (got {self.missing_gt!r})")
        if self.out_of_range not in OUT_OF_RANGE:
            raise ConfigError(f"out_of_range must be one of {', '.join(OUT_OF_RANGE)} (got {self.out_of_range!r})")
        if not self.iou_thresholds or not all(0 < t <= 1 for t in self.iou_thresholds):
            raise ConfigError(f"IoU thresholds must be in (0, 1] (got {self.iou_thresholds})")

    def describe(self) -> dict[str, Any]:
        return {
            "frames": f"t_i = i / fps below the duration; fps = {self.fps:g} (fixed)" if self.fps else
                      f"t_i = i / fps below the duration; fps = each video's own (else {self.default_fps:g})",
            "frame_score": "max over the windows [start, end) covering the frame; uncovered frames: "
                           + ("the nearest window's score" if self.uncovered == "nearest" else "0"),
            "average": "micro: all frames of all videos concatenated",
            "auc": "sklearn.metrics.roc_auc_score",
            "ap": "sklearn.metrics.average_precision_score (step-wise, not trapezoid)",
            "event_map": "ActivityNet-style AP, one class, IoU thresholds " + ", ".join(f"{t:g}" for t in self.iou_thresholds),
            **({"interval": f"95% percentile bootstrap over videos ({self.bootstrap} resamples of the scored videos with "
                            f"replacement, seed {self.seed}; each resample's frames scored micro as above)"} if self.bootstrap else {}),
        }


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    score: float


@dataclass(frozen=True)
class VideoDetection:
    """One video's detection record."""

    id: str | None
    video: str | None
    duration: float | None
    windows: tuple[Window, ...]
    events: tuple[Window, ...] | None = None  # None: the record has no "events"
    fps: float | None = None
    line: int = 0

    @property
    def name(self) -> str:
        return self.id or self.video or f"record {self.line}"


# ---- reading detections ------------------------------------------------------------------


def _finite(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataError(f"{where}: {what} must be a finite number (got {value!r})")
    return float(value)


def _spans(items: Any, what: str, where: str) -> tuple[Window, ...]:
    if not isinstance(items, list):
        raise DataError(f"{where}: '{what}' must be a list of {{start, end, score}}")
    out = []
    for k, w in enumerate(items):
        wk = f"{where}: {what}[{k}]"
        if not isinstance(w, dict):
            raise DataError(f"{wk} must be an object {{start, end, score}}")
        s, e = _finite(w.get("start"), "start", wk), _finite(w.get("end"), "end", wk)
        score = _finite(w.get("score"), "score", wk)
        if s < 0 or e <= s:
            raise DataError(f"{wk}: [{s:g}, {e:g}] s must have 0 <= start < end")
        out.append(Window(s, e, score))
    return tuple(out)


def parse_detection(rec: dict, where: str, line: int = 0) -> VideoDetection:
    """One detection record, validated (see the module docstring)."""
    vid = rec.get("id") if isinstance(rec.get("id"), (str, int)) and not isinstance(rec.get("id"), bool) else None
    vid = str(vid) if vid is not None and str(vid) else None
    video = rec.get("video") if isinstance(rec.get("video"), str) and rec.get("video") else None
    if vid is None and video is None:
        raise DataError(f"{where}: a detection needs 'id' or 'video'")
    where = f"{where} ({vid or video})"
    if "windows" not in rec:
        raise DataError(f"{where}: no 'windows' (the per-window scores)")
    duration = None
    if rec.get("duration") is not None:
        duration = _finite(rec["duration"], "duration", where)
        if duration <= 0:
            raise DataError(f"{where}: duration must be > 0 (got {duration:g})")
    fps = None
    if rec.get("fps") is not None:
        fps = _finite(rec["fps"], "fps", where)
        if fps <= 0:
            raise DataError(f"{where}: fps must be > 0 (got {fps:g})")
    events = _spans(rec["events"], "events", where) if rec.get("events") is not None else None
    return VideoDetection(vid, video, duration, _spans(rec["windows"], "windows", where), events, fps, line)


def load_detections(path: str | Path) -> list[VideoDetection]:
    """The records of a detections file (JSONL or a JSON list), validated; duplicate ids are
    a :class:`DataError`."""
    path = Path(path)
    records = read_json_or_jsonl(path)
    if not records:
        raise DataError(f"{path}: no detection records")
    out, seen = [], {}
    for i, rec in enumerate(records, 1):
        det = parse_detection(rec, f"{path}: record {i}", i)
        key = det.id or det.video
        if key in seen:
            raise DataError(f"{path}: records {seen[key]} and {i} are both {key!r}")
        seen[key] = i
        out.append(det)
    return out


# ---- frames ------------------------------------------------------------------------------


def frame_times(duration: float, fps: float) -> np.ndarray:
    """The instants ``i / fps`` below ``duration``."""
    n = max(1, math.ceil(duration * fps - 1e-9))
    if n > _MAX_FRAMES:
        raise InputError(f"{n} frames at {fps:g} fps for a {duration:g} s video; use a lower evaluation fps")
    return np.arange(n, dtype=np.float64) / fps


def _max_by_value(values: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique sorted ``values`` and the highest score among the windows sharing each."""
    order = np.lexsort((-scores, values))
    v, sc = values[order], scores[order]
    first = np.concatenate([[True], v[1:] != v[:-1]])
    return v[first], sc[first]


def frame_scores(windows: Sequence[Window], times: np.ndarray, uncovered: str = "nearest") -> np.ndarray:
    """Per-frame score: the max over the windows ``[start, end)`` covering each instant;
    an uncovered frame gets the nearest window's score (the highest of equally near ones)
    or 0. ``times`` must be increasing."""
    if not windows:
        raise DataError("a video has no windows")
    starts = np.array([w.start for w in windows], dtype=np.float64)  # (W,)
    ends = np.array([w.end for w in windows], dtype=np.float64)
    scores = np.array([w.score for w in windows], dtype=np.float64)
    out = np.full(times.shape, -np.inf)  # (F,)
    first = np.searchsorted(times, starts, side="left")  # first frame with t >= start
    stop = np.searchsorted(times, ends, side="left")  # first frame with t >= end
    for a, b, sc in zip(first, stop, scores):
        if b > a:
            np.maximum(out[a:b], sc, out=out[a:b])
    lost = np.isneginf(out)
    if lost.any():
        if uncovered == "zero":
            out[lost] = 0.0
        else:
            t = times[lost]
            # every window is wholly before (end <= t) or wholly after (start > t) an uncovered t
            e_val, e_best = _max_by_value(ends, scores)
            s_val, s_best = _max_by_value(starts, scores)
            li = np.searchsorted(e_val, t, side="right") - 1  # the latest end <= t
            ri = np.searchsorted(s_val, t, side="right")  # the earliest start > t
            d_left = np.where(li >= 0, t - e_val[np.clip(li, 0, None)], np.inf)
            d_right = np.where(ri < len(s_val), s_val[np.clip(ri, None, len(s_val) - 1)] - t, np.inf)
            sc_left = np.where(li >= 0, e_best[np.clip(li, 0, None)], -np.inf)
            sc_right = np.where(ri < len(s_val), s_best[np.clip(ri, None, len(s_val) - 1)], -np.inf)
            tie = np.abs(d_left - d_right) <= 1e-9
            out[lost] = np.where(tie, np.maximum(sc_left, sc_right), np.where(d_left < d_right, sc_left, sc_right))
    return out


def frame_labels(intervals: Sequence[Interval], times: np.ndarray) -> np.ndarray:
    """1 where ``t`` lies in a ground-truth interval ``[start, end)``, else 0."""
    lab = np.zeros(times.shape, dtype=np.int8)
    for s, e in intervals:
        lab[(times >= s) & (times < e)] = 1
    return lab


# ---- event level -------------------------------------------------------------------------


def temporal_iou(a: Interval, b: Interval) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union > 0 else 0.0


def _union(intervals: Sequence[Interval]) -> list[Interval]:
    merged: list[list[float]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def union_iou(pred: Sequence[Interval], gt: Sequence[Interval]) -> float | None:
    """IoU of the union of ``pred`` with the union of ``gt``; None when both are empty."""
    p, g = _union(pred), _union(gt)
    if not p and not g:
        return None
    length = lambda xs: sum(e - s for s, e in xs)  # noqa: E731
    inter = sum(max(0.0, min(a[1], b[1]) - max(a[0], b[0])) for a in p for b in g)
    union = length(p) + length(g) - inter
    return inter / union if union > 0 else 0.0


def interval_ap(predictions: Sequence[tuple[str, float, float, float]], ground_truth: dict[str, Sequence[Interval]],
                threshold: float) -> float | None:
    """ActivityNet-style AP of ``(video, start, end, score)`` predictions against per-video
    ground-truth intervals at one IoU threshold; None when there is no ground-truth interval."""
    n_pos = sum(len(v) for v in ground_truth.values())
    if n_pos == 0:
        return None
    if not predictions:
        return 0.0
    order = sorted(range(len(predictions)), key=lambda i: -predictions[i][3])  # stable: ties keep order
    used = {v: [False] * len(g) for v, g in ground_truth.items()}
    tp = np.zeros(len(order))
    for rank, i in enumerate(order):
        video, s, e, _ = predictions[i]
        gts = ground_truth.get(video, ())
        ious = sorted(((temporal_iou((s, e), g), j) for j, g in enumerate(gts)), key=lambda x: -x[0])
        for iou, j in ious:
            if iou < threshold:
                break
            if used[video][j]:
                continue
            used[video][j] = True
            tp[rank] = 1
            break
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1 - tp)
    recall = ctp / n_pos
    precision = ctp / (ctp + cfp)
    mprec = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx]))


# ---- the evaluation ----------------------------------------------------------------------


@dataclass
class VideoResult:
    id: str
    frames: int
    anomalous_frames: int
    fps: float
    duration: float
    max_score: float
    iou: float | None = None
    events: int | None = None
    gt_intervals: int = 0


@dataclass
class DetectionReport:
    frame_auc: float
    frame_ap: float
    frames: int
    anomalous_frames: int
    videos: list[VideoResult]
    skipped_no_gt: list[str] = field(default_factory=list)
    gt_without_detection: int = 0
    clipped_intervals: int = 0
    dropped_intervals: int = 0
    clip_examples: list[str] = field(default_factory=list)
    mean_iou: float | None = None
    iou_videos: int = 0
    event_map: dict[float, float | None] = field(default_factory=dict)
    map_avg: float | None = None
    events: int = 0
    gt_intervals: int = 0
    event_note: str | None = None  # why event metrics are missing
    convention: dict[str, Any] = field(default_factory=dict)
    ground_truth: dict[str, Any] = field(default_factory=dict)
    frame_auc_ci: tuple[float, float] | None = None  # 95% bootstrap interval over videos (DetectionConfig.bootstrap)
    frame_ap_ci: tuple[float, float] | None = None

    def to_dict(self, per_video: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "frame_auc": self.frame_auc,
            "frame_ap": self.frame_ap,
            "frame_auc_ci": None if self.frame_auc_ci is None else list(self.frame_auc_ci),
            "frame_ap_ci": None if self.frame_ap_ci is None else list(self.frame_ap_ci),
            "frames": {"total": self.frames, "anomalous": self.anomalous_frames},
            "videos": {
                "scored": len(self.videos),
                "anomalous": sum(1 for v in self.videos if v.gt_intervals),
                "normal": sum(1 for v in self.videos if not v.gt_intervals),
                "skipped_no_gt": len(self.skipped_no_gt),
                "skipped": list(self.skipped_no_gt),
                "gt_without_detection": self.gt_without_detection,
            },
            "events": {
                "mean_iou": self.mean_iou, "iou_videos": self.iou_videos,
                "map": {f"{t:g}": v for t, v in self.event_map.items()}, "map_avg": self.map_avg,
                "predicted": self.events, "gt_intervals": self.gt_intervals, "note": self.event_note,
            },
            "warnings": {"clipped_intervals": self.clipped_intervals, "dropped_intervals": self.dropped_intervals,
                         "examples": list(self.clip_examples)},
            "ground_truth": dict(self.ground_truth),
            "convention": dict(self.convention),
        }
        if per_video:
            out["per_video"] = [vars(v).copy() for v in self.videos]
        return out


def _fit(intervals: Sequence[Interval], duration: float, name: str, cfg: DetectionConfig, report: DetectionReport) -> list[Interval]:
    out = []
    for s, e in intervals:
        if e <= duration + _SLACK:
            out.append((s, min(e, duration)))
            continue
        if cfg.out_of_range == "error":
            raise DataError(f"video {name}: ground-truth interval [{s:g}, {e:g}] s ends after its duration {duration:g} s")
        if s >= duration:
            report.dropped_intervals += 1
            note = f"{name}: [{s:g}, {e:g}] s dropped (starts after the {duration:g} s end)"
        else:
            report.clipped_intervals += 1
            out.append((s, duration))
            note = f"{name}: [{s:g}, {e:g}] s clipped to {duration:g} s"
        if len(report.clip_examples) < 5:
            report.clip_examples.append(note)
    return out


def bootstrap_intervals(scores: Sequence[np.ndarray], labels: Sequence[np.ndarray], resamples: int, seed: int = 0,
                        ) -> tuple[tuple[float, float], tuple[float, float]]:
    """95% percentile intervals of the micro frame AUC and AP over ``resamples`` resamples of
    the videos (each video's frame ``scores`` and ``labels``) with replacement: the frames of a
    video stay together, since they are not independent. Resamples whose frames are all of one
    class are drawn again."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(seed)
    aucs, aps = [], []
    n = len(scores)
    tries = 0
    while len(aucs) < resamples:
        tries += 1
        if tries > 20 * resamples:
            raise DataError("the bootstrap keeps drawing videos of one class only: too few videos of the other")
        idx = rng.integers(0, n, n)
        y = np.concatenate([labels[i] for i in idx])
        if not 0 < y.sum() < y.size:
            continue
        s = np.concatenate([scores[i] for i in idx])
        aucs.append(roc_auc_score(y, s))
        aps.append(average_precision_score(y, s))
    ci = lambda v: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5)))  # noqa: E731
    return ci(aucs), ci(aps)


def evaluate_detection(detections: Sequence[VideoDetection], truth: GroundTruth, config: DetectionConfig = DetectionConfig()) -> DetectionReport:
    """Frame-level AUC / AP (micro) and event-level IoU / mAP of ``detections`` against
    ``truth`` under ``config`` (conventions in the module docstring)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    report = DetectionReport(frame_auc=float("nan"), frame_ap=float("nan"), frames=0, anomalous_frames=0, videos=[],
                             convention=config.describe(),
                             ground_truth={"file": str(truth.path), "format": truth.fmt, "videos": len(truth),
                                           "without_time_span": truth.without_time_span})
    all_scores, all_labels = [], []
    matched: set[int] = set()
    preds: list[tuple[str, float, float, float]] = []
    gt_by_video: dict[str, list[Interval]] = {}
    have_events = False
    ious = []
    for det in detections:
        gt = truth.lookup(det.id, det.video)
        if gt is None:
            if config.missing_gt == "error":
                raise DataError(f"no ground truth in {truth.path} for the detection {det.name!r} (id or video)")
            report.skipped_no_gt.append(det.name)
            continue
        if id(gt) in matched:
            raise DataError(f"two detections refer to the same ground-truth video {gt.key!r} (the second: {det.name!r})")
        matched.add(id(gt))
        duration = det.duration if det.duration is not None else gt.duration
        if duration is None:
            raise DataError(f"detection {det.name!r}: no duration (neither the record nor the ground truth gives one)")
        fps = config.fps or det.fps or gt.fps or config.default_fps
        intervals = _fit(gt.intervals, duration, gt.key, config, report)
        times = frame_times(duration, fps)
        try:
            scores = frame_scores(det.windows, times, config.uncovered)
        except DataError:
            raise DataError(f"detection {det.name!r} has no windows") from None
        labels = frame_labels(intervals, times)
        all_scores.append(scores)
        all_labels.append(labels)
        res = VideoResult(id=det.name, frames=len(times), anomalous_frames=int(labels.sum()), fps=fps, duration=duration,
                          max_score=float(scores.max()), gt_intervals=len(intervals))
        key = gt.key
        gt_by_video[key] = intervals
        if det.events is not None:
            have_events = True
            res.events = len(det.events)
            res.iou = union_iou([(w.start, w.end) for w in det.events], intervals)
            if res.iou is not None:
                ious.append(res.iou)
            preds += [(key, w.start, w.end, w.score) for w in det.events]
        report.videos.append(res)
    report.gt_without_detection = len(truth) - len(matched)
    if not report.videos:
        raise DataError(f"no detection matches a video of {truth.path} ({len(report.skipped_no_gt)} skipped, e.g. {report.skipped_no_gt[:3]})")
    scores = np.concatenate(all_scores)
    labels = np.concatenate(all_labels)
    report.frames, report.anomalous_frames = int(labels.size), int(labels.sum())
    if report.anomalous_frames == 0 or report.anomalous_frames == report.frames:
        kind = "normal" if report.anomalous_frames == 0 else "anomalous"
        raise DataError(f"all {report.frames} frames of the {len(report.videos)} evaluated videos are {kind}: "
                        "frame AUC/AP need both normal and anomalous frames")
    report.frame_auc = float(roc_auc_score(labels, scores))
    report.frame_ap = float(average_precision_score(labels, scores))
    if config.bootstrap:
        report.frame_auc_ci, report.frame_ap_ci = bootstrap_intervals(all_scores, all_labels, config.bootstrap, config.seed)
    report.gt_intervals = sum(len(v) for v in gt_by_video.values())
    if not have_events:
        report.event_note = "the detections have no 'events'"
    else:
        report.events = len(preds)
        report.mean_iou = sum(ious) / len(ious) if ious else None
        report.iou_videos = len(ious)
        report.event_map = {t: interval_ap(preds, gt_by_video, t) for t in config.iou_thresholds}
        vals = [v for v in report.event_map.values() if v is not None]
        report.map_avg = sum(vals) / len(vals) if vals else None
        if report.gt_intervals == 0:
            report.event_note = "no ground-truth interval: event AP undefined"
    return report


def evaluate_detection_files(detections: str | Path, gt: str | Path, *, gt_format: str = "auto", gt_fps: float | None = None,
                             config: DetectionConfig = DetectionConfig()) -> DetectionReport:
    """:func:`evaluate_detection` on files: the detections JSONL and a ground-truth file."""
    from .detection_gt import read_ground_truth

    report = evaluate_detection(load_detections(detections), read_ground_truth(gt, gt_format, gt_fps), config)
    report.ground_truth["detections"] = str(detections)
    return report


__all__ = [
    "DetectionConfig", "DetectionReport", "IOU_THRESHOLDS", "VideoDetection", "VideoResult", "VideoTruth", "Window",
    "evaluate_detection", "evaluate_detection_files", "frame_labels", "frame_scores", "frame_times", "interval_ap",
    "load_detections", "parse_detection", "temporal_iou", "union_iou",
]
