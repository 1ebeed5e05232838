import json

import numpy as np
import pytest

from hawk_core.errors import VideoError
from hawk_core.media.video import (
    count_frames,
    find_videos,
    predecessor_indices,
    resize_frame,
    sample_clip,
    uniform_indices,
)
from tests.helpers import moving_square_frames, write_frame_folder, write_video


def test_uniform_indices_are_segment_centres():
    assert uniform_indices(320, 32).tolist() == [5 + 10 * i for i in range(32)]
    assert uniform_indices(8, 4).tolist() == [1, 3, 5, 7]
    # shorter than T: repeats, still T entries, never past the end
    idx = uniform_indices(5, 8)
    assert len(idx) == 8 and idx.max() == 4 and list(idx) == sorted(idx)


def test_predecessor_of_first_frame_is_its_successor():
    assert predecessor_indices(np.array([0, 3, 7]), 10).tolist() == [1, 2, 6]
    assert predecessor_indices(np.array([0]), 1).tolist() == [0]


def test_sample_real_clip_shapes_and_timestamps(fighting_video):
    clip = sample_clip(fighting_video, 32, 224)
    assert clip.frames.shape == (32, 224, 224, 3) and clip.frames.dtype == np.uint8
    assert clip.prev_frames.shape == clip.frames.shape
    assert clip.num_native_frames == count_frames(fighting_video) == 271
    assert clip.indices.tolist() == uniform_indices(271, 32).tolist()
    assert (clip.prev_indices == clip.indices - 1).all()
    np.testing.assert_allclose(clip.timestamps, clip.indices / clip.fps, atol=0.05)
    assert np.all(np.diff(clip.timestamps) > 0)


