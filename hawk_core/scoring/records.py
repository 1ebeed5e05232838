"""Prediction records and their references.

A predictions file is JSONL (or a JSON list) of records::

    {"id": "...", "video": "...", "task": "description" | "qa", "question": "...",
     "prediction": "...", "reference": "..."}

``video`` and ``question`` are optional except where they are needed (``question`` for the
``qa`` task; ``video`` to join a reference), ``reference`` may be a string or a list of
strings (several references). Records without an inline reference are joined from a
HAWK-format data file (``{"video", "description", "QA": [{"q", "a"}]}``): a description by
its video, an answer by (video, question). Videos match by exact path first, then by file
name when that name is unique in the data file; questions match ignoring case and spacing.

Policy for bad records (documented in ``hawk score --help``):

* the file cannot be read / is not JSON(L)                      -> :class:`DataError`
* a line that is not UTF-8 or not a JSON object, a record without ``id``, ``task`` or
  ``prediction``, an unknown task, a ``qa`` record without ``question``, a duplicate ``id``
                                                                 -> :class:`DataError` naming the
  line, or with ``skip_invalid=True`` a counted skip (the first of duplicate ids is kept)
* no reference inline and none joinable                         -> counted (``unjoined``), skipped
* an empty (whitespace-only) prediction                         -> counted (``empty``); scored as
  an empty answer (BLEU 0 matches, semantic 0, judge 0 without a request), or skipped and
  counted with ``skip_empty=True``
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.records import NEED_VIDEO, TASK_QA, TASKS, canonical_task, parse_records
from ..errors import DataError
from ..io import iter_json_records, read_json_or_jsonl



@dataclass(frozen=True)
class ScoreItem:
    """One prediction ready to score, with its reference(s)."""

    id: str
    task: str  # "description" | "qa"
    prediction: str
    references: tuple[str, ...]
    question: str | None = None
    video: str | None = None
    fields: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_empty(self) -> bool:
        return not self.prediction.strip()

    def group_value(self, name: str) -> str:
        """The value of field ``name`` (prediction record first, then the joined reference
        record), as a string; ``(none)`` when absent."""
        value = self.fields.get(name)
        if value is None:
            return "(none)"
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@dataclass
class InvalidRecord:
    line: int
    reason: str


@dataclass
class LoadedPredictions:
    """The scorable items of one predictions file and what was left out, counted."""

    path: Path
    items: list[ScoreItem]
    total: int = 0
    unjoined: int = 0
    empty: int = 0
    skipped_empty: int = 0
    invalid: list[InvalidRecord] = field(default_factory=list)
    duplicates: int = 0
    unjoined_examples: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "records": self.total,
            "scored": len(self.items),
            "unjoined": self.unjoined,
            "empty": self.empty,
            "skipped_empty": self.skipped_empty,
            "invalid": len(self.invalid),
            "duplicate_ids": self.duplicates,
        }


def _norm_question(q: str) -> str:
    return " ".join(q.lower().split()).rstrip(" ?.!")


class ReferenceIndex:
    """References from a HAWK-format data file, looked up by video (and question)."""

    def __init__(self, records: list[dict], source: str = "<refs>") -> None:
        self.source = source
        self._desc: dict[str, list[str]] = {}
        self._qa: dict[tuple[str, str], list[str]] = {}
        self._extra: dict[str, dict[str, Any]] = {}
        self._by_name: dict[str, set[str]] = {}
        self.num_records = len(records)
        for rec in parse_records(records, source, need=NEED_VIDEO):
            video = rec.video
            if rec.description:
                self._desc.setdefault(video, []).append(rec.description)
            for pair in rec.qa:
                self._qa.setdefault((video, _norm_question(pair.q)), []).append(pair.a)
            extra = dict(rec.extra) if rec.caption is None else {"caption": rec.caption, **rec.extra}
            self._extra.setdefault(video, extra)
            self._by_name.setdefault(_basename(video), set()).add(video)

    @classmethod
    def from_file(cls, path: Path) -> ReferenceIndex:
        return cls(read_json_or_jsonl(Path(path)), source=str(path))

    def resolve_video(self, video: str) -> str | None:
        if video in self._extra:
            return video
        candidates = self._by_name.get(_basename(video), set())
        return next(iter(candidates)) if len(candidates) == 1 else None

    def lookup(self, task: str, video: str | None, question: str | None) -> tuple[list[str], dict[str, Any]]:
        """References (possibly several) and the data record's extra fields; ([], {}) if none."""
        if not video:
            return [], {}
        key = self.resolve_video(video)
        if key is None:
            return [], {}
        if task == "description":
            refs = self._desc.get(key, [])
        else:
            refs = self._qa.get((key, _norm_question(question or "")), [])
        return list(refs), self._extra.get(key, {})


