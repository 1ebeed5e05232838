"""Reading videos: a frame sampler that streams a video once and keeps only what it needs.

A *video* is a file OpenCV can decode (mp4, avi, mkv, ...) or a folder of images taken as
frames in natural-sort order (UCSD Ped and CUHK Avenue ship .tif/.jpg folders).

Sampling (``uniform``, the default): the video's N native frames are cut into T equal
segments and the centre frame of each is taken, index ``floor((i + 0.5) * N / T)``
(``index_rule="centre"``), or the first, ``floor(i * N / T)`` (``"start"``, the authors'
release). For the motion modality each sampled frame also needs its predecessor (native frame
``index - 1``); the first native frame has none, so its successor is used instead. Only these
<= 2T frames are decoded to pixels and kept, resized to the model size, so memory does not
grow with the video's length.

Videos shorter than T frames are sampled with repetition (indices repeat;
``short_clips="repeat"``), so callers get exactly T frames, and
:attr:`SampledClip.num_unique` tells how many are distinct; or (``"all"``, the release's
rule) every one of the N frames is taken once and the clip has T = N frames.

Frame counts from container metadata are not trusted blindly: the stream is read to the
reported end plus one frame; if it ends early, or goes on past the reported count, the true
count is measured and the sampling redone (a second pass, only for such files).

Aspect ratio (``resize``): ``squash`` (default) scales the whole frame to ``size x size``
without keeping the aspect ratio, as the authors' release does: nothing at the edge of a
surveillance view is lost, at the cost of a stretched image. ``crop`` scales the short side
to ``size`` and centre-crops; ``pad`` letterboxes with black.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import VideoError

os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
import cv2  # noqa: E402

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv", ".ts"}
RESIZE_MODES = ("squash", "crop", "pad")
SAMPLING_MODES = ("uniform", "consecutive")
INDEX_RULES = ("centre", "start")
SHORT_CLIP_RULES = ("repeat", "all")


@dataclass
class SampledClip:
    """T frames sampled from one video, RGB uint8 at the model size."""

    frames: np.ndarray  # (T, S, S, 3) uint8 RGB
    prev_frames: np.ndarray | None  # (T, S, S, 3) uint8 RGB, the frame before each (for flow)
    indices: np.ndarray  # (T,) native frame index of each sampled frame
    prev_indices: np.ndarray  # (T,) native index of the frame paired with each for flow
    timestamps: np.ndarray  # (T,) seconds
    num_native_frames: int
    fps: float
    native_size: tuple[int, int]  # (width, height)
    source: str
    meta: dict = field(default_factory=dict)

    @property
    def frame_times(self) -> list[float]:
        """Seconds of each sampled frame as ``index / fps`` (the release's timestamps, which
        ignore container timestamps)."""
        return [float(i) / self.fps for i in self.indices.tolist()]

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def num_unique(self) -> int:
        return int(len(np.unique(self.indices)))

    @property
    def duration(self) -> float:
        return self.num_native_frames / self.fps if self.fps > 0 else 0.0


def natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def is_video_path(path: Path) -> bool:
    """True for a video file, or a folder holding image frames (and no sub-videos)."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() in VIDEO_EXTS
    if path.is_dir():
        return any(p.suffix.lower() in IMAGE_EXTS for p in path.iterdir() if p.is_file())
    return False


def find_videos(root: Path) -> list[Path]:
    """Videos under ``root``: video files (recursively) and leaf folders of image frames."""
    root = Path(root)
    if not root.is_dir():
        raise VideoError(f"not a folder: {root}")
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort(key=natural_key)
        d = Path(dirpath)
        if d != root and any(Path(f).suffix.lower() in IMAGE_EXTS for f in filenames):
            found.append(d)
            dirnames[:] = []
            continue
        for f in sorted(filenames, key=natural_key):
            if Path(f).suffix.lower() in VIDEO_EXTS:
                found.append(d / f)
    return found


