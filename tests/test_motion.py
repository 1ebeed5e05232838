import numpy as np
import pytest

from hawk_core.errors import ConfigError
from hawk_core.media.motion import (
    apply_mask,
    direction_label,
    extract_motion,
    flow_magnitude,
    flow_to_color,
    frame_stats,
    load_clip_and_motion,
    motion_mask,
)
from hawk_core.media.motion_config import FarnebackParams, MotionConfig
from hawk_core.media.video import cv2, sample_clip
from tests.helpers import moving_square_frames, write_frame_folder, write_video


def test_flow_equals_direct_cv2_call(accident_video):
    params = FarnebackParams(winsize=15, levels=2)
    clip, res = load_clip_and_motion(accident_video, 6, 96, MotionConfig(flow=params))
    for t in range(6):
        g0 = cv2.cvtColor(clip.prev_frames[t], cv2.COLOR_RGB2GRAY)
        g1 = cv2.cvtColor(clip.frames[t], cv2.COLOR_RGB2GRAY)
        ref = cv2.calcOpticalFlowFarneback(g0, g1, None, 0.5, 2, 15, 3, 5, 1.2, 0)
        np.testing.assert_array_equal(res.flow[t], ref)


def test_soft_mask_in_unit_range_and_motion_is_masked_frame(fighting_video):
    clip, res = load_clip_and_motion(fighting_video, 8, 112)
    assert res.motion.shape == clip.frames.shape and res.motion.dtype == np.uint8
    assert res.mask.shape == (8, 112, 112) and res.mask.dtype == np.float32
    assert res.mask.min() >= 0.0 and res.mask.max() <= 1.0
    assert res.mask.max() == 1.0  # the percentile scale saturates the strongest motion
    expect = np.rint(clip.frames.astype(np.float32) * res.mask[..., None]).astype(np.uint8)
    np.testing.assert_array_equal(res.motion, expect)
    mag = flow_magnitude(res.flow)
    assert res.scale == pytest.approx(max(float(np.percentile(mag, 99)), 1.0))


def test_threshold_mode_is_the_release_rule(fighting_video):
    clip, res = load_clip_and_motion(fighting_video, 4, 64, MotionConfig(mask="threshold", threshold=0.2))
    mag = flow_magnitude(res.flow)
    np.testing.assert_array_equal(res.mask, (mag > 0.2).astype(np.float32))
    assert set(np.unique(res.mask)) <= {0.0, 1.0}
    np.testing.assert_array_equal(res.motion, np.where(res.mask[..., None] > 0, clip.frames, 0))


def test_soft_floor_keeps_static_video_dark(tmp_path):
    frame = moving_square_frames(1)[0]
    v = write_video(tmp_path / "static.mp4", [frame] * 6)
    _, res = load_clip_and_motion(v, 4, 64)
    assert res.mask.max() < 0.5


def test_stats_find_rightward_motion(tmp_path):
    v = write_video(tmp_path / "sq.mp4", moving_square_frames(12, 64, 3))
    clip, res = load_clip_and_motion(v, 4, 64, MotionConfig(mask="threshold", threshold=0.5))
    assert len(res.stats) == 4
    for s, i in zip(res.stats, clip.indices):
        assert s["index"] == i and s["moving_fraction"] > 0
        assert s["direction"] == "right"
        assert set(s) >= {"timestamp", "mean_magnitude", "moving_fraction", "direction_deg"}


def test_direction_labels_use_image_coordinates():
    assert direction_label(1, 0) == "right"
    assert direction_label(0, -1) == "up"  # y grows downwards in images
    assert direction_label(-1, 1) == "down-left"


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="mask"):
        MotionConfig(mask="hard")
    with pytest.raises(ConfigError, match="pyr_scale"):
        FarnebackParams(pyr_scale=1.5)
    assert MotionConfig(flow={"winsize": 7}).flow.winsize == 7


