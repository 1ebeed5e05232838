"""`hawk flow`: the motion modality of a video (or of every video in a folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hawk_cli._common import (
    Codec, FolderFps, Frames, JsonOut, Mask, Resize, Size, Threshold, Wait, Workers, console, guarded, lock_output, warn,
)
from hawk_cli._shards import ShardOpt


@guarded
def flow(
    video: Annotated[Path, typer.Argument(help="A video file, a folder of image frames, or a folder of videos.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (one sub-folder per video for a folder input).")] = Path("flow_out"),
    frames: Frames = 32,
    size: Size = 224,
    mask: Mask = "soft",
    threshold: Threshold = 0.2,
    resize: Resize = "squash",
    folder_fps: FolderFps = 25.0,
    workers: Workers = 1,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing complete outputs (a folder run skips them by default).")] = False,
    codec: Codec = "auto",
    sheet_frames: Annotated[bool, typer.Option("--sheet-frames", help="On flow_sheet.png, show each frame beside its flow (4 pairs a row).")] = False,
    pyr_scale: Annotated[float, typer.Option(help="Farneback pyramid scale.", rich_help_panel="Farneback")] = 0.5,
    levels: Annotated[int, typer.Option(help="Farneback pyramid levels.", rich_help_panel="Farneback")] = 3,
    winsize: Annotated[int, typer.Option(help="Farneback averaging window.", rich_help_panel="Farneback")] = 10,
    iterations: Annotated[int, typer.Option(help="Farneback iterations per level.", rich_help_panel="Farneback")] = 3,
    poly_n: Annotated[int, typer.Option(help="Farneback pixel neighbourhood.", rich_help_panel="Farneback")] = 5,
    poly_sigma: Annotated[float, typer.Option(help="Farneback Gaussian sigma.", rich_help_panel="Farneback")] = 1.2,
    shard: ShardOpt = None,
    json_out: JsonOut = False,
    wait: Wait = False,
) -> None:
    """Extract the motion modality (paper Eq. 3-4): Farneback optical flow between each of the
    T sampled frames and its predecessor, its magnitude as a mask on the frame.

    Writes OUT/motion.safetensors (video, motion, mask, flow, timestamps), OUT/stats.json
    (per-frame mean magnitude, moving fraction, dominant direction), OUT/preview.mp4
    (video | motion | flow, named and timed, in --codec) and two PNG contact sheets
    (flow_sheet.png ends with a colour-wheel key; --sheet-frames puts each frame beside its
    flow). Defaults are the authors' release's Farneback parameters. Outputs are written
    atomically: a failure leaves nothing behind.

    A folder of videos can be split over processes or machines with --shard K/N
    (every N-th video from the K-th; under torchrun, from RANK/WORLD_SIZE).

    Examples:
      hawk flow clip.mp4 --out flow/clip
      hawk flow videos/ --out flow/ --workers 2 --mask threshold
      hawk flow videos/ --out flow/ --shard 0/4   # ... 3/4 on other machines
    """
    import json

    from hawk_core.errors import InputError
    from hawk_core.media.flow import FlowJob, is_complete, plan_batch, process_video
    from hawk_core.media.motion_config import FarnebackParams, MotionConfig
    from hawk_core.media.video import is_video_path, pick_codec

    params = FarnebackParams(pyr_scale, levels, winsize, iterations, poly_n, poly_sigma)
    codec, codec_note = pick_codec(codec)  # an unknown --codec is bad input before any work
    job = FlowJob(frames, size, resize, folder_fps, MotionConfig(mask=mask, threshold=threshold, flow=params), codec, sheet_frames)
    if not video.exists():
        raise InputError(f"no such file or folder: {video}")

    from hawk_cli._shards import resolve_shard

    the_shard, from_env = resolve_shard(shard)
    single = video.is_file() or is_video_path(video)
    if single and the_shard is not None:
        if not from_env:
            raise InputError("--shard splits a folder of videos; this is one video")
        if the_shard.index != 0:  # torchrun: one rank does the single video
            return
    if single:
        if is_complete(out) and not overwrite and any(out.iterdir()):
            raise InputError(f"{out} already holds flow outputs; pass --overwrite to replace them")
        summary = process_video(video, out, job)
        if codec_note:  # said once a preview is written, never before an error
            warn(codec_note)
        if json_out:
            console.print_json(json.dumps({"out": str(out), **summary}))
            return
        _print_summary(summary, out)
        return

    # a folder run resumes OUT: one writer at a time (per shard: shards write disjoint videos)
    lock_output(out if the_shard is None else out.with_name(f"{out.name}.shard-{the_shard.index}-of-{the_shard.count}"), wait)
    pairs = plan_batch(video, out)
    if the_shard is not None:  # by video, round-robin: the rule of hawk_core.inference.shards
        pairs = pairs[the_shard.index :: the_shard.count]
    if _run_folder(pairs, job, workers, overwrite, json_out, out) and codec_note:
        warn(codec_note)


def _run_folder(pairs: list, job, workers: int, overwrite: bool, json_out: bool, out: Path) -> int:
    """The (video, folder) pairs of a folder run under a progress bar, then the counts (or
    --json); returns how many were written."""
    import json

    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hawk_core.errors import InputError
    from hawk_core.media.flow import run_batch

    done = skipped = 0
    failures: list[tuple[Path, str]] = []
    with Progress(
        TextColumn("[bold]flow"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("{task.description}"),
        console=console, transient=not console.is_terminal,
    ) as progress:
        task = progress.add_task("", total=len(pairs))
        for item in run_batch(pairs, job, workers=workers, overwrite=overwrite):
            if item.status == "done":
                done += 1
            elif item.status == "skipped":
                skipped += 1
            else:
                failures.append((item.video, item.error or "failed"))
            progress.update(task, advance=1, description=item.video.name)
    for v, err in failures:
        console.print(f"[yellow]skipped[/] {escape(str(v))}: {escape(str(err))}", soft_wrap=True)
    if json_out:
        console.print_json(json.dumps({"out": str(out), "done": done, "skipped_existing": skipped, "failed": [{"video": str(v), "error": e} for v, e in failures]}))
    else:
        console.print(f"[bold]{done}[/] written, {skipped} already complete, {len(failures)} failed -> {escape(str(out))}", soft_wrap=True)
    if failures and not done and not skipped:
        raise InputError(f"all {len(failures)} videos failed; first: {failures[0][1]}")
    return done


def _print_summary(summary: dict, out: Path) -> None:
    from rich.table import Table

    frames = summary["frames"]
    table = Table(title=f"motion of {Path(summary['source']).name}", show_lines=False)
    for col in ("t", "time (s)", "mean |flow|", "moving %", "direction"):
        table.add_column(col, justify="right")
    peak = max(frames, key=lambda s: s["mean_magnitude"])
    for s in frames:
        style = "bold yellow" if s is peak else None
        table.add_row(str(s["t"]), f"{s['timestamp']:.2f}", f"{s['mean_magnitude']:.3f}", f"{100 * s['moving_fraction']:.1f}", s["direction"], style=style)
    console.print(table)
    console.print(
        f"{summary['num_frames']} frames ({summary['num_unique_frames']} distinct) of {summary['num_native_frames']} "
        f"at {summary['fps']:.2f} fps, {summary['size']}px, mask={summary['motion']['mask']} "
        f"(scale {summary['mask_scale']:.2f} px/frame); peak motion at {peak['timestamp']:.2f}s -> {out}"
    )
