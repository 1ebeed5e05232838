"""Temporal anomaly detection (`hawk detect`): when in a video does the anomaly happen?

1. **Windows.** The video is cut into sliding windows of ``window`` seconds every ``stride``
   seconds by the one window planner (:func:`hawk_core.media.windows.plan_windows`; the last
   window is aligned to the video's end, a video shorter than a window is one window). Default
   window: ``duration / 8`` clamped to [2 s, 16 s] (:func:`default_window`: 2 s for the 5-25 s
   clips of `hawk synth`, 16 s from two minutes up, so a long video gets one window per
   ``stride`` without drowning a short event); default stride: half a window. Each window gets
   its own T frames, uniform within it, and its motion input, from one streaming pass
   (:func:`hawk_core.inference.windows.window_samples`), as `hawk describe --window` does.
2. **Scores.** A scorer (:mod:`hawk_core.inference.anomaly`) gives each window a score in
   [0, 1]: by default the model's P(yes) to a fixed anomaly question; ``motion`` is the
   motion-energy baseline.
3. **Events.** The anomalous intervals are the union of the windows scoring above
   ``threshold`` (strictly; default 0.5): windows above it that overlap or touch merge into one
   interval ``[first start, last end)``, whose score is the highest window score inside it;
   intervals shorter than ``min_duration`` seconds are dropped. This is the same as thresholding
   the per-instant score "max over the windows covering it" that ``hawk score --detection``
   evaluates, so events and frame scores agree.
4. **Descriptions.** Each event's own span is sampled (T frames uniform within it, with motion)
   and described by the model with the paper's describe prompt (greedy by default).

Over a split (:func:`run_detections`): one JSONL line per video, ``{"id", "video", "duration",
"fps", "windows", "events"}``, appended as each video finishes, so an interrupted run resumes;
the settings are kept beside it (``OUT.meta.json``, :func:`hawk_core.inference.split.check_run_meta`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, DataError, HawkError

if TYPE_CHECKING:  # pragma: no cover
    from ..data.records import HawkRecord
    from ..media.motion_config import MotionConfig
    from .anomaly import WindowScorer
    from .predictor import GenerationOptions, Predictor

MIN_WINDOW_S = 2.0
MAX_WINDOW_S = 16.0
WINDOWS_PER_VIDEO = 8


def default_window(duration: float) -> float:
    """The default window length in seconds: ``duration / 8`` within [2 s, 16 s]."""
    return min(max(duration / WINDOWS_PER_VIDEO, MIN_WINDOW_S), MAX_WINDOW_S)


def _number(value: float | None, flag: str, *, low: float, high: float = math.inf, strict_low: bool = True) -> None:
    if value is None:
        return
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value > low if strict_low else value >= low) and value <= high
    if not ok:
        bound = f"> {low:g}" if strict_low else f">= {low:g}"
        raise ConfigError(f"{flag} must be {bound}" + (f" and <= {high:g}" if math.isfinite(high) else "") + f" (got {value})")


@dataclass(frozen=True)
class DetectConfig:
    """How windows are laid out and events found (times in seconds)."""

    window: float | None = None  # None: default_window(duration)
    stride: float | None = None  # None: half a window
    threshold: float = 0.5  # an event is where window scores are > threshold
    min_duration: float = 0.0  # shorter events are dropped
    describe: bool = True  # describe each event with the model
    batch: int = 8  # windows per encoder call and LLM forward

    def __post_init__(self) -> None:
        _number(self.window, "--window", low=0.0)
        _number(self.stride, "--stride", low=0.0)
        if self.window is not None and self.stride is not None and self.stride > self.window:
            raise ConfigError(f"--stride {self.stride:g} is longer than --window {self.window:g}: parts of the video would never be scored")
        _number(self.threshold, "--threshold", low=0.0, high=1.0, strict_low=False)
        _number(self.min_duration, "--min-duration", low=0.0, strict_low=False)
        if not isinstance(self.batch, int) or self.batch < 1:
            raise ConfigError(f"--batch-size must be >= 1 (got {self.batch})")

    def spans(self, duration: float) -> tuple[float, float]:
        """(window, stride) in seconds for a video of ``duration`` seconds."""
        window = self.window if self.window is not None else default_window(duration)
        stride = self.stride if self.stride is not None else window / 2
        if stride > window:
            raise ConfigError(f"--stride {stride:g} is longer than the window {window:g} s: parts of the video would never be scored")
        return window, stride

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Sampling:
    """How each window is sampled: frames per window, frame size, resize mode, motion input."""

    frames: int
    size: int
    resize: str
    motion: MotionConfig

    @classmethod
    def of(cls, predictor: Predictor | None, frames: int | None = None) -> Sampling:
        """The model's own data settings; without a model (the motion baseline alone), those of
        the shipped default model (16 frames of 224 px, squashed, the default motion input)."""
        from ..media.motion_config import MotionConfig

        if predictor is not None:
            d = predictor.config.data
            return cls(int(frames or predictor.num_frames), d.size, d.resize, d.motion)
        n = int(frames or 16)
        if n < 2:
            raise ConfigError(f"frames must be >= 2 (motion needs a pair), got {n}")
        return cls(n, 224, "squash", MotionConfig())

    def to_dict(self) -> dict:
        return {"frames": self.frames, "size": self.size, "resize": self.resize}


@dataclass
class WindowScore:
    start: float
    end: float
    score: float
    start_frame: int = 0  # native frames [start_frame, end_frame)
    end_frame: int = 0

    def to_dict(self) -> dict:
        return {"start": round(self.start, 4), "end": round(self.end, 4), "score": self.score}


@dataclass
class DetectedEvent:
    start: float
    end: float
    score: float
    description: str | None = None
    start_frame: int = 0
    end_frame: int = 0

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict:
        return {"start": round(self.start, 4), "end": round(self.end, 4), "score": self.score, "description": self.description}


@dataclass
class Detection:
    """One video's result: window scores in time order and the events found from them."""

    video: str
    duration: float
    fps: float
    num_frames: int
    window: float
    stride: float
    windows: list[WindowScore]
    events: list[DetectedEvent]
    threshold: float
    timings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """``{"video", "duration", "fps", "windows": [{start, end, score}], "events": [{start, end,
        score, description}]}``: what ``hawk score --detection`` reads."""
        return {
            "video": self.video,
            "duration": round(self.duration, 4),
            "fps": round(self.fps, 4),
            "windows": [w.to_dict() for w in self.windows],
            "events": [e.to_dict() for e in self.events],
        }

    @classmethod
    def from_dict(cls, record: dict, threshold: float = 0.5) -> Detection:
        """A detection read back from :meth:`to_dict`'s record (a line of a detections file);
        native frame spans are recovered from the times and ``fps``."""
        try:
            fps, duration = float(record["fps"]), float(record["duration"])
            frame = lambda t: int(round(float(t) * fps))  # noqa: E731
            windows = [WindowScore(float(w["start"]), float(w["end"]), float(w["score"]), frame(w["start"]), frame(w["end"]))
                       for w in record["windows"]]
            events = [DetectedEvent(float(e["start"]), float(e["end"]), float(e["score"]), e.get("description"), frame(e["start"]), frame(e["end"]))
                      for e in record.get("events") or []]
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"not a detection record ({type(e).__name__}: {e})") from None
        if not windows:
            raise DataError("a detection record without windows")
        window = windows[0].end - windows[0].start
        stride = windows[1].start - windows[0].start if len(windows) > 1 else window
        return cls(video=str(record.get("video", "")), duration=duration, fps=fps, num_frames=frame(duration), window=window,
                   stride=stride, windows=windows, events=events, threshold=threshold)