def test_motion_mask_threshold_and_soft():
    mag = np.array([[[0.0, 0.1, 0.3, 5.0]]], dtype=np.float32)
    m, _ = motion_mask(mag, MotionConfig(mask="threshold"))
    assert m.tolist() == [[[0, 0, 1, 1]]]
    m, scale = motion_mask(mag, MotionConfig(soft_percentile=100, soft_floor=1.0))
    assert scale == 5.0 and m[0, 0, 3] == 1.0 and m[0, 0, 2] == pytest.approx(0.06)


def test_extract_motion_requires_predecessors(fighting_video):
    clip = sample_clip(fighting_video, 4, 32, with_prev=False)
    with pytest.raises(Exception, match="predecessor"):
        extract_motion(clip)


def test_flow_input_keeps_the_direction(tmp_path):
    """input='flow': the motion frames are the flow's colour wheel (one scale per clip), so a
    square moving right and the same square moving left give different hues, where the
    magnitude mask gives the same picture for both."""
    right = moving_square_frames(12, 64, 3)
    left = right[::-1]
    cfg = MotionConfig(input="flow")
    _, r = load_clip_and_motion(write_video(tmp_path / "r.mp4", right), 4, 64, cfg)
    _, lft = load_clip_and_motion(write_video(tmp_path / "l.mp4", left), 4, 64, cfg)
    assert r.motion.shape == (4, 64, 64, 3) and r.motion.dtype == np.uint8
    moving = r.mask[1] > 0.5
    hue = lambda img: cv2.cvtColor(img, cv2.COLOR_RGB2HSV)[..., 0].astype(int)  # noqa: E731
    h_r, h_l = hue(r.motion[1])[moving], hue(lft.motion[1])[lft.mask[1] > 0.5]
    # OpenCV hue is 0..179 for 0..360 degrees: rightward ~0, leftward ~90
    assert np.median(h_r) < 20 or np.median(h_r) > 160
    assert 70 < np.median(h_l) < 110
    # static pixels stay black, as the masked frames do
    assert r.motion[1][r.mask[1] < 0.02].max() <= 6
    with pytest.raises(ConfigError, match="motion input"):
        MotionConfig(input="frames")


def test_flow_sheet_key_borders_and_preview_labels():
    """Issue 18, pictures: the colour-wheel key is drawn by flow_to_color itself (so it cannot
    disagree with the tiles), tiles have borders, preview panels are named and timed."""
    from hawk_core.media.flow import BORDER_RGB, PREVIEW_PANELS, color_wheel_key, contact_sheet, preview_frames
    from hawk_core.media.motion import flow_to_color

    key = color_wheel_key(96)
    c = 47.5
    for (dx, dy), (x, y) in {(1, 0): (80, 48), (0, -1): (48, 25), (-1, 0): (20, 48), (0, 1): (48, 70)}.items():
        import cv2

        want = cv2.cvtColor(flow_to_color(np.array([[[dx, dy]]], np.float32), 1.0), cv2.COLOR_RGB2HSV)[0, 0, 0]
        got = cv2.cvtColor(key[y : y + 1, x : x + 1], cv2.COLOR_RGB2HSV)[0, 0, 0]
        assert min(abs(int(got) - int(want)), 180 - abs(int(got) - int(want))) <= 4, ((dx, dy), got, want)  # same hue
    assert tuple(key[0, 0]) == BORDER_RGB  # outside the wheel
    tiles = np.full((3, 10, 10, 3), 200, np.uint8)
    sheet = contact_sheet(tiles, cols=2, border=2)
    assert sheet.shape == (2 * 10 + 3 * 2, 2 * 10 + 3 * 2, 3)
    assert tuple(sheet[0, 5]) == BORDER_RGB and tuple(sheet[12, 12]) == BORDER_RGB and tuple(sheet[5, 5]) == (200, 200, 200)
    assert PREVIEW_PANELS == ("video", "motion input", "flow")


