"""Anomaly scores of video windows, for `hawk detect`: small pluggable scorers chosen by name.

* ``model`` (:class:`ModelScorer`, the default): the score comes from the model itself. Each
  window's frames and motion input go through the model's frozen encoders and its two
  branches, exactly as for a description; the LLM then reads the fixed question
  :data:`ANOMALY_QUESTION` ("Is there an anomaly in this video? Answer yes or no.") in the
  paper's instruction template with the window's visual tokens, and one forward pass gives the
  next-token logits where the answer starts. The score is

      P(yes) / (P(yes) + P(no))

  where P(yes) is the probability mass of the answer's first token over the variants
  ``Yes`` / `` Yes`` / ``yes`` / `` yes`` and P(no) likewise for ``No`` (the softmax normaliser
  cancels: the score is the sigmoid of ``logsumexp(yes logits) - logsumexp(no logits)``). Which
  token ids count is worked out per tokenizer (:func:`answer_tokens`): a word that is several
  tokens counts by its first token; a first token that starts a yes and a no variant alike
  (a lone space in a byte-level tokenizer) is left out; when every variant starts with the
  same token, that token is taken as already answered and the next one decides. Windows are
  scored ``batch`` at a time (one encoder call and one LLM forward per batch). The score is
  in [0, 1] and needs no threshold tuning to read: 0.5 is "as likely yes as no".
* ``head`` (:class:`HeadScorer`): the model's own class head (``head.classes``, trained beside
  the paper's loss by ``hawk train --label-weight``) on the mean of each window's visual
  tokens, no LLM forward: the score is ``1 - P(normal)``, the probability mass of every class
  but the one named by ``head.normal`` (``normal``, as `hawk synth` labels its normal videos).
  A model without a head, or whose classes lack that name, is a :class:`ConfigError`.
* ``frames`` (:class:`FrameScorer`): the model's per-frame anomaly head (``head.frames``,
  fitted by ``recipes/fit_head.py --frames`` on temporal ground truth) on each window's motion
  input, no LLM forward: each sampled frame gets the head's probability that it is anomalous,
  read against the other frames of its clip (:meth:`HawkModel.encoder_frames`), and a window's
  score is the mean over its frames. The clips are the video read in spans of
  ``head.frames_span`` seconds (the span the head was fitted on), or each window itself when
  that is 0. A model without that head is a :class:`ConfigError`.
* ``motion`` (:class:`MotionScorer`): the motion-energy baseline, not a model score: the mean
  optical-flow magnitude of the window's frames (pixels/frame at the sampling size;
  :func:`hawk_core.media.windows.window_result`), min-max normalised over the video's windows,
  ``(e - min) / (max - min)``: the most moving window of every video scores 1 and the least
  moving 0 (all windows equal: 0 throughout).

A scorer consumes one video's windows (window, sampled clip, motion input) in time order and
returns one score per window; :func:`make_scorer` builds one by name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ..media.motion import MotionResult
    from ..media.video import SampledClip
    from ..media.windows import Window
    from .predictor import Predictor

ANOMALY_QUESTION = "Is there an anomaly in this video? Answer yes or no."
YES_WORDS = ("Yes", " Yes", "yes", " yes")
NO_WORDS = ("No", " No", "no", " no")
SCORERS = ("model", "head", "frames", "motion")
MODEL_SCORERS = ("model", "head", "frames")  # the scorers that read the model
AUTO_SCORER = "auto"  # frames when the model has a frame head, else model (hawk detect's default)

WindowSample = tuple["Window", "SampledClip", "MotionResult"]


@dataclass(frozen=True)
class AnswerTokens:
    """The token ids that open a yes and a no answer, after ``prefix`` (ids taken as already
    answered; usually empty)."""

    yes: tuple[int, ...]
    no: tuple[int, ...]
    prefix: tuple[int, ...] = ()

    def to_dict(self, tokenizer: Any = None) -> dict:
        show = (lambda ids: [tokenizer.decode([i]) for i in ids]) if tokenizer is not None else list
        return {"yes": show(self.yes), "no": show(self.no), "prefix": show(self.prefix)}


def answer_tokens(tokenizer: Any, yes_words: Sequence[str] = YES_WORDS, no_words: Sequence[str] = NO_WORDS) -> AnswerTokens:
    """The first tokens that tell a yes from a no answer under ``tokenizer`` (see the module
    docstring); a :class:`ConfigError` when none do."""

    def enc(word: str) -> list[int]:
        return list(tokenizer(word, add_special_tokens=False)["input_ids"])

    yes = [enc(w) for w in yes_words]
    no = [enc(w) for w in no_words]
    prefix: list[int] = []
    while True:
        first_yes = {s[0] for s in yes if s}
        first_no = {s[0] for s in no if s}
        shared = first_yes & first_no
        only_yes, only_no = first_yes - shared, first_no - shared
        if only_yes and only_no:
            return AnswerTokens(tuple(sorted(only_yes)), tuple(sorted(only_no)), tuple(prefix))
        if not shared:
            raise ConfigError(f"the tokenizer cannot tell {yes_words[0]!r} from {no_words[0]!r} by any token")
        step = min(shared)
        prefix.append(step)
        yes = [s[1:] for s in yes if s and s[0] == step]
        no = [s[1:] for s in no if s and s[0] == step]


def yes_probability(logits: Any, tokens: AnswerTokens) -> list[float]:
    """P(yes) / (P(yes) + P(no)) per row of ``(B, V)`` next-token logits."""
    import torch

    lg = logits.float()
    yes = torch.logsumexp(lg[:, list(tokens.yes)], dim=-1)  # (B,)
    no = torch.logsumexp(lg[:, list(tokens.no)], dim=-1)  # (B,)
    return torch.sigmoid(yes - no).tolist()


class WindowScorer:
    """Scores one video's windows. ``needs_model``: whether it reads the model."""

    name = "scorer"
    needs_model = False

    def score(self, samples: Iterable[WindowSample]) -> list[float]:  # pragma: no cover - interface
        raise NotImplementedError

    def span(self) -> float:
        """Seconds of video the scorer reads at once instead of each window (0: each window;
        a scorer with a span also has ``frame_probabilities`` and ``window_scores``, as
        :class:`FrameScorer`)."""
        return 0.0

    def describe(self) -> dict:
        return {"name": self.name}


