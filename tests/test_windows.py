"""Sliding windows over long videos: planning, one-pass sampling, motion ranking."""

from __future__ import annotations

import numpy as np
import pytest

from hawk_core.errors import ConfigError
from hawk_core.media.windows import iter_window_clips, plan_windows
from tests.helpers import moving_square_frames, write_video


def test_plan_windows_covers_the_video():
    spans = [(w.start, w.end) for w in plan_windows(100, 10.0, 4, 2)]
    assert spans == [(0, 40), (20, 60), (40, 80), (60, 100)]
    # A sliver of tail is absorbed by the last window; a real tail gets an end-aligned one.
    assert [(w.start, w.end) for w in plan_windows(271, 30.0, 3, 2)][-1] == (180, 271)
    assert [(w.start, w.end) for w in plan_windows(110, 10.0, 4, 4)][-1] == (70, 110)
    assert [(w.start, w.end) for w in plan_windows(30, 10.0, 4)] == [(0, 30)]
    assert plan_windows(100, 10.0, 4)[1].start_s == 2.0  # default stride: half a window
    with pytest.raises(ConfigError):
        plan_windows(100, 10.0, 0)
    with pytest.raises(ConfigError):
        plan_windows(100, 10.0, 4, -1)


def test_iter_window_clips_samples_within_each_window(tmp_path):
    frames = moving_square_frames(40, size=64, step=1)
    path = write_video(tmp_path / "v.mp4", frames, fps=10)
    windows = plan_windows(40, 10.0, 1.0, 1.0)
    got = list(iter_window_clips(path, windows, 4, 32, total_frames=40))
    assert [w.index for w, _ in got] == [0, 1, 2, 3]
    for w, clip in got:
        assert clip.frames.shape == (4, 32, 32, 3) and clip.prev_frames.shape == (4, 32, 32, 3)
        assert w.start <= clip.indices.min() and clip.indices.max() < w.end
        assert np.all(np.diff(clip.timestamps) > 0)
    assert got[0][1].prev_indices[0] == got[0][1].indices[0] - 1 or got[0][1].indices[0] == 0
