"""`hawk chat`: a multi-turn conversation about one video."""

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
    fail,
    TrimToSentence,
    guarded,
)

HELP = "commands: /reset (forget the conversation), /history, /describe (the paper's describe prompt), /quit"


@guarded
def chat(
    video: Annotated[Path, typer.Argument(help="A video file or a folder of image frames.", show_default=False)],
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
    """Talk about one video: each question is answered with the earlier turns in the prompt.

    The video is read and encoded once. Type a question per line; /reset forgets the
    conversation, /history shows it, /describe asks the paper's describe prompt, /quit (or
    Ctrl-D) ends. When the history outgrows the model's context window the oldest turns are
    dropped (with a warning). On a terminal the line can be edited (arrow keys, Home/End)
    and the up/down arrows recall this chat's earlier questions; Ctrl-C cancels the answer
    being generated (or the line being typed) and the chat goes on.

    When stdin is not a terminal, every line is a question (or a /command), so a
    conversation can be scripted; each answer is printed after its question, or with
    --json as one JSON object per line ({turn, question, text, truncated, warnings}:
    the answer is "text", as in describe and ask).

    Examples:
      hawk chat clip.mp4
      printf 'What happens?\\nWho is involved?\\n' | hawk chat clip.mp4
      hawk chat clip.mp4 --json < questions.txt > answers.jsonl
    """
    import sys

    from hawk_core.errors import InputError
    from hawk_core.inference.chat import ChatSession

    from hawk_cli._inference import check_video, generation_options, load_predictor, prepare

    options = generation_options(max_new_tokens, temperature, top_p, seed, sample, trim_to_sentence)
    check_video(video)
    interactive = sys.stdin.isatty()
    predictor = load_predictor(model, device=device, dtype=dtype, frames=frames, threads=threads, quantize=quantize)
    prepared = prepare(predictor, video)
    session = ChatSession(predictor, prepared, options)
    if interactive:
        err_console.print(
            f"[bold]hawk chat[/] on {video.name} ({len(prepared.frames)} frames of {prepared.duration:.1f} s, "
            f"{predictor.spec.label}). {HELP}", soft_wrap=True
        )
    try:
        turn = _converse(session, predictor, interactive, json_out)
    except KeyboardInterrupt:  # piped: stop; a chat has no work to keep or resume
        raise fail("interrupted", 130) from None
    if turn == 0 and not interactive:
        raise InputError("no question on stdin (one question a line)")


def _converse(session, predictor, interactive: bool, json_out: bool) -> int:
    """Answer line after line; returns the number of answered turns."""
    turn = 0
    for line in _lines(interactive):
        text = line.strip()
        if not text:
            continue
        command = text.lower()
        if command in ("/quit", "/exit", "/q"):
            break
        if command == "/describe":
            text = predictor.describe_prompt()
        elif text.startswith("/"):
            _command(session, text, json_out)
            continue
        answer = _ask(session, text, interactive)
        if answer is None:
            continue
        turn += 1
        _print_answer(answer, turn, json_out, interactive)
    return turn


def _lines(interactive: bool):
    """The user's lines: every line of stdin when it is not a terminal, else prompted input."""
    import sys

    if not interactive:
        for raw in sys.stdin:
            yield raw.rstrip("\r\n")
        return
    from prompt_toolkit import PromptSession
    from prompt_toolkit.formatted_text import HTML
    from prompt_toolkit.history import InMemoryHistory

    prompt = PromptSession(history=InMemoryHistory())  # arrow keys edit; up/down walk this chat's questions
    while True:
        try:
            yield prompt.prompt(HTML("<ansigreen><b>you&gt;</b></ansigreen> "))
        except KeyboardInterrupt:  # at the prompt: drop the line, stay in the chat
            err_console.print("[dim](Ctrl-D or /quit leaves)[/]", soft_wrap=True)
        except EOFError:
            console.print()
            return


def _command(session, text: str, json_out: bool) -> None:
    """/reset, /history, /help; anything else is an unknown command."""
    from rich.markup import escape

    command = text.lower()
    if command == "/reset":
        session.reset()
        err_console.print("[dim](conversation reset)[/]", soft_wrap=True)
    elif command == "/history":
        for i, (q, a) in enumerate(session.history, 1):
            (err_console if json_out else console).print(f"[bold]{i}.[/] {escape(q)}\n   {escape(a)}", soft_wrap=True)
    elif command in ("/help", "/?"):
        err_console.print(HELP, soft_wrap=True)
    else:
        err_console.print(f"[yellow]unknown command {escape(text.split()[0])}[/]; {HELP}", soft_wrap=True)


def _ask(session, text: str, interactive: bool):
    """The session's answer, or None when the question was refused (reported, the chat goes on)."""
    from rich.markup import escape

    from hawk_core.errors import InputError

    from hawk_cli._inference import status

    try:
        if interactive:
            try:
                with status("thinking (Ctrl-C cancels)"):
                    return session.ask(text)
            except KeyboardInterrupt:  # cancel this answer, keep the chat (the turn is not kept)
                err_console.print("[dim](answer cancelled)[/]", soft_wrap=True)
                return None
        return session.ask(text)
    except InputError as e:  # e.g. an over-long --max-new-tokens: report and go on
        err_console.print(f"[yellow]skipped:[/] {escape(str(e))}", soft_wrap=True)
        return None


def _print_answer(answer, turn: int, json_out: bool, interactive: bool) -> None:
    import json

    from rich.markup import escape

    from hawk_cli._inference import warn

    warn(answer.warnings)
    if json_out:
        typer.echo(json.dumps({"turn": turn, "question": answer.question, "text": answer.text, "truncated": answer.truncated, "warnings": answer.warnings}, ensure_ascii=False))
    elif interactive:
        console.print(f"[bold cyan]hawk>[/] {escape(answer.text)}", soft_wrap=True)
    else:
        typer.echo(f"> {answer.question}\n{answer.text}\n")
