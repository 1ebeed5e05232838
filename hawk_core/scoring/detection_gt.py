"""Ground-truth anomalous intervals for temporal detection, read from the three formats the
field uses. Every reader returns intervals in seconds, half-open ``[start, end)``.

* ``hawk``: HAWK-format records (a JSON list, ``{"data": [...]}`` or JSONL) of
  ``{"id"?, "video", "time_span", "num_frames"?, "fps"?, "duration"?, ...}``, as ``hawk synth``
  writes them. ``time_span`` is ``null`` for a normal video, or ``{"start_s", "end_s"}`` (what
  synth writes beside ``start_frame`` / ``end_frame``; ``end_s`` is exclusive), or only
  ``{"start_frame", "end_frame"}`` (0-based, inclusive; seconds = frame / fps, end + 1 frame),
  or a list of such spans, or ``[start_s, end_s]`` pairs. A record without a ``time_span`` key
  is a normal video when ``"anomaly": false``, and otherwise carries no temporal ground truth
  (counted, left out). The video's duration is ``duration`` or ``num_frames / fps``.
* ``ucf``: UCF-Crime's ``Temporal_Anomaly_Annotation*.txt``, one line per video,
  ``Video_name.mp4  Class  start1 end1  start2 end2`` in frame numbers, ``-1 -1`` for an absent
  interval (normal videos have none). Frame numbers are 1-based and inclusive, as the
  benchmark's MATLAB evaluator reads them (``GT(st:end) = 1``); frame n covers
  ``[(n - 1) / fps, n / fps)``. The file has no frame rate: ``fps`` (default 30, UCF-Crime's)
  converts, and is recorded as the video's frame rate.
* ``hivau``: HIVAU-70k's raw annotation JSON (``raw_annotations/*_database_*.json``):
  ``{video_id: {"n_frames", "fps", "label": [...], "events": [[start_s, end_s], ...], ...}}``
  with event times in seconds; duration ``n_frames / fps``. ``events`` empty or absent (or a
  ``Normal`` label) is a normal video. (Other keys such as ``clips`` or ``events(frame)`` are
  ignored.)

``fmt="auto"`` tells them apart from the content: text lines of ``name class numbers`` are
``ucf``; a JSON object whose values are objects with ``events`` is ``hivau``; a JSON list or
JSONL of records with ``video`` is ``hawk``. Malformed input raises :class:`DataError` with
one line naming the file, the line or record, and the problem.

Videos are matched to detections by id, then by video path, then by file name, then by file
name without extension (the last two only when unique in the file).
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ConfigError, DataError

GT_FORMATS = ("auto", "hawk", "ucf", "hivau")
UCF_DEFAULT_FPS = 30.0

Interval = tuple[float, float]


@dataclass(frozen=True)
class VideoTruth:
    """One video's ground truth: anomalous intervals in seconds (half-open)."""

    key: str
    intervals: tuple[Interval, ...]
    duration: float | None = None
    fps: float | None = None
    names: tuple[str, ...] = ()  # other strings it may be referred to by (video path, file name)
    label: str | None = None

    @property
    def anomalous(self) -> bool:
        return bool(self.intervals)


