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
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..errors import HawkError
from .log import ReviewLog, key_frame_sheet

_PAGE = (Path(__file__).resolve().parents[1] / "assets" / "review.html")


class ReviewServer:
    """``with ReviewServer(log) as srv: print(srv.url)``; :meth:`serve_forever` blocks."""

    def __init__(self, log: ReviewLog, *, host: str = "127.0.0.1", port: int = 0, export: Path | None = None) -> None:
        self.log = log
        self.export_path = Path(export) if export else None
        self.lock = threading.Lock()
        self.frames_dir = log.dataset.with_name(log.dataset.stem + ".review")
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> ReviewServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

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
        video = Path(rec["video"])
        return {
            "index": i,
            "record": rec,
            "decision": self.log.decisions.get(i),
            "has_video": video.is_file(),
            "video_type": mimetypes.guess_type(video.name)[0] or "video/mp4",
        }

    def decide(self, i: int, body: dict) -> dict:
        decision = body.get("decision")
        with self.lock:
            self.log.decide(i, decision, body.get("record") if decision == "edit" else None, note=str(body.get("note", ""))[:500])
        return self.state()

    def frames(self, i: int) -> Path:
        target = self.frames_dir / f"{i + 1:04d}.jpg"
        if not target.exists():
            key_frame_sheet(Path(self.log.records[i]["video"]), target)
        return target

    def _handler(self):
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _json(self, obj, status: int = 200) -> None:
                self._bytes(json.dumps(obj).encode(), "application/json", status)

            def _bytes(self, body: bytes, ctype: str, status: int = 200, extra: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _index(self, m) -> int | None:
                i = int(m.group(1))
                if not 0 <= i < len(srv.log.records):
                    self._json({"error": f"no record {i}"}, 404)
                    return None
                return i

            def do_HEAD(self):
                self.do_GET()

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/":
                        return self._bytes(_PAGE.read_bytes(), "text/html; charset=utf-8")
                    if path == "/api/state":
                        return self._json(srv.state())
                    if m := re.fullmatch(r"/api/record/(\d+)", path):
                        if (i := self._index(m)) is not None:
                            self._json(srv.record(i))
                        return None
                    if m := re.fullmatch(r"/media/(\d+)", path):
                        if (i := self._index(m)) is not None:
                            self._video(Path(srv.log.records[i]["video"]))
                        return None
                    if m := re.fullmatch(r"/frames/(\d+)\.jpg", path):
                        if (i := self._index(m)) is not None:
                            self._bytes(srv.frames(i).read_bytes(), "image/jpeg")
                        return None
                    return self._json({"error": "not found"}, 404)
                except HawkError as e:
                    return self._json({"error": str(e)}, 422)

            def do_POST(self):
                origin = self.headers.get("Origin")
                host = self.headers.get("Host", "")
                if origin and origin.rstrip("/") not in (f"http://{host}",):
                    return self._json({"error": "cross-origin request refused"}, 403)
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0) or 0)) or b"{}")
                except json.JSONDecodeError:
                    return self._json({"error": "body is not JSON"}, 400)
                path = self.path.split("?", 1)[0]
                try:
                    if m := re.fullmatch(r"/api/decide/(\d+)", path):
                        if (i := self._index(m)) is not None:
                            self._json(srv.decide(i, body))
                        return None
                    if path == "/api/export":
                        if srv.export_path is None:
                            return self._json({"error": "start the review with --export PATH to export"}, 400)
                        with srv.lock:
                            n = srv.log.export(srv.export_path)
                        return self._json({"exported": n, "path": str(srv.export_path)})
                    return self._json({"error": "not found"}, 404)
                except HawkError as e:
                    return self._json({"error": str(e)}, 422)

            def _video(self, video: Path) -> None:
                """The file, honouring a single byte Range (browsers seek with it)."""
                if not video.is_file():
                    return self._json({"error": f"video not found: {video}"}, 404)
                size = video.stat().st_size
                ctype = mimetypes.guess_type(video.name)[0] or "application/octet-stream"
                rng = self.headers.get("Range")
                m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng or "")
                if not m or (not m.group(1) and not m.group(2)):
                    return self._bytes(video.read_bytes(), ctype, extra={"Accept-Ranges": "bytes"})
                if m.group(1):
                    start = int(m.group(1))
                    end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
                else:  # suffix range: the last N bytes
                    start, end = max(0, size - int(m.group(2))), size - 1
                if start > end or start >= size:
                    return self._bytes(b"", ctype, 416, {"Content-Range": f"bytes */{size}"})
                with open(video, "rb") as fh:
                    fh.seek(start)
                    data = fh.read(end - start + 1)
                self._bytes(data, ctype, 206, {"Content-Range": f"bytes {start}-{end}/{size}", "Accept-Ranges": "bytes"})

        return Handler
