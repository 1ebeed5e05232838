"""HAWK-format records: the one record type (:class:`HawkRecord`) and the one parser
(:func:`parse_record`, :func:`load_hawk_records`) every command uses (train, predict, review,
score, synth), plus the seeded split by video.

Two record kinds, read from JSON (a list, or ``{"data": [...]}``) or JSONL:

* stage 2, HAWK format (the paper's anomaly set, the authors' release's JSON)::

    {"video": "clips/a.mp4", "description": "A man ...", "QA": [{"q": "Who ...?", "a": "..."}]}

* stage 1, caption records (WebVid-style)::

    {"video": "clips/b.mp4", "caption": "A dog runs on a beach."}

Relative video paths are resolved against the data file's folder (or ``video_root``). Fields
other than these are kept in :attr:`HawkRecord.extra`.

The split (:func:`split_records`) is by *video*: all records of one video land on the same
side, so no held-out video is ever trained on. It is seeded and independent of record order.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError, InputError
from ..io import atomic_path, read_json_or_jsonl

#: Task names, as in prediction files and `hawk score` ("describe" is read as an alias).
TASK_DESCRIPTION = "description"
TASK_QA = "qa"
TASKS = (TASK_DESCRIPTION, TASK_QA)
TASK_ALIASES = {"describe": TASK_DESCRIPTION}


@dataclass(frozen=True)
class QAPair:
    q: str
    a: str


@dataclass
class HawkRecord:
    """One video with its ground truth: a description (stage 2) or caption (stage 1), and QA pairs."""

    video: str  # as written in the data file
    path: Path  # resolved absolute path
    description: str | None = None
    caption: str | None = None
    qa: list[QAPair] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str | None:
        """The describe target: the description, else the caption."""
        return self.description if self.description else self.caption

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"video": self.video}
        if self.description is not None:
            d["description"] = self.description
        if self.caption is not None:
            d["caption"] = self.caption
        if self.qa or self.description is not None:
            d["QA"] = [{"q": p.q, "a": p.a} for p in self.qa]
        d.update(self.extra)
        return d


_KNOWN = {"video", "description", "caption", "QA", "qa"}


def _parse_record(raw: dict, i: int, where: str, root: Path) -> HawkRecord:
    video = raw.get("video")
    if not isinstance(video, str) or not video.strip():
        raise DataError(f"{where}: record {i}: 'video' must be a non-empty string")
    for key in ("description", "caption"):
        val = raw.get(key)
        if val is not None and not isinstance(val, str):
            raise DataError(f"{where}: record {i}: {key!r} must be a string, got {type(val).__name__}")
    qa_raw = raw.get("QA", raw.get("qa", []))
    if qa_raw is None:
        qa_raw = []
    if not isinstance(qa_raw, list):
        raise DataError(f"{where}: record {i}: 'QA' must be a list of {{'q', 'a'}} objects")
    qa = []
    for j, p in enumerate(qa_raw):
        if not isinstance(p, dict) or not isinstance(p.get("q"), str) or not isinstance(p.get("a"), str):
            raise DataError(f"{where}: record {i}: QA[{j}] must be an object with string 'q' and 'a'")
        if p["q"].strip() and p["a"].strip():
            qa.append(QAPair(p["q"].strip(), p["a"].strip()))
    desc = (raw.get("description") or "").strip() or None
    cap = (raw.get("caption") or "").strip() or None
    if desc is None and cap is None and not qa:
        raise DataError(f"{where}: record {i} ({video}): no 'description', 'caption' or QA pair to train on")
    p = Path(video).expanduser()
    path = p if p.is_absolute() else (root / p)
    extra = {k: v for k, v in raw.items() if k not in _KNOWN}
    return HawkRecord(video=video, path=path.resolve(), description=desc, caption=cap, qa=qa, extra=extra)


def load_hawk_records(path: Path | str, *, video_root: Path | str | None = None) -> list[HawkRecord]:
    """Read HAWK-format (stage 2) or caption (stage 1) records from JSON or JSONL.

    Raises :class:`DataError` naming the record and field of the first malformed record.
    """
    path = Path(path)
    raws = read_json_or_jsonl(path)
    if not raws:
        raise DataError(f"{path}: holds no records")
    root = Path(video_root) if video_root is not None else path.resolve().parent
    return [_parse_record(r, i, str(path), root) for i, r in enumerate(raws)]


def split_records(records: Sequence[HawkRecord], test_fraction: float = 0.1, seed: int = 0) -> tuple[list[HawkRecord], list[HawkRecord]]:
    """Deterministic train/test split by video (the paper's 90/10).

    Videos are ordered by path, shuffled with ``random.Random(seed)`` and the first
    ``round(n * test_fraction)`` (at least 1 when ``0 < test_fraction`` and there are 2+ videos)
    go to test. The result does not depend on the records' order; both lists keep it.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise InputError(f"test fraction must be in [0, 1), got {test_fraction}")
    videos = sorted({str(r.path) for r in records})
    n_test = round(len(videos) * test_fraction)
    if test_fraction > 0 and n_test == 0 and len(videos) >= 2:
        n_test = 1
    n_test = min(n_test, len(videos) - 1) if videos else 0
    order = videos[:]
    random.Random(seed).shuffle(order)
    test_videos = set(order[:n_test])
    train = [r for r in records if str(r.path) not in test_videos]
    test = [r for r in records if str(r.path) in test_videos]
    return train, test


def write_records(path: Path, records: Iterable[HawkRecord]) -> None:
    """Write records atomically, as a JSON list (``.json``) or JSONL (anything else)."""
    path = Path(path)
    dicts = [r.to_dict() for r in records]
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".json":
            tmp.write_text(json.dumps(dicts, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        else:
            tmp.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in dicts), encoding="utf-8")


def relativize(records: Sequence[HawkRecord], out_dir: Path) -> list[HawkRecord]:
    """Copies of ``records`` whose ``video`` is written relative to ``out_dir`` (absolute if
    that is impossible), so a split file placed in ``out_dir`` resolves to the same videos."""
    import os

    out = []
    for r in records:
        try:
            rel = os.path.relpath(r.path, Path(out_dir).resolve())
        except ValueError:
            rel = str(r.path)
        out.append(HawkRecord(video=rel, path=r.path, description=r.description, caption=r.caption, qa=list(r.qa), extra=dict(r.extra)))
    return out
