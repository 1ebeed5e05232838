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
    Temperature,
    Threads,
    TopP,
    console,
    err_console,
    guarded,
)


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
    max_new_tokens: MaxNewTokens = 128,
    temperature: Temperature = 0.0,
    top_p: TopP = 1.0,
    seed: Seed = None,
    device: Device = "auto",
    dtype: DType = "auto",
    threads: Threads = None,
    json_out: JsonOut = False,
) -> None:
    """Describe the anomaly in a video (the paper's video description task).

    hawk samples T frames (default 32), builds the motion input from optical flow, encodes
    both with the model's frozen encoders and asks the LLM the paper's describe prompt
    ("Can you describe the anomaly in the video?"). The answer goes to stdout; notes and
    warnings to stderr. Greedy decoding by default: the same video gives the same text.

    With no --model, the embedded model runs offline on the CPU; its first run converts the
    embedded LLM once (~30 s) and caches it.

    Examples:
      hawk describe clip.mp4
      hawk describe clip.mp4 --frames 16 --json
      hawk describe clip.mp4 --model runs/ucf/ --device cuda
    """
    import json
    import time

    from hawk_cli._inference import answer_payload, check_video, generation_options, load_predictor, prepare, warn

    started = time.perf_counter()
    options = generation_options(max_new_tokens, temperature, top_p, seed)
    check_video(video)
    predictor = load_predictor(model, device=device, dtype=dtype, frames=frames, threads=threads)
    instruction = prompt if prompt is not None else predictor.describe_prompt(prompt_index)
    prepared = prepare(predictor, video)
    answer = predictor.describe(prepared, options, prompt=instruction)
    warn(answer.warnings)
    if json_out:
        typer.echo(json.dumps(answer_payload(predictor, prepared, answer, "description", options, started=started), indent=2, ensure_ascii=False))
        return
    typer.echo(answer.text)
    err_console.print(
        f"[dim]{len(prepared.frames)} frames of {prepared.duration:.1f} s, {predictor.spec.label}, "
        f"{answer.tokens} tokens, {time.perf_counter() - started:.1f} s[/]"
    )
