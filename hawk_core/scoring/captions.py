"""METEOR, ROUGE-L and CIDEr, the caption metrics the video-anomaly peers report beside BLEU,
equal to pycocoevalcap's scorers (``meteor.Meteor``, ``rouge.Rouge``, ``cider.Cider``).

Conventions (stated so that a published number can be reproduced):

* **Tokenisation** (``CaptionConfig.tokenizer``): ``"coco"`` (default) is pycocoevalcap's:
  Stanford PTBTokenizer 3.4.1 with ``-lowerCase``, then its punctuation tokens dropped; here
  reimplemented in Python (:mod:`.ptb`, no Java needed; tested token-for-token against the jar).
  ``"coco-java"`` runs the jar itself from an installed pycocoevalcap (needs Java).
  ``"whitespace"``: the texts are already tokenised; split on whitespace. The same tokens feed
  all three metrics. (hawk's BLEU keeps its own, paper-faithful tokeniser: see :mod:`.bleu`.)
* **ROUGE-L**: per item, LCS-based F-measure with beta = 1.2 against each reference; precision
  and recall are each the maximum over the references; the set's score is the mean over items.
* **CIDEr**: what pycocoevalcap's ``Cider`` computes, which is the CIDEr-D formulation: n = 1..4
  TF-IDF vectors, clipped hypothesis weights, a Gaussian length penalty (sigma = 6; "length"
  is the number of bigrams, as in its code), the mean over n, divided by the number of
  references, times 10. The IDF is corpus-level: document frequencies are counted over the
  references of the *evaluated set* and ``log(number of items)`` is the reference length, so
  the same item scores differently in a different set; one item alone always scores 0.
* **METEOR**: METEOR 1.5 (``java -jar meteor-1.5.jar - - -stdio -l en -norm``, the jar and its
  paraphrase table shipped in the pycocoevalcap wheel); the set's score is the jar's
  aggregate over all items' statistics (not the mean of item scores), as pycocoevalcap reports.
  Without Java or pycocoevalcap METEOR is *unavailable* (``None`` with the reason), never 0.
* Several references per item are supported; every item needs at least one.
"""

from __future__ import annotations

import importlib.util
import math
import queue
import shutil
import subprocess
import tempfile
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DependencyError, InputError, RemoteError

TOKENIZERS = ("coco", "coco-java", "whitespace")
CAPTION_METRICS = ("meteor", "rouge_l", "cider")
METEOR_JAR = "meteor-1.5.jar"


# ---- where Java and the jars are ---------------------------------------------------------


def find_java(java: str | None = None) -> str | None:
    """The ``java`` executable: ``java`` if given (a path or a name on PATH), else PATH's."""
    return shutil.which(java or "java")


def pycocoevalcap_dir() -> Path | None:
    """The installed pycocoevalcap package folder (located without importing it), or None."""
    try:
        spec = importlib.util.find_spec("pycocoevalcap")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _java_or_raise(java: str | None = None) -> str:
    exe = find_java(java)
    if exe is None:
        raise DependencyError("Java is not installed (apt-get install default-jre-headless); it is needed for the METEOR and PTB jars")
    return exe


def meteor_unavailable(java: str | None = None) -> str | None:
    """Why METEOR cannot run here (a one-line reason), or None when it can."""
    if find_java(java) is None:
        return "needs Java (apt-get install default-jre-headless)"
    root = pycocoevalcap_dir()
    if root is None:
        return "needs the pycocoevalcap package (pip install pycocoevalcap), which ships meteor-1.5.jar"
    if not (root / "meteor" / METEOR_JAR).is_file() or not (root / "meteor" / "data" / "paraphrase-en.gz").is_file():
        return f"pycocoevalcap at {root} lacks meteor/{METEOR_JAR} or its paraphrase table"
    return None


# ---- configuration and result ------------------------------------------------------------