@dataclass
class GroundTruth:
    """The videos of one ground-truth file, looked up by a detection's id or video."""

    path: Path
    fmt: str
    videos: list[VideoTruth]
    without_time_span: int = 0  # HAWK records with no temporal ground truth, left out
    _exact: dict[str, VideoTruth] = field(default_factory=dict, repr=False)
    _by_name: dict[str, list[VideoTruth]] = field(default_factory=dict, repr=False)
    _by_stem: dict[str, list[VideoTruth]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        by_name: dict[str, list[VideoTruth]] = defaultdict(list)
        by_stem: dict[str, list[VideoTruth]] = defaultdict(list)
        for v in self.videos:
            if v.key in self._exact:
                raise DataError(f"{self.path}: video {v.key!r} appears twice")
            self._exact[v.key] = v
            for n in v.names:
                self._exact.setdefault(n, v)
            for n in {v.key, *v.names}:
                name = PurePosixPath(n.replace("\\", "/")).name
                for table, k in ((by_name, name), (by_stem, _stem(name))):
                    if all(x is not v for x in table[k]):
                        table[k].append(v)
        self._by_name, self._by_stem = dict(by_name), dict(by_stem)

    def __len__(self) -> int:
        return len(self.videos)

    def lookup(self, *names: str | None) -> VideoTruth | None:
        """The video a detection refers to (its id, then its video path), or None."""
        given = [n for n in names if isinstance(n, str) and n]
        for n in given:
            if n in self._exact:
                return self._exact[n]
        for table, norm in ((self._by_name, lambda s: PurePosixPath(s.replace("\\", "/")).name),
                            (self._by_stem, lambda s: _stem(PurePosixPath(s.replace("\\", "/")).name))):
            for n in given:
                hits = table.get(norm(n), [])
                if len(hits) == 1:
                    return hits[0]
        return None


def _stem(name: str) -> str:
    return re.sub(r"\.(mp4|avi|mkv|mov|webm|mpg|mpeg|m4v|wmv|flv)$", "", name, flags=re.I)


def _num(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataError(f"{where}: {what} must be a finite number (got {value!r})")
    return float(value)


def _check_interval(s: float, e: float, where: str) -> Interval:
    if s < 0 or e <= s:
        raise DataError(f"{where}: interval [{s:g}, {e:g}] s must have 0 <= start < end")
    return (s, e)


# ---- HAWK records ------------------------------------------------------------------------


def _hawk_spans(ts: Any, fps: float | None, where: str) -> list[Interval]:
    if ts is None:
        return []
    items = ts if isinstance(ts, list) and (not ts or not isinstance(ts[0], (int, float))) else [ts]
    out = []
    for k, span in enumerate(items):
        w = f"{where}: time_span[{k}]" if len(items) > 1 else f"{where}: time_span"
        if isinstance(span, list) and len(span) == 2:
            s, e = _num(span[0], "start", w), _num(span[1], "end", w)
        elif isinstance(span, dict) and "start_s" in span and "end_s" in span:
            s, e = _num(span["start_s"], "start_s", w), _num(span["end_s"], "end_s", w)
        elif isinstance(span, dict) and "start_frame" in span and "end_frame" in span:
            if not fps:
                raise DataError(f"{w}: frame numbers without start_s/end_s need the record's fps (or pass fps)")
            sf, ef = _num(span["start_frame"], "start_frame", w), _num(span["end_frame"], "end_frame", w)
            if ef < sf:
                raise DataError(f"{w}: end_frame {ef:g} is before start_frame {sf:g}")
            s, e = sf / fps, (ef + 1) / fps
        else:
            raise DataError(f"{w}: expected null, {{start_s, end_s}}, {{start_frame, end_frame}} or [start_s, end_s] (got {json.dumps(span)[:60]})")
        out.append(_check_interval(s, e, w))
    return out


def first_start(record: dict, where: str = "record") -> float | None:
    """The earliest start (s) of a HAWK record's ``time_span``, read as :func:`read_hawk` reads
    it (frame numbers through the record's ``fps``), or None when it has none or it cannot be
    read (a training prompt then names no start)."""
    try:
        fps = _num(record["fps"], "fps", where) if record.get("fps") is not None else None
        spans = _hawk_spans(record.get("time_span"), fps if fps and fps > 0 else None, f"{where}: time_span")
    except DataError:
        return None
    return min(s for s, _ in spans) if spans else None


def read_hawk(records: list[dict], path: Path, fps: float | None = None) -> GroundTruth:
    videos, without = [], 0
    for i, r in enumerate(records, 1):
        if not isinstance(r, dict):
            raise DataError(f"{path}: record {i} is not a JSON object")
        vid = r.get("id") if isinstance(r.get("id"), str) and r.get("id") else None
        video = r.get("video") if isinstance(r.get("video"), str) and r.get("video") else None
        if vid is None and video is None:
            raise DataError(f"{path}: record {i} has neither 'id' nor 'video'")
        where = f"{path}: record {i} ({vid or video})"
        rec_fps = _num(r["fps"], "fps", where) if r.get("fps") is not None else fps
        if rec_fps is not None and rec_fps <= 0:
            raise DataError(f"{where}: fps must be > 0 (got {rec_fps:g})")
        if "time_span" not in r:
            if r.get("anomaly") is False:
                spans: list[Interval] = []
            else:
                without += 1
                continue
        else:
            spans = _hawk_spans(r["time_span"], rec_fps, where)
        duration = None
        if r.get("duration") is not None:
            duration = _num(r["duration"], "duration", where)
        elif r.get("num_frames") is not None and rec_fps:
            duration = _num(r["num_frames"], "num_frames", where) / rec_fps
        names = tuple(n for n in (video,) if n and n != (vid or video))
        videos.append(VideoTruth(key=vid or video, intervals=tuple(spans), duration=duration, fps=rec_fps,
                                 names=names, label=r.get("event_type") if isinstance(r.get("event_type"), str) else None))
    if not videos:
        raise DataError(f"{path}: no record carries a time_span (HAWK temporal ground truth); {without} record(s) have none")
    return GroundTruth(path, "hawk", videos, without_time_span=without)


# ---- UCF-Crime ---------------------------------------------------------------------------


def read_ucf(text: str, path: Path, fps: float | None = None) -> GroundTruth:
    rate = UCF_DEFAULT_FPS if fps is None else fps
    if rate <= 0:
        raise ConfigError(f"fps must be > 0 (got {rate:g})")
    videos = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        where = f"{path}: line {lineno}"
        usage = "expected 'Video_name.mp4 Class start1 end1 [start2 end2 ...]' in frame numbers"
        if len(parts) < 4 or len(parts) % 2:
            raise DataError(f"{where}: {usage} (got {len(parts)} fields)")
        try:
            nums = [int(x) for x in parts[2:]]
        except ValueError:
            raise DataError(f"{where}: {usage} (a frame number is not an integer)") from None
        spans = []
        for s, e in zip(nums[0::2], nums[1::2], strict=True):
            if s == -1 and e == -1:
                continue
            if s < 1 or e < s:
                raise DataError(f"{where}: frames {s}..{e}: frame numbers are 1-based with start <= end (-1 -1 for none)")
            spans.append(((s - 1) / rate, e / rate))
        name = parts[0]
        videos.append(VideoTruth(key=_stem(name), intervals=tuple(spans), fps=rate, names=(name,), label=parts[1]))
    if not videos:
        raise DataError(f"{path}: no annotation lines")
    return GroundTruth(path, "ucf", videos)


# ---- HIVAU-70k ---------------------------------------------------------------------------


def read_hivau(obj: dict, path: Path, fps: float | None = None) -> GroundTruth:
    videos = []
    for key, meta in obj.items():
        where = f"{path}: video {key!r}"
        if not isinstance(meta, dict):
            raise DataError(f"{where}: expected an object with 'events' (HIVAU-70k raw annotation)")
        rate = _num(meta["fps"], "fps", where) if meta.get("fps") is not None else fps
        if rate is not None and rate <= 0:
            raise DataError(f"{where}: fps must be > 0 (got {rate:g})")
        events = meta.get("events") or []
        if not isinstance(events, list):
            raise DataError(f"{where}: 'events' must be a list of [start_s, end_s]")
        spans = []
        for k, ev in enumerate(events):
            if not (isinstance(ev, list) and len(ev) == 2):
                raise DataError(f"{where}: events[{k}] must be [start_s, end_s] (got {json.dumps(ev)[:40]})")
            spans.append(_check_interval(_num(ev[0], "start", where), _num(ev[1], "end", where), f"{where}: events[{k}]"))
        duration = None
        if meta.get("n_frames") is not None and rate:
            duration = _num(meta["n_frames"], "n_frames", where) / rate
        label = meta.get("label")
        label = ",".join(label) if isinstance(label, list) else (label if isinstance(label, str) else None)
        videos.append(VideoTruth(key=str(key), intervals=tuple(spans), duration=duration, fps=rate, label=label))
    if not videos:
        raise DataError(f"{path}: no videos in the annotation")
    return GroundTruth(path, "hivau", videos)


# ---- dispatch ----------------------------------------------------------------------------

_UCF_LINE = re.compile(r"^\S+\s+\S+(\s+-?\d+){2,}\s*$")


def _detect(text: str, path: Path) -> tuple[str, Any]:
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            obj = None  # maybe JSONL
        if isinstance(obj, list):
            return "hawk", obj
        if isinstance(obj, dict):
            for k in ("data", "records", "annotations"):
                if isinstance(obj.get(k), list):
                    return "hawk", obj[k]
            values = list(obj.values())
            if values and all(isinstance(v, dict) for v in values) and any("events" in v for v in values):
                return "hivau", obj
            if "video" in obj:
                return "hawk", [obj]
            raise DataError(f"{path}: a JSON object that is neither HIVAU-70k ({{video: {{events}}}}) nor HAWK records; pass the format")
        return "hawk", _jsonl(text, path)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if lines and _UCF_LINE.match(lines[0]):
        return "ucf", text
    raise DataError(f"{path}: cannot tell the ground-truth format (HAWK JSON/JSONL, UCF-Crime txt, HIVAU-70k JSON); pass it")


def _jsonl(text: str, path: Path) -> list[dict]:
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {lineno}: invalid JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise DataError(f"{path}: line {lineno}: expected a JSON object")
        out.append(rec)
    return out


def read_ground_truth(path: str | Path, fmt: str = "auto", fps: float | None = None) -> GroundTruth:
    """Ground truth from ``path`` in ``fmt`` (one of :data:`GT_FORMATS`). ``fps`` converts
    frame numbers where the file gives none (UCF-Crime: default 30; HAWK / HIVAU records
    without their own ``fps``)."""
    if fmt not in GT_FORMATS:
        raise ConfigError(f"ground-truth format must be one of {', '.join(GT_FORMATS)} (got {fmt!r})")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ConfigError(f"fps must be > 0 (got {fps})")
    from ..io import read_text_file

    path = Path(path)
    text = read_text_file(path, "ground-truth file")
    if fmt == "auto":
        fmt, payload = _detect(text, path)
    elif fmt == "ucf":
        payload = text
    else:
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as e:
            if fmt == "hivau":
                raise DataError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
            payload = _jsonl(text, path)
        if fmt == "hawk" and isinstance(payload, dict):
            payload = next((payload[k] for k in ("data", "records", "annotations") if isinstance(payload.get(k), list)), [payload])
        if fmt == "hivau" and not isinstance(payload, dict):
            raise DataError(f"{path}: HIVAU-70k raw annotations are a JSON object {{video_id: {{...}}}}")
        if fmt == "hawk" and not isinstance(payload, list):
            raise DataError(f"{path}: expected HAWK records (a JSON list or JSONL)")
    if fmt == "ucf":
        return read_ucf(payload, path, fps)
    if fmt == "hivau":
        return read_hivau(payload, path, fps)
    return read_hawk(payload, path, fps)


def ground_truth_from(videos: Iterable[VideoTruth], source: str = "<memory>") -> GroundTruth:
    """Ground truth built in code (for tests and callers that hold intervals already)."""
    return GroundTruth(Path(source), "memory", list(videos))
