"""A ``video_url`` -> a video file on disk and its identity (the feature cache's key).

* ``file:///abs/path.mp4`` (or a folder of frames): only inside a folder given with
  ``--allowed-media-path`` (symbolic links resolved first), checked before the file's
  existence is looked at, so the server says nothing about files outside them. Identity:
  the resolved path, size and modification time (an edited file is a new video).
* ``data:video/<type>;base64,<data>``: decoded to a temporary file. Identity: the SHA-256
  of the bytes.
* ``http(s)://...``: refused unless ``--allow-remote-media``; then downloaded (size-capped,
  with a timeout) to a temporary file. Identity: the SHA-256 of the bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..media.video import IMAGE_EXTS, VIDEO_EXTS
from .config import ServeConfig
from .protocol import APIError, bad_request

MIME_EXTS = {
    "video/mp4": ".mp4", "video/mpeg": ".mpg", "video/webm": ".webm", "video/x-matroska": ".mkv",
    "video/matroska": ".mkv", "video/quicktime": ".mov", "video/x-msvideo": ".avi", "video/avi": ".avi",
    "video/mp2t": ".ts", "video/x-flv": ".flv", "video/x-m4v": ".m4v",
}
PARAM = "messages.content.video_url.url"


@dataclass(frozen=True)
class VideoRef:
    """A video a request points at."""

    path: Path  # a file (or frame folder) on disk; a temporary file for data: and http(s)
    key: tuple  # its identity for the feature cache
    label: str  # for logs: a file name, "data URL (N bytes)" or the URL's host
    temporary: bool = False  # delete ``path`` once the video is prepared

    def discard(self) -> None:
        if self.temporary:
            self.path.unlink(missing_ok=True)


def resolve_video_url(url: str, cfg: ServeConfig, tmp_dir: Path) -> VideoRef:
    """See the module doc; raises :class:`APIError` (400 / 403 / 413)."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "file":
        return _local(url, cfg)
    if scheme == "data":
        return _data(url, cfg, tmp_dir)
    if scheme in ("http", "https"):
        return _remote(url, cfg, tmp_dir)
    raise bad_request("the video URL must be file://, data:video/...;base64, or http(s)://", PARAM, "invalid_video_url")


def _is_video(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() in VIDEO_EXTS
    return path.is_dir() and any(p.suffix.lower() in IMAGE_EXTS for p in path.iterdir() if p.is_file())


def _local(url: str, cfg: ServeConfig) -> VideoRef:
    parts = urllib.parse.urlparse(url)
    if parts.netloc not in ("", "localhost"):
        raise bad_request("file:// URLs must name a local path (file:///abs/path)", PARAM, "invalid_video_url")
    raw = urllib.parse.unquote(parts.path)
    if not raw.startswith("/"):
        raise bad_request("file:// URLs need an absolute path", PARAM, "invalid_video_url")
    if not cfg.allowed_media_paths:
        raise APIError(403, "local files are disabled: start the server with --allowed-media-path FOLDER", type="permission_error", param=PARAM, code="media_path_not_allowed")
    path = Path(os.path.realpath(raw))
    if not any(path == root or path.is_relative_to(root) for root in cfg.allowed_media_paths):
        raise APIError(403, "the video is outside the folders this server may read (--allowed-media-path)", type="permission_error", param=PARAM, code="media_path_not_allowed")
    if not path.exists():
        raise bad_request(f"no such video: {raw}", PARAM, "video_not_found")
    if not _is_video(path):
        raise bad_request(f"not a video file (nor a folder of frames): {raw}", PARAM, "invalid_video")
    st = path.stat()
    return VideoRef(path, ("file", str(path), st.st_size, st.st_mtime_ns), path.name)


def _store(data: bytes, ext: str, tmp_dir: Path, label: str) -> VideoRef:
    digest = hashlib.sha256(data).hexdigest()
    fd, name = tempfile.mkstemp(prefix=digest[:16] + ".", suffix=ext, dir=tmp_dir)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return VideoRef(Path(name), ("sha256", digest), label, temporary=True)


def _data(url: str, cfg: ServeConfig, tmp_dir: Path) -> VideoRef:
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise bad_request("a data: URL needs a comma before its data", PARAM, "invalid_video_url")
    fields = header.split(";")
    mime = fields[0].strip().lower()
    if "base64" not in (f.strip().lower() for f in fields[1:]):
        raise bad_request("data: URLs must be base64 (data:video/mp4;base64,...)", PARAM, "invalid_video_url")
    ext = MIME_EXTS.get(mime)
    if ext is None:
        raise bad_request(f"data: URL type {mime or '(none)'!r} is not a video type hawk reads ({', '.join(sorted(MIME_EXTS))})", PARAM, "invalid_video")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("the data: URL's base64 is malformed", PARAM, "invalid_video_url") from None
    if not data:
        raise bad_request("the data: URL holds no bytes", PARAM, "invalid_video")
    return _store(data, ext, tmp_dir, f"data URL ({len(data)} bytes)")


def _remote(url: str, cfg: ServeConfig, tmp_dir: Path) -> VideoRef:
    if not cfg.allow_remote_media:
        raise APIError(403, "remote videos are disabled: start the server with --allow-remote-media", type="permission_error", param=PARAM, code="remote_media_disabled")
    parts = urllib.parse.urlparse(url)
    ext = Path(parts.path).suffix.lower()
    limit = cfg.max_body_bytes
    try:
        with urllib.request.urlopen(url, timeout=cfg.remote_timeout_s) as resp:  # noqa: S310 - opt-in, http(s) only
            if ext not in VIDEO_EXTS:
                ext = MIME_EXTS.get(resp.headers.get_content_type(), ".mp4")
            data = resp.read(limit + 1)
    except urllib.error.HTTPError as e:
        raise bad_request(f"fetching the video failed: HTTP {e.code}", PARAM, "video_fetch_failed") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise bad_request(f"fetching the video failed: {reason}", PARAM, "video_fetch_failed") from None
    if len(data) > limit:
        raise APIError(413, f"the remote video is larger than {cfg.max_body_mb:g} MB", param=PARAM, code="video_too_large")
    return _store(data, ext, tmp_dir, parts.hostname or "remote")