def test_sampled_frames_equal_direct_decode(accident_video):
    import cv2

    clip = sample_clip(accident_video, 8, 64)
    cap = cv2.VideoCapture(str(accident_video))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    for t, i in enumerate(clip.indices):
        expect = cv2.cvtColor(cv2.resize(frames[i], (64, 64), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(clip.frames[t], expect)


def test_misreported_frame_count_is_measured(dog_video):
    # this mp4's container claims one frame more than it decodes
    clip = sample_clip(dog_video, 16, 64)
    assert clip.num_native_frames == count_frames(dog_video)
    assert clip.indices.tolist() == uniform_indices(clip.num_native_frames, 16).tolist()


def test_short_video_repeats_frames(tmp_path):
    v = write_video(tmp_path / "short.mp4", moving_square_frames(5))
    clip = sample_clip(v, 8, 32)
    assert clip.num_frames == 8 and clip.num_unique == 5


def test_image_folder_as_video(tmp_path):
    frames = moving_square_frames(10)
    folder = write_frame_folder(tmp_path / "Test001", frames, ".tif")
    clip = sample_clip(folder, 5, 64, folder_fps=10.0)
    assert clip.num_native_frames == 10 and clip.fps == 10.0
    assert clip.indices.tolist() == [1, 3, 5, 7, 9]
    np.testing.assert_allclose(clip.timestamps, [0.1, 0.3, 0.5, 0.7, 0.9])
    np.testing.assert_array_equal(clip.frames[0][..., ::-1], frames[1])  # RGB of the BGR file
    assert (clip.meta["reader"], clip.meta["reader_why"]) == ("folder", "image files are read directly")  # no seeking in a folder


def test_find_videos_mixes_files_and_frame_folders(tmp_path, fighting_video):
    write_frame_folder(tmp_path / "ped" / "Test001", moving_square_frames(3))
    write_video(tmp_path / "a.mp4", moving_square_frames(3))
    (tmp_path / "notes.txt").write_text("x")
    found = [p.relative_to(tmp_path).as_posix() for p in find_videos(tmp_path)]
    assert found == ["a.mp4", "ped/Test001"]


@pytest.mark.parametrize("mode", ["squash", "crop", "pad"])
def test_resize_modes_give_square(mode):
    f = np.full((90, 160, 3), 200, np.uint8)
    out = resize_frame(f, 32, mode)
    assert out.shape == (32, 32, 3)
    if mode == "pad":
        assert out[0].max() == 0 and out[16, 16, 0] == 200


def _file(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing.mp4", "no such file"),
        (lambda p: _file(p / "empty.mp4", b""), "empty"),
        (lambda p: _file(p / "text.mp4", b"not a video"), "cannot be opened"),
        (lambda p: _file(p / "junk.mp4", bytes(range(256)) * 64), "cannot be opened"),
    ],
)
def test_bad_inputs_raise_video_error(tmp_path, make, message):
    with pytest.raises(VideoError, match=message):
        sample_clip(make(tmp_path), 4, 32)


def test_one_frame_video_rejected_for_motion(tmp_path):
    v = write_video(tmp_path / "one.mp4", moving_square_frames(1))
    with pytest.raises(VideoError, match="1 frame"):
        sample_clip(v, 4, 32, min_frames=2)


def test_truncated_video_is_an_error_or_measured(tmp_path, fighting_video):
    data = fighting_video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    try:
        clip = sample_clip(cut, 8, 32)
    except VideoError:
        return
    assert clip.num_native_frames == count_frames(cut)


def test_text_files_are_not_videos(tmp_path):
    """Issue 18, defect 3: FFmpeg's tty demuxer renders a .txt as video; the one opening path
    refuses it by codec, whatever the command."""
    from hawk_core.errors import VideoError
    from hawk_core.media.video import probe, sample_clip
    from tests.helpers import invoke

    notes = tmp_path / "notes.txt"
    notes.write_text("".join(f"line {i}: some notes about the clip\n" for i in range(200)))
    for call in (lambda: probe(notes), lambda: sample_clip(notes, 4, 32)):
        with pytest.raises(VideoError, match="not a video"):
            call()
    r = invoke("flow", notes, "--out", tmp_path / "out")
    lines = [l for l in r.output.strip().splitlines() if l.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and "notes.txt" in lines[0] and "not a video" in r.output
    assert not (tmp_path / "out").exists()
    # a real video still opens, and OpenCV names its codec
    video = write_video(tmp_path / "clip.mp4", moving_square_frames(4))
    assert probe(video)["reported_frames"] == 4


def test_a_folder_of_videos_is_named_as_such(tmp_path):
    """Issue 18, defect 9: `hawk describe FOLDER_OF_VIDEOS` says it holds videos and what to do."""
    from tests.helpers import invoke

    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        write_video(folder / name, moving_square_frames(4))
    r = invoke("describe", folder, "--model", "tiny")
    lines = [l for l in r.output.strip().splitlines() if l.strip()]
    assert r.exit_code == 2 and len(lines) == 1, r.output
    assert "folder of 2 videos" in r.output and "hawk predict" in r.output and "for v in" in r.output


def test_codec_choice_and_browser_playability(tmp_path):
    """Issue 18, defect 2: auto writes H.264 where OpenCV can, else mp4v with a warning; vp9
    (which OpenCV's wheels can write) is browser-playable; an unknown codec is bad input."""
    from hawk_core.media.video import BROWSER_FOURCCS, NOT_PLAYABLE, can_encode, pick_codec, video_codec, write_mp4

    frames = np.stack([f[..., ::-1] for f in moving_square_frames(4, 32)])
    codec, note = pick_codec("auto")
    assert (codec, note) == (("h264", None) if can_encode("h264") else ("mp4v", NOT_PLAYABLE))
    assert write_mp4(tmp_path / "mp4v.mp4", frames, 10, "mp4v") == "mp4v"
    assert video_codec(tmp_path / "mp4v.mp4") not in BROWSER_FOURCCS
    if can_encode("vp9"):
        write_mp4(tmp_path / "vp9.mp4", frames, 10, "vp9")
        assert video_codec(tmp_path / "vp9.mp4") in BROWSER_FOURCCS
    with pytest.raises(VideoError, match="unknown codec"):
        pick_codec("hevc")


def test_review_page_says_when_a_video_cannot_play(tmp_path):
    import httpx

    from hawk_core.media.video import write_mp4
    from hawk_core.review.log import ReviewLog
    from hawk_core.review.web import ReviewServer

    frames = np.stack(moving_square_frames(4, 32))
    write_mp4(tmp_path / "old.mp4", frames, 10, "mp4v")
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps([{"video": "old.mp4", "description": "d" * 50, "QA": []}]))
    with ReviewLog(ds) as log, ReviewServer(log) as srv:
        rec = httpx.get(srv.url + "api/record/0").json()
        assert rec["has_video"] and rec["playable"] is False and rec["video_codec"] == "fmp4"
        assert "cannot play the video" in httpx.get(srv.url).text

def _reported_count(monkeypatch, count: int) -> None:
    """Make every opened video's container claim ``count`` frames (the real reader, a wrong number)."""
    import hawk_core.media.video as video

    real = video.open_source

    def lying(path, folder_fps=25.0):
        src = real(path, folder_fps)
        src.reported_count = count
        return src

    monkeypatch.setattr(video, "open_source", lying)


@pytest.mark.parametrize("reported", [7, 9, 11, 13, 0])
def test_wrong_frame_count_of_a_folder_is_measured(tmp_path, monkeypatch, reported):
    frames = moving_square_frames(10)
    folder = write_frame_folder(tmp_path / "Test001", frames)
    _reported_count(monkeypatch, reported)
    clip = sample_clip(folder, 5, 64)
    assert clip.num_native_frames == 10
    assert clip.indices.tolist() == [1, 3, 5, 7, 9]  # not uniform_indices(7, 5) == [0, 2, 3, 4, 6]
    assert clip.prev_indices.tolist() == [0, 2, 4, 6, 8]
    for t, i in enumerate(clip.indices):
        np.testing.assert_array_equal(clip.frames[t][..., ::-1], frames[i])
        np.testing.assert_array_equal(clip.prev_frames[t][..., ::-1], frames[i - 1])


def test_under_reported_frame_count_of_an_mp4_is_measured(tmp_path, monkeypatch):
    v = write_video(tmp_path / "ten.mp4", moving_square_frames(10))
    direct = sample_clip(v, 5, 32)
    _reported_count(monkeypatch, 7)
    clip = sample_clip(v, 5, 32)
    assert clip.num_native_frames == 10 and clip.indices.tolist() == [1, 3, 5, 7, 9]
    np.testing.assert_array_equal(clip.frames, direct.frames)
    np.testing.assert_allclose(clip.timestamps, [0.1, 0.3, 0.5, 0.7, 0.9], atol=1e-6)


def test_consecutive_sampling_from_a_start_frame(tmp_path):
    frames = moving_square_frames(10)
    folder = write_frame_folder(tmp_path / "f", frames)
    clip = sample_clip(folder, 4, 64, sampling="consecutive", start_frame=3)
    assert clip.indices.tolist() == [3, 4, 5, 6] and clip.prev_indices.tolist() == [2, 3, 4, 5]
    assert sample_clip(folder, 4, 64, sampling="consecutive", start_frame=8).indices.tolist() == [6, 7, 8, 9]  # clamped
    first = sample_clip(folder, 3, 64, sampling="consecutive")
    assert first.indices.tolist() == [0, 1, 2] and first.prev_indices.tolist() == [1, 0, 1]
    np.testing.assert_array_equal(first.prev_frames[0][..., ::-1], frames[1])  # frame 0's flow partner is frame 1
    assert sample_clip(folder, 2, 64, with_prev=False).prev_frames is None


def test_natural_order_and_what_counts_as_a_video(tmp_path):
    from hawk_core.media.video import is_video_path, natural_key

    names = ["frame10.png", "Frame2.png", "frame1.png", "frame001b.png"]
    assert sorted(names, key=natural_key) == ["frame1.png", "frame001b.png", "Frame2.png", "frame10.png"]
    assert natural_key("A10b") == ["a", 10, "b"]
    folder = write_frame_folder(tmp_path / "frames", moving_square_frames(2), ".JPG")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    assert is_video_path(folder) and not is_video_path(tmp_path / "notes") and not is_video_path(tmp_path / "missing")
    assert is_video_path(write_video(tmp_path / "a.MP4", moving_square_frames(2)))
    assert not is_video_path(tmp_path / "notes" / "a.txt")
    with pytest.raises(VideoError, match="not a folder"):
        find_videos(tmp_path / "a.MP4")


def test_find_videos_recurses_in_natural_order(tmp_path):
    (tmp_path / "cam").mkdir()
    for name in ("b10.mp4", "b2.mp4"):
        write_video(tmp_path / "cam" / name, moving_square_frames(2))
    write_frame_folder(tmp_path / "ped" / "Test10", moving_square_frames(2))
    write_frame_folder(tmp_path / "ped" / "Test2", moving_square_frames(2))
    write_frame_folder(tmp_path / "ped" / "Test2" / "nested", moving_square_frames(2))  # inside a video: not another
    write_frame_folder(tmp_path, moving_square_frames(1))  # images at the root itself are not a video
    found = [p.relative_to(tmp_path).as_posix() for p in find_videos(tmp_path)]
    assert found == ["cam/b2.mp4", "cam/b10.mp4", "ped/Test2", "ped/Test10"]


def test_uniform_and_consecutive_indices_edges():
    from hawk_core.media.video import consecutive_indices

    assert uniform_indices(10, 1).tolist() == [5]
    assert uniform_indices(3, 7).tolist() == [0, 0, 1, 1, 1, 2, 2]  # floor((i + 0.5) * 3 / 7)
    assert uniform_indices(1, 3).tolist() == [0, 0, 0]
    for n, t in [(0, 4), (5, 0), (-1, 2)]:
        with pytest.raises(VideoError, match=f"cannot sample {t} frames from {n}"):
            uniform_indices(n, t)
    assert consecutive_indices(10, 4, 3).tolist() == [3, 4, 5, 6]
    assert consecutive_indices(10, 4, -2).tolist() == [0, 1, 2, 3]
    assert consecutive_indices(10, 4, 9).tolist() == [6, 7, 8, 9]
    assert consecutive_indices(3, 5, 2).tolist() == [0, 1, 2, 2, 2]  # shorter than t: the last frame repeats
    assert consecutive_indices(10, 4).dtype == np.int64
    assert predecessor_indices(np.array([0, 0, 5]), 2).tolist() == [1, 1, 4]


def test_resize_crop_and_pad_geometry():
    f = np.zeros((40, 80, 3), np.uint8)
    f[:, :20] = 50  # left quarter
    f[:, 20:60] = 200  # centre half
    f[:, 60:] = 100  # right quarter
    crop = resize_frame(f, 20, "crop")  # 40x80 -> 20x40, centre 20 columns: all centre
    assert crop.shape == (20, 20, 3) and (crop == 200).all()
    pad = resize_frame(f, 20, "pad")  # 40x80 -> 10x20 letterboxed: rows 5..14
    assert pad.shape == (20, 20, 3)
    assert (pad[:5] == 0).all() and (pad[15:] == 0).all() and (pad[5:15, 8:12] == 200).all()
    assert pad[10, 0, 0] == 50 and pad[10, 19, 0] == 100
    squash = resize_frame(f, 20, "squash")
    assert squash[10, 0, 0] == 50 and squash[10, 10, 0] == 200 and squash[10, 19, 0] == 100
    tall = np.full((80, 40, 3), 7, np.uint8)
    assert resize_frame(tall, 20, "crop").shape == (20, 20, 3) and (resize_frame(tall, 20, "pad")[:, :5] == 0).all()
    up = resize_frame(np.full((8, 8, 3), 9, np.uint8), 16, "crop")  # upscaling keeps the value
    assert up.shape == (16, 16, 3) and (up == 9).all()
    with pytest.raises(VideoError, match="unknown resize mode 'fit'; choose one of squash, crop, pad"):
        resize_frame(f, 20, "fit")


def test_to_model_rgb_accepts_gray_bgr_and_bgra():
    from hawk_core.media.video import to_model_rgb

    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    assert to_model_rgb(bgr, 16)[0, 0].tolist() == [0, 0, 255]
    bgra = np.concatenate([bgr, np.full((4, 4, 1), 9, np.uint8)], axis=-1)
    assert to_model_rgb(bgra, 16).shape == (16, 16, 3) and to_model_rgb(bgra, 16)[0, 0].tolist() == [0, 0, 255]
    gray = np.full((4, 4), 77, np.uint8)
    assert to_model_rgb(gray, 16)[3, 3].tolist() == [77, 77, 77]


def _wide_frames(n: int) -> list[np.ndarray]:
    """BGR frames 48 wide, 32 high: a white square moving right on a dark ramp."""
    out = []
    for i in range(n):
        f = np.tile(np.linspace(0, 60, 48, dtype=np.uint8)[None, :, None], (32, 1, 3))
        f[8:24, 4 + 4 * i : 20 + 4 * i] = 255
        out.append(f)
    return out


def test_write_mp4_probe_and_count(tmp_path):
    from hawk_core.media.video import probe, write_mp4

    rgb = np.stack([f[..., ::-1] for f in _wide_frames(6)])
    write_mp4(tmp_path / "o.mp4", rgb, 5.0)
    info = probe(tmp_path / "o.mp4")
    assert info == {"reported_frames": 6, "fps": 5.0, "width": 48, "height": 32}
    assert count_frames(tmp_path / "o.mp4") == 6
    clip = sample_clip(tmp_path / "o.mp4", 3, 32)
    assert clip.fps == 5.0 and clip.duration == pytest.approx(6 / 5.0) and clip.native_size == (48, 32)
    assert {k: clip.meta[k] for k in ("resize", "sampling", "size")} == {"resize": "squash", "sampling": "uniform", "size": 32}
    assert clip.source == str(tmp_path / "o.mp4")
    assert abs(int(clip.frames[0][16, 12, 0]) - 255) < 40  # the white square, RGB order kept through the file
    folder = write_frame_folder(tmp_path / "f", _wide_frames(4), ".JPG")
    assert probe(folder, folder_fps=12.5) == {"reported_frames": 4, "fps": 12.5, "width": 48, "height": 32}
    assert count_frames(folder) == 4
    fclip = sample_clip(folder, 2, 32)
    assert fclip.native_size == (48, 32) and fclip.fps == 25.0  # a folder's default frame rate
    np.testing.assert_allclose(fclip.timestamps, [1 / 25.0, 3 / 25.0])
    with pytest.raises(VideoError, match="OpenCV cannot write mp4 here"):
        write_mp4(tmp_path / "no" / "such" / "dir.mp4", rgb, 5.0)


def test_resize_interpolation_area_down_linear_up():
    import cv2

    rng = np.random.default_rng(5)
    f = rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_frame(f, 20), cv2.resize(f, (20, 20), interpolation=cv2.INTER_AREA))
    np.testing.assert_array_equal(resize_frame(f, 40), cv2.resize(f, (40, 40), interpolation=cv2.INTER_LINEAR))  # short side = size: not a downscale
    np.testing.assert_array_equal(resize_frame(f, 50), cv2.resize(f, (50, 50), interpolation=cv2.INTER_LINEAR))


