"""`hawk review` driven by scripted stdin: decisions, edits, resume, export, error paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import invoke, moving_square_frames, write_video


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    video = write_video(tmp_path / "a.mp4", moving_square_frames(20, 64))
    recs = [
        {
            "video": str(video) if i == 0 else f"/nowhere/v{i}.mp4",
            "description": f"Description {i}: a man hits a parked car.",
            "QA": [{"q": f"Q{i}a?", "a": f"A{i}a."}, {"q": f"Q{i}b?", "a": f"A{i}b."}],
            "provenance": {"llm": "x", "low_quality": i == 2, "clips": [{"start": 0.0, "end": 2.0, "caption": f"clip caption {i}"}]},
        }
        for i in range(3)
    ]
    p = tmp_path / "ds.json"
    p.write_text(json.dumps(recs, indent=2))
    return p


def _decisions(p: Path) -> list[dict]:
    return [json.loads(ln) for ln in p.with_name(p.stem + ".review.jsonl").read_text().splitlines()]


def test_accept_edit_reject_and_export(dataset: Path):
    original = dataset.read_bytes()
    script = "\n".join([
        "a",                                   # record 1: accept
        "e",                                   # record 2: edit
        "A man kicks a parked car twice.",     #   new description
        "",                                    #   Q1 kept
        "He kicks it twice.",                  #   A1 changed
        "-",                                   #   Q2 deleted
        "Who is involved?",                    #   a new pair
        "One man.",
        "",                                    #   no more pairs
        "r",                                   # record 3: reject
    ]) + "\n"
    out = dataset.with_name("accepted.json")
    r = invoke("review", dataset, "--export", out, input=script)
    assert r.exit_code == 0, r.output
    assert "clip caption 0" in r.output and "Description 0" in r.output and "Q0a?" in r.output
    assert "LOW QUALITY" in r.output  # record 3 came from the embedded model
    assert "key frames:" in r.output and (dataset.with_name("ds.review") / "0001.jpg").is_file()
    assert "key frames unavailable" in r.output  # /nowhere/v1.mp4
    assert "accepted 1, edited 1, rejected 1, pending 0" in r.output
    assert dataset.read_bytes() == original  # never overwritten

    d = _decisions(dataset)
    assert [x["decision"] for x in d] == ["accept", "edit", "reject"] and all(x["time"] for x in d)
    edited = d[1]["record"]
    assert edited["description"] == "A man kicks a parked car twice."
    assert edited["QA"] == [{"q": "Q1a?", "a": "He kicks it twice."}, {"q": "Who is involved?", "a": "One man."}]

    exported = json.loads(out.read_text())
    assert [e["description"] for e in exported] == ["Description 0: a man hits a parked car.", "A man kicks a parked car twice."]
    assert exported[1]["provenance"]["review"]["decision"] == "edit"


def test_resume_where_left_off(dataset: Path):
    r = invoke("review", dataset, "--no-frames", input="a\n")  # then end of input
    assert r.exit_code == 0, r.output
    assert "end of input" in r.output and "pending 2" in r.output
    r = invoke("review", dataset, "--no-frames", input="s\nq\n")
    assert r.exit_code == 0
    assert "3 records, 1 decided, 2 to review" in r.output
    assert "record 2/3" in r.output and "record 1/3" not in r.output
    r = invoke("review", dataset, "--no-frames", input="b\nr\na\n")  # 'back' on the first stays there
    assert "accepted 2, edited 0, rejected 1, pending 0" in r.output
    # changing one's mind appends a decision; the latest wins
    r = invoke("review", dataset, "--no-frames", "--redo", "--export", dataset.with_name("out.json"), input="r\n")
    assert "accepted 1, edited 0, rejected 2" in r.output
    assert len(json.loads(dataset.with_name("out.json").read_text())) == 1
    assert len(_decisions(dataset)) == 4


def test_export_only_and_errors(dataset: Path, tmp_path: Path):
    invoke("review", dataset, "--no-frames", input="a\na\n")
    r = invoke("review", dataset, "--export-only", "--export", tmp_path / "e.json")
    assert r.exit_code == 0 and "exported 2 records" in r.output
    r = invoke("review", dataset, "--export-only", "--export", dataset)
    assert r.exit_code == 2 and "refusing to overwrite" in r.output
    # a decisions file from another dataset is refused, naming the mismatch
    other = tmp_path / "other.json"
    other.write_text(json.dumps([{"video": "z.mp4", "description": "d", "QA": []}] * 3))
    r = invoke("review", other, "--decisions", dataset.with_name("ds.review.jsonl"), "--no-frames", input="q\n")
    assert r.exit_code == 2 and "does not match" in r.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"video": "v.mp4", "QA": []}]))
    r = invoke("review", bad, input="q\n")
    assert r.exit_code == 2 and "missing 'description'" in r.output
    r = invoke("review", tmp_path / "missing.json")
    assert r.exit_code == 2 and "no such file" in r.output


def test_relative_videos_resolve_against_the_dataset_folder(tmp_path: Path, monkeypatch):
    """Issue 18, defect 1: review (terminal and web) finds `videos/x.mp4` beside the dataset
    from any working directory, as predict does (one resolver)."""
    import httpx

    from hawk_core.data.records import resolve_video_path
    from hawk_core.review.log import ReviewLog
    from hawk_core.review.web import ReviewServer

    data = tmp_path / "data"
    (data / "videos").mkdir(parents=True)
    video = write_video(data / "videos" / "clip.mp4", moving_square_frames(12, 64))
    ds = data / "train.json"
    ds.write_text(json.dumps([{"video": "videos/clip.mp4", "description": "A man hits a parked car.", "QA": []}]))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    r = invoke("review", ds, input="a\n")
    assert r.exit_code == 0, r.output
    assert "key frames unavailable" not in r.output and "key frames:" in r.output
    with ReviewLog(ds) as log:
        assert log.video_path(0) == resolve_video_path("videos/clip.mp4", ds)
        assert log.video_path(0).resolve() == video.resolve()
        with ReviewServer(log) as srv:
            base = srv.url.rstrip("/")
            assert httpx.get(base + "/api/record/0").json()["has_video"] is True
            assert httpx.get(base + "/media/0").content == video.read_bytes()
            assert httpx.get(base + "/frames/0.jpg").status_code == 200
