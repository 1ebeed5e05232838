"""`hawk score`: BLEU-1..4, the GPT-guided judge and an offline semantic similarity of a
predictions file against its references, reported like the paper's Table 1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hawk_cli._common import JsonOut, console, err_console, guarded, set_torch_threads

_JUDGE = "LLM judge"
_BLEU = "BLEU"
_INPUT = "Input"


@guarded
def score(
    preds: Annotated[list[Path], typer.Argument(help="Predictions file(s), JSONL or a JSON list; several files give one row each.", show_default=False)],
    refs: Annotated[Path | None, typer.Option("--refs", "-r", help="HAWK-format data (video, description, QA) to join references from when a record has no inline 'reference'.", rich_help_panel=_INPUT)] = None,
    by: Annotated[str | None, typer.Option("--by", help="Also report per value of this field (of the prediction record, else of its joined data record), e.g. source.")] = None,
    json_out: JsonOut = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the JSON report to this file (atomically).")] = None,
    items_out: Annotated[Path | None, typer.Option("--items", help="Write per-item scores (sentence BLEU, semantic, judge, errors) to this JSONL file.")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Skip and count invalid records (bad JSON or UTF-8, missing fields, duplicate ids) instead of stopping at the first.", rich_help_panel=_INPUT)] = False,
    skip_empty: Annotated[bool, typer.Option("--skip-empty", help="Leave empty predictions out (counted) instead of scoring them as empty answers.", rich_help_panel=_INPUT)] = False,
    sentence_bleu: Annotated[bool, typer.Option("--sentence-bleu", help="Report the mean of per-item sentence BLEU instead of corpus BLEU.", rich_help_panel=_BLEU)] = False,
    smoothing: Annotated[int, typer.Option("--smoothing", min=0, max=7, help="NLTK SmoothingFunction method (0 = none; 1 = epsilon 0.1 on orders with no match).", rich_help_panel=_BLEU)] = 1,
    semantic: Annotated[bool, typer.Option("--semantic/--no-semantic", help="Mean cosine similarity of MiniLM sentence embeddings (offline).")] = True,
    semantic_model: Annotated[Path | None, typer.Option("--semantic-model", help="Another sentence-transformers folder (mean pooling) instead of the embedded all-MiniLM-L6-v2.")] = None,
    judge: Annotated[bool, typer.Option("--judge", help="Score Reasonability, Detail, Consistency with an LLM judge (OPENAI_API_KEY, OPENAI_BASE_URL).", rich_help_panel=_JUDGE)] = False,
    judge_model: Annotated[str, typer.Option("--judge-model", help="Judge model name (the paper used GPT-4).", rich_help_panel=_JUDGE)] = "gpt-4",
    judge_base_url: Annotated[str | None, typer.Option("--judge-base-url", help="OpenAI-compatible base URL (default: $OPENAI_BASE_URL, else OpenAI).", rich_help_panel=_JUDGE)] = None,
    judge_workers: Annotated[int, typer.Option("--judge-workers", min=1, max=64, help="Requests in flight at once.", rich_help_panel=_JUDGE)] = 4,
    judge_retries: Annotated[int, typer.Option("--judge-retries", min=0, max=20, help="Retries of a failed or unparseable request before it is recorded as failed.", rich_help_panel=_JUDGE)] = 3,
    judge_backoff: Annotated[float, typer.Option("--judge-backoff", min=0.0, help="Seconds before the first retry, doubled each time (max 30 s).", rich_help_panel=_JUDGE)] = 1.0,
    judge_timeout: Annotated[float, typer.Option("--judge-timeout", min=0.1, help="Seconds per request.", rich_help_panel=_JUDGE)] = 60.0,
    judge_cache: Annotated[Path | None, typer.Option("--judge-cache", help="Verdict cache (JSONL) [default: ~/.cache/hawk/judge_cache.jsonl, or $HAWK_CACHE].", rich_help_panel=_JUDGE, show_default=False)] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Ask again for verdicts cached as unparseable.", rich_help_panel=_JUDGE)] = False,
    judge_price: Annotated[str | None, typer.Option("--judge-price", help="USD per 1M input,output tokens for the cost line, e.g. 30,60.", rich_help_panel=_JUDGE)] = None,
    prompts: Annotated[Path | None, typer.Option("--prompts", help="Folder with the judge templates [default: prompts/ or $HAWK_PROMPTS].", rich_help_panel=_JUDGE, show_default=False)] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="torch threads for the semantic model [default: 1 on small machines].")] = None,
) -> None:
    """Score predictions like the paper's Table 1: BLEU-1..4, the GPT-guided Reasonability / Detail / Consistency (--judge) and an offline semantic similarity, per task (description and qa, reported separately).

    Records: {"id", "task": "description"|"qa", "prediction", "question" (qa), "video", "reference"}; without "reference", it is joined from --refs by video (exact path, else unique file name) and, for qa, question. Records with no reference are skipped and counted; invalid records (bad JSON/UTF-8, missing fields, duplicate ids) stop the run with the line named, or are skipped and counted with --skip-invalid. Empty predictions are scored as empty answers (BLEU 0 matches, semantic 0, judge 0 without a request) and counted, or left out with --skip-empty.

    BLEU: NLTK, lowercase + wordpunct tokens (words and punctuation split; no NLTK data needed), cumulative BLEU-n with uniform weights, corpus-level by default, smoothing method1 (changes a corpus score only when an n-gram order has no match at all).

    Judge: the paper's prompts (prompts/judge/, editable), temperature 0, answers parsed as {'score': x} (dict or JSON, fenced or in prose), retried with backoff, then counted as failed and left out of the mean. Verdicts are cached by (model, template, dimension, item): a rerun sends no request twice.

    Examples:
      hawk score preds.jsonl --refs data/test.json
      hawk score base.jsonl hawk.jsonl --refs test.json --judge --judge-model gpt-4o
      OPENAI_BASE_URL=http://localhost:8000/v1 hawk score preds.jsonl --judge --judge-model qwen2.5
      hawk score preds.jsonl --by source --json --out scores.json
    """
    import json

    from hawk_core.embedded import cache_dir
    from hawk_core.errors import ConfigError
    from hawk_core.io import JsonlAppender, atomic_path, write_json
    from hawk_core.scoring import BleuConfig, JudgeConfig, ReferenceIndex, item_rows, load_predictions, summarize

    bleu_cfg = BleuConfig(mode="sentence" if sentence_bleu else "corpus", smoothing=smoothing)
    price = _parse_price(judge_price) if judge_price else None
    if price is None and judge_price:
        raise ConfigError("--judge-price wants two numbers, input,output USD per 1M tokens (e.g. 30,60)")
    jcfg = None
    if judge:
        jcfg = JudgeConfig(
            model=judge_model, base_url=judge_base_url, workers=judge_workers, retries=judge_retries,
            backoff=judge_backoff, timeout=judge_timeout,
            cache_path=judge_cache or cache_dir() / "judge_cache.jsonl", retry_failed=retry_failed,
            prompts=prompts, price_per_mtok=price,
        )
    note = err_console if json_out else console

    ref_index = ReferenceIndex.from_file(refs) if refs else None
    loaded = [load_predictions(p, ref_index, skip_invalid=skip_invalid, skip_empty=skip_empty) for p in preds]
    labels = _labels(preds)

    sims: list[list[float] | None] = [None] * len(loaded)
    sem_name = None
    if semantic:
        from hawk_core.scoring.semantic import SentenceEmbedder

        set_torch_threads(threads)
        embedder = SentenceEmbedder(semantic_model)
        sem_name = embedder.name
        with _progress(note, "semantic") as (progress, task):
            progress.update(task, total=sum(len({i.prediction for i in lp.items} | {r for i in lp.items for r in i.references}) for lp in loaded))
            for k, lp in enumerate(loaded):
                sims[k] = embedder.similarities(
                    [i.prediction for i in lp.items], [i.references for i in lp.items],
                    progress=lambda n: progress.update(task, advance=n),
                )

    verdicts: list[dict | None] = [None] * len(loaded)
    usage = None
    if jcfg is not None:
        from hawk_core.scoring import Judge

        judge_obj = Judge(jcfg)
        all_items = [it for lp in loaded for it in lp.items]
        with _progress(note, f"judge {jcfg.model}") as (progress, task):
            outcomes, usage = judge_obj.run(all_items, progress=lambda done, total: progress.update(task, completed=done, total=total))
        start = 0
        for k, lp in enumerate(loaded):
            verdicts[k] = {(i - start, d): o for (i, d), o in outcomes.items() if start <= i < start + len(lp.items)}
            start += len(lp.items)

    runs = []
    for k, lp in enumerate(loaded):
        rep = summarize(lp, bleu_cfg, sims[k], verdicts[k], by)
        rep["label"] = labels[k]
        rep["unjoined_examples"] = lp.unjoined_examples
        rep["invalid_examples"] = [{"line": b.line, "reason": b.reason} for b in lp.invalid[:5]]
        runs.append(rep)
    report: dict[str, Any] = {
        "settings": {
            "bleu": bleu_cfg.describe(),
            "semantic_model": sem_name,
            "judge_model": jcfg.model if jcfg else None,
            "refs": str(refs) if refs else None,
        },
        "runs": runs,
        "judge_usage": usage.to_dict() if usage else None,
    }

    if items_out:
        with atomic_path(items_out) as tmp:
            with JsonlAppender(tmp) as app:
                for k, lp in enumerate(loaded):
                    for row in item_rows(lp, bleu_cfg, sims[k], verdicts[k]):
                        app.write(row)
    if out:
        write_json(out, report)
    if json_out:
        console.print_json(json.dumps(report))
        _print_notes(report, err_console)
        return
    _print_tables(report)
    _print_notes(report, console)
    if out or items_out:
        console.print("written: " + ", ".join(str(p) for p in (out, items_out) if p))


# ---- helpers -----------------------------------------------------------------------------


def _parse_price(text: str) -> tuple[float, float] | None:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        return None
    return values if len(values) == 2 and min(values) >= 0 else None  # type: ignore[return-value]


def _labels(paths: list[Path]) -> list[str]:
    stems = [p.stem for p in paths]
    return [p.stem if stems.count(p.stem) == 1 else str(p) for p in paths]


class _progress:
    """A rich progress bar on the given console, transient on terminals."""

    def __init__(self, con, name: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.p = Progress(TextColumn(f"[bold]{name}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=con, transient=True, disable=not con.is_terminal)

    def __enter__(self):
        self.p.__enter__()
        return self.p, self.p.add_task("", total=None)

    def __exit__(self, *exc):
        return self.p.__exit__(*exc)


_TASK_TITLES = {"description": "(A) Anomaly video description generation", "qa": "(B) Anomaly video question-answering"}
_COLUMNS = (("bleu1", "BLEU-1"), ("bleu2", "BLEU-2"), ("bleu3", "BLEU-3"), ("bleu4", "BLEU-4"), ("semantic", "Sem."),
            ("reasonability", "Reas."), ("detail", "Detail"), ("consistency", "Cons."))


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _print_tables(report: dict) -> None:
    from rich import box
    from rich.table import Table

    bleu = report["settings"]["bleu"]
    for task, title in _TASK_TITLES.items():
        rows = []
        for run in report["runs"]:
            if task in run["tasks"]:
                rows.append((run["label"], run["tasks"][task], False))
            for value, tasks in (run.get("groups") or {}).items():
                if task in tasks:
                    rows.append((f"  {value}", tasks[task], True))
        if not rows:
            continue
        # Columns of metrics that were not computed (no --judge, --no-semantic) are left out.
        columns = [(k, h) for k, h in _COLUMNS if any(s.get(k) is not None for _, s, _ in rows) or k.startswith("bleu")]
        caption = f"BLEU: {bleu['mode']}, {bleu['smoothing']}"
        if any(g for _, _, g in rows):
            caption += f"; indented rows: by {report['runs'][0]['by']}"
        if any(s.get("semantic") is not None for _, s, _ in rows):
            caption += "; Sem.: MiniLM cosine"
        if any(s.get("reasonability") is not None for _, s, _ in rows):
            caption += "; judge: Reas(onability), Detail, Cons(istency)"
        failures = [f"{label.strip()}: " + ", ".join(f"{d} {n}" for d, n in s["counts"]["judge_failed"].items() if n)
                    for label, s, _ in rows if any((s["counts"].get("judge_failed") or {}).values())]
        if failures:
            caption += "\n* judge verdicts failed, left out of the mean: " + "; ".join(failures)
        table = Table(title=title, caption=caption, title_justify="left", caption_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
        table.add_column("run", overflow="fold", min_width=8)
        table.add_column("n", justify="right", no_wrap=True)
        for _, head in columns:
            table.add_column(head, justify="right", no_wrap=True, min_width=5)
        for label, s, is_group in rows:
            cells = []
            for key, _ in columns:
                cell = _fmt(s.get(key))
                if (s["counts"].get("judge_failed") or {}).get(key):
                    cell += "[red]*[/]"
                cells.append(cell)
            table.add_row(label, str(s["counts"]["n"]), *cells, style="dim" if is_group else None)
        console.print(table)


def _print_notes(report: dict, con) -> None:
    for run in report["runs"]:
        c = run["counts"]
        parts = [f"{c['records']} records", f"{c['scored']} scored"]
        if c["unjoined"]:
            ex = ", ".join(run["unjoined_examples"])
            parts.append(f"[yellow]{c['unjoined']} without a reference[/] (could not be joined; e.g. id {ex})")
        if c["empty"]:
            parts.append(f"{c['empty']} empty predictions" + (" (left out)" if c["skipped_empty"] else " (scored as empty)"))
        if c["invalid"]:
            first = run["invalid_examples"][0]
            parts.append(f"[yellow]{c['invalid']} invalid skipped[/] (e.g. line {first['line']}: {first['reason']})")
        if c["duplicate_ids"]:
            parts.append(f"{c['duplicate_ids']} duplicate ids")
        con.print(f"{run['label']}: " + ", ".join(parts), soft_wrap=True)
    u = report.get("judge_usage")
    if u:
        line = (f"judge {report['settings']['judge_model']}: {u['verdicts_asked']} verdicts asked ({u['requests']} requests), "
                f"{u['verdicts_cached']} from cache, {u['failed']} failed; tokens {u['prompt_tokens']:,} in / {u['completion_tokens']:,} out")
        line += f"; cost ${u['cost_usd']:.4f}" if u["cost_usd"] is not None else " (pass --judge-price IN,OUT for the cost)"
        con.print(line, soft_wrap=True)
