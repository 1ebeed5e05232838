"""Bad input everywhere (issue 16, point 4), table-driven over the commands that read a file:
each case exits 2 with one `error:` line naming the input, no traceback, no output left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import invoke


def _bad_inputs(tmp: Path) -> dict[str, Path]:
    folder = tmp / "a_folder"
    folder.mkdir()
    empty = tmp / "empty.jsonl"
    empty.write_bytes(b"")
    latin = tmp / "latin.jsonl"
    latin.write_bytes(b'{"video": "caf\xe9.mp4", "description": "x"}\n')
    shape = tmp / "shape.json"
    shape.write_text('"just a string"')
    fields = tmp / "fields.jsonl"
    fields.write_text('{"nothing": "here"}\n')
    fake_mp4 = tmp / "notes.mp4"
    fake_mp4.write_text("this is a text file\n")
    truncated = tmp / "truncated.mp4"
    truncated.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 40)
    return {"missing": tmp / "nope.jsonl", "folder": folder, "empty": empty, "latin": latin, "shape": shape,
            "fields": fields, "fake_mp4": fake_mp4, "truncated_mp4": truncated}


# command -> (argv given the bad input and an output folder, the cases that apply)
RECORD_CASES = ("missing", "folder", "empty", "latin", "shape", "fields")
VIDEO_CASES = ("missing", "fake_mp4", "truncated_mp4")
COMMANDS = {
    "predict": (lambda p, o: ["predict", p, "--out", o / "preds.jsonl", "--model", "tiny"], RECORD_CASES),
    "split": (lambda p, o: ["split", p, "--out", o / "split"], RECORD_CASES),
    "score": (lambda p, o: ["score", p, "--no-semantic", "--out", o / "report.json"], ("missing", "folder", "latin", "shape", "fields")),
    "train": (lambda p, o: ["train", "--preset", "tiny", "--data", p, "--out", o / "run", "--steps", "1"], RECORD_CASES),
    "parse": (lambda p, o: ["parse", "--in", p, "--out", o / "parsed.jsonl"], ("missing", "folder", "shape")),
    "describe": (lambda p, o: ["describe", p, "--model", "tiny"], VIDEO_CASES),
    "flow": (lambda p, o: ["flow", p, "--out", o / "flow"], VIDEO_CASES),
}
CASES = [(cmd, case) for cmd, (_, cases) in sorted(COMMANDS.items()) for case in cases]


@pytest.mark.parametrize(("command", "case"), CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_bad_input_is_one_line_exit_2(command, case, tmp_path):
    bad = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out"
    out.mkdir()
    argv, _ = COMMANDS[command]
    r = invoke(*argv(bad, out))
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output
    errors = [x for x in lines if x.startswith("error:")]
    assert len(errors) == 1 and bad.name in errors[0], r.output
    assert sorted(p.name for p in out.rglob("*")) == [], "output left behind"


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
