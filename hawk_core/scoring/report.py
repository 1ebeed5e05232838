"""Per-task (and per-group) summaries of one predictions file, shaped like the paper's
Table 1: BLEU-1..4, the peers' caption metrics (METEOR, ROUGE-L, CIDEr), the semantic
similarity, and the judge's dimensions (the paper's three, or Video-ChatGPT's five)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .bleu import BleuConfig, bleu_scores, sentence_bleu
from .captions import CAPTION_METRICS
from .judge import DIMENSIONS, JudgeOutcome, mean_scores
from .records import TASKS, LoadedPredictions, ScoreItem

if TYPE_CHECKING:  # pragma: no cover
    from .captions import CaptionConfig, Meteor

METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", *CAPTION_METRICS, "semantic", *DIMENSIONS)


def task_summary(
    items: Sequence[ScoreItem],
    indices: Sequence[int],
    bleu: BleuConfig,
    semantic: Sequence[float] | None = None,
    judge: dict[tuple[int, str], JudgeOutcome] | None = None,
    *,
    dimensions: Sequence[str] = DIMENSIONS,
    captions: CaptionConfig | None = None,
    meteor: Meteor | None = None,
) -> dict[str, Any]:
    """Scores of the items at ``indices`` (all of one task). Metrics not computed are None.

    ``captions``: also METEOR / ROUGE-L / CIDEr (:func:`~hawk_core.scoring.captions.caption_scores`
    over these items, so CIDEr's IDF is this set's), with ``meteor_unavailable`` saying why
    METEOR is None; ``meteor``: a running METEOR to reuse. ``dimensions``: the judge's."""
    hyps = [items[i].prediction for i in indices]
    refs = [items[i].references for i in indices]
    out: dict[str, Any] = dict(zip(("bleu1", "bleu2", "bleu3", "bleu4"), bleu_scores(hyps, refs, bleu), strict=True))
    if captions is not None and indices:
        from .captions import caption_scores

        cs = caption_scores(hyps, refs, captions, meteor_scorer=meteor)
        out |= {"meteor": cs.meteor, "rouge_l": cs.rouge_l, "cider": cs.cider, "meteor_unavailable": cs.meteor_unavailable}
    else:
        out |= {k: None for k in CAPTION_METRICS}
    out["semantic"] = sum(semantic[i] for i in indices) / len(indices) if semantic is not None and indices else None
    counts: dict[str, Any] = {"n": len(indices), "empty": sum(1 for i in indices if items[i].is_empty)}
    if judge is not None:
        counts["judge_scored"], counts["judge_failed"] = {}, {}
        for dim in dimensions:
            mean, n_ok, n_failed = mean_scores([judge[(i, dim)] for i in indices if (i, dim) in judge])
            out[dim] = mean
            counts["judge_scored"][dim] = n_ok
            counts["judge_failed"][dim] = n_failed
    else:
        for dim in dimensions:
            out[dim] = None
    out["counts"] = counts
    return out


def _by_task(items: Sequence[ScoreItem], indices: Sequence[int]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i in indices:
        groups.setdefault(items[i].task, []).append(i)
    return {t: groups[t] for t in TASKS if t in groups}


def summarize(
    loaded: LoadedPredictions,
    bleu: BleuConfig,
    semantic: Sequence[float] | None = None,
    judge: dict[tuple[int, str], JudgeOutcome] | None = None,
    by: str | None = None,
    *,
    dimensions: Sequence[str] = DIMENSIONS,
    captions: CaptionConfig | None = None,
    meteor: Meteor | None = None,
) -> dict[str, Any]:
    """``{"file", "counts", "tasks": {task: summary}, "groups": {value: {task: summary}}}``
    (each summary from :func:`task_summary`; a group is its own scored set)."""
    items = loaded.items
    everything = range(len(items))
    kw: dict[str, Any] = {"dimensions": dimensions, "captions": captions, "meteor": meteor}
    report: dict[str, Any] = {
        "file": str(loaded.path),
        "counts": loaded.counts(),
        "tasks": {t: task_summary(items, idx, bleu, semantic, judge, **kw) for t, idx in _by_task(items, everything).items()},
    }
    if by:
        buckets: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            buckets.setdefault(item.group_value(by), []).append(i)
        report["by"] = by
        report["groups"] = {
            value: {t: task_summary(items, idx, bleu, semantic, judge, **kw) for t, idx in _by_task(items, buckets[value]).items()}
            for value in sorted(buckets)
        }
    return report


def item_rows(
    loaded: LoadedPredictions,
    bleu: BleuConfig,
    semantic: Sequence[float] | None = None,
    judge: dict[tuple[int, str], JudgeOutcome] | None = None,
    *,
    dimensions: Sequence[str] = DIMENSIONS,
) -> list[dict[str, Any]]:
    """One record per scored item: sentence BLEU-1..4, semantic, judge scores and errors."""
    rows = []
    for i, item in enumerate(loaded.items):
        b = sentence_bleu(item.prediction, item.references, bleu.smoothing)
        row: dict[str, Any] = {"file": str(loaded.path), "id": item.id, "task": item.task}
        row |= {f"bleu{n + 1}": b[n] for n in range(4)}
        row["semantic"] = semantic[i] if semantic is not None else None
        if judge is not None:
            for dim in dimensions:
                o = judge.get((i, dim))
                row[dim] = o.score if o and o.status != "failed" else None
                if o and o.status == "failed":
                    row.setdefault("judge_errors", {})[dim] = o.error
        rows.append(row)
    return rows