def find_events(windows: Sequence[WindowScore], threshold: float, min_duration: float = 0.0) -> list[DetectedEvent]:
    """The union of the windows scoring above ``threshold``: overlapping or touching ones merge;
    an event's score is the highest inside it; events under ``min_duration`` s are dropped."""
    above = sorted((w for w in windows if w.score > threshold), key=lambda w: (w.start_frame, w.end_frame))
    events: list[DetectedEvent] = []
    for w in above:
        if events and w.start_frame <= events[-1].end_frame:
            e = events[-1]
            if w.end_frame > e.end_frame:
                e.end_frame, e.end = w.end_frame, w.end
            e.score = max(e.score, w.score)
        else:
            events.append(DetectedEvent(w.start, w.end, w.score, start_frame=w.start_frame, end_frame=w.end_frame))
    return [e for e in events if e.duration >= min_duration - 1e-9]


def detect_video(
    video: str | Path,
    scorer: WindowScorer,
    config: DetectConfig = DetectConfig(),
    *,
    sampling: Sampling,
    predictor: Predictor | None = None,
    options: GenerationOptions | None = None,
    prompt: str | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Detection:
    """Score ``video``'s windows, find its events and (with ``config.describe``) describe each
    with ``predictor``. ``on_plan(n)`` is told the number of steps (windows, then windows +
    events once they are known), ``on_progress(k)`` after each."""
    import time

    from ..media.windows import Window, plan_windows
    from .windows import VideoTimeline, window_samples

    if config.describe and predictor is None:
        raise ConfigError("describing events needs a loaded model (or describe=False)")
    t0 = time.perf_counter()
    timeline = VideoTimeline.of(video)
    window_s, stride_s = config.spans(timeline.duration)
    windows = plan_windows(timeline.num_frames, timeline.fps, window_s, stride_s)
    if on_plan is not None:
        on_plan(len(windows))
    order: list[Window] = []

    def sampled(spans: list[Window]) -> Iterator:
        return window_samples(video, spans, timeline, num_frames=sampling.frames, size=sampling.size,
                              resize=sampling.resize, motion=sampling.motion)

    def stream() -> Iterator:
        for sample in sampled(windows):
            order.append(sample[0])
            yield sample
            if on_progress is not None:
                on_progress(1)

    span = scorer.span()
    if span > 0:  # the scorer reads the video in clips of its own span; the windows average its frames
        frames = scorer.frame_probabilities(sampled(plan_windows(timeline.num_frames, timeline.fps, span, span / 2)))
        scores, order = scorer.window_scores(windows, frames), list(windows)
        if on_progress is not None:
            on_progress(len(windows))
    else:
        scores = scorer.score(stream())
    if len(scores) != len(order):
        raise DataError(f"the {scorer.name} scorer gave {len(scores)} scores for {len(order)} windows")
    by_index = {w.index: s for w, s in zip(order, scores)}
    results = [WindowScore(w.start_s, w.end_s, float(by_index[w.index]), w.start, w.end) for w in windows]
    t_score = time.perf_counter() - t0
    events = find_events(results, config.threshold, config.min_duration)
    if config.describe and events:
        if on_plan is not None:
            on_plan(len(windows) + len(events))
        spans = [Window(k, e.start_frame, e.end_frame, timeline.fps) for k, e in enumerate(events)]
        _describe_events(video, events, spans, timeline, predictor, sampling, config.batch, options, prompt, on_progress)
    return Detection(
        video=str(video), duration=timeline.duration, fps=timeline.fps, num_frames=timeline.num_frames,
        window=window_s, stride=stride_s, windows=results, events=events, threshold=config.threshold,
        timings={"score_s": round(t_score, 3), "total_s": round(time.perf_counter() - t0, 3)},
    )


def _describe_events(video, events, spans, timeline, predictor, sampling, batch, options, prompt, on_progress) -> None:
    from .predictor import GenerationOptions
    from .windows import window_samples

    options = options or GenerationOptions()
    prompt = prompt or predictor.describe_prompt()
    pending: list = []

    def flush() -> None:
        prepared = predictor.encode([(clip, motion) for _, clip, motion in pending])
        answers = predictor.answer([(p, prompt, None) for p in prepared], options)
        for (w, _, _), a in zip(pending, answers):
            events[w.index].description = a.text
        if on_progress is not None:
            on_progress(len(pending))
        pending.clear()

    for sample in window_samples(video, spans, timeline, num_frames=sampling.frames, size=sampling.size,
                                 resize=sampling.resize, motion=sampling.motion):
        pending.append(sample)
        if len(pending) == batch:
            flush()
    if pending:
        flush()


# ---- over a split ------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectItem:
    """One video of a split: its id, its path as written and on disk."""

    id: str
    video: str
    path: Path


def plan_detections(records: Sequence[HawkRecord], data_path: Path, video_root: Path | None = None) -> list[DetectItem]:
    """One item per record (records from :func:`hawk_core.data.records.load_hawk_records`,
    ``need=NEED_VIDEO``: a video is all a record needs).
    The id is the record's ``id``, else its video path as written (a video listed twice gets
    ``@<i>``, as `hawk predict` does); the path is found as `hawk predict` finds it
    (:func:`hawk_core.data.records.resolve_video_path`)."""
    from ..data.records import resolve_video_path

    seen: dict[str, int] = {}
    items = []
    for i, rec in enumerate(records):
        rid = rec.extra.get("id")
        base = str(rid) if rid not in (None, "") else rec.video
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            base = f"{base}@{i}"
        items.append(DetectItem(base, rec.video, resolve_video_path(rec.video, data_path, video_root)))
    return items


@dataclass
class DetectSummary:
    total: int = 0
    already_done: int = 0
    written: int = 0
    events: int = 0
    failed_videos: dict[str, str] = field(default_factory=dict)  # video -> error

    def to_dict(self) -> dict:
        return asdict(self)


def run_detections(
    items: Sequence[DetectItem],
    out: Path,
    detect_one: Callable[[Path], Detection],
    *,
    on_progress: Callable[[int, str], None] | None = None,
) -> DetectSummary:
    """``detect_one`` on every item not yet in ``out`` (JSONL, keyed by id), one line appended
    (and fsynced) per finished video: ``{"id", "video" (as written in the split), "duration",
    "fps", "windows", "events"}``. A video that cannot be read is skipped with its error in the
    summary (not written, so the next run retries it). ``on_progress(n, label)``: n more videos."""
    from ..io import JsonlAppender

    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"duplicate video id {dup!r}")
    summary = DetectSummary(total=len(items))
    with JsonlAppender(out, key="id") as sink:
        done = sink.done_keys()
        todo = [it for it in items if it.id not in done]
        summary.already_done = len(items) - len(todo)
        if summary.already_done and on_progress is not None:
            on_progress(summary.already_done, "already done")
        for it in todo:
            try:
                det = detect_one(it.path)
            except HawkError as e:
                summary.failed_videos[it.video] = str(e).splitlines()[0] if str(e) else type(e).__name__
                if on_progress is not None:
                    on_progress(1, f"skipped {Path(it.video).name}")
                continue
            sink.write({"id": it.id, **det.to_dict(), "video": it.video})
            summary.written += 1
            summary.events += len(det.events)
            if on_progress is not None:
                on_progress(1, Path(it.video).name)
    return summary


def detect_meta(scorer: WindowScorer, config: DetectConfig, sampling: Sampling, predictor: Predictor | None,
                options: GenerationOptions | None) -> dict[str, Any]:
    """The settings a detections file is resumed under (JSON-comparable values only)."""
    return {
        "scorer": scorer.describe(),
        "model": str(predictor.spec.source) if predictor is not None else None,
        "quantize": predictor.quantize if predictor is not None else None,
        "sampling": sampling.to_dict(),
        "detect": {k: v for k, v in config.to_dict().items() if k != "batch"},  # the batch size changes no result
        "generation": options.to_dict() if (options is not None and config.describe) else None,
    }
