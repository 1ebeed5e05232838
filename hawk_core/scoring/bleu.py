"""BLEU-1..4 with NLTK (``nltk.translate.bleu_score``), as in the paper's Table 1.

* Tokeniser: lowercase, then NLTK's ``wordpunct_tokenize`` (the regular expression
  ``\\w+|[^\\w\\s]+``): runs of word characters and runs of punctuation become separate
  tokens. It is pure Python and needs no downloaded NLTK data.
* ``mode="corpus"`` (the headline, the captioning convention): cumulative BLEU-n over the
  whole set, n-gram matches and lengths pooled over all items before the geometric mean and
  the brevity penalty. ``mode="sentence"``: the mean of per-item sentence BLEU-n.
* Cumulative BLEU-n uses uniform weights 1/n over the 1..n-gram precisions.
* Smoothing: NLTK ``SmoothingFunction().method<k>``; the default ``k = 1`` (Chen & Cherry's
  method 1) adds epsilon = 0.1 to the numerator of an n-gram order with no match and leaves
  every other precision untouched, so a corpus score changes only when some order has no
  match at all; ``k = 0`` is no smoothing (such a score is then 0).
* Several references per item are supported (clipped counts, closest reference length).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError

BLEU_MODES = ("corpus", "sentence")
WEIGHTS = ((1.0,), (0.5, 0.5), (1 / 3, 1 / 3, 1 / 3), (0.25, 0.25, 0.25, 0.25))


@dataclass(frozen=True)
class BleuConfig:
    mode: str = "corpus"
    smoothing: int = 1

    def __post_init__(self) -> None:
        if self.mode not in BLEU_MODES:
            raise ConfigError(f"bleu mode must be one of {', '.join(BLEU_MODES)} (got {self.mode!r})")
        if not 0 <= self.smoothing <= 7:
            raise ConfigError(f"smoothing must be an NLTK method number 0..7 (got {self.smoothing})")

    def describe(self) -> dict:
        return {"mode": self.mode, "smoothing": f"nltk method{self.smoothing}", "tokenizer": "lowercase + nltk wordpunct_tokenize"}


def tokenize(text: str) -> list[str]:
    """Lowercase and split into word and punctuation tokens (no NLTK data needed)."""
    from nltk.tokenize import wordpunct_tokenize

    return wordpunct_tokenize(text.lower())


def _smoother(k: int):
    from nltk.translate.bleu_score import SmoothingFunction

    return getattr(SmoothingFunction(), f"method{k}")


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]], smoothing: int = 1) -> list[float]:
    """Cumulative corpus BLEU-1..4 of ``hypotheses`` against ``references`` (one list each)."""
    from nltk.translate.bleu_score import corpus_bleu as nltk_corpus_bleu

    if len(hypotheses) != len(references):
        raise ValueError(f"hypotheses: {len(hypotheses)}, references: {len(references)}")
    if not hypotheses:
        return [0.0] * 4
    hyps = [tokenize(h) for h in hypotheses]
    refs = [[tokenize(r) for r in rs] for rs in references]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NLTK warns when an order has no match; the score says it
        scores = nltk_corpus_bleu(refs, hyps, weights=list(WEIGHTS), smoothing_function=_smoother(smoothing))
    return [float(s) for s in scores]


def sentence_bleu(hypothesis: str, references: Sequence[str], smoothing: int = 1) -> list[float]:
    """Cumulative sentence BLEU-1..4 of one hypothesis; 0 for an empty hypothesis."""
    from nltk.translate.bleu_score import sentence_bleu as nltk_sentence_bleu

    hyp = tokenize(hypothesis)
    if not hyp:
        return [0.0] * 4
    refs = [tokenize(r) for r in references]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = nltk_sentence_bleu(refs, hyp, weights=list(WEIGHTS), smoothing_function=_smoother(smoothing))
    return [float(s) for s in scores]


def bleu_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]], config: BleuConfig = BleuConfig()) -> list[float]:
    """BLEU-1..4 of a set, corpus-level or sentence-averaged per ``config.mode``."""
    if config.mode == "corpus":
        return corpus_bleu(hypotheses, references, config.smoothing)
    if not hypotheses:
        return [0.0] * 4
    per = [sentence_bleu(h, r, config.smoothing) for h, r in zip(hypotheses, references, strict=True)]
    return [sum(col) / len(per) for col in zip(*per)]
