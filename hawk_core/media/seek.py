"""Keyframe seeking: read a video's few needed frames without decoding all the others.

The streaming sampler (:func:`hawk_core.media.video.sample_clip`) decodes every native
frame, because ``grab()`` decodes; its cost grows with the video's length although hawk
keeps only 2T frames. Where the stream allows it, this module instead seeks to the keyframe
before each needed frame and decodes forward from there.

Seeking is only used where it returns *the same frames* as streaming (same decoder, same
colour conversion: both go through one OpenCV capture), which this module checks per video:

1. :func:`probe_index` demuxes the file's packets without decoding them (OpenCV's raw
   mode, ``CAP_PROP_FORMAT = -1``: about 2 µs a packet) and records each packet's
   presentation time in frame units and whether it is a keyframe.
2. The index is *trusted* only when the presentation times are consecutive integers (no
   gap, no duplicate: a constant frame rate, so OpenCV's time-based seek lands on the
   frame of that ordinal) and their number equals the container's frame count. Otherwise
   (variable frame rate, a count that lies, a stream without timestamps) the video is
   streamed.
3. :func:`plan_reads` costs both paths in decoded frames: streaming decodes all N;
   seeking decodes, for each needed frame, from the keyframe OpenCV's seek lands on (the
   last one at or before 16 frames earlier) up to it, or reads forward from the previous
   needed frame when that is cheaper. Seeking is chosen when it costs less than
   :data:`SEEK_MARGIN` of streaming.
4. :func:`read_by_seeking` checks every frame it returns (its presentation time must be
   the expected one); on any surprise it gives up and the caller streams instead.

Folders of image frames are always read directly (they need no decoding of others).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from .video import cv2

#: OpenCV's seek lands on the keyframe at or before ``target - SEEK_BACK`` (its fixed delta).
SEEK_BACK = 16
#: The cost of one seek itself (demuxer seek, decoder flush), in decoded-frame units.
SEEK_OVERHEAD = 4
#: Seek only when its planned decodes are below this fraction of streaming's.
SEEK_MARGIN = 0.7
#: Don't probe videos this short: streaming them costs about what a probe does.
MIN_FRAMES_TO_PROBE = 300
READERS = ("auto", "seek", "stream")


@dataclass(frozen=True)
class StreamIndex:
    """What a packet scan tells about a video file."""

    num_packets: int
    keyframes: tuple[int, ...]  # presentation indices (0-based ordinals) of keyframes, sorted
    pts_offset: int  # frame-unit presentation time of ordinal 0
    trusted: bool  # timestamps are one per frame, consecutive: seeking by time finds the ordinal
    reason: str  # why not trusted ("" when trusted)

    @property
    def keyframe_interval(self) -> float:
        """Mean frames between keyframes (the whole video when it has a single one)."""
        return self.num_packets / max(1, len(self.keyframes))


class SeekUnreliable(Exception):
    """A seek returned something other than the expected frame; the caller streams."""


def probe_index(path: str, reported_count: int) -> StreamIndex:
    """Scan the packets of ``path`` without decoding them (see module doc)."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_FORMAT, -1])
    if not cap.isOpened():
        return StreamIndex(0, (), 0, False, "the container cannot be read packet by packet")
    pts: list[float] = []
    key_pts: list[float] = []
    try:
        while cap.grab():
            p = cap.get(cv2.CAP_PROP_PTS)
            pts.append(p)
            if cap.get(cv2.CAP_PROP_LRF_HAS_KEY_FRAME):
                key_pts.append(p)
    finally:
        cap.release()
    n = len(pts)
    if n == 0:
        return StreamIndex(0, (), 0, False, "no packets")
    arr = np.asarray(pts, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
        return StreamIndex(n, (), 0, False, "packets without frame-aligned timestamps")
    arr = np.sort(arr).astype(np.int64)
    offset = int(arr[0])
    if not np.array_equal(arr, np.arange(offset, offset + n)):
        return StreamIndex(n, (), offset, False, "timestamps with gaps or duplicates (variable frame rate)")
    if n != reported_count:
        return StreamIndex(n, (), offset, False, f"{n} packets but the container reports {reported_count} frames")
    keys = tuple(sorted({int(k) - offset for k in key_pts}))
    if not keys or keys[0] != 0:
        return StreamIndex(n, keys, offset, False, "the first frame is not a keyframe")
    return StreamIndex(n, keys, offset, True, "")


def plan_reads(need: list[int], keyframes: tuple[int, ...]) -> tuple[list[tuple[int, bool]], int]:
    """For sorted, distinct frame ordinals ``need``: ``[(ordinal, seek_first)]`` and the
    planned number of decoded frames (seek overheads included)."""
    ops: list[tuple[int, bool]] = []
    cost = 0
    pos = 0  # the ordinal the decoder delivers next (a fresh capture starts at 0)
    for k in need:
        i = bisect.bisect_right(keyframes, max(k - SEEK_BACK, 0)) - 1
        land = keyframes[max(i, 0)]
        by_seek = k - land + 1 + SEEK_OVERHEAD
        forward = k - pos + 1 if k >= pos else None
        if forward is not None and forward <= by_seek:
            ops.append((k, False))
            cost += forward
        else:
            ops.append((k, True))
            cost += by_seek
        pos = k + 1
    return ops, cost


def choose_reader(index: StreamIndex, need: list[int], num_frames: int) -> tuple[str, str, int]:
    """``("seek" | "stream", why, planned decodes)`` for reading ``need`` from ``index``."""
    if not index.trusted:
        return "stream", index.reason, num_frames
    _, cost = plan_reads(need, index.keyframes)
    ki = f"keyframe every {index.keyframe_interval:.0f} frames"
    if cost < SEEK_MARGIN * num_frames:
        return "seek", f"{ki}: {cost} decodes instead of {num_frames}", cost
    return "stream", f"{ki}: seeking would decode {cost} of {num_frames} frames", num_frames


def read_by_seeking(path: str, index: StreamIndex, need: list[int]) -> tuple[dict[int, np.ndarray], dict[int, float]]:
    """Decode the frames ``need`` (sorted ordinals) by seeking; BGR frames and their
    timestamps (s, where the container gives one). Raises :class:`SeekUnreliable` when a
    frame is not the expected one (checked by its presentation time)."""
    ops, _ = plan_reads(need, index.keyframes)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SeekUnreliable("cannot reopen the video")
    frames: dict[int, np.ndarray] = {}
    stamps: dict[int, float] = {}
    try:
        pos = 0
        for k, seek in ops:
            if seek:
                if not cap.set(cv2.CAP_PROP_POS_FRAMES, k):
                    raise SeekUnreliable(f"seek to frame {k} refused")
            else:
                for _ in range(k - pos):
                    if not cap.grab():
                        raise SeekUnreliable(f"stream ended before frame {k}")
            ok, frame = cap.read()
            if not ok or frame is None or not frame.size:
                raise SeekUnreliable(f"frame {k} did not decode")
            got = cap.get(cv2.CAP_PROP_PTS) - index.pts_offset
            if got != k:
                raise SeekUnreliable(f"asked for frame {k}, got frame {got:g}")
            frames[k] = frame
            ms = cap.get(cv2.CAP_PROP_POS_MSEC)
            if ms and ms > 0:
                stamps[k] = ms / 1000.0
            pos = k + 1
    finally:
        cap.release()
    return frames, stamps
