"""`hawk synth`: a procedural anomaly benchmark where motion is the cue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hawk_cli._common import Codec, JsonOut, Wait, Workers, console, guarded, lock_output, warn


@guarded
def synth(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Output folder (videos/, <split>.jsonl resume log, <split>.json dataset), or a .mp4 path for one video with its record in a .json beside it."),
    ],
    n: Annotated[int | None, typer.Option("--n", "-n", min=1, help="Number of videos in the split \\[default: 100; 1 for a .mp4 --out].", show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, help="Seed; with --split it fixes every video. Use different seeds (or splits) for train and test.")] = 0,
    split: Annotated[str, typer.Option("--split", help="Split name (names the files; also part of each video's random stream).")] = "train",
    frames: Annotated[int, typer.Option("--frames", "-T", min=16, max=256, help="Frames per video.")] = 48,
    fps: Annotated[float, typer.Option("--fps", min=1.0, max=60.0, help="Frame rate of the simulation and the mp4.")] = 10.0,
    size: Annotated[int, typer.Option("--size", min=64, max=1024, help="Frame size in pixels (square).")] = 224,
    codec: Codec = "auto",
    events: Annotated[str, typer.Option("--events", help="Comma-separated anomaly types to draw from (default: all).")] = "",
    normal_fraction: Annotated[float, typer.Option("--normal-fraction", min=0.0, max=1.0, help="Share of normal (anomaly-free) videos.")] = 0.2,
    qa: Annotated[int, typer.Option("--qa", min=0, max=16, help="Question-answer pairs per video (paper appendix D questions).")] = 3,
    zoom: Annotated[float, typer.Option("--zoom", min=0.5, max=4.0, help="Closer cameras: each camera's ground width is divided by this, so people and cars are ZOOM times larger (2: people 25-50 px tall at 224 px instead of 12-25).")] = 1.0,
    workers: Workers = 1,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Delete this split's videos and records in --out first.")] = False,
    json_out: JsonOut = False,
    wait: Wait = False,
) -> None:
    """Render a synthetic anomaly benchmark where motion is the cue.

    Fixed-camera walkways, plazas and roads with walking pedestrians and
    cars in lanes; anomalies that motion gives away: running, cycling /
    skateboarding / a cart on a walkway, a fall, a fight, loitering,
    wrong-way driving, a collision, a thrown object, a crowd scattering;
    plus normal videos.

    With --out CLIP.mp4, one video (index 0 of --split/--seed) is written
    there and its record to CLIP.json.

    Each video (mp4) gets a HAWK-format record: a description, answers to
    the paper's open-world questions, and event_type, time_span (frames and
    seconds) and region (bbox). Same seed, split and options give the same
    videos and text. Videos are written to a temporary name and renamed,
    records appended one by one: an interrupted run resumes where it
    stopped. OUT/<split>.json is exported atomically at the end.

    Event types: running, cycling, skateboarding, cart, falling, fighting,
    loitering, wrong_way, collision, throwing, dispersal (and normal).

    Examples:
      hawk synth --out data/synth --n 2000 --seed 0 --split train -j 2
      hawk synth --out data/synth --n 200 --seed 1 --split test
      hawk synth --out clip.mp4 --events falling --normal-fraction 0
      hawk synth --out data/near --n 500 --zoom 2   # closer cameras, larger actors
    """
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hawk_core.errors import InputError
    from hawk_core.synth import SynthConfig, synthesize, write_single

    from hawk_core.media.video import pick_codec

    lock_output(out, wait)  # one writer per output, before any work or warning
    codec, note = pick_codec(codec)
    if note:
        warn(note)
    wanted = tuple(e.strip() for e in events.split(",") if e.strip())
    cfg = SynthConfig(frames=frames, fps=fps, size=size, normal_fraction=normal_fraction, qa=qa, zoom=zoom, **({"events": wanted} if wanted else {}))
    if out.suffix.lower() == ".mp4":
        if n not in (None, 1):
            raise InputError(f"--out {out} is one video; --n must be 1 (got {n}), or give a folder")
        rec = write_single(out, seed, split, cfg, overwrite=overwrite, codec=codec)
        if json_out:
            console.print_json(json.dumps(rec))
        else:
            span = rec["time_span"]
            when = f", {span['start_s']:.1f}-{span['end_s']:.1f} s" if span else ""
            console.print(f"{rec['event_type']} ({rec['scene']}{when}) -> {out} and {out.with_suffix('.json')}\n{rec['description']}")
        return
    with Progress(
        TextColumn("[bold]synth"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("{task.description}"),
        console=console, transient=not console.is_terminal, disable=json_out,
    ) as progress:
        n = 100 if n is None else n
        task = progress.add_task("", total=n)

        def on_progress(k: int, rec: dict | None) -> None:
            progress.update(task, advance=k, description=rec["event_type"] if rec else "")

        summary = synthesize(out, n, seed, split, cfg, workers=workers, overwrite=overwrite, on_progress=on_progress, codec=codec)
    if json_out:
        console.print_json(json.dumps(summary.to_dict()))
        return
    ev = ", ".join(f"{k} {v}" for k, v in summary.events.items())
    console.print(
        f"[bold]{summary.written}[/] written, {summary.skipped} already there -> {summary.dataset} "
        f"({summary.videos_per_s:.1f} videos/s)\n{ev}"
    )