def test_preview_frames_are_named_and_timed(tmp_path):
    from hawk_core.media.flow import preview_frames
    from hawk_core.media.motion import load_clip_and_motion
    from tests.helpers import moving_square_frames, write_video

    video = write_video(tmp_path / "v.mp4", moving_square_frames(8, 64))
    clip, res = load_clip_and_motion(video, 4, 64, MotionConfig())
    frames = preview_frames(clip, res)
    assert frames.shape == (4, 64, 192, 3)
    raw = np.concatenate([clip.frames, res.motion], axis=2)
    for k in range(2):  # panel names along the top of video and motion input
        assert (frames[0, :16, k * 64 : k * 64 + 40] != raw[0, :16, k * 64 : k * 64 + 40]).any()
    assert (frames[0, 48:, :40] != raw[0, 48:, :40]).any()  # the time, bottom left
    assert (frames[0, 24:40, 20:44] == raw[0, 24:40, 20:44]).all()  # the picture itself untouched

def test_threshold_mask_is_strictly_greater_at_the_boundary():
    # magnitudes exactly representable in float32: 0.5 at a threshold of 0.5 is not moving
    mag = np.array([[[0.0, 0.25, 0.5, 0.5000001, 2.0]]], dtype=np.float32)
    m, scale = motion_mask(mag, MotionConfig(mask="threshold", threshold=0.5))
    assert m.tolist() == [[[0.0, 0.0, 0.0, 1.0, 1.0]]] and m.dtype == np.float32 and scale == 0.5
    # threshold 0: static pixels (magnitude exactly 0) stay masked out, any motion passes
    m, _ = motion_mask(np.array([[[0.0, 0.0, 1e-6]]], dtype=np.float32), MotionConfig(mask="threshold", threshold=0.0))
    assert m.tolist() == [[[0.0, 0.0, 1.0]]]


def test_frame_stats_count_moving_pixels_strictly_above_the_threshold():
    flow = np.zeros((2, 4, 2), dtype=np.float32)  # 8 pixels
    flow[0, 0] = (0.5, 0.0)  # exactly at the threshold: not moving
    flow[0, 1] = (0.0, -3.0)  # up, 3 px
    flow[1, 2] = (0.0, -1.0)  # up, 1 px
    s = frame_stats(flow, 0.5)
    assert s["moving_fraction"] == 0.25
    assert s["direction"] == "up" and s["direction_deg"] == 90.0
    assert s["mean_magnitude"] == pytest.approx((0.5 + 3 + 1) / 8, abs=1e-4)
    assert s["coherence"] == pytest.approx(1.0)  # both moving pixels point the same way
    still = frame_stats(np.zeros((3, 3, 2), dtype=np.float32), 0.0)
    assert still["moving_fraction"] == 0.0 and still["direction"] == "none" and still["direction_deg"] is None and still["coherence"] == 0.0


def test_soft_mask_scale_is_the_percentile_floored():
    mag = np.linspace(0.0, 4.0, 101, dtype=np.float32).reshape(1, 1, 101)  # percentile p is p/25
    m, scale = motion_mask(mag, MotionConfig(soft_percentile=50, soft_floor=1.0))
    assert scale == pytest.approx(2.0)
    assert m[0, 0, 25] == pytest.approx(0.5) and m[0, 0, 50] == pytest.approx(1.0) and m[0, 0, 100] == 1.0  # clipped
    m, scale = motion_mask(mag * 0.1, MotionConfig(soft_percentile=50, soft_floor=1.0))
    assert scale == 1.0 and m.max() == pytest.approx(0.4)  # below the floor: a static clip stays dark


def test_apply_mask_rounds_mask_times_frame():
    frames = np.array([[[[200, 101, 3]]]], dtype=np.uint8)
    out = apply_mask(frames, np.array([[[0.5]]], dtype=np.float32))
    assert out.tolist() == [[[[100, 50, 2]]]] and out.dtype == np.uint8  # rint: 50.5 -> 50, 1.5 -> 2


