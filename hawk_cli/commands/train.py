"""`hawk train`: train the dual-branch HAWK model (stage 1 or 2), resumable, single process or DDP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hawk_cli._common import JsonOut, Wait, console, guarded, lock_output, set_torch_threads

from hawk_core.model.checkpoints import DEFAULT_PRESET
from hawk_core.training.config import OBJECTIVES, WORDS_FROM, WORDS_LOSSES, TrainConfig

_P = "Optimisation"
_R = "Run"
#: Where every TrainConfig-backed option takes its default (and its help its `[default: …]`).
_D = TrainConfig()
#: The options that set TrainConfig fields of the same name; only those given on the command
#: line override the --config file (and, on --resume, the saved run).
TRAIN_FLAGS = ("steps", "stage", "objective", "words_from", "words_loss", "word_clusters", "head_on", "label_field", "label_weight", "freeze_encoder", "batch_size", "grad_accum", "lr", "warmup", "precision", "seed", "eval_every",
               "save_every", "test_fraction", "device", "cache_dir", "fail_missing")


@guarded
def train(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option("--data", "-d", help="Training records (HAWK format for stage 2, caption records for stage 1), JSON or JSONL.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: metrics.jsonl, eval.jsonl, checkpoints/, model/.", show_default=False)],
    steps: Annotated[int, typer.Option("--steps", min=1, help="Optimiser steps to reach (on --resume: may be raised to train longer).")] = _D.steps,
    preset: Annotated[Optional[str], typer.Option("--preset", help=f"Model preset: tiny (random weights, tests), embedded (offline CPU: EfficientNet-Lite0 + SmolLM2-135M), paper (BLIP-2 + LLaMA-2-7B). \\[default: {DEFAULT_PRESET}]", show_default=False)] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="JSON/YAML file with 'model' (HawkConfig overrides) and/or 'train' sections; flags override it.")] = None,
    stage: Annotated[int, typer.Option("--stage", min=1, max=2, help="1: general captioned video (WebVid-style records); 2: the anomaly set (HAWK records).")] = _D.stage,
    objective: Annotated[str, typer.Option("--objective", help="language: the paper's losses. words: alignment without the LLM (tokens predict their description's words; README); then --init RUN/model.")] = _D.objective,
    words_from: Annotated[str, typer.Option("--words-from", help="With --objective words, the bag of words: description (all its words) or motion (its motion language, the verbs with their subjects and objects that L_ML targets: the event, without colours and clothes).")] = _D.words_from,
    words_loss: Annotated[str, typer.Option("--words-loss", help="With --objective words, the target: bag (one softmax), tags (a yes/no per word), contrastive (against the batch's texts), clusters (k-means text clusters) or labels (a record field's class; README).")] = _D.words_loss,
    word_clusters: Annotated[int, typer.Option("--word-clusters", min=2, help="With --words-loss clusters, how many clusters the training texts form.")] = _D.word_clusters,
    head_on: Annotated[str, typer.Option("--head-on", help="With --words-loss clusters or labels, what the class head reads: tokens (the visual tokens' mean) or encoder (the learnt motion encoder's pooled tokens; vision.motion_encoder flow_cnn).")] = _D.head_on,
    label_field: Annotated[str, typer.Option("--label-field", help="With --words-loss labels or --label-weight, the record field that names each video's class (hawk synth writes event_type).")] = _D.label_field,
    label_weight: Annotated[float, typer.Option("--label-weight", min=0.0, help="Language stage: add this x a class head's loss on the visual tokens (the --label-field class; 0: the paper's loss).")] = _D.label_weight,
    guide: Annotated[Optional[bool], typer.Option("--guide/--no-guide", help="Name the class head's class in the prompt (model head.guide; with --label-weight): trained on each record's own --label-field class, at inference the head's most probable one, so the LLM writes about the event it is told (README, \"The guided head\").", show_default=False)] = None,
    guide_start: Annotated[Optional[bool], typer.Option("--guide-start/--no-guide-start", help="The guide also says when the event starts (model head.guide_start; needs --guide and a frame head, head.frames): trained on each record's own time_span start, at inference the frame head's onset on the clip's frames (README, \"The guided head\").", show_default=False)] = None,
    freeze_encoder: Annotated[bool, typer.Option("--freeze-encoder/--train-encoder", help="Keep the learnt motion encoder (flow_cnn) fixed: no gradient, BatchNorm statistics kept.")] = _D.freeze_encoder,
    profile: Annotated[Optional[str], typer.Option("--profile", help="paper (the default) or release: behave as the authors' code (pixels, frames, motion, prompt, L_MV; README).", show_default=False)] = None,
    init: Annotated[Optional[Path], typer.Option("--init", help="Start from this checkpoint's weights and architecture (e.g. stage 2 from stage 1: RUN1/model).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its latest checkpoint, exactly (same next batch).")] = False,
    ablate: Annotated[Optional[list[str]], typer.Option("--ablate", help="Remove part of the model (repeatable): motion (the motion branch), mv (L_MV), ml (L_ML); the paper's Table 3.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Samples per process per micro-step.", rich_help_panel=_P)] = _D.batch_size,
    grad_accum: Annotated[int, typer.Option("--grad-accum", min=1, help="Micro-steps accumulated per optimiser step.", rich_help_panel=_P)] = _D.grad_accum,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Peak learning rate (AdamW).", rich_help_panel=_P)] = _D.lr,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Linear warm-up steps, then cosine decay to lr x min_lr_ratio.", rich_help_panel=_P)] = _D.warmup,
    precision: Annotated[str, typer.Option("--precision", help="auto (bf16 autocast on CUDA, fp16 if no bf16; on a CPU bf16 where it computes bf16 natively (AVX-512 BF16 or AMX, HAWK_CPU_BF16=0/1 overrides), else fp32), fp32, bf16, fp16.", rich_help_panel=_P)] = _D.precision,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the split, the data order, the prompt draws and dropout (the init: model.seed in --config).", rich_help_panel=_P)] = _D.seed,
    eval_every: Annotated[int, typer.Option("--eval-every", min=0, help="Held-out loss every N steps (0: only at the end).", rich_help_panel=_R)] = _D.eval_every,
    save_every: Annotated[int, typer.Option("--save-every", min=0, help="Checkpoint every N steps (0: only at the end).", rich_help_panel=_R)] = _D.save_every,
    test_fraction: Annotated[float, typer.Option("--test-fraction", min=0.0, max=0.99, help="Share of videos held out for the eval loss (same split as `hawk split`).", rich_help_panel=_R)] = _D.test_fraction,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N.", rich_help_panel=_R)] = _D.device,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Where frozen-encoder outputs and motion phrases are cached. \\[default: $HAWK_CACHE/features or ~/.cache/hawk/features]", show_default=False, rich_help_panel=_R)] = None,
    fail_missing: Annotated[bool, typer.Option("--fail-missing/--skip-missing", help="Stop on a missing or unreadable video instead of skipping it (skipped ones are counted).", rich_help_panel=_R)] = _D.fail_missing,
    video_root: Annotated[Optional[Path], typer.Option("--video-root", help="Resolve relative video paths against this folder (default: the data file's folder).", rich_help_panel=_R)] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="torch CPU threads (default: 1 on small machines).", rich_help_panel=_R)] = None,
    json_out: JsonOut = False,
    wait: Wait = False,
) -> None:
    """Train HAWK: L = t0*L_VL + t1*L_MV + t2*L_ML (paper section 4, appendix C) with AdamW,
    warm-up + cosine, gradient accumulation and autocast on GPU.

    Frozen encoders run once per video and are cached (--cache-dir); each step then reads
    the cached features. Each sample is a description with one of the paper's 20 describe
    prompts drawn at random, or one QA pair (appendix D). The held-out split (--test-fraction,
    by video, seeded) gives the eval loss. Writes OUT/metrics.jsonl (one line per step: loss,
    loss_vl, loss_mv, loss_ml, lr; loss, loss_words, loss_mv with --objective words), OUT/eval.jsonl, atomic checkpoints under OUT/checkpoints/
    (trainable weights + config + optimiser/scheduler/RNG/data-order state) and the final
    weights in OUT/model. A NaN loss stops the run and keeps the last good checkpoint.

    Multi-GPU (DDP): torchrun --nproc-per-node N -m hawk_cli train ... (rank 0 writes).

    Examples:
      hawk train --preset tiny --data hawk.json --steps 50 --out runs/tiny
      hawk train --preset embedded --data webvid.jsonl --stage 1 --steps 2000 --out runs/s1
      hawk train --init runs/s1/model --data hawk.json --stage 2 --steps 4000 --out runs/s2
      hawk train --config recipes/embedded_synth_align.yaml --data hawk.json --out runs/align
      hawk train --init runs/align/model --data hawk.json --freeze-encoder --out runs/lang
      hawk train --init hawk_release --data hawk.json --steps 500 --out runs/ft
      hawk train --data hawk.json --out runs/s2 --steps 6000 --resume
      hawk train --preset embedded --data hawk.json --ablate motion --out runs/no_motion
    """
    import json
    import os

    from hawk_core.errors import InputError
    from hawk_core.training.config import read_config_file
    from hawk_core.training.trainer import TrainRequest
    from hawk_core.training.trainer import train as run_train

    if int(os.environ.get("RANK", "0")) == 0:
        lock_output(out, wait)  # the run folder has one writer (under torchrun: rank 0 writes)
    set_torch_threads(threads)
    if objective not in OBJECTIVES:
        raise InputError(f"--objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if words_from not in WORDS_FROM:
        raise InputError(f"--words-from must be one of {', '.join(WORDS_FROM)}, got {words_from!r}")
    if words_loss not in WORDS_LOSSES:
        raise InputError(f"--words-loss must be one of {', '.join(WORDS_LOSSES)}, got {words_loss!r}")
    file_cfg = read_config_file(config) if config else {}
    train_dict = {**file_cfg.get("train", {}), **_given_flags(ctx)}
    tcfg = TrainConfig.from_dict(train_dict)
    if init is not None and preset is not None:
        raise InputError("pass either --preset or --init (the architecture then comes from the checkpoint)")
    model_overrides = file_cfg.get("model")
    if profile is not None:
        model_overrides = {**(model_overrides or {}), "profile": profile}
    head_flags = {k: v for k, v in (("guide", guide), ("guide_start", guide_start)) if v is not None}
    if head_flags:  # --guide / --guide-start over the config file's head section
        model_overrides = {**(model_overrides or {}), "head": {**((model_overrides or {}).get("head") or {}), **head_flags}}
    req = TrainRequest(
        data=data, out=out, train=tcfg, preset=preset, model_overrides=model_overrides,
        ablate=tuple(ablate) if ablate else None, init=init, resume=resume, video_root=video_root,
    )
    reporter = _Reporter(json_out or int(os.environ.get("RANK", "0")) != 0)
    try:
        summary = run_train(req, reporter, explicit=set(train_dict))
    finally:
        reporter.close()
    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun only rank 0 reports
    if json_out:
        console.print_json(json.dumps(summary))
    else:
        _print_summary(summary)


def _print_summary(summary: dict) -> None:
    ev = summary.get("eval")
    ev_txt = f", eval loss {ev['eval_loss']:.4f} on {ev['items']} items" if ev else ""
    skipped = summary["skipped_missing"] + summary["skipped_unreadable"]
    sk_txt = f", {skipped} videos skipped" if skipped else ""
    console.print(
        f"[bold]step {summary['step']}[/] ({summary['steps_run']} this session, "
        f"{summary['seconds_per_step'] or 0:.3f} s/step){ev_txt}{sk_txt} -> {summary['model']}",
        soft_wrap=True,
    )


def _given_flags(ctx: typer.Context) -> dict:
    """The TrainConfig flags given on the command line (not left at their default)."""
    def given_here(name: str) -> bool:  # by name: typer may bring its own copy of click's enum
        source = ctx.get_parameter_source(name)
        return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")

    given = {k: v for k, v in ctx.params.items() if k in TRAIN_FLAGS and given_here(k)}
    if given.get("cache_dir") is not None:
        given["cache_dir"] = str(given["cache_dir"])
    return given


def _terms(m: dict, prefix: str = "") -> str:
    """The loss terms of a step or eval record, short names: "vl 2.1 mv 0.4 ml 3.0" (or "words …")."""
    names = (("words", "loss_words"), ("vl", "loss_vl"), ("mv", "loss_mv"), ("ml", "loss_ml"))
    return " ".join(f"{short} {m[prefix + key]:.4f}" for short, key in names if prefix + key in m)


class _Reporter:
    """Turns hawk_core.training.trainer events into rich progress bars (stderr-free, on the console)."""

    def __init__(self, quiet: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.quiet = quiet
        self.progress = Progress(
            TextColumn("[bold]{task.fields[label]}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            TextColumn("{task.description}"), console=console, transient=False, disable=quiet,
        )
        self.tasks: dict[str, int] = {}
        self.started = False

    def _start(self) -> None:
        if not self.started:
            self.progress.start()
            self.started = True

    def __call__(self, kind: str, p: dict) -> None:
        if kind == "note":
            if not self.quiet:
                self.progress.console.print(f"[dim]{p['text']}[/]", soft_wrap=True)
            return
        if kind == "phase":
            self._start()
            name = p["name"]
            if name in self.tasks:
                self.progress.reset(self.tasks[name], total=p.get("total"), completed=p.get("completed", 0))
            elif p.get("total") or name == "train":
                self.tasks[name] = self.progress.add_task("", total=p.get("total"), completed=p.get("completed", 0), label=name)
            info = p.get("info")
            if info and not self.quiet:
                self.progress.console.print(
                    f"[dim]{info['train_items']} train / {info['eval_items']} eval items from {info['videos']} videos; "
                    f"{info['world']} process(es) on {info['device']}, {info['precision']}[/]", soft_wrap=True
                )
        elif kind == "advance" and p["name"] in self.tasks:
            self.progress.advance(self.tasks[p["name"]], p.get("n", 1))
        elif kind == "step" and "train" in self.tasks:
            m = p["metrics"]
            self.progress.update(
                self.tasks["train"], completed=m["step"],
                description=f"loss {m['loss']:.4f} | {_terms(m)} | lr {m['lr']:.2e}",
            )
        elif kind == "eval" and not self.quiet:
            m = p["metrics"]
            self.progress.console.print(
                f"step {m['step']}: eval loss {m['eval_loss']:.4f} ({_terms(m, 'eval_')}) on {m['items']} items", soft_wrap=True
            )
        elif kind == "saved" and not self.quiet:
            self.progress.console.print(f"[dim]checkpoint step {p['step']} -> {p['path']}[/]", soft_wrap=True)

    def close(self) -> None:
        if self.started:
            self.progress.stop()
