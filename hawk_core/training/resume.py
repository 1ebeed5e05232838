"""Starting a run: a new one (from a preset or an ``--init`` checkpoint) or a resumed one,
whose saved configs rule. Reads the run folder through :class:`~hawk_core.model.run_layout.RunLayout`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, ConfigError, InputError
from ..model.run_layout import RunLayout
from .config import RESUME_MUTABLE, TrainConfig


@dataclass
class RunStart:
    """Where a run starts from."""

    model_config: Any  # HawkConfig
    train_config: TrainConfig
    checkpoint: Path | None = None  # resume from this checkpoint (model + trainer state)
    init_from: Path | None = None  # start from these weights (--init)


def resolve_start(run: RunLayout, req: Any, explicit: frozenset[str]) -> RunStart:
    """Validate the run folder against the request (a :class:`TrainRequest`) and say where to start."""
    from ..model.checkpoints import DEFAULT_PRESET
    from ..model.config import HawkConfig

    if run.root.exists() and not run.root.is_dir():
        raise InputError(f"--out {run.root} is a file; give a folder for the run")
    if req.resume:
        if not run.run_json.is_file():
            raise InputError(f"{run.root} holds no run to resume (no run.json); drop --resume to start one")
        saved = json.loads(run.run_json.read_text(encoding="utf-8"))
        cfg = resumed_train_config(req, saved, explicit)
        ckpt = run.latest()
        init = Path(saved["init"]) if ckpt is None and saved.get("init") else None
        return RunStart(HawkConfig.from_dict(saved["model"]), cfg, ckpt, init)
    if run.is_run():
        raise InputError(f"{run.root} already holds a run; pass --resume to continue it or choose another --out")
    if req.init is not None:
        init = Path(req.init)
        if not (init / "config.json").is_file():
            raise CheckpointError(f"--init {init}: not a checkpoint folder (no config.json)")
        cfg = HawkConfig.load(init).with_overrides(req.model_overrides, ablate=req.ablate)
        return RunStart(cfg, req.train, None, init)
    cfg = HawkConfig.from_preset(req.preset or DEFAULT_PRESET).with_overrides(req.model_overrides, ablate=req.ablate)
    return RunStart(cfg, req.train, None, None)


def resumed_train_config(req: Any, saved: dict, explicit: frozenset[str]) -> TrainConfig:
    """On resume the saved configs rule. Arguments that agree with them are accepted (so the
    original command line plus ``--resume`` works); those that conflict are refused together,
    each named with both values. A library caller (no record of which values were given) may
    change the mutable ones."""
    given = req.train.to_dict()
    want = dict(saved["train"])
    explicit = explicit or RESUME_MUTABLE
    conflicts = resume_conflicts(req, saved, explicit)
    if conflicts:
        raise ConfigError(f"{'; '.join(conflicts)}; a resumed run keeps its config (drop or fix these, or start a new --out)")
    return TrainConfig.from_dict({**want, **{k: given[k] for k in given if k in explicit}})


def resume_conflicts(req: Any, saved: dict, explicit: frozenset[str]) -> list[str]:
    """Each argument of ``req`` that contradicts the run's saved ``run.json``, as
    ``--flag VALUE differs from the run's saved SAVED``."""
    out: list[str] = []
    given = req.train.to_dict()
    want = saved["train"]
    for k, v in given.items():
        if k in RESUME_MUTABLE:
            continue  # may change between sessions
        if k in explicit and want.get(k) != v:
            out.append(f"--{k.replace('_', '-')} {v} differs from the run's saved {want.get(k)}")
    model = saved.get("model") or {}
    if req.preset is not None:
        was = saved.get("preset") or model.get("preset")
        if req.preset != was:
            out.append(f"--preset {req.preset} differs from the run's saved {was}")
    if req.init is not None:
        was = saved.get("init")
        if was is None or Path(req.init).resolve() != Path(was).resolve():
            out.append(f"--init {req.init} differs from the run's saved {was}")
    for key, value in _leaves(req.model_overrides or {}):
        if key == "preset":
            was = saved.get("preset") or model.get("preset")
        else:
            was = _lookup(model, key)
        if was != value:
            what = "--profile" if key == "profile" else f"model.{key}"  # --profile goes in as a model override
            out.append(f"{what} {value}{'' if key == 'profile' else ' (config)'} differs from the run's saved {was}")
    if req.ablate is not None:
        was = sorted(model.get("loss", {}).get("ablate", []))
        if sorted(set(req.ablate)) != was:
            out.append(f"--ablate {','.join(sorted(set(req.ablate))) or '(none)'} differs from the run's saved {','.join(was) or '(none)'}")
    return out


def _leaves(d: dict, prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            items += _leaves(v, f"{prefix}{k}.")
        else:
            items.append((f"{prefix}{k}", v))
    return items


def _lookup(d: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def rebuild_with(model: Any, cfg: Any, device: Any, dtype: Any, init_from: Path) -> Any:
    """--init with overrides (e.g. ablations for stage 2): a fresh model of ``cfg`` taking the
    init checkpoint's trainable weights, strictly (mismatched keys are named). LoRA adapters
    the checkpoint lacks (``llm.lora.enabled`` turned on for a later stage) keep their fresh
    initialisation, which leaves the LLM unchanged until they train (LoRA's B starts at zero);
    so does a class head of other classes than the checkpoint's (``head.classes``: zero, uniform)."""
    import torch

    from ..model import HawkModel

    new = HawkModel.build(cfg, device=str(device), dtype=dtype)
    src = model.adapter_tensors()
    dst = new.adapter_tensors()
    added_lora = cfg.llm.lora.enabled and not model.config.llm.lora.enabled
    if cfg.head.classes != model.config.head.classes:  # a class head of other classes starts afresh (uniform)
        src = {n: t for n, t in src.items() if not n.startswith("cluster_head.")}
        dst_fresh = {n for n in dst if n.startswith("cluster_head.")}
    else:
        dst_fresh = set()
    missing = sorted(n for n in set(dst) - set(src) - dst_fresh if not (added_lora and "lora_" in n))
    extra = sorted(set(src) - set(dst))
    bad = sorted(n for n in set(src) & set(dst) if src[n].shape != dst[n].shape)
    parts = [f"{what} {', '.join(names[:3])}" for what, names in (("missing", missing), ("unexpected", extra), ("shape mismatch", bad)) if names]
    if parts:
        raise CheckpointError(f"--init {init_from}: checkpoint does not fit the configured model ({'; '.join(parts)})")
    with torch.no_grad():
        for n, p in dst.items():
            if n in src:
                p.copy_(src[n])
    return new
