"""Key clips of a video: one streaming pass samples frames (with their predecessors, for
flow), the motion statistics of :mod:`hawk_core.media.motion` give a motion-energy curve, and the
video is cut into clips either in fixed windows or at the strongest changes of that energy.

Energy is the mean optical-flow magnitude of each sampled frame (pixels/frame at the analysis
size). ``motion`` splitting filters it (a median of 3 samples), then places boundaries greedily at the largest jumps
(motion starting or stopping: a fight breaking out, a car stopping), at least
``min_clip_seconds`` apart, stopping when a jump is smaller than ``min_jump`` times the
video's mean energy; clips longer than ``max_clip_seconds`` are then cut evenly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError

CLIP_MODES = ("fixed", "motion")


@dataclass(frozen=True)
class ClipConfig:
    mode: str = "fixed"
    clip_seconds: float = 3.0  # fixed window length
    min_clip_seconds: float = 1.0  # motion mode: shortest clip
    max_clip_seconds: float = 10.0  # motion mode: longer clips are cut evenly
    max_clips: int = 12
    min_jump: float = 0.25  # motion mode: smallest energy jump (x mean energy) that cuts
    samples_per_second: float = 2.0
    min_samples: int = 16
    max_samples: int = 128
    size: int = 320  # analysis frame size (square, whole frame)
    frames_per_clip: int = 3  # key frames per clip given to the captioner

    def __post_init__(self) -> None:
        if self.mode not in CLIP_MODES:
            raise ConfigError(f"unknown clip mode {self.mode!r}; choose one of {', '.join(CLIP_MODES)}")
        for name in ("clip_seconds", "min_clip_seconds", "max_clip_seconds", "samples_per_second"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("max_clips", "min_samples", "max_samples", "frames_per_clip"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_samples > self.max_samples:
            raise ConfigError(f"min_samples ({self.min_samples}) > max_samples ({self.max_samples})")
        if self.size < 64:
            raise ConfigError(f"size must be >= 64 pixels, got {self.size}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ClipSpan:
    """One key clip: time span and the analysis samples inside it."""

    index: int
    start: float  # seconds
    end: float
    samples: list[int]  # indices into VideoAnalysis arrays
    energy: float  # mean motion energy of the clip

    def key_samples(self, k: int) -> list[int]:
        """Up to ``k`` samples spread evenly over the clip (centres of k equal parts)."""
        n = len(self.samples)
        if n <= k:
            return list(self.samples)
        return [self.samples[int((i + 0.5) * n / k)] for i in range(k)]


@dataclass
class VideoAnalysis:
    source: str
    frames: np.ndarray  # (K, S, S, 3) uint8 RGB
    flow: np.ndarray  # (K, S, S, 2) float32
    timestamps: np.ndarray  # (K,)
    energy: np.ndarray  # (K,) mean flow magnitude
    duration: float
    fps: float
    native_size: tuple[int, int]
    clips: list[ClipSpan]

    @property
    def mean_energy(self) -> float:
        return float(self.energy.mean()) if self.energy.size else 0.0


def analyse_video(path: Path | str, cfg: ClipConfig = ClipConfig(), *, folder_fps: float = 25.0) -> VideoAnalysis:
    """Sample, compute motion and split one video into key clips (raises VideoError)."""
    from ..media.motion import extract_motion
    from ..media.motion_config import MotionConfig
    from ..media.video import probe, sample_clip

    meta = probe(Path(path), folder_fps)
    fps = meta["fps"] or folder_fps
    est = meta["reported_frames"] / fps if fps > 0 and meta["reported_frames"] > 0 else 0.0
    k = int(np.clip(round(est * cfg.samples_per_second), cfg.min_samples, cfg.max_samples))
    clip = sample_clip(path, k, cfg.size, resize="squash", with_prev=True, folder_fps=folder_fps, min_frames=2)
    motion = extract_motion(clip, MotionConfig())
    energy = np.array([s["mean_magnitude"] for s in motion.stats], dtype=np.float64)
    duration = clip.duration if clip.duration > 0 else float(clip.timestamps[-1])
    ts = clip.timestamps.astype(np.float64)
    spans = split_fixed(ts, energy, duration, cfg) if cfg.mode == "fixed" else split_motion(ts, energy, duration, cfg)
    return VideoAnalysis(
        source=str(path),
        frames=clip.frames,
        flow=motion.flow,
        timestamps=ts,
        energy=energy,
        duration=duration,
        fps=clip.fps,
        native_size=clip.native_size,
        clips=spans,
    )


def _spans_from_bounds(bounds: list[float], ts: np.ndarray, energy: np.ndarray) -> list[ClipSpan]:
    """Clips between consecutive boundaries; samples go to the clip holding their time.
    Empty clips (no sample inside) are merged into their predecessor."""
    spans: list[ClipSpan] = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        last = b == bounds[-1]
        idx = [i for i, t in enumerate(ts) if a <= t < b or (last and t >= a)]
        if not idx and spans:
            spans[-1].end = b
            continue
        if not idx:
            continue
        spans.append(ClipSpan(len(spans), round(a, 3), round(b, 3), idx, 0.0))
    if not spans:  # every timestamp outside [0, duration]: one clip of everything
        spans = [ClipSpan(0, 0.0, round(float(bounds[-1]), 3), list(range(len(ts))), 0.0)]
    for s in spans:
        s.energy = round(float(energy[s.samples].mean()), 4)
    return spans


def split_fixed(ts: np.ndarray, energy: np.ndarray, duration: float, cfg: ClipConfig) -> list[ClipSpan]:
    """Windows of ``clip_seconds`` (fewer, longer ones when that would exceed ``max_clips``)."""
    duration = max(duration, float(ts[-1]) if len(ts) else 0.0, 1e-3)
    n = max(1, min(cfg.max_clips, math.ceil(duration / cfg.clip_seconds - 1e-9)))
    bounds = [duration * i / n for i in range(n + 1)]
    return _spans_from_bounds(bounds, ts, energy)


def split_motion(ts: np.ndarray, energy: np.ndarray, duration: float, cfg: ClipConfig) -> list[ClipSpan]:
    """Boundaries at the largest motion-energy jumps (see module doc)."""
    duration = max(duration, float(ts[-1]) if len(ts) else 0.0, 1e-3)
    smooth = energy.copy()  # median of 3: drops one-sample flickers, keeps steps sharp
    if len(energy) >= 3:
        smooth[1:-1] = np.median(np.stack([energy[:-2], energy[1:-1], energy[2:]]), axis=0)
    jumps = np.abs(np.diff(smooth))  # jump between sample i and i+1
    floor = cfg.min_jump * max(float(energy.mean()), 1e-6)
    cuts: list[float] = []
    for i in np.argsort(-jumps, kind="stable"):
        if jumps[i] < floor or len(cuts) >= cfg.max_clips - 1:
            break
        t = float((ts[i] + ts[i + 1]) / 2)
        if t < cfg.min_clip_seconds or duration - t < cfg.min_clip_seconds:
            continue
        if all(abs(t - c) >= cfg.min_clip_seconds for c in cuts):
            cuts.append(t)
    bounds = [0.0, *sorted(cuts), duration]
    # cut clips that are too long evenly, within the clip budget
    out = [bounds[0]]
    for a, b in zip(bounds[:-1], bounds[1:]):
        parts = max(1, math.ceil((b - a) / cfg.max_clip_seconds - 1e-9))
        out.extend(a + (b - a) * j / parts for j in range(1, parts + 1))
    if len(out) - 1 > cfg.max_clips:
        out = bounds
    return _spans_from_bounds(out, ts, energy)
