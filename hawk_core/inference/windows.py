"""Long videos: sliding windows over a video file (planned by :mod:`hawk_core.media.windows`),
each window's frames and motion input (:func:`window_samples`, used by `hawk describe --window`
and `hawk detect`), and described windows (:func:`describe_windows`), optionally only the
windows with the most motion."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .predictor import GenerationOptions

if TYPE_CHECKING:  # pragma: no cover
    from ..media.motion import MotionResult
    from ..media.motion_config import MotionConfig
    from ..media.video import SampledClip
    from ..media.windows import Window
    from .predictor import Predictor


@dataclass(frozen=True)
class VideoTimeline:
    """A video's native frame count and rate, as the window planner needs them."""

    num_frames: int
    fps: float

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    @classmethod
    def of(cls, video: str | Path) -> VideoTimeline:
        """Counted from the file (a missing or unreadable video is a :class:`VideoError`)."""
        from ..media.video import count_frames, probe

        fps = probe(video)["fps"] or 25.0
        return cls(count_frames(video), fps)


def window_samples(
    video: str | Path,
    windows: Sequence[Window],
    timeline: VideoTimeline,
    *,
    num_frames: int,
    size: int,
    resize: str,
    motion: MotionConfig,
) -> Iterator[tuple[Window, SampledClip, MotionResult]]:
    """Each window's ``num_frames`` frames (uniform within it) and motion input, from one
    streaming pass over the video (in the order the windows end)."""
    from ..media.motion import extract_motion
    from ..media.windows import iter_window_clips

    for w, clip in iter_window_clips(video, list(windows), num_frames, size, total_frames=timeline.num_frames, resize=resize):
        clip.meta["window"] = w.index
        yield w, clip, extract_motion(clip, motion)


def describe_windows(
    predictor: Predictor,
    video: str | Path,
    window_s: float,
    stride_s: float | None = None,
    options: GenerationOptions = GenerationOptions(),
    *,
    top: int | None = None,
    prompt: str | None = None,
    batch: int = 4,
    on_plan: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_window: Callable[[Any], None] | None = None,
) -> list:
    """Describe ``window_s``-second windows every ``stride_s`` seconds (see
    :mod:`hawk_core.media.windows`); with ``top``, only the K windows with the most motion are
    described (the others keep their motion energy and rank). Returns
    :class:`~hawk_core.media.windows.WindowResult` s in time order. ``on_plan(n)`` is told how
    many windows will be encoded and described; ``on_progress(k)`` after each batch;
    ``on_window(result)`` with each described window as soon as its batch is done, in time
    order (its ``rank`` is final only with ``top``: without it, ranks need every window)."""
    from ..media.windows import plan_windows, rank, window_result

    if top is not None and top < 1:
        raise ConfigError(f"top must be >= 1, got {top}")
    if batch < 1:
        raise ConfigError(f"batch must be >= 1, got {batch}")
    d = predictor.config.data
    timeline = VideoTimeline.of(video)
    windows = plan_windows(timeline.num_frames, timeline.fps, window_s, stride_s)
    prompt = prompt or predictor.describe_prompt()
    results: dict[int, Any] = {}

    def describe(pairs):
        prepared = predictor.encode(pairs)
        answers = predictor.answer([(p, prompt, None) for p in prepared], options)
        for (clip, _), a in zip(pairs, answers):
            results[clip.meta["window"]].text = a.text
            results[clip.meta["window"]].truncated = a.truncated
            if on_window is not None:
                on_window(results[clip.meta["window"]])
        if on_progress is not None:
            on_progress(len(pairs))

    def clips(ws):
        return window_samples(video, ws, timeline, num_frames=predictor.num_frames, size=d.size, resize=d.resize, motion=d.motion)

    chosen = windows
    if top is not None and top < len(windows):
        for w, _, motion in clips(windows):  # pass 1: motion energy of every window
            results[w.index] = window_result(w, motion)
        rank(list(results.values()))
        chosen = [w for w in windows if results[w.index].rank <= top]
    if on_plan is not None:
        on_plan(len(chosen))
    pending: list = []
    for w, clip, motion in clips(chosen):
        if w.index not in results:
            results[w.index] = window_result(w, motion)
        pending.append((clip, motion))
        if len(pending) == batch:
            describe(pending)
            pending = []
    if pending:
        describe(pending)
    return rank(list(results.values()))