@dataclass(frozen=True)
class CaptionConfig:
    tokenizer: str = "coco"
    meteor: bool = True  # False: skip METEOR (reported unavailable: "not requested")
    java: str | None = None  # None: `java` on PATH
    meteor_memory: str = "2G"  # the JVM's -Xmx, as pycocoevalcap passes it
    meteor_timeout: float = 300.0  # seconds to wait for one answer of the jar

    def __post_init__(self) -> None:
        if self.tokenizer not in TOKENIZERS:
            raise ConfigError(f"caption tokenizer must be one of {', '.join(TOKENIZERS)} (got {self.tokenizer!r})")
        if self.meteor_timeout <= 0:
            raise ConfigError(f"meteor timeout must be > 0 (got {self.meteor_timeout})")

    def describe(self) -> dict[str, Any]:
        return {
            "tokenizer": {"coco": "PTBTokenizer 3.4.1 -lowerCase + punctuation removal (pycocoevalcap), in Python",
                          "coco-java": "pycocoevalcap's PTBTokenizer jar", "whitespace": "pre-tokenised, split on whitespace"}[self.tokenizer],
            "rouge_l": "LCS F-measure, beta 1.2, max precision/recall over references, mean over items",
            "cider": "pycocoevalcap Cider (CIDEr-D form: clipped, sigma 6, x10), IDF over the evaluated set's references",
            "meteor": "METEOR 1.5 -l en -norm, aggregate over items (pycocoevalcap)",
        }


@dataclass
class CaptionScores:
    """Set-level scores and per-item scores; ``meteor`` is None with ``meteor_unavailable`` set
    when it could not be computed."""

    rouge_l: float
    cider: float
    meteor: float | None
    meteor_unavailable: str | None = None
    per_item: dict[str, list[float | None]] = field(default_factory=dict)
    n: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"meteor": self.meteor, "rouge_l": self.rouge_l, "cider": self.cider,
                "meteor_unavailable": self.meteor_unavailable, "n": self.n}


# ---- tokenisation ------------------------------------------------------------------------


def tokenize_all(texts: Sequence[str], tokenizer: str = "coco") -> list[list[str]]:
    """Tokens of each text under one of :data:`TOKENIZERS`."""
    from .ptb import coco_tokenize, coco_tokenize_java

    if tokenizer == "coco":
        return [coco_tokenize(t) for t in texts]
    if tokenizer == "coco-java":
        return coco_tokenize_java(texts) if texts else []
    if tokenizer == "whitespace":
        return [t.split() for t in texts]
    raise ConfigError(f"caption tokenizer must be one of {', '.join(TOKENIZERS)} (got {tokenizer!r})")


def _check(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[Sequence[str]]]) -> None:
    if len(hyps) != len(refs):
        raise InputError(f"hypotheses: {len(hyps)}, reference lists: {len(refs)}")
    for i, r in enumerate(refs):
        if len(r) == 0:
            raise InputError(f"item {i} has no reference")


# ---- ROUGE-L -----------------------------------------------------------------------------


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(hypothesis: Sequence[str], references: Sequence[Sequence[str]], beta: float = 1.2) -> float:
    """ROUGE-L of one tokenised hypothesis (pycocoevalcap ``Rouge.calc_score``). An empty
    token list counts as one empty token, as pycocoevalcap's ``"".split(" ")`` does."""
    if not references:
        raise InputError("ROUGE-L needs at least one reference")
    hyp = list(hypothesis) or [""]
    precision, recall = [], []
    for ref in references:
        ref = list(ref) or [""]
        n = _lcs(ref, hyp)
        precision.append(n / len(hyp))
        recall.append(n / len(ref))
    p, r = max(precision), max(recall)
    if p == 0 or r == 0:
        return 0.0
    return ((1 + beta**2) * p * r) / (r + beta**2 * p)


def rouge_l_corpus(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]]) -> tuple[float, list[float]]:
    """(mean ROUGE-L, per-item ROUGE-L) over tokenised items."""
    _check(hypotheses, references)
    per = [rouge_l(h, r) for h, r in zip(hypotheses, references, strict=True)]
    return (sum(per) / len(per) if per else 0.0), per


# ---- CIDEr -------------------------------------------------------------------------------


