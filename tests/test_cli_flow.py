import json

import numpy as np

from hawk_core.media.flow import OUTPUT_FILES, load_motion_file
from tests.helpers import invoke, moving_square_frames, write_frame_folder, write_video


def test_version_and_help():
    r = invoke("--version")
    assert r.exit_code == 0 and r.output.startswith("hawk ")
    r = invoke("flow", "--help")
    assert r.exit_code == 0 and "Farneback" in r.output and "--mask" in r.output


def test_flow_on_real_clip_writes_everything(tmp_path, fighting_video):
    out = tmp_path / "out"
    r = invoke("flow", fighting_video, "--out", out, "--frames", "8", "--size", "64")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    t = load_motion_file(out / "motion.safetensors")
    assert t["video"].shape == (8, 64, 64, 3) and t["motion"].dtype == np.uint8
    assert t["flow"].shape == (8, 64, 64, 2) and t["mask"].max() <= 1.0
    stats = json.loads((out / "stats.json").read_text())
    assert len(stats["frames"]) == 8 and stats["num_native_frames"] == 271
    assert "peak motion" in r.output


def test_flow_json_output(tmp_path, accident_video):
    r = invoke("flow", accident_video, "--out", tmp_path / "o", "--frames", "4", "--size", "32", "--mask", "threshold", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)  # stdout alone: a codec warning goes to stderr
    assert data["motion"]["mask"] == "threshold" and len(data["frames"]) == 4


def test_flow_refuses_to_clobber_without_overwrite(tmp_path, accident_video):
    out = tmp_path / "o"
    assert invoke("flow", accident_video, "--out", out, "-T", "2", "--size", "32").exit_code == 0
    r = invoke("flow", accident_video, "--out", out, "-T", "2", "--size", "32")
    assert r.exit_code == 2 and "--overwrite" in r.output
    assert invoke("flow", accident_video, "--out", out, "-T", "2", "--size", "32", "--overwrite").exit_code == 0


def test_flow_folder_batch_skips_bad_and_resumes(tmp_path):
    src = tmp_path / "videos"
    src.mkdir()
    write_video(src / "a.mp4", moving_square_frames(8))
    write_frame_folder(src / "frames_b", moving_square_frames(6))
    (src / "broken.mp4").write_text("garbage")
    out = tmp_path / "out"
    r = invoke("flow", src, "--out", out, "-T", "4", "--size", "32", "--workers", "2")
    assert r.exit_code == 0, r.output
    assert "2 written" in r.output and "1 failed" in r.output and "broken.mp4" in r.output
    assert (out / "a" / "stats.json").exists() and (out / "frames_b" / "stats.json").exists()
    assert not (out / "broken").exists()
    r = invoke("flow", src, "--out", out, "-T", "4", "--size", "32")
    assert "0 written, 2 already complete" in r.output


def _leftovers(path):
    return [p for p in path.rglob("*")] if path.exists() else []


def test_bad_inputs_one_line_error_no_leftovers(tmp_path):
    (tmp_path / "text.mp4").write_text("hello")
    (tmp_path / "empty.mp4").write_bytes(b"")
    write_video(tmp_path / "one.mp4", moving_square_frames(1))
    cases = {
        "missing.mp4": "no such file",
        "text.mp4": "cannot be opened",
        "empty.mp4": "empty",
        "one.mp4": "at least 2",
    }
    for name, msg in cases.items():
        out = tmp_path / f"out_{name}"
        r = invoke("flow", tmp_path / name, "--out", out)
        assert r.exit_code != 0, name
        lines = [l for l in r.output.strip().splitlines() if l.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and msg in lines[0], (name, r.output)
        assert "Traceback" not in r.output
        assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders


def test_bad_option_values(tmp_path, accident_video):
    r = invoke("flow", accident_video, "--out", tmp_path / "o", "--mask", "hard")
    assert r.exit_code == 2 and "unknown mask mode" in r.output
    r = invoke("flow", accident_video, "--out", tmp_path / "o", "--pyr-scale", "2")
    assert r.exit_code == 2 and "pyr_scale" in r.output
    assert not (tmp_path / "o").exists()


def test_out_that_is_a_file_is_bad_input_named(tmp_path):
    """Issue 18, defect 4: an --out that is a file (or lies under one) is exit 2, named."""
    video = write_video(tmp_path / "clip.mp4", moving_square_frames(6))
    existing = tmp_path / "existing_file.txt"
    existing.write_text("keep me")
    for out in (existing, existing / "sub"):
        r = invoke("flow", video, "--out", out, "--frames", "4", "--size", "32")
        assert r.exit_code == 2, r.output
        lines = [l for l in r.output.strip().splitlines() if l.strip()]
        assert len(lines) == 1 and str(existing) in lines[0].replace("\n", "") and "internal error" not in r.output
    r = invoke("flow", tmp_path, "--out", existing)  # a folder of videos too
    assert r.exit_code == 2 and "existing_file.txt" in r.output
    assert existing.read_text() == "keep me"


def test_outputs_follow_the_umask(tmp_path):
    """Issue 18, defect 9: motion.safetensors (written 0600 by safetensors) gets the user's umask."""
    import os
    import stat

    video = write_video(tmp_path / "clip.mp4", moving_square_frames(6))
    old = os.umask(0o022)
    try:
        r = invoke("flow", video, "--out", tmp_path / "out", "--frames", "4", "--size", "32")
    finally:
        os.umask(old)
    assert r.exit_code == 0, r.output
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "out").iterdir()}
    assert modes == {name: 0o644 for name in OUTPUT_FILES}
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755


