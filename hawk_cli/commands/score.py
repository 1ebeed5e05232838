"""`hawk score`: BLEU-1..4, METEOR / ROUGE-L / CIDEr, the GPT-guided judge (the paper's or
Video-ChatGPT's protocol) and an offline semantic similarity of a predictions file against its
references, reported like the paper's Table 1; and (--detection) the frame-level AUC / AP and
event IoU / mAP of a detections file against temporal ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from hawk_cli._common import JsonOut, Wait, console, err_console, guarded, lock_output, set_torch_threads

_JUDGE = "LLM judge"
_BLEU = "BLEU"
_CAPTIONS = "METEOR, ROUGE-L, CIDEr"
_INPUT = "Input"
_DETECT = "Temporal detection (--detection)"


@guarded
def score(
    preds: Annotated[Optional[list[Path]], typer.Argument(help="Predictions file(s), JSONL or a JSON list; several files give one row each.", show_default=False)] = None,
    refs: Annotated[Path | None, typer.Option("--refs", "-r", help="HAWK-format data (video, description, QA) to join references from when a record has no inline 'reference'.", rich_help_panel=_INPUT)] = None,
    by: Annotated[str | None, typer.Option("--by", help="Also report per value of this field (of the prediction record, else of its joined data record), e.g. source.")] = None,
    json_out: JsonOut = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the JSON report to this file (atomically).")] = None,
    items_out: Annotated[Path | None, typer.Option("--items", help="Write per-item scores (sentence BLEU, semantic, judge, errors) to this JSONL file.")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Skip and count invalid records (bad JSON or UTF-8, missing fields, duplicate ids) instead of stopping at the first.", rich_help_panel=_INPUT)] = False,
    skip_empty: Annotated[bool, typer.Option("--skip-empty", help="Leave empty predictions out (counted) instead of scoring them as empty answers.", rich_help_panel=_INPUT)] = False,
    sentence_bleu: Annotated[bool, typer.Option("--sentence-bleu", help="Report the mean of per-item sentence BLEU instead of corpus BLEU.", rich_help_panel=_BLEU)] = False,
    smoothing: Annotated[int, typer.Option("--smoothing", min=0, max=7, help="NLTK SmoothingFunction method (0 = none; 1 = epsilon 0.1 on orders with no match).", rich_help_panel=_BLEU)] = 1,
    caption_tokenizer: Annotated[str, typer.Option("--caption-tokenizer", help="Tokens for METEOR / ROUGE-L / CIDEr: coco (pycocoevalcap's PTB tokenizer, in Python), coco-java (its jar; needs Java) or whitespace (pre-tokenised).", rich_help_panel=_CAPTIONS)] = "coco",
    meteor: Annotated[bool, typer.Option("--meteor/--no-meteor", help="METEOR 1.5 (pycocoevalcap's jar; needs Java and takes ~20 s to start). Without Java it is reported as unavailable, never 0.", rich_help_panel=_CAPTIONS)] = True,
    semantic: Annotated[bool, typer.Option("--semantic/--no-semantic", help="Mean cosine similarity of MiniLM sentence embeddings (offline).")] = True,
    semantic_model: Annotated[Path | None, typer.Option("--semantic-model", help="Another sentence-transformers folder (mean pooling) instead of the embedded all-MiniLM-L6-v2.")] = None,
    judge: Annotated[bool, typer.Option("--judge", help="Score the answers with an LLM judge (OPENAI_API_KEY, OPENAI_BASE_URL).", rich_help_panel=_JUDGE)] = False,
    judge_protocol: Annotated[str, typer.Option("--judge-protocol", help="hawk: the paper's Reasonability, Detail, Consistency in [0, 1]; videochatgpt: Video-ChatGPT's Correctness, Detail, Context, Temporal, Consistency, integers 0-5.", rich_help_panel=_JUDGE)] = "hawk",
    judge_model: Annotated[str, typer.Option("--judge-model", help="Judge model name (the paper used GPT-4).", rich_help_panel=_JUDGE)] = "gpt-4",
    judge_base_url: Annotated[str | None, typer.Option("--judge-base-url", help="OpenAI-compatible base URL (default: $OPENAI_BASE_URL, else OpenAI).", rich_help_panel=_JUDGE)] = None,
    judge_workers: Annotated[int, typer.Option("--judge-workers", min=1, max=64, help="Requests in flight at once.", rich_help_panel=_JUDGE)] = 4,
    judge_retries: Annotated[int, typer.Option("--judge-retries", min=0, max=20, help="Retries of a failed or unparseable request before it is recorded as failed.", rich_help_panel=_JUDGE)] = 3,
    judge_backoff: Annotated[float, typer.Option("--judge-backoff", min=0.0, help="Seconds before the first retry, doubled each time (max 30 s).", rich_help_panel=_JUDGE)] = 1.0,
    judge_timeout: Annotated[float, typer.Option("--judge-timeout", min=0.1, help="Seconds per request.", rich_help_panel=_JUDGE)] = 60.0,
    judge_cache: Annotated[Path | None, typer.Option("--judge-cache", help="Verdict cache (JSONL) \\[default: ~/.cache/hawk/judge_cache.jsonl, or $HAWK_CACHE].", rich_help_panel=_JUDGE, show_default=False)] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Ask again for verdicts cached as unparseable.", rich_help_panel=_JUDGE)] = False,
    judge_price: Annotated[str | None, typer.Option("--judge-price", help="USD per 1M input,output tokens for the cost line, e.g. 30,60.", rich_help_panel=_JUDGE)] = None,
    prompts: Annotated[Path | None, typer.Option("--prompts", help="Folder with the judge templates \\[default: prompts/ or $HAWK_PROMPTS].", rich_help_panel=_JUDGE, show_default=False)] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="torch threads for the semantic model \\[default: 1 on small machines].")] = None,
    detection: Annotated[Path | None, typer.Option("--detection", help="Score a detections file (JSONL from `hawk detect`) instead of predictions.", rich_help_panel=_DETECT, show_default=False)] = None,
    gt: Annotated[Path | None, typer.Option("--gt", help="Temporal ground truth: HAWK records with time_span, UCF-Crime Temporal_Anomaly_Annotation txt, or HIVAU-70k raw JSON.", rich_help_panel=_DETECT, show_default=False)] = None,
    gt_format: Annotated[str, typer.Option("--gt-format", help="auto (from the content), hawk, ucf or hivau.", rich_help_panel=_DETECT)] = "auto",
    fps: Annotated[float | None, typer.Option("--fps", min=0.001, help="Frame rate of ground truth given in frame numbers without its own (UCF-Crime; default 30), and of videos with no known rate.", rich_help_panel=_DETECT, show_default=False)] = None,
    eval_fps: Annotated[float | None, typer.Option("--eval-fps", min=0.001, help="Evaluate at this fixed frame rate instead of each video's own.", rich_help_panel=_DETECT, show_default=False)] = None,
    uncovered: Annotated[str, typer.Option("--uncovered", help="Score of a frame no window covers: nearest (the nearest window's) or zero.", rich_help_panel=_DETECT)] = "nearest",
    strict_gt: Annotated[bool, typer.Option("--strict-gt", help="A detection with no ground truth is an error (default: skipped and counted).", rich_help_panel=_DETECT)] = False,
    strict_intervals: Annotated[bool, typer.Option("--strict-intervals", help="A ground-truth interval past the video's end is an error (default: clipped and counted).", rich_help_panel=_DETECT)] = False,
    per_video: Annotated[bool, typer.Option("--per-video", help="Also report each video (frames, max score, IoU).", rich_help_panel=_DETECT)] = False,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="95% intervals of frame AUC / AP from this many resamples of the videos (with replacement; a video's frames stay together). 0: none.", rich_help_panel=_DETECT)] = 0,
    wait: Wait = False,
) -> None:
    """Score predictions like the paper's Table 1: BLEU-1..4, METEOR, ROUGE-L, CIDEr, the GPT-guided Reasonability / Detail / Consistency (--judge) and an offline semantic similarity, per task (description and qa, reported separately); or, with --detection, temporal anomaly detection: frame-level ROC-AUC and AP, event IoU and mAP.

    Records: {"id", "task": "description"|"qa", "prediction", "question" (qa), "video", "reference"}; without "reference", it is joined from --refs by video (exact path, else unique file name) and, for qa, question. Records with no reference are skipped and counted; invalid records (bad JSON/UTF-8, missing fields, duplicate ids) stop the run with the line named, or are skipped and counted with --skip-invalid. Empty predictions are scored as empty answers (BLEU 0 matches, semantic 0, judge 0 without a request) and counted, or left out with --skip-empty.

    BLEU: NLTK, lowercase + wordpunct tokens (words and punctuation split; no NLTK data needed), cumulative BLEU-n with uniform weights, corpus-level by default, smoothing method1 (changes a corpus score only when an n-gram order has no match at all).

    METEOR, ROUGE-L, CIDEr: equal to pycocoevalcap's scorers on the same tokens. Tokens: pycocoevalcap's (PTBTokenizer, lowercased, punctuation dropped; --caption-tokenizer). ROUGE-L: LCS F-measure, beta 1.2, mean over items. CIDEr: pycocoevalcap's (CIDEr-D form, x10), its IDF over the scored set's references (each task, each --by group). METEOR: METEOR 1.5 -norm, aggregate over the set; without Java it is "n/a (needs Java)".

    Judge: the paper's prompts (prompts/judge/, editable), temperature 0, answers parsed as {'score': x} (dict or JSON, fenced or in prose), retried with backoff, then counted as failed and left out of the mean. Verdicts are cached by (model, template, dimension, item): a rerun sends no request twice. --judge-protocol videochatgpt asks Video-ChatGPT's five questions instead (one system prompt per dimension, integer scores 0-5).

    Detection (--detection DETS --gt FILE): frame i of a video is the instant i / fps (the video's own rate, or --eval-fps); a frame's score is the max of the windows [start, end) covering it (uncovered frames: the nearest window's); its label is 1 inside a ground-truth interval [start, end). The frames of all videos are concatenated (micro average, as VadCLIP and Holmes-VAU report) and scored with scikit-learn's roc_auc_score and average_precision_score (step-wise AP, not a trapezoid PR-AUC). Events: IoU of the union of a video's predicted intervals with its ground truth, and ActivityNet-style mAP at IoU 0.1-0.5. A detection with no ground truth is skipped and counted (--strict-gt: an error); a ground-truth interval past the video's end is clipped and counted (--strict-intervals: an error). --bootstrap N adds 95% percentile intervals of frame AUC and AP over N resamples of the videos with replacement (a video's frames stay together; seed 0).

    Examples:
      hawk score preds.jsonl --refs data/test.json
      hawk score base.jsonl hawk.jsonl --refs test.json --judge --judge-model gpt-4o
      OPENAI_BASE_URL=http://localhost:8000/v1 hawk score preds.jsonl --judge --judge-model qwen2.5
      hawk score preds.jsonl --by source --json --out scores.json
      hawk score preds.jsonl --refs test.json --judge --judge-protocol videochatgpt
      hawk score --detection detections.jsonl --gt test.json
      hawk score --detection dets.jsonl --gt ucf_annotation.txt --fps 30
    """
    import json

    from hawk_core.errors import ConfigError
    from hawk_core.io import check_output_path, write_json
    from hawk_core.scoring import BleuConfig, ReferenceIndex, load_predictions
    from hawk_core.scoring.captions import CaptionConfig
    from hawk_core.scoring.judge_videochatgpt import protocol_dimensions
    from hawk_core.scoring.report import build_report, run_labels, score_runs, write_item_rows

    if out is not None:
        check_output_path(out)  # the report is written at the end: an unwritable path fails before the scoring
    if detection is not None:
        if preds:
            raise ConfigError("--detection scores a detections file on its own; score predictions files in another run")
        if gt is None:
            raise ConfigError("--detection needs --gt FILE (HAWK records with time_span, UCF-Crime txt or HIVAU-70k JSON)")
        _score_detection(detection, gt, gt_format, fps, eval_fps, uncovered, strict_gt, strict_intervals, per_video, json_out, out,
                         bootstrap)
        return
    if gt is not None:
        raise ConfigError("--gt is the ground truth of --detection DETS.jsonl")
    if not preds:
        raise ConfigError("nothing to score: give predictions file(s), or --detection DETS.jsonl --gt FILE")
    dims = protocol_dimensions(judge_protocol)
    cap_cfg = CaptionConfig(tokenizer=caption_tokenizer, meteor=meteor)
    if items_out:
        lock_output(items_out, wait, is_dir=False)
    bleu_cfg = BleuConfig(mode="sentence" if sentence_bleu else "corpus", smoothing=smoothing)
    price = _parse_price(judge_price) if judge_price else None
    if price is None and judge_price:
        raise ConfigError("--judge-price wants two numbers, input,output USD per 1M tokens (e.g. 30,60)")
    jcfg = _judge_config(judge_model, judge_base_url, judge_workers, judge_retries, judge_backoff, judge_timeout, judge_cache,
                         retry_failed, prompts, price) if judge else None
    note = err_console if json_out else console

    ref_index = ReferenceIndex.from_file(refs) if refs else None
    loaded = [load_predictions(p, ref_index, skip_invalid=skip_invalid, skip_empty=skip_empty) for p in preds]

    sims, sem_name = _similarities(loaded, semantic_model, threads, note) if semantic else ([None] * len(loaded), None)
    verdicts, usage = _verdicts(loaded, judge_protocol, jcfg, dims, note) if jcfg is not None else ([None] * len(loaded), None)

    runs, meteor_reason = score_runs(loaded, run_labels(preds), bleu_cfg, sims, verdicts, by, dimensions=dims, captions=cap_cfg,
                                     starting=lambda name: _progress(note, name))
    report = build_report(runs, bleu=bleu_cfg, captions=cap_cfg, meteor_reason=meteor_reason, semantic_model=sem_name,
                          judge_protocol=judge_protocol, dimensions=dims, judge_model=jcfg.model if jcfg else None,
                          refs=refs, usage=usage)
    if items_out:
        write_item_rows(items_out, loaded, bleu_cfg, sims, verdicts, dimensions=dims)
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


def _judge_config(model: str, base_url: str | None, workers: int, retries: int, backoff: float, timeout: float,
                  cache: Path | None, retry_failed: bool, prompts: Path | None, price: tuple[float, float] | None):
    from hawk_core.embedded import cache_dir
    from hawk_core.scoring import JudgeConfig

    return JudgeConfig(
        model=model, base_url=base_url, workers=workers, retries=retries, backoff=backoff, timeout=timeout,
        cache_path=cache or cache_dir() / "judge_cache.jsonl", retry_failed=retry_failed,
        prompts=prompts, price_per_mtok=price,
    )


def _similarities(loaded: list, model: Path | None, threads: int | None, note) -> tuple[list, str]:
    from hawk_core.scoring.report import semantic_similarities, semantic_total
    from hawk_core.scoring.semantic import SentenceEmbedder

    set_torch_threads(threads)
    embedder = SentenceEmbedder(model)
    with _progress(note, "semantic") as (progress, task):
        progress.update(task, total=semantic_total(loaded))
        sims = semantic_similarities(loaded, embedder, progress=lambda n: progress.update(task, advance=n))
    return sims, embedder.name


def _verdicts(loaded: list, protocol: str, jcfg, dims: tuple[str, ...], note) -> tuple[list, Any]:
    from hawk_core.scoring.judge_videochatgpt import make_judge
    from hawk_core.scoring.report import judge_files

    with _progress(note, f"judge {jcfg.model}") as (progress, task):
        return judge_files(loaded, make_judge(protocol, jcfg), dims,
                           progress=lambda done, total: progress.update(task, completed=done, total=total))


def _parse_price(text: str) -> tuple[float, float] | None:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        return None
    return values if len(values) == 2 and min(values) >= 0 else None  # type: ignore[return-value]


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


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _print_tables(report: dict) -> None:
    from hawk_core.scoring.report import report_tables

    for t in report_tables(report):
        _table(t.title, t.caption, t.columns, t.rows)


def _table(title: str, caption: str, columns: list[tuple[str, str]], rows: list[tuple[str, dict, bool]]) -> None:
    from rich import box
    from rich.table import Table

    table = Table(title=title, caption=caption, title_justify="left", caption_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    table.add_column("run", overflow="fold", min_width=8)
    table.add_column("n", justify="right", no_wrap=True)
    for _, head in columns:
        table.add_column(head, justify="right", no_wrap=True, min_width=5)
    for label, s, is_group in rows:
        cells = []
        for key, _ in columns:
            cell = "n/a" if key == "meteor" and s.get(key) is None and s.get("meteor_unavailable") else _fmt(s.get(key))
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
        if u.get("cache_dropped"):
            con.print(f"[yellow]judge cache: {u['cache_dropped']} corrupt line(s) dropped[/]; their verdicts were asked again", soft_wrap=True)


# ---- temporal detection ------------------------------------------------------------------


def _score_detection(detection: Path, gt: Path, gt_format: str, fps: float | None, eval_fps: float | None, uncovered: str,
                     strict_gt: bool, strict_intervals: bool, per_video: bool, json_out: bool, out: Path | None,
                     bootstrap: int = 0) -> None:
    import json

    from hawk_core.io import write_json
    from hawk_core.scoring.detection import DEFAULT_FPS, DetectionConfig, evaluate_detection_files

    config = DetectionConfig(fps=eval_fps, default_fps=fps or DEFAULT_FPS, uncovered=uncovered,
                             missing_gt="error" if strict_gt else "skip", out_of_range="error" if strict_intervals else "clip",
                             bootstrap=bootstrap)
    report = evaluate_detection_files(detection, gt, gt_format=gt_format, gt_fps=fps, config=config)
    data = report.to_dict(per_video)
    if out:
        write_json(out, data)
    if json_out:
        console.print_json(json.dumps(data))
        _print_detection_notes(data, err_console)
        return
    _print_detection(data)
    _print_detection_notes(data, console)
    if out:
        console.print(f"written: {out}", soft_wrap=True)


def _print_detection(data: dict) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    v, f, ev, gt = data["videos"], data["frames"], data["events"], data["ground_truth"]
    table = Table(title=f"Temporal detection: {escape(Path(gt['detections']).name)} against {escape(Path(gt['file']).name)} ({gt['format']})",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_header=False)
    table.add_column("metric", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("", overflow="fold")
    ci = lambda key: "" if data.get(key) is None else f"; 95% interval [{data[key][0]:.3f}, {data[key][1]:.3f}] (bootstrap over videos)"  # noqa: E731
    table.add_row("frame AUC", f"{data['frame_auc']:.4f}", "ROC-AUC, micro over all frames" + ci("frame_auc_ci"))
    table.add_row("frame AP", f"{data['frame_ap']:.4f}", "average precision (step-wise)" + ci("frame_ap_ci"))
    table.add_row("frames", f"{f['total']:,}", f"{f['anomalous']:,} anomalous")
    table.add_row("videos", str(v["scored"]), f"{v['anomalous']} anomalous, {v['normal']} normal")
    if v["skipped_no_gt"]:
        table.add_row("skipped", str(v["skipped_no_gt"]), "detections with no ground truth")
    if v["gt_without_detection"]:
        table.add_row("not detected", str(v["gt_without_detection"]), "ground-truth videos with no detection")
    if ev["note"] and ev["mean_iou"] is None:
        table.add_row("events", "-", escape(ev["note"]))
    else:
        table.add_row("mean IoU", _fmt(ev["mean_iou"]), f"union of events vs ground truth, over {ev['iou_videos']} videos")
        for t, val in ev["map"].items():
            table.add_row(f"mAP@{t}", _fmt(val), f"{ev['predicted']} events, {ev['gt_intervals']} ground-truth intervals" if t == next(iter(ev["map"])) else "")
        table.add_row("mAP avg", _fmt(ev["map_avg"]), "mean over the IoU thresholds")
        if ev["note"]:
            table.add_row("", "", escape(ev["note"]))
    console.print(table)
    if "per_video" in data:
        pv = Table(title="per video", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for col, just in (("video", "left"), ("s", "right"), ("frames", "right"), ("anomalous", "right"), ("max score", "right"),
                          ("events", "right"), ("IoU", "right")):
            pv.add_column(col, justify=just, overflow="fold", no_wrap=col != "video")
        for r in data["per_video"]:
            pv.add_row(escape(r["id"]), f"{r['duration']:.1f}", str(r["frames"]), str(r["anomalous_frames"]), f"{r['max_score']:.3f}",
                       "-" if r["events"] is None else str(r["events"]), _fmt(r["iou"]))
        console.print(pv)


def _print_detection_notes(data: dict, con) -> None:
    from rich.markup import escape

    conv = data["convention"]
    con.print(f"[dim]frames: {conv['frames']}; frame score: {conv['frame_score']}; {conv['average']}; "
              f"AUC: {conv['auc']}; AP: {conv['ap']}; events: {conv['event_map']}[/]", soft_wrap=True)
    v, w = data["videos"], data["warnings"]
    if v["skipped_no_gt"]:
        names = ", ".join(v["skipped"][:5]) + (f", ... (+{len(v['skipped']) - 5})" if len(v["skipped"]) > 5 else "")
        con.print(f"[yellow]warning:[/] {v['skipped_no_gt']} detection(s) with no ground truth skipped: {escape(names)} "
                  "(--strict-gt makes it an error)", soft_wrap=True)
    if v["gt_without_detection"]:
        con.print(f"[yellow]warning:[/] {v['gt_without_detection']} ground-truth video(s) have no detection (not scored)", soft_wrap=True)
    if w["clipped_intervals"] or w["dropped_intervals"]:
        con.print(f"[yellow]warning:[/] ground-truth intervals past the video's end: {w['clipped_intervals']} clipped, "
                  f"{w['dropped_intervals']} dropped (--strict-intervals makes it an error); e.g. {escape('; '.join(w['examples'][:3]))}",
                  soft_wrap=True)
    if data["ground_truth"].get("without_time_span"):
        con.print(f"[yellow]warning:[/] {data['ground_truth']['without_time_span']} ground-truth record(s) carry no time_span (left out)",
                  soft_wrap=True)
