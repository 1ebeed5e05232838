"""`hawk annotate`: build a HAWK dataset (descriptions + open-world QA) from videos with LLMs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hawk_cli._common import FolderFps, JsonOut, Wait, console, err_console, guarded, lock_output

_LLM = "LLM"
_CLIPS = "Key clips"
_RUN = "Run"


@guarded
def annotate(
    videos: Annotated[list[Path], typer.Argument(help="Videos: files, folders (searched recursively) or list files (.txt, one path per line).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset to write: a JSON list of HAWK records.", show_default=False)],
    captioner: Annotated[str, typer.Option("--captioner", "-c", help="Clip captions from: perception (offline: ImageNet tags, people / moving objects, motion), vision (an OpenAI-compatible vision model), file (--captions).")] = "perception",
    captions: Annotated[Optional[Path], typer.Option("--captions", help="For --captioner file: a JSON file keyed by video name ({timestamps, sentences} per video, UCF-Crime/UCA style) or a folder of <video>.txt / <video>.json.")] = None,
    llm_model: Annotated[Optional[str], typer.Option("--llm-model", "-m", help="Model for descriptions, questions and answers on the OpenAI-compatible endpoint (e.g. gpt-4o). 'embedded' (the default when unset) runs the offline SmolLM2-135M: low quality, flagged in the records.", rich_help_panel=_LLM)] = None,
    caption_model: Annotated[Optional[str], typer.Option("--caption-model", help="Vision model for --captioner vision (default: --llm-model).", rich_help_panel=_LLM)] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="OpenAI-compatible endpoint (default $OPENAI_BASE_URL, else api.openai.com); the key is $OPENAI_API_KEY.", rich_help_panel=_LLM)] = None,
    questions: Annotated[int, typer.Option("--questions", "-q", min=0, help="Open-world 5W2H questions from the paper's 100, assigned at random per video.", rich_help_panel=_LLM)] = 3,
    extra_questions: Annotated[int, typer.Option("--extra-questions", min=0, help="Extra anomaly questions the LLM writes from each description.", rich_help_panel=_LLM)] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the question assignment (per video, order-independent).", rich_help_panel=_LLM)] = 0,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=16, help="Most tokens per description.", rich_help_panel=_LLM)] = 400,
    price_in: Annotated[float, typer.Option("--price-in", min=0.0, help="$ per million prompt tokens, for the cost summary.", rich_help_panel=_LLM)] = 0.0,
    price_out: Annotated[float, typer.Option("--price-out", min=0.0, help="$ per million completion tokens, for the cost summary.", rich_help_panel=_LLM)] = 0.0,
    clips: Annotated[str, typer.Option("--clips", help="Key clips: fixed (windows of --clip-seconds) or motion (cut where motion energy jumps).", rich_help_panel=_CLIPS)] = "fixed",
    clip_seconds: Annotated[float, typer.Option("--clip-seconds", min=0.1, help="Window length of --clips fixed.", rich_help_panel=_CLIPS)] = 3.0,
    max_clips: Annotated[int, typer.Option("--max-clips", min=1, help="Most clips per video.", rich_help_panel=_CLIPS)] = 12,
    frames_per_clip: Annotated[int, typer.Option("--frames-per-clip", min=1, help="Key frames per clip shown to the captioner.", rich_help_panel=_CLIPS)] = 3,
    folder_fps: FolderFps = 25.0,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", min=1, help="Videos processed at once (remote LLMs; the embedded one runs one at a time).", rich_help_panel=_RUN)] = 4,
    retries: Annotated[int, typer.Option("--retries", min=0, help="Retries per LLM call (errors and malformed replies), with exponential backoff.", rich_help_panel=_RUN)] = 3,
    backoff: Annotated[float, typer.Option("--backoff", min=0.0, help="Seconds before the first retry; doubles each time.", rich_help_panel=_RUN)] = 1.0,
    timeout: Annotated[float, typer.Option("--timeout", min=1.0, help="Seconds per LLM request.", rich_help_panel=_RUN)] = 120.0,
    json_out: JsonOut = False,
    wait: Wait = False,
) -> None:
    """Build an anomaly dataset from videos, as the paper's data engine (section 3, Fig. 2):
    key clips -> dense clip captions -> an anomaly-focused description by an LLM -> the
    paper's open-world 5W2H questions (random per video, seeded) -> answers from the LLM.

    Writes OUT (a JSON list of {video, description, QA: [{q, a}], provenance}) and keeps a
    working file OUT.work.jsonl beside it: kill the run at any moment and rerun the same
    command to resume - finished videos are kept, captions already paid for are reused,
    failed and skipped videos are retried. Prompts are text files in prompts/annotate/.
    Review the result with `hawk review OUT`.

    Examples:
      hawk annotate videos/ --out anomaly.json                          # offline, low quality
      OPENAI_API_KEY=... hawk annotate videos/ -o data.json -m gpt-4o -c vision --price-in 2.5 --price-out 10
      OPENAI_BASE_URL=http://localhost:8000/v1 hawk annotate list.txt -o data.json -m Qwen2-VL-7B -c vision
      hawk annotate ucf/ -o ucf.json -c file --captions UCFCrime_train.json -m gpt-4o --extra-questions 2
    """
    import json

    from hawk_core.annotate.clips import ClipConfig
    from hawk_core.annotate.llm import RetryPolicy, Usage
    from hawk_core.annotate.pipeline import AnnotateConfig, Annotator, resolve_videos, work_path
    from hawk_core.annotate.prompts import AnnotatePrompts
    from hawk_core.errors import InputError, RemoteError
    from hawk_core.io import check_output_path

    if out.suffix.lower() != ".json":
        raise InputError(f"--out must be a .json file, got {out}")
    clip_cfg = ClipConfig(mode=clips, clip_seconds=clip_seconds, max_clips=max_clips, frames_per_clip=frames_per_clip)
    cfg = AnnotateConfig(questions=questions, extra_questions=extra_questions, seed=seed, concurrency=concurrency, max_tokens=max_tokens, clips=clip_cfg, folder_fps=folder_fps)
    policy = RetryPolicy(attempts=retries + 1, backoff=backoff)
    video_list = resolve_videos(videos)
    check_output_path(out)  # the dataset written at the end, checked before any work
    lock_output(work_path(out), wait, is_dir=False)  # before the models load: a second run fails at once
    fresh = not out.exists() and not work_path(out).exists()
    prompts = AnnotatePrompts.load()
    usage = Usage()
    llm, cap = _models(llm_model, caption_model, captioner, captions, base_url=base_url, timeout=timeout, prompts=prompts,
                       policy=policy, usage=usage, frames_per_clip=frames_per_clip)
    annot = Annotator(cap, llm, out, cfg, prompts=prompts, policy=policy, usage=usage, wait=wait)
    counts, problems = _run(annot, video_list)
    written = annot.export(video_list)
    cost = usage.cost(price_in, price_out)
    summary = {
        "out": str(out),
        "work_file": str(work_path(out)),
        "records": written,
        "new": counts["ok"],
        "already_done": counts["done"],
        "skipped": counts["skipped"],
        "failed": counts["failed"],
        "problems": [{"video": p.video, "status": p.status, "stage": p.stage, "reason": p.reason} for p in problems],
        "llm": llm.name,
        "low_quality": llm.low_quality,
        "captioner": cap.name,
        "prompt_version": prompts.version,
        "usage": usage.to_dict(),
        "cost_usd": round(cost, 6),
    }
    if json_out:
        console.print_json(json.dumps(summary))
    else:
        _print_summary(summary, usage, cost if price_in or price_out else None)
    if video_list and counts["ok"] + counts["done"] == 0:
        msg = f"no video could be annotated ({counts['skipped']} skipped, {counts['failed']} failed); first: {problems[0].reason if problems else '?'}"
        if fresh and not counts["failed"]:  # bad input on a first run leaves nothing behind (LLM failures stay logged)
            out.unlink(missing_ok=True)
            work_path(out).unlink(missing_ok=True)
        raise (RemoteError(msg) if counts["failed"] else InputError(msg))


def _models(llm_model: str | None, caption_model: str | None, captioner: str, captions: Path | None, *, base_url: str | None,
            timeout: float, prompts, policy, usage, frames_per_clip: int):
    """The chat model (descriptions, questions, answers) and the clip captioner; warns when the
    embedded LLM stands in for a real one."""
    from hawk_core.annotate.captioners import build_captioner
    from hawk_core.annotate.llm import build_chat_model
    from hawk_core.errors import ConfigError

    embedded = llm_model is None or llm_model.lower() in ("embedded", "smollm2")
    if captioner == "vision" and (caption_model or "").lower() in ("", "embedded", "smollm2") and embedded:
        raise ConfigError("--captioner vision needs an OpenAI-compatible vision model: pass --caption-model or --llm-model")
    if embedded or captioner == "perception":
        from hawk_cli._common import set_torch_threads

        set_torch_threads(None)
    if embedded:
        err_console.print("[yellow]warning:[/] using the embedded SmolLM2-135M offline: descriptions and answers will be LOW QUALITY "
                          "(flagged in the records). Pass --llm-model with an OpenAI-compatible model for real annotations.")
    llm = build_chat_model(llm_model, base_url=base_url, timeout=timeout)
    vision = None
    if captioner == "vision":
        vision = llm if not caption_model or caption_model == llm_model else build_chat_model(caption_model, base_url=base_url, timeout=timeout)
    cap = build_captioner(captioner, model=vision, prompts=prompts, policy=policy, usage=usage, captions=captions, frames_per_clip=frames_per_clip)
    return llm, cap


def _run(annot, video_list: list[Path]) -> tuple[dict[str, int], list]:
    """Annotate every video under a progress bar: the counts by outcome and the skipped or
    failed outcomes (each also printed as it happens)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    counts = {"ok": 0, "done": 0, "skipped": 0, "failed": 0}
    problems = []
    with Progress(
        TextColumn("[bold]annotate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.description}"),
        console=console, transient=not console.is_terminal,
    ) as progress:
        task = progress.add_task("", total=len(video_list))
        for o in annot.run(video_list):
            counts[o.status] = counts.get(o.status, 0) + 1
            if o.status in ("skipped", "failed"):
                problems.append(o)
                progress.console.print(f"[yellow]{o.status}[/] {o.video} ({o.stage}): {o.reason}")
            progress.update(task, advance=1, description=Path(o.video).name)
    return counts, problems


def _print_summary(summary: dict, u, cost: float | None) -> None:
    console.print(
        f"[bold]{summary['records']}[/] records in {summary['out']} ({summary['new']} new, {summary['already_done']} already done, "
        f"{summary['skipped']} skipped, {summary['failed']} failed; rerun to retry those)"
    )
    price = f", ${cost:.4f}" if cost is not None else " (set --price-in/--price-out for a cost)"
    console.print(
        f"LLM {summary['llm']}: {u.calls} calls, {u.prompt_tokens:,} prompt + {u.completion_tokens:,} completion tokens, "
        f"{u.retries} retries, {u.malformed} malformed replies{price}"
    )
    if summary["low_quality"]:
        console.print("[yellow]low quality:[/] annotated by the embedded 135M model; review every record (`hawk review`) or rerun with --llm-model.")
