"""Training data: HAWK-format records, the seeded split, training samples and the feature cache.

Two record kinds, read from JSON (a list, or ``{"data": [...]}``) or JSONL:

* stage 2, HAWK format (the paper's anomaly set, the authors' release's JSON)::

    {"video": "clips/a.mp4", "description": "A man ...", "QA": [{"q": "Who ...?", "a": "..."}]}

* stage 1, caption records (WebVid-style)::

    {"video": "clips/b.mp4", "caption": "A dog runs on a beach."}

Relative video paths are resolved against the data file's folder (or ``video_root``). Fields
other than these are kept in :attr:`HawkRecord.extra`.

Training *items* flatten the records: one "describe" item per record with a description
(or caption) and one item per QA pair, so both tasks are trained jointly (paper, section 5)
and every QA pair is seen once per epoch. Each time a describe item is drawn, one of the
paper's 20 describe prompts (appendix D; stage 1 captions: ``prompts/caption_prompts.txt``)
is picked by an RNG seeded from (seed, epoch, position), so the draw is reproducible and a
resumed run sees exactly the prompts an uninterrupted one would.

The split (:func:`split_records`) is by *video*: all records of one video land on the same
side, so no held-out video is ever trained on. It is seeded and independent of record order.

Frozen-encoder outputs are cached on disk (:class:`FeatureCache`), one safetensors file per
video, keyed by the video's absolute path, size and mtime, the sampling and motion config,
and a fingerprint of the frozen weights, so frozen encoders run once per video, not once per
epoch. A change to any of these makes a new key; stale files are simply never read.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError, InputError
from ..io import atomic_path, read_json_or_jsonl

TASK_DESCRIBE = "describe"
TASK_QA = "qa"


@dataclass(frozen=True)
class QAPair:
    q: str
    a: str


@dataclass
class HawkRecord:
    """One video with its ground truth: a description (stage 2) or caption (stage 1), and QA pairs."""

    video: str  # as written in the data file
    path: Path  # resolved absolute path
    description: str | None = None
    caption: str | None = None
    qa: list[QAPair] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str | None:
        """The describe target: the description, else the caption."""
        return self.description if self.description else self.caption

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"video": self.video}
        if self.description is not None:
            d["description"] = self.description
        if self.caption is not None:
            d["caption"] = self.caption
        if self.qa or self.description is not None:
            d["QA"] = [{"q": p.q, "a": p.a} for p in self.qa]
        d.update(self.extra)
        return d


_KNOWN = {"video", "description", "caption", "QA", "qa"}


def _parse_record(raw: dict, i: int, where: str, root: Path) -> HawkRecord:
    video = raw.get("video")
    if not isinstance(video, str) or not video.strip():
        raise DataError(f"{where}: record {i}: 'video' must be a non-empty string")
    for key in ("description", "caption"):
        val = raw.get(key)
        if val is not None and not isinstance(val, str):
            raise DataError(f"{where}: record {i}: {key!r} must be a string, got {type(val).__name__}")
    qa_raw = raw.get("QA", raw.get("qa", []))
    if qa_raw is None:
        qa_raw = []
    if not isinstance(qa_raw, list):
        raise DataError(f"{where}: record {i}: 'QA' must be a list of {{'q', 'a'}} objects")
    qa = []
    for j, p in enumerate(qa_raw):
        if not isinstance(p, dict) or not isinstance(p.get("q"), str) or not isinstance(p.get("a"), str):
            raise DataError(f"{where}: record {i}: QA[{j}] must be an object with string 'q' and 'a'")
        if p["q"].strip() and p["a"].strip():
            qa.append(QAPair(p["q"].strip(), p["a"].strip()))
    desc = (raw.get("description") or "").strip() or None
    cap = (raw.get("caption") or "").strip() or None
    if desc is None and cap is None and not qa:
        raise DataError(f"{where}: record {i} ({video}): no 'description', 'caption' or QA pair to train on")
    p = Path(video).expanduser()
    path = p if p.is_absolute() else (root / p)
    extra = {k: v for k, v in raw.items() if k not in _KNOWN}
    return HawkRecord(video=video, path=path.resolve(), description=desc, caption=cap, qa=qa, extra=extra)


def load_hawk_records(path: Path | str, *, video_root: Path | str | None = None) -> list[HawkRecord]:
    """Read HAWK-format (stage 2) or caption (stage 1) records from JSON or JSONL.

    Raises :class:`DataError` naming the record and field of the first malformed record.
    """
    path = Path(path)
    raws = read_json_or_jsonl(path)
    if not raws:
        raise DataError(f"{path}: holds no records")
    root = Path(video_root) if video_root is not None else path.resolve().parent
    return [_parse_record(r, i, str(path), root) for i, r in enumerate(raws)]


def split_records(records: Sequence[HawkRecord], test_fraction: float = 0.1, seed: int = 0) -> tuple[list[HawkRecord], list[HawkRecord]]:
    """Deterministic train/test split by video (the paper's 90/10).

    Videos are ordered by path, shuffled with ``random.Random(seed)`` and the first
    ``round(n * test_fraction)`` (at least 1 when ``0 < test_fraction`` and there are 2+ videos)
    go to test. The result does not depend on the records' order; both lists keep it.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise InputError(f"test fraction must be in [0, 1), got {test_fraction}")
    videos = sorted({str(r.path) for r in records})
    n_test = round(len(videos) * test_fraction)
    if test_fraction > 0 and n_test == 0 and len(videos) >= 2:
        n_test = 1
    n_test = min(n_test, len(videos) - 1) if videos else 0
    order = videos[:]
    random.Random(seed).shuffle(order)
    test_videos = set(order[:n_test])
    train = [r for r in records if str(r.path) not in test_videos]
    test = [r for r in records if str(r.path) in test_videos]
    return train, test


def write_records(path: Path, records: Iterable[HawkRecord]) -> None:
    """Write records atomically, as a JSON list (``.json``) or JSONL (anything else)."""
    path = Path(path)
    dicts = [r.to_dict() for r in records]
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".json":
            tmp.write_text(json.dumps(dicts, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        else:
            tmp.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in dicts), encoding="utf-8")


def relativize(records: Sequence[HawkRecord], out_dir: Path) -> list[HawkRecord]:
    """Copies of ``records`` whose ``video`` is written relative to ``out_dir`` (absolute if
    that is impossible), so a split file placed in ``out_dir`` resolves to the same videos."""
    import os

    out = []
    for r in records:
        try:
            rel = os.path.relpath(r.path, Path(out_dir).resolve())
        except ValueError:
            rel = str(r.path)
        out.append(HawkRecord(video=rel, path=r.path, description=r.description, caption=r.caption, qa=list(r.qa), extra=dict(r.extra)))
    return out


# ---- prompts and training items --------------------------------------------------------


def describe_prompts() -> list[str]:
    """The paper's 20 describe prompts (appendix D)."""
    from ..language.prompts import DESCRIBE_PROMPTS

    if not DESCRIBE_PROMPTS:
        raise DataError("no describe prompts found (prompts/describe_prompts.txt is empty)")
    return list(DESCRIBE_PROMPTS)


def caption_prompts() -> list[str]:
    """Prompts for stage-1 caption records, one per line in ``prompts/caption_prompts.txt``."""
    from ..language.prompts import prompts_dir

    path = prompts_dir() / "caption_prompts.txt"
    if not path.is_file():
        raise DataError(f"missing prompt file {path}")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    prompts = [ln for ln in lines if ln and not ln.startswith("#")]
    if not prompts:
        raise DataError(f"{path} holds no prompts")
    return prompts


@dataclass(frozen=True)
class Item:
    """One trainable unit: a record and what to ask about it."""

    record: int  # index into the record list
    task: str  # "describe" | "qa"
    qa: int = -1  # index into record.qa for task "qa"


def build_items(records: Sequence[HawkRecord]) -> list[Item]:
    """One describe item per record with a description/caption, one item per QA pair."""
    items: list[Item] = []
    for i, r in enumerate(records):
        if r.text:
            items.append(Item(i, TASK_DESCRIBE))
        items.extend(Item(i, TASK_QA, j) for j in range(len(r.qa)))
    return items


def item_rng(seed: int, *keys: int | str) -> random.Random:
    """An RNG determined by ``seed`` and ``keys`` alone (stable across processes and runs)."""
    h = hashlib.sha256(json.dumps([seed, *keys]).encode()).digest()
    return random.Random(int.from_bytes(h[:8], "little"))


def question_and_answer(record: HawkRecord, item: Item, rng: random.Random, *, describe: Sequence[str], caption: Sequence[str]) -> tuple[str, str]:
    """The question (a drawn describe/caption prompt, or the QA question) and its answer."""
    if item.task == TASK_QA:
        p = record.qa[item.qa]
        return p.q, p.a
    if record.description:
        return rng.choice(list(describe)), record.description
    return rng.choice(list(caption)), record.caption or ""


# ---- motion phrases (L_ML targets) -----------------------------------------------------


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


def target_texts(records: Sequence[HawkRecord]) -> list[str]:
    """Every ground-truth text a sample can be trained on (descriptions/captions, answers)."""
    out = []
    for r in records:
        if r.text:
            out.append(r.text)
        out.extend(p.a for p in r.qa)
    return out


# ---- frozen feature cache --------------------------------------------------------------


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


_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


class FeatureCache:
    """Frozen-encoder outputs per video on disk: ``<dir>/<key[:2]>/<key>.safetensors`` with
    ``video`` (T, N, D) and, unless the motion branch is ablated, ``motion`` (T, N, D).

    ``spec`` is everything besides the file that determines the features (sampling, motion
    config, backbone config and weight fingerprint, storage dtype); it is hashed with the
    video's :func:`video_fingerprint` into the key. Entries are written atomically.
    """

    def __init__(self, directory: Path, spec: dict, dtype: str = "float16") -> None:
        if dtype not in _DTYPES:
            raise InputError(f"unknown feature cache dtype {dtype!r}; choose one of {', '.join(_DTYPES)}")
        self.dir = Path(directory)
        self.dtype = dtype
        self.spec = {**spec, "dtype": dtype}
        self._spec_json = json.dumps(self.spec, sort_keys=True, default=str)

    def key(self, video: Path) -> str:
        blob = json.dumps({"video": video_fingerprint(video), "spec": self._spec_json}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:40]

    def path_for(self, video: Path) -> Path:
        k = self.key(video)
        return self.dir / k[:2] / f"{k}.safetensors"

    def has(self, video: Path) -> bool:
        return self.path_for(video).is_file()

    def store(self, video: Path, feats_v: Any, feats_m: Any | None) -> None:
        import torch
        from safetensors.torch import save_file

        dt = getattr(torch, self.dtype)
        tensors = {"video": feats_v.detach().to("cpu", dt).contiguous()}
        if feats_m is not None:
            tensors["motion"] = feats_m.detach().to("cpu", dt).contiguous()
        target = self.path_for(video)
        with atomic_path(target) as tmp:
            save_file(tensors, str(tmp), metadata={"video": str(Path(video).resolve()), "spec": self._spec_json})

    def load(self, video: Path) -> tuple[Any, Any | None]:
        """(T, N, D) appearance and motion features (motion None if not stored)."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        target = self.path_for(video)
        try:
            t = load_file(str(target))
        except FileNotFoundError:
            raise DataError(f"no cached features for {video} (expected {target})") from None
        except (SafetensorError, OSError) as e:
            raise DataError(f"corrupt feature cache file {target} ({e}); delete it to recompute") from None
        return t["video"], t.get("motion")


def sampled_frames_spec(num_frames: int, size: int, resize: str, motion_cfg: Any) -> dict:
    """The sampling part of a :class:`FeatureCache` spec."""
    m = motion_cfg.to_dict() if hasattr(motion_cfg, "to_dict") else motion_cfg
    return {"num_frames": int(num_frames), "size": int(size), "resize": resize, "motion": m}


__all__ = [
    "HawkRecord",
    "Item",
    "QAPair",
    "FeatureCache",
    "MotionTextCache",
    "build_items",
    "caption_prompts",
    "describe_prompts",
    "item_rng",
    "load_hawk_records",
    "question_and_answer",
    "relativize",
    "split_records",
    "target_texts",
    "video_fingerprint",
    "weights_fingerprint",
    "write_records",
]
