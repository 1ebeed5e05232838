"""A local web page for `hawk review --web`: the video playing beside its clip captions,
description and QA, editable in place, with accept / reject buttons and keyboard shortcuts.

The server binds 127.0.0.1 only, serves only the videos the dataset names (by record
number, never by path), refuses cross-origin POSTs, and writes every decision through the
same :class:`~hawk_core.review.log.ReviewLog` as the terminal review (one fsynced JSONL line
each), so the two can be mixed and a review resumes wherever it stopped.
"""

from __future__ import annotations

import json
import mimetypes
import socket
import threading
import time
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import HawkError
from .log import ReviewLog, key_frame_sheet

_PAGE = (Path(__file__).resolve().parents[1] / "assets" / "review.html")
_NO_STORE = {"Cache-Control": "no-store"}


class ReviewServer:
    """``with ReviewServer(log) as srv: print(srv.url)``; :meth:`serve_forever` blocks.

    A FastAPI app under uvicorn, like `hawk serve`: videos go out as Starlette
    ``FileResponse`` s, which answer byte ``Range`` requests (browsers seek with them). The
    socket is bound in the constructor, so a busy port is an ``OSError`` there and
    :attr:`url` is known (``port=0``: any free port) before serving starts.
    """

    def __init__(self, log: ReviewLog, *, host: str = "127.0.0.1", port: int = 0, export: Path | None = None) -> None:
        self.log = log
        self.export_path = Path(export) if export else None
        self.lock = threading.Lock()
        self.frames_dir = log.dataset.with_name(log.dataset.stem + ".review")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
            self.sock.listen(64)
        except OSError:
            self.sock.close()
            raise
        self.server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}/"

    def _server(self):
        import uvicorn

        config = uvicorn.Config(self.app(), log_level="warning", access_log=False, server_header=False, timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        return self.server

    def start(self) -> ReviewServer:
        """Serve from a background thread (returns once it answers)."""
        server = self._server()
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until SIGINT / SIGTERM (uvicorn shuts down, then the signal
        reaches the caller's handler, e.g. a KeyboardInterrupt)."""
        self._server().run(sockets=[self.sock])

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self.sock.close()

    def __enter__(self) -> ReviewServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the API ----------------------------------------------------------------------------

    def state(self) -> dict:
        pending = self.log.pending()
        return {
            "dataset": str(self.log.dataset),
            "decisions_file": str(self.log.path),
            "total": len(self.log.records),
            "counts": self.log.counts(),
            "next": pending[0] if pending else None,
            "export": str(self.export_path) if self.export_path else None,
        }

    def record(self, i: int) -> dict:
        rec = self.log.current(i)
        from ..media.video import BROWSER_FOURCCS, video_codec

        video = self.log.video_path(i)
        codec = video_codec(video) if video.is_file() else ""
        return {
            "index": i,
            "record": rec,
            "decision": self.log.decisions.get(i),
            "has_video": video.is_file(),
            "video_type": mimetypes.guess_type(video.name)[0] or "video/mp4",
            "video_codec": codec,
            "playable": codec in BROWSER_FOURCCS,  # '' (unknown): the page still tries, and says so if it fails
        }

    def decide(self, i: int, body: dict) -> dict:
        decision = body.get("decision")
        with self.lock:
            self.log.decide(i, decision, body.get("record") if decision == "edit" else None, note=str(body.get("note", ""))[:500])
        return self.state()

    def frames(self, i: int) -> Path:
        target = self.frames_dir / f"{i + 1:04d}.jpg"
        if not target.exists():
            key_frame_sheet(self.log.video_path(i), target)
        return target

    def app(self):
        """The FastAPI app: the page, its JSON API, the videos and key-frame sheets."""
        srv = self
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

        class _Refused(Exception):
            def __init__(self, status: int, message: str) -> None:
                self.status, self.message = status, message

        def error(status: int, message: str) -> JSONResponse:
            return JSONResponse({"error": message}, status_code=status, headers=_NO_STORE)

        @app.exception_handler(_Refused)
        async def _refused(_request, exc: _Refused):
            return error(exc.status, exc.message)

        @app.exception_handler(HawkError)
        async def _hawk(_request, exc: HawkError):
            return error(422, str(exc))

        @app.exception_handler(StarletteHTTPException)
        async def _http(_request, exc: StarletteHTTPException):
            return error(exc.status_code, "not found" if exc.status_code == 404 else str(exc.detail))

        def index(i: int) -> int:
            if not 0 <= i < len(srv.log.records):
                raise _Refused(404, f"no record {i}")
            return i

        async def same_origin_json(request: Request) -> dict:
            origin = request.headers.get("origin")
            if origin and origin.rstrip("/") != f"http://{request.headers.get('host', '')}":
                raise _Refused(403, "cross-origin request refused")
            try:
                body = json.loads(await request.body() or b"{}")
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise _Refused(400, "body is not JSON") from None
            if not isinstance(body, dict):
                raise _Refused(400, "body is not a JSON object")
            return body

        @app.api_route("/", methods=["GET", "HEAD"])
        def page():
            return HTMLResponse(_PAGE.read_text(encoding="utf-8"), headers=_NO_STORE)

        @app.get("/api/state")
        def state():
            return JSONResponse(srv.state(), headers=_NO_STORE)

        @app.get("/api/record/{i}")
        def record(i: int):
            return JSONResponse(srv.record(index(i)), headers=_NO_STORE)

        @app.api_route("/media/{i}", methods=["GET", "HEAD"])
        def media(i: int):
            video = srv.log.video_path(index(i))
            if not video.is_file():
                raise _Refused(404, f"video not found: {video}")
            ctype = mimetypes.guess_type(video.name)[0] or "application/octet-stream"
            return FileResponse(video, media_type=ctype, headers=_NO_STORE)

        @app.api_route("/frames/{i}.jpg", methods=["GET", "HEAD"])
        def frames(i: int):
            return FileResponse(srv.frames(index(i)), media_type="image/jpeg", headers=_NO_STORE)

        @app.post("/api/decide/{i}")
        async def decide(i: int, request: Request):
            body = await same_origin_json(request)
            return JSONResponse(srv.decide(index(i), body), headers=_NO_STORE)

        @app.post("/api/export")
        async def export(request: Request):
            await same_origin_json(request)
            if srv.export_path is None:
                raise _Refused(400, "start the review with --export PATH to export")
            with srv.lock:
                n = srv.log.export(srv.export_path)
            return JSONResponse({"exported": n, "path": str(srv.export_path)}, headers=_NO_STORE)

        return app