def uniform_indices(n: int, t: int, rule: str = "centre", short: str = "repeat") -> np.ndarray:
    """One frame of each of ``t`` equal segments of ``n`` frames: the centre
    (``floor((i + 0.5) * n / t)``) or the start (``floor(i * n / t)``). When n < t:
    ``short="repeat"`` repeats frames to keep ``t``; ``"all"`` returns the n frames."""
    if n <= 0 or t <= 0:
        raise VideoError(f"cannot sample {t} frames from {n}")
    if rule not in INDEX_RULES:
        raise VideoError(f"unknown frame index rule {rule!r}; choose one of {', '.join(INDEX_RULES)}")
    if short not in SHORT_CLIP_RULES:
        raise VideoError(f"unknown short-clip rule {short!r}; choose one of {', '.join(SHORT_CLIP_RULES)}")
    if n < t and short == "all":
        t = n
    if rule == "start":
        return (np.arange(t, dtype=np.int64) * n) // t
    return np.minimum(((np.arange(t) + 0.5) * n / t).astype(np.int64), n - 1)


def consecutive_indices(n: int, t: int, start: int = 0) -> np.ndarray:
    """``t`` consecutive frames from ``start`` (clamped to the video)."""
    start = max(0, min(start, max(n - t, 0)))
    return np.minimum(np.arange(start, start + t), n - 1).astype(np.int64)


def predecessor_indices(indices: np.ndarray, n: int) -> np.ndarray:
    prev = indices - 1
    prev[indices == 0] = 1 if n > 1 else 0
    return prev


def resize_frame(frame: np.ndarray, size: int, mode: str = "squash") -> np.ndarray:
    """Resize an HxWx3 frame to ``size x size`` by ``mode`` (see module doc)."""
    h, w = frame.shape[:2]
    interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR
    if mode == "squash":
        return cv2.resize(frame, (size, size), interpolation=interp)
    if mode == "crop":
        s = size / min(h, w)
        nh, nw = max(size, round(h * s)), max(size, round(w * s))
        r = cv2.resize(frame, (nw, nh), interpolation=interp)
        y, x = (nh - size) // 2, (nw - size) // 2
        return np.ascontiguousarray(r[y : y + size, x : x + size])
    if mode == "pad":
        s = size / max(h, w)
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        r = cv2.resize(frame, (nw, nh), interpolation=interp)
        out = np.zeros((size, size, 3), dtype=frame.dtype)
        y, x = (size - nh) // 2, (size - nw) // 2
        out[y : y + nh, x : x + nw] = r
        return out
    raise VideoError(f"unknown resize mode {mode!r}; choose one of {', '.join(RESIZE_MODES)}")


def to_model_rgb(frame: np.ndarray, size: int, resize: str = "squash") -> np.ndarray:
    """A decoded OpenCV frame (BGR, gray or BGRA) -> ``size x size`` RGB uint8 for the model."""
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return cv2.cvtColor(resize_frame(frame, size, resize), cv2.COLOR_BGR2RGB)


# Codecs hawk writes into .mp4: H.264 and VP9 play in browsers (`hawk review --web`); MPEG-4
# Part 2 (mp4v) is what every OpenCV build can write, and browsers do not play it. OpenCV's
# pip wheels carry no H.264 encoder; VP9 they can write, about 50x slower than mp4v.
CODECS = ("auto", "h264", "vp9", "mp4v")
_CODEC_FOURCC = {"h264": "avc1", "vp9": "vp09", "mp4v": "mp4v"}
# what OpenCV reports (lower case) for streams browsers play
BROWSER_FOURCCS = frozenset({"avc1", "h264", "avc3", "vp80", "vp90", "vp09", "vp08", "av01"})
NOT_PLAYABLE = ("this OpenCV has no H.264 encoder: videos are MPEG-4 Part 2 (mp4v), which browsers do not "
                "play (hawk review --web); --codec vp9 writes browser-playable ones (slower)")


