"""Keyframe seeking (hawk_core.media.seek): the frames must be the streaming path's, exactly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from hawk_core.media import seek
from hawk_core.media.video import cv2, sample_clip

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
# skateboarding_dog (1080p, VFR end) always streams: test_shared_vfr_clip_falls_back_to_streaming
SHARED_CLIPS = sorted(p for p in SHARED.glob("*.mp4") if p.stem != "skateboarding_dog") if SHARED.is_dir() else []


def _ffmpeg() -> str:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    return imageio_ffmpeg.get_ffmpeg_exe()


def _source_frames(n: int, w: int = 160, h: int = 120) -> np.ndarray:
    """``n`` distinct BGR frames: a moving pattern with the frame number drawn in, so that
    any off-by-one in the frame chosen shows as a different image."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        out[i, ..., 0] = (xx * 2 + i * 3) % 256
        out[i, ..., 1] = (yy * 3 + i * 5) % 256
        out[i, ..., 2] = ((xx + yy) + i * 7) % 256
        cv2.putText(out[i], str(i), (10, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
    return out


def _encode(path: Path, frames: np.ndarray, args: list[str], fps: float = 30.0) -> Path:
    h, w = frames.shape[1:3]
    cmd = [_ffmpeg(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}",
           "-r", str(fps), "-i", "-", *args, str(path)]
    subprocess.run(cmd, input=frames.tobytes(), check=True)
    return path


@pytest.fixture(scope="module")
def frames600() -> np.ndarray:
    return _source_frames(600)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, frames600) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("enc")
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    return {
        # short keyframe interval with B-frames (decode order != presentation order)
        "h264_g10_bframes": _encode(d / "g10.mp4", frames600, [*x264, "-preset", "veryfast", "-g", "10", "-keyint_min", "10", "-bf", "2"]),
        # long keyframe interval: seeking hardly helps
        "h264_g300": _encode(d / "g300.mp4", frames600, [*x264, "-g", "300", "-keyint_min", "300", "-sc_threshold", "0"]),
        # MPEG-4 part 2, what OpenCV writes, in an AVI
        "mpeg4_g25_avi": _encode(d / "g25.avi", frames600, ["-c:v", "mpeg4", "-g", "25", "-q:v", "5"]),
        # Matroska: frame count from the duration, an index of cues
        "h264_g15_mkv": _encode(d / "g15.mkv", frames600, [*x264, "-g", "15"]),
    }


def _assert_same(a, b) -> None:
    assert a.num_native_frames == b.num_native_frames
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.prev_indices, b.prev_indices)
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    assert np.array_equal(a.frames, b.frames), "sampled frames differ"
    assert np.array_equal(a.prev_frames, b.prev_frames), "predecessor frames differ"


@pytest.mark.parametrize("clip", SHARED_CLIPS, ids=lambda p: p.stem)
@pytest.mark.parametrize("t", [32, 7])
def test_shared_clips_seek_equals_stream(clip, t):
    stream = sample_clip(clip, t, 64, reader="stream")
    seeked = sample_clip(clip, t, 64, reader="seek")
    assert stream.meta["reader"] == "stream"
    _assert_same(stream, seeked)


def test_shared_vfr_clip_falls_back_to_streaming():
    clip = SHARED / "skateboarding_dog.mp4"
    if not clip.is_file():
        pytest.skip("shared clip absent")
    # its last frame's timestamp jumps by 5 frames and the container reports 422 frames for 421
    index = seek.probe_index(str(clip), 422)
    assert not index.trusted and "gaps" in index.reason
    assert sample_clip(clip, 4, 32, reader="seek", with_prev=False).meta["reader"] == "stream"


