"""The word targets of the alignment stage (``train.objective: words``).

Before the language stage, hawk can train the visual side alone to say what the descriptions
say: each video's visual tokens (both branches, in the LLM's input space) must predict the bag
of words of its description through the LLM's own frozen word embeddings
(:func:`hawk_core.model.losses.word_logits` / :func:`~hawk_core.model.losses.words_loss`). No
LLM forward runs, so a step costs the encoders and Q-Formers only, and the tokens end up near
the words the LLM already knows, which is what the language stage then reads.

A *word* is one token of the LLM's tokenizer that holds a letter (digits and punctuation
carry no content a bag can place). The vocabulary is every such token of the training texts;
a text's target spreads its mass over its distinct words by inverse document frequency, and
words in more than ``max_df`` of the texts (the template every description shares) get none.

Scored as tags (``train.words_loss: tags``), the same words with a non-zero IDF are each a
yes/no of their own: a text says yes to its words, no to the others, and each word's logit is
offset by the log-odds of its document frequency, ``log((df + 0.5) / (n - df + 0.5))``.

Scored as clusters (``train.words_loss: clusters``), the training texts are first grouped by
k-means on their IDF-weighted bags (unit length, so close in cosine), and a video must name its
own text's cluster (DeepCluster-style pseudo-labels, from the text instead of the image; the
model reads them with a linear head of the alignment stage, :meth:`HawkModel.add_cluster_head`).
On templated descriptions the clusters follow the event types (on 2,000 ``hawk synth``
descriptions, each of 32 clusters holds a single event type, but normal videos alone fill ten
of them; 12 clusters are 86% pure); on free text they are groups of descriptions that say
similar things. The default (``train.word_clusters``), 12, is about the number of kinds of
event anomaly sets name (UCF-Crime 13 and normal, ``hawk synth`` 11 and normal): more
clusters split an event by what else its texts say, and a head then learns those splits
(measured: ``benchmarks/feature_probe.md``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..errors import DataError

#: Words in more than this share of the training texts carry no target mass.
MAX_DF = 0.5


class WordVocab:
    """The training texts' words and their inverse document frequencies."""

    def __init__(self, tokenizer: Any, texts: Sequence[str], *, max_df: float = MAX_DF,
                 needs: str = "descriptions or captions; no record has one", clusters: int = 0, seed: int = 0) -> None:
        """``needs`` ends the error raised when no text is given: what was looked for, and where.
        ``clusters`` > 0 also groups the texts into that many clusters (at most one per
        distinct text) by k-means seeded with ``seed``, for ``mode="clusters"``."""
        self.tokenizer = tokenizer
        docs = [self._words(t) for t in texts if t]
        if not docs:
            raise DataError(f"the alignment stage (objective words) needs {needs}")
        df = Counter(w for d in docs for w in d)
        self.ids = sorted(df)
        self.index = {w: i for i, w in enumerate(self.ids)}
        n = len(docs)
        self.log_odds = [math.log((df[w] + 0.5) / (n - df[w] + 0.5)) for w in self.ids]
        self.idf = [math.log((1 + n) / (1 + df[w])) + 1.0 if df[w] <= max_df * n else 0.0 for w in self.ids]
        if not any(self.idf):
            raise DataError(f"every word of the training texts is in more than {max_df:.0%} of them: nothing to align on")
        self._cache: dict[str, list[tuple[int, float]]] = {}
        self.centroids: Any = None  # (C, K) k-means centres, for assigning a text; None without clusters
        self._cluster: dict[str, int] = {}
        if clusters > 0:
            self._fit_clusters([t for t in texts if t], clusters, seed)

    def __len__(self) -> int:
        return len(self.ids)

    def _words(self, text: str) -> set[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return {i for i in ids if any(ch.isalpha() for ch in self.tokenizer.decode([i]))}

    def target(self, text: str | None) -> list[tuple[int, float]]:
        """(vocabulary index, weight) of ``text``'s words; weights sum to 1 (empty: no target)."""
        if not text:
            return []
        hit = self._cache.get(text)
        if hit is None:
            ws = [(self.index[w], self.idf[self.index[w]]) for w in sorted(self._words(text)) if w in self.index]
            total = sum(v for _, v in ws)
            hit = [(k, v / total) for k, v in ws if v > 0] if total > 0 else []
            self._cache[text] = hit
        return hit

    def _vectors(self, texts: Sequence[str]) -> Any:
        """The texts' targets as unit-length rows of a sparse (N, K) matrix."""
        import numpy as np
        from scipy.sparse import csr_matrix

        rows, cols, vals = [], [], []
        for r, text in enumerate(texts):
            t = self.target(text)
            norm = math.sqrt(sum(v * v for _, v in t)) or 1.0
            rows += [r] * len(t)
            cols += [k for k, _ in t]
            vals += [v / norm for _, v in t]
        return csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)), shape=(len(texts), len(self.ids)))

    def _fit_clusters(self, texts: list[str], clusters: int, seed: int) -> None:
        from sklearn.cluster import KMeans

        distinct = len(set(texts))
        n = min(int(clusters), distinct)
        if n < 2:
            raise DataError(f"words_loss clusters needs at least 2 distinct training texts, got {distinct}")
        km = KMeans(n_clusters=n, n_init=4, random_state=seed).fit(self._vectors(texts))
        self.centroids = km.cluster_centers_
        for text, lab in zip(texts, km.labels_):
            self._cluster[text] = int(lab)

    @property
    def clusters(self) -> int:
        """How many text clusters there are (0 without)."""
        return 0 if self.centroids is None else len(self.centroids)

    def cluster(self, text: str | None) -> int:
        """The cluster of ``text`` (-1 when it has no target word): its own for a training
        text, the nearest centre (cosine) for any other."""
        if self.centroids is None:
            raise DataError("this vocabulary has no clusters (WordVocab(clusters=...))")
        if not text or not self.target(text):
            return -1
        hit = self._cluster.get(text)
        if hit is None:
            hit = int((self._vectors([text]) @ self.centroids.T).argmax())
            self._cluster[text] = hit
        return hit

    def batch(self, texts: Sequence[str | None], *, mode: str = "bag", labels: Sequence[int] | None = None) -> WordBatch:
        """The texts' targets, to be scored as ``mode`` (``train.words_loss``); ``tags`` adds
        the words' prior log-odds and which words are tags (those with a non-zero IDF), for
        :func:`hawk_core.model.losses.tags_loss`; ``clusters`` adds each text's cluster (-1: none), for :func:`hawk_core.model.losses.clusters_loss`;
        ``labels`` carries the given class ``labels`` (-1: none; :class:`ClassLabels`) the same way."""
        import torch

        from ..model.text import WordBatch

        targets = torch.zeros(len(texts), len(self.ids))
        for row, text in enumerate(texts):
            for k, v in self.target(text):
                targets[row, k] = v
        ids = torch.tensor(self.ids, dtype=torch.long)
        if mode == "clusters":  # cluster() refuses a vocabulary without clusters
            return WordBatch(ids, targets, mode=mode, labels=torch.tensor([self.cluster(t) for t in texts], dtype=torch.long))
        if mode == "labels":
            if labels is None or len(labels) != len(texts):
                raise DataError(f"words_loss labels needs one class label per text, got {None if labels is None else len(labels)} for {len(texts)}")
            return WordBatch(ids, targets, mode=mode, labels=torch.tensor(list(labels), dtype=torch.long))
        if mode != "tags":
            return WordBatch(ids, targets, mode=mode)
        return WordBatch(ids, targets, torch.tensor(self.log_odds), torch.tensor([v > 0 for v in self.idf]), mode=mode)


