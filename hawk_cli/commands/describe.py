"""`hawk describe`: the anomaly-focused description of a video."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hawk_cli._common import (
    Device,
    DType,
    InferFrames,
    JsonOut,
    MaxNewTokens,
    ModelOpt,
    Seed,
    Sample,
    Temperature,
    Threads,
    TopP,
    Quantize,
    console,
    err_console,
    TrimToSentence,
    guarded,
)
from hawk_core.media.timefmt import format_clock


@guarded
def describe(
    video: Annotated[Path, typer.Argument(help="A video file or a folder of image frames.", show_default=False)],
    model: ModelOpt = None,
    frames: InferFrames = None,
    prompt: Annotated[
        Optional[str],
        typer.Option("--prompt", help="Ask with this instruction instead of the paper's describe prompt.", show_default=False),
    ] = None,
    prompt_index: Annotated[int, typer.Option("--prompt-index", min=0, max=19, help="Which of the paper's 20 describe prompts (appendix D) to use.")] = 0,
    window: Annotated[
        Optional[float],
        typer.Option("--window", min=0.01, help="Describe windows of this many seconds (long videos) instead of the whole video.", rich_help_panel="Long videos", show_default=False),
    ] = None,
    stride: Annotated[
        Optional[float],
        typer.Option("--stride", min=0.01, help="Seconds between window starts (default: half a window).", rich_help_panel="Long videos", show_default=False),
    ] = None,
    top: Annotated[
        Optional[int],
        typer.Option("--top", min=1, help="Describe only the K windows with the most motion (all are ranked).", rich_help_panel="Long videos", show_default=False),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Windows encoded and described per batch.", rich_help_panel="Long videos")] = 4,
    max_new_tokens: MaxNewTokens = 128,
    trim_to_sentence: TrimToSentence = False,
    temperature: Temperature = 0.0,
    top_p: TopP = 1.0,
    seed: Seed = None,
    sample: Sample = "greedy",
    device: Device = "auto",
    dtype: DType = "auto",
    threads: Threads = None,
    quantize: Quantize = None,
    json_out: JsonOut = False,
) -> None:
    """Describe the anomaly in a video (the paper's video description task).

    hawk samples T frames (default: the model's own, 16 for the embedded model), builds the motion input from optical flow, encodes
    both with the model's frozen encoders and asks the LLM the paper's describe prompt
    ("Can you describe the anomaly in the video?"). The answer goes to stdout; notes and
    warnings to stderr. Greedy decoding by default: the same video gives the same text.

    With no --model, the embedded model runs offline on the CPU; its first run converts the
    embedded LLM once (~30 s) and caches it.

    Long videos: the paper sees a whole video through 32 frames. --window W cuts it into
    W-second windows every --stride S seconds, each with its own T frames and motion, and
    prints a time-stamped description per window with its motion energy (mean optical-flow
    magnitude) and rank: a simple localisation of where things move most. --top K
    describes only the K most energetic windows.

    Examples:
      hawk describe clip.mp4
      hawk describe clip.mp4 --frames 16 --json
      hawk describe clip.mp4 --model runs/ucf/ --device cuda
      hawk describe long.mp4 --window 10 --stride 5 --top 3
    """
    import json
    import time

    from hawk_cli._inference import answer_payload, check_video, generation_options, load_predictor, prepare, status, warn

    started = time.perf_counter()
    if (stride is not None or top is not None) and window is None:
        from hawk_core.errors import ConfigError

        raise ConfigError("--stride and --top need --window SECONDS")
    options = generation_options(max_new_tokens, temperature, top_p, seed, sample, trim_to_sentence)
    check_video(video)
    predictor = load_predictor(model, device=device, dtype=dtype, frames=frames, threads=threads, quantize=quantize)
    instruction = prompt if prompt is not None else predictor.describe_prompt(prompt_index)
    if window is not None:
        _describe_windows(predictor, video, instruction, options, window, stride, top, batch_size, json_out, started)
        return
    prepared = prepare(predictor, video)
    with status(f"generating the description (up to {options.max_new_tokens} tokens)"):
        answer = predictor.describe(prepared, options, prompt=instruction)
    warn(answer.warnings)
    if json_out:
        typer.echo(json.dumps(answer_payload(predictor, prepared, answer, "description", options, started=started), indent=2, ensure_ascii=False))
        return
    typer.echo(answer.text)
    err_console.print(
        f"[dim]{len(prepared.frames)} frames of {prepared.duration:.1f} s, {predictor.spec.label}, "
        f"{answer.tokens} tokens, {time.perf_counter() - started:.1f} s"
        + (f", guided by its head's class: {answer.event}" if answer.event is not None else "")
        + (f" from {answer.event_start:g} s (its frame head's onset)" if answer.event_start is not None else "") + "[/]", soft_wrap=True
    )


def _describe_windows(predictor, video: Path, instruction: str, options, window: float, stride, top, batch_size: int, json_out: bool, started: float) -> None:
    import json
    import time

    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    stream = not json_out and not console.is_terminal  # piped: each line as its window is done

    def line(r) -> str:
        ranked = f" rank {r.rank}" if top is not None and r.rank else ""
        text = r.text if r.text is not None else "(not described)"
        return f"[{format_clock(r.window.start_s)}-{format_clock(r.window.end_s)}] motion {r.energy:.3f}{ranked}: {text}"

    with Progress(
        TextColumn("[bold]windows"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("[dim]{task.description}"),
        console=err_console, transient=True,
    ) as progress:
        bar = progress.add_task("reading and planning", total=None)
        from hawk_core.inference.windows import describe_windows

        def on_window(r) -> None:
            if stream:
                typer.echo(line(r))
            elif not json_out:  # a terminal: the line above the bar now, the ranked table at the end
                progress.console.print(escape(line(r)), soft_wrap=True, style="dim")

        results = describe_windows(
            predictor,
            video, window, stride, options, top=top, prompt=instruction, batch=batch_size,
            on_plan=lambda n: progress.update(bar, total=n, description=f"describing {min(batch_size, n)} at a time"),
            on_progress=lambda k: progress.update(bar, advance=k),
            on_window=on_window,
        )
    cut = sum(r.truncated for r in results)
    if cut:
        from hawk_cli._inference import warn

        trimmed = "; trimmed to their last full sentence" if options.trim_to_sentence else "; raise it, or pass --trim-to-sentence"
        warn([f"{cut} of {sum(r.text is not None for r in results)} window descriptions cut at --max-new-tokens ({options.max_new_tokens}){trimmed}"])
    if json_out:
        payload = {
            "task": "description",
            "question": instruction,
            "video": str(video),
            "model": predictor.describe_model(),
            "window_s": window,
            "stride_s": stride if stride is not None else window / 2,
            "generation": options.to_dict(),
            "windows": [r.to_dict() for r in results],
            "timings": {"load_s": round(predictor.load_s, 3), "total_s": round(time.perf_counter() - started, 3)},
        }
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    if console.is_terminal:
        from rich.table import Table

        table = Table(title=f"{video.name}: {len(results)} windows of {window:g} s", show_lines=True)
        for col, just in (("time", "left"), ("motion", "right"), ("rank", "right"), ("description", "left")):
            table.add_column(col, justify=just)
        for r in results:
            style = "bold yellow" if r.rank == 1 else None
            table.add_row(
                f"{format_clock(r.window.start_s)}-{format_clock(r.window.end_s)}", f"{r.energy:.3f}", str(r.rank),
                escape(r.text) if r.text is not None else "[dim](not described)[/]", style=style,
            )
        console.print(table)
    else:  # the described windows were printed as they finished; now the ones --top left out
        for r in results:
            if r.text is None:
                typer.echo(line(r))
    best = min(results, key=lambda r: r.rank)
    err_console.print(
        f"[dim]most motion: {format_clock(best.window.start_s)}-{format_clock(best.window.end_s)} (peak at {format_clock(best.peak_s)}); "
        f"{predictor.spec.label}, {time.perf_counter() - started:.1f} s[/]", soft_wrap=True
    )
