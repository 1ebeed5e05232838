"""The `hawk flow` pipeline: motion input of one video or a folder of videos, written to disk.

Per video, an output folder holds:

* ``motion.safetensors``: ``video`` and ``motion`` (T, S, S, 3) uint8 RGB, ``mask`` (T, S, S)
  float16, ``flow`` (T, S, S, 2) float16, ``indices`` / ``prev_indices`` (T,) int64 and
  ``timestamps`` (T,) float64; the motion config as JSON metadata. Readable by
  :func:`load_motion_file` (numpy) or ``safetensors.torch.load_file``.
* ``stats.json``: per-frame motion statistics (timestamp, mean / p99 magnitude, moving-pixel
  fraction, dominant direction) plus the video's metadata.
* ``preview.mp4``: video | motion | flow colour, side by side, one sampled frame per step.
* ``flow_sheet.png`` and ``motion_sheet.png``: contact sheets a person can glance at (the flow
  sheet ends with a colour-wheel key; with ``sheet_frames`` each flow has its frame beside it).

Each folder is written to a temporary sibling and renamed when complete, so an interrupted or
failed run leaves nothing half-written; a batch run skips videos whose folder is complete.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import HawkError, InputError, OutputWriteError
from ..io import atomic_path, check_output_path
from .motion import MotionResult, flow_to_color, load_clip_and_motion
from .motion_config import MotionConfig
from .video import SampledClip, cv2, find_videos, write_mp4

OUTPUT_FILES = ("motion.safetensors", "stats.json", "preview.mp4", "flow_sheet.png", "motion_sheet.png")


@dataclass(frozen=True)
class FlowJob:
    num_frames: int = 32
    size: int = 224
    resize: str = "squash"
    folder_fps: float = 25.0
    motion: MotionConfig = MotionConfig()
    codec: str = "auto"  # preview.mp4's codec (media.video.pick_codec)
    sheet_frames: bool = False  # each flow tile of flow_sheet.png with its frame on its left


BORDER_RGB = (96, 96, 96)


def _label(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.4) -> None:
    """White text with a black outline, readable on any background (in place)."""
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def contact_sheet(tiles: np.ndarray, labels: list[str] | None = None, cols: int = 8, border: int = 2) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> one grid image with ``border``-pixel grey lines between
    tiles, each tile optionally labelled."""
    n, h, w, _ = tiles.shape
    cols = min(cols, n)
    rows = -(-n // cols)
    sheet = np.empty((rows * h + (rows + 1) * border, cols * w + (cols + 1) * border, 3), dtype=np.uint8)
    sheet[:] = BORDER_RGB
    for i in range(n):
        r, c = divmod(i, cols)
        tile = np.ascontiguousarray(tiles[i])
        if labels and labels[i]:
            _label(tile, labels[i], (4, 14))
        y, x = border + r * (h + border), border + c * (w + border)
        sheet[y : y + h, x : x + w] = tile
    return sheet


def color_wheel_key(size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB: the colour of every flow direction and speed, rendered by
    :func:`flow_to_color` itself (hue = direction, brightness = speed, the rim = the sheet's
    scale), with the four directions named."""
    c = (size - 1) / 2
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    flow = np.stack([xs - c, ys - c], axis=-1)  # image coordinates: +y is down, as in optical flow
    radius = 0.42 * size
    key = flow_to_color(flow, radius)
    key[np.hypot(xs - c, ys - c) > radius] = BORDER_RGB
    for text, (x, y) in (("right", (size - 34, int(c) + 4)), ("left", (2, int(c) + 4)), ("up", (int(c) - 7, 11)), ("down", (int(c) - 13, size - 4))):
        _label(key, text, (x, y), 0.33)
    return key


def flow_sheet(clip: SampledClip, res: MotionResult, with_frames: bool = False) -> np.ndarray:
    """flow_sheet.png: the flow colour of every sampled frame, labelled with its time, then
    the colour-wheel key. ``with_frames``: each tile is the frame | its flow (4 pairs a row,
    so the sheet keeps its width), the key centred in a tile of the same size."""
    labels = [f"{s['timestamp']:.2f}s" for s in res.stats]
    flows = np.stack([flow_to_color(f, res.scale) for f in res.flow])  # (T, S, S, 3)
    s = clip.frames.shape[1]
    key = color_wheel_key(s)
    if not with_frames:
        return contact_sheet(np.concatenate([flows, key[None]]), [*labels, "key"])
    pairs = np.concatenate([clip.frames, flows], axis=2)  # (T, S, 2S, 3)
    key_tile = np.empty_like(pairs[0])
    key_tile[:] = BORDER_RGB
    key_tile[:, s // 2 : s // 2 + s] = key
    return contact_sheet(np.concatenate([pairs, key_tile[None]]), [*labels, "key"], cols=4)


def _write_png(path: Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise InputError(f"cannot write {path}")


PREVIEW_PANELS = ("video", "motion input", "flow")


def preview_frames(clip: SampledClip, res: MotionResult) -> np.ndarray:
    """The preview's frames: video | motion input | flow side by side, each panel named at
    its top and the frame's time burned in at the bottom left. (T, S, 3S, 3) uint8 RGB."""
    from .timefmt import format_clock

    colors = np.stack([flow_to_color(f, res.scale) for f in res.flow])
    panel = np.ascontiguousarray(np.concatenate([clip.frames, res.motion, colors], axis=2))  # (T, S, 3S, 3)
    s = clip.frames.shape[1]
    for t, frame in enumerate(panel):
        for k, name in enumerate(PREVIEW_PANELS):
            _label(frame, name, (k * s + 4, 14))
        _label(frame, format_clock(float(clip.timestamps[t])), (4, s - 6))
    return panel


def _write_preview(path: Path, clip: SampledClip, res: MotionResult, codec: str = "auto", fps: float = 8.0) -> None:
    write_mp4(path, preview_frames(clip, res), fps, codec)


def write_motion_outputs(out_dir: Path, clip: SampledClip, res: MotionResult, job: FlowJob) -> dict:
    """Write every output of one video into ``out_dir`` atomically; return the stats dict."""
    from safetensors.numpy import save_file

    summary = {
        "source": clip.source,
        "num_native_frames": clip.num_native_frames,
        "fps": clip.fps,
        "native_size": list(clip.native_size),
        "num_frames": clip.num_frames,
        "num_unique_frames": clip.num_unique,
        "size": job.size,
        "resize": job.resize,
        "reader": clip.meta.get("reader"),
        "motion": job.motion.to_dict(),
        "mask_scale": res.scale,
        "frames": res.stats,
    }
    with atomic_path(Path(out_dir), is_dir=True) as tmp:
        save_file(
            {
                "video": np.ascontiguousarray(clip.frames),
                "motion": np.ascontiguousarray(res.motion),
                "mask": res.mask.astype(np.float16),
                "flow": res.flow.astype(np.float16),
                "indices": clip.indices.astype(np.int64),
                "prev_indices": clip.prev_indices.astype(np.int64),
                "timestamps": clip.timestamps.astype(np.float64),
            },
            str(tmp / "motion.safetensors"),
            metadata={"hawk": "motion", "config": json.dumps(summary["motion"]), "source": clip.source},
        )
        (tmp / "stats.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        _write_preview(tmp / "preview.mp4", clip, res, job.codec)
        _write_png(tmp / "flow_sheet.png", flow_sheet(clip, res, job.sheet_frames))
        _write_png(tmp / "motion_sheet.png", contact_sheet(res.motion, [f"{s['timestamp']:.2f}s" for s in res.stats]))
    return summary


def load_motion_file(path: Path) -> dict[str, np.ndarray]:
    """Read a ``motion.safetensors`` written by :func:`write_motion_outputs`."""
    from safetensors.numpy import load_file

    return load_file(str(path))


def is_complete(out_dir: Path) -> bool:
    return all((Path(out_dir) / f).is_file() for f in OUTPUT_FILES)


def process_video(video: Path, out_dir: Path, job: FlowJob = FlowJob()) -> dict:
    """Motion input of one video -> ``out_dir`` (replaced atomically)."""
    check_output_path(out_dir, is_dir=True)  # before the work, not after it
    clip, res = load_clip_and_motion(video, job.num_frames, job.size, job.motion, resize=job.resize, folder_fps=job.folder_fps)
    return write_motion_outputs(out_dir, clip, res, job)


@dataclass
class BatchItem:
    video: Path
    out_dir: Path
    status: str  # "done" | "skipped" | "failed"
    error: str | None = None
    summary: dict | None = None


def _worker_init() -> None:
    cv2.setNumThreads(1)


def _run_one(video: Path, out_dir: Path, job: FlowJob) -> BatchItem:
    try:
        return BatchItem(video, out_dir, "done", summary=process_video(video, out_dir, job))
    except OutputWriteError:
        raise  # a full disk or a lost permission is not one bad video: the batch stops, its complete outputs kept
    except HawkError as e:
        return BatchItem(video, out_dir, "failed", error=str(e))


def plan_batch(root: Path, out_root: Path) -> list[tuple[Path, Path]]:
    """(video, output folder) pairs for every video under ``root``, names kept relative."""
    check_output_path(out_root, is_dir=True)
    videos = find_videos(root)
    if not videos:
        raise InputError(f"{root}: no videos found (files with a video extension, or folders of image frames)")
    pairs = []
    for v in videos:
        rel = v.relative_to(root)
        pairs.append((v, Path(out_root) / rel.with_suffix("") if v.is_file() else Path(out_root) / rel))
    return pairs


def run_batch(pairs: list[tuple[Path, Path]], job: FlowJob, workers: int = 1, overwrite: bool = False) -> Iterator[BatchItem]:
    """Process (video, out_dir) pairs, yielding one item per video as it finishes. Complete
    outputs are skipped unless ``overwrite``; one failing video never stops the batch, an output
    that cannot be written (:class:`OutputWriteError`: disk full, permission) does."""
    todo = []
    for video, out in pairs:
        if not overwrite and is_complete(out):
            yield BatchItem(video, out, "skipped")
        else:
            todo.append((video, out))
    if workers <= 1:
        for video, out in todo:
            yield _run_one(video, out, job)
        return
    # forkserver, not fork: forking a process whose threads have used OpenCV's video or
    # flow code (e.g. `hawk annotate` workers in the same process) can deadlock the child.
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, mp_context=ctx) as pool:
        futures = [pool.submit(_run_one, v, o, job) for v, o in todo]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