def test_threshold_zero_masks_out_exactly_static_pixels(tmp_path):
    # identical lossless frames: Farneback's flow is exactly 0 on part of the frame (and
    # a few hundredths of a pixel elsewhere); with threshold 0 exactly those pixels stay black
    frame = moving_square_frames(1)[0]
    folder = write_frame_folder(tmp_path / "static", [frame] * 6)
    _, res = load_clip_and_motion(folder, 4, 64, MotionConfig(mask="threshold", threshold=0.0))
    mag = flow_magnitude(res.flow)
    still = mag == 0
    assert still.any() and not still.all()
    np.testing.assert_array_equal(res.mask, (~still).astype(np.float32))
    assert (res.motion[still] == 0).all()


def test_flow_to_color_hue_is_direction_and_brightness_is_magnitude():
    flow = np.array([[[2.0, 0.0], [0.0, -1.0], [-4.0, 0.0], [0.0, 8.0]]], dtype=np.float32)  # right, up, left, down
    rgb = flow_to_color(flow, scale=4.0)
    # OpenCV hue is degrees / 2; value is magnitude / scale, clipped
    hsv = np.array([[[0, 255, 127], [45, 255, 63], [90, 255, 255], [135, 255, 255]]], dtype=np.uint8)
    np.testing.assert_array_equal(rgb, cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))
    assert rgb.shape == (1, 4, 3) and rgb.dtype == np.uint8
    # default scale: the 99th percentile of the magnitudes
    mags = np.linspace(0, 10, 101, dtype=np.float32)
    f = np.stack([mags, np.zeros_like(mags)], axis=-1)[None]  # (1, 101, 2), all rightwards
    out = cv2.cvtColor(flow_to_color(f), cv2.COLOR_RGB2HSV)
    p99 = float(np.percentile(mags, 99))
    np.testing.assert_array_equal(out[0, :, 2], np.clip(mags / p99 * 255, 0, 255).astype(np.uint8))
    small = cv2.cvtColor(flow_to_color(f * 0.05), cv2.COLOR_RGB2HSV)  # p99 below 1 px/frame is still the scale
    np.testing.assert_array_equal(small[0, :, 2], np.clip(mags * 0.05 / (p99 * 0.05) * 255, 0, 255).astype(np.uint8))
    assert flow_to_color(np.zeros((2, 2, 2), np.float32)).max() == 0  # no motion: black, no division by zero


def test_motion_config_rejects_each_bad_value_by_name():
    for kw, needle in [({"threshold": -0.1}, "threshold must be >= 0, got -0.1"),
                       ({"soft_percentile": 0}, r"soft_percentile must be in \(0, 100\], got 0"),
                       ({"soft_percentile": 100.5}, r"soft_percentile must be in \(0, 100\], got 100.5"),
                       ({"soft_floor": 0}, "soft_floor must be > 0, got 0"),
                       ({"mask": "hard"}, "unknown mask mode 'hard'; choose one of soft, threshold"),
                       ({"input": "depth"}, "unknown motion input 'depth'; choose one of mask, flow"),
                       ({"first_frame": "skip"}, "unknown first_frame rule 'skip'; choose one of reverse_pair, as_index_1")]:
        with pytest.raises(ConfigError, match=f"^{needle}$"):
            MotionConfig(**kw)
    for kw, needle in [({"pyr_scale": 0}, r"pyr_scale must be in \(0, 1\), got 0 \(--pyr-scale\)"), ({"pyr_scale": 1}, r"pyr_scale must be in \(0, 1\), got 1 \(--pyr-scale\)"),
                       ({"levels": 0}, r"levels must be >= 1, got 0 \(--levels\)"), ({"winsize": 0}, r"winsize must be >= 1, got 0 \(--winsize\)"),
                       ({"iterations": 0}, r"iterations must be >= 1, got 0 \(--iterations\)"), ({"poly_n": 0}, r"poly_n must be >= 1, got 0 \(--poly-n\)"),
                       ({"poly_sigma": 0}, r"poly_sigma must be > 0, got 0 \(--poly-sigma\)")]:
        with pytest.raises(ConfigError, match=f"^{needle}$"):
            FarnebackParams(**kw)
    # the boundaries themselves are accepted
    MotionConfig(threshold=0.0, soft_percentile=100, soft_floor=1e-6)
    assert MotionConfig(soft_percentile=0.5).soft_percentile == 0.5  # any percentile above 0
    FarnebackParams(levels=1, winsize=1, iterations=1, poly_n=1, pyr_scale=0.01)
    cfg = MotionConfig(mask="threshold", threshold=0.3, flow={"winsize": 7, "levels": 2})
    want = {"mask": "threshold", "threshold": 0.3, "soft_percentile": 99.0, "soft_floor": 1.0,
            "flow": {"pyr_scale": 0.5, "levels": 2, "winsize": 7, "iterations": 3, "poly_n": 5, "poly_sigma": 1.2, "flags": 0}}
    assert {k: v for k, v in cfg.to_dict().items() if k in want} == want
    assert MotionConfig(**cfg.to_dict()) == cfg  # a saved config rebuilds


