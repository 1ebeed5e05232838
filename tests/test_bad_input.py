"""Bad input everywhere (issue 16, point 4), table-driven over the commands that read a file:
each case exits 2 with one `error:` line naming the input, no traceback, no output left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import invoke, write_small_inputs


def _bad_inputs(tmp: Path) -> dict[str, Path]:
    folder = tmp / "a_folder"
    folder.mkdir()
    empty = tmp / "empty.jsonl"
    empty.write_bytes(b"")
    latin = tmp / "latin.jsonl"
    latin.write_bytes(b'{"video": "caf\xe9.mp4", "description": "x"}\n')
    latin_json = tmp / "latin.json"
    latin_json.write_bytes(b'[{"video": "caf\xe9.mp4", "description": "x"}]')
    shape = tmp / "shape.json"
    shape.write_text('"just a string"')
    fields = tmp / "fields.jsonl"
    fields.write_text('{"nothing": "here"}\n')
    fake_mp4 = tmp / "notes.mp4"
    fake_mp4.write_text("this is a text file\n")
    truncated = tmp / "truncated.mp4"
    truncated.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 40)
    fake_pth = tmp / "notes.pth"
    fake_pth.write_text("not a checkpoint\n")
    return {"missing": tmp / "nope.jsonl", "folder": folder, "empty": empty, "latin": latin, "latin_json": latin_json,
            "shape": shape, "fields": fields, "fake_mp4": fake_mp4, "truncated_mp4": truncated, "fake_pth": fake_pth}


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _one_error_line(r) -> str:
    """exit 2, no traceback, exactly one `error:` line (returned)."""
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    errors = [x for x in r.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1, r.output
    return errors[0]


# command -> (argv given the bad input and an output folder, the cases that apply[, stdin])
RECORD_CASES = ("missing", "folder", "empty", "latin", "latin_json", "shape", "fields")
SPLIT_CASES = ("missing", "empty", "latin", "latin_json", "shape", "fields")  # a .json/.jsonl name makes it a split
VIDEO_CASES = ("missing", "fake_mp4", "truncated_mp4")
_LLM = ["-m", "x", "--base-url", "http://127.0.0.1:9/v1"]  # nothing listens there: a call would fail, not hang
COMMANDS = {
    "predict": (lambda p, o: ["predict", p, "--out", o / "preds.jsonl", "--model", "tiny"], RECORD_CASES),
    "split": (lambda p, o: ["split", p, "--out", o / "split"], RECORD_CASES),
    "score": (lambda p, o: ["score", p, "--no-semantic", "--out", o / "report.json"], ("missing", "folder", "latin", "latin_json", "shape", "fields")),
    "score-gt": (lambda p, o: ["score", "--detection", o.parent / "good_dets.jsonl", "--gt", p, "--out", o / "report.json"],
                 ("missing", "folder", "empty", "latin", "latin_json", "shape", "fields")),
    "score-detection": (lambda p, o: ["score", "--detection", p, "--gt", o.parent / "good_gt.json", "--out", o / "report.json"],
                        ("missing", "folder", "empty", "latin", "latin_json", "shape", "fields")),
    "train": (lambda p, o: ["train", "--preset", "tiny", "--data", p, "--out", o / "run", "--steps", "1"], RECORD_CASES),
    "parse": (lambda p, o: ["parse", "--in", p, "--out", o / "parsed.jsonl"], ("missing", "folder", "latin", "latin_json", "shape")),
    "review": (lambda p, o: ["review", p, "--no-frames", "--export-only", "--export", o / "clean.json"], RECORD_CASES),
    "describe": (lambda p, o: ["describe", p, "--model", "tiny"], VIDEO_CASES),
    "ask": (lambda p, o: ["ask", p, "What happens?", "--model", "tiny"], VIDEO_CASES),
    "chat": (lambda p, o: ["chat", p, "--model", "tiny"], VIDEO_CASES, "What happens?\n"),
    "detect": (lambda p, o: ["detect", p, "--scorer", "motion", "--no-describe"], VIDEO_CASES),
    "detect-split": (lambda p, o: ["detect", p, "--out", o / "det.jsonl", "--scorer", "motion", "--no-describe"], SPLIT_CASES),
    "flow": (lambda p, o: ["flow", p, "--out", o / "flow"], VIDEO_CASES),
    "annotate": (lambda p, o: ["annotate", p, "--out", o / "ds.json", *_LLM], VIDEO_CASES),
    "convert": (lambda p, o: ["convert", p, "--out", o / "ckpt", "--preset", "tiny"], ("missing", "folder", "empty", "fake_pth")),
}
CASES = [(cmd, case) for cmd, (_, cases, *_) in sorted(COMMANDS.items()) for case in cases]


def _good_detection_inputs(tmp: Path) -> None:
    """A well-formed detections file and ground truth, so the other one is the bad input."""
    det = {"id": "v", "video": "v.mp4", "duration": 4.0, "windows": [{"start": 0.0, "end": 2.0, "score": 0.9}, {"start": 2.0, "end": 4.0, "score": 0.1}]}
    (tmp / "good_dets.jsonl").write_text(json.dumps(det) + "\n")
    (tmp / "good_gt.json").write_text(json.dumps({"v": {"n_frames": 100, "fps": 25.0, "label": ["Fighting"], "events": [[1.0, 2.0]]}}))


@pytest.mark.parametrize(("command", "case"), CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_bad_input_is_one_line_exit_2(command, case, tmp_path):
    bad = _bad_inputs(tmp_path)[case]
    _good_detection_inputs(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    argv, _, *stdin = COMMANDS[command]
    before = _files(tmp_path)
    r = invoke(*argv(bad, out), input=stdin[0] if stdin else None)
    assert bad.name in _one_error_line(r), r.output
    assert _files(tmp_path) == before, "output left behind"


@pytest.mark.parametrize("where", ["missing_parent", "unwritable"])
def test_output_under_a_missing_or_unwritable_folder(where, tmp_path):
    import os

    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "a", "task": "description", "prediction": "x", "reference": "x y"}\n')
    if where == "missing_parent":
        target = tmp_path / "a_file" / "report.json"
        (tmp_path / "a_file").write_text("not a folder")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes anywhere")
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        target = ro / "report.json"
    r = invoke("score", preds, "--no-semantic", "--out", target)
    assert r.exit_code == 2 and "Traceback" not in r.output
    errors = [x for x in r.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "report.json" in errors[0], r.output


# ---- out-of-range numeric options ----------------------------------------------------------


@pytest.fixture(scope="module")
def good(tmp_path_factory, fighting_video) -> dict:
    """Well-formed inputs, so the bad option is the only thing wrong."""
    d = tmp_path_factory.mktemp("good")
    _good_detection_inputs(d)
    return {**write_small_inputs(d, fighting_video), "video": fighting_video, "dets": d / "good_dets.jsonl", "gt": d / "good_gt.json"}


# command -> argv given the good inputs and an output folder (+ stdin)
BASE = {
    "describe": lambda g, o: ["describe", g["video"], "--model", "tiny"],
    "ask": lambda g, o: ["ask", g["video"], "What happens?", "--model", "tiny"],
    "chat": lambda g, o: ["chat", g["video"], "--model", "tiny"],
    "predict": lambda g, o: ["predict", g["split"], "--out", o / "preds.jsonl", "--model", "tiny"],
    "detect": lambda g, o: ["detect", g["video"], "--scorer", "motion", "--no-describe"],
    "detect-split": lambda g, o: ["detect", g["split"], "--out", o / "det.jsonl", "--scorer", "motion", "--no-describe"],
    "flow": lambda g, o: ["flow", g["video"], "--out", o / "flow"],
    "synth": lambda g, o: ["synth", "--out", o / "synth", "--n", "1"],
    "split": lambda g, o: ["split", g["split"], "--out", o / "split"],
    "train": lambda g, o: ["train", "--preset", "tiny", "--data", g["split"], "--out", o / "run", "--steps", "1"],
    "parse": lambda g, o: ["parse", "--in", g["texts"], "--out", o / "parsed.jsonl"],
    "score": lambda g, o: ["score", g["preds"], "--no-semantic", "--out", o / "report.json"],
    "score-detection": lambda g, o: ["score", "--detection", g["dets"], "--gt", g["gt"], "--out", o / "report.json"],
    "annotate": lambda g, o: ["annotate", g["video"], "--out", o / "ds.json", *_LLM],
    "review": lambda g, o: ["review", g["split"], "--web"],
    "serve": lambda g, o: ["serve", "--model", "tiny"],
}
BAD_OPTIONS = [
    ("describe", "--frames", "1"), ("describe", "--window", "0"), ("describe", "--stride", "-1"), ("describe", "--top", "0"),
    ("describe", "--batch-size", "0"), ("describe", "--max-new-tokens", "0"), ("describe", "--temperature", "-1"),
    ("describe", "--top-p", "1.5"),
    ("ask", "--frames", "0"), ("ask", "--max-new-tokens", "0"), ("ask", "--temperature", "-1"), ("ask", "--top-p", "1.5"),
    ("chat", "--max-new-tokens", "0"), ("chat", "--temperature", "-1"), ("chat", "--top-p", "1.5"),
    ("predict", "--batch-size", "0"), ("predict", "--gen-batch", "0"), ("predict", "--frames", "-1"), ("predict", "--max-new-tokens", "0"),
    ("predict", "--limit", "0"),
    ("detect", "--window", "0"), ("detect", "--window", "-1"), ("detect", "--stride", "-1"), ("detect", "--stride", "0"),
    ("detect", "--batch-size", "0"), ("detect", "--threshold", "1.5"), ("detect", "--min-duration", "-1"), ("detect", "--frames", "0"),
    ("detect-split", "--limit", "0"), ("detect-split", "--window", "0"),
    ("flow", "--frames", "0"), ("flow", "--size", "8"), ("flow", "--workers", "0"), ("flow", "--threshold", "-1"),
    ("flow", "--folder-fps", "0"), ("flow", "--levels", "0"), ("flow", "--winsize", "0"), ("flow", "--iterations", "0"),
    ("synth", "--n", "0"), ("synth", "--frames", "0"), ("synth", "--fps", "0"), ("synth", "--size", "10"),
    ("synth", "--normal-fraction", "2"), ("synth", "--qa", "-1"), ("synth", "--workers", "0"),
    ("split", "--test-fraction", "1.5"), ("split", "--test-fraction", "-0.1"),
    ("train", "--steps", "0"), ("train", "--batch-size", "0"), ("train", "--grad-accum", "0"), ("train", "--lr", "-1"),
    ("train", "--test-fraction", "2"), ("train", "--objective", "contrastive"), ("train", "--words-from", "verbs"), ("train", "--words-loss", "softmax"),
    ("parse", "--batch-size", "0"), ("parse", "--n-process", "0"),
    ("score", "--smoothing", "9"), ("score", "--judge-workers", "0"), ("score", "--judge-timeout", "0"),
    ("score-detection", "--fps", "0"), ("score-detection", "--eval-fps", "-1"),
    ("annotate", "--max-clips", "0"), ("annotate", "--clip-seconds", "0"), ("annotate", "--concurrency", "0"),
    ("annotate", "--max-tokens", "1"), ("annotate", "--timeout", "0"),
    ("review", "--port", "-1"),
    ("serve", "--port", "70000"), ("serve", "--max-tokens", "0"), ("serve", "--max-body-mb", "0"), ("serve", "--max-queue", "-1"),
]


@pytest.mark.parametrize(("command", "option", "value"), BAD_OPTIONS, ids=[f"{c}{o}={v}" for c, o, v in BAD_OPTIONS])
def test_out_of_range_option_is_one_line_exit_2(command, option, value, good, tmp_path):
    before = _files(tmp_path)
    r = invoke(*BASE[command](good, tmp_path), option, value, input="What happens?\n" if command == "chat" else None)
    assert option in _one_error_line(r), r.output
    assert _files(tmp_path) == before, "output left behind"


# ---- an output path that cannot be written, per writer -------------------------------------

# writer -> (argv given the good inputs and the output path, its suffix: "" for a folder)
WRITERS = {
    "predict": (lambda g, o: ["predict", g["split"], "--out", o, "--model", "tiny"], ".jsonl"),
    "detect": (lambda g, o: ["detect", g["split"], "--out", o, "--scorer", "motion", "--no-describe"], ".jsonl"),
    "flow": (lambda g, o: ["flow", g["video"], "--out", o], ""),
    "synth": (lambda g, o: ["synth", "--out", o, "--n", "1"], ""),
    "split": (lambda g, o: ["split", g["split"], "--out", o], ""),
    "train": (lambda g, o: ["train", "--preset", "tiny", "--data", g["split"], "--out", o, "--steps", "1"], ""),
    "parse": (lambda g, o: ["parse", "--in", g["texts"], "--out", o], ".jsonl"),
    "score": (lambda g, o: ["score", g["preds"], "--no-semantic", "--out", o], ".json"),
    "score-items": (lambda g, o: ["score", g["preds"], "--no-semantic", "--items", o], ".jsonl"),
    "annotate": (lambda g, o: ["annotate", g["video"], "--out", o, *_LLM], ".json"),
    "review": (lambda g, o: ["review", g["split"], "--export-only", "--export", o, "--decisions", o.parent.parent / "d.jsonl"], ".json"),
}
OUT_CASES = [(w, case) for w in sorted(WRITERS) for case in ("parent_is_a_file", "wrong_kind")]


@pytest.mark.parametrize(("writer", "case"), OUT_CASES, ids=[f"{w}-{c}" for w, c in OUT_CASES])
def test_unwritable_output_path_is_one_line_exit_2(writer, case, good, tmp_path):
    argv, suffix = WRITERS[writer]
    (tmp_path / "work").mkdir()
    if case == "parent_is_a_file":
        (tmp_path / "work" / "a_file").write_text("not a folder")
        target, needle = tmp_path / "work" / "a_file" / f"out{suffix}", "a_file"
    else:  # a folder where a file goes, a file where a folder goes
        target = tmp_path / "work" / f"taken{suffix}"
        target.mkdir() if suffix else target.write_text("a file")
        needle = target.name
    before = _files(tmp_path)
    r = invoke(*argv(good, target))
    assert needle in _one_error_line(r), r.output
    assert _files(tmp_path) == before, "output left behind"
