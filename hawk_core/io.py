"""Small I/O helpers shared by every pipeline: atomic files and folders, resumable JSONL."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import DataError, InputError


@contextlib.contextmanager
def atomic_path(target: Path, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``target``; on success rename it onto ``target``.

    On any exception the temporary path is removed, so a failed write never leaves a
    half-written file or folder behind (nor clobbers an existing one).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, (0o777 if is_dir else 0o666) & ~umask)
        if is_dir:
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any, *, indent: int | None = 2) -> None:
    """Write JSON atomically."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json_or_jsonl(path: Path) -> list[dict]:
    """Read a JSON list (or ``{"data": [...]}``) or a JSONL file into a list of dicts.

    Raises :class:`DataError` naming the line of the first malformed JSONL record.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start})") from None
    stripped = text.lstrip()
    if not stripped:
        raise DataError(f"{path}: file is empty")
    if stripped[0] == "[" or (stripped[0] == "{" and path.suffix.lower() == ".json"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
        if isinstance(obj, dict):
            for key in ("data", "records", "annotations"):
                if isinstance(obj.get(key), list):
                    obj = obj[key]
                    break
            else:
                obj = [obj]
        if not isinstance(obj, list) or not all(isinstance(r, dict) for r in obj):
            raise DataError(f"{path}: expected a JSON list of objects")
        return obj
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {lineno}: invalid JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise DataError(f"{path}: line {lineno}: expected a JSON object")
        records.append(rec)
    return records


class JsonlAppender:
    """Append records to a JSONL file one line at a time, flushed and fsynced, so an
    interrupted run loses at most the line being written. On open, a truncated last line
    (from a kill mid-write) is dropped, and the keys already written are returned by
    :meth:`done_keys` so a rerun can skip them."""

    def __init__(self, path: Path, key: str = "id") -> None:
        self.path = Path(path)
        self.key = key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._done: list[dict] = []
        if self.path.exists():
            self._repair_and_load()
        self._fh = open(self.path, "a", encoding="utf-8")

    def _repair_and_load(self) -> None:
        raw = self.path.read_bytes()
        good_end = 0
        pos = 0
        for line in raw.splitlines(keepends=True):
            pos += len(line)
            if not line.endswith(b"\n"):
                break  # torn last line
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                if line.strip():
                    break
                good_end = pos
                continue
            if isinstance(rec, dict):
                self._done.append(rec)
            good_end = pos
        if good_end != len(raw):
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)

    @property
    def existing(self) -> list[dict]:
        return list(self._done)

    def done_keys(self) -> set:
        return {r.get(self.key) for r in self._done if self.key in r}

    def write(self, record: dict) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