def _basename(video: str) -> str:
    return os.path.basename(video.replace("\\", "/"))


def _record_id(rec: dict) -> str | None:
    rid = rec.get("id")
    if rid is None or isinstance(rid, (dict, list, bool)) or (isinstance(rid, str) and not rid.strip()):
        return None
    return str(rid)


def _invalid_reason(rec: dict, rid: str) -> str | None:
    """Why a prediction record (with an id) cannot be scored; None when it can."""
    task = canonical_task(rec.get("task"))
    if task is None:
        return f"id {rid!r}: task must be one of {', '.join(TASKS)} (got {rec.get('task')!r})"
    if not isinstance(rec.get("prediction"), str):
        return f"id {rid!r}: 'prediction' is missing or not a string"
    question = rec.get("question")
    if question is not None and not isinstance(question, str):
        return f"id {rid!r}: 'question' must be a string"
    if task == TASK_QA and not (question or "").strip():
        return f"id {rid!r}: a qa record needs its 'question'"
    if rec.get("video") is not None and not isinstance(rec["video"], str):
        return f"id {rid!r}: 'video' must be a string"
    if rec.get("reference") is not None and _as_refs(rec["reference"]) is None:
        return f"id {rid!r}: 'reference' must be a string or a list of strings"
    return None


def _as_refs(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v for v in value if v.strip()]
    return None


def load_predictions(
    path: Path,
    refs: ReferenceIndex | None = None,
    *,
    skip_invalid: bool = False,
    skip_empty: bool = False,
) -> LoadedPredictions:
    """Read a predictions file, validate every record and attach references.

    Raises :class:`DataError` on the first invalid record unless ``skip_invalid``; raises
    when nothing at all can be scored (every record invalid or unjoined).
    """
    path = Path(path)
    out = LoadedPredictions(path=path, items=[])
    seen: dict[str, int] = {}

    def bad(line: int, reason: str) -> None:
        if not skip_invalid:
            raise DataError(f"{path}: line {line}: {reason} (pass --skip-invalid to skip and count such records)")
        out.invalid.append(InvalidRecord(line, reason))

    for lineno, rec, problem in iter_json_records(path):
        out.total += 1
        if problem:
            bad(lineno, problem)
            continue
        assert rec is not None
        rid = _record_id(rec)
        if rid is None:
            bad(lineno, "record has no 'id'")
            continue
        if rid in seen:
            out.duplicates += 1
            bad(lineno, f"duplicate id {rid!r} (first on line {seen[rid]})")
            continue
        seen[rid] = lineno
        reason = _invalid_reason(rec, rid)
        if reason is not None:
            bad(lineno, reason)
            continue
        task_key, pred, question, video = canonical_task(rec["task"]), rec["prediction"], rec.get("question"), rec.get("video")
        extra: dict[str, Any] = {}
        references = _as_refs(rec.get("reference")) or []
        if not references and refs is not None:
            references, extra = refs.lookup(task_key, video, question)
        if not references:
            out.unjoined += 1
            if len(out.unjoined_examples) < 3:
                out.unjoined_examples.append(rid)
            continue
        if not pred.strip():
            out.empty += 1
            if skip_empty:
                out.skipped_empty += 1
                continue
        fields = {**extra, **rec}
        out.items.append(
            ScoreItem(
                id=rid, task=task_key, prediction=pred, references=tuple(references),
                question=question, video=video, fields=fields,
            )
        )
    if not out.items:
        why = []
        if out.unjoined:
            why.append(f"{out.unjoined} without a reference" + ("" if refs is not None else " (no inline 'reference'; pass --refs DATA.json)"))
        if out.invalid:
            why.append(f"{len(out.invalid)} invalid (first: line {out.invalid[0].line}: {out.invalid[0].reason})")
        if out.skipped_empty:
            why.append(f"{out.skipped_empty} empty")
        raise DataError(f"{path}: no record can be scored" + (f": {'; '.join(why)}" if why else ""))
    return out