def test_flow_preview_codec(tmp_path, monkeypatch):
    """Issue 18, defect 2 for the flow preview: `hawk flow --codec` chooses preview.mp4's codec
    as `hawk synth --codec` does (same option, same fallback warning): vp9 plays in a browser;
    auto falls back to mp4v with one warning where OpenCV has no H.264 encoder."""
    from typer.main import get_command

    from hawk_cli.main import app
    from hawk_core.media import video as video_mod
    from hawk_core.media.video import BROWSER_FOURCCS, NOT_PLAYABLE, can_encode, pick_codec, video_codec

    clip = write_video(tmp_path / "clip.mp4", moving_square_frames(8))
    args = ("--frames", "4", "--size", "32")
    r = invoke("flow", clip, "--out", tmp_path / "auto", *args)
    assert r.exit_code == 0, r.output
    assert ("browsers do not play" in r.stderr) == (not can_encode("h264"))
    want = {"h264": "avc1", "mp4v": "fmp4"}[pick_codec("auto")[0]]
    assert video_codec(tmp_path / "auto" / "preview.mp4") in {want, "h264"}
    if can_encode("vp9"):
        r = invoke("flow", clip, "--out", tmp_path / "vp9", *args, "--codec", "vp9")
        assert r.exit_code == 0 and "warning" not in r.stderr, r.output
        assert video_codec(tmp_path / "vp9" / "preview.mp4") in BROWSER_FOURCCS
    r = invoke("flow", clip, "--out", tmp_path / "bad", *args, "--codec", "hevc")
    assert r.exit_code == 2 and "unknown codec" in r.output and not (tmp_path / "bad").exists()
    # where OpenCV cannot write H.264, auto says so once, also for a folder of videos
    monkeypatch.setattr(video_mod, "can_encode", lambda codec: codec != "h264")
    (tmp_path / "videos").mkdir()
    for name in ("a.mp4", "b.mp4"):
        write_video(tmp_path / "videos" / name, moving_square_frames(8))
    r = invoke("flow", tmp_path / "videos", "--out", tmp_path / "folder", *args)
    assert r.exit_code == 0, r.output
    assert r.stderr.count("warning:") == 1 and NOT_PLAYABLE.split(":")[0] in r.stderr.replace("\n", " ")
    assert video_codec(tmp_path / "folder" / "a" / "preview.mp4") == "fmp4"
    commands = get_command(app).commands
    helps = [next(p.help for p in commands[c].params if p.name == "codec") for c in ("flow", "synth")]
    assert helps[0] == helps[1] and "browsers do not play" in helps[0]


def test_flow_sheet_frames_beside_their_flow(tmp_path):
    """Issue 18, pictures: --sheet-frames puts each sampled frame on the left of its flow on
    flow_sheet.png (4 pairs a row, then the key); without it the sheet is the flow tiles and
    the key alone."""
    import cv2

    clip = write_video(tmp_path / "clip.mp4", moving_square_frames(8))
    args = ("--frames", "4", "--size", "32")
    assert invoke("flow", clip, "--out", tmp_path / "plain", *args).exit_code == 0
    r = invoke("flow", clip, "--out", tmp_path / "pairs", *args, "--sheet-frames")
    assert r.exit_code == 0, r.output
    plain = cv2.cvtColor(cv2.imread(str(tmp_path / "plain" / "flow_sheet.png")), cv2.COLOR_BGR2RGB)
    pairs = cv2.cvtColor(cv2.imread(str(tmp_path / "pairs" / "flow_sheet.png")), cv2.COLOR_BGR2RGB)
    b, s = 2, 32
    assert plain.shape == (s + 2 * b, 5 * s + 6 * b, 3)  # 4 flows + the key in one row
    assert pairs.shape == (2 * s + 3 * b, 4 * 2 * s + 5 * b, 3)  # 4 frame|flow pairs, then the key's row
    video = load_motion_file(tmp_path / "pairs" / "motion.safetensors")["video"]
    for t in range(4):
        x = b + t * (2 * s + b)
        assert (pairs[b + 16 : b + s, x : x + s] == video[t][16:]).all()  # the frame, under its time label
        # its flow on the right: the same pixels as the flow tile of the plain sheet
        px = b + t * (s + b)
        assert (pairs[b + 16 : b + s, x + s : x + 2 * s] == plain[b + 16 : b + s, px : px + s]).all()
    assert "--sheet-frames" in invoke("flow", "--help").output
