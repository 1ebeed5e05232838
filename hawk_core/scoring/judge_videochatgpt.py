"""The Video-ChatGPT judge protocol (Maaz et al., "Video-ChatGPT", quantitative evaluation of
video-based generative performance), offered beside the paper's judge so a user can report
either: five dimensions, each an integer score 0-5 from an LLM judge.

* Dimensions: ``correctness`` (correctness of information), ``detail`` (detail orientation),
  ``context`` (contextual understanding), ``temporal`` (temporal understanding),
  ``consistency``; the score names the prompts use are :data:`SCORE_NAMES`.
* Prompts follow the structure of Video-ChatGPT's published evaluation prompts (hawk's own
  wording, editable under ``prompts/judge/``): one system prompt per dimension
  (``videochatgpt_system_<dimension>.txt``: the judge's role, then ``##INSTRUCTIONS:`` with the
  criteria), and a user message holding the question, the correct answer and the predicted
  answer (``videochatgpt_qa.txt``) or the two descriptions (``videochatgpt_description.txt``),
  ending by asking for a Python dictionary ``{'score': n}`` with an integer n.
* Consistency: Video-ChatGPT asks two paraphrased questions and compares both answers with one
  correct answer. A prediction record that carries ``question2`` and ``prediction2`` is judged
  that way (``videochatgpt_qa_pair.txt``); otherwise the single answer is judged for
  consistency with the correct answer.
* Parsing: as the paper judge's (a dict in JSON or Python syntax, fenced or in prose, or a bare
  number); the value must lie in [0, 5]; a fractional value is truncated to an integer, as
  Video-ChatGPT's scripts do (``int(score)``); anything else is an invalid answer, retried.
* Everything else (endpoint, retries with backoff, failure accounting, concurrency, the
  on-disk cache, keyed by the template text so the two protocols never share verdicts) is the
  paper judge's machinery (:class:`hawk_core.scoring.judge.Judge`). An empty prediction
  scores 0 without a request. A dimension's figure is the mean over the items it scored.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..language.prompts import prompts_dir
from .judge import DIMENSIONS as HAWK_DIMENSIONS
from .judge import Judge, JudgeConfig, JudgeOutcome, JudgeUsage, ScoreParseError, mean_scores, parse_score
from .records import ScoreItem

PROTOCOLS = ("hawk", "videochatgpt")
VCG_DIMENSIONS = ("correctness", "detail", "context", "temporal", "consistency")
VCG_TITLES = {
    "correctness": "Correctness of Information", "detail": "Detail Orientation", "context": "Contextual Understanding",
    "temporal": "Temporal Understanding", "consistency": "Consistency",
}
SCORE_NAMES = {
    "correctness": "factual accuracy", "detail": "detail orientation", "context": "contextual understanding",
    "temporal": "temporal accuracy", "consistency": "consistency",
}
VCG_MAX = 5
USER_FILES = {"description": "videochatgpt_description.txt", "qa": "videochatgpt_qa.txt", "pair": "videochatgpt_qa_pair.txt"}
PLACEHOLDERS = {
    "description": ("<DIMENSION>", "<DESCRIPTION_GT>", "<DESCRIPTION_Ours>"),
    "qa": ("<DIMENSION>", "<QUESTION>", "<ANSWER_GT>", "<ANSWER_Ours>"),
    "pair": ("<DIMENSION>", "<QUESTION>", "<QUESTION_2>", "<ANSWER_GT>", "<ANSWER_Ours>", "<ANSWER_Ours_2>"),
}


def validate_vcg(value: Any) -> float:
    """A Video-ChatGPT score: a number (or numeric string) in [0, 5], truncated to an integer."""
    if isinstance(value, bool):
        raise ScoreParseError(f"score is a boolean ({value})")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ScoreParseError(f"score is not a number ({value!r})") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScoreParseError(f"score is not a finite number ({value!r})")
    if not 0 <= value <= VCG_MAX:
        raise ScoreParseError(f"score {value:g} outside 0..{VCG_MAX}")
    return float(int(value))


def parse_vcg_score(text: str | None) -> float:
    """The integer 0-5 score in a Video-ChatGPT judge's answer; :class:`ScoreParseError` if none."""
    return parse_score(text, validate=validate_vcg)


