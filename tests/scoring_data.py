"""Real prediction/reference pairs for the scoring tests, built from the HIVAU-70k test
instructions in ../shared/data/text (never copied into the repository).

For each UCF-Crime / XD-Violence video, the video-level description is the reference and
the description of its first anomalous event (written independently, shorter) plays the
prediction; the video-level "analysis" question and answer give a QA pair, answered by the
event-level analysis answer."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path


def _video_key(path: str) -> str:
    return re.sub(r"(_E\d+)?(C\d+)?\.mp4$", "", path.rsplit("/", 1)[-1])


def build_pairs(hivau_jsonl: Path, limit: int | None = None) -> tuple[list[dict], list[dict]]:
    """(HAWK-format reference records, prediction records without inline references)."""
    videos: dict[str, dict[str, dict]] = defaultdict(dict)
    events: dict[str, list[dict]] = defaultdict(list)
    with open(hivau_jsonl, encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            key = _video_key(r["video"])
            if r["type"] == "video":
                videos[key][r["task"]] = r
            elif r["type"] == "event":
                events[key].append(r)
    refs, preds = [], []
    for key in sorted(videos):
        tasks = videos[key]
        if "description" not in tasks:
            continue
        video = tasks["description"]["video"]
        rec = {"video": video, "description": tasks["description"]["anwser"], "QA": [], "source": video.split("/")[0]}
        if "analysis" in tasks:
            rec["QA"].append({"q": tasks["analysis"]["prompt"], "a": tasks["analysis"]["anwser"]})
        refs.append(rec)
        desc = [e for e in events[key] if e["task"] == "description"]
        if desc:
            preds.append({"id": f"{key}/d", "video": video, "task": "description", "prediction": desc[0]["anwser"]})
        ana = [e for e in events[key] if e["task"] == "analysis"]
        if "analysis" in tasks and ana:
            preds.append({"id": f"{key}/q", "video": video, "task": "qa", "question": tasks["analysis"]["prompt"], "prediction": ana[0]["anwser"]})
        if limit and len(refs) >= limit:
            break
    return refs, preds


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path
