"""The LLM's context window: how long a prompt is, and cutting history / question to fit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError, InputError

if TYPE_CHECKING:  # pragma: no cover
    from .predictor import Predictor


def prompt_length(predictor: Predictor, question: str, history: list[tuple[str, str]] | None = None,
                  frame_times: list[float] | None = None) -> int:
    """Positions the LLM sees before the answer: template, visual tokens, history, question
    (and, in the release prompt format, the frame-time sentence: ``frame_times``, else
    times of ``predictor.num_frames`` frames are assumed)."""
    from ..model import TextSample

    if frame_times is None:
        frame_times = [0.0] * predictor.num_frames
    model = predictor.model
    # a guided model (head.guide) names a class in the prompt (and with head.guide_start when it
    # starts): count the longest sentence, the start at the clip's last frame
    head = model.config.head
    start = max(frame_times) if frame_times else 0.0
    event = max(head.classes, key=lambda c: len(head.guide_sentence(c, start))) if model.guided else None
    batch = model.collate([TextSample(question, history=list(history or []), frame_times=frame_times, event=event,
                                      start=start)], for_generation=True)
    return int(batch.input_ids.shape[1])

def fit_to_context(
    predictor: Predictor, question: str, history: list[tuple[str, str]], max_new_tokens: int, *, frame_times: list[float] | None = None
) -> tuple[str, list[tuple[str, str]], list[str]]:
    """Check ``question``; drop the oldest history turns, then cut the question, until the
    prompt plus ``max_new_tokens`` fits the LLM's context window.
    Returns (question, history, warnings)."""
    question = (question or "").strip()
    if not question:
        raise InputError("the question is empty")
    limit = predictor.context_window - max_new_tokens
    overhead = prompt_length(predictor, "?", None, frame_times)
    if overhead >= limit:
        raise ConfigError(
            f"--max-new-tokens {max_new_tokens} leaves no room for a question in the model's "
            f"{predictor.context_window}-token context window (the prompt alone takes {overhead})"
        )
    warns: list[str] = []
    history = list(history)
    if prompt_length(predictor, question, history, frame_times) <= limit:
        return question, history, warns
    dropped = 0
    while history and prompt_length(predictor, question, history, frame_times) > limit:
        history.pop(0)
        dropped += 1
    if dropped:
        warns.append(f"dropped the {dropped} oldest turn(s) of the conversation to fit the {predictor.context_window}-token context window")
    n = prompt_length(predictor, question, history, frame_times)
    if n <= limit:
        return question, history, warns
    ids = predictor.tokenizer(question, add_special_tokens=False)["input_ids"]
    keep = max(1, len(ids) - (n - limit))
    while True:
        cut = predictor.tokenizer.decode(ids[:keep], skip_special_tokens=True).strip()
        if (cut and prompt_length(predictor, cut, history, frame_times) <= limit) or keep <= 1:
            break
        keep -= max(1, (prompt_length(predictor, cut, history, frame_times) - limit) if cut else 1)
    warns.append(
        f"question truncated to its first {keep} of {len(ids)} tokens to fit the model's "
        f"{predictor.context_window}-token context window (with {max_new_tokens} new tokens)"
    )
    return cut, history, warns