@functools.cache
def can_encode(codec: str) -> bool:
    """Whether this OpenCV build writes ``codec`` into an mp4 (tried once on a tiny clip)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "probe.mp4")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*_CODEC_FOURCC[codec]), 10.0, (16, 16))
        try:
            if not writer.isOpened():
                return False
            writer.write(np.zeros((16, 16, 3), np.uint8))
        finally:
            writer.release()
        return os.path.getsize(path) > 0


def pick_codec(codec: str = "auto") -> tuple[str, str | None]:
    """``--codec`` -> (the codec to write, a warning or None). ``auto``: H.264 where OpenCV
    can encode it, else mp4v with :data:`NOT_PLAYABLE`. An explicit codec this OpenCV cannot
    write is a :class:`VideoError`."""
    if codec not in CODECS:
        raise VideoError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
    if codec == "auto":
        return ("h264", None) if can_encode("h264") else ("mp4v", NOT_PLAYABLE)
    if not can_encode(codec):
        raise VideoError(f"this OpenCV build cannot encode {codec} into mp4; choose another --codec ({', '.join(CODECS)})")
    return codec, None


def video_codec(path: Path | str) -> str:
    """The codec of a video file as OpenCV names it ('avc1', 'vp90', 'fmp4' for mp4v; '' if unknown)."""
    cap = cv2.VideoCapture(str(path))
    try:
        return _fourcc(cap) if cap.isOpened() else ""
    finally:
        cap.release()


def write_mp4(path: Path | str, frames: np.ndarray, fps: float, codec: str = "auto") -> str:
    """Write (T, H, W, 3) RGB uint8 frames as an mp4 in ``codec`` (:func:`pick_codec`);
    returns the codec written. Raises :class:`VideoError` where no encoder is available."""
    codec, _ = pick_codec(codec)
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*_CODEC_FOURCC[codec]), float(fps), (w, h))
    if not writer.isOpened():
        raise VideoError(f"{path}: OpenCV cannot write mp4 here (no {codec} encoder / FFMPEG backend)")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return codec


# --------------------------------------------------------------------------------------
# Sources: a uniform interface over a cv2 capture and a folder of images.


class _Source:
    reported_count: int
    fps: float
    native_size: tuple[int, int]

    def frames(self) -> Iterator[tuple[int, float | None, Callable[[], np.ndarray | None]]]:
        """Yield (index, timestamp or None, decode) for each frame; decode() -> BGR or None."""
        raise NotImplementedError

    def close(self) -> None:
        pass


# FFmpeg's text-art decoders: its "tty" demuxer turns a .txt/.nfo/.asc file into "video" of
# the rendered text (codec ansi), "xbin" does the same for XBIN art. Not videos: refused.
TEXT_CODECS = frozenset({"ansi", "xbin", "bintext", "idf"})


def _fourcc(cap: cv2.VideoCapture) -> str:
    """The stream's codec as OpenCV reports it ('h264', 'mp4v', 'ansi'; '' when none)."""
    code = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
    return "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)).strip("\0 ").lower() if code > 0 else ""


def _looks_like_text(path: Path, head: int = 4096) -> bool:
    """True when the file starts with printable UTF-8 text and no NUL byte (no video
    container does); used only when OpenCV names no codec."""
    with open(path, "rb") as fp:
        data = fp.read(head)
    if not data or b"\0" in data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(data) - 4:  # not just a character cut at the end of the head
            return False
        text = data[: e.start].decode("utf-8")
    return all(c.isprintable() or c in "\t\r\n\x1b\x0c" for c in text)


class _CaptureSource(_Source):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.cap = self._open()
        self.reported_count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0 < fps < 1000 else 0.0
        self.native_size = (int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise VideoError(f"{self.path}: cannot be opened as a video (not a video, corrupt, or an unsupported codec)")
        codec = _fourcc(cap)
        if codec in TEXT_CODECS or (not codec and _looks_like_text(self.path)):
            cap.release()
            shown = f"codec {codec!r}" if codec else "no video codec"
            raise VideoError(f"{self.path}: not a video (FFmpeg reads it as a text file, {shown}); pass a video file or a folder of image frames")
        return cap

    def frames(self):
        cap = self._open()  # a fresh capture per pass: seeking is unreliable in many codecs
        try:
            i = 0
            while cap.grab():
                ms = cap.get(cv2.CAP_PROP_POS_MSEC)
                ts = ms / 1000.0 if ms and ms > 0 else None

                def decode(cap=cap) -> np.ndarray | None:
                    ok, frame = cap.retrieve()
                    return frame if ok and frame is not None and frame.size else None

                yield i, ts, decode
                i += 1
        finally:
            cap.release()

    def close(self) -> None:
        self.cap.release()


class _FolderSource(_Source):
    def __init__(self, path: Path, fps: float) -> None:
        self.files = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS), key=lambda p: natural_key(p.name))
        if not self.files:
            videos = sum(1 for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTS)
            if videos:
                raise VideoError(
                    f"{path}: a folder of {videos} video{'' if videos == 1 else 's'}, not of image frames; pass one video "
                    f"(a loop: for v in {path}/*; do hawk describe \"$v\"; done) or run `hawk predict` on a split of them"
                )
            raise VideoError(f"{path}: folder holds no image frames ({', '.join(sorted(IMAGE_EXTS))})")
        self.reported_count = len(self.files)
        self.fps = fps
        first = cv2.imread(str(self.files[0]), cv2.IMREAD_COLOR)
        if first is None:
            raise VideoError(f"{self.files[0]}: cannot be read as an image")
        self.native_size = (first.shape[1], first.shape[0])

    def frames(self):
        for i, f in enumerate(self.files):
            yield i, None, (lambda f=f: cv2.imread(str(f), cv2.IMREAD_COLOR))