def _ngrams(tokens: Sequence[str], n: int) -> dict[tuple[str, ...], int]:
    counts: dict[tuple[str, ...], int] = defaultdict(int)
    for k in range(1, n + 1):
        for i in range(len(tokens) - k + 1):
            counts[tuple(tokens[i:i + k])] += 1
    return counts


def cider(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]], n: int = 4,
          sigma: float = 6.0) -> tuple[float, list[float]]:
    """(corpus CIDEr, per-item CIDEr) as pycocoevalcap's ``Cider`` computes them (see the
    module docstring): the IDF comes from the references of exactly these items."""
    _check(hypotheses, references)
    if not hypotheses:
        return 0.0, []
    hyp_counts = [_ngrams(h, n) for h in hypotheses]
    ref_counts = [[_ngrams(r, n) for r in rs] for rs in references]
    df: dict[tuple[str, ...], float] = defaultdict(float)
    for refs in ref_counts:
        for gram in {g for r in refs for g in r}:
            df[gram] += 1
    log_n = math.log(float(len(ref_counts)))

    def vectorise(counts):
        vec = [dict() for _ in range(n)]
        norm = [0.0] * n
        length = 0
        for gram, tf in counts.items():
            k = len(gram) - 1
            w = float(tf) * (log_n - math.log(max(1.0, df.get(gram, 0.0))))
            vec[k][gram] = w
            norm[k] += w * w
            if k == 1:  # pycocoevalcap's "length" counts bigrams
                length += tf
        return vec, [math.sqrt(x) for x in norm], length

    per: list[float] = []
    for hc, rcs in zip(hyp_counts, ref_counts, strict=True):
        vec, norm, length = vectorise(hc)
        total = [0.0] * n
        for rc in rcs:
            vref, nref, lref = vectorise(rc)
            delta = float(length - lref)
            for k in range(n):
                val = sum(min(w, vref[k].get(g, 0.0)) * vref[k].get(g, 0.0) for g, w in vec[k].items())
                if norm[k] != 0 and nref[k] != 0:
                    val /= norm[k] * nref[k]
                total[k] += val * math.e ** (-(delta**2) / (2 * sigma**2))
        per.append(sum(total) / n / len(rcs) * 10.0)
    return sum(per) / len(per), per


# ---- METEOR ------------------------------------------------------------------------------


class Meteor:
    """A running METEOR 1.5 jar (``-stdio``), used as a context manager. Raises
    :class:`DependencyError` when Java or the jar is missing and :class:`RemoteError`
    when the jar dies or stops answering."""

    def __init__(self, java: str | None = None, memory: str = "2G", timeout: float = 300.0) -> None:
        reason = meteor_unavailable(java)
        if reason:
            raise DependencyError(f"METEOR {reason}")
        self.timeout = timeout
        folder = pycocoevalcap_dir() / "meteor"  # type: ignore[operator]
        self._stderr = tempfile.TemporaryFile()
        cmd = [find_java(java), "-jar", f"-Xmx{memory}", METEOR_JAR, "-", "-", "-stdio", "-l", "en", "-norm"]
        try:
            self._proc = subprocess.Popen(cmd, cwd=folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        except OSError as e:
            self._stderr.close()
            raise DependencyError(f"cannot start METEOR ({cmd[0]}): {e.strerror}") from None
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True, name="hawk-meteor")
        self._reader.start()

    def _read(self) -> None:
        for line in self._proc.stdout:  # type: ignore[union-attr]
            self._lines.put(line)
        self._lines.put(None)

    def _ask(self, line: str) -> None:
        try:
            self._proc.stdin.write((line + "\n").encode("utf-8"))  # type: ignore[union-attr]
            self._proc.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            raise RemoteError(f"METEOR stopped: {self._error()}") from None

    def _answer(self) -> str:
        try:
            line = self._lines.get(timeout=self.timeout)
        except queue.Empty:
            raise RemoteError(f"METEOR gave no answer within {self.timeout:g} s") from None
        if line is None:
            raise RemoteError(f"METEOR stopped: {self._error()}")
        return line.decode("utf-8", errors="replace").strip()

    def _error(self) -> str:
        self._proc.poll()
        self._stderr.seek(0)
        text = " ".join(self._stderr.read().decode("utf-8", errors="replace").split())
        return (text[-200:] or "no message") + (f" (exit {self._proc.returncode})" if self._proc.returncode is not None else "")

    def score(self, hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]]) -> tuple[float, list[float]]:
        """(aggregate METEOR, per-item METEOR) of tokenised items (tokens joined by spaces)."""
        _check(hypotheses, references)
        if not hypotheses:
            return 0.0, []
        stats = []
        for hyp, refs in zip(hypotheses, references, strict=True):
            clean = [_meteor_text(r) for r in refs]
            self._ask(" ||| ".join(("SCORE", " ||| ".join(clean), _meteor_text(hyp))))
            stats.append(self._answer())
        self._ask("EVAL ||| " + " ||| ".join(stats))
        try:
            per = [float(self._answer()) for _ in stats]
            total = float(self._answer())
        except ValueError as e:
            raise RemoteError(f"METEOR answered something that is not a score ({e})") from None
        return total, per

    def close(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None:
            try:
                proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self._proc = None
        if not self._stderr.closed:
            self._stderr.close()

    def __enter__(self) -> Meteor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _meteor_text(tokens: Sequence[str]) -> str:
    # pycocoevalcap strips the field separator from the hypothesis; done on references too so
    # that a "|||" in a pre-tokenised text cannot shift the fields
    return " ".join(tokens).replace("|||", "").replace("  ", " ")


def meteor(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]], *, java: str | None = None,
           memory: str = "2G", timeout: float = 300.0) -> tuple[float, list[float]]:
    """(aggregate METEOR, per-item METEOR) of tokenised items; :class:`DependencyError` when
    it cannot run (see :func:`meteor_unavailable`)."""
    with Meteor(java, memory, timeout) as m:
        return m.score(hypotheses, references)