class _EncodedScorer(WindowScorer):
    """A scorer that reads the model: windows are encoded ``batch`` at a time and scored from
    their frozen features by :meth:`score_features`."""

    needs_model = True

    def __init__(self, predictor: Predictor, *, batch: int = 8) -> None:
        if batch < 1:
            raise ConfigError(f"batch must be >= 1, got {batch}")
        self.predictor = predictor
        self.batch = batch

    def score_features(self, feats_v: Any, feats_m: Any) -> list[float]:  # pragma: no cover - interface
        raise NotImplementedError

    def score_prepared(self, prepared: Sequence[Any]) -> list[float]:
        """Scores of already encoded windows (:class:`~hawk_core.inference.predictor.PreparedVideo`)."""
        import torch

        if not prepared:
            return []
        feats_v = torch.cat([p.feats_v for p in prepared])  # (B, T, N, D)
        feats_m = None if prepared[0].feats_m is None else torch.cat([p.feats_m for p in prepared])
        return self.score_features(feats_v, feats_m)

    def encoded_batches(self, samples: Iterable[WindowSample]) -> Iterator[tuple[list[SampledClip], list[Any]]]:
        """The samples ``batch`` at a time: (their clips, their encoded windows)."""
        pending: list[tuple[SampledClip, MotionResult]] = []
        for _, clip, motion in samples:
            pending.append((clip, motion))
            if len(pending) == self.batch:
                yield [c for c, _ in pending], self.predictor.encode(pending)
                pending = []
        if pending:
            yield [c for c, _ in pending], self.predictor.encode(pending)

    def score(self, samples: Iterable[WindowSample]) -> list[float]:
        return [s for _, prepared in self.encoded_batches(samples) for s in self.score_prepared(prepared)]


class ModelScorer(_EncodedScorer):
    """The LLM's P(yes) to :data:`ANOMALY_QUESTION` over each window's visual tokens."""

    name = "model"

    def __init__(self, predictor: Predictor, *, question: str = ANOMALY_QUESTION, batch: int = 8) -> None:
        super().__init__(predictor, batch=batch)
        if not question.strip():
            raise ConfigError("the anomaly question is empty")
        self.question = question
        self.tokens = answer_tokens(predictor.tokenizer)

    def score_features(self, feats_v: Any, feats_m: Any) -> list[float]:
        logits = self.predictor.model.next_token_logits(feats_v, feats_m, [self.question] * feats_v.size(0),
                                                        answer_prefix=self.tokens.prefix)  # (B, V)
        return yes_probability(logits, self.tokens)

    def describe(self) -> dict:
        return {"name": self.name, "question": self.question, "answer_tokens": self.tokens.to_dict(self.predictor.tokenizer)}


class HeadScorer(_EncodedScorer):
    """1 - P(normal) from the model's class head on each window's visual tokens."""

    name = "head"

    def __init__(self, predictor: Predictor, *, batch: int = 8) -> None:
        super().__init__(predictor, batch=batch)
        head = predictor.model.config.head
        if not head.classes:
            raise ConfigError("--scorer head: the model has no class head (train one with `hawk train --label-weight`); "
                              "use --scorer model")
        if head.normal not in head.classes:
            raise ConfigError(f"--scorer head: the model's head has no {head.normal!r} class (its classes: {', '.join(head.classes)})")
        self.normal = head.classes.index(head.normal)

    def score_features(self, feats_v: Any, feats_m: Any) -> list[float]:
        import torch

        with torch.inference_mode():
            probs = self.predictor.model.class_probabilities(feats_v, feats_m)  # (B, C)
        return (1.0 - probs[:, self.normal]).clamp(0.0, 1.0).tolist()

    def describe(self) -> dict:
        head = self.predictor.model.config.head
        return {"name": self.name, "score": f"1 - P({head.normal!r}) of the model's class head", "classes": list(head.classes)}


