"""HAWK-format records: the one record type (:class:`HawkRecord`) and the one parser
(:func:`parse_record`, :func:`load_hawk_records`) every command uses (train, split, predict,
review, score, synth), the task names (:data:`TASKS`, :func:`canonical_task`), plus the seeded
split by video.

Two record kinds, read from JSON (a list, or ``{"data": [...]}``) or JSONL:

* stage 2, HAWK format (the paper's anomaly set, the authors' release's JSON)::

    {"video": "clips/a.mp4", "description": "A man ...", "QA": [{"q": "Who ...?", "a": "..."}]}

* stage 1, caption records (WebVid-style)::

    {"video": "clips/b.mp4", "caption": "A dog runs on a beach."}

Relative video paths are resolved against the data file's folder (or ``video_root``). Fields
other than these are kept in :attr:`HawkRecord.extra`. Errors name the file, the record
(numbered from 1) and its video: ``data.json: record 3 (clips/a.mp4): QA item 2 must be ...``.

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
    a: str | None  # None only where answers are optional (``parse_record(answers=False)``)


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

#: What a record must hold besides its video (``need`` of :func:`parse_record`).
NEED_TARGET = "target"  # a description, caption or QA pair to train on (train, split)
NEED_DESCRIPTION = "description"  # the text being checked (review, synth --check)
NEED_VIDEO = "video"  # nothing more (predict, score references)


def canonical_task(name: object) -> str | None:
    """The task a file's ``task`` value names (case and spacing ignored, ``"describe"`` read
    as ``"description"``); None when it names none of :data:`TASKS`."""
    if not isinstance(name, str):
        return None
    key = name.strip().lower()
    key = TASK_ALIASES.get(key, key)
    return key if key in TASKS else None


def _resolve(video: str, root: Path | None) -> Path:
    p = Path(video).expanduser()
    if not p.is_absolute():
        p = (root if root is not None else Path.cwd()) / p
    return p.resolve()


def _parse_qa(raw: dict, where: str, answers: bool) -> list[QAPair]:
    qa_raw = raw.get("QA", raw.get("qa"))
    if qa_raw is None:
        return []
    if not isinstance(qa_raw, list):
        raise DataError(f"{where}: 'QA' must be a list of {{'q', 'a'}} objects")
    need = "a non-empty string 'q' and a string 'a'" if answers else "a non-empty string 'q' (and, if any, a string 'a')"
    qa = []
    for j, p in enumerate(qa_raw, 1):
        a = p.get("a") if isinstance(p, dict) else None
        if not isinstance(p, dict) or not isinstance(p.get("q"), str) or not p["q"].strip() \
                or not (isinstance(a, str) or (a is None and not answers)):
            raise DataError(f"{where}: QA item {j} must be an object with {need}")
        a = a.strip() if isinstance(a, str) else None
        if a or not answers:  # a pair without an answer has nothing to train on or score against
            qa.append(QAPair(p["q"].strip(), a or None))
    return qa


def parse_record(raw: Any, where: str, *, root: Path | None = None, need: str = NEED_TARGET,
                 answers: bool = True) -> HawkRecord:
    """The one validation of a HAWK-format (or caption) record; ``where`` names it in errors
    (``"data.json: record 3"``).

    ``video`` must be a non-empty string (resolved against ``root``, default the working
    directory); ``description`` and ``caption``, when present, strings; ``QA`` a list of
    ``{"q", "a"}`` objects, each with a non-empty question. ``need`` says what else the record
    must hold (:data:`NEED_TARGET`, :data:`NEED_DESCRIPTION`, :data:`NEED_VIDEO`). With
    ``answers`` (the default) every pair needs a string answer and pairs whose answer is blank
    are dropped; without, an answer may be absent (``QAPair.a`` None) and every pair is kept,
    in order. Texts are stripped; other fields are kept in :attr:`HawkRecord.extra`.
    Raises :class:`DataError`.
    """
    if not isinstance(raw, dict):
        raise DataError(f"{where}: not a JSON object")
    video = raw.get("video")
    if not isinstance(video, str) or not video.strip():
        raise DataError(f"{where}: 'video' must be a non-empty string (the video's path)")
    where = f"{where} ({video})"
    for key in ("description", "caption"):
        val = raw.get(key)
        if val is not None and not isinstance(val, str):
            raise DataError(f"{where}: {key!r} must be a string, got {type(val).__name__}")
    qa = _parse_qa(raw, where, answers)
    desc = (raw.get("description") or "").strip() or None
    cap = (raw.get("caption") or "").strip() or None
    if need == NEED_TARGET and desc is None and cap is None and not qa:
        raise DataError(f"{where}: no 'description', 'caption' or QA pair to train on")
    if need == NEED_DESCRIPTION and desc is None:
        raise DataError(f"{where}: missing 'description' (a non-empty string)")
    extra = {k: v for k, v in raw.items() if k not in _KNOWN}
    return HawkRecord(video=video, path=_resolve(video, root), description=desc, caption=cap, qa=qa, extra=extra)


def parse_records(raws: Sequence[Any], source: Path | str, **options: Any) -> list[HawkRecord]:
    """:func:`parse_record` over a file's records, numbered from 1 in errors
    (``"SOURCE: record N (VIDEO): ..."``)."""
    return [parse_record(r, f"{source}: record {i}", **options) for i, r in enumerate(raws, 1)]


def read_raw_records(path: Path | str) -> list[dict]:
    """The records of a JSON / JSONL file as written (for callers that keep the dicts, e.g.
    review); :class:`DataError` when it holds none."""
    raws = read_json_or_jsonl(Path(path))
    if not raws:
        raise DataError(f"{path}: holds no records")
    return raws


def resolve_video_path(video: str, data_path: Path, video_root: Path | None = None) -> Path:
    """A data file's video path on disk: absolute as is; relative to ``video_root`` when given,
    else to the data file's folder, else to the working directory (first that exists). The
    one resolver of `hawk predict` and `hawk review` (terminal and web)."""
    p = Path(video).expanduser()
    if p.is_absolute():
        return p
    bases = [video_root] if video_root is not None else [Path(data_path).resolve().parent, Path.cwd()]
    for base in bases:
        if (base / p).exists():
            return base / p
    return bases[0] / p


def load_hawk_records(path: Path | str, *, video_root: Path | str | None = None, **options: Any) -> list[HawkRecord]:
    """Read HAWK-format (stage 2) or caption (stage 1) records from JSON or JSONL.

    Relative videos resolve against ``video_root``, else the file's folder; ``options`` go
    to :func:`parse_record`. Raises :class:`DataError` naming the record and field of the
    first malformed record.
    """
    path = Path(path)
    raws = read_raw_records(path)
    root = Path(video_root) if video_root is not None else path.resolve().parent
    return parse_records(raws, path, root=root, **options)


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