def test_sample_clip_argument_errors(tmp_path):
    folder = write_frame_folder(tmp_path / "f", moving_square_frames(4))
    for kw, needle in [({"num_frames": 0}, "frames must be >= 1, got 0"), ({"size": 15}, "size must be >= 16 pixels, got 15"),
                       ({"resize": "fit"}, "unknown resize mode 'fit'; choose one of squash, crop, pad"),
                       ({"sampling": "random"}, "unknown sampling 'random'; choose one of uniform, consecutive")]:
        with pytest.raises(VideoError, match=f"^{needle}$"):
            sample_clip(folder, **{"num_frames": 2, "size": 16, **kw})
    assert sample_clip(folder, 1, 16).frames.shape == (1, 16, 16, 3)
    with pytest.raises(VideoError, match=r"has 4 frames; at least 5 are needed"):
        sample_clip(folder, 2, 16, min_frames=5)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.txt").write_text("x")
    with pytest.raises(VideoError, match="folder holds no image frames"):
        sample_clip(empty, 2, 16)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "001.png").write_bytes(b"not a png")
    with pytest.raises(VideoError, match=r"001\.png: cannot be read as an image"):
        sample_clip(bad, 2, 16)


def test_a_frame_that_fails_to_decode_is_an_error(tmp_path):
    folder = write_frame_folder(tmp_path / "f", moving_square_frames(6))
    (folder / "004.png").write_bytes(b"corrupt")  # frame 3: sampled (uniform 6 -> 2: [1, 4], prev [0, 3])
    with pytest.raises(VideoError, match=r"1 frame\(s\) could not be decoded \(corrupt data\)"):
        sample_clip(folder, 2, 16)
    assert sample_clip(folder, 2, 16, with_prev=False).indices.tolist() == [1, 4]  # frame 3 not needed


