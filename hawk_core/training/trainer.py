"""Training the HAWK model: both stages, resumable, single process or DDP (torchrun).

The run folder's layout is :class:`~hawk_core.model.run_layout.RunLayout`'s (the checkpoint
discovery of `hawk describe --model RUN` reads the same layout). ``resume=True`` restores the
model, optimiser, scheduler, RNG and the data order and goes on with exactly the batch an
uninterrupted run would have taken next.

The pieces: :mod:`~hawk_core.training.config` (hyperparameters), :mod:`~hawk_core.training.resume`
(where a run starts), :mod:`~hawk_core.training.samples` (cached features and batches),
:mod:`~hawk_core.training.schedule` (lr and data order), :mod:`~hawk_core.training.distributed`,
:mod:`~hawk_core.training.state` (RNG). This module holds the loop.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.items import build_items
from ..data.records import TASK_DESCRIPTION, HawkRecord, load_hawk_records, split_records
from ..errors import CheckpointError, ConfigError, DataError, TrainingError
from ..io import atomic_path, write_json
from ..model.run_layout import STATE_FILE, RunLayout
from .config import TrainConfig, default_cache_dir
from .distributed import Dist, init_distributed
from .resume import RunStart, rebuild_with, resolve_start
from .samples import BatchMaker, Split, check_stage, feature_cache, prepare_features, prepare_phrases
from .schedule import DataOrder, build_scheduler, sync_lr
from .state import rng_state, seed_all, set_rng_state

Event = Callable[[str, dict], None]
#: The loss terms logged per step and per evaluation (fields of HawkOutput), per objective.
LOSS_NAMES = ("loss", "loss_vl", "loss_mv", "loss_ml")
WORDS_LOSS_NAMES = ("loss", "loss_words", "loss_mv")


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


def _loss_values(out: Any, names: tuple[str, ...]) -> dict[str, float]:
    return {name: float(getattr(out, name).detach()) for name in names}


def _reduce_mean(dist: Dist, sums: dict[str, float], count: float) -> tuple[dict[str, float], float]:
    """Sum ``sums`` and ``count`` over processes; the means and the total count."""
    tot = dist.all_reduce_sum([*sums.values(), count])
    n = max(tot[-1], 1.0)
    return {k: v / n for k, v in zip(sums, tot)}, tot[-1]


class _Optim:
    """Optimiser, lr schedule and grad scaler of one run."""

    def __init__(self, trainable: list[Any], cfg: TrainConfig, device: Any, amp: Any) -> None:
        import torch

        decay = [p for p in trainable if p.ndim >= 2]
        no_decay = [p for p in trainable if p.ndim < 2]
        self.params = trainable
        self.opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
        )
        self.sched = build_scheduler(self.opt, cfg.warmup, cfg.steps, cfg.min_lr_ratio)
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp is torch.float16)

    def state_dict(self) -> dict:
        return {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None}

    def load_state_dict(self, st: dict, step: int) -> None:
        self.opt.load_state_dict(st["optimizer"])
        self.sched.load_state_dict(st["scheduler"])  # the schedule's function stays this run's
        if st.get("scaler"):
            self.scaler.load_state_dict(st["scaler"])
        sync_lr(self.opt, self.sched, step)  # --steps may have changed the schedule

    def step(self, max_grad_norm: float) -> tuple[float, float | None]:
        """Unscale, clip, step; returns (the lr used, the gradient norm or None)."""
        import torch

        self.scaler.unscale_(self.opt)
        gnorm = float(torch.nn.utils.clip_grad_norm_(self.params, max_grad_norm)) if max_grad_norm > 0 else None
        lr = self.opt.param_groups[0]["lr"]
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        return lr, gnorm


class Trainer:
    """One training run. Build with a :class:`TrainRequest`, call :meth:`run`.

    ``events(kind, payload)`` reports progress (the library never prints): ``phase``
    {name, total}, ``advance`` {name, n}, ``note`` {text}, ``step`` {metrics}, ``eval``
    {metrics}, ``saved`` {step, path}.
    """

    def __init__(self, req: TrainRequest, events: Event | None = None, dist: Dist | None = None,
                 *, explicit: frozenset[str] = frozenset()) -> None:
        self.req = req
        self.cfg = req.train
        self.events = events or _noop
        self.dist = dist or Dist()
        self.run_dir = RunLayout(req.out)
        self.explicit = explicit
        self.skipped: dict[str, list[str]] = {"missing": [], "unreadable": []}
        self.start: RunStart | None = None
        self.device: Any = None
        self.amp: Any = None  # autocast dtype, None for fp32
        self.model: Any = None
        self.net: Any = None  # the model, or its DDP wrapper
        self.batches: BatchMaker | None = None
        self.train_split = Split([], [])
        self.eval_split = Split([], [])
        self.optim: _Optim | None = None
        self.order: DataOrder | None = None
        self.words: Any = None  # the WordVocab of objective words
        self.classes: Any = None  # the ClassLabels of words_loss labels
        self._word_text: Any = None  # record -> the text its bag of words is made of
        self.step = 0

    @property
    def loss_names(self) -> tuple[str, ...]:
        if self.cfg.objective == "words":
            return WORDS_LOSS_NAMES
        return LOSS_NAMES + (("loss_label",) if self._label_head() else ())

    def _label_head(self) -> bool:
        """The language stage trains a class head beside the paper's loss (train.label_weight)."""
        return self.cfg.objective == "language" and self.cfg.label_weight > 0

    @property
    def out(self) -> Path:
        return self.run_dir.root

    def _emit(self, kind: str, **payload: Any) -> None:
        if self.dist.main:
            self.events(kind, payload)

    # -- setup ---------------------------------------------------------------------------

    def _records(self) -> tuple[list[HawkRecord], list[HawkRecord]]:
        records = load_hawk_records(self.req.data, video_root=self.req.video_root)
        check_stage(records, self.cfg.stage, self.req.data)
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

    def _build_model(self, start: RunStart) -> Any:
        from ..model import HawkModel

        # frozen backbones in the autocast dtype on a GPU (half the memory); trainable parts stay fp32
        dtype = self.amp if self.device.type == "cuda" else None
        dev = str(self.device)
        if start.checkpoint is not None:
            return HawkModel.from_pretrained(start.checkpoint, device=dev, dtype=dtype)
        if start.init_from is not None:
            model = HawkModel.from_pretrained(start.init_from, device=dev, dtype=dtype)
            if model.config.to_dict() != start.model_config.to_dict():
                model = rebuild_with(model, start.model_config, self.device, dtype, start.init_from)
            return model
        return HawkModel.build(start.model_config, device=dev, dtype=dtype)

    def _prepare_data(self, train_recs: list[HawkRecord], test_recs: list[HawkRecord], feat_dtype: Any) -> int:
        """Features and phrases for every video; returns the number of videos."""
        ablate = set(self.model.config.loss.ablate)
        motion = "motion" not in ablate
        cache_dir = Path(self.cfg.cache_dir) if self.cfg.cache_dir else default_cache_dir()
        cache = feature_cache(self.model, cache_dir, self.cfg.cache_dtype, motion_branch=motion, amp=self.amp)
        videos = sorted({r.path for r in train_recs + test_recs}, key=str)
        failed = prepare_features(self.model, cache, videos, self.dist, self.amp, self._emit)
        if failed and self.cfg.fail_missing:  # raised on every rank alike
            raise DataError(f"{len(failed)} videos cannot be read, first: {failed[0]}")
        if failed:
            self.skipped["unreadable"] = failed
            self._emit("note", text=f"skipped {len(failed)} unreadable videos (first: {failed[0]}); --fail-missing to stop instead")
        train_recs = [r for r in train_recs if cache.has(r.path)]
        test_recs = [r for r in test_recs if cache.has(r.path)]
        if not train_recs:
            raise DataError("no training video could be read")
        words = self.cfg.objective == "words"
        motion_words = words and self.cfg.words_from == "motion"
        # the motion phrases: L_ML's targets in the language stage; with --words-from motion, the bag's text
        needs_phrases = motion_words if words else motion and "ml" not in ablate
        phrases = prepare_phrases(cache.dir, train_recs + test_recs, self.dist, self._emit) if needs_phrases else None
        self.batches = BatchMaker(self.model, cache, None if words else phrases, seed=self.cfg.seed,
                                  ram_items=self.cfg.feature_ram_items, device=self.device, feat_dtype=feat_dtype, motion=motion)
        if self.model.guided and not words:  # head.guide: the prompts name each record's own class (the teacher's)
            self.batches.guide_field = self.cfg.label_field
        if words:
            from ..data.words import WordVocab

            self._word_text = (lambda r: phrases.get(r.text) if r.text else None) if motion_words else (lambda r: r.text)
            # WordVocab's own message covers the descriptions; the motion language says what it looked for
            needs = {"needs": "motion language (--words-from motion), and no training description has a motion phrase (a verb with its subject or object)"} if motion_words else {}
            clusters = int(self.cfg.word_clusters) if self.cfg.words_loss == "clusters" else 0
            self.words = WordVocab(self.model.tokenizer, [self._word_text(r) for r in train_recs], clusters=clusters,
                                   seed=self.cfg.seed, **needs)
            what = "motion language" if motion_words else "training texts"
            if self.classes is not None:
                unlabelled = f", {self.classes.missing} of {len(train_recs)} training videos unlabelled" if self.classes.missing else ""
            scored = {"tags": "each a yes/no tag", "contrastive": "each text against the batch's others",
                      "clusters": f"as {self.words.clusters} text clusters",
                      "labels": f"as the {len(self.classes or ())} classes of the records' {self.cfg.label_field!r}{unlabelled if self.classes else ''}"
                      }.get(self.cfg.words_loss, "one bag")
            self._emit("note", text=f"alignment stage: {len(self.words)} words in the {what}, {scored}")
        elif self._label_head():
            unlabelled = f", {self.classes.missing} of {len(train_recs)} training videos unlabelled" if self.classes.missing else ""
            self._emit("note", text=f"language stage + {self.cfg.label_weight:g} x a class head on the visual tokens: the "
                                    f"{len(self.classes)} classes of the records' {self.cfg.label_field!r}{unlabelled}")
        test_items = self._items(test_recs)
        if self.cfg.eval_max_items:
            test_items = test_items[: self.cfg.eval_max_items]
        self.train_split = Split(train_recs, self._items(train_recs))
        if not self.train_split.items:
            raise DataError("no training record has a description or caption")
        self.eval_split = Split(test_recs, test_items)
        return len(videos)

    def _items(self, records: list[HawkRecord]) -> list:
        """The records' training items; for objective words only the description (or caption)
        items, one per video: its bag of words."""
        items = build_items(records)
        return [it for it in items if it.task == TASK_DESCRIPTION] if self.cfg.objective == "words" else items

    def _restore(self, ckpt: Path | None) -> None:
        """Optimiser, schedule, data order and RNG from ``ckpt`` (or fresh seeds)."""
        import torch

        d = self.dist
        if ckpt is None:
            seed_all(self.cfg.seed + d.rank)
            return
        st = torch.load(ckpt / STATE_FILE, map_location="cpu", weights_only=False)
        self.step = int(st["step"])
        head = self.model.cluster_head
        if head is not None:
            if st.get("cluster_head") is None or st["cluster_head"]["weight"].shape != head.weight.shape:
                raise CheckpointError(f"{ckpt}: the run's class head is missing or of another size ({self._head_size()} classes now); "
                                      "the training texts, --word-clusters or the records' labels changed since it was saved")
            if self.classes is not None and st.get("head_classes") != self.classes.names:
                raise CheckpointError(f"{ckpt}: the run's head names other classes ({st.get('head_classes')}) than the records' "
                                      f"{self.cfg.label_field!r} now ({self.classes.names})")
            head.load_state_dict(st["cluster_head"])
        self.optim.load_state_dict(st, self.step)
        self.order.load_state_dict(st["order"])
        rngs = st["rng"]
        if len(rngs) == d.world:
            set_rng_state(rngs[d.rank])
        else:
            seed_all(self.cfg.seed + 1000003 * self.step + d.rank)
            self._emit("note", text=f"checkpoint had {len(rngs)} processes, this run {d.world}: RNG reseeded (not bitwise-identical)")

    def _wrap_ddp(self) -> Any:
        if not self.dist.active:
            return self.model
        import inspect

        from torch.nn.parallel import DistributedDataParallel as DDP

        # frozen buffers never change: no per-forward buffer sync. Ablations leave trainable
        # parameters out of the graph (e.g. the compression heads without L_MV).
        params = inspect.signature(DDP).parameters
        sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}
        # so do a head on the motion encoder (head_on encoder): the projections to the LLM get no gradient then
        unused = bool(self.model.config.loss.ablate) or (self._head_size() > 0 and self.cfg.head_on == "encoder")
        return DDP(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                   find_unused_parameters=unused, **sync)

    def setup(self) -> int:
        """Everything before the first step; returns the number of videos."""
        from ..runtime import autocast_dtype, resolve_device

        d = self.dist
        self.start = resolve_start(self.run_dir, self.req, self.explicit)
        self.cfg = self.start.train_config
        train_recs, test_recs = self._records()  # bad data fails before a (slow) model build
        if (self.cfg.objective == "words" and self.cfg.words_loss == "labels") or self._label_head():  # so do missing labels
            from ..data.words import ClassLabels

            self.classes = ClassLabels(self.cfg.label_field, [r.extra.get(self.cfg.label_field) for r in train_recs])
        if self._label_head():  # the language stage's class head is the model's own: in its config and adapter
            self._set_model_head(self.classes.names)
        self.device = resolve_device(self.cfg.device, local_rank=d.local_rank if d.active else None)
        self.amp = autocast_dtype(self.cfg.precision, self.device)
        seed_all(self.cfg.seed)
        self._emit("note", text=f"building the model on {self.device}")
        self.model = self._build_model(self.start)
        if self.cfg.freeze_encoder:
            self.model.freeze_motion_encoder()
        heads = self.cfg.objective == "words" and self.cfg.words_loss in ("clusters", "labels")
        if heads and self.cfg.head_on == "encoder":  # refused here, before the (slow) feature extraction, without a flow_cnn
            self.model.train_motion_encoder_only()
            self._emit("note", text="class head on the motion encoder: the encoder trains alone; the Q-Formers and "
                                    "projections stay as initialised (L_MV alone would collapse them)")
        own_head = bool(self.model.config.head.classes)
        if own_head:  # trained by --label-weight, else kept as it is (no gradient reaches it)
            self.model.cluster_head.requires_grad_(self._label_head())
            self.model.head_weight = self.cfg.label_weight
        # the frame head is fitted outside hawk train (recipes/fit_head.py --frames) and no loss here reaches
        # it; the class head's own encoder (head.on own_encoder) trains only with the class head. What no
        # gradient reaches stays out of the optimiser (and out of DDP's reduction).
        for fitted, trains in ((self.model.head_encoder, self._label_head()), (self.model.frame_head, False),
                               (self.model.frame_proj, False)):
            if fitted is not None:
                fitted.requires_grad_(trains)
        trainable = list(self.model.trainable_parameters())
        if not trainable:
            raise ConfigError("the model has no trainable parameters")
        n_videos = self._prepare_data(train_recs, test_recs, trainable[0].dtype)
        if self._head_size() and not own_head:  # the alignment stage's scaffold head
            trainable += list(self.model.add_cluster_head(self._head_size(), on=self.cfg.head_on).parameters())
        self.optim = _Optim(trainable, self.cfg, self.device, self.amp)
        self.order = DataOrder(len(self.train_split.items), self.cfg.batch_size * d.world, self.cfg.seed)
        self._restore(self.start.checkpoint)
        if self.model.guided and self.cfg.objective == "language" and not self._label_head() \
                and not bool(self.model.cluster_head.weight.detach().abs().sum()):
            raise ConfigError("head.guide names the class head's class in the prompt, but the head is untrained: "
                              "pass --label-weight (e.g. 1) to train it, or --init a model whose head was trained")
        if d.main:
            self._write_run_json()
            _trim_log(self.run_dir.metrics, self.step)
            _trim_log(self.run_dir.eval_log, self.step)
        d.barrier()
        self.net = self._wrap_ddp()
        return n_videos

    # -- steps ---------------------------------------------------------------------------

    def train_step(self) -> dict:
        """One optimiser step (``grad_accum`` micro-steps); returns its metrics record."""
        import torch

        d, cfg = self.dist, self.cfg
        t0 = time.perf_counter()
        sums = dict.fromkeys(self.loss_names, 0.0)
        self.optim.opt.zero_grad(set_to_none=True)
        for micro in range(cfg.grad_accum):
            picks = self.order.next()
            mine = picks[d.rank * cfg.batch_size : (d.rank + 1) * cfg.batch_size]
            fv, fm, batch = self._batch(self.train_split, mine, "train")
            last = micro == cfg.grad_accum - 1
            with self.net.no_sync() if (d.active and not last) else contextlib.nullcontext():
                with torch.autocast(self.device.type, dtype=self.amp, enabled=self.amp is not None):
                    out = self.net(fv, fm, batch)
                self.optim.scaler.scale(out.loss / cfg.grad_accum).backward()
            for k, v in _loss_values(out, self.loss_names).items():
                sums[k] += v
        losses, _ = _reduce_mean(d, sums, float(cfg.grad_accum))
        if not math.isfinite(losses["loss"]):
            self._stop_on_nan(losses["loss"])
        lr, gnorm = self.optim.step(cfg.max_grad_norm)
        self.step += 1
        return {"step": self.step, **losses, "lr": lr, "grad_norm": gnorm, "epoch": self.order.epoch,
                "step_time": round(time.perf_counter() - t0, 4)}

    def _set_model_head(self, classes: list[str]) -> None:
        """Give the run's model config the class head of ``classes`` (a resumed run's config
        already has it: then its classes must be the records' now)."""
        import dataclasses

        cfg = self.start.model_config
        if self.start.checkpoint is not None:
            if list(cfg.head.classes) != list(classes):
                raise CheckpointError(f"the run's head names other classes ({list(cfg.head.classes)}) than the records' "
                                      f"{self.cfg.label_field!r} now ({list(classes)})")
            return
        if list(cfg.head.classes) != list(classes):
            self.start = dataclasses.replace(self.start, model_config=cfg.with_overrides({"head": {"classes": list(classes)}}))

    def _head_size(self) -> int:
        """Classes of the alignment stage's head: text clusters or record labels (0: no head)."""
        if self.classes is not None:
            return len(self.classes)
        return self.words.clusters if self.words is not None else 0

    def _batch(self, split: Split, picks: list, name: str) -> tuple[Any, Any, Any]:
        """(feats_v, feats_m, TextBatch), or a WordBatch for objective words."""
        if self.words is None:
            fv, fm, batch = self.batches.batch(split, picks, name)
            if self.classes is not None:  # train.label_weight: each item's record class
                import torch

                recs = [split.records[split.items[i].record] for i, _, _ in picks]
                batch.classes = torch.tensor([self.classes.of(r.extra.get(self.classes.field)) for r in recs],
                                             dtype=torch.long, device=batch.input_ids.device)
            return fv, fm, batch
        fv, fm, recs, _ = self.batches.features_of(split, picks)
        labels = None if self.classes is None else [self.classes.of(r.extra.get(self.classes.field)) for r in recs]
        return fv, fm, self.words.batch([self._word_text(r) for r in recs], mode=self.cfg.words_loss, labels=labels).to(self.device)

    def _stop_on_nan(self, loss: float) -> None:
        latest = self.run_dir.latest() if self.run_dir.latest_json.is_file() else None
        hint = (f"Last good checkpoint: {latest} (resume with --resume, perhaps with a lower --lr)" if latest
                else "No checkpoint was written yet; try a lower --lr")
        raise TrainingError(f"loss became {loss} at step {self.step + 1}; stopped. {hint}")

    def evaluate(self) -> dict | None:
        """The held-out losses (means over items); appended to eval.jsonl."""
        import torch

        split = self.eval_split
        if not split.items:
            return None
        self.model.eval()
        mine = list(range(len(split.items)))[self.dist.rank :: self.dist.world]
        sums = dict.fromkeys(self.loss_names, 0.0)
        count = 0.0
        head = [0.0, 0.0]  # the class head's right answers and labelled items (words_loss clusters / labels)
        self._emit("phase", name="eval", total=len(mine))
        with torch.no_grad():
            for s in range(0, len(mine), self.cfg.batch_size):
                picks = [(i, 0, i) for i in mine[s : s + self.cfg.batch_size]]
                fv, fm, batch = self._batch(split, picks, "eval")
                with torch.autocast(self.device.type, dtype=self.amp, enabled=self.amp is not None):
                    out = self.model(fv, fm, batch)
                for k, v in _loss_values(out, self.loss_names).items():
                    sums[k] += v * len(picks)
                count += len(picks)
                if getattr(out, "head_logits", None) is not None:
                    target = batch.classes if self.words is None else batch.labels  # language stage / alignment stage
                    has = target >= 0
                    head[0] += float((out.head_logits.argmax(-1) == target)[has].sum())
                    head[1] += float(has.sum())
                self._emit("advance", name="eval", n=len(picks))
        means, total = _reduce_mean(self.dist, sums, count)
        rec = {"step": self.step, **{f"eval_{k}": v for k, v in means.items()}, "items": int(total)}
        if self._head_size():
            right, labelled = self.dist.all_reduce_sum(head)
            if labelled:  # the head's accuracy on the held-out items that have a class
                rec["eval_head_accuracy"] = right / labelled
        if self.dist.main:
            with open(self.run_dir.eval_log, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
        self._emit("eval", metrics=rec)
        self.model.train()
        return rec

    def checkpoint(self) -> None:
        """Write checkpoints/step-N atomically, then point latest.json at it; prune old ones."""
        import torch

        rngs = self.dist.gather_objects(rng_state())
        if self.dist.main:
            target = self.run_dir.checkpoint(self.step)
            with atomic_path(target, is_dir=True) as tmp:
                self.model.save_pretrained(tmp)
                head = self.model.cluster_head
                state = {"step": self.step, **self.optim.state_dict(), "order": self.order.state_dict(),
                         "rng": rngs, "world_size": self.dist.world,
                         "cluster_head": None if head is None else {k: v.detach().cpu() for k, v in head.state_dict().items()},
                         "head_classes": None if self.classes is None else list(self.classes.names)}
                torch.save(state, tmp / STATE_FILE)
                write_json(tmp / "train_config.json", self.cfg.to_dict())
            self.run_dir.mark_latest(self.step)
            self.run_dir.prune(self.cfg.keep_checkpoints)
            self._emit("saved", step=self.step, path=str(target))
        self.dist.barrier()

    # -- the run -------------------------------------------------------------------------

    def run(self) -> dict:
        n_videos = self.setup()
        cfg = self.cfg
        self._emit("phase", name="train", total=cfg.steps, completed=self.step,
                   info={"train_items": len(self.train_split.items), "eval_items": len(self.eval_split.items), "videos": n_videos,
                         "world": self.dist.world, "device": str(self.device),
                         "precision": str(self.amp).replace("torch.", "") if self.amp else "fp32"})
        last_eval: dict | None = None
        first_step, t_start = self.step, time.perf_counter()
        metrics_f = open(self.run_dir.metrics, "a", encoding="utf-8") if self.dist.main else None
        try:
            self.model.train()
            while self.step < cfg.steps:
                rec = self.train_step()
                if metrics_f is not None:
                    metrics_f.write(json.dumps(rec) + "\n")
                    metrics_f.flush()
                self._emit("step", metrics=rec)
                if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < cfg.steps:
                    last_eval = self.evaluate()
                if self.step == cfg.steps or (cfg.save_every and self.step % cfg.save_every == 0):
                    self.checkpoint()
            if self.eval_split.items and (last_eval is None or last_eval["step"] != self.step):
                last_eval = self.evaluate()
            if self.dist.main:
                self.model.save_pretrained(self.run_dir.model)
        finally:
            if metrics_f is not None:
                metrics_f.close()
        return self._summary(self.step - first_step, time.perf_counter() - t_start, last_eval)

    def _summary(self, steps_run: int, elapsed: float, last_eval: dict | None) -> dict:
        return {
            "out": str(self.out),
            "step": self.step,
            "steps_run": steps_run,
            "seconds": round(elapsed, 2),
            "seconds_per_step": round(elapsed / steps_run, 4) if steps_run else None,
            "train_items": len(self.train_split.items),
            "eval_items": len(self.eval_split.items),
            "eval": last_eval,
            "skipped_missing": len(self.skipped["missing"]),
            "skipped_unreadable": len(self.skipped["unreadable"]),
            "model": str(self.run_dir.model),
        }

    def _write_run_json(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        if self.run_dir.run_json.is_file():
            return
        init = self.start.init_from if self.start is not None else None
        write_json(self.run_dir.run_json, {
            "data": str(Path(self.req.data).resolve()),
            "stage": self.cfg.stage,
            "init": str(init) if init else None,
            "preset": self.req.preset,
            "world_size": self.dist.world,
            "model": self.model.config.to_dict(),
            "train": self.cfg.to_dict(),
            "skipped": self.skipped,
        })


def _trim_log(path: Path, step: int) -> None:
    """Drop log lines past ``step`` (written after the checkpoint we resume from); a torn
    last line (a kill mid-write) ends the log."""
    if not path.is_file():
        return
    from ..io import read_jsonl_prefix

    keep = [r for r in read_jsonl_prefix(path) if int(r.get("step", 0)) <= step]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")


def train(req: TrainRequest, events: Event | None = None, *, explicit: set[str] | None = None) -> dict:
    """Run (or resume) one training run; returns a summary dict. Joins a torchrun process group
    when the environment describes one."""
    d = init_distributed(req.train.device)
    try:
        return Trainer(req, events, d, explicit=frozenset(explicit or ())).run()
    finally:
        d.close()


__all__ = ["LOSS_NAMES", "Trainer", "TrainRequest", "train"]
