"""One writer per output: an exclusive lock file beside each output a command appends to or builds.

``OUT.lock`` holds the writer's pid, host and command line (JSON). The lock itself is an
``fcntl.flock`` on that file, so the operating system releases it when the process exits,
however it exits (SIGKILL included); the file left behind by a killed writer is *stale* and the
next writer takes it over with a :class:`StaleLockWarning`. A second writer on a held output
fails at once with :class:`~hawk_core.errors.OutputLockedError`, or waits with ``wait=True``.

The holder owns the output: taking the lock removes the temporary files and folders
:func:`hawk_core.io.atomic_path` left for it when a writer was killed (a half-written checkpoint
``.step-N.XXXXXXXX.tmp``, a flow output, ``--items``), so a rerun leaves no temp files behind.

Locks are re-entrant within a process (a command and the library code it calls may both lock
the same output). Where ``fcntl`` is missing (Windows) the lock file is written but not enforced.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputLockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class StaleLockWarning(UserWarning):
    """A lock file left by a writer that died was taken over."""


_held: dict[tuple[int, str], list] = {}  # (thread, lock path) -> [fd, depth]: this process's locks
_guard = threading.Lock()


def lock_path(target: Path) -> Path:
    """The lock file of ``target`` (a file or a folder): ``target`` + ``.lock``, beside it."""
    target = Path(target)
    return target.with_name(target.name + ".lock")


def _read_owner(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        owner = json.loads(data.decode("utf-8")) if data.strip() else {}
        return owner if isinstance(owner, dict) else {}
    except (OSError, ValueError):
        return {}


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _open_locked(path: Path, target: Path, wait: bool) -> int:
    """Open ``path`` and flock it; retry if the file was replaced meanwhile (a releasing
    writer unlinks it while still holding the lock)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                except BlockingIOError:
                    owner = _read_owner(fd)
                    pid = owner.get("pid", "unknown")
                    raise OutputLockedError(
                        f"{target} is being written by another hawk process (pid {pid}); "
                        "wait for it, stop it, or pass --wait"
                    ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


@contextlib.contextmanager
def output_lock(target: Path, *, wait: bool = False, command: str | None = None, is_dir: bool | None = None) -> Iterator[Path]:
    """Hold the exclusive lock of ``target`` for the ``with`` block; yields the lock file's path.

    Raises :class:`OutputLockedError` (``TARGET is being written by another hawk process (pid
    N)``) if another process holds it, unless ``wait`` (then block until it is released).
    First, a ``target`` that cannot be written (a parent is a file; with ``is_dir``, the wrong
    kind already there) is an :class:`~hawk_core.errors.InputError` naming it
    (:func:`hawk_core.io.check_output_path`), before any lock file or work.
    """
    from .io import check_output_path, remove_stale_temps

    target = Path(target)
    check_output_path(target, is_dir=is_dir)
    path = lock_path(target)
    key = (threading.get_ident(), str(path.resolve()))  # re-entrant per thread, exclusive across
    with _guard:
        if key in _held:
            _held[key][1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield path
        finally:
            with _guard:
                _held[key][1] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_locked(path, target, wait)
    try:
        previous = _read_owner(fd)
        if previous.get("pid") and previous.get("pid") != os.getpid():
            state = "dead" if not _pid_alive(previous["pid"]) or previous.get("host") != socket.gethostname() else "gone"
            warnings.warn(
                f"took over the stale lock {path} of pid {previous['pid']} ({state}); "
                "its partial output is resumed",
                StaleLockWarning,
                stacklevel=3,
            )
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "command": command or " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(owner) + "\n").encode("utf-8"))
        os.fsync(fd)
        remove_stale_temps(target)  # ours now: what a killed writer left half-written goes
    except BaseException:
        os.close(fd)
        raise
    with _guard:
        _held[key] = [fd, 1]
    try:
        yield path
    finally:
        with _guard:
            _held.pop(key, None)
        try:
            path.unlink(missing_ok=True)  # still holding the lock: a waiter re-checks the inode
        except OSError:
            pass
        os.close(fd)