def test_an_implausible_container_fps_falls_back_to_folder_fps(tmp_path):
    from hawk_core.media.video import probe, write_mp4

    rgb = np.stack([f[..., ::-1] for f in _wide_frames(4)])
    write_mp4(tmp_path / "fast.mp4", rgb, 2000.0)  # >= 1000 fps: not believed
    assert probe(tmp_path / "fast.mp4")["fps"] == 0.0
    clip = sample_clip(tmp_path / "fast.mp4", 2, 32, folder_fps=12.0)
    assert clip.fps == 12.0 and clip.duration == pytest.approx(4 / 12.0)
    np.testing.assert_allclose(clip.timestamps, [0.0005, 0.0015])  # the stream's own timestamps still rule


def test_resize_mode_reaches_the_sampled_frames(tmp_path):
    folder = write_frame_folder(tmp_path / "wide", _wide_frames(3))  # 48 x 32
    pad = sample_clip(folder, 2, 24, resize="pad")  # 48x32 -> 24x16, rows 4..19
    assert (pad.frames[:, :4] == 0).all() and (pad.frames[:, 20:] == 0).all() and pad.frames[:, 4:20].max() > 0
    crop = sample_clip(folder, 2, 24, resize="crop")
    assert crop.frames[:, :4].max() > 0 and crop.meta["resize"] == "crop"


