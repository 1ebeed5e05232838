"""Training the HAWK model: both stages, resumable, single process or DDP (torchrun).

A *run folder* holds everything of one run::

    RUN/run.json                      model config, train config, data, stage, world size
    RUN/metrics.jsonl                 one line per optimiser step: step, loss, loss_vl, loss_mv, loss_ml, lr, ...
    RUN/eval.jsonl                    one line per evaluation on the held-out split
    RUN/checkpoints/step-00000100/    config.json + adapter.safetensors (HawkModel.save_pretrained,
                                      trainable weights only) + trainer_state.pt (optimiser,
                                      scheduler, grad scaler, RNG and data-order state)
    RUN/latest.json                   the newest complete checkpoint (written last, atomically)
    RUN/model/                        the final trainable weights + config (load with --model RUN/model)

Every checkpoint folder is written to a temporary sibling and renamed, and ``latest.json`` is
replaced only after it, so a kill at any moment leaves the previous checkpoint usable.
``resume=True`` restores the model, optimiser, scheduler, RNG and the data order and goes on
with exactly the batch an uninterrupted run would have taken next.

Data order: items (see :mod:`hawk_core.data.records`) are shuffled once per epoch by an RNG seeded
from (seed, epoch); the run walks that permutation in global micro-batches of
``batch_size * world_size`` items, rank r taking the r-th slice (DistributedSampler's
sharding without its padding: the epoch's remainder is dropped). The state is just
(epoch, position), saved in each checkpoint.

Frozen encoders run once per video (before the first step) and their outputs are read from
the :class:`~hawk_core.data.records.FeatureCache` afterwards, so there is no per-step spatial
augmentation: both branches see the same frames, as the paper requires.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..data.records import (
    TASK_DESCRIBE,
    FeatureCache,
    HawkRecord,
    Item,
    MotionTextCache,
    build_items,
    caption_prompts,
    describe_prompts,
    item_rng,
    load_hawk_records,
    question_and_answer,
    sampled_frames_spec,
    split_records,
    target_texts,
    weights_fingerprint,
)
from ..errors import CheckpointError, ConfigError, DataError, InputError, TrainingError, VideoError
from ..io import atomic_path, read_json_or_jsonl, write_json

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ABLATIONS = ("motion", "mv", "ml")
STATE_FILE = "trainer_state.pt"
# train-config values a resumed run may change; the others must match the saved run
RESUME_MUTABLE = frozenset({"steps", "eval_every", "save_every", "keep_checkpoints", "device", "eval_max_items", "feature_ram_items", "cache_dir"})


def default_cache_dir() -> Path:
    base = os.environ.get("HAWK_CACHE") or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    sub = "" if os.environ.get("HAWK_CACHE") else "hawk"
    return Path(base) / sub / "features" if sub else Path(base) / "features"


@dataclass
class TrainConfig:
    """Every training hyperparameter (the model's live in :class:`HawkConfig`)."""

    stage: int = 2
    steps: int = 1000  # optimiser steps
    batch_size: int = 4  # per process, per micro-step
    grad_accum: int = 1
    lr: float = 1e-4
    min_lr_ratio: float = 0.1  # the cosine ends at lr * min_lr_ratio
    warmup: int = 100  # linear warm-up steps
    weight_decay: float = 0.05
    beta1: float = 0.9
    beta2: float = 0.999
    max_grad_norm: float = 1.0  # 0 disables clipping
    eval_every: int = 200  # 0 disables periodic evaluation (the final one still runs)
    eval_max_items: int = 0  # 0: the whole held-out split
    save_every: int = 200  # 0: only the final checkpoint
    keep_checkpoints: int = 2  # newest step-* folders kept
    test_fraction: float = 0.1
    seed: int = 0
    precision: str = "auto"  # auto: bf16 (fp16 without bf16) on CUDA, fp32 on CPU
    device: str = "auto"
    cache_dir: str = ""  # "" -> $HAWK_CACHE/features or ~/.cache/hawk/features
    cache_dtype: str = "float16"
    fail_missing: bool = False  # missing/unreadable videos: fail instead of skipping them
    feature_ram_items: int = 256  # cached feature files kept in RAM (LRU)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # types first: YAML reads 1e-4 as a string, say
            v, default = getattr(self, f.name), f.default
            if isinstance(default, bool):
                if not isinstance(v, bool):
                    raise ConfigError(f"{f.name} must be true or false, got {v!r}")
            elif isinstance(default, int):
                if isinstance(v, bool) or not isinstance(v, int):
                    raise ConfigError(f"{f.name} must be an integer, got {v!r}")
            elif isinstance(default, float):
                if isinstance(v, str):
                    try:
                        v = float(v)
                    except ValueError:
                        raise ConfigError(f"{f.name} must be a number, got {v!r}") from None
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ConfigError(f"{f.name} must be a number, got {v!r}")
                setattr(self, f.name, float(v))
            elif isinstance(default, str) and not isinstance(v, str):
                raise ConfigError(f"{f.name} must be a string, got {v!r}")
        if self.stage not in (1, 2):
            raise ConfigError(f"stage must be 1 or 2, got {self.stage}")
        for name in ("steps", "batch_size", "grad_accum"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup", "eval_every", "eval_max_items", "save_every", "feature_ram_items"):
            if int(getattr(self, name)) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.keep_checkpoints < 1:
            raise ConfigError(f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive number, got {self.lr}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.max_grad_norm < 0:
            raise ConfigError(f"max_grad_norm must be >= 0, got {self.max_grad_norm}")
        if not 0.0 <= self.test_fraction < 1.0:
            raise ConfigError(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if self.cache_dtype not in ("float32", "float16", "bfloat16"):
            raise ConfigError(f"unknown cache_dtype {self.cache_dtype!r}; choose one of float32, float16, bfloat16")

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        for k in d:
            if k not in names:
                raise ConfigError(f"unknown train config key {k!r} (known: {', '.join(sorted(names))})")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


# ---- configs -----------------------------------------------------------------------------


def read_config_file(path: Path) -> dict:
    """A run config file: ``{"model": {...HawkConfig overrides...}, "train": {...TrainConfig...}}``
    as JSON or YAML. Unknown top-level keys raise :class:`ConfigError` naming them."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such config file: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ConfigError(f"{path}: reading YAML needs PyYAML (pip install pyyaml); or use JSON") from None
            obj = yaml.safe_load(text)
        else:
            obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from None
    except Exception as e:  # yaml.YAMLError
        raise ConfigError(f"{path}: invalid YAML ({str(e).splitlines()[0]})") from None
    if obj is None:
        obj = {}
    if not isinstance(obj, dict):
        raise ConfigError(f"{path}: expected a mapping with 'model' and/or 'train' sections")
    for k in obj:
        if k not in ("model", "train"):
            raise ConfigError(f"{path}: unknown config key {k!r} (expected sections: model, train)")
        if not isinstance(obj[k], dict):
            raise ConfigError(f"{path}: section {k!r} must be a mapping")
    return obj


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def model_config(preset: str, overrides: dict | None = None, ablate: tuple[str, ...] | None = None) -> Any:
    """HawkConfig from a preset, deep-merged with ``overrides``, with ``ablate`` applied."""
    from ..model import HawkConfig

    cfg = HawkConfig.from_preset(preset)
    return with_overrides(cfg, overrides, ablate)


def with_overrides(cfg: Any, overrides: dict | None, ablate: tuple[str, ...] | None) -> Any:
    from ..model import HawkConfig

    if not overrides and ablate is None:
        return cfg
    d = _deep_merge(cfg.to_dict(), overrides or {})
    if ablate is not None:
        bad = [a for a in ablate if a not in ABLATIONS]
        if bad:
            raise ConfigError(f"unknown ablation {bad[0]!r}; choose from {', '.join(ABLATIONS)}")
        d.setdefault("loss", {})["ablate"] = sorted(set(ablate))
    return HawkConfig.from_dict(d)


# ---- distributed ---------------------------------------------------------------------------


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    initialised_here: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        if not self.active:
            return values
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64)
        if dist.get_backend() == "nccl":
            t = t.cuda()
        dist.all_reduce(t)
        return t.cpu().tolist()

    def gather_objects(self, obj: Any) -> list[Any]:
        if not self.active:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self.initialised_here:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def init_distributed(device_hint: str = "auto") -> Dist:
    """Join the process group torchrun describes in the environment (WORLD_SIZE, RANK,
    LOCAL_RANK, MASTER_ADDR/PORT); a single process otherwise. NCCL on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_initialized():
        return Dist(dist.get_rank(), dist.get_world_size(), local, False)
    use_cuda = torch.cuda.is_available() and not device_hint.startswith("cpu")
    if use_cuda:
        torch.cuda.set_device(local)
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank, world, local, True)


def resolve_device(name: str, d: Dist) -> Any:
    import torch

    if name == "auto":
        return torch.device(f"cuda:{d.local_rank}" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but CUDA is not available")
    if name == "cuda" and d.active:
        return torch.device(f"cuda:{d.local_rank}")
    try:
        return torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None


def resolve_precision(precision: str, device: Any) -> Any:
    """The autocast dtype (None for fp32)."""
    import torch

    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return None
    if precision == "fp16" and device.type != "cuda":
        raise InputError("fp16 autocast needs a CUDA device; use --precision bf16 or fp32 on CPU")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


# ---- data order ------------------------------------------------------------------------------


@dataclass
class DataOrder:
    """Seeded epoch permutations walked in global micro-batches; state = (epoch, pos)."""

    n: int
    global_batch: int
    seed: int
    epoch: int = 0
    pos: int = 0
    _perm: list[int] | None = field(default=None, repr=False)
    _perm_epoch: int = field(default=-1, repr=False)

    def __post_init__(self) -> None:
        if self.n < self.global_batch:
            raise DataError(
                f"the training split has {self.n} items, fewer than one global batch of {self.global_batch} "
                "(batch size x processes); lower --batch-size or add data"
            )

    def perm(self) -> list[int]:
        if self._perm_epoch != self.epoch:
            p = list(range(self.n))
            item_rng(self.seed, "order", self.epoch).shuffle(p)
            self._perm, self._perm_epoch = p, self.epoch
        return self._perm  # type: ignore[return-value]

    def next(self) -> list[tuple[int, int, int]]:
        """The next global micro-batch: (item index, epoch, position in epoch) each."""
        if self.pos + self.global_batch > self.n:
            self.epoch += 1
            self.pos = 0
        p = self.perm()
        out = [(p[self.pos + k], self.epoch, self.pos + k) for k in range(self.global_batch)]
        self.pos += self.global_batch
        return out

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos, "n": self.n, "global_batch": self.global_batch, "seed": self.seed}

    def load_state_dict(self, s: dict) -> None:
        if s["n"] != self.n or s["seed"] != self.seed:
            raise CheckpointError(
                f"the checkpoint's data order is for {s['n']} items (seed {s['seed']}), this data has {self.n} (seed {self.seed}); "
                "resume with the same data, or start a new run"
            )
        if s["global_batch"] != self.global_batch:
            raise CheckpointError(
                f"the checkpoint was written with a global batch of {s['global_batch']}, this run has {self.global_batch}; "
                "resume with the same --batch-size and number of processes"
            )
        self.epoch, self.pos = int(s["epoch"]), int(s["pos"])


def lr_lambda(warmup: int, total: int, min_ratio: float) -> Callable[[int], float]:
    """Linear warm-up from lr/warmup to lr, then cosine down to lr * min_ratio at ``total``."""

    def f(step: int) -> float:  # step = optimiser steps already taken
        if warmup and step < warmup:
            return (step + 1) / warmup
        span = max(1, total - warmup)
        progress = min(1.0, (step - warmup) / span)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return f


# ---- the trainer -----------------------------------------------------------------------------

Event = Callable[[str, dict], None]


def _noop(kind: str, payload: dict) -> None:
    pass


@dataclass
class TrainRequest:
    data: Path
    out: Path
    train: TrainConfig
    preset: str | None = None
    model_overrides: dict | None = None
    ablate: tuple[str, ...] | None = None
    init: Path | None = None
    resume: bool = False
    video_root: Path | None = None


def _to_device(obj: Any, device: Any) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: _to_device(getattr(obj, f.name), device) for f in dataclasses.fields(obj) if f.init})
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


def _rng_state() -> dict:
    import torch

    s = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        s["cuda"] = torch.cuda.get_rng_state_all()
    return s


def _set_rng_state(s: dict) -> None:
    import torch

    random.setstate(s["python"])
    torch.set_rng_state(s["torch"])
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def _seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """One training run. Build with a :class:`TrainRequest`, call :meth:`run`.

    ``events(kind, payload)`` reports progress (the library never prints): ``phase``
    {name, total}, ``advance`` {name, n}, ``note`` {text}, ``step`` {metrics}, ``eval``
    {metrics}, ``saved`` {step, path}.
    """

    def __init__(self, req: TrainRequest, events: Event | None = None, dist: Dist | None = None) -> None:
        self.req = req
        self.cfg = req.train
        self.events = events or _noop
        self.dist = dist or Dist()
        self.out = Path(req.out)
        self.skipped: dict[str, list[str]] = {"missing": [], "unreadable": []}

    # -- setup ---------------------------------------------------------------------------

    def _emit(self, kind: str, **payload: Any) -> None:
        if self.dist.main:
            self.events(kind, payload)

    def _resolve_run(self) -> tuple[Any, Path | None]:
        """Model config and the checkpoint to start from (resume / init), validating the run folder."""
        if self.out.exists() and not self.out.is_dir():
            raise InputError(f"--out {self.out} is a file; give a folder for the run")
        run_json = self.out / "run.json"
        latest = self.out / "latest.json"
        if self.req.resume:
            if not run_json.is_file():
                raise InputError(f"{self.out} holds no run to resume (no run.json); drop --resume to start one")
            saved = json.loads(run_json.read_text(encoding="utf-8"))
            self._check_resume_compatible(saved)
            from ..model import HawkConfig

            cfg = HawkConfig.from_dict(saved["model"])
            ckpt = None
            if latest.is_file():
                ckpt = self.out / json.loads(latest.read_text(encoding="utf-8"))["path"]
                if not ckpt.is_dir():
                    raise CheckpointError(f"{latest} points to {ckpt}, which does not exist")
            elif saved.get("init"):
                self._init_from = Path(saved["init"])
            return cfg, ckpt
        if run_json.exists() or latest.exists():
            raise InputError(f"{self.out} already holds a run; pass --resume to continue it or choose another --out")
        if self.req.init is not None:
            from ..model import HawkConfig

            init = Path(self.req.init)
            if not (init / "config.json").is_file():
                raise CheckpointError(f"--init {init}: not a checkpoint folder (no config.json)")
            base = HawkConfig.load(init)
            cfg = with_overrides(base, self.req.model_overrides, self.req.ablate)
            self._init_from = init
            return cfg, None
        return model_config(self.req.preset or "embedded", self.req.model_overrides, self.req.ablate), None

    def _check_resume_compatible(self, saved: dict) -> None:
        """On resume the saved configs rule; a flag that contradicts them is an error."""
        given = self.cfg.to_dict()
        want = dict(saved["train"])
        # a library caller (no record of which values were given) may change the mutable ones
        explicit = self._explicit or RESUME_MUTABLE
        for k, v in given.items():
            if k in RESUME_MUTABLE:
                continue  # may change between sessions
            if k in explicit and want.get(k) != v:
                raise ConfigError(f"--{k.replace('_', '-')} {v} differs from the run's saved {want.get(k)}; a resumed run keeps its config")
        merged = {**want, **{k: given[k] for k in given if k in explicit}}
        self.cfg = TrainConfig.from_dict(merged)
        if self.req.ablate is not None and sorted(set(self.req.ablate)) != sorted(saved["model"].get("loss", {}).get("ablate", [])):
            raise ConfigError("--ablate differs from the run's saved ablations; a resumed run keeps its config")

    _explicit: frozenset[str] = frozenset()
    _init_from: Path | None = None

    def _records(self) -> tuple[list[HawkRecord], list[HawkRecord]]:
        records = load_hawk_records(self.req.data, video_root=self.req.video_root)
        if self.cfg.stage == 2:
            for i, r in enumerate(records):
                if not r.description and not r.qa:
                    raise DataError(
                        f"{self.req.data}: record {i} ({r.video}) has a caption but no description or QA; "
                        "that is stage-1 data: pass --stage 1"
                    )
        missing = [r for r in records if not r.path.exists()]
        if missing:
            if self.cfg.fail_missing:
                raise DataError(f"{len(missing)} of {len(records)} records point to missing videos, first: {missing[0].path}")
            self.skipped["missing"] = sorted({str(r.path) for r in missing})
            records = [r for r in records if r.path.exists()]
            self._emit("note", text=f"skipped {len(missing)} records whose video is missing (first: {missing[0].path}); --fail-missing to stop instead")
        if not records:
            raise DataError(f"{self.req.data}: no record has an existing video")
        train, test = split_records(records, self.cfg.test_fraction, self.cfg.seed)
        if not train:
            raise DataError("the training split is empty")
        return train, test

    def _prepare_features(self, model: Any, videos: list[Path], device: Any, amp: Any) -> None:
        import torch

        todo = [v for v in videos if not self.cache.has(v)]
        mine = todo[self.dist.rank :: self.dist.world]
        self._emit("phase", name="features", total=len(mine))  # rank 0 reports its own share
        failed: list[str] = []
        model.eval()
        for v in mine:
            try:  # the same sampling + motion + normalisation as inference (HawkModel.load_video)
                xv, xm = model.load_video(v)  # (1, T, 3, S, S) each; xm None without a motion branch
            except VideoError as e:
                failed.append(str(e))
                self._emit("advance", name="features", n=1)
                continue
            with torch.no_grad(), torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                fv, fm = model.encode_visual(xv.to(device), None if xm is None else xm.to(device))  # (1, T, N, D) each
            self.cache.store(v, fv[0], None if fm is None else fm[0])
            self._emit("advance", name="features", n=1)
        all_failed = [f for part in self.dist.gather_objects(failed) for f in part]
        self.dist.barrier()
        if all_failed and self.cfg.fail_missing:  # raised on every rank alike
            raise DataError(f"{len(all_failed)} videos cannot be read, first: {all_failed[0]}")
        if all_failed:
            self.skipped["unreadable"] = all_failed
            self._emit("note", text=f"skipped {len(all_failed)} unreadable videos (first: {all_failed[0]}); --fail-missing to stop instead")

    def _prepare_phrases(self, records: list[HawkRecord]) -> None:
        texts = target_texts(records)
        self._mt = MotionTextCache(self.cache.dir / "motion_text.json")
        if self.dist.main:
            todo = len({t for t in texts if t and self._mt.get(t) is None})
            self._emit("phase", name="phrases", total=todo)
            self._mt.fill(texts, progress=lambda n: self._emit("advance", name="phrases", n=n))
        self.dist.barrier()
        if not self.dist.main:
            self._mt = MotionTextCache(self.cache.dir / "motion_text.json")

    # -- batches -------------------------------------------------------------------------

    def _features(self, records: list[HawkRecord], idx: int) -> tuple[Any, Any]:
        key = str(records[idx].path)
        hit = self._ram.get(key)
        if hit is not None:
            self._ram.move_to_end(key)
            return hit
        val = self.cache.load(records[idx].path)
        if self.cfg.feature_ram_items:
            self._ram[key] = val
            while len(self._ram) > self.cfg.feature_ram_items:
                self._ram.popitem(last=False)
        return val

    def _batch(self, records: list[HawkRecord], items: list[Item], picks: list[tuple[int, int, int]], split: str) -> tuple[Any, Any, Any]:
        import torch

        from ..model import TextSample
        from ..language.prompts import render_instruction

        fv, fm, samples = [], [], []
        for item_idx, epoch, pos in picks:
            it = items[item_idx]
            rec = records[it.record]
            rng = item_rng(self.cfg.seed, split, epoch, pos, item_idx)
            prompts = self._caption_prompts if (it.task == TASK_DESCRIBE and not rec.description) else self._describe_prompts
            question, answer = question_and_answer(rec, it, rng, describe=prompts, caption=prompts)
            mt = self._mt.get(answer) if self._mt is not None else None
            samples.append(TextSample(instruction=render_instruction(question, motion=not self._no_motion), answer=answer, motion_text=mt or None))
            v, m = self._features(records, it.record)
            fv.append(v)
            fm.append(m)
        feats_v = torch.stack(fv).to(self.device, self.feat_dtype)  # (B, T, N, D)
        feats_m = None if self._no_motion else torch.stack(fm).to(self.device, self.feat_dtype)
        batch = _to_device(self.model.collate(samples), self.device)
        return feats_v, feats_m, batch

    # -- main loop -----------------------------------------------------------------------

    def run(self) -> dict:
        import torch

        from ..model import HawkModel

        d = self.dist
        model_cfg, ckpt = self._resolve_run()
        train_recs, test_recs = self._records()  # bad data fails before a (slow) model build
        self.device = resolve_device(self.cfg.device, d)
        amp = resolve_precision(self.cfg.precision, self.device)
        _seed_all(self.cfg.seed)
        self._emit("note", text=f"building the model on {self.device}")
        # frozen backbones in the autocast dtype on a GPU (half the memory); trainable parts stay fp32
        frozen_dtype = amp if self.device.type == "cuda" else None
        if ckpt is not None:
            model = HawkModel.from_pretrained(ckpt, device=str(self.device), dtype=frozen_dtype)
        elif self._init_from is not None:
            model = HawkModel.from_pretrained(self._init_from, device=str(self.device), dtype=frozen_dtype)
            if model.config.to_dict() != model_cfg.to_dict():
                model = self._rebuild_with(model, model_cfg, frozen_dtype)
        else:
            model = HawkModel.build(model_cfg, device=str(self.device), dtype=frozen_dtype)
        self.model = model
        ablate = set(model.config.loss.ablate)
        self._no_motion = "motion" in ablate
        trainable = list(model.trainable_parameters())
        if not trainable:
            raise ConfigError("the model has no trainable parameters")
        self.feat_dtype = next(p for p in trainable).dtype

        dcfg = model.config.data
        spec = sampled_frames_spec(dcfg.num_frames, dcfg.size, dcfg.resize, dcfg.motion)
        # the features depend on the frozen image encoder alone: its config and its weights
        spec["backbone"] = model.config.to_dict()["vision"]
        spec["frozen_weights"] = weights_fingerprint(getattr(model, "vision", model))
        spec["motion_branch"] = not self._no_motion
        self.cache = FeatureCache(Path(self.cfg.cache_dir) if self.cfg.cache_dir else default_cache_dir(), spec, self.cfg.cache_dtype)
        videos = sorted({r.path for r in train_recs + test_recs}, key=str)
        self._prepare_features(model, videos, self.device, amp)
        train_recs = [r for r in train_recs if self.cache.has(r.path)]
        test_recs = [r for r in test_recs if self.cache.has(r.path)]
        if not train_recs:
            raise DataError("no training video could be read")
        self._mt = None
        if not self._no_motion and "ml" not in ablate:
            self._prepare_phrases(train_recs + test_recs)
        self._describe_prompts = describe_prompts()
        self._caption_prompts = caption_prompts()
        self._ram: OrderedDict[str, Any] = OrderedDict()
        train_items = build_items(train_recs)
        test_items = build_items(test_recs)
        if self.cfg.eval_max_items and len(test_items) > self.cfg.eval_max_items:
            test_items = test_items[: self.cfg.eval_max_items]

        # optimiser, schedule, precision
        decay = [p for p in trainable if p.ndim >= 2]
        no_decay = [p for p in trainable if p.ndim < 2]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.cfg.lr, betas=(self.cfg.beta1, self.cfg.beta2),
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(self.cfg.warmup, self.cfg.steps, self.cfg.min_lr_ratio))
        scaler = torch.amp.GradScaler(self.device.type, enabled=amp is torch.float16)
        order = DataOrder(len(train_items), self.cfg.batch_size * d.world, self.cfg.seed)
        step = 0
        if ckpt is not None:
            st = torch.load(ckpt / STATE_FILE, map_location="cpu", weights_only=False)
            opt.load_state_dict(st["optimizer"])
            sched.load_state_dict(st["scheduler"])
            sched.lr_lambdas[0] = lr_lambda(self.cfg.warmup, self.cfg.steps, self.cfg.min_lr_ratio)  # --steps may grow
            if st.get("scaler"):
                scaler.load_state_dict(st["scaler"])
            order.load_state_dict(st["order"])
            step = int(st["step"])
            rngs = st["rng"]
            if len(rngs) == d.world:
                _set_rng_state(rngs[d.rank])
            else:
                _seed_all(self.cfg.seed + 1000003 * step + d.rank)
                self._emit("note", text=f"checkpoint had {len(rngs)} processes, this run {d.world}: RNG reseeded (not bitwise-identical)")
            for g in opt.param_groups:  # the lambda above may have changed with --steps
                g["lr"] = g["initial_lr"] * sched.lr_lambdas[0](step)
        else:
            _seed_all(self.cfg.seed + d.rank)

        if d.main:
            self._write_run_json(model)
            self._trim_log(self.out / "metrics.jsonl", step)
            self._trim_log(self.out / "eval.jsonl", step)
        d.barrier()

        net: Any = model
        if d.active:
            from torch.nn.parallel import DistributedDataParallel as DDP

            import inspect

            # frozen buffers never change: no per-forward buffer sync. Ablations leave trainable
            # parameters out of the graph (e.g. the compression heads without L_MV).
            sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DDP).parameters else {"broadcast_buffers": False}
            net = DDP(model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                      find_unused_parameters=bool(ablate), **sync)

        self._emit("phase", name="train", total=self.cfg.steps, completed=step,
                   info={"train_items": len(train_items), "eval_items": len(test_items), "videos": len(videos),
                         "world": d.world, "device": str(self.device), "precision": str(amp).replace("torch.", "") if amp else "fp32"})
        metrics_f = open(self.out / "metrics.jsonl", "a", encoding="utf-8") if d.main else None
        last_eval: dict | None = None
        t_start = time.perf_counter()
        steps_run = 0
        try:
            model.train()
            while step < self.cfg.steps:
                t0 = time.perf_counter()
                sums = [0.0, 0.0, 0.0, 0.0]
                opt.zero_grad(set_to_none=True)
                for micro in range(self.cfg.grad_accum):
                    picks = order.next()
                    mine = picks[d.rank * self.cfg.batch_size : (d.rank + 1) * self.cfg.batch_size]
                    fv, fm, batch = self._batch(train_recs, train_items, mine, "train")
                    sync = micro == self.cfg.grad_accum - 1
                    ctx = net.no_sync() if (d.active and not sync) else _null()
                    with ctx:
                        with torch.autocast(self.device.type, dtype=amp, enabled=amp is not None):
                            out = net(fv, fm, batch)
                        scaler.scale(out.loss / self.cfg.grad_accum).backward()
                    sums[0] += float(out.loss.detach())
                    sums[1] += float(out.loss_vl.detach())
                    sums[2] += float(out.loss_mv.detach())
                    sums[3] += float(out.loss_ml.detach())
                tot = d.all_reduce_sum(sums)
                n = self.cfg.grad_accum * d.world
                loss, l_vl, l_mv, l_ml = (x / n for x in tot)
                if not math.isfinite(loss):
                    latest = self.out / "latest.json"
                    where = json.loads(latest.read_text())["path"] if latest.is_file() else None
                    raise TrainingError(
                        f"loss became {loss} at step {step + 1}; stopped. "
                        + (f"Last good checkpoint: {self.out / where} (resume with --resume, perhaps with a lower --lr)" if where else "No checkpoint was written yet; try a lower --lr")
                    )
                scaler.unscale_(opt)
                gnorm = None
                if self.cfg.max_grad_norm > 0:
                    gnorm = float(torch.nn.utils.clip_grad_norm_(trainable, self.cfg.max_grad_norm))
                lr = opt.param_groups[0]["lr"]
                scaler.step(opt)
                scaler.update()
                sched.step()
                step += 1
                steps_run += 1
                rec = {"step": step, "loss": loss, "loss_vl": l_vl, "loss_mv": l_mv, "loss_ml": l_ml, "lr": lr,
                       "grad_norm": gnorm, "epoch": order.epoch, "step_time": round(time.perf_counter() - t0, 4)}
                if metrics_f is not None:
                    metrics_f.write(json.dumps(rec) + "\n")
                    metrics_f.flush()
                self._emit("step", metrics=rec)
                if self.cfg.eval_every and step % self.cfg.eval_every == 0 and step < self.cfg.steps:
                    last_eval = self._evaluate(net, test_recs, test_items, step, amp)
                    model.train()
                if step == self.cfg.steps or (self.cfg.save_every and step % self.cfg.save_every == 0):
                    self._checkpoint(model, opt, sched, scaler, order, step)
            if test_items and (last_eval is None or last_eval["step"] != step):
                last_eval = self._evaluate(net, test_recs, test_items, step, amp)
            if d.main:
                model.save_pretrained(self.out / "model")
        finally:
            if metrics_f is not None:
                metrics_f.close()
        elapsed = time.perf_counter() - t_start
        return {
            "out": str(self.out),
            "step": step,
            "steps_run": steps_run,
            "seconds": round(elapsed, 2),
            "seconds_per_step": round(elapsed / steps_run, 4) if steps_run else None,
            "train_items": len(train_items),
            "eval_items": len(test_items),
            "eval": last_eval,
            "skipped_missing": len(self.skipped["missing"]),
            "skipped_unreadable": len(self.skipped["unreadable"]),
            "model": str(self.out / "model"),
        }

    def _rebuild_with(self, model: Any, cfg: Any, dtype: Any) -> Any:
        """--init with overrides (e.g. ablations for stage 2): a fresh model of ``cfg`` taking the
        init checkpoint's trainable weights, strictly (mismatched keys are named)."""
        from ..model import HawkModel

        new = HawkModel.build(cfg, device=str(self.device), dtype=dtype)
        src = {n: p for n, p in model.named_parameters() if p.requires_grad}
        dst = {n: p for n, p in new.named_parameters() if p.requires_grad}
        missing = sorted(set(dst) - set(src))
        extra = sorted(set(src) - set(dst))
        bad = [n for n in set(src) & set(dst) if src[n].shape != dst[n].shape]
        if missing or extra or bad:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing[:3])}")
            if extra:
                parts.append(f"unexpected {', '.join(extra[:3])}")
            if bad:
                parts.append(f"shape mismatch {', '.join(sorted(bad)[:3])}")
            raise CheckpointError(f"--init {self._init_from}: checkpoint does not fit the configured model ({'; '.join(parts)})")
        import torch

        with torch.no_grad():
            for n, p in dst.items():
                p.copy_(src[n])
        return new

    def _evaluate(self, net: Any, records: list[HawkRecord], items: list[Item], step: int, amp: Any) -> dict | None:
        import torch

        if not items:
            return None
        self.model.eval()
        mine = list(range(len(items)))[self.dist.rank :: self.dist.world]
        sums = [0.0, 0.0, 0.0, 0.0, 0.0]
        bs = self.cfg.batch_size
        self._emit("phase", name="eval", total=len(mine))
        with torch.no_grad():
            for s in range(0, len(mine), bs):
                picks = [(i, 0, i) for i in mine[s : s + bs]]
                fv, fm, batch = self._batch(records, items, picks, "eval")
                with torch.autocast(self.device.type, dtype=amp, enabled=amp is not None):
                    out = self.model(fv, fm, batch)
                k = len(picks)
                sums[0] += float(out.loss) * k
                sums[1] += float(out.loss_vl) * k
                sums[2] += float(out.loss_mv) * k
                sums[3] += float(out.loss_ml) * k
                sums[4] += k
                self._emit("advance", name="eval", n=k)
        tot = self.dist.all_reduce_sum(sums)
        n = max(tot[4], 1.0)
        rec = {"step": step, "eval_loss": tot[0] / n, "eval_loss_vl": tot[1] / n, "eval_loss_mv": tot[2] / n, "eval_loss_ml": tot[3] / n, "items": int(tot[4])}
        if self.dist.main:
            with open(self.out / "eval.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
        self._emit("eval", metrics=rec)
        return rec

    def _checkpoint(self, model: Any, opt: Any, sched: Any, scaler: Any, order: DataOrder, step: int) -> None:
        import torch

        rngs = self.dist.gather_objects(_rng_state())
        if self.dist.main:
            name = f"step-{step:08d}"
            target = self.out / "checkpoints" / name
            with atomic_path(target, is_dir=True) as tmp:
                model.save_pretrained(tmp)
                state = {
                    "step": step,
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                    "order": order.state_dict(),
                    "rng": rngs,
                    "world_size": self.dist.world,
                }
                torch.save(state, tmp / STATE_FILE)
                write_json(tmp / "train_config.json", self.cfg.to_dict())
            write_json(self.out / "latest.json", {"step": step, "path": f"checkpoints/{name}"})
            kept = sorted(p for p in (self.out / "checkpoints").glob("step-*") if p.is_dir())
            for old in kept[: -self.cfg.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
            self._emit("saved", step=step, path=str(target))
        self.dist.barrier()

    def _write_run_json(self, model: Any) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / "run.json"
        if path.is_file():
            return
        write_json(path, {
            "data": str(Path(self.req.data).resolve()),
            "stage": self.cfg.stage,
            "init": str(self._init_from) if self._init_from else None,
            "preset": self.req.preset,
            "world_size": self.dist.world,
            "model": model.config.to_dict(),
            "train": self.cfg.to_dict(),
            "skipped": self.skipped,
        })

    @staticmethod
    def _trim_log(path: Path, step: int) -> None:
        """Drop log lines past ``step`` (written after the checkpoint we resume from)."""
        if not path.is_file():
            return
        try:
            lines = read_json_or_jsonl(path)
        except DataError:
            lines = []
            for raw in path.read_text(encoding="utf-8").splitlines():
                try:
                    lines.append(json.loads(raw))
                except json.JSONDecodeError:
                    break
        except InputError:
            return
        keep = [r for r in lines if int(r.get("step", 0)) <= step]
        with atomic_path(path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


def train(req: TrainRequest, events: Event | None = None, *, explicit: set[str] | None = None) -> dict:
    """Run (or resume) one training run; returns a summary dict. Joins a torchrun process group
    when the environment describes one."""
    d = init_distributed(req.train.device)
    try:
        t = Trainer(req, events, d)
        t._explicit = frozenset(explicit or ())
        return t.run()
    finally:
        d.close()