class FrameScorer(_EncodedScorer):
    """The frame head's anomaly probabilities of the sampled frames, averaged over each window.

    With ``head.frames_span`` > 0 the video is read in clips of that span (half a span apart;
    :meth:`span`, which `detect_video` plans) and a window's score is the mean over the frames
    of those clips that fall inside it (the nearest frame when none does); with 0 each window
    is read on its own and scored by the mean over its own frames."""

    name = "frames"

    def __init__(self, predictor: Predictor, *, batch: int = 8) -> None:
        super().__init__(predictor, batch=batch)
        if predictor.model.frame_head is None:
            raise ConfigError("--scorer frames: the model has no frame head (fit one with "
                              "`python recipes/fit_head.py MODEL --frames ...`); use --scorer model")

    def span(self) -> float:
        """Seconds of video read at once (``head.frames_span``; 0: each window)."""
        return self.predictor.model.config.head.frames_span

    def _probabilities(self, feats_v: Any, feats_m: Any) -> list[Any]:
        import torch

        with torch.inference_mode():
            return self.predictor.model.frame_probabilities(feats_m, feats_v)  # per clip, (T,)

    def score_features(self, feats_v: Any, feats_m: Any) -> list[float]:
        return [float(p.mean()) for p in self._probabilities(feats_v, feats_m)]

    def frame_probabilities(self, samples: Iterable[WindowSample]) -> list[tuple[list[float], list[float]]]:
        """Per sample, (its sampled frames' seconds, their probabilities)."""
        import torch

        out: list[tuple[list[float], list[float]]] = []
        for clips, prepared in self.encoded_batches(samples):
            probs = self._probabilities(torch.cat([p.feats_v for p in prepared]), torch.cat([p.feats_m for p in prepared]))
            out.extend((list(clip.frame_times), p.tolist()) for clip, p in zip(clips, probs))
        return out

    @staticmethod
    def window_scores(windows: Sequence[Window], frames: Sequence[tuple[Sequence[float], Sequence[float]]]) -> list[float]:
        """Each window's mean of the probabilities of the frames inside ``[start_s, end_s)``
        (the nearest frame's when none is)."""
        import numpy as np

        times = np.concatenate([np.asarray(t, dtype=float) for t, _ in frames])
        probs = np.concatenate([np.asarray(p, dtype=float) for _, p in frames])
        out = []
        for w in windows:
            inside = (times >= w.start_s) & (times < w.end_s)
            if inside.any():
                out.append(float(probs[inside].mean()))
            else:
                out.append(float(probs[np.argmin(np.abs(times - (w.start_s + w.end_s) / 2))]))
        return out

    def describe(self) -> dict:
        span = self.span()
        return {"name": self.name, "span_s": span,
                "score": "mean over the window's frames of the model's frame head (head.frames)"
                         + (f", reading the video in clips of {span:g} s" if span else ", reading each window on its own")}


class MotionScorer(WindowScorer):
    """The motion-energy baseline: mean flow magnitude, min-max normalised per video."""

    name = "motion"
    needs_model = False

    def score(self, samples: Iterable[WindowSample]) -> list[float]:
        from ..media.windows import window_result

        energies = [window_result(w, motion).energy for w, _, motion in samples]
        if not energies:
            return []
        low, high = min(energies), max(energies)
        if not (high > low and math.isfinite(high - low)):
            return [0.0] * len(energies)
        return [(e - low) / (high - low) for e in energies]

    def describe(self) -> dict:
        return {"name": self.name, "energy": "mean flow magnitude of the window, min-max normalised over the video's windows"}


def make_scorer(name: str, predictor: Predictor | None = None, *, batch: int = 8) -> WindowScorer:
    """The scorer called ``name`` (one of :data:`SCORERS`, or :data:`AUTO_SCORER`: ``frames``
    when the model has a frame head, else ``model``); those of :data:`MODEL_SCORERS` and auto
    need ``predictor``."""
    if name == AUTO_SCORER:
        if predictor is None:
            raise ConfigError("the auto scorer needs a loaded model")
        name = "frames" if predictor.model.frame_head is not None else "model"
    if name in MODEL_SCORERS:
        if predictor is None:
            raise ConfigError(f"the {name} scorer needs a loaded model")
        return {"model": ModelScorer, "head": HeadScorer, "frames": FrameScorer}[name](predictor, batch=batch)
    if name == "motion":
        return MotionScorer()
    raise ConfigError(f"unknown scorer {name!r}; choose one of {', '.join(SCORERS)}")
