"""One synthetic video with its ground truth, and a whole split written incrementally.

Layout of an output folder (several splits and seeds may share one)::

    DIR/videos/<split>_s<seed>_<index>.mp4   written to a temporary name, then renamed
    DIR/<split>.jsonl                        one record per finished video (the resume log)
    DIR/<split>.json                         the HAWK-format dataset, exported atomically

A record's ``video`` path is relative to the folder holding the JSON file. One video can also
be written on its own (:func:`write_single`): ``clip.mp4`` with its record in ``clip.json``.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.records import NEED_DESCRIPTION, parse_record
from ..errors import DataError, InputError
from ..io import JsonlAppender, write_json
from .events import SceneGraph
from ..media.video import write_mp4
from .render import SynthConfig, build_scene, measure_event, render
from .text import answer_questions, describe, questions

MAX_ATTEMPTS = 12
MIN_SPAN_FRAMES = 4
_SPLIT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass
class SynthVideo:
    frames: np.ndarray  # (T, S, S, 3) RGB uint8
    record: dict
    graph: SceneGraph


def video_id(split: str, seed: int, index: int) -> str:
    return f"{split}_s{seed}_{index:06d}"


def make_video(seed: int, split: str, index: int, cfg: SynthConfig = SynthConfig(), *, event: str | None = None,
               scene: str | None = None, counterfactual: bool = False, attempt: int | None = None) -> SynthVideo:
    """Render video ``index`` of ``split`` under ``seed`` and write its ground truth.

    A drawn anomaly whose actors stay off screen (or on screen for fewer than 4 frames) is
    drawn again from the next attempt's stream, so every anomalous record has a real span.
    """
    attempts = [attempt] if attempt is not None else range(MAX_ATTEMPTS)
    for att in attempts:
        g, rng = build_scene(seed, split, index, cfg, counterfactual=counterfactual, event=event, scene=scene, attempt=att)
        frames, boxes = render(g, rng)
        span = measure_event(g, boxes)
        if g.event.type == "normal" or (span is not None and span[1] - span[0] + 1 >= MIN_SPAN_FRAMES) or counterfactual:
            break
    else:
        raise DataError(f"video {index}: no drawable {g.event.type} event after {MAX_ATTEMPTS} attempts")
    text_rng = np.random.default_rng(rng.integers(2**63))
    description, slots = describe(text_rng, g, span if not counterfactual else None)
    qa = answer_questions(text_rng, slots, cfg.qa)
    vid = video_id(split, seed, index)
    fps = cfg.fps
    record = {
        "id": vid,
        "video": f"videos/{vid}.mp4",
        "description": description,
        "QA": [{"q": x["q"], "a": x["a"]} for x in qa],
        "event_type": g.event.type,
        "anomaly": g.event.type != "normal",
        "scene": g.kind,
        "time_span": None,
        "region": None,
        "qa_questions": [{"paper_id": x["id"], "class": x["type"]} for x in qa],
        "num_frames": cfg.frames,
        "fps": fps,
        "size": cfg.size,
        "camera": {"orientation": g.layout.orientation, "lighting": g.lighting, "ground_width_m": round(g.camera.width_m, 2)},
        "agents": dict(Counter(g.agents[i].kind for i in sorted(g.on_screen))),  # on screen at some point
        "synth": {"seed": seed, "split": split, "index": index, "attempt": att, **cfg.to_dict()},
    }
    if span is not None and g.event.type != "normal":
        s, e, bbox = span
        record["time_span"] = {"start_frame": s, "end_frame": e, "start_s": round(s / fps, 3), "end_s": round((e + 1) / fps, 3)}
        record["region"] = {"bbox": [float(x) for x in bbox], "format": "xyxy pixels", "frame_size": [cfg.size, cfg.size]}
    return SynthVideo(frames=frames, record=record, graph=g)


def _check_split(split: str) -> None:
    if not _SPLIT_RE.match(split):
        raise InputError(f"split name {split!r} must be 1-64 letters, digits, '_' or '-' (it names files)")


def write_video_atomic(path: Path, frames: np.ndarray, fps: float, codec: str = "auto") -> None:
    """mp4 written under a temporary name in the same folder, renamed when complete."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.mp4")
    try:
        write_mp4(tmp, frames, fps, codec)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _work(args: tuple) -> dict:
    seed, split, index, cfg, out, codec = args
    v = make_video(seed, split, index, cfg)
    write_video_atomic(Path(out) / v.record["video"], v.frames, cfg.fps, codec)
    return v.record