class ClassLabels:
    """A record field's values as class indices, for ``train.words_loss: labels``: the classes
    are the distinct non-empty values among the training records (as text, sorted), and a
    record without the field, or with a value the training records never had, is -1 (no
    target: it trains only L_MV)."""

    def __init__(self, field: str, values: Sequence[Any]) -> None:
        self.field = field
        present = [v for v in map(self.name_of, values) if v is not None]
        self.names = sorted(set(present))
        if len(self.names) < 2:
            found = f"one class ({self.names[0]!r})" if self.names else "none"
            raise DataError(f"words_loss labels needs at least 2 classes in the training records' {field!r} field, found {found} "
                            f"({len(values) - len(present)} of {len(values)} records lack it); --label-field names another field")
        self.index = {n: i for i, n in enumerate(self.names)}
        self.missing = len(values) - len(present)

    @staticmethod
    def name_of(value: Any) -> str | None:
        """A record field's value as a class name: stripped text, or None (missing, empty, a list or object)."""
        if value is None or isinstance(value, (dict, list)):
            return None
        text = str(value).strip()
        return text or None

    def __len__(self) -> int:
        return len(self.names)

    def of(self, value: Any) -> int:
        """The class index of a record's field value (-1: none or unknown)."""
        v = self.name_of(value)
        return -1 if v is None else self.index.get(v, -1)


__all__ = ["MAX_DF", "ClassLabels", "WordVocab"]
