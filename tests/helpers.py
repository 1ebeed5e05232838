"""Test helpers: synthetic videos written with OpenCV, CLI runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    from hawk_cli.main import app

    return runner.invoke(app, [str(a) for a in args], input=input)


def moving_square_frames(n: int = 12, size: int = 64, step: int = 3) -> list[np.ndarray]:
    """BGR frames of a white square moving right on a textured background."""
    rng = np.random.default_rng(0)
    bg = (rng.random((size, size, 3)) * 60).astype(np.uint8)
    frames = []
    for i in range(n):
        f = bg.copy()
        x = 5 + i * step
        f[20:36, x : x + 16] = 255
        frames.append(f)
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    import cv2

    h, w = frames[0].shape[:2]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert wr.isOpened()
    for f in frames:
        wr.write(f)
    wr.release()
    return path


def write_frame_folder(folder: Path, frames: list[np.ndarray], ext: str = ".png") -> Path:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i + 1:03d}{ext}"), f)
    return folder