def open_source(path: Path, folder_fps: float = 25.0) -> _Source:
    path = Path(path)
    if not path.exists():
        raise VideoError(f"no such file or folder: {path}")
    if path.is_dir():
        return _FolderSource(path, folder_fps)
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: file is empty")
    return _CaptureSource(path)


def probe(path: Path, folder_fps: float = 25.0) -> dict:
    """Container metadata (not trusted for sampling; see module doc)."""
    src = open_source(path, folder_fps)
    try:
        return {"reported_frames": src.reported_count, "fps": src.fps, "width": src.native_size[0], "height": src.native_size[1]}
    finally:
        src.close()


def _count_frames(src: _Source) -> int:
    n = 0
    for _ in src.frames():
        n += 1
    return n


def sample_clip(
    path: Path | str,
    num_frames: int = 32,
    size: int = 224,
    *,
    resize: str = "squash",
    sampling: str = "uniform",
    with_prev: bool = True,
    folder_fps: float = 25.0,
    min_frames: int = 1,
    start_frame: int = 0,
    reader: str = "auto",
    index_rule: str = "centre",
    short_clips: str = "repeat",
) -> SampledClip:
    """Sample ``num_frames`` frames of a video in one streaming pass, or by keyframe seeking.

    ``index_rule`` / ``short_clips``: which frame of each segment, and what a video shorter
    than ``num_frames`` gives (see :func:`uniform_indices`; ``uniform`` sampling only).

    ``with_prev`` also keeps each sampled frame's predecessor (needed for optical flow).
    ``min_frames``: raise :class:`VideoError` when the video has fewer native frames
    (motion needs 2). ``sampling="consecutive"`` takes ``num_frames`` frames in a row from
    ``start_frame`` (used by sliding-window inference). ``reader``: ``auto`` seeks where
    that gives the same frames for fewer decodes (:mod:`hawk_core.media.seek`), ``stream``
    never seeks, ``seek`` seeks wherever the index allows it, whatever the cost. The path
    taken and why are in ``meta["reader"]`` and ``meta["reader_why"]``.
    """
    _check_sampling(num_frames, size, resize, sampling, reader)
    path = Path(path)
    src = open_source(path, folder_fps)
    used = ("folder", "image files are read directly") if isinstance(src, _FolderSource) else ("stream", f"reader={reader}")
    try:
        n = src.reported_count
        seeked = (_sample_by_seeking(src, path, n, num_frames, sampling, start_frame, with_prev, min_frames, reader, index_rule, short_clips)
                  if n > 0 else None)
        if seeked is not None:
            used, idx, prev, bgr, stamps = seeked
            kept = {i: to_model_rgb(f, size, resize) for i, f in bgr.items()}
        elif isinstance(src, _CaptureSource) and reader != "stream":
            used = ("stream", getattr(src, "seek_why", ""))
        if n <= 0:
            n = _count_frames(src)
        for _attempt in range(0 if seeked is not None else 2):
            if n <= 0:
                raise VideoError(f"{path}: no decodable frames (corrupt file or unsupported codec)")
            if n < min_frames:
                raise VideoError(f"{path}: has {n} frame{'s' if n != 1 else ''}; at least {min_frames} are needed for motion")
            idx = (uniform_indices(n, num_frames, index_rule, short_clips) if sampling == "uniform"
                   else consecutive_indices(n, num_frames, start_frame))
            prev = predecessor_indices(idx, n)
            need = set(idx.tolist()) | (set(prev.tolist()) if with_prev else set())
            kept, stamps, seen, decode_failed = _stream_pass(src, need, n, size, resize)
            if seen == n and len(kept) == len(need):
                break
            # Metadata lied (or frames failed to decode): measure and sample again.
            true_n = seen if seen != n + 1 else _count_frames(src)
            if decode_failed and true_n == n:
                raise VideoError(f"{path}: {decode_failed} frame(s) could not be decoded (corrupt data)")
            n = true_n
        else:
            if seeked is None:
                raise VideoError(f"{path}: frame count is unstable between reads (corrupt file?)")
    finally:
        src.close()
    fps = src.fps if src.fps > 0 else folder_fps
    frames = np.stack([kept[i] for i in idx.tolist()])
    prev_frames = np.stack([kept[i] for i in prev.tolist()]) if with_prev else None
    timestamps = np.array([stamps.get(i, i / fps) for i in idx.tolist()], dtype=np.float64)
    return SampledClip(
        frames=frames,
        prev_frames=prev_frames,
        indices=idx,
        prev_indices=prev,
        timestamps=timestamps,
        num_native_frames=n,
        fps=fps,
        native_size=src.native_size,
        source=str(path),
        meta={"resize": resize, "sampling": sampling, "size": size, "index_rule": index_rule, "short_clips": short_clips,
              "reader": used[0], "reader_why": used[1]},
    )