def test_a_stream_without_decodable_frames(tmp_path, monkeypatch):
    import hawk_core.media.video as video

    folder = write_frame_folder(tmp_path / "f", moving_square_frames(3))
    real = video.open_source

    def empty(path, folder_fps=25.0):
        src = real(path, folder_fps)
        src.reported_count = 0
        src.frames = lambda: iter(())
        return src

    monkeypatch.setattr(video, "open_source", empty)
    with pytest.raises(VideoError, match=r"f: no decodable frames \(corrupt file or unsupported codec\)$"):
        sample_clip(folder, 2, 16)


# ---- edges the 2026-12-02 mutation run found untested ----------------------------------------

from hawk_core.media import video as _video  # noqa: E402


def test_short_clip_rule_all_returns_every_frame_and_bad_rules_are_named():
    assert list(_video.uniform_indices(3, 8, "start", "all")) == [0, 1, 2]
    assert list(_video.uniform_indices(3, 8, "centre", "all")) == [0, 1, 2]
    assert len(_video.uniform_indices(3, 8, "start", "repeat")) == 8
    with pytest.raises(VideoError, match=r"^unknown short-clip rule 'x'; choose one of repeat, all$"):
        _video.uniform_indices(10, 4, "centre", "x")


def test_resize_modes_on_a_wide_textured_frame():
    import cv2

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (100, 200, 3), dtype=np.uint8)  # h 100, w 200
    want_crop = cv2.resize(frame, (100, 50), interpolation=cv2.INTER_AREA)[:, 25:75]
    assert np.array_equal(_video.resize_frame(frame, 50, "crop"), want_crop)
    assert np.array_equal(_video.resize_frame(frame, 50, "squash"), cv2.resize(frame, (50, 50), interpolation=cv2.INTER_AREA))
    thin = rng.integers(1, 256, (1, 100, 3), dtype=np.uint8)  # one row: padded to a 1-row band
    padded = _video.resize_frame(thin, 50, "pad")
    assert (padded.any(axis=(1, 2))).sum() == 1
    tall = rng.integers(0, 256, (150, 60, 3), dtype=np.uint8)  # 1/3 scale: area and linear differ
    want = np.zeros((50, 50, 3), np.uint8)
    want[:, 15:35] = cv2.resize(tall, (20, 50), interpolation=cv2.INTER_AREA)
    assert np.array_equal(_video.resize_frame(tall, 50, "pad"), want)


