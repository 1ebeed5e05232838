"""The paper's manual check of generated annotations (appendix D, "Manual Checking"), as a
resumable review log kept next to the dataset.

The dataset is never modified. Each decision is one JSONL line in ``DATASET.review.jsonl``
(flushed and fsynced): ``{"index", "video", "decision": accept | edit | reject, "record"
(the edited record, for edit), "time", "reviewer"}``. The latest decision per record wins, so
changing one's mind is another line; a review resumes at the first undecided record. Export
writes the accepted and edited records (the edited version) to a new file, atomically, each
with ``provenance.review = {decision, time, reviewer}``.
"""

from __future__ import annotations

import copy
import datetime as _dt
import getpass
from pathlib import Path

from ..data.records import NEED_DESCRIPTION, parse_record, parse_records, read_raw_records, resolve_video_path
from ..errors import DataError, InputError
from ..media.timefmt import format_clock
from ..io import JsonlAppender, write_json

DECISIONS = ("accept", "edit", "reject")


def decisions_path(dataset: Path) -> Path:
    dataset = Path(dataset)
    return dataset.with_name(dataset.stem + ".review.jsonl")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _reviewer() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "unknown"


class ReviewLog:
    """The records of a dataset and the decisions taken on them."""

    def __init__(self, dataset: Path, decisions: Path | None = None) -> None:
        self.dataset = Path(dataset)
        self.records = read_raw_records(self.dataset)
        parse_records(self.records, self.dataset, need=NEED_DESCRIPTION)  # validation only: the dicts are kept as written
        self.path = Path(decisions) if decisions else decisions_path(self.dataset)
        if self.path.resolve() == self.dataset.resolve():
            raise InputError("the decisions file cannot be the dataset itself")
        self._app = JsonlAppender(self.path, key="index")
        self.decisions: dict[int, dict] = {}
        for d in self._app.existing:
            i = d.get("index")
            if not isinstance(i, int) or d.get("decision") not in DECISIONS:
                continue
            if i >= len(self.records) or self.records[i]["video"] != d.get("video"):
                self._app.close()
                raise DataError(
                    f"{self.path} does not match {self.dataset} (record {i + 1} is "
                    f"{self.records[i]['video'] if i < len(self.records) else 'absent'} there, {d.get('video')} in the decisions); "
                    "pass --decisions for a new review file"
                )
            self.decisions[i] = d

    def close(self) -> None:
        self._app.close()

    def __enter__(self) -> ReviewLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def video_path(self, index: int) -> Path:
        """Record ``index``'s video on disk, relative paths against the dataset's folder
        (:func:`~hawk_core.data.records.resolve_video_path`), not the working directory."""
        return resolve_video_path(self.records[index]["video"], self.dataset)

    def pending(self, redo: bool = False) -> list[int]:
        return [i for i in range(len(self.records)) if redo or i not in self.decisions]

    def current(self, index: int) -> dict:
        """The record as it stands (the edited version after an edit)."""
        d = self.decisions.get(index)
        if d and d["decision"] == "edit":
            return copy.deepcopy(d["record"])
        return copy.deepcopy(self.records[index])

    def decide(self, index: int, decision: str, record: dict | None = None, note: str = "") -> dict:
        if decision not in DECISIONS:
            raise InputError(f"unknown decision {decision!r}; choose one of {', '.join(DECISIONS)}")
        if not 0 <= index < len(self.records):
            raise InputError(f"no record {index + 1} (the dataset holds {len(self.records)})")
        entry = {"index": index, "video": self.records[index]["video"], "decision": decision, "time": _now(), "reviewer": _reviewer()}
        if decision == "edit":
            if record is None:
                raise InputError("an edit needs the edited record")
            parse_record(record, f"edited record {index + 1}", need=NEED_DESCRIPTION)
            entry["record"] = record
        if note:
            entry["note"] = note
        self._app.write(entry)
        self.decisions[index] = entry
        return entry

    def counts(self) -> dict:
        c = {d: 0 for d in DECISIONS}
        for d in self.decisions.values():
            c[d["decision"]] += 1
        c["pending"] = len(self.records) - len(self.decisions)
        return c

    def accepted(self) -> list[dict]:
        out = []
        for i in range(len(self.records)):
            d = self.decisions.get(i)
            if not d or d["decision"] == "reject":
                continue
            rec = self.current(i)
            prov = rec.setdefault("provenance", {}) if isinstance(rec.get("provenance", {}), dict) else {}
            prov["review"] = {"decision": d["decision"], "time": d["time"], "reviewer": d.get("reviewer")}
            rec["provenance"] = prov
            out.append(rec)
        return out

    def export(self, path: Path) -> int:
        path = Path(path)
        if path.resolve() in (self.dataset.resolve(), self.path.resolve()):
            raise InputError(f"refusing to overwrite {path}: export to a new file")
        recs = self.accepted()
        write_json(path, recs)
        return len(recs)


def key_frame_sheet(video: Path, target: Path, *, frames: int = 6, size: int = 160, clips: list[dict] | None = None) -> Path:
    """A contact sheet of ``frames`` frames of ``video`` with their times, written to
    ``target`` (JPEG/PNG by suffix). Raises VideoError for an unreadable video."""
    import cv2
    import numpy as np

    from ..io import atomic_path
    from ..media.video import sample_clip

    clip = sample_clip(video, frames, size, with_prev=False)
    tiles = []
    for f, t in zip(clip.frames, clip.timestamps):
        tile = cv2.cvtColor(f, cv2.COLOR_RGB2BGR)
        cv2.putText(tile, format_clock(t), (4, size - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(tile, format_clock(t), (4, size - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    cols = min(3, len(tiles))
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[r : r + cols]) for r in range(0, len(tiles), cols)]
    sheet = np.vstack(rows)
    with atomic_path(target) as tmp:
        ok, buf = cv2.imencode(Path(target).suffix or ".jpg", sheet)
        if not ok:
            raise InputError(f"cannot encode {target}")
        tmp.write_bytes(buf.tobytes())
    return Path(target)
