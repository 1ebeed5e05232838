"""What the inference commands (describe, ask, chat, predict) share: loading the model with
an honest status line, generation options, the --json payload."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from hawk_cli._common import err_console, set_torch_threads
from hawk_cli._common import warn as warn_line

if TYPE_CHECKING:  # pragma: no cover
    from hawk_core.inference.predictor import Answer, GenerationOptions, PreparedVideo, Predictor


@contextlib.contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on a terminal (stderr); nothing when stderr is not one."""
    if err_console.is_terminal:
        with err_console.status(message):
            yield
    else:
        yield


def load_predictor(
    model: str | None, *, device: str, dtype: str, frames: int | None, threads: int | None, quantize: str | None = None, quiet: bool = False
) -> Predictor:
    """Load once; say what was loaded and any caveat (stderr, so stdout stays the answer)."""
    set_torch_threads(threads)
    from hawk_core.inference.predictor import Predictor

    def on_status(line: str) -> None:
        err_console.print(f"[cyan]{line}[/]", soft_wrap=True)

    with status("loading the model"):
        predictor = Predictor.load(model, device=device, dtype=dtype, frames=frames, quantize=quantize, on_status=on_status)
    if predictor.spec.note and not quiet:
        err_console.print(f"[yellow]note:[/] {predictor.spec.note}", soft_wrap=True)
    if predictor.quantize == "int8":
        warn_line(INT8_CAVEAT)
    return predictor


# measured by benchmarks/infer_bench.py's decode study (README, "Speed")
INT8_CAVEAT = ("--quantize int8 is deprecated: its dynamic int8 activations change the answers from the first "
               "tokens on (0% of greedy tokens agree with float32's on the benchmark clips); the default "
               "--dtype auto already holds the LLM in bfloat16 on CPUs that compute it natively")


def generation_options(max_new_tokens: int, temperature: float, top_p: float, seed: int | None, sample: str = "greedy",
                       trim_to_sentence: bool = False) -> GenerationOptions:
    """The decoding options of the flags, or of the ``--sample`` preset (which the
    --max-new-tokens / --temperature / --top-p flags must then leave at their defaults)."""
    import dataclasses

    from hawk_core.errors import ConfigError
    from hawk_core.inference.predictor import GenerationOptions

    if sample == "greedy":
        return GenerationOptions(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed, trim_to_sentence=trim_to_sentence)
    preset = GenerationOptions.preset(sample, seed=seed)
    default = GenerationOptions()
    given = [f"--{n.replace('_', '-')}" for n, v in (("max_new_tokens", max_new_tokens), ("temperature", temperature), ("top_p", top_p))
             if v != getattr(default, n)]
    if given:
        raise ConfigError(f"--sample {sample} sets the decoding itself; drop {', '.join(given)}")
    return dataclasses.replace(preset, trim_to_sentence=trim_to_sentence)


def prepare(predictor: Predictor, video: Path) -> PreparedVideo:
    with status(f"reading {video.name}: frames, motion, encoders"):
        return predictor.prepare(video)


def warn(lines: list[str]) -> None:
    for w in lines:
        warn_line(w)


def answer_payload(predictor: Predictor, video: PreparedVideo, answer: Answer, task: str, options: GenerationOptions, *, started: float) -> dict:
    """The --json object of describe / ask: text, model, frames with timestamps, timings."""
    return {
        "task": task,
        "question": answer.question,
        "text": answer.text,
        "truncated": answer.truncated,
        **answer.guide_fields(),  # a guided model's class (head.guide) and start (head.guide_start)
        "model": predictor.describe_model(),
        **video.to_dict(),
        "generation": options.to_dict(),
        "timings": {
            "load_s": round(predictor.load_s, 3),
            **{k: round(v, 3) for k, v in video.timings.items()},
            "generate_s": round(answer.generate_s, 3),
            "new_tokens": answer.tokens,
            "tokens_per_s": round(answer.tokens_per_s, 2),
            "total_s": round(time.perf_counter() - started, 3),
        },
        "warnings": answer.warnings,
    }


def check_video(video: Path) -> None:
    """Fail fast, before the model loads, on a missing or unreadable video."""
    from hawk_core.media.video import probe

    probe(video)