def test_extract_motion_stats_and_errors(tmp_path):
    frames = moving_square_frames(12, 64, 3)
    folder = write_frame_folder(tmp_path / "sq", frames)
    clip, res = load_clip_and_motion(folder, 4, 64, MotionConfig(mask="threshold", threshold=0.5), folder_fps=3.0)
    assert clip.fps == 3.0 and clip.meta["resize"] == "squash"
    assert [s["t"] for s in res.stats] == [0, 1, 2, 3]
    assert [s["index"] for s in res.stats] == clip.indices.tolist() == [1, 4, 7, 10]
    assert [s["prev_index"] for s in res.stats] == [0, 3, 6, 9]
    assert [s["timestamp"] for s in res.stats] == [round(i / 3.0, 4) for i in (1, 4, 7, 10)]
    for t, s in enumerate(res.stats):
        assert s["mask_mean"] == round(float(res.mask[t].mean()), 4)
        fs = frame_stats(res.flow[t], 0.5)
        assert {k: s[k] for k in fs} == fs
    assert res.flow.dtype == np.float32 and res.scale == 0.5
    padded, _ = load_clip_and_motion(folder, 2, 32, resize="pad")
    assert padded.meta["resize"] == "pad" and padded.frames.shape == (2, 32, 32, 3)
    assert padded.fps == 25.0  # a folder's default frame rate
    two = write_frame_folder(tmp_path / "two", frames[:2])  # the fewest frames motion can use
    c2, r2 = load_clip_and_motion(two, 3, 32)
    assert c2.num_native_frames == 2 and r2.mask.shape == (3, 32, 32)
    one = write_frame_folder(tmp_path / "one", frames[:1])
    clip1 = sample_clip(one, 2, 32)
    with pytest.raises(Exception, match="has 1 frame; at least 2 are needed for motion"):
        extract_motion(clip1)
    with pytest.raises(Exception, match="has 1 frame; at least 2 are needed for motion"):
        load_clip_and_motion(one, 2, 32)


def test_direction_label_sectors_at_every_degree():
    import math

    names = ["right", "up-right", "up", "up-left", "left", "down-left", "down", "down-right"]
    for deg in range(-180, 360):
        a = math.radians(deg)
        want = names[math.floor(deg / 45 + 0.5) % 8]  # nearest of the 8 compass directions
        assert direction_label(math.cos(a) * 2.5, -math.sin(a) * 2.5) == want, deg


