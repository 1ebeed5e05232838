"""The annotation prompts (``prompts/annotate/*.txt``, editable text) and the paper's open-world
questions (``prompts/open_questions.txt``, shipped with :mod:`hawk_core.language.prompts`).

The prompt version recorded in every annotation is ``annotate-v1+<hash>``: the hash covers the
text of every prompt file, so an edited prompt is visible in the provenance of the records it
produced.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..language.prompts import load_lines, prompts_dir

PROMPT_SERIES = "annotate-v1"
PROMPT_FILES = ("system", "caption", "describe", "questions", "answer")
QUESTIONS_FILE = "open_questions.txt"


@dataclass(frozen=True)
class AnnotatePrompts:
    system: str
    caption: str
    describe: str
    questions: str
    answer: str
    version: str

    @classmethod
    def load(cls, folder: Path | None = None) -> AnnotatePrompts:
        folder = Path(folder) if folder else prompts_dir() / "annotate"
        texts = {}
        h = hashlib.sha256()
        for name in PROMPT_FILES:
            path = folder / f"{name}.txt"
            if not path.is_file():
                raise ConfigError(f"prompt file missing: {path}")
            texts[name] = path.read_text(encoding="utf-8").strip()
            h.update(name.encode() + b"\0" + texts[name].encode() + b"\0")
        return cls(**texts, version=f"{PROMPT_SERIES}+{h.hexdigest()[:8]}")


def render(template: str, **values: object) -> str:
    """Fill ``{name}`` placeholders (only the given names; other braces are left alone)."""
    out = template
    for k, v in values.items():
        out = out.replace("{" + k + "}", str(v))
    return out


def open_questions() -> list[str]:
    """The paper's 100 open-world 5W2H questions (appendix D)."""
    return load_lines(QUESTIONS_FILE)


def assign_questions(questions: list[str], video_key: str, k: int, seed: int) -> list[int]:
    """``k`` distinct question indices for one video, drawn from a generator seeded by
    ``seed`` and the video's key: the same video always gets the same questions, whatever
    the order or concurrency of the run."""
    if k <= 0:
        return []
    rng = random.Random(f"{seed}:{video_key}")
    return sorted(rng.sample(range(len(questions)), min(k, len(questions))))