@dataclass(frozen=True)
class VideoChatGPTTemplates:
    """One system prompt per dimension and the user templates (description, qa, qa pair)."""

    system: dict[str, str]
    user: dict[str, str]
    source: Path

    @classmethod
    def load(cls, root: Path | None = None) -> VideoChatGPTTemplates:
        """Read ``<root>/judge/videochatgpt_*.txt`` (or ``root`` itself when it holds them)."""
        base = Path(root) if root else prompts_dir()
        folder = base if (base / USER_FILES["qa"]).is_file() else base / "judge"
        system = {}
        for dim in VCG_DIMENSIONS:
            path = folder / f"videochatgpt_system_{dim}.txt"
            if not path.is_file():
                raise ConfigError(f"Video-ChatGPT judge prompt not found: {path} (set HAWK_PROMPTS or --prompts)")
            system[dim] = path.read_text(encoding="utf-8").strip()
        user = {}
        for kind, name in USER_FILES.items():
            path = folder / name
            if not path.is_file():
                raise ConfigError(f"Video-ChatGPT judge prompt not found: {path}")
            text = path.read_text(encoding="utf-8").strip()
            missing = [p for p in PLACEHOLDERS[kind] if p not in text]
            if missing:
                raise ConfigError(f"{path}: template lacks the placeholder(s) {', '.join(missing)}")
            user[kind] = text
        return cls(system, user, folder)

    @staticmethod
    def _kind(item: ScoreItem, dimension: str) -> str:
        if item.task == "qa" and dimension == "consistency" and _pair(item) is not None:
            return "pair"
        return item.task

    def template_hash(self, task: str, dimension: str, kind: str | None = None) -> str:
        blob = "videochatgpt\x00" + self.system[dimension] + "\x00" + self.user[kind or task]
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def messages(self, item: ScoreItem, dimension: str) -> list[dict[str, str]]:
        """The chat messages for one item and one dimension (the judge sees the first reference)."""
        kind = self._kind(item, dimension)
        values = {"<DIMENSION>": SCORE_NAMES[dimension]}
        if kind == "description":
            values |= {"<DESCRIPTION_GT>": item.references[0], "<DESCRIPTION_Ours>": item.prediction}
        else:
            values |= {"<QUESTION>": item.question or "", "<ANSWER_GT>": item.references[0], "<ANSWER_Ours>": item.prediction}
            if kind == "pair":
                q2, p2 = _pair(item)  # type: ignore[misc]
                values |= {"<QUESTION_2>": q2, "<ANSWER_Ours_2>": p2}
        pattern = re.compile("|".join(re.escape(k) for k in sorted(values, key=len, reverse=True)))
        text = pattern.sub(lambda m: values[m.group(0)], self.user[kind])
        return [{"role": "system", "content": self.system[dimension]}, {"role": "user", "content": text}]


def _pair(item: ScoreItem) -> tuple[str, str] | None:
    q2, p2 = item.fields.get("question2"), item.fields.get("prediction2")
    if isinstance(q2, str) and q2.strip() and isinstance(p2, str):
        return q2, p2
    return None


class VideoChatGPTJudge(Judge):
    """The paper judge's machinery with Video-ChatGPT's five dimensions, prompts and 0-5 scores."""

    templates_class = VideoChatGPTTemplates
    parse = staticmethod(parse_vcg_score)

    def key(self, item: ScoreItem, dimension: str) -> str:
        # the paper judge's key, plus the template actually used and, for a consistency pair,
        # the second question and answer (both part of what is judged)
        kind = self.templates._kind(item, dimension)
        extra = [self.templates.template_hash(item.task, dimension, kind), _pair(item) if kind == "pair" else None]
        return hashlib.sha256((super().key(item, dimension) + repr(extra)).encode("utf-8")).hexdigest()

    def run(self, items: Sequence[ScoreItem], progress: Callable[[int, int], None] | None = None,
            dimensions: Sequence[str] = VCG_DIMENSIONS) -> tuple[dict[tuple[int, str], JudgeOutcome], JudgeUsage]:
        unknown = [d for d in dimensions if d not in VCG_DIMENSIONS]
        if unknown:
            raise ConfigError(f"unknown Video-ChatGPT dimension(s) {', '.join(unknown)}; known: {', '.join(VCG_DIMENSIONS)}")
        return super().run(items, progress, dimensions)


def make_judge(protocol: str, config: JudgeConfig, **kwargs: Any) -> Judge:
    """The judge of ``protocol`` (``"hawk"``: the paper's three dimensions, floats in [0, 1];
    ``"videochatgpt"``: five dimensions, integers 0-5)."""
    if protocol == "hawk":
        return Judge(config, **kwargs)
    if protocol == "videochatgpt":
        return VideoChatGPTJudge(config, **kwargs)
    raise ConfigError(f"judge protocol must be one of {', '.join(PROTOCOLS)} (got {protocol!r})")


def protocol_dimensions(protocol: str) -> tuple[str, ...]:
    if protocol not in PROTOCOLS:
        raise ConfigError(f"judge protocol must be one of {', '.join(PROTOCOLS)} (got {protocol!r})")
    return HAWK_DIMENSIONS if protocol == "hawk" else VCG_DIMENSIONS


def summarize_verdicts(results: dict[tuple[int, str], JudgeOutcome], indices: Sequence[int],
                       dimensions: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per dimension, over the items at ``indices``: ``{"mean", "scored", "failed"}`` (failures
    left out of the mean, as the paper judge's summary does)."""
    out = {}
    for dim in dimensions:
        mean, n_ok, n_failed = mean_scores([results[(i, dim)] for i in indices if (i, dim) in results])
        out[dim] = {"mean": mean, "scored": n_ok, "failed": n_failed}
    return out


__all__ = [
    "PROTOCOLS", "SCORE_NAMES", "VCG_DIMENSIONS", "VCG_TITLES", "VideoChatGPTJudge", "VideoChatGPTTemplates",
    "make_judge", "parse_vcg_score", "protocol_dimensions", "summarize_verdicts", "validate_vcg",
]