def _check_sampling(num_frames: int, size: int, resize: str, sampling: str, reader: str) -> None:
    """The arguments of :func:`sample_clip`, checked before the video is opened."""
    if num_frames < 1:
        raise VideoError(f"frames must be >= 1, got {num_frames}")
    if size < 16:
        raise VideoError(f"size must be >= 16 pixels, got {size}")
    if resize not in RESIZE_MODES:
        raise VideoError(f"unknown resize mode {resize!r}; choose one of {', '.join(RESIZE_MODES)}")
    if sampling not in SAMPLING_MODES:
        raise VideoError(f"unknown sampling {sampling!r}; choose one of {', '.join(SAMPLING_MODES)}")
    if reader not in ("auto", "seek", "stream"):
        raise VideoError(f"unknown reader {reader!r}; choose auto, seek or stream")


def _stream_pass(src, need: set[int], n: int, size: int, resize: str) -> tuple[dict[int, np.ndarray], dict[int, float], int, int]:
    """One streaming pass of :func:`sample_clip` over ``src``, keeping the frames in ``need``
    (resized for the model): ``(kept, stamps, frames seen, frames that failed to decode)``.
    Stops one frame past the reported count ``n``."""
    kept: dict[int, np.ndarray] = {}
    stamps: dict[int, float] = {}
    seen = 0
    decode_failed = 0
    for i, ts, decode in src.frames():
        seen = i + 1
        if i in need:
            bgr = decode()
            if bgr is None:
                decode_failed += 1
            else:
                kept[i] = to_model_rgb(bgr, size, resize)
            if ts is not None:
                stamps[i] = ts
        if i >= n:  # the stream goes past its reported count
            break
    return kept, stamps, seen, decode_failed


def _sample_by_seeking(src, path, n, num_frames, sampling, start_frame, with_prev, min_frames, reader, index_rule="centre", short_clips="repeat"):
    """The seek path of :func:`sample_clip`: ``(("seek", why), idx, prev, bgr, stamps)``,
    or None to stream (the reason left on ``src.seek_why``)."""
    from . import seek

    if not isinstance(src, _CaptureSource) or reader == "stream":
        return None
    if reader == "auto" and n < seek.MIN_FRAMES_TO_PROBE:
        src.seek_why = f"short video ({n} frames): streaming is as cheap"
        return None
    if n < min_frames:
        return None  # the streaming path words the error
    idx = (uniform_indices(n, num_frames, index_rule, short_clips) if sampling == "uniform"
           else consecutive_indices(n, num_frames, start_frame))
    prev = predecessor_indices(idx, n)
    need = sorted(set(idx.tolist()) | (set(prev.tolist()) if with_prev else set()))
    index = seek.probe_index(str(path), n)
    choice, why, _ = seek.choose_reader(index, need, n)
    if choice != "seek" and not (reader == "seek" and index.trusted):
        src.seek_why = why
        return None
    try:
        bgr, stamps = seek.read_by_seeking(str(path), index, need)
    except seek.SeekUnreliable as e:
        src.seek_why = f"seeking gave up ({e})"
        return None
    return ("seek", why), idx, prev, bgr, stamps


def count_frames(path: Path | str, folder_fps: float = 25.0) -> int:
    """Exact number of decodable frames (reads the whole stream)."""
    src = open_source(Path(path), folder_fps)
    try:
        return _count_frames(src)
    finally:
        src.close()