def test_to_model_rgb_reads_bgr_bgra_and_gray():
    bgr = np.zeros((8, 8, 3), np.uint8)
    bgr[..., 0] = 200  # blue
    assert _video.to_model_rgb(bgr, 8)[0, 0].tolist() == [0, 0, 200]
    bgra = np.concatenate([bgr, np.full((8, 8, 1), 7, np.uint8)], axis=2)
    assert _video.to_model_rgb(bgra, 8)[0, 0].tolist() == [0, 0, 200]
    assert _video.to_model_rgb(np.full((8, 8), 90, np.uint8), 8)[0, 0].tolist() == [90, 90, 90]


def test_pick_codec_messages_list_the_codecs(monkeypatch):
    with pytest.raises(VideoError, match=r"^unknown codec 'divx'; choose one of auto, h264, vp9, mp4v$"):
        _video.pick_codec("divx")
    monkeypatch.setattr(_video, "can_encode", lambda codec: False)
    with pytest.raises(VideoError, match=r"cannot encode vp9 into mp4; choose another --codec \(auto, h264, vp9, mp4v\)$"):
        _video.pick_codec("vp9")


def test_text_sniffing(tmp_path):
    cases = {"notes.mp4": ("plain notes\n\tindented\n".encode(), True),
             "cut.mp4": (("ok " * 1365 + "é").encode()[:4096], True),  # a character cut at the head's end
             "bad.mp4": (b"text \xff\xfe then more text", False),
             "nul.mp4": (b"abc\x00def", False)}
    for name, (data, want) in cases.items():
        (tmp_path / name).write_bytes(data)
        assert _video._looks_like_text(tmp_path / name) is want, name


