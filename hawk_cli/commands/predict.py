"""`hawk predict`: a model's answers over a whole HAWK-format split, for `hawk score`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hawk_cli._common import (
    Device,
    DType,
    InferFrames,
    JsonOut,
    MaxNewTokens,
    ModelOpt,
    Seed,
    Sample,
    Temperature,
    Threads,
    TopP,
    Quantize,
    console,
    err_console,
    TrimToSentence,
    Wait,
    guarded,
    lock_output,
)
from hawk_cli._shards import ShardOpt


@guarded
def predict(
    data: Annotated[Optional[Path], typer.Argument(help="A HAWK-format JSON/JSONL split: {video, description, QA: [{q, a}]} per video.", show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Predictions file (JSONL), appended to as answers come; rerun to resume.")] = Path("predictions.jsonl"),
    model: ModelOpt = None,
    frames: InferFrames = None,
    video_root: Annotated[
        Optional[Path],
        typer.Option("--video-root", help="Folder the data's relative video paths start from (default: the data file's folder, then the working directory).", show_default=False),
    ] = None,
    tasks: Annotated[str, typer.Option("--tasks", help="What to predict: description, qa, or description,qa.")] = "description,qa",
    prompt_index: Annotated[int, typer.Option("--prompt-index", min=0, max=19, help="Which of the paper's 20 describe prompts to use for descriptions.")] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Videos per encoder batch.")] = 4,
    gen_batch: Annotated[int, typer.Option("--gen-batch", min=1, help="Answers per LLM generate call.")] = 8,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Only the first N videos of the split.", show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start OUT afresh instead of resuming it.")] = False,
    max_new_tokens: MaxNewTokens = 128,
    trim_to_sentence: TrimToSentence = False,
    temperature: Temperature = 0.0,
    top_p: TopP = 1.0,
    seed: Seed = None,
    sample: Sample = "greedy",
    device: Device = "auto",
    dtype: DType = "auto",
    threads: Threads = None,
    quantize: Quantize = None,
    shard: ShardOpt = None,
    merge: Annotated[
        Optional[Path],
        typer.Option("--merge", help="Merge OUT.part-K-of-N.jsonl files into this OUT and exit (no DATA, no model).", show_default=False),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="With --merge: merge an incomplete set of parts too.")] = False,
    json_out: JsonOut = False,
    wait: Wait = False,
) -> None:
    """Predict over a HAWK-format split: one description record and one record per QA pair.

    Each line of OUT is {id, video, task, question?, prediction, reference}, with task
    "description" or "qa": exactly what `hawk score` reads. Ids are stable
    (<video>#description, <video>#qa<j>), so a rerun skips what OUT already holds and an
    interrupted run resumes where it stopped (a torn last line is repaired). The settings
    are recorded in OUT.meta.json; resuming with other settings is refused (use --overwrite
    or another --out). The model is loaded once; videos are encoded --batch-size at a time
    and answers generated --gen-batch at a time. A video that cannot be read is skipped and
    reported (its questions are retried by the next run).

    Many processes or machines: --shard K/N does shard K of N (by video) into
    OUT.part-K-of-N.jsonl, resumable; `hawk predict --merge OUT` joins them
    and refuses an incomplete set. Under torchrun each rank takes its shard
    and rank 0 merges once all are done.

    Examples:
      hawk predict data/test.json --out preds.jsonl
      hawk predict data/test.json -o preds.jsonl --shard 0/2   # and 1/2
      hawk predict --merge preds.jsonl
      torchrun --nproc_per_node 4 -m hawk_cli predict data/test.json
      hawk predict data/test.json --out preds.jsonl --model runs/ucf/ --tasks qa
      hawk score preds.jsonl
    """
    from hawk_core.errors import ConfigError, InputError
    from hawk_core.inference.split import check_prediction_meta, load_split, plan_predictions

    from hawk_cli._inference import generation_options, load_predictor

    if merge is not None:
        _merge(merge, force, json_out)
        return
    if data is None:
        raise InputError("give DATA (a HAWK-format split), or --merge OUT to join part files")
    from hawk_cli._shards import join_torchrun, resolve_shard
    from hawk_core.inference.shards import part_path, plan_path, shard_items, write_plan

    the_shard, under_torchrun = resolve_shard(shard)
    final_out = out
    task_list = tuple(t.strip() for t in tasks.split(",") if t.strip())
    if not task_list:
        raise ConfigError("--tasks is empty; use description, qa or description,qa")
    options = generation_options(max_new_tokens, temperature, top_p, seed, sample, trim_to_sentence)
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give a .jsonl file path")
    if the_shard is not None:
        out = part_path(final_out, the_shard)
    lock_output(out, wait, is_dir=False)  # one writer per output (a shard: its own part file)
    records = load_split(data)
    if limit is not None:
        records = records[:limit]
    if overwrite:
        from hawk_core.inference.split import meta_path

        out.unlink(missing_ok=True)
        meta_path(out).unlink(missing_ok=True)
        plan_path(out).unlink(missing_ok=True)
    dist = None
    if under_torchrun:
        dist, device = join_torchrun(device)
    predictor = load_predictor(model, device=device, dtype=dtype, frames=frames, threads=threads, quantize=quantize)
    items = plan_predictions(records, data, describe_prompt=predictor.describe_prompt(prompt_index), video_root=video_root, tasks=task_list)
    if not items:
        raise InputError(f"{data}: nothing to predict for tasks {', '.join(task_list)}")
    if the_shard is not None:
        write_plan(final_out, the_shard, items)
        items = shard_items(items, the_shard)
    check_prediction_meta(out, predictor, options, task_list, prompt_index)

    label = f"predict {the_shard}" if the_shard else "predict"
    summary = _run(predictor, items, out, options, batch_size, gen_batch, label)
    _report(summary, predictor, out, len(items), json_out)
    if dist is not None:  # torchrun: rank 0 merges once every rank is done
        dist.barrier()
        if dist.main:
            _merge_after_run(final_out, the_shard.count, json_out)
        dist.close()
    if summary.failed_videos and summary.written == 0 and summary.already_done == 0:
        raise InputError(f"no video could be read; first: {next(iter(summary.failed_videos.values()))}")


def _run(predictor, items: list, out: Path, options, batch_size: int, gen_batch: int, label: str = "predict"):
    """run_predictions under a progress bar (on stderr)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from hawk_core.inference.split import run_predictions

    with Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        TextColumn("{task.description}"), console=err_console, transient=not err_console.is_terminal,
    ) as progress:
        bar = progress.add_task("", total=len(items))
        return run_predictions(
            predictor, items, out, options, video_batch=batch_size, gen_batch=gen_batch,
            on_progress=lambda n, label: progress.update(bar, advance=n, description=label),
        )


