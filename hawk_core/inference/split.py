"""Prediction over a whole HAWK-format split (`hawk predict`): one description item and one
item per QA pair per record, ``{id, video, task, question?, prediction, reference}``, appended
to a JSONL file one line at a time so an interrupted run resumes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.records import NEED_VIDEO, TASKS, parse_records, read_raw_records, resolve_video_path  # noqa: F401 - resolve_video_path: its old home
from ..errors import ConfigError, DataError, HawkError, InputError
from .predictor import GenerationOptions, PreparedVideo, Predictor


@dataclass(frozen=True)
class PredictionItem:
    """One question to answer about one video of a split."""

    id: str
    video: str  # as written in the data file
    path: Path  # resolved on disk
    task: str  # "description" | "qa"
    question: str
    reference: str | None

    def record(self, prediction: str, **extra: Any) -> dict:
        rec: dict[str, Any] = {"id": self.id, "video": self.video, "task": self.task}
        if self.task == "qa":
            rec["question"] = self.question
        rec["prediction"] = prediction
        rec["reference"] = self.reference
        rec.update(extra)
        return rec


def plan_predictions(
    records: list[dict],
    data_path: Path,
    *,
    describe_prompt: str,
    video_root: Path | None = None,
    tasks: Iterable[str] = ("description", "qa"),
) -> list[PredictionItem]:
    """HAWK-format records ``{video, description?, QA?: [{q, a}]}`` -> prediction items.

    Ids are stable: ``<video>#description`` and ``<video>#qa<j>`` (``<video>`` the path as
    written, or the record's own ``id`` when it has one; a video listed twice gets ``@<i>``).
    """
    tasks = tuple(tasks)
    for t in tasks:
        if t not in TASKS:
            raise ConfigError(f"unknown task {t!r}; choose description and/or qa")
    seen: dict[str, int] = {}
    items: list[PredictionItem] = []
    for i, rec in enumerate(parse_records(records, data_path, need=NEED_VIDEO, answers=False)):
        video = rec.video
        rid = rec.extra.get("id")
        base = str(rid) if rid not in (None, "") else video
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            base = f"{base}@{i}"
        path = resolve_video_path(video, data_path, video_root)
        if "description" in tasks:
            items.append(PredictionItem(f"{base}#description", video, path, "description", describe_prompt, rec.description))
        if "qa" in tasks:
            for j, pair in enumerate(rec.qa):
                items.append(PredictionItem(f"{base}#qa{j}", video, path, "qa", pair.q, pair.a))
    return items


def load_split(path: Path) -> list[dict]:
    """Records of a HAWK-format JSON / JSONL file (see :func:`plan_predictions`)."""
    return read_raw_records(path)


@dataclass
class PredictionSummary:
    total: int = 0
    already_done: int = 0
    written: int = 0
    failed_videos: dict[str, str] = field(default_factory=dict)  # video -> error
    warnings: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=lambda: {"frames_motion_s": 0.0, "encode_s": 0.0, "generate_s": 0.0, "tokens": 0})

    def to_dict(self) -> dict:
        return {
            "total": self.total,
            "already_done": self.already_done,
            "written": self.written,
            "failed_videos": self.failed_videos,
            "warnings": self.warnings,
            "timings": {k: round(v, 3) if isinstance(v, float) else v for k, v in self.timings.items()},
        }


def run_predictions(
    predictor: Predictor,
    items: list[PredictionItem],
    out: Path,
    options: GenerationOptions = GenerationOptions(),
    *,
    video_batch: int = 4,
    gen_batch: int = 8,
    on_progress: Callable[[int, str], None] | None = None,
) -> PredictionSummary:
    """Answer every item, appending one JSONL record each to ``out`` as soon as it exists.

    Items whose id is already in ``out`` are skipped (resume). Videos are prepared
    ``video_batch`` at a time (frozen encoders batched), answers generated ``gen_batch`` at a
    time. A video that cannot be read is skipped with its error in the summary (its items
    are not written, so a rerun retries them). ``on_progress(n, label)`` reports ``n`` more
    items handled.
    """
    from ..io import JsonlAppender

    if video_batch < 1 or gen_batch < 1:
        raise ConfigError("batch sizes must be >= 1")
    summary = PredictionSummary(total=len(items))
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"duplicate prediction id {dup!r}")
    with JsonlAppender(out, key="id") as sink:
        done = sink.done_keys()
        todo = [it for it in items if it.id not in done]
        summary.already_done = len(items) - len(todo)
        if summary.already_done and on_progress is not None:
            on_progress(summary.already_done, "already done")
        by_video: dict[str, list[PredictionItem]] = {}
        for it in todo:
            by_video.setdefault(str(it.path), []).append(it)
        videos = list(by_video)
        for start in range(0, len(videos), video_batch):
            chunk = videos[start : start + video_batch]
            prepared = predictor.prepare_many([Path(v) for v in chunk])
            queue: list[tuple[PreparedVideo, PredictionItem]] = []
            for v, p in zip(chunk, prepared):
                if isinstance(p, HawkError):
                    summary.failed_videos[by_video[v][0].video] = str(p)
                    if on_progress is not None:
                        on_progress(len(by_video[v]), f"skipped {Path(v).name}")
                    continue
                summary.timings["frames_motion_s"] += p.timings["frames_motion_s"]
                summary.timings["encode_s"] += p.timings["encode_s"]
                queue.extend((p, it) for it in by_video[v])
            for g in range(0, len(queue), gen_batch):
                group = queue[g : g + gen_batch]
                answers = predictor.answer([(p, it.question, None) for p, it in group], options)
                for (p, it), ans in zip(group, answers):
                    sink.write(it.record(ans.text, truncated=ans.truncated, **ans.guide_fields()))  # head.guide's class and start
                    summary.written += 1
                    summary.warnings.extend(f"{it.id}: {w}" for w in ans.warnings)
                    summary.timings["tokens"] += ans.tokens
                summary.timings["generate_s"] += answers[0].generate_s if answers else 0.0
                if on_progress is not None:
                    on_progress(len(group), Path(group[0][1].video).name)
    return summary


def meta_path(out: Path) -> Path:
    """The settings file beside a predictions file: ``OUT.meta.json``."""
    out = Path(out)
    return out.with_name(out.name + ".meta.json")


def check_prediction_meta(out: Path, predictor: Predictor, options: GenerationOptions, tasks: Sequence[str], prompt_index: int) -> dict:
    """Record the settings of a prediction run beside ``out`` and refuse to resume a file
    written with other settings (:func:`check_run_meta`). Returns the settings."""
    meta = {
        "model": predictor.spec.source,
        "frames": predictor.num_frames,
        "quantize": predictor.quantize,
        "generation": options.to_dict(),
        "tasks": list(tasks),
        "prompt_index": prompt_index,
    }
    return check_run_meta(out, meta)


def check_run_meta(out: Path, meta: dict) -> dict:
    """Record a resumable run's settings in ``OUT.meta.json``; refuse to resume a file that
    holds records written with other settings (mixing two models' or two settings' records in
    one file would be silently wrong). Returns ``meta``."""
    import json

    from ..io import write_json

    mp = meta_path(out)
    has_records = Path(out).is_file() and Path(out).stat().st_size > 0
    if has_records and mp.is_file():
        try:
            old = json.loads(mp.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            old = None
        if isinstance(old, dict):
            for key, value in meta.items():
                if key in old and old[key] != value:
                    raise InputError(
                        f"{out} was written with other settings ({key}: {old[key]!r}, now {value!r}); "
                        "pass --overwrite to start it afresh, or another --out"
                    )
    write_json(mp, meta)
    return meta
