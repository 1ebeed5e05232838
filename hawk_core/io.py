"""Small I/O helpers shared by every pipeline: atomic files and folders, resumable JSONL."""

from __future__ import annotations

import contextlib
import errno
import glob
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ConfigError, DataError, InputError, OutputWriteError


_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG})


def check_output_path(target: Path, *, is_dir: bool | None = False) -> None:
    """Raise :class:`InputError` (naming the path) when ``target`` cannot be written: it is an
    existing file where a folder is wanted (or a folder where a file is; ``is_dir=None``: either
    will do), or one of its parents is a file."""
    target = Path(target)
    if is_dir is not None and target.exists() and target.is_dir() != is_dir:
        want, found = ("a folder", "an existing file") if is_dir else ("a file", "an existing folder")
        raise InputError(f"output path {target} is {found}; pass {want} path")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"output path {target}: {parent} is a file, not a folder")
            break


_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # atomic_path's: .NAME.XXXXXXXX.tmp


def remove_stale_temps(target: Path) -> int:
    """Remove the temporary siblings :func:`atomic_path` left for ``target`` (and, for a folder,
    inside it) when its writer was killed and could not; returns how many. Call it only while
    holding ``target``'s writer lock (:func:`hawk_core.locks.output_lock` does): then no live
    writer owns them."""
    target = Path(target)
    found = [p for p in target.parent.glob(f".{glob.escape(target.name)}.*.tmp") if _TEMP_NAME.match(p.name)]
    if target.is_dir():
        found += sorted((p for p in target.rglob(".*.tmp") if _TEMP_NAME.match(p.name)), key=lambda p: len(p.parts))
    removed = 0
    for p in found:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink(missing_ok=True)
        else:
            continue  # inside one already removed
        removed += 1
    return removed


def _apply_umask(path: Path) -> None:
    """Give ``path`` (and, for a folder, everything in it) the modes a plain ``open`` would
    under the user's umask: temp files and some writers (safetensors) create files 0600."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o777 & ~umask)
            for f in files:
                os.chmod(os.path.join(root, f), 0o666 & ~umask)


@contextlib.contextmanager
def atomic_path(target: Path, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``target``; on success rename it onto ``target``.

    On any exception the temporary path is removed, so a failed write never leaves a
    half-written file or folder behind (nor clobbers an existing one). An unwritable
    ``target`` (:func:`check_output_path`) is an :class:`InputError` before anything is written;
    a disk that is full, read-only or not writable is an
    :class:`~hawk_core.errors.OutputWriteError` naming ``target``.
    """
    target = Path(target)
    check_output_path(target, is_dir=is_dir)
    existed = target.exists()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputWriteError(f"cannot write {target}: a file is in the way of its folder {target.parent}") from None
    except OSError as e:
        raise OutputWriteError(f"cannot write {target}: cannot create its folder {target.parent} ({e.strerror or e})") from None
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        _apply_umask(tmp)
        if is_dir:
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException as e:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno in _WRITE_ERRNOS:
            reason = e.strerror or str(e)
        elif isinstance(e, OutputWriteError) and e.reason:  # a writer inside failed: named as the target, not the temp path
            reason = e.reason
        else:
            raise
        kept = f"the previous {target} is unchanged" if existed else "nothing was written"
        raise OutputWriteError(f"cannot write {target}: {reason}; {kept}", reason=reason) from None


def write_json(path: Path, obj: Any, *, indent: int | None = 2) -> None:
    """Write JSON atomically."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")


def read_mapping_file(path: Path, *, what: str = "config file") -> dict:
    """A JSON or YAML (``.yaml``/``.yml``) file holding one mapping (an empty file: ``{}``).
    A missing file or a parse error is a one-line :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ConfigError(f"{path}: reading YAML needs PyYAML (pip install pyyaml); or use JSON") from None
            obj = yaml.safe_load(text)
        else:
            obj = json.loads(text)
    except ConfigError:
        raise
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: cannot parse: invalid JSON at line {e.lineno}: {e.msg}") from None
    except Exception as e:  # noqa: BLE001 - yaml.YAMLError: any parse error becomes one line
        raise ConfigError(f"{path}: cannot parse: invalid YAML ({str(e).splitlines()[0]})") from None
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise ConfigError(f"{path}: expected a mapping, got {type(obj).__name__}")
    return obj


def _is_json_document(head: str | bytes, path: Path) -> bool:
    """A JSON list (or one object in a ``.json`` file) rather than JSONL, by its first character."""
    first = head.lstrip()[:1]
    return first in ("[", b"[") or (first in ("{", b"{") and path.suffix.lower() == ".json")


def _json_document(path: Path, text: str) -> list:
    """The records of a whole-JSON file: a list, ``{"data" | "records" | "annotations": [...]}``
    or one object."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    if isinstance(obj, dict):
        obj = next((obj[k] for k in ("data", "records", "annotations") if isinstance(obj.get(k), list)), [obj])
    if not isinstance(obj, list):
        raise DataError(f"{path}: expected a JSON list of objects")
    return obj


def _jsonl_entries(fp: Any) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line, object, None) for every non-blank line of a JSONL stream (text or bytes), or
    (line, None, problem) for a line that is not UTF-8, not JSON or not an object."""
    import jsonlines

    line = 0

    def numbered() -> Iterator[Any]:
        nonlocal line
        for line, raw in enumerate(fp, 1):  # noqa: B007 - read by the loop below
            yield raw

    reader = jsonlines.Reader(numbered())
    while True:
        try:
            rec = reader.read(type=dict, skip_empty=True)
        except EOFError:
            return
        except jsonlines.InvalidLineError as e:
            cause = e.__cause__
            if isinstance(cause, UnicodeDecodeError):
                problem = f"not UTF-8 (byte {cause.start} of the line)"
            elif cause is None:  # valid JSON, but not an object
                problem = "not a JSON object"
            else:
                problem = f"invalid JSON ({getattr(cause, 'msg', None) or cause})"
            yield e.lineno, None, problem
        else:
            yield line, rec, None


