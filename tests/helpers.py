"""Test helpers: synthetic videos written with OpenCV, CLI runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    from hawk_cli.main import app

    return runner.invoke(app, [str(a) for a in args], input=input)


def moving_square_frames(n: int = 12, size: int = 64, step: int = 3) -> list[np.ndarray]:
    """BGR frames of a white square moving right on a textured background."""
    rng = np.random.default_rng(0)
    bg = (rng.random((size, size, 3)) * 60).astype(np.uint8)
    frames = []
    for i in range(n):
        f = bg.copy()
        x = 5 + i * step
        f[20:36, x : x + 16] = 255
        frames.append(f)
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    import cv2

    h, w = frames[0].shape[:2]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert wr.isOpened()
    for f in frames:
        wr.write(f)
    wr.release()
    return path


def write_frame_folder(folder: Path, frames: list[np.ndarray], ext: str = ".png") -> Path:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i + 1:03d}{ext}"), f)
    return folder


# ---- writer locks: a second, real process holding an output's lock --------------------------

ROOT = Path(__file__).resolve().parents[1]

_HOLDER = (
    "import sys; from pathlib import Path; from hawk_core.locks import output_lock\n"
    "with output_lock(Path(sys.argv[1]), command='test holder'):\n"
    "    print('held', flush=True); sys.stdin.read()\n"
)


def subprocess_env(**extra: str) -> dict:
    """The environment for a `python -m hawk_cli` child: this checkout first on the path."""
    import os

    env = {**os.environ, **extra}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class LockHolder:
    """A separate process holding ``path``'s writer lock until :meth:`release` (or the block ends)."""

    def __init__(self, path: Path) -> None:
        import subprocess
        import sys

        self.proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=subprocess_env())
        line = self.proc.stdout.readline()
        assert line.strip() == "held", line
        self.pid = self.proc.pid

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)

    def __enter__(self) -> LockHolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def hawk(*args: object, timeout: float = 300, **popen) -> "subprocess.CompletedProcess":
    """Run `python -m hawk_cli ARGS` as a real, separate process."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "hawk_cli", *map(str, args)], capture_output=True, text=True,
                          env=subprocess_env(COLUMNS="200"), timeout=timeout, cwd=str(ROOT), **popen)


# ---- a browser that goes away mid-response ------------------------------------------------


def drop_mid_response(port: int, request: bytes, *, reset: bool) -> bytes:
    """Send a raw HTTP ``request`` to 127.0.0.1:``port``, read the start of the answer and
    hang up while the server is still sending (a small receive buffer keeps it sending):
    ``reset`` aborts the connection (RST, as a closed tab does), else a plain close with
    the rest unread. Returns what was read."""
    import socket
    import struct

    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.sendall(request)
        head = c.recv(4096)
        if reset:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return head


def write_small_inputs(folder: Path, video: Path) -> dict:
    """One-record inputs for the commands that read a file: a split of ``video``, a predictions
    file, a texts file to parse."""
    import json

    split = folder / "test.json"
    split.write_text(json.dumps([{"video": str(video), "description": "a fight", "QA": [{"q": "What?", "a": "A fight."}]}]))
    preds = folder / "preds.jsonl"
    preds.write_text(json.dumps({"id": "a", "task": "description", "prediction": "a man runs", "reference": "a man runs away"}) + "\n")
    texts = folder / "texts.jsonl"
    texts.write_text(json.dumps({"id": "t", "text": "A man runs."}) + "\n")
    return {"split": split, "preds": preds, "texts": texts}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """A real `hawk serve ARGS --port P` process, up (its /health answers) inside the block;
    SIGTERM at the end, its output in :attr:`stdout` / :attr:`stderr` and exit status in
    :attr:`returncode` (``merge``: stderr into stdout)."""

    def __init__(self, *args: object, env: dict | None = None, cwd: Path | None = None, merge: bool = False) -> None:
        import subprocess
        import sys

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "hawk_cli", "serve", *map(str, args), "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, env=env or subprocess_env(), cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT if merge else subprocess.PIPE, text=True)
        self.stdout = self.stderr = ""
        self.returncode: int | None = None

    def __enter__(self) -> ServeProcess:
        import time

        import httpx

        deadline = time.time() + 180
        while True:
            assert self.proc.poll() is None, self.proc.communicate()
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, "server did not come up"
            time.sleep(0.3)

    def __exit__(self, *exc: object) -> None:
        import signal

        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            self.stdout, self.stderr = self.proc.communicate(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.stderr = self.stderr or ""
        self.returncode = self.proc.returncode
