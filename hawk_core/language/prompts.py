"""The paper's prompts, read from the editable text files under the top-level ``prompts/``.

* ``describe_prompts.txt``: the 20 <DESCRIBE_VIDEO> prompts of appendix D (one drawn per
  training sample);
* ``open_questions.txt``: the 100 open-world 5W2H <QUESTION>s of appendix D;
* ``instruction.txt``: the LLM instruction template of section 4.1, with the placeholders
  ``<VIDEO_EMBEDDING>`` and ``<MOTION_EMBEDDING>`` where the model splices its 32 appearance
  and 32 motion tokens, and ``{question}`` for the prompt or question;
* ``instruction_no_motion.txt``: the same without the motion embedding (the "w/o motion"
  ablation of the paper's Table 3).

``$HAWK_PROMPTS`` points hawk at another folder with the same file names. An installed wheel
carries these files as ``hawk_core/prompts_data/`` (see ``setup.py``).

:func:`render_release_prompt` renders the authors' release's stage-2 training prompt instead
(the ``release`` prompt format), which is not the paper's sentence.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, InputError

VIDEO_PLACEHOLDER = "<VIDEO_EMBEDDING>"
MOTION_PLACEHOLDER = "<MOTION_EMBEDDING>"


#: Where an installed wheel has the prompt files (the build maps the top-level prompts/ here).
PACKAGED_PROMPTS = Path(__file__).resolve().parents[1] / "prompts_data"
#: Where a checkout (or an editable install) has them.
CHECKOUT_PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


def prompts_dir() -> Path:
    """``$HAWK_PROMPTS`` if set; else the files shipped in the installed package; else the
    checkout's top-level ``prompts/``."""
    env = os.environ.get("HAWK_PROMPTS")
    if env:
        return Path(env).expanduser()
    if (PACKAGED_PROMPTS / "describe_prompts.txt").is_file():
        return PACKAGED_PROMPTS
    return CHECKOUT_PROMPTS


def _read(name: str) -> str:
    path = prompts_dir() / name
    if not path.is_file():
        raise ConfigError(f"prompt file not found: {path} (set HAWK_PROMPTS to a folder holding {name})")
    return path.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def _lines(name: str, folder: str) -> tuple[str, ...]:
    del folder  # part of the cache key only
    out = tuple(s.strip() for s in _read(name).splitlines() if s.strip() and not s.lstrip().startswith("#"))
    if not out:
        raise ConfigError(f"prompt file {prompts_dir() / name} holds no prompts")
    return out


def load_lines(name: str) -> list[str]:
    """Non-empty, non-comment lines of ``prompts/<name>``."""
    return list(_lines(name, str(prompts_dir())))


def load_template(name: str) -> str:
    """A template file's text without its trailing newline."""
    return _read(name).rstrip("\n")


def render_instruction(question: str, *, motion: bool = True) -> str:
    """The paper's instruction for ``question`` (a describe prompt or an open question).

    With ``motion=False`` the motion embedding is left out (the model without its motion
    branch).
    """
    template = load_template("instruction.txt" if motion else "instruction_no_motion.txt")
    if "{question}" not in template or VIDEO_PLACEHOLDER not in template:
        raise ConfigError(f"instruction template must contain {{question}} and {VIDEO_PLACEHOLDER}: {template!r}")
    if motion and MOTION_PLACEHOLDER not in template:
        raise ConfigError(f"instruction template must contain {MOTION_PLACEHOLDER}: {template!r}")
    return template.replace("{question}", question.strip())


#: The release's system block: one space (its LLaMA-2 conversation template).
RELEASE_SYSTEM = " "


def release_time_sentence(frame_times: Sequence[float]) -> str:
    """The release's frame-time sentence: ``The video contains T frames sampled at t0, t1,
    ... seconds.``, each time written as Python writes ``round(t, 1)`` (``0.0``, ``12.5``)."""
    times = list(frame_times)
    if not times:
        raise InputError("the release prompt needs the sampled frames' times (none given)")
    return f"The video contains {len(times)} frames sampled at {', '.join(str(round(float(t), 1)) for t in times)} seconds."


def render_release_prompt(
    turns: Sequence[tuple[str, str | None]],
    frame_times: Sequence[float],
    *,
    bos: str = "<s>",
    eos: str = "</s>",
    system: str = RELEASE_SYSTEM,
    motion: bool = True,
) -> str:
    """The release's LLaMA-2 chat prompt for ``turns`` ((question, answer or None) each; the
    video goes into the first), character for character as its stage-2 training builds it::

        <s>[INST] <<SYS>>\n \n<</SYS>>\n\n<Video><VIDEO_EMBEDDING><MOTION_EMBEDDING></Video> The
        video contains T frames sampled at t0, ... seconds. {question} [/INST] {answer} </s><s>[INST] ...

    with the 32 appearance then 32 motion tokens at the placeholders (the release's 64
    ``<ImageHere>``). A turn whose answer is None ends the text at ``[/INST]``, where the
    answer starts. ``bos``/``eos``: the tokenizer's own (LLaMA's ``<s>``/``</s>``)."""
    if not turns:
        raise InputError("no question to render")
    visual = VIDEO_PLACEHOLDER + (MOTION_PLACEHOLDER if motion else "")
    text = ""
    for i, (question, answer) in enumerate(turns):
        q = question.strip()
        if i == 0:
            q = f"<<SYS>>\n{system}\n<</SYS>>\n\n<Video>{visual}</Video> {release_time_sentence(frame_times)} {q}"
        text += f"{bos}[INST] {q} [/INST]"
        if answer is not None:
            text += f" {answer} {eos}"
        elif i != len(turns) - 1:
            raise InputError("only the last turn may be unanswered")
    return text


def __getattr__(name: str):  # module attributes read from the files on first use
    if name == "DESCRIBE_PROMPTS":
        return load_lines("describe_prompts.txt")
    if name == "OPEN_QUESTIONS":
        return load_lines("open_questions.txt")
    raise AttributeError(name)
