"""Every training hyperparameter (:class:`TrainConfig`; the model's live in
:class:`~hawk_core.model.config.HawkConfig`) and the run config file that holds both."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..data.cache import CACHE_DTYPES
from ..errors import ConfigError
from ..model.config import HEAD_INPUTS
from ..io import read_mapping_file
from ..runtime import check_precision

# train-config values a resumed run may change; the others must match the saved run
RESUME_MUTABLE = frozenset({"steps", "eval_every", "save_every", "keep_checkpoints", "device", "eval_max_items", "feature_ram_items", "cache_dir"})


#: ``language``: the paper's L_VL + t1 L_MV + t2 L_ML through the LLM. ``words``: the alignment
#: stage (:mod:`hawk_core.data.words`): the visual tokens predict their description's words.
OBJECTIVES = ("language", "words")

#: What the alignment stage's bag of words is made of. ``description``: every word of the
#: description (or caption). ``motion``: the words of its motion-related language Y_m (the
#: verbs with their subjects and objects, :mod:`hawk_core.language.phrases`, the target of
#: L_ML): the event's words, without the colours and clothes that share the description.
WORDS_FROM = ("description", "motion")

#: How the alignment stage scores a bag of words (:mod:`hawk_core.data.words`). ``bag``: one
#: softmax over the vocabulary against the text's IDF-weighted words (Joulin et al., 2016): the
#: words share one unit of mass, so an event's verb weighs a thirtieth of the target. ``tags``:
#: each word is its own yes/no (multi-label sigmoid over the prior's log-odds): the verb that
#: tells two events apart gets a whole binary loss of its own. ``contrastive``: each text (its
#: IDF-weighted words as one vector) against the other texts of the batch (BLIP-2's
#: image-text contrast with in-batch negatives): the tokens must tell their video's text from
#: the others', not only say common words. ``clusters``: the training texts are grouped by
#: k-means on their bags (``word_clusters`` of them), and a linear head on the visual tokens
#: must name the video's text cluster: a discriminative target without the false negatives of
#: in-batch contrast (a batch's other texts may say the same); the head is not kept.
#: ``labels``: the same head names a class the records give in a field of their own
#: (``label_field``: ``event_type``, which ``hawk synth`` writes; a video-level category such
#: as UCF-Crime's class names): weak video-level supervision instead of pseudo-labels.
WORDS_LOSSES = ("bag", "tags", "contrastive", "clusters", "labels")


def default_cache_dir() -> Path:
    base = os.environ.get("HAWK_CACHE") or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    sub = "" if os.environ.get("HAWK_CACHE") else "hawk"
    return Path(base) / sub / "features" if sub else Path(base) / "features"


@dataclass
class TrainConfig:
    """Every training hyperparameter (the model's live in :class:`HawkConfig`)."""

    stage: int = 2
    objective: str = "language"  # language: the paper's losses; words: hawk's alignment stage without the LLM
    words_from: str = "description"  # objective words: the bag of the description, or of its motion language (WORDS_FROM)
    words_loss: str = "bag"  # objective words: one softmax over the words (bag), a yes/no per word (tags), in-batch contrast (contrastive), the text's k-means cluster (clusters; WORDS_LOSSES)
    word_clusters: int = 12  # words_loss clusters: how many clusters the training texts are grouped into (at most one per distinct text)
    head_on: str = "tokens"  # words_loss clusters / labels: the head reads the visual tokens' mean (tokens) or the learnt motion encoder's pooled tokens (encoder; HEAD_INPUTS)
    label_field: str = "event_type"  # words_loss labels / label_weight: the records' field that names each video's class (records without it train only L_MV)
    label_weight: float = 0.0  # objective language: + label_weight x a class head's cross-entropy on the visual tokens' mean against label_field (hawk's; 0: the paper's loss alone)
    freeze_encoder: bool = False  # keep the learnt motion encoder (flow_cnn) fixed: the language stage after words
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
    precision: str = "auto"  # auto: bf16 (fp16 without bf16) on CUDA; on CPU bf16 where native (runtime.cpu_supports_bf16), else fp32
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
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.words_from not in WORDS_FROM:
            raise ConfigError(f"words_from must be one of {', '.join(WORDS_FROM)}, got {self.words_from!r}")
        if self.words_loss not in WORDS_LOSSES:
            raise ConfigError(f"words_loss must be one of {', '.join(WORDS_LOSSES)}, got {self.words_loss!r}")
        if self.objective == "words" and self.words_loss == "contrastive" and int(self.batch_size) < 2:
            raise ConfigError("words_loss contrastive needs batch_size >= 2: a video's only negatives are the other texts of its batch")
        if self.head_on not in HEAD_INPUTS:
            raise ConfigError(f"head_on must be one of {', '.join(HEAD_INPUTS)}, got {self.head_on!r}")
        if not self.label_field.strip():
            raise ConfigError("label_field must name a record field, got an empty string")
        if self.label_weight < 0 or not math.isfinite(self.label_weight):
            raise ConfigError(f"label_weight must be a finite number >= 0, got {self.label_weight}")
        if self.objective == "language" and self.label_weight > 0 and self.head_on != "tokens":
            raise ConfigError("label_weight: the language stage's class head reads the visual tokens; head_on must be tokens")
        if int(self.word_clusters) < 2:
            raise ConfigError(f"word_clusters must be >= 2, got {self.word_clusters}")
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
        self.precision = check_precision(self.precision)
        if self.cache_dtype not in CACHE_DTYPES:
            raise ConfigError(f"unknown cache_dtype {self.cache_dtype!r}; choose one of {', '.join(CACHE_DTYPES)}")

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        for k in d:
            if k not in names:
                raise ConfigError(f"unknown train config key {k!r} (known: {', '.join(sorted(names))})")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


def read_config_file(path: Path) -> dict:
    """A run config file: ``{"model": {...HawkConfig overrides...}, "train": {...TrainConfig...}}``
    as JSON or YAML. Unknown top-level keys raise :class:`ConfigError` naming them."""
    obj = read_mapping_file(Path(path))
    for k in obj:
        if k not in ("model", "train"):
            raise ConfigError(f"{path}: unknown config key {k!r} (expected sections: model, train)")
        if not isinstance(obj[k], dict):
            raise ConfigError(f"{path}: section {k!r} must be a mapping")
    return obj