def iter_json_records(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """Every record of a JSON list or JSONL file, for readers that report or skip bad ones:
    ``(number, record, None)``, or ``(number, None, problem)`` for a JSONL line that is not
    UTF-8, not JSON or not an object (or a list item that is not an object). ``number`` is the
    line of a JSONL file (read one line at a time) or the position in a JSON list, from 1. A
    missing, empty or unparseable JSON file raises (:class:`InputError`, :class:`DataError`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head.strip():
        raise DataError(f"{path}: file is empty")
    if _is_json_document(head, path):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not UTF-8 text (byte {e.start})") from None
        for i, rec in enumerate(_json_document(path, text), 1):
            yield (i, rec, None) if isinstance(rec, dict) else (i, None, "not a JSON object")
        return
    with open(path, "rb") as fh:
        yield from _jsonl_entries(fh)


def read_text_file(path: Path, what: str = "file") -> str:
    """A non-empty UTF-8 text file's contents; one-line errors name the path (``what`` names
    the kind of file in the not-found message)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such {what}: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start})") from None
    if not text.strip():
        raise DataError(f"{path}: file is empty")
    return text


def read_json_or_jsonl(path: Path) -> list[dict]:
    """Read a JSON list (or ``{"data": [...]}``) or a JSONL file into a list of dicts.

    Raises :class:`DataError` naming the line of the first malformed JSONL record.
    """
    path = Path(path)
    text = read_text_file(path)
    if _is_json_document(text, path):
        obj = _json_document(path, text)
        if not all(isinstance(r, dict) for r in obj):
            raise DataError(f"{path}: expected a JSON list of objects")
        return obj
    return list(iter_jsonl(io.StringIO(text), path))


def iter_jsonl(fp: Any, path: Path | str) -> Iterator[dict]:
    """The objects of a JSONL stream (blank lines skipped); the first malformed line is a
    one-line :class:`DataError` naming ``path`` and the line number."""
    for line, rec, problem in _jsonl_entries(fp):
        if problem is not None:
            raise DataError(f"{path}: line {line}: {problem}")
        yield rec  # type: ignore[misc]


def read_jsonl_prefix(path: Path) -> list[dict]:
    """The objects of a JSONL log up to its first malformed line (a torn write at a kill)."""
    out: list[dict] = []
    try:
        with open(path, encoding="utf-8") as fh:
            for rec in iter_jsonl(fh, path):
                out.append(rec)
    except (DataError, UnicodeDecodeError):
        pass
    return out


class JsonlAppender:
    """Append records to a JSONL file one line at a time, flushed and fsynced, so an
    interrupted run loses at most the line being written. On open, a truncated last line
    (from a kill mid-write) is dropped, a corrupt complete line (not a JSON object) is dropped
    and its number kept in :attr:`dropped` (the file is rewritten atomically without it, so
    every line stays valid and what follows it is kept), and the keys already written are
    returned by :meth:`done_keys` so a rerun can skip them (and redo the dropped ones).
    A write that fails (disk full, permission) cuts the file back to its last complete line
    and raises :class:`~hawk_core.errors.OutputWriteError`."""

    def __init__(self, path: Path, key: str = "id") -> None:
        self.path = Path(path)
        self.key = key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._done: list[dict] = []
        self.dropped: list[int] = []  # line numbers (from 1) of corrupt lines dropped on open
        if self.path.exists():
            self._repair_and_load()
        self._fh = open(self.path, "a", encoding="utf-8")

    def _repair_and_load(self) -> None:
        raw = self.path.read_bytes()
        good: list[bytes] = []
        good_end = 0  # bytes up to the last complete line (torn tail excluded)
        for number, line in enumerate(raw.splitlines(keepends=True), start=1):
            if not line.endswith(b"\n"):
                break  # torn last line: a kill mid-write
            good_end += len(line)
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                if line.strip():
                    self.dropped.append(number)
                continue
            if isinstance(rec, dict):
                self._done.append(rec)
                good.append(line)
            else:
                self.dropped.append(number)
        if self.dropped:
            with atomic_path(self.path) as tmp:
                tmp.write_bytes(b"".join(good))
        elif good_end != len(raw):
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)

    @property
    def existing(self) -> list[dict]:
        return list(self._done)

    def done_keys(self) -> set:
        return {r.get(self.key) for r in self._done if self.key in r}

    def write(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        end = self._fh.tell()
        try:
            self._fh.write(line)
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as e:
            self._cut_back(end)
            raise OutputWriteError(f"cannot write {self.path}: {e.strerror or e}; its complete lines are kept, rerun to resume",
                                   reason=e.strerror or str(e)) from None

    def _cut_back(self, end: int) -> None:
        """After a failed write: drop the partial line (the file ends at its last complete line)."""
        try:
            self._fh.close()
        except OSError:
            pass
        try:
            with open(self.path, "r+b") as fh:
                fh.truncate(end)
        except OSError:
            pass
        self._fh = open(self.path, "a", encoding="utf-8")

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
