"""A picture of a detection (`hawk detect --plot`): the anomaly score over time with the
detected intervals shaded, the threshold, optionally the ground truth, and a strip of key
frames under it. matplotlib's Agg canvas (no display, no global pyplot state)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError, DependencyError

if TYPE_CHECKING:  # pragma: no cover
    from .detect import Detection

KEY_FRAMES = 8


@dataclass
class KeyFrame:
    time: float  # seconds
    rgb: np.ndarray  # (S, S, 3) uint8


def key_frames(video: str | Path, n: int = KEY_FRAMES, size: int = 160) -> list[KeyFrame]:
    """``n`` frames spread uniformly over the video (segment centres), letterboxed to ``size``."""
    from ..media.video import sample_clip

    clip = sample_clip(video, n, size, resize="pad", with_prev=False)
    return [KeyFrame(float(t), f) for t, f in zip(clip.timestamps, clip.frames)]


def score_curve(detection: Detection) -> tuple[np.ndarray, np.ndarray]:
    """(times, scores) at every native frame and the video's end: the highest score of the
    windows covering each frame (the per-frame score `hawk score --detection` evaluates)."""
    n = max(1, detection.num_frames)
    score = np.full(n + 1, np.nan)  # (F + 1,): the last frame's value held to the video's end
    for w in detection.windows:
        a, b = max(0, w.start_frame), min(n, w.end_frame)
        score[a:b] = np.fmax(score[a:b], w.score)
    score[n] = score[n - 1]
    return np.arange(n + 1) / detection.fps, score


def plot_timeline(
    detection: Detection,
    path: str | Path,
    *,
    frames: Sequence[KeyFrame] = (),
    truth: Sequence[tuple[float, float]] | None = None,
    title: str | None = None,
    scorer: str | None = None,
) -> Path:
    """Write the timeline PNG to ``path`` (atomically) and return it."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"--plot wants a .png file (got {path})")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError:
        raise DependencyError("--plot needs matplotlib (pip install matplotlib)") from None
    from ..io import atomic_path

    fig = Figure(figsize=(12, 5.2 if frames else 3.8), dpi=110)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2 if frames else 1, 1, height_ratios=[3, 1.35] if frames else [1], hspace=0.42)
    ax = fig.add_subplot(grid[0])
    duration = detection.duration
    for s, e in truth or ():
        ax.axvspan(s, e, ymin=0.94, ymax=1.0, color="#2e7d32", alpha=0.9, lw=0)
    for ev in detection.events:
        ax.axvspan(ev.start, ev.end, color="#e53935", alpha=0.18, lw=0)
    t, sc = score_curve(detection)
    ax.step(t, sc, where="post", color="#1565c0", lw=2.0, label="score at t (max of its windows)")
    centres = [(w.start + w.end) / 2 for w in detection.windows]
    ax.plot(centres, [w.score for w in detection.windows], "o", color="#1565c0", ms=3.5, alpha=0.7, label="window score (centre)")
    ax.axhline(detection.threshold, color="#424242", ls="--", lw=1.2, label=f"threshold {detection.threshold:g}")
    for k in frames:
        ax.axvline(k.time, ymin=0, ymax=0.04, color="#757575", lw=1.5)
    ax.set_xlim(0, duration)
    ax.set_ylim(-0.02, 1.08)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("anomaly score")
    ax.grid(True, axis="both", alpha=0.25)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(color="#e53935", alpha=0.3, lw=0))
    labels.append("detected anomaly")
    if truth:
        handles.append(Patch(color="#2e7d32", lw=0))
        labels.append("ground truth (top band)")
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8.5, frameon=False)
    name = Path(detection.video).name
    head = title or f"{name}: {len(detection.events)} anomalous interval(s)"
    sub = f"{scorer} scorer, " if scorer else ""
    ax.set_title(f"{head}\n{sub}windows of {detection.window:g} s every {detection.stride:g} s, duration {duration:.1f} s",
                 fontsize=10, loc="left")
    if frames:
        strip = grid[1].subgridspec(1, len(frames), wspace=0.06)
        for i, k in enumerate(frames):
            fax = fig.add_subplot(strip[0, i])
            fax.imshow(k.rgb)
            fax.set_xticks([])
            fax.set_yticks([])
            inside = any(ev.start <= k.time < ev.end for ev in detection.events)
            for spine in fax.spines.values():
                spine.set_edgecolor("#e53935" if inside else "#bdbdbd")
                spine.set_linewidth(3 if inside else 1)
            fax.set_title(f"{k.time:.1f} s", fontsize=8.5, color="#e53935" if inside else "#424242")
    fig.subplots_adjust(left=0.06, right=0.80, top=0.88, bottom=0.05 if frames else 0.14)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
