"""The motion modality M(X_v) of the HAWK paper (section 4.2, Eq. 3-4).

For each sampled frame t, Farneback optical flow is computed between native frames t-1 and
t (grayscale, at the model size, as the authors' release does), the flow magnitude becomes a
pixel mask, and the motion frame is ``X_m(t) = mask(t) * X_v(t)``.

Mask modes:

* ``soft`` (default, the paper): the magnitude normalised to [0, 1]. To be robust to
  outliers (a few pixels of spurious, huge flow at compression artefacts), the scale is the
  clip's ``soft_percentile``-th percentile of magnitude (99 by default) rather than its
  maximum, floored at ``soft_floor`` pixels/frame (1.0) so that a static clip's sensor
  noise is not blown up to full brightness; values above the scale clip to 1. One scale per
  clip keeps frames comparable: a frame with little motion stays dark.
* ``threshold`` (the authors' release): ``mask = magnitude > threshold`` (0.2 by default), a
  hard 0/1 mask.

Native frame 0 has no predecessor: see ``MotionConfig.first_frame`` for the two rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import VideoError
from .motion_config import FarnebackParams, MotionConfig
from .video import SampledClip, cv2, sample_clip

_DIRECTIONS = ("right", "up-right", "up", "up-left", "left", "down-left", "down", "down-right")


@dataclass
class MotionResult:
    """Motion input for one clip, aligned frame by frame with the sampled video frames."""

    motion: np.ndarray  # (T, S, S, 3) uint8 RGB: mask * frame
    mask: np.ndarray  # (T, S, S) float32 in [0, 1]
    flow: np.ndarray  # (T, S, S, 2) float32, pixels/frame (dx, dy)
    stats: list[dict]
    scale: float  # magnitude mapped to 1.0 by the soft mask (pixels/frame)


def farneback(prev_rgb: np.ndarray, next_rgb: np.ndarray, params: FarnebackParams = FarnebackParams()) -> np.ndarray:
    """Dense flow from ``prev_rgb`` to ``next_rgb`` (H, W, 3 uint8) -> (H, W, 2) float32."""
    p = cv2.cvtColor(prev_rgb, cv2.COLOR_RGB2GRAY)
    n = cv2.cvtColor(next_rgb, cv2.COLOR_RGB2GRAY)
    return cv2.calcOpticalFlowFarneback(
        p, n, None, params.pyr_scale, params.levels, params.winsize, params.iterations, params.poly_n, params.poly_sigma, params.flags
    )


def flow_magnitude(flow: np.ndarray) -> np.ndarray:
    """(..., 2) -> (...) Euclidean norm of the flow vectors."""
    return np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)


def motion_mask(magnitude: np.ndarray, cfg: MotionConfig) -> tuple[np.ndarray, float]:
    """(T, H, W) magnitudes -> ((T, H, W) mask in [0, 1], scale)."""
    if cfg.mask == "threshold":
        return (magnitude > cfg.threshold).astype(np.float32), float(cfg.threshold)
    scale = max(float(np.percentile(magnitude, cfg.soft_percentile)), cfg.soft_floor)
    return np.clip(magnitude / scale, 0.0, 1.0).astype(np.float32), scale


def apply_mask(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """X_m = mask * X_v: (T, H, W, 3) uint8, (T, H, W) -> (T, H, W, 3) uint8."""
    return np.rint(frames.astype(np.float32) * mask[..., None]).astype(np.uint8)


def direction_label(dx: float, dy: float) -> str:
    """Compass-like name of an image-space vector (y grows downwards)."""
    angle = math.degrees(math.atan2(-dy, dx)) % 360.0
    return _DIRECTIONS[int(((angle + 22.5) % 360) // 45)]


def frame_stats(flow: np.ndarray, threshold: float) -> dict:
    mag = flow_magnitude(flow)
    moving = mag > threshold
    frac = float(moving.mean())
    if moving.any():
        dx, dy = float(flow[..., 0][moving].mean()), float(flow[..., 1][moving].mean())
    else:
        dx = dy = 0.0
    strength = math.hypot(dx, dy)
    return {
        "mean_magnitude": round(float(mag.mean()), 4),
        "p99_magnitude": round(float(np.percentile(mag, 99)), 4),
        "moving_fraction": round(frac, 4),
        "direction_deg": round(math.degrees(math.atan2(-dy, dx)) % 360.0, 1) if strength > 1e-6 else None,
        "direction": direction_label(dx, dy) if strength > 1e-6 else "none",
        "coherence": round(strength / max(float(mag[moving].mean()), 1e-6), 4) if moving.any() else 0.0,
    }


def extract_motion(clip: SampledClip, cfg: MotionConfig = MotionConfig()) -> MotionResult:
    """M(X_v): flow between each sampled frame and its predecessor, mask, masked frames."""
    if clip.prev_frames is None:
        raise VideoError(f"{clip.source}: clip was sampled without predecessor frames; motion needs them")
    if clip.num_native_frames < 2:
        raise VideoError(f"{clip.source}: has 1 frame; at least 2 are needed for motion")
    # the (previous, current) pair of each sampled frame; `as_index_1` gives native frame 0
    # the pair of index 1 (0 -> 1), so its motion frame is frame 1 masked (the release's rule)
    prev, cur = clip.prev_frames, clip.frames
    masked = clip.indices.copy()  # native frame each motion frame masks
    if cfg.first_frame == "as_index_1":
        first = clip.indices == 0
        if first.any() and clip.num_native_frames > 1:
            prev, cur = prev.copy(), cur.copy()
            prev[first], cur[first] = clip.frames[first], clip.prev_frames[first]  # native 0, native 1
            masked[first] = 1
    flows = np.stack([farneback(p, f, cfg.flow) for p, f in zip(prev, cur)])  # (T, S, S, 2)
    mag = flow_magnitude(flows)  # (T, S, S)
    mask, scale = motion_mask(mag, cfg)
    stats = []
    for t in range(clip.num_frames):
        s = {"t": t, "index": int(clip.indices[t]), "prev_index": int(clip.prev_indices[t]), "masked_index": int(masked[t]),
             "timestamp": round(float(clip.timestamps[t]), 4)}
        s.update(frame_stats(flows[t], cfg.threshold))
        s["mask_mean"] = round(float(mask[t].mean()), 4)
        stats.append(s)
    if cfg.input == "flow":
        motion = flow_images(flows, mag, cfg)
    else:
        motion = apply_mask(cur, mask)
    return MotionResult(motion=motion, mask=mask, flow=flows.astype(np.float32), stats=stats, scale=scale)


def flow_images(flows: np.ndarray, magnitude: np.ndarray, cfg: MotionConfig) -> np.ndarray:
    """(T, S, S, 2) flow -> (T, S, S, 3) uint8 colour-wheel images with one brightness scale
    for the whole clip (the soft mask's: the clip's ``soft_percentile``-th percentile of
    magnitude, floored at ``soft_floor``), so a frame with little motion stays dark."""
    scale = max(float(np.percentile(magnitude, cfg.soft_percentile)), cfg.soft_floor)
    return np.stack([flow_to_color(f, scale) for f in flows])


def load_clip_and_motion(
    path: Path | str,
    num_frames: int = 32,
    size: int = 224,
    cfg: MotionConfig = MotionConfig(),
    *,
    resize: str = "squash",
    folder_fps: float = 25.0,
) -> tuple[SampledClip, MotionResult]:
    """Sample a video and compute its motion input in one streaming pass."""
    clip = sample_clip(path, num_frames, size, resize=resize, with_prev=True, folder_fps=folder_fps, min_frames=2)
    return clip, extract_motion(clip, cfg)


def flow_to_color(flow: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Colour-wheel rendering of (H, W, 2) flow -> (H, W, 3) uint8 RGB: hue = direction,
    brightness = magnitude / scale (scale defaults to the frame's 99th percentile)."""
    mag = flow_magnitude(flow)
    ang = np.arctan2(-flow[..., 1], flow[..., 0]) % (2 * np.pi)
    scale = scale or max(float(np.percentile(mag, 99)), 1e-6)
    hsv = np.zeros((*flow.shape[:2], 3), dtype=np.uint8)
    hsv[..., 0] = (ang * 90 / np.pi).astype(np.uint8)  # OpenCV hue is 0..179
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(mag / scale * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
