"""Per-task (and per-group) summaries of one predictions file, shaped like the paper's
Table 1: BLEU-1..4, the peers' caption metrics (METEOR, ROUGE-L, CIDEr), the semantic
similarity, and the judge's dimensions (the paper's three, or Video-ChatGPT's five); and the
whole `hawk score` report over several files (:func:`build_report`), with the content of its
tables (:func:`report_tables`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .bleu import BleuConfig, bleu_scores, sentence_bleu
from .captions import CAPTION_METRICS
from .judge import DIMENSIONS, JudgeOutcome, mean_scores
from .records import TASKS, LoadedPredictions, ScoreItem

if TYPE_CHECKING:  # pragma: no cover
    from .captions import CaptionConfig, Meteor
    from .judge import Judge, JudgeUsage
    from .semantic import SentenceEmbedder

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


# ---- the report over several predictions files (`hawk score`) ---------------------------


def run_labels(paths: Sequence[Path]) -> list[str]:
    """Each file's row label: its stem, or its whole path where two files share a stem."""
    stems = [p.stem for p in paths]
    return [p.stem if stems.count(p.stem) == 1 else str(p) for p in paths]


def semantic_total(loaded: Sequence[LoadedPredictions]) -> int:
    """How many distinct texts :func:`semantic_similarities` embeds (a progress bar's total)."""
    return sum(len({i.prediction for i in lp.items} | {r for i in lp.items for r in i.references}) for lp in loaded)


def semantic_similarities(loaded: Sequence[LoadedPredictions], embedder: SentenceEmbedder,
                          progress: Callable[[int], None] | None = None) -> list[list[float]]:
    """Per file, each item's similarity of prediction and references."""
    return [embedder.similarities([i.prediction for i in lp.items], [i.references for i in lp.items], progress=progress)
            for lp in loaded]


def judge_files(loaded: Sequence[LoadedPredictions], judge: Judge, dimensions: Sequence[str],
                progress: Callable[[int, int], None] | None = None) -> tuple[list[dict[tuple[int, str], JudgeOutcome]], JudgeUsage]:
    """The judge's verdicts on the items of all files in one run, split back per file (item
    indices per file), and the run's usage."""
    all_items = [it for lp in loaded for it in lp.items]
    outcomes, usage = judge.run(all_items, progress=progress, dimensions=dimensions)
    verdicts = []
    start = 0
    for lp in loaded:
        verdicts.append({(i - start, d): o for (i, d), o in outcomes.items() if start <= i < start + len(lp.items)})
        start += len(lp.items)
    return verdicts, usage


