"""`hawk ask`: one open question about a video."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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


@guarded
def ask(
    video: Annotated[Path, typer.Argument(help="A video file or a folder of image frames.", show_default=False)],
    question: Annotated[str, typer.Argument(help="The question, e.g. \"Who is causing the disturbance?\"", show_default=False)],
    model: ModelOpt = None,
    frames: InferFrames = None,
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
    """Answer one open question about a video (the paper's video question answering, 5W2H:
    what, who, where, when, why, how, how much).

    The question goes into the paper's instruction template after the video and motion
    tokens. A question too long for the model's context window is cut to fit (with a
    warning); an empty one is an error.

    Examples:
      hawk ask clip.mp4 "Who is causing the disturbance in the video?"
      hawk ask clip.mp4 "How much damage was caused?" --json
    """
    import json
    import time

    from hawk_core.errors import InputError

    from hawk_cli._inference import answer_payload, check_video, generation_options, load_predictor, prepare, status, warn

    started = time.perf_counter()
    if not question.strip():
        raise InputError("the question is empty")
    options = generation_options(max_new_tokens, temperature, top_p, seed, sample, trim_to_sentence)
    check_video(video)
    predictor = load_predictor(model, device=device, dtype=dtype, frames=frames, threads=threads, quantize=quantize)
    prepared = prepare(predictor, video)
    with status(f"generating the answer (up to {options.max_new_tokens} tokens)"):
        answer = predictor.ask(prepared, question, options)
    warn(answer.warnings)
    if json_out:
        typer.echo(json.dumps(answer_payload(predictor, prepared, answer, "qa", options, started=started), indent=2, ensure_ascii=False))
        return
    typer.echo(answer.text)
    err_console.print(f"[dim]{predictor.spec.label}, {answer.tokens} tokens, {time.perf_counter() - started:.1f} s[/]", soft_wrap=True)