@pytest.mark.parametrize("name", ["h264_g10_bframes", "h264_g300", "mpeg4_g25_avi", "h264_g15_mkv"])
@pytest.mark.parametrize("t", [32, 5])
def test_reencoded_seek_equals_stream(encoded, name, t):
    path = encoded[name]
    stream = sample_clip(path, t, 64, reader="stream")
    seeked = sample_clip(path, t, 64, reader="seek")
    auto = sample_clip(path, t, 64)
    _assert_same(stream, seeked)
    _assert_same(stream, auto)
    if name != "h264_g15_mkv":  # mkv reports an estimated count; it may stream
        assert seeked.meta["reader"] == "seek", seeked.meta["reader_why"]


def test_auto_choice_follows_the_keyframe_interval(encoded):
    short = sample_clip(encoded["h264_g10_bframes"], 8, 32)
    assert short.meta["reader"] == "seek", short.meta["reader_why"]
    assert "keyframe every 10 frames" in short.meta["reader_why"]
    # 600 frames, keyframes at 0 and 300: 32 targets cost about as much as decoding all
    long = sample_clip(encoded["h264_g300"], 32, 32)
    assert long.meta["reader"] == "stream"
    assert "keyframe every 300 frames" in long.meta["reader_why"]


def test_probe_reads_keyframes_and_count(encoded):
    index = seek.probe_index(str(encoded["h264_g10_bframes"]), 600)
    assert index.trusted, index.reason
    assert index.num_packets == 600
    assert index.keyframes == tuple(range(0, 600, 10))
    assert not seek.probe_index(str(encoded["h264_g10_bframes"]), 601).trusted  # count mismatch


def test_variable_frame_rate_streams(tmp_path, frames600):
    # drop frames 100-199: timestamps jump, ordinal != time * fps after the gap
    path = _encode(tmp_path / "vfr.mp4", frames600,
                   ["-vf", "select='not(between(n,100,199))'", "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast", "-g", "10"])
    stream = sample_clip(path, 16, 32, reader="stream")
    seeked = sample_clip(path, 16, 32, reader="seek")
    assert seeked.meta["reader"] == "stream" and "variable frame rate" in seeked.meta["reader_why"]
    _assert_same(stream, seeked)


def test_plan_reads_reads_forward_when_cheaper():
    keys = (0, 100, 200)
    ops, cost = seek.plan_reads([5, 6, 150, 151, 290], keys)
    # 5: forward from 0 (6 decodes) beats a seek to keyframe 0 (6 + overhead)
    # 150: keyframe 100 is the landing point of a seek (<= 134): 51 + 4 < forward 144
    assert ops == [(5, False), (6, False), (150, True), (151, False), (290, True)]
    assert cost == 6 + 1 + (150 - 100 + 1 + seek.SEEK_OVERHEAD) + 1 + (290 - 200 + 1 + seek.SEEK_OVERHEAD)


def test_unreliable_seek_falls_back(encoded, monkeypatch):
    def broken(*a, **k):
        raise seek.SeekUnreliable("asked for frame 7, got frame 8")

    monkeypatch.setattr(seek, "read_by_seeking", broken)
    path = encoded["h264_g10_bframes"]
    clip = sample_clip(path, 8, 32, reader="seek")
    assert clip.meta["reader"] == "stream" and "gave up" in clip.meta["reader_why"]
    _assert_same(sample_clip(path, 8, 32, reader="stream"), clip)


def test_unknown_reader_is_refused(encoded):
    from hawk_core.errors import VideoError

    with pytest.raises(VideoError, match="unknown reader"):
        sample_clip(encoded["h264_g300"], 4, 32, reader="fast")


def test_reader_stream_is_honoured_and_consecutive_seeking_keeps_the_start(encoded):
    v = encoded["h264_g10_bframes"]  # auto seeks here (above)
    streamed = sample_clip(v, 8, 32, reader="stream")
    assert streamed.meta["reader"] == "stream"
    window = sample_clip(v, 8, 32, sampling="consecutive", start_frame=100)
    assert window.meta["reader"] == "seek", window.meta["reader_why"]
    assert list(window.indices) == list(range(100, 108))
    _assert_same(window, sample_clip(v, 8, 32, sampling="consecutive", start_frame=100, reader="stream"))