def test_frame_stats_values_are_rounded_as_documented():
    import math

    flow = np.array([[[1.0, -2.0], [0.0, 0.0], [0.0, 0.0]]], dtype=np.float32)  # one pixel moves up-right
    mag = math.sqrt(5.0)
    assert frame_stats(flow, 0.5) == {
        "mean_magnitude": round(mag / 3, 4),
        "p99_magnitude": round(float(np.percentile(np.array([mag, 0.0, 0.0], dtype=np.float32), 99)), 4),
        "moving_fraction": round(1 / 3, 4),
        "direction_deg": round(math.degrees(math.atan2(2.0, 1.0)), 1),
        "direction": "up-right",
        "coherence": 1.0,
    }
    # slow but coherent motion (0.5 px/frame) still has a direction and full coherence
    slow = np.zeros((2, 2, 2), dtype=np.float32)
    slow[..., 0] = 0.5
    s = frame_stats(slow, 0.1)
    assert s["direction"] == "right" and s["direction_deg"] == 0.0 and s["coherence"] == 1.0 and s["moving_fraction"] == 1.0
    # two unit motions at right angles: net strength sqrt(2)/2 of the mean magnitude
    diag = np.array([[[1.0, 0.0], [0.0, -1.0]]], dtype=np.float32)
    s = frame_stats(diag, 0.5)
    assert s["coherence"] == round(math.sqrt(0.5), 4) and s["direction_deg"] == 45.0 and s["direction"] == "up-right"
    # opposite motions cancel: moving, but no net direction
    both = np.array([[[2.0, 0.0], [-2.0, 0.0]]], dtype=np.float32)
    s = frame_stats(both, 0.5)
    assert s["moving_fraction"] == 1.0 and s["direction"] == "none" and s["direction_deg"] is None and s["coherence"] == 0.0


def test_direction_degrees_below_the_axis_and_the_strength_floor():
    down = np.zeros((1, 2, 2), dtype=np.float32)
    down[..., 1] = 2.0  # +y is down in images
    assert frame_stats(down, 0.5)["direction_deg"] == 270.0 and frame_stats(down, 0.5)["direction"] == "down"
    tiny = np.zeros((1, 1, 2), dtype=np.float32)
    tiny[..., 0] = np.float32(1e-6)
    s = frame_stats(tiny, 0.0)  # net motion of exactly the 1e-6 floor: no direction
    assert s["moving_fraction"] == 1.0 and s["direction"] == "none" and s["direction_deg"] is None
    assert FarnebackParams(poly_sigma=0.5).poly_sigma == 0.5  # any positive sigma


def test_load_clip_and_motion_defaults(tmp_path):
    folder = write_frame_folder(tmp_path / "f", moving_square_frames(6))
    clip, res = load_clip_and_motion(folder)
    assert clip.frames.shape == (32, 224, 224, 3) and res.mask.shape == (32, 224, 224)


def test_first_frame_rule_as_index_1_gives_frame_0_the_pair_of_frame_1(tmp_path):
    """Native frame 0 has no predecessor: `reverse_pair` takes the flow 1 -> 0 and masks
    frame 0; `as_index_1` (the release's rule) takes 0 -> 1 and masks frame 1. Only frame 0
    is affected."""
    v = write_video(tmp_path / "sq.mp4", moving_square_frames(12, 64, 3))
    clip = sample_clip(v, 12, 64)  # every frame: indices 0..11
    assert list(clip.indices[:2]) == [0, 1]
    rev = extract_motion(clip, MotionConfig(mask="threshold", threshold=0.5, first_frame="reverse_pair"))
    fwd = extract_motion(clip, MotionConfig(mask="threshold", threshold=0.5, first_frame="as_index_1"))
    assert rev.stats[0]["masked_index"] == 0 and rev.stats[0]["direction"] == "left"  # 1 -> 0: the square goes back
    assert fwd.stats[0]["masked_index"] == 1 and fwd.stats[0]["direction"] == "right"
    assert np.array_equal(fwd.motion[0], apply_mask(clip.prev_frames[0], fwd.mask[0]))  # frame 1, masked
    assert np.array_equal(rev.motion[0], apply_mask(clip.frames[0], rev.mask[0]))
    for a, b in zip(rev.stats[1:], fwd.stats[1:]):  # the other frames are the same under both rules
        assert a == b
    assert np.array_equal(rev.flow[1:], fwd.flow[1:]) and np.array_equal(rev.motion[1:], fwd.motion[1:])