def write_single(path: Path, seed: int, split: str = "sample", cfg: SynthConfig = SynthConfig(), *, index: int = 0,
                 overwrite: bool = False, codec: str = "auto") -> dict:
    """One video at ``path`` (.mp4) and its record, a one-item HAWK dataset, beside it
    (``path`` with .json; its ``video`` is the file name). Both written atomically."""
    from ..io import write_json

    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise InputError(f"{path}: a single video must be written to an .mp4 path")
    _check_split(split)
    questions()
    meta = path.with_suffix(".json")
    if not overwrite and (path.exists() or meta.exists()):
        raise InputError(f"{path if path.exists() else meta} already exists; pass --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    v = make_video(seed, split, index, cfg)
    v.record["video"] = path.name
    write_video_atomic(path, v.frames, cfg.fps, codec)
    write_json(meta, [v.record])
    return v.record


@dataclass
class SynthSummary:
    out: Path
    dataset: Path
    split: str
    seed: int
    n: int
    written: int = 0
    skipped: int = 0
    seconds: float = 0.0
    events: dict = field(default_factory=dict)

    @property
    def videos_per_s(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {"out": str(self.out), "dataset": str(self.dataset), "split": self.split, "seed": self.seed, "n": self.n,
                "written": self.written, "skipped_existing": self.skipped, "seconds": round(self.seconds, 3),
                "videos_per_s": round(self.videos_per_s, 2), "events": self.events}


def _identity(cfg: SynthConfig, seed: int) -> dict:
    return {"seed": seed, **cfg.to_dict()}


def synthesize(out: Path, n: int, seed: int, split: str = "train", cfg: SynthConfig = SynthConfig(), *, workers: int = 1,
               overwrite: bool = False, on_progress: Callable[[int, dict | None], None] | None = None,
               codec: str = "auto") -> SynthSummary:
    """Write ``n`` videos of ``split`` into ``out``; resumes where a previous run stopped.

    Raises :class:`InputError` when ``out`` already holds this split made with other options
    (seed, frames, fps, size, events, ...): pass the same options, another ``--split``/``--out``,
    or ``overwrite``.
    """
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    if seed < 0:
        raise InputError(f"seed must be >= 0, got {seed}")
    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    _check_split(split)
    questions()  # the prompt files are readable and hold the paper's list, before anything is written
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    (out / "videos").mkdir(parents=True, exist_ok=True)
    log = out / f"{split}.jsonl"
    dataset = out / f"{split}.json"
    for stale in (out / "videos").glob(f".{split}_s*.tmp.mp4"):  # left by a killed run
        stale.unlink(missing_ok=True)
    if overwrite:
        for old in (log, dataset):
            old.unlink(missing_ok=True)
        for v in (out / "videos").glob(f"{split}_s*_*.mp4"):
            v.unlink()
    ident = _identity(cfg, seed)
    t0 = time.perf_counter()
    summary = SynthSummary(out=out, dataset=dataset, split=split, seed=seed, n=n)
    with JsonlAppender(log, key="id") as app:
        done: dict[int, dict] = {}
        for r in app.existing:
            syn = r.get("synth", {})
            mine = {k: syn.get(k) for k in ident}
            if mine != ident:
                diff = ", ".join(f"{k} {mine[k]!r} (now {ident[k]!r})" for k in ident if mine[k] != ident[k])
                raise InputError(f"{log} was made with other options: {diff}; use the same options, another --split or --out, or --overwrite")
            if (out / r["video"]).is_file():
                done[int(syn["index"])] = r
        todo = [i for i in range(n) if i not in done]
        summary.skipped = n - len(todo)
        if on_progress:
            on_progress(summary.skipped, None)
        jobs = [(seed, split, i, cfg, str(out), codec) for i in todo]
        for rec in _run(jobs, workers):
            app.write(rec)
            done[rec["synth"]["index"]] = rec
            summary.written += 1
            if on_progress:
                on_progress(1, rec)
    records = [done[i] for i in sorted(done) if i < n]
    write_json(dataset, records)
    summary.seconds = time.perf_counter() - t0
    summary.events = dict(sorted(Counter(r["event_type"] for r in records).items()))
    return summary


def _run(jobs: list[tuple], workers: int) -> Iterator[dict]:
    if workers == 1 or len(jobs) <= 1:
        for j in jobs:
            yield _work(j)
        return
    import multiprocessing as mp

    # spawn, not fork: forking a process that already runs threads (OpenCV's pool, torch's
    # OpenMP when a caller imported it) can deadlock the children
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        yield from pool.imap_unordered(_work, jobs, chunksize=4)


def _init_worker() -> None:
    from ..media.video import cv2

    cv2.setNumThreads(1)


# --------------------------------------------------------------------------------------
# validation of a synthetic record (used by tests)


def validate_record(r: dict, root: Path | None = None) -> list[str]:
    """Problems with one record (empty when valid): the HAWK fields (:func:`parse_record`,
    with a description) and the synth extras; ``root`` given, the video must exist below it."""
    try:
        rec = parse_record(r, f"record {r.get('id', '?')}" if isinstance(r, dict) else "record", root=root, need=NEED_DESCRIPTION)
    except DataError as e:
        return [str(e)]
    bad = []
    if root is not None and not rec.path.is_file():
        bad.append(f"video: {rec.video} not found")
    if len(rec.description.split()) < 5:
        bad.append("description: too short")
    pairs = r.get("QA") or []
    if len(rec.qa) != len(pairs) or any(set(x) != {"q", "a"} for x in pairs):
        bad.append("QA: every pair must be exactly {q, a} with non-empty strings")
    else:
        known = {q for q, _c, _s in questions().values()}
        bad += [f"QA: unknown question {x.q!r}" for x in rec.qa if x.q not in known]
    if r.get("anomaly"):
        ts, reg = r.get("time_span"), r.get("region")
        if not ts or not 0 <= ts["start_frame"] <= ts["end_frame"] < r["num_frames"]:
            bad.append("time_span: missing or outside the video")
        if not reg or not (0 <= reg["bbox"][0] <= reg["bbox"][2] < r["size"] and 0 <= reg["bbox"][1] <= reg["bbox"][3] < r["size"]):
            bad.append("region: missing or outside the frame")
    elif r.get("time_span") is not None or r.get("region") is not None:
        bad.append("normal video with a time_span/region")
    return bad