def _report(summary, predictor, out: Path, n_items: int, json_out: bool) -> None:
    """Warnings and skipped videos on stderr; the counts (or --json) on stdout."""
    import json

    from rich.markup import escape

    from hawk_cli._inference import warn

    warn(summary.warnings[:5] + ([f"... and {len(summary.warnings) - 5} more"] if len(summary.warnings) > 5 else []))
    for video, err in summary.failed_videos.items():
        err_console.print(f"[yellow]skipped[/] {escape(video)}: {escape(err)}", soft_wrap=True)
    if json_out:
        typer.echo(json.dumps({"out": str(out), "model": predictor.describe_model(), **summary.to_dict()}, indent=2, ensure_ascii=False))
        return
    t = summary.timings
    rate = f", {t['tokens'] / t['generate_s']:.1f} tokens/s" if t["generate_s"] > 0 else ""
    console.print(
        f"[bold]{summary.written}[/] written, {summary.already_done} already in {escape(str(out))}, "
        f"{len(summary.failed_videos)} video(s) skipped (of {n_items} predictions{rate})",
        soft_wrap=True,
    )


def _merge(out: Path, force: bool, json_out: bool) -> None:
    import json

    from rich.markup import escape

    from hawk_core.inference.shards import merge_parts

    lock_output(out)
    report = merge_parts(out, force=force)
    if json_out:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    lacking = f"; {report.total - report.records} missing (--force)" if report.records < report.total else ""
    console.print(f"merged [bold]{report.records}[/] of {report.total} predictions from {report.shards} part(s) -> {escape(str(out))}{lacking}", soft_wrap=True)


def _merge_after_run(out: Path, shards: int, json_out: bool) -> None:
    from rich.markup import escape

    from hawk_core.errors import DataError
    from hawk_core.inference.shards import merge_parts

    try:
        lock_output(out)
        report = merge_parts(out, shards=shards)
    except DataError as e:
        err_console.print(f"[yellow]not merged:[/] {escape(str(e))}", soft_wrap=True)
        return
    if not json_out:
        console.print(f"merged [bold]{report.records}[/] predictions from {report.shards} parts -> {escape(str(out))}", soft_wrap=True)
