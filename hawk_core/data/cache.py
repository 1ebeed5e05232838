"""Caches that make training cheap after its first pass: frozen-encoder outputs per video
(:class:`FeatureCache`) and motion phrases per ground-truth text (:class:`MotionTextCache`).

Frozen-encoder outputs are cached on disk, one safetensors file per video, keyed by the
video's absolute path, size and mtime, the sampling and motion config, and a fingerprint of
the frozen weights, so frozen encoders run once per video, not once per epoch. A change to
any of these makes a new key; stale files are simply never read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..errors import DataError, InputError
from ..io import atomic_path

#: Storage dtypes of cached features.
CACHE_DTYPES = ("float32", "float16", "bfloat16")


class MotionTextCache:
    """Y_m target strings (motion phrases of a ground-truth text), parsed once and kept in a
    JSON file keyed by a hash of the text (and the parser), so later runs skip spaCy."""

    def __init__(self, path: Path | None, parser: str = "default") -> None:
        self.path = Path(path) if path else None
        self.parser = parser
        self._map: dict[str, str] = {}
        if self.path and self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if isinstance(data, dict) and isinstance(data.get("entries"), dict):
                    self._map = {k: v for k, v in data["entries"].items() if isinstance(v, str)}
            except (json.JSONDecodeError, UnicodeDecodeError):
                self._map = {}  # a corrupt cache is rebuilt, never trusted

    def _key(self, text: str) -> str:
        return hashlib.sha1(f"{self.parser}\0{text}".encode()).hexdigest()

    def get(self, text: str) -> str | None:
        return self._map.get(self._key(text))

    def fill(self, texts: Iterable[str], *, nlp: Any = None, progress: Callable[[int], None] | None = None, batch: int = 64) -> int:
        """Parse the texts not yet cached; returns how many were parsed."""
        todo = sorted({t for t in texts if t and self._key(t) not in self._map})
        if not todo:
            return 0
        from ..language.phrases import extract_phrases, load_parser, motion_text

        nlp = nlp if nlp is not None else load_parser(None if self.parser == "default" else self.parser)
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            for text, phrases in zip(chunk, extract_phrases(chunk, nlp)):
                self._map[self._key(text)] = motion_text(phrases)
            if progress:
                progress(len(chunk))
        self.save()
        return len(todo)

    def save(self) -> None:
        if self.path is None:
            return
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps({"parser": self.parser, "entries": self._map}, ensure_ascii=False), encoding="utf-8")


def video_fingerprint(path: Path) -> dict:
    """Identity of a video file on disk: absolute path, size, mtime (ns); for a folder of
    frames, the newest mtime and the entry count."""
    path = Path(path)
    st = path.stat()
    if path.is_dir():
        entries = list(path.iterdir())
        mtime = max([e.stat().st_mtime_ns for e in entries] + [st.st_mtime_ns])
        return {"path": str(path.resolve()), "entries": len(entries), "mtime_ns": mtime}
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def weights_fingerprint(module: Any) -> str:
    """A checksum of a model's frozen parameters (names, shapes and strided value sums), so
    cached encoder outputs are never reused with other frozen weights."""
    import torch

    h = hashlib.sha1()
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.requires_grad:
                continue
            flat = p.detach().reshape(-1)
            step = max(1, flat.numel() // 4096)
            s = flat[::step].double().sum().item() if flat.numel() else 0.0
            h.update(f"{name}:{tuple(p.shape)}:{s:.10e};".encode())
        for name, b in module.named_buffers():
            if b.is_floating_point() and b.numel():
                h.update(f"{name}:{tuple(b.shape)}:{b.reshape(-1)[:: max(1, b.numel() // 4096)].double().sum().item():.10e};".encode())
    return h.hexdigest()


class FeatureCache:
    """Frozen-encoder outputs per video on disk: ``<dir>/<key[:2]>/<key>.safetensors`` with
    ``video`` (T, N, D), unless the motion branch is ablated ``motion`` (T, N, D), and
    ``times`` (T,) float64, the sampled frames' seconds (the release prompt writes them).

    ``spec`` is everything besides the file that determines the features (sampling, motion
    config, backbone config and weight fingerprint, storage dtype); it is hashed with the
    video's :func:`video_fingerprint` into the key. Entries are written atomically.
    """

    def __init__(self, directory: Path, spec: dict, dtype: str = "float16") -> None:
        if dtype not in CACHE_DTYPES:
            raise InputError(f"unknown feature cache dtype {dtype!r}; choose one of {', '.join(CACHE_DTYPES)}")
        self.dir = Path(directory)
        self.dtype = dtype
        self.spec = {**spec, "dtype": dtype}
        self._spec_json = json.dumps(self.spec, sort_keys=True, default=str)
        self.corrupt: list[Path] = []  # entries found unreadable by has(): removed, to be recomputed
        self._valid: set[Path] = set()

    def key(self, video: Path) -> str:
        blob = json.dumps({"video": video_fingerprint(video), "spec": self._spec_json}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:40]

    def path_for(self, video: Path) -> Path:
        k = self.key(video)
        return self.dir / k[:2] / f"{k}.safetensors"

    def has(self, video: Path) -> bool:
        """Whether a readable entry exists. An unreadable one (truncated, not safetensors, no
        ``video`` tensor) is removed and listed in :attr:`corrupt`, so it is recomputed, never reused."""
        target = self.path_for(video)
        if target in self._valid:
            return target.is_file()
        if not target.is_file():
            return False
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(target), framework="pt") as f:
                ok = "video" in f.keys()
        except (SafetensorError, OSError, ValueError, RuntimeError):
            ok = False
        if not ok:
            target.unlink(missing_ok=True)
            self.corrupt.append(target)
            return False
        self._valid.add(target)
        return True

    def store(self, video: Path, feats_v: Any, feats_m: Any | None, times: Any = None) -> None:
        import torch
        from safetensors.torch import save_file

        dt = getattr(torch, self.dtype)
        tensors = {"video": feats_v.detach().to("cpu", dt).contiguous()}
        if feats_m is not None:
            tensors["motion"] = feats_m.detach().to("cpu", dt).contiguous()
        if times is not None:
            tensors["times"] = torch.as_tensor(list(times), dtype=torch.float64)
        target = self.path_for(video)
        with atomic_path(target) as tmp:
            save_file(tensors, str(tmp), metadata={"video": str(Path(video).resolve()), "spec": self._spec_json})

    def load(self, video: Path) -> tuple[Any, Any | None]:
        """(T, N, D) appearance and motion features (motion None if not stored)."""
        t = self._read(video)
        return t["video"], t.get("motion")

    def load_times(self, video: Path) -> list[float] | None:
        """The sampled frames' seconds, or None for an entry written without them."""
        times = self._read(video).get("times")
        return None if times is None else [float(x) for x in times.tolist()]

    def _read(self, video: Path) -> dict:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        target = self.path_for(video)
        try:
            t = load_file(str(target))
        except FileNotFoundError:
            raise DataError(f"no cached features for {video} (expected {target})") from None
        except (SafetensorError, OSError) as e:
            raise DataError(f"corrupt feature cache file {target} ({e}); delete it to recompute") from None
        return t


def sampled_frames_spec(num_frames: int, size: int, resize: str, motion_cfg: Any, *,
                        frame_indices: str = "centre", short_clips: str = "repeat") -> dict:
    """The sampling part of a :class:`FeatureCache` spec."""
    m = motion_cfg.to_dict() if hasattr(motion_cfg, "to_dict") else motion_cfg
    return {"num_frames": int(num_frames), "size": int(size), "resize": resize, "motion": m,
            "frame_indices": frame_indices, "short_clips": short_clips}
