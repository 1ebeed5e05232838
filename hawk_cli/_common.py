"""What every command shares: the one error boundary, console helpers, option aliases."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
import typer.core
from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` (one line, stderr; API keys masked) and return the Exit to raise."""
    from rich.markup import escape

    from hawk_core.secrets import redact

    err_console.print(f"[bold red]error:[/] {escape(redact(message))}", soft_wrap=True, markup=True, emoji=False)
    return typer.Exit(code)


def reflow(doc: str | None) -> str | None:
    """A docstring as help text: the hard line breaks inside a paragraph are joined, so rich
    wraps each paragraph to the terminal's width; indented lines (examples) and ``-`` bullets
    keep their own lines."""
    import inspect

    if not doc:
        return doc
    out: list[str] = []
    for para in inspect.cleandoc(doc).split("\n\n"):
        lines: list[str] = []
        for line in para.splitlines():
            own_line = not lines or line[:1].isspace() or line.lstrip().startswith(("- ", "* "))
            if own_line:
                lines.append(line)
            else:
                lines[-1] = f"{lines[-1]} {line.strip()}"
        out.append("\n".join(lines))
    return "\n\n".join(out)


class _FlagsWithoutType:
    """No ``<bool>`` type beside an on/off flag (``--json``, ``--help``) in the help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, typer.core.TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """A bad option or argument (``--frames 0``, ``--top-p 1.5``, a missing VIDEO) is one
        ``error:`` line naming it, exit 2, like every other input error (not click's panel)."""
        click = getattr(typer.core, "_click", None)  # the click typer runs on (typer >= 0.22 vendors its own)
        if click is None:
            import click
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.exceptions.UsageError as e:
            message = " ".join(e.format_message().split())
            raise fail(f"{message} (see {ctx.command_path} --help)", 2) from None


class HawkGroup(_FlagsWithoutType, typer.core.TyperGroup):
    """The `hawk` group's help."""


class HawkCommand(_FlagsWithoutType, typer.core.TyperCommand):
    """Every hawk command's help: arguments in the usage line as ``VIDEO`` / ``[TEXT]``
    (typer writes ``{video}``), and no ``<bool>`` beside a flag."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, typer.core.TyperArgument):
                name = (param.metavar or param.name or "arg").upper() + ("..." if param.nargs != 1 else "")
                pieces.append(name if param.required else f"[{name}]")
        return pieces


def plural(n: int, word: str) -> str:
    """``1 record``, ``2 records``: a count and its noun, for the messages."""
    return f"{n} {word}{'' if n == 1 else 's'}"


_stacks: list[contextlib.ExitStack] = []  # one per running guarded command (innermost last)


def lock_output(path: Path, wait: bool = False, *, is_dir: bool | None = None) -> None:
    """Hold ``path``'s writer lock (:func:`hawk_core.locks.output_lock`) until the command
    returns: a second hawk process writing the same output fails (exit 2) or, with --wait,
    waits. An output that cannot be written (under a file; with ``is_dir``, a file where a
    folder goes or the reverse) fails first, exit 2, naming it."""
    from hawk_core.locks import output_lock

    if not _stacks:
        raise RuntimeError("lock_output is called inside a @guarded command")
    _stacks[-1].enter_context(output_lock(path, wait=wait, is_dir=is_dir))


def warn(message: str) -> None:
    """One ``warning: …`` line on stderr (the message is text, not markup)."""
    from rich.markup import escape

    err_console.print(f"[yellow]warning:[/] {escape(str(message))}", soft_wrap=True, emoji=False)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """hawk's own warnings (a stale lock taken over) as one ``warning: …`` line on stderr."""
    warn(message)


def guarded(func: F) -> F:
    """The error boundary: hawk's typed errors become one line + a non-zero exit.

    Unexpected exceptions are reported in one line too; ``HAWK_DEBUG=1`` re-raises them so
    a developer sees the traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from hawk_core.errors import HawkError

        from hawk_core.locks import StaleLockWarning

        try:
            with contextlib.ExitStack() as stack, warnings.catch_warnings():
                warnings.simplefilter("always", StaleLockWarning)
                default_show = warnings.showwarning
                warnings.showwarning = lambda m, c, *a, **k: (_show_warning if issubclass(c, StaleLockWarning) else default_show)(m, c, *a, **k)
                _stacks.append(stack)
                try:
                    return func(*args, **kwargs)
                finally:
                    _stacks.pop()
        except typer.Exit:
            raise
        except HawkError as e:
            raise fail(str(e).splitlines()[0] if str(e) else type(e).__name__, e.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted; completed work was kept (rerun to resume)", 130) from None
        except MemoryError:
            raise fail("out of memory; try fewer --frames or a smaller --batch-size", 1) from None
        except Exception as e:  # noqa: BLE001 - the one place that turns anything into a message
            if os.environ.get("HAWK_DEBUG"):
                raise
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise fail(f"internal error ({type(e).__name__}: {msg}); rerun with HAWK_DEBUG=1 for the traceback", 1) from None

    wrapper.__doc__ = reflow(func.__doc__)
    return wrapper  # type: ignore[return-value]


def set_torch_threads(threads: int | None) -> None:
    """--threads for torch (:func:`hawk_core.runtime.set_threads`; imported here, not at the top, to keep --help fast)."""
    from hawk_core.runtime import set_threads

    set_threads(threads)


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


# ---- shared option aliases ------------------------------------------------------------

Frames = Annotated[int, typer.Option("--frames", "-T", min=1, help="Frames sampled per video (the paper uses 32).")]
Size = Annotated[int, typer.Option("--size", min=16, help="Frame size in pixels (square) fed to the model.")]
Resize = Annotated[
    str,
    typer.Option("--resize", help="Aspect ratio handling: squash (whole frame, stretched; the release's), crop (centre), pad (letterbox)."),
]
Mask = Annotated[
    str,
    typer.Option(
        "--mask",
        help="Motion mask: soft (paper: flow magnitude scaled to [0,1] by the clip's 99th percentile) "
        "or threshold (release: magnitude > --threshold).",
    ),
]
Threshold = Annotated[float, typer.Option("--threshold", min=0.0, help="Magnitude (pixels/frame) counted as moving; the hard mask of --mask threshold.")]
FolderFps = Annotated[float, typer.Option("--folder-fps", min=0.001, help="Frame rate assumed for folders of image frames.")]
Workers = Annotated[int, typer.Option("--workers", "-j", min=1, help="Parallel worker processes for folders of videos.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
Wait = Annotated[
    bool, typer.Option("--wait", help="If another hawk process is writing the same output, wait for it to finish instead of failing.")
]
OutPath = Annotated[Path, typer.Option("--out", "-o", help="Output path.")]
Codec = Annotated[
    str,
    typer.Option("--codec", help="Video codec: auto (H.264 where OpenCV can write it, else mp4v, which browsers do not play), h264, vp9 (browser-playable, slower), mp4v."),
]

# ---- inference (describe, ask, chat, predict) -----------------------------------------

ModelOpt = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        "-m",
        help="A checkpoint folder from `hawk train` (or its run folder: the latest checkpoint is used), "
        "or a preset: embedded, tiny, paper. Default: the embedded model (offline, CPU).",
        show_default=False,
    ),
]
InferFrames = Annotated[
    Optional[int],
    typer.Option("--frames", "-T", min=2, help="Frames sampled from the video (default: the model's own: 16 for the shipped default model, 32 for the presets as in the paper).", show_default=False),
]
MaxNewTokens = Annotated[int, typer.Option("--max-new-tokens", min=1, help="Longest answer, in tokens (an answer cut there is flagged).")]
TrimToSentence = Annotated[
    bool, typer.Option("--trim-to-sentence", help="Cut an answer stopped by --max-new-tokens back to its last full sentence.")
]
Temperature = Annotated[float, typer.Option("--temperature", min=0.0, help="Sampling temperature; 0 = greedy (deterministic).")]
TopP = Annotated[float, typer.Option("--top-p", min=0.0, max=1.0, help="Nucleus sampling mass (with --temperature > 0).")]
Seed = Annotated[Optional[int], typer.Option("--seed", help="Random seed for sampling (with --temperature > 0).", show_default=False)]
Sample = Annotated[
    str,
    typer.Option(
        "--sample",
        help="Decoding preset: greedy (the flags above) or release (the authors' demo: temperature 1.0, "
        "top-p 0.9, top-k 50, 1 beam, 300 new tokens, repetition penalty 1.0; --seed still applies).",
    ),
]
Device = Annotated[str, typer.Option("--device", help="auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps.")]
DType = Annotated[
    str,
    typer.Option(
        "--dtype",
        help="auto (bfloat16/float16 on a GPU; on a CPU a bfloat16 LLM where the CPU computes bfloat16 natively, "
        "else float32), float32, float16 or bfloat16.",
    ),
]
Threads = Annotated[
    Optional[int], typer.Option("--threads", min=1, help="CPU threads for torch (default: 1 on small machines, faster for small models).", show_default=False)
]
Quantize = Annotated[
    Optional[str],
    typer.Option(
        "--quantize",
        help="int8 (deprecated): dynamic int8 linear layers in the LLM, CPU only; 2x faster but the answers change "
        "from the first tokens (README, Speed).",
        show_default=False,
    ),
]