# ---- all three ---------------------------------------------------------------------------


def caption_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]], config: CaptionConfig = CaptionConfig(),
                   *, meteor_scorer: Meteor | None = None) -> CaptionScores:
    """METEOR, ROUGE-L and CIDEr of raw texts (one hypothesis and one or more references per
    item), tokenised per ``config.tokenizer``. METEOR that cannot run is None with the reason.
    ``meteor_scorer``: a running :class:`Meteor` to reuse (the jar takes seconds to start and
    load its tables), else one is started for this call."""
    if len(hypotheses) != len(references):
        raise InputError(f"hypotheses: {len(hypotheses)}, reference lists: {len(references)}")
    flat = [r for rs in references for r in rs]
    toks = tokenize_all(list(hypotheses) + flat, config.tokenizer)
    hyps, rest = toks[: len(hypotheses)], toks[len(hypotheses):]
    refs, k = [], 0
    for rs in references:
        refs.append(rest[k:k + len(rs)])
        k += len(rs)
    r_mean, r_per = rouge_l_corpus(hyps, refs)
    c_mean, c_per = cider(hyps, refs)
    m_score: float | None = None
    m_per: list[float | None] = [None] * len(hyps)
    reason = None if config.meteor else "not requested"
    if config.meteor:
        reason = meteor_unavailable(config.java)
        if reason is None and hyps:
            if meteor_scorer is not None:
                m_score, per = meteor_scorer.score(hyps, refs)
            else:
                m_score, per = meteor(hyps, refs, java=config.java, memory=config.meteor_memory, timeout=config.meteor_timeout)
            m_per = list(per)
        elif reason is None:
            m_score = 0.0
    return CaptionScores(rouge_l=r_mean, cider=c_mean, meteor=m_score, meteor_unavailable=reason,
                         per_item={"rouge_l": list(r_per), "cider": list(c_per), "meteor": m_per}, n=len(hyps))


__all__ = [
    "CAPTION_METRICS", "CaptionConfig", "CaptionScores", "Meteor", "TOKENIZERS", "caption_scores", "cider", "find_java",
    "meteor", "meteor_unavailable", "pycocoevalcap_dir", "rouge_l", "rouge_l_corpus", "tokenize_all",
]