def score_runs(
    loaded: Sequence[LoadedPredictions],
    labels: Sequence[str],
    bleu: BleuConfig,
    semantic: Sequence[Sequence[float] | None],
    verdicts: Sequence[dict[tuple[int, str], JudgeOutcome] | None],
    by: str | None,
    *,
    dimensions: Sequence[str],
    captions: CaptionConfig,
    starting: Callable[[str], contextlib.AbstractContextManager] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One :func:`summarize` per file (``"label"``, examples of unjoined and invalid records
    added), sharing one METEOR process; and why METEOR is unavailable (None: it ran).
    ``starting(name)``: a context shown while the METEOR jar starts (a progress line)."""
    from .captions import Meteor, meteor_unavailable

    runs = []
    meteor_reason = meteor_unavailable(captions.java) if captions.meteor else "not requested"
    with contextlib.ExitStack() as stack:
        jar = None
        if meteor_reason is None and any(lp.items for lp in loaded):
            with starting("METEOR: starting Java") if starting else contextlib.nullcontext():
                jar = stack.enter_context(Meteor(captions.java, captions.meteor_memory, captions.meteor_timeout))
        for k, lp in enumerate(loaded):
            rep = summarize(lp, bleu, semantic[k], verdicts[k], by, dimensions=dimensions, captions=captions, meteor=jar)
            rep["label"] = labels[k]
            rep["unjoined_examples"] = lp.unjoined_examples
            rep["invalid_examples"] = [{"line": b.line, "reason": b.reason} for b in lp.invalid[:5]]
            runs.append(rep)
    return runs, meteor_reason


def build_report(
    runs: list[dict[str, Any]],
    *,
    bleu: BleuConfig,
    captions: CaptionConfig,
    meteor_reason: str | None,
    semantic_model: str | None,
    judge_protocol: str,
    dimensions: Sequence[str],
    judge_model: str | None,
    refs: Path | None,
    usage: JudgeUsage | None,
) -> dict[str, Any]:
    """The JSON report of `hawk score`: ``{"settings", "runs", "judge_usage"}``."""
    return {
        "settings": {
            "bleu": bleu.describe(),
            "captions": captions.describe() | {"tokens": captions.tokenizer, "meteor_unavailable": meteor_reason},
            "semantic_model": semantic_model,
            "judge_protocol": judge_protocol,
            "judge_dimensions": list(dimensions),
            "judge_model": judge_model,
            "refs": str(refs) if refs else None,
        },
        "runs": runs,
        "judge_usage": usage.to_dict() if usage else None,
    }


def write_item_rows(
    path: Path,
    loaded: Sequence[LoadedPredictions],
    bleu: BleuConfig,
    semantic: Sequence[Sequence[float] | None],
    verdicts: Sequence[dict[tuple[int, str], JudgeOutcome] | None],
    *,
    dimensions: Sequence[str],
) -> None:
    """:func:`item_rows` of every file, as one JSONL file (written atomically)."""
    from ..io import JsonlAppender, atomic_path

    with atomic_path(path) as tmp:
        with JsonlAppender(tmp) as app:
            for k, lp in enumerate(loaded):
                for row in item_rows(lp, bleu, semantic[k], verdicts[k], dimensions=dimensions):
                    app.write(row)


# ---- the tables' content ----------------------------------------------------------------

TASK_TITLES = {"description": "(A) Anomaly video description generation", "qa": "(B) Anomaly video question-answering"}
COLUMNS = (("bleu1", "BLEU-1"), ("bleu2", "BLEU-2"), ("bleu3", "BLEU-3"), ("bleu4", "BLEU-4"), ("meteor", "METEOR"),
           ("rouge_l", "ROUGE-L"), ("cider", "CIDEr"), ("semantic", "Sem."))
JUDGE_HEADS = {"reasonability": "Reas.", "detail": "Detail", "consistency": "Cons.", "correctness": "Corr.",
               "context": "Ctx.", "temporal": "Temp."}
JUDGE_CAPTIONS = {"hawk": "judge (paper, 0-1): Reas(onability), Detail, Cons(istency)",
                  "videochatgpt": "judge (Video-ChatGPT, 0-5): Corr(ectness), Detail, C(on)t(e)x(t), Temp(oral), Cons(istency)"}


@dataclass(frozen=True)
class ReportTable:
    """One table of the report: ``columns`` (key, heading); ``rows`` (label, summary, is a group)."""

    title: str
    caption: str
    columns: list[tuple[str, str]]
    rows: list[tuple[str, dict[str, Any], bool]]


def _task_rows(report: dict[str, Any], task: str) -> list[tuple[str, dict[str, Any], bool]]:
    rows = []
    for run in report["runs"]:
        if task in run["tasks"]:
            rows.append((run["label"], run["tasks"][task], False))
        for value, tasks in (run.get("groups") or {}).items():
            if task in tasks:
                rows.append((f"  {value}", tasks[task], True))
    return rows


def report_tables(report: dict[str, Any]) -> list[ReportTable]:
    """Per task, a table of the text metrics and (with the judge) one of the judge's
    dimensions, so each fits 80 columns; metrics not computed have no column."""
    settings = report["settings"]
    bleu = settings["bleu"]
    dims = settings.get("judge_dimensions") or []
    tables = []
    for task, title in TASK_TITLES.items():
        rows = _task_rows(report, task)
        if not rows:
            continue
        grouped = f"indented rows: by {report['runs'][0]['by']}" if any(g for _, _, g in rows) else None
        # METEOR that could not run (no Java) keeps its column, as n/a
        meteor_na = {s.get("meteor_unavailable") for _, s, _ in rows} - {None, "not requested"}
        columns = [(k, h) for k, h in COLUMNS
                   if any(s.get(k) is not None for _, s, _ in rows) or k.startswith("bleu") or (k == "meteor" and meteor_na)]
        notes = [f"BLEU: {bleu['mode']}, {bleu['smoothing']}"]
        shown = [h for k, h in columns if k in ("meteor", "rouge_l", "cider")]
        if shown:
            notes.append(f"{', '.join(shown)}: pycocoevalcap's, {settings['captions']['tokens']} tokens")
        if meteor_na:
            notes.append("METEOR n/a: " + ", ".join(sorted(meteor_na)))
        if any(s.get("semantic") is not None for _, s, _ in rows):
            notes.append("Sem.: MiniLM cosine")
        if grouped:
            notes.append(grouped)
        tables.append(ReportTable(title, "; ".join(notes), columns, rows))
        if dims and any(s.get(d) is not None for _, s, _ in rows for d in dims):
            notes = [JUDGE_CAPTIONS.get(settings.get("judge_protocol"), "judge")] + ([grouped] if grouped else [])
            failures = [f"{label.strip()}: " + ", ".join(f"{d} {n}" for d, n in s["counts"]["judge_failed"].items() if n)
                        for label, s, _ in rows if any((s["counts"].get("judge_failed") or {}).values())]
            caption = "; ".join(notes)
            if failures:
                caption += "\n* judge verdicts failed, left out of the mean: " + "; ".join(failures)
            tables.append(ReportTable(f"{title}: judge {settings.get('judge_model')}", caption,
                                      [(d, JUDGE_HEADS.get(d, d.title())) for d in dims], rows))
    return tables
