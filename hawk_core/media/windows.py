"""Sliding windows over a long video: time-stamped descriptions ranked by motion energy.

The paper's model sees one video through T = 32 frames, whatever its length, and answers
at the video level: a 10-minute recording is 32 snapshots 19 s apart. Here the video is cut
into windows of ``window_s`` seconds every ``stride_s`` seconds; each window gets its own T
frames (uniform within the window) and its own motion input, and is described on its own.
Windows are ranked by *motion energy* (the mean optical-flow magnitude of their frames,
pixels/frame at the model size), a simple localisation: the window where most moves is
where an anomaly most likely is, and ``top`` describes only the K most energetic ones.

All windows' frames (and their predecessors, for the flow) are gathered in one streaming
pass over the video, so memory grows with the number of windows x T, not the video length.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, VideoError
from .motion import MotionResult
from .video import SampledClip, open_source, predecessor_indices, to_model_rgb, uniform_indices


@dataclass(frozen=True)
class Window:
    """A span of native frames [start, end) of a video."""

    index: int
    start: int
    end: int
    fps: float

    @property
    def start_s(self) -> float:
        return self.start / self.fps

    @property
    def end_s(self) -> float:
        return self.end / self.fps


def plan_windows(num_frames: int, fps: float, window_s: float, stride_s: float | None = None) -> list[Window]:
    """Windows of ``window_s`` seconds every ``stride_s`` (default: half a window). The last
    window is aligned to the video's end so the tail is covered (or stretched over it when
    the tail is under half a stride); a video shorter than one window is one window."""
    if window_s <= 0:
        raise ConfigError(f"window must be > 0 seconds, got {window_s}")
    stride_s = window_s / 2 if stride_s is None else stride_s
    if stride_s <= 0:
        raise ConfigError(f"stride must be > 0 seconds, got {stride_s}")
    if num_frames < 2:
        raise VideoError(f"video has {num_frames} frame(s); at least 2 are needed for motion")
    w = max(2, round(window_s * fps))
    st = max(1, round(stride_s * fps))
    if w >= num_frames:
        return [Window(0, 0, num_frames, fps)]
    spans = [(a, a + w) for a in range(0, num_frames - w + 1, st)]
    tail = num_frames - spans[-1][1]
    if tail > 0:
        if tail * 2 < st:  # a sliver: stretch the last window over it
            spans[-1] = (spans[-1][0], num_frames)
        else:  # a window aligned to the end
            spans.append((num_frames - w, num_frames))
    return [Window(i, a, b, fps) for i, (a, b) in enumerate(spans)]


def iter_window_clips(
    path: Path | str,
    windows: list[Window],
    num_frames: int,
    size: int,
    *,
    total_frames: int,
    resize: str = "squash",
    folder_fps: float = 25.0,
) -> Iterator[tuple[Window, SampledClip]]:
    """Yield (window, its T frames uniform within it + their predecessors) in time order,
    from one streaming pass; frames no later window needs are dropped as the stream moves."""
    path = Path(path)
    n = total_frames
    plans = []
    for w in sorted(windows, key=lambda w: (w.start, w.end)):
        idx = w.start + uniform_indices(w.end - w.start, num_frames)
        prev = predecessor_indices(idx.copy(), n)
        plans.append((w, idx, prev, max(int(idx.max()), int(prev.max())), min(int(idx.min()), int(prev.min()))))
    plans.sort(key=lambda p: p[3])
    need = set()
    for _, idx, prev, _, _ in plans:
        need |= set(idx.tolist()) | set(prev.tolist())
    pending = deque(plans)
    kept: dict[int, np.ndarray] = {}
    stamps: dict[int, float] = {}
    src = open_source(path, folder_fps)
    fps = src.fps if src.fps > 0 else folder_fps
    try:
        for i, ts, decode in src.frames():
            if i in need:
                bgr = decode()
                if bgr is None:
                    raise VideoError(f"{path}: frame {i} could not be decoded (corrupt data)")
                kept[i] = to_model_rgb(bgr, size, resize)
                if ts is not None:
                    stamps[i] = ts
            while pending and pending[0][3] <= i:
                w, idx, prev, _, _ = pending.popleft()
                yield w, SampledClip(
                    frames=np.stack([kept[j] for j in idx.tolist()]),
                    prev_frames=np.stack([kept[j] for j in prev.tolist()]),
                    indices=idx,
                    prev_indices=prev,
                    timestamps=np.array([stamps.get(j, j / fps) for j in idx.tolist()], dtype=np.float64),
                    num_native_frames=n,
                    fps=fps,
                    native_size=src.native_size,
                    source=str(path),
                    meta={"resize": resize, "sampling": "window", "size": size},
                )
                low = min((p[4] for p in pending), default=i + 1)
                for j in [j for j in kept if j < low]:
                    del kept[j]
            if not pending:
                return
    finally:
        src.close()
    if pending:
        raise VideoError(f"{path}: the stream ended before frame {pending[0][3]} (of {n} counted)")


@dataclass
class WindowResult:
    window: Window
    energy: float  # mean flow magnitude over the window's frames (pixels/frame at the model size)
    peak_s: float  # timestamp of the window's most moving frame
    rank: int = 0  # 1 = most motion
    text: str | None = None  # None when not described (outside --top)
    truncated: bool = False  # the description was cut at max_new_tokens

    def to_dict(self) -> dict:
        return {
            "window": self.window.index,
            "start_s": round(self.window.start_s, 3),
            "end_s": round(self.window.end_s, 3),
            "motion_energy": round(self.energy, 4),
            "peak_s": round(self.peak_s, 3),
            "rank": self.rank,
            "text": self.text,
            "truncated": self.truncated,
        }


def window_result(window: Window, motion: MotionResult) -> WindowResult:
    """A window's motion energy and the time of its most moving frame."""
    mags = [s["mean_magnitude"] for s in motion.stats]
    peak = int(np.argmax(mags))
    return WindowResult(window, float(np.mean(mags)), float(motion.stats[peak]["timestamp"]))


def rank(results: list[WindowResult]) -> list[WindowResult]:
    """Set each result's motion-energy rank (1 = most motion; ties by time); return them in time order."""
    for r, res in enumerate(sorted(results, key=lambda x: (-x.energy, x.window.start)), 1):
        res.rank = r
    return sorted(results, key=lambda x: x.window.start)
