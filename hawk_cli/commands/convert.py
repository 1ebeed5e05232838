"""`hawk convert`: turn the authors' released checkpoint into a hawk checkpoint folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hawk_cli._common import JsonOut, console, guarded


@guarded
def convert(
    checkpoint: Annotated[Path, typer.Argument(help="The release's checkpoint_N.pth (or a .safetensors of its state dict).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the hawk checkpoint (config.json + adapter.safetensors).", show_default=False)],
    profile: Annotated[str, typer.Option("--profile", help="release: behave as the authors' code (see README); paper: the paper's choices.")] = "release",
    llm: Annotated[Optional[str], typer.Option("--llm", help="LLaMA-2-7B-chat: a local folder or hub id. \\[default: meta-llama/Llama-2-7b-chat-hf]", show_default=False)] = None,
    vision: Annotated[Optional[str], typer.Option("--vision", help="BLIP-2 FlanT5-XXL (EVA ViT + Q-Former): a local folder or hub id. \\[default: Salesforce/blip2-flan-t5-xxl]", show_default=False)] = None,
    preset: Annotated[str, typer.Option("--preset", help="Architecture the weights must fit: paper (the release's sizes); tiny for tests.")] = "paper",
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="JSON/YAML of model config overrides, applied last.", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a checkpoint already in --out.")] = False,
    json_out: JsonOut = False,
) -> None:
    """Convert the authors' HAWK checkpoint (Hugging Face Jiaqi-hkust/hawk).

    The file is read safely (torch.load with weights_only=True; a pickle
    that needs code is refused) and every trained tensor, query_tokens_motion
    included, goes through one key map into OUT/config.json and
    OUT/adapter.safetensors: load them with `hawk describe --model OUT`
    (or ask, chat, predict) and `hawk train --init OUT`.

    Derivable buffers (position_ids, rotary inv_freq) are skipped; a
    parameter with no place in the model, or of the wrong shape, fails the
    conversion and is named. The report (loaded, skipped and why) is printed
    and written to OUT/convert_report.json. Only the config files of --llm
    and --vision are read here; their weights load when the model runs.

    Examples:
      hawk convert checkpoint_9.pth --out hawk_release
      hawk convert checkpoint_9.pth --out hawk_release \\
          --llm ~/llama-2-7b-chat-hf --vision ~/blip2-flan-t5-xxl
      hawk describe clip.mp4 --model hawk_release --sample release
    """
    import json

    from hawk_core.io import read_mapping_file
    from hawk_core.model.release import conversion_config, convert_release_checkpoint

    overrides = read_mapping_file(config) if config else None
    if overrides and "model" in overrides and isinstance(overrides["model"], dict):
        overrides = overrides["model"]  # the model section of a `hawk train --config` file
    cfg = conversion_config(preset=preset, profile=profile, llm=llm, vision=vision, overrides=overrides)
    report = convert_release_checkpoint(checkpoint, out, cfg, overwrite=force)
    if json_out:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    _print_report(report)


def _print_report(report) -> None:
    from collections import Counter

    from rich.markup import escape

    f = report.file
    epoch = f" (epoch {f['epoch']})" if f.get("epoch") is not None else ""
    console.print(f"[bold]converted[/] {escape(report.source)}{epoch} -> {escape(str(report.output))}", soft_wrap=True)
    console.print(f"  file      {f['tensors']} tensors: {f['parameters']} parameters, {f['buffers']} buffers", soft_wrap=True)
    groups = Counter(_group(e["key"]) for e in report.loaded)
    console.print(f"  loaded    {len(report.loaded)} tensors: " + ", ".join(f"{g} {n}" for g, n in groups.items()), soft_wrap=True)
    reasons = Counter(e["reason"] for e in report.skipped)
    for why, n in reasons.items():
        console.print(f"  skipped   {n} x {escape(why)}", soft_wrap=True)
    c = report.config
    console.print(f"  profile   {c['profile']} (motion encoder {c['motion_encoder']}, motion queries {c['motion_queries']})", soft_wrap=True)
    console.print(f"  backbones vision {escape(str(c['vision']))}; llm {escape(str(c['llm']))}", soft_wrap=True)
    console.print(f"  report    {escape(str(Path(report.output) / 'convert_report.json'))}", soft_wrap=True)


def _group(key: str) -> str:
    """Which part of the model a release key belongs to, for the summary."""
    if key == "query_tokens_motion":
        return "motion image queries (query_tokens_motion)"
    return "motion branch" if "_motion" in key.split(".", 1)[0] else "appearance branch"
