"""`hawk detect`: when in a video is the anomaly? Window scores, intervals, descriptions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hawk_cli._common import (
    Device,
    DType,
    InferFrames,
    JsonOut,
    ModelOpt,
    Quantize,
    Threads,
    Wait,
    console,
    err_console,
    guarded,
    lock_output,
)
from hawk_core.media.timefmt import format_clock

_WIN = "Windows and events"
_SPLIT = "Over a split"
_SPLIT_SUFFIXES = (".json", ".jsonl")


@guarded
def detect(
    target: Annotated[Path, typer.Argument(help="A video (or folder of frames), or a HAWK-format split (.json/.jsonl) to run over.", show_default=False)],
    scorer: Annotated[str, typer.Option("--scorer", help="auto: frames when the model has a frame head (the shipped default has), else model; model: the LLM's P(yes) to a fixed anomaly question; head: 1 - P(normal) of the model's class head (hawk train --label-weight); frames: the mean of the model's per-frame anomaly head over the window (recipes/fit_head.py --frames); motion: the motion-energy baseline.")] = "auto",
    window: Annotated[Optional[float], typer.Option("--window", help="Window length in seconds. \\[default: duration/8 within 2-16 s]", rich_help_panel=_WIN, show_default=False)] = None,
    stride: Annotated[Optional[float], typer.Option("--stride", help="Seconds between window starts. \\[default: half a window]", rich_help_panel=_WIN, show_default=False)] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="An interval is where window scores are above this (0-1).", rich_help_panel=_WIN)] = 0.5,
    min_duration: Annotated[float, typer.Option("--min-duration", help="Drop intervals shorter than this many seconds.", rich_help_panel=_WIN)] = 0.0,
    describe: Annotated[bool, typer.Option("--describe/--no-describe", help="Describe each interval with the model.", rich_help_panel=_WIN)] = True,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, help="Longest description, in tokens.", rich_help_panel=_WIN)] = 64,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Windows per encoder call and LLM forward.")] = 8,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write a timeline PNG: score over time, intervals shaded, key frames.", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Detections file (JSONL) of a split, appended per video; rerun to resume. \\[default: detections.jsonl]", rich_help_panel=_SPLIT, show_default=False)] = None,
    video_root: Annotated[Optional[Path], typer.Option("--video-root", help="Folder the split's relative video paths start from (default: the split's folder, then the working directory).", rich_help_panel=_SPLIT, show_default=False)] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Only the first N videos of the split.", rich_help_panel=_SPLIT, show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start --out afresh instead of resuming it.", rich_help_panel=_SPLIT)] = False,
    model: ModelOpt = None,
    frames: InferFrames = None,
    device: Device = "auto",
    dtype: DType = "auto",
    threads: Threads = None,
    quantize: Quantize = None,
    json_out: JsonOut = False,
    wait: Wait = False,
) -> None:
    """Find when the anomaly happens: a score in [0, 1] for each sliding window of the video, the anomalous intervals (start, end in seconds, score) and a description of each.

    Windows: --window seconds every --stride seconds (default: duration/8 within 2-16 s, stride half a window; the last window ends at the video's end). Each window gets its own frames (the model's T, uniform within it) and motion input.

    Score: --scorer auto (the default) is frames for a model with a frame head (the shipped default model has one) and model otherwise. --scorer model: the window's frames and motion go through the model as for a description, and the LLM is asked "Is there an anomaly in this video? Answer yes or no."; one forward gives the next-token probabilities, and the score is P(yes) / (P(yes) + P(no)) over the first tokens of Yes/yes and No/no. --scorer head (a model trained with hawk train --label-weight) reads the model's class head on the window's visual tokens instead, no LLM forward: 1 - P(normal). --scorer frames (a model with a frame head, recipes/fit_head.py --frames) reads the video in clips of the head's span (head.frames_span; the shipped head: 12 s, half a clip apart), scores each sampled frame with that head in the context of its clip, and gives a window the mean over its frames; no LLM forward. --scorer motion is the motion-energy baseline: the window's mean optical-flow magnitude, min-max normalised over the video's windows (the most moving scores 1, the least 0).

    Intervals: the windows scoring above --threshold, overlapping or touching ones merged; an interval's score is its highest window score; intervals shorter than --min-duration are dropped. Each is described by the model (the paper's describe prompt on that interval's own frames; --no-describe skips it, and with --scorer motion no model is loaded).

    Over a split (DATA.json or .jsonl): one line per video in --out, {id, video, duration, fps, windows, events}, appended as each video finishes; a rerun skips videos already there, and resuming with other settings is refused (--overwrite). `hawk score --detection OUT --gt DATA.json` evaluates it.

    Examples:
      hawk detect clip.mp4
      hawk detect clip.mp4 --json --plot timeline.png
      hawk detect long.mp4 --window 8 --stride 2 --threshold 0.6
      hawk detect test.json --out detections.jsonl
      hawk detect test.json --out motion.jsonl --scorer motion --no-describe
    """
    from hawk_core.errors import ConfigError
    from hawk_core.inference.anomaly import AUTO_SCORER, SCORERS
    from hawk_core.inference.detect import DetectConfig

    config = DetectConfig(window=window, stride=stride, threshold=threshold, min_duration=min_duration, describe=describe, batch=batch_size)
    if scorer not in (AUTO_SCORER, *SCORERS):
        raise ConfigError(f"--scorer must be one of {', '.join((AUTO_SCORER, *SCORERS))} (got {scorer!r})")
    if plot is not None and plot.suffix.lower() != ".png":
        raise ConfigError(f"--plot wants a .png file (got {plot})")
    if target.suffix.lower() in _SPLIT_SUFFIXES and not target.is_dir():
        if plot is not None:
            raise ConfigError("--plot draws one video; run `hawk detect VIDEO --plot FILE.png` on a video of the split")
        _run_split(target, out or Path("detections.jsonl"), scorer, config, video_root, limit, overwrite,
                   model, frames, device, dtype, threads, quantize, max_new_tokens, json_out, wait)
        return
    for flag, value in (("--out", out), ("--video-root", video_root), ("--limit", limit), ("--wait", wait or None)):
        if value is not None:
            raise ConfigError(f"{flag} is for a split (a .json/.jsonl file); for one video use --json")
    _run_video(target, scorer, config, plot, model, frames, device, dtype, threads, quantize, max_new_tokens, json_out)


def _setup(scorer_name: str, config, model, frames, device, dtype, threads, quantize, max_new_tokens):
    """(predictor or None, scorer, sampling, generation options)."""
    from hawk_core.inference.anomaly import AUTO_SCORER, MODEL_SCORERS, make_scorer
    from hawk_core.inference.detect import Sampling

    from hawk_cli._inference import generation_options, load_predictor

    predictor = None
    if scorer_name in (AUTO_SCORER, *MODEL_SCORERS) or config.describe:
        predictor = load_predictor(model, device=device, dtype=dtype, frames=frames, threads=threads, quantize=quantize)
    else:
        from hawk_cli._common import set_torch_threads

        set_torch_threads(threads)
    scorer = make_scorer(scorer_name, predictor, batch=config.batch)
    options = generation_options(max_new_tokens, 0.0, 1.0, None)
    return predictor, scorer, Sampling.of(predictor, frames), options


def _progress(name: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn(f"[bold]{name}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        TextColumn("{task.description}"), console=err_console, transient=True, disable=not err_console.is_terminal,
    )


def _run_video(video: Path, scorer_name, config, plot, model, frames, device, dtype, threads, quantize, max_new_tokens, json_out) -> None:
    import json
    import time

    from hawk_core.inference.detect import detect_video

    from hawk_cli._inference import check_video

    started = time.perf_counter()
    check_video(video)
    predictor, scorer, sampling, options = _setup(scorer_name, config, model, frames, device, dtype, threads, quantize, max_new_tokens)
    with _progress("detect") as progress:
        bar = progress.add_task("windows", total=None)
        det = detect_video(
            video, scorer, config, sampling=sampling, predictor=predictor, options=options,
            on_plan=lambda n: progress.update(bar, total=n), on_progress=lambda k: progress.update(bar, advance=k),
        )
    if plot is not None:
        from hawk_core.inference.timeline import key_frames, plot_timeline

        plot_timeline(det, plot, frames=key_frames(video), scorer=scorer.name)
    if json_out:
        payload = det.to_dict() | {
            "settings": {
                "scorer": scorer.describe(), "window": det.window, "stride": det.stride, "threshold": config.threshold,
                "min_duration": config.min_duration, "frames_per_window": sampling.frames,
                "model": predictor.describe_model() if predictor is not None else None,
            },
            "timings": det.timings | {"total_s": round(time.perf_counter() - started, 3)},
        }
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        _print_detection(det, scorer.name)
    note = f"{len(det.windows)} windows of {det.window:g} s every {det.stride:g} s, {scorer.name} scorer"
    if predictor is not None:
        note += f", {predictor.spec.label}"
    note += f", {time.perf_counter() - started:.1f} s"
    if plot is not None:
        note += f"; timeline: {plot}"
    err_console.print(f"[dim]{note}[/]", soft_wrap=True)


_BLOCKS = "▁▂▃▄▅▆▇█"


def _spark(scores: list[float]) -> str:
    return "".join(_BLOCKS[min(len(_BLOCKS) - 1, max(0, int(s * len(_BLOCKS))))] for s in scores)


def _print_detection(det, scorer_name: str) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    console.print(f"[bold]{escape(Path(det.video).name)}[/]: {det.duration:.1f} s, {len(det.windows)} windows, "
                  f"{len(det.events)} anomalous interval(s) (score > {det.threshold:g})", soft_wrap=True)
    if len(det.windows) <= 40:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=f"window scores ({scorer_name})", title_justify="left")
        table.add_column("window", no_wrap=True)
        table.add_column("score", justify="right", no_wrap=True)
        table.add_column("", no_wrap=True)
        for w in det.windows:
            hot = w.score > det.threshold
            table.add_row(f"{format_clock(w.start)}-{format_clock(w.end)}", f"{w.score:.3f}", "█" * max(1, round(w.score * 20)) if w.score > 0 else "",
                          style="bold red" if hot else None)
        console.print(table)
    else:
        console.print(f"scores over time ({scorer_name}, {format_clock(0)}-{format_clock(det.duration)}): {_spark([w.score for w in det.windows])}")
    if not det.events:
        console.print("no interval above the threshold")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="anomalous intervals", title_justify="left")
    for col, just in (("#", "right"), ("from", "left"), ("to", "left"), ("score", "right"), ("description", "left")):
        table.add_column(col, justify=just, no_wrap=col != "description", overflow="fold")
    for i, e in enumerate(det.events, 1):
        text = escape(e.description) if e.description is not None else "[dim](not described)[/]"
        table.add_row(str(i), format_clock(e.start), format_clock(e.end), f"{e.score:.3f}", text)
    console.print(table)


def _run_split(data: Path, out: Path, scorer_name, config, video_root, limit, overwrite,
               model, frames, device, dtype, threads, quantize, max_new_tokens, json_out, wait=False) -> None:
    import json

    from rich.markup import escape

    from hawk_core.data.records import NEED_VIDEO, load_hawk_records
    from hawk_core.errors import InputError
    from hawk_core.inference.detect import detect_meta, detect_video, plan_detections, run_detections
    from hawk_core.inference.split import check_run_meta, meta_path

    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give a .jsonl file path")
    if out.suffix.lower() in _SPLIT_SUFFIXES and out.resolve() == data.resolve():
        raise InputError(f"--out {out} is the split itself")
    lock_output(out, wait, is_dir=False)  # one writer per output (see hawk_core.locks)
    records = load_hawk_records(data, video_root=video_root, need=NEED_VIDEO, answers=False)
    if limit is not None:
        records = records[:limit]
    items = plan_detections(records, data, video_root)
    if overwrite:
        out.unlink(missing_ok=True)
        meta_path(out).unlink(missing_ok=True)
    existed = out.exists()
    predictor, scorer, sampling, options = _setup(scorer_name, config, model, frames, device, dtype, threads, quantize, max_new_tokens)
    check_run_meta(out, detect_meta(scorer, config, sampling, predictor, options))

    def one(path: Path):
        return detect_video(path, scorer, config, sampling=sampling, predictor=predictor, options=options)

    try:
        with _progress("detect") as progress:
            bar = progress.add_task("", total=len(items))
            summary = run_detections(items, out, one, on_progress=lambda n, label: progress.update(bar, advance=n, description=label))
    finally:
        if not existed and out.is_file() and out.stat().st_size == 0:  # nothing written: leave nothing behind
            out.unlink()
            meta_path(out).unlink(missing_ok=True)
    for video, err in summary.failed_videos.items():
        err_console.print(f"[yellow]skipped[/] {escape(video)}: {escape(err)}", soft_wrap=True)
    if json_out:
        typer.echo(json.dumps({"out": str(out), "scorer": scorer.name, **summary.to_dict()}, indent=2, ensure_ascii=False))
    else:
        console.print(
            f"[bold]{summary.written}[/] video(s) written ({summary.events} intervals), {summary.already_done} already in "
            f"{escape(str(out))}, {len(summary.failed_videos)} skipped (of {summary.total})", soft_wrap=True,
        )
    if summary.failed_videos and summary.written == 0 and summary.already_done == 0:
        raise InputError(f"no video could be read; first: {next(iter(summary.failed_videos.values()))}")