def test_a_one_byte_file_is_not_called_empty(tmp_path):
    one = tmp_path / "one.mp4"
    one.write_bytes(b"x")
    with pytest.raises(VideoError) as e:
        _video.sample_clip(one, 4, 32)
    assert "file is empty" not in str(e.value)
    (tmp_path / "zero.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="file is empty"):
        _video.sample_clip(tmp_path / "zero.mp4", 4, 32)


def test_two_frames_are_enough_for_motion_and_one_is_named(tmp_path):
    two = write_video(tmp_path / "two.mp4", moving_square_frames(2, 32, 3))
    clip = _video.sample_clip(two, 4, 32, with_prev=True, min_frames=2)
    assert clip.num_native_frames == 2
    one = write_video(tmp_path / "one.mp4", moving_square_frames(1, 32, 3))
    with pytest.raises(VideoError, match=r"has 1 frame; at least 2 are needed for motion$"):
        _video.sample_clip(one, 4, 32, with_prev=True, min_frames=2)


@pytest.mark.parametrize("fps, want", [(1.0, 1.0), (1000.0, 25.0)])
def test_container_frame_rate_bounds(tmp_path, fps, want):
    """A rate in (0, 1000) is the video's; 1000 and above is not believed (the folder rate)."""
    import cv2

    v = write_video(tmp_path / "v.mp4", moving_square_frames(6, 32, 3), fps=fps)
    if abs(cv2.VideoCapture(str(v)).get(cv2.CAP_PROP_FPS) - fps) > 1e-6:
        pytest.skip(f"this OpenCV does not store {fps} fps in mp4")
    assert _video.sample_clip(v, 4, 32, folder_fps=25.0).fps == want


def test_a_raw_stream_opencv_names_no_codec_is_still_a_video(tmp_path):
    """OpenCV reports no FourCC for raw video (y4m): only text is refused, not every stream
    without a codec name."""
    import subprocess

    ffmpeg = pytest.importorskip("imageio_ffmpeg").get_ffmpeg_exe()
    frames = np.stack([f[..., ::-1] for f in moving_square_frames(10, 64, 3)])  # BGR
    y4m = tmp_path / "raw.y4m"
    subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", "64x64", "-r", "10",
                    "-i", "-", "-pix_fmt", "yuv420p", str(y4m)], input=frames.tobytes(), check=True)
    assert _video.video_codec(y4m) == ""
    clip = _video.sample_clip(y4m, 4, 32)
    assert clip.num_native_frames == 10 and clip.frames.shape == (4, 32, 32, 3)
