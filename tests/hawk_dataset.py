"""A small HAWK-format dataset over the real shared clips, for the data and training tests.

Descriptions and QA pairs come from the HIVAU-70k test instructions of the same UCF-Crime
videos (the fighting clip is cut from Fighting033; the accident and dog clips get hand-written texts)."""

from __future__ import annotations

import json
from pathlib import Path

_SOURCES = {"fighting_ucf033.mp4": "Fighting033_x264"}  # RoadAccidents133 is not in the HIVAU test split
_ACCIDENT = {
    "description": "A car drives through the intersection and hits a motorcycle; the rider is knocked down and traffic stops.",
    "QA": [{"q": "What happens to the motorcycle?", "a": "The car strikes the motorcycle and the rider falls onto the road."}],
}
_DOG = {
    "description": "A dog rides a skateboard along a sunny street while people watch; nothing unusual happens.",
    "QA": [{"q": "What is the dog doing?", "a": "The dog pushes off with one paw and rides the skateboard down the street."}],
}


def hivau_texts(hivau_jsonl: Path, ucf_name: str) -> dict:
    """description + QA pairs for one UCF video from the HIVAU jsonl."""
    desc, qa = None, []
    for line in Path(hivau_jsonl).read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r.get("type") != "video" or not r["video"].endswith(f"/{ucf_name}.mp4"):
            continue
        if r["task"] == "description" and desc is None:
            desc = r["anwser"]
        else:
            qa.append({"q": r["prompt"], "a": r["anwser"]})
    assert desc, ucf_name
    return {"description": desc, "QA": qa}


def make_records(videos_dir: Path, hivau_jsonl: Path) -> list[dict]:
    recs = []
    for name, ucf in _SOURCES.items():
        recs.append({"video": str(videos_dir / name), **hivau_texts(hivau_jsonl, ucf)})
    recs.append({"video": str(videos_dir / "road_accident_ucf133.mp4"), **_ACCIDENT})
    recs.append({"video": str(videos_dir / "skateboarding_dog.mp4"), **_DOG})
    return recs


def write_dataset(path: Path, videos_dir: Path, hivau_jsonl: Path, extra: list[dict] | None = None) -> Path:
    recs = make_records(videos_dir, hivau_jsonl) + list(extra or [])
    path.write_text(json.dumps(recs, indent=1), encoding="utf-8")
    return path


def write_labelled_dataset(path: Path, videos_dir: Path, hivau_jsonl: Path, field: str = "event_type") -> tuple[Path, list[dict]]:
    """The three real clips' records, each with a class in ``field`` (two classes: fighting,
    collision, fighting), written to ``path``; returns (path, the records)."""
    recs = make_records(videos_dir, hivau_jsonl)
    for r, kind in zip(recs, ["fighting", "collision", "fighting"]):
        r[field] = kind
    path.write_text(json.dumps(recs), encoding="utf-8")
    return path, recs


def synth_test_split(out: Path) -> Path:
    """A 4-video `hawk synth` test split of 6 s clips (60 frames at 10 fps, 96 px, seed 21), each
    record with its time_span; returns its test.json."""
    from tests.helpers import invoke

    r = invoke("synth", "--out", out, "--n", "4", "--seed", "21", "--split", "test", "--frames", "60", "--size", "96", "--qa", "0")
    assert r.exit_code == 0, r.output
    return out / "test.json"
