"""Motion language of a whole dataset file (``hawk parse --in FILE --out FILE``).

Input: a HAWK-format JSON list or JSONL file, ``{"video", "description", "QA": [{"q", "a"}]}``
per record; HIVAU-style records with an ``answer`` (or the original ``anwser``) field work too.
Every text of a record - its description and each answer - is parsed; the record is written
back with one added key::

    "motion": {"source_index": 0,
               "description": {"text": "man hits car; ...", "phrases": [{...}, ...]},
               "QA": [{"text": ..., "phrases": [...]}, ...]}

Output is JSONL written one record at a time (:class:`hawk_core.io.JsonlAppender`), so a
killed run keeps what it finished and a rerun resumes after it. An output named ``*.json``
is assembled from a side ``*.json.partial.jsonl`` file and written atomically at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError, InputError
from ..io import JsonlAppender, iter_json_records, write_json
from .phrases import CHUNK_CHARS, iter_phrases, motion_text

ANSWER_KEYS = ("answer", "anwser")  # HIVAU-70k spells it "anwser"


@dataclass
class BatchSummary:
    records: int = 0  # written by this run
    resumed: int = 0  # already in the output, skipped
    texts: int = 0
    phrases: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line or record number, why)
    seconds: float = 0.0
    out: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "resumed": self.resumed,
            "texts": self.texts,
            "phrases": self.phrases,
            "bad": [{"line": n, "error": e} for n, e in self.bad],
            "seconds": round(self.seconds, 3),
            "out": self.out,
        }


def record_texts(record: dict) -> list[tuple[tuple, str]]:
    """(slot, text) of every text in a record: ("description",), ("QA", i), ("answer",).
    Raises :class:`DataError` when a field has the wrong type or there is no text at all."""
    out: list[tuple[tuple, str]] = []
    if "description" in record:
        if not isinstance(record["description"], str):
            raise DataError("'description' is not a string")
        out.append((("description",), record["description"]))
    if "QA" in record:
        qa = record["QA"]
        if not isinstance(qa, list):
            raise DataError("'QA' is not a list")
        for i, item in enumerate(qa):
            ans = item.get("a", item.get("answer")) if isinstance(item, dict) else None
            if not isinstance(ans, str):
                raise DataError(f"QA[{i}] has no string answer 'a'")
            out.append((("QA", i), ans))
    for key in ANSWER_KEYS:
        if key in record:
            if not isinstance(record[key], str):
                raise DataError(f"{key!r} is not a string")
            out.append(((key,), record[key]))
            break
    if not out:
        raise DataError("no text to parse (expected 'description', 'QA' answers or 'answer')")
    return out


def count_records(path: Path) -> int:
    """Records in a JSONL file (non-empty lines) or JSON list, for a progress bar."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    with open(path, "rb") as fh:
        first = fh.read(4096).lstrip()[:1]
        if first == b"[" or (first == b"{" and path.suffix.lower() == ".json"):
            return sum(1 for _ in iter_json_records(path))
        fh.seek(0)
        return sum(1 for line in fh if line.strip())


def _partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial.jsonl")


def parse_file(
    in_path: Path,
    out_path: Path,
    nlp,
    *,
    batch_size: int = 64,
    n_process: int = 1,
    skip_bad: bool = False,
    overwrite: bool = False,
    chunk_chars: int = CHUNK_CHARS,
    on_record: Callable[[int], None] | None = None,
) -> BatchSummary:
    """Parse every text of every record of ``in_path`` into ``out_path`` (see the module doc).

    ``on_record(n)`` is called as records complete (also for resumed and bad ones), for a
    progress bar. A malformed record stops the run with a :class:`DataError` naming its line
    unless ``skip_bad``; what was written before it is kept, so a rerun resumes.
    """
    in_path, out_path = Path(in_path), Path(out_path)
    if in_path.resolve() == out_path.resolve():
        raise InputError("--out must differ from --in")
    as_json = out_path.suffix.lower() == ".json"
    sink = _partial_path(out_path) if as_json else out_path
    if overwrite:
        sink.unlink(missing_ok=True)
        if as_json:
            out_path.unlink(missing_ok=True)
    elif as_json and out_path.exists() and not sink.exists():
        raise InputError(f"{out_path} already exists; pass --overwrite to replace it")
    summary = BatchSummary(out=str(out_path))
    t0 = time.perf_counter()
    progress = on_record or (lambda n: None)
    created = not sink.exists()
    with JsonlAppender(sink) as app:
        done = {m["source_index"] for r in app.existing if isinstance(m := r.get("motion"), dict) and isinstance(m.get("source_index"), int)}
        pending: dict[int, dict] = {}
        stop: list[str] = []

        def texts() -> Iterator[tuple[str, tuple[int, tuple]]]:
            for index, (lineno, rec, err) in enumerate(iter_json_records(in_path)):
                if index in done:
                    summary.resumed += 1
                    progress(1)
                    continue
                if err is None:
                    try:
                        slots = record_texts(rec)  # type: ignore[arg-type]
                    except DataError as e:
                        err = str(e)
                if err is not None:
                    if not skip_bad:  # stop feeding; what is in flight is still written
                        stop.append(f"{in_path}: line {lineno}: {err}; pass --skip-bad to skip bad records")
                        return
                    summary.bad.append((lineno, err))
                    progress(1)
                    continue
                pending[index] = {"record": rec, "left": len(slots), "out": {}}
                for slot, text in slots:
                    yield text, (index, slot)

        for phrases, (index, slot) in iter_phrases(texts(), nlp, batch_size=batch_size, n_process=n_process, chunk_chars=chunk_chars):
            entry = pending[index]
            entry["out"][slot] = {"text": motion_text(phrases), "phrases": [p.to_dict() for p in phrases]}
            summary.texts += 1
            summary.phrases += len(phrases)
            entry["left"] -= 1
            if entry["left"] == 0:
                del pending[index]
                app.write(_with_motion(entry["record"], index, entry["out"]))
                summary.records += 1
                progress(1)
    if stop:
        if created and sink.stat().st_size == 0:
            sink.unlink()  # a bad input leaves no output behind
        raise DataError(stop[0])
    if as_json:
        _export_json(sink, out_path)
    summary.seconds = time.perf_counter() - t0
    return summary


def _export_json(partial: Path, out_path: Path) -> None:
    """The finished ``*.partial.jsonl`` as the JSON list ``out_path``, in input order."""
    rows = {}
    with open(partial, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                rows[r["motion"]["source_index"]] = r
    write_json(out_path, [rows[k] for k in sorted(rows)])
    partial.unlink(missing_ok=True)


def _with_motion(record: dict, index: int, out: dict[tuple, dict]) -> dict:
    motion: dict[str, Any] = {"source_index": index}
    qa = sorted((slot[1], v) for slot, v in out.items() if slot[0] == "QA")
    for slot, v in out.items():
        if slot[0] != "QA":
            motion[slot[0]] = v
    if qa:
        motion["QA"] = [v for _, v in qa]
    return {**record, "motion": motion}
