"""Typed configuration of the HAWK model, saved beside its weights (``config.json``).

Nested sub-configs; the dimensions shared between parts (the frame-feature width the video
Q-Former cross-attends to, the LLM width the projection maps into) are read from the built
backbones in one place (:meth:`hawk_core.model.hawk.HawkModel.build`), never duplicated here.

The presets and the ``paper`` / ``release`` profiles it starts from live in
:mod:`hawk_core.model.presets`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from collections.abc import Sequence

from ..embedded import IMAGENET_MEAN, IMAGENET_STD
from ..errors import ConfigError
from ..media.motion_config import MotionConfig
from .presets import PRESET_DICTS, PRESETS, PROFILE_FIELDS, PROFILES, profile_overrides

#: What a class head reads (the alignment stage's, ``train.head_on``; the model's own, ``head.on``):
#: the visual tokens' mean, or the learnt motion encoder's own tokens pooled.
HEAD_INPUTS = ("tokens", "encoder")
#: What the model's own class head (``head.on``) may read: those, or (``own_encoder``) its own
#: learnt encoder over the motion input, trained for the classes alone.
HEAD_READS = HEAD_INPUTS + ("own_encoder",)

VISION_KINDS = ("blip2", "efficientnet_lite0")
LLM_KINDS = ("hf", "smollm2", "random")
PROMPT_FORMATS = ("auto", "chat_template", "plain", "release")
POSITION_EXTEND = ("interpolate", "error")
MV_MODES = ("per_sample", "flattened")
ABLATIONS = ("motion", "mv", "ml")
RESIZE_MODES = ("squash", "crop", "pad")
MOTION_ENCODERS = ("pretrained", "release", "flow_cnn")
MOTION_QUERIES = ("shared", "trainable")
FRAME_INDICES = ("centre", "start")
SHORT_CLIPS = ("repeat", "all")
#: The seed offset of the release construction's random motion Q-Former (``seed + 4``).
MOTION_QFORMER_SEED_OFFSET = 4

# Normalisation each backbone was trained with (ImageNet's, for EfficientNet-Lite, lives with
# the embedded weights it belongs to).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # BLIP-2 / EVA-CLIP
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{_prefix(obj)}{name} must be a positive integer, got {value!r}")


def _prefix(obj: Any) -> str:
    return getattr(obj, "_section", "") + "."


def _flag(obj: Any, name: str) -> None:
    if not isinstance(getattr(obj, name), bool):
        raise ConfigError(f"{_prefix(obj)}{name} must be true or false, got {getattr(obj, name)!r}")


def _choice(obj: Any, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(obj, name)
    if value not in choices:
        raise ConfigError(f"{_prefix(obj)}{name}: unknown value {value!r}; choose one of {', '.join(choices)}")


@dataclass
class VisionConfig:
    """Frozen image encoder (+ optional frozen image Q-Former), shared by both branches.

    ``kind``: ``blip2`` (EVA ViT + Q-Former from a BLIP-2 checkpoint at ``source``, a local
    folder or hub id; ``random_init`` builds a random one of the ``random_*`` sizes instead) or
    ``efficientnet_lite0`` (``source`` None: the embedded ImageNet weights).

    ``normalize``: pixels normalised with the backbone's mean/std (True, as the backbones
    were trained) or left in [0, 1] (False: the authors' release, whose processors define the
    CLIP mean/std but never apply them).

    ``motion_encoder`` (blip2 with the image Q-Former only): the frozen image path of the
    motion branch. ``pretrained`` (the paper's intent): the same pretrained BLIP-2 parts as the
    appearance branch. ``release`` (the authors' construction): the EVA ViT, then a fresh
    LayerNorm (weight 1, bias 0, eps 1e-5) instead of BLIP-2's trained one, then a randomly
    initialised frozen Q-Former of the BLIP-2 Q-Former's shape (normal(0, 0.02) weights, zero
    biases), drawn with ``torch.manual_seed(seed + 4)`` on the CPU in float32. The release
    never seeds its own, so its random Q-Former cannot be rebuilt by anyone: a checkpoint
    trained on it sees other motion features under either choice.

    ``flow_cnn`` (any kind; hawk's own, not the paper's): the motion branch does not use the
    frozen encoder at all but a small CNN trained with the adapter
    (:class:`hawk_core.model.motion_encoder.FlowEncoder`) on each frame's RGB and Farneback
    flow (dx, dy: direction kept) at ``flow_size`` px; ``flow_width`` sets its size. The
    cached motion "features" are then that input, (T, flow_size^2, 5) per video.

    ``motion_queries`` (blip2 with the image Q-Former only): the query tokens of the motion
    branch's image Q-Former. ``shared``: the pretrained BLIP-2 queries, frozen. ``trainable``:
    the motion branch's own queries (``branches.motion.image_queries``, the release's
    ``query_tokens_motion``, which its freezing code leaves trainable), saved with the adapter.
    They are then part of the trainable path, so the cached motion features are the ViT's
    tokens (257 x 1408 per frame for EVA-g) rather than the Q-Former's 32 x 768.
    """

    _section = "vision"
    kind: str = "blip2"
    source: str | None = None
    image_qformer: bool = True  # blip2 only: run the BLIP-2 Q-Former (32 tokens per frame)
    image_size: int = 224
    mean: tuple[float, float, float] | None = None  # None: the backbone's own
    std: tuple[float, float, float] | None = None
    random_init: bool = False
    random_hidden_size: int = 32
    random_layers: int = 1
    random_heads: int = 2
    random_patch_size: int = 16
    random_qformer_hidden_size: int = 32
    random_qformer_layers: int = 1
    random_qformer_heads: int = 2
    random_qformer_queries: int = 8
    normalize: bool = True
    motion_encoder: str = "pretrained"
    motion_queries: str = "shared"
    flow_size: int = 112  # motion_encoder flow_cnn: its input's side in pixels
    flow_width: int = 64  # motion_encoder flow_cnn: channels of its second stage (tokens are 2x wide)

    def __post_init__(self) -> None:
        _choice(self, "kind", VISION_KINDS)
        _choice(self, "motion_encoder", MOTION_ENCODERS)
        _choice(self, "motion_queries", MOTION_QUERIES)
        _flag(self, "normalize")
        needs_qformer = self.motion_encoder == "release" or self.motion_queries != "shared"
        if needs_qformer and not (self.kind == "blip2" and self.image_qformer):
            raise ConfigError(f"vision.motion_encoder {self.motion_encoder!r} / vision.motion_queries {self.motion_queries!r} "
                              "need kind 'blip2' with image_qformer (they change the motion branch's image Q-Former)")
        if self.learnt_motion and self.motion_queries != "shared":
            raise ConfigError("vision.motion_encoder 'flow_cnn' replaces the motion branch's image path, so it has no image "
                              f"Q-Former queries: vision.motion_queries must be 'shared', got {self.motion_queries!r}")
        _positive(self, "flow_size", "flow_width")
        if self.flow_size % 16:
            raise ConfigError(f"vision.flow_size must be a multiple of 16 (the flow encoder halves it four times), got {self.flow_size}")
        if self.flow_width % 16:
            raise ConfigError(f"vision.flow_width must be a multiple of 16, got {self.flow_width}")
        _positive(self, "image_size", "random_hidden_size", "random_layers", "random_heads", "random_patch_size")
        _positive(self, "random_qformer_hidden_size", "random_qformer_layers", "random_qformer_heads", "random_qformer_queries")
        for name in ("mean", "std"):
            v = getattr(self, name)
            if v is not None:
                if len(v) != 3:
                    raise ConfigError(f"vision.{name} must have 3 values (RGB), got {v!r}")
                setattr(self, name, tuple(float(x) for x in v))
        if self.std is not None and min(self.std) <= 0:
            raise ConfigError(f"vision.std must be > 0, got {self.std}")
        if self.kind == "blip2" and not self.random_init and not self.source:
            raise ConfigError("vision.source is required for kind 'blip2' (a BLIP-2 folder or hub id), or set vision.random_init")
        if self.kind == "efficientnet_lite0" and self.image_qformer:
            raise ConfigError("vision.image_qformer is only available with kind 'blip2'")
        if self.random_init and self.image_size % self.random_patch_size:
            raise ConfigError(f"vision.image_size {self.image_size} is not a multiple of random_patch_size {self.random_patch_size}")

    @property
    def learnt_motion(self) -> bool:
        """The motion branch has its own trainable frame encoder (``motion_encoder`` ``flow_cnn``)."""
        return self.motion_encoder == "flow_cnn"

    @property
    def norm_mean(self) -> tuple[float, float, float]:
        return self.mean or (CLIP_MEAN if self.kind == "blip2" else IMAGENET_MEAN)

    @property
    def norm_std(self) -> tuple[float, float, float]:
        return self.std or (CLIP_STD if self.kind == "blip2" else IMAGENET_STD)


@dataclass
class VideoQFormerConfig:
    """The trainable video Q-Former of each branch: BERT-style post-LN layers (self-attention
    over the queries, cross-attention to all frame tokens, feed-forward), ``num_query_tokens``
    learned queries, and a learned frame-position embedding of ``max_frames`` rows added to
    every token of a frame.

    More frames than ``max_frames``: ``position_extend='interpolate'`` resamples the position
    table linearly to T rows (first and last rows kept, as ViTs extend patch positions);
    ``'error'`` refuses. Fewer frames use the first T rows (as the release does).
    """

    _section = "video_qformer"
    hidden_size: int = 768
    num_layers: int = 2
    num_heads: int = 12
    intermediate_size: int = 3072
    num_query_tokens: int = 32
    max_frames: int = 32
    position_extend: str = "interpolate"
    dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        _positive(self, "hidden_size", "num_layers", "num_heads", "intermediate_size", "num_query_tokens", "max_frames")
        _choice(self, "position_extend", POSITION_EXTEND)
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"video_qformer.hidden_size {self.hidden_size} is not divisible by video_qformer.num_heads {self.num_heads}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"video_qformer.dropout must be in [0, 1), got {self.dropout}")


@dataclass
class ProjectionConfig:
    """P (to the LLM) and C (to the tight space) of each branch, sharing their first layers.

    ``x -> in (q->h) -> shared (h->h) x shared_layers -> { to_llm (h->h) : LLM tokens,
    to_tight (h->tight_dim) : tight space }``, no nonlinearities (the release's
    llama_proj_0, encoder_0, decoder_2, encoder_1). ``h`` is the LLM width.
    """

    _section = "projection"
    shared_layers: int = 1
    tight_dim: int = 256

    def __post_init__(self) -> None:
        if not isinstance(self.shared_layers, int) or self.shared_layers < 0:
            raise ConfigError(f"projection.shared_layers must be an integer >= 0, got {self.shared_layers!r}")
        _positive(self, "tight_dim")


@dataclass
class LoRAConfig:
    _section = "llm.lora"
    enabled: bool = False
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")

    def __post_init__(self) -> None:
        _positive(self, "r", "alpha")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"llm.lora.dropout must be in [0, 1), got {self.dropout}")
        self.target_modules = tuple(self.target_modules)
        if not self.target_modules:
            raise ConfigError("llm.lora.target_modules must not be empty")


@dataclass
class LLMConfig:
    """The frozen LLM. ``kind``: ``smollm2`` (``source`` None: the embedded GGUF, converted
    once and cached; or a SmolLM2 folder / hub id), ``hf`` (any causal LM folder or hub id in
    ``source``, e.g. LLaMA-2-7B-chat), ``random`` (a LLaMA of the ``random_*`` sizes with an
    in-memory byte-level tokenizer, for tests).

    ``prompt_format``: ``auto`` uses the tokenizer's chat template when it has one, else
    ``plain`` ("USER: ... ASSISTANT: ..."); both carry the paper's instruction sentence.
    ``release``: the authors' stage-2 training prompt, character for character (LLaMA-2 chat,
    a system block of one space, both token groups inside ``<Video>...</Video>``, then "The
    video contains T frames sampled at t0, t1, ... seconds." and the question; see
    :func:`hawk_core.language.prompts.render_release_prompt`); ``system_prompt`` replaces the
    one space when set.
    """

    _section = "llm"
    kind: str = "hf"
    source: str | None = None
    prompt_format: str = "auto"
    system_prompt: str | None = None
    max_length: int = 1024  # text tokens per sample (prompt + answer), truncated beyond
    gradient_checkpointing: bool = False
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    random_hidden_size: int = 64
    random_layers: int = 2
    random_heads: int = 4
    random_intermediate_size: int = 128

    def __post_init__(self) -> None:
        if isinstance(self.lora, dict):
            self.lora = _build(LoRAConfig, self.lora, "llm.lora")
        _choice(self, "kind", LLM_KINDS)
        _choice(self, "prompt_format", PROMPT_FORMATS)
        _positive(self, "max_length", "random_hidden_size", "random_layers", "random_heads", "random_intermediate_size")
        if self.kind == "hf" and not self.source:
            raise ConfigError("llm.source is required for kind 'hf' (a folder or hub id)")


@dataclass
class LossConfig:
    """L = t0*L_VL + t1*L_MV + t2*L_ML (appendix C: 1, 0.1, 0.1).

    ``ablate``: ``motion`` drops the motion branch (no motion tokens, no L_MV, no L_ML),
    ``mv`` / ``ml`` drop a term (the paper's Table 3). ``mv_mode``: ``per_sample`` (default:
    1 - cos between each video's appearance and motion tight features, flattened over its
    tokens, averaged over the batch) or ``flattened`` (the release: one cosine between the
    whole flattened batches).
    """

    _section = "loss"
    t0: float = 1.0
    t1: float = 0.1
    t2: float = 0.1
    ablate: tuple[str, ...] = ()
    mv_mode: str = "per_sample"

    def __post_init__(self) -> None:
        for name in ("t0", "t1", "t2"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"loss.{name} must be a number >= 0, got {v!r}")
            setattr(self, name, float(v))
        if isinstance(self.ablate, str):
            self.ablate = (self.ablate,)
        self.ablate = tuple(dict.fromkeys(self.ablate))
        for a in self.ablate:
            if a not in ABLATIONS:
                raise ConfigError(f"loss.ablate: unknown ablation {a!r}; choose from {', '.join(ABLATIONS)}")
        _choice(self, "mv_mode", MV_MODES)

    @property
    def use_motion(self) -> bool:
        return "motion" not in self.ablate

    @property
    def use_mv(self) -> bool:
        return self.use_motion and "mv" not in self.ablate

    @property
    def use_ml(self) -> bool:
        return self.use_motion and "ml" not in self.ablate


@dataclass
class DataConfig:
    """How frames are sampled for this model (read by the data pipeline).

    ``frame_indices``: which native frame stands for each of the T equal segments of an
    N-frame video: ``centre`` (``floor((i + 0.5) * N / T)``) or ``start`` (``floor(i * N / T)``,
    the release's). ``short_clips`` (N < T): ``repeat`` frames to keep T, or take ``all`` N
    frames (T = N, the release's; the video Q-Former then uses its first N frame positions).
    """

    _section = "data"
    num_frames: int = 32
    size: int = 224
    resize: str = "squash"
    motion: MotionConfig = field(default_factory=MotionConfig)
    frame_indices: str = "centre"
    short_clips: str = "repeat"

    def __post_init__(self) -> None:
        if isinstance(self.motion, dict):
            try:
                self.motion = _build(MotionConfig, self.motion, "data.motion")
            except TypeError as e:
                raise ConfigError(f"data.motion: {e}") from None
        _positive(self, "num_frames", "size")
        if self.num_frames < 2:
            raise ConfigError(f"data.num_frames must be >= 2, got {self.num_frames}")
        _choice(self, "resize", RESIZE_MODES)
        _choice(self, "frame_indices", FRAME_INDICES)
        _choice(self, "short_clips", SHORT_CLIPS)


def _field_value(cfg: Any, path: str) -> Any:
    for part in path.split("."):
        cfg = getattr(cfg, part)
    return cfg


@dataclass
class HeadConfig:
    """A class head kept with the model (hawk's, not the paper's): a linear layer on the mean of
    both branches' visual tokens, naming one of ``classes`` (the records' ``train.label_field``
    values, e.g. `hawk synth`'s event types); ``on: encoder`` reads the learnt motion encoder's
    tokens instead, their mean and maximum over frames and cells (``vision.motion_encoder:
    flow_cnn``; ``recipes/fit_head.py`` fits it there); ``on: own_encoder`` gives the head its own
    learnt encoder (``head_encoder`` in the adapter: a second ``FlowEncoder`` of
    ``vision.flow_width`` over the same motion input, trained end to end on the classes by
    ``benchmarks/learned_probe.py --save`` and installed by ``recipes/fit_head.py --encoder-head``),
    read as ``encoder`` is, so the class comes from an encoder trained for it alone while the
    motion branch the LLM reads stays as it was. It is trained beside the paper's loss by
    ``train.label_weight`` and scores `hawk detect --scorer head`: a window's score is
    1 - P(``normal``). No classes: no head (every preset, the paper's model).

    ``guide`` (hawk's, off by default): the class the head reads is named in the prompt, in
    ``guide_text`` after the question, so the LLM writes about an event it is told rather
    than one it must find in 64 soft tokens (tag-guided captioning, as Tag2Text guides its
    decoder with predicted tags). In training the prompt names the record's own class (the
    teacher's), at inference the head's most probable one; records without a class get no
    guide sentence. ``guide_start`` (hawk's, off by default; needs ``frames``): the guide also
    says when the event starts, in ``guide_start_text`` after the class, for every class but
    ``normal``: in training the record's own ``time_span`` start (the teacher's), at inference
    the frame head's onset on the clip's sampled frames, the first time its probability reaches
    ``guide_start_threshold`` (linearly interpolated between frames; the most anomalous frame's
    time when none does: :func:`hawk_core.model.frame_head.onset_time`). The LLM then states a
    start the model read off the video instead of guessing one.

    ``frames`` (hawk's, off by default): a second head, one anomaly logit per sampled frame, on
    the learnt motion encoder's tokens of that frame (mean and maximum over its cells), beside
    their deviation from the clip's mean and the mean of the two neighbouring frames, so a frame
    is scored against the rest of its clip (:meth:`HawkModel.frame_probabilities`). Fitted on
    temporal ground truth by ``recipes/fit_head.py --frames``; it scores `hawk detect --scorer
    frames`. Independent of ``classes``. ``frames_span``: the seconds of video it reads at once,
    the typical duration of the clips it was fitted on (so a frame is read at the frame rate and
    against the context it was fitted with); `hawk detect` then scores clips of that span and
    gives each window the mean over the frames inside it. 0: each window is read on its own.
    ``frames_context``: how far the neighbours reach, K: for each j in 1..K the mean of frames
    t - j and t + j is read beside frame t (1: the two adjacent frames). ``frames_appearance``:
    0 reads the motion encoder alone; N > 0 also reads the appearance branch's frozen features
    of the frame (their mean and maximum over its tokens), projected to N components by a fixed
    linear map kept in the adapter (``frame_proj``; fit_head.py fits it as a PCA), so a frame
    can be judged by what is in it as well as by how it moves. ``frames_flow``: also the frame's
    flow statistics (direction histograms on a 3 x 3 grid, magnitude percentiles,
    :func:`hawk_core.model.frame_head.flow_statistics`). ``frames_model``: ``linear``, one logit
    per frame on those features with their context; or ``gru``, a bidirectional GRU of
    ``frames_hidden`` units over the clip's frames (the context is then the GRU's and
    ``frames_context`` is not read)."""

    _section = "head"
    classes: tuple[str, ...] = ()
    normal: str = "normal"  # the class that means "no anomaly" (detect's head score is 1 - its probability)
    on: str = "tokens"  # what it reads: the visual tokens' mean, the learnt motion encoder's mean + max, or its own encoder's (HEAD_READS)
    guide: bool = False  # name the head's class in the prompt (guide_text) after the question
    guide_text: str = "Event: {event}."  # the guide sentence; {event} is the class, underscores as spaces
    guide_start: bool = False  # the guide also names the event's start (the frame head's onset; needs frames)
    guide_start_text: str = "It starts at about {start} seconds."  # {start}: seconds, one decimal
    guide_start_threshold: float = 0.5  # the frame head's probability at which the event starts
    frames: bool = False  # a per-frame anomaly head on the learnt motion encoder (HawkModel.frame_probabilities)
    frames_span: float = 0.0  # seconds of video the frame head reads at once (its training clips'; 0: each window)
    frames_context: int = 1  # the frame head reads the means of frames t -/+ j for j = 1..frames_context
    frames_appearance: int = 0  # components of the appearance features the frame head reads (0: motion alone)
    frames_flow: bool = False  # the frame head also reads each frame's flow statistics
    frames_model: str = "linear"  # the frame head's form: linear (per frame, with context) or gru (over the clip)
    frames_hidden: int = 64  # the gru frame head's width

    def __post_init__(self) -> None:
        self.classes = tuple(self.classes)
        if any(not isinstance(c, str) or not c.strip() for c in self.classes):
            raise ConfigError("head.classes must be non-empty strings")
        if len(set(self.classes)) != len(self.classes):
            raise ConfigError("head.classes must be distinct")
        if self.classes and len(self.classes) < 2:
            raise ConfigError(f"head.classes needs at least 2 classes, got {list(self.classes)}")
        if not isinstance(self.normal, str):
            raise ConfigError(f"head.normal must be a string, got {self.normal!r}")
        if self.on not in HEAD_READS:
            raise ConfigError(f"head.on must be one of {', '.join(HEAD_READS)}, got {self.on!r}")
        if not isinstance(self.guide, bool):
            raise ConfigError(f"head.guide must be true or false, got {self.guide!r}")
        if not isinstance(self.frames, bool):
            raise ConfigError(f"head.frames must be true or false, got {self.frames!r}")
        if not isinstance(self.guide_start, bool):
            raise ConfigError(f"head.guide_start must be true or false, got {self.guide_start!r}")
        if self.guide_start and not (self.guide and self.frames):
            raise ConfigError("head.guide_start names the frame head's onset in the guide sentence: it needs head.guide and head.frames")
        t = self.guide_start_threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 1:
            raise ConfigError(f"head.guide_start_threshold must be a probability in (0, 1), got {t!r}")
        self.guide_start_threshold = float(t)
        if isinstance(self.frames_span, bool) or not isinstance(self.frames_span, (int, float)) or not (
                0 <= self.frames_span < float("inf")):
            raise ConfigError(f"head.frames_span must be seconds >= 0, got {self.frames_span!r}")
        self.frames_span = float(self.frames_span)
        if not isinstance(self.frames_flow, bool):
            raise ConfigError(f"head.frames_flow must be true or false, got {self.frames_flow!r}")
        if self.frames_model not in ("linear", "gru"):
            raise ConfigError(f"head.frames_model must be one of linear, gru, got {self.frames_model!r}")
        for name, low, high in (("frames_context", 1, 64), ("frames_appearance", 0, 4096), ("frames_hidden", 1, 4096)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"head.{name} must be an integer in [{low}, {high}], got {value!r}")
        for name, field in (("guide_text", "event"), ("guide_start_text", "start")):  # templates with one field each
            template = getattr(self, name)
            if not isinstance(template, str) or f"{{{field}}}" not in template:
                raise ConfigError(f"head.{name} must contain {{{field}}}, got {template!r}")
            try:
                template.format(**{field: "1.0"})
            except (KeyError, IndexError, ValueError) as e:
                raise ConfigError(f"head.{name}: only {{{field}}} may be filled in, got {template!r} ({e})") from None

    def guide_sentence(self, event: str, start: float | None = None) -> str:
        """The guide sentence naming ``event`` (a class; underscores read as spaces) and, with
        ``guide_start``, ``start`` (seconds; not for the ``normal`` class, nor when None)."""
        text = self.guide_text.format(event=event.replace("_", " ").strip())
        if self.guide_start and start is not None and event != self.normal:
            text = f"{text} {self.guide_start_text.format(start=f'{max(0.0, float(start)):.1f}')}"
        return text


_SECTIONS = {
    "vision": VisionConfig,
    "video_qformer": VideoQFormerConfig,
    "projection": ProjectionConfig,
    "llm": LLMConfig,
    "loss": LossConfig,
    "data": DataConfig,
    "head": HeadConfig,
}


def _build(cls, d: Any, section: str):
    if isinstance(d, cls):
        return d
    if not isinstance(d, dict):
        raise ConfigError(f"{section} must be a mapping, got {type(d).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = [k for k in d if k not in known]
    if unknown:
        raise ConfigError(f"unknown config key {section}.{unknown[0]}" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
                          + f"; known keys of {section}: {', '.join(sorted(known))}")
    kwargs = {}
    for f in fields(cls):
        if f.name not in d:
            continue
        v = d[f.name]
        sub = f.default_factory if f.default_factory is not dataclasses.MISSING else None  # type: ignore[misc]
        if isinstance(sub, type) and dataclasses.is_dataclass(sub) and isinstance(v, dict):
            v = _build(sub, v, f"{section}.{f.name}")
        elif isinstance(v, list):
            v = tuple(v)
        kwargs[f.name] = v
    try:
        return cls(**kwargs)
    except ConfigError as e:
        if str(e).startswith(section):
            raise
        raise ConfigError(f"{section}: {e}") from None


def _merge(base: dict, over: dict, path: str = "") -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v, f"{path}{k}.")
        else:
            out[k] = v
    return out


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(x) for x in obj]
    return obj


@dataclass
class HawkConfig:
    """The whole model: backbones, trainable parts, losses and the frame sampling it expects."""

    preset: str | None = None  # informational: the preset this config started from
    seed: int = 0  # seeds the random init (and the random frozen parts of ``tiny``)
    vision: VisionConfig = field(default_factory=lambda: VisionConfig(kind="blip2", random_init=True))
    video_qformer: VideoQFormerConfig = field(default_factory=VideoQFormerConfig)
    projection: ProjectionConfig = field(default_factory=ProjectionConfig)
    llm: LLMConfig = field(default_factory=lambda: LLMConfig(kind="random"))
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    head: HeadConfig = field(default_factory=HeadConfig)

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            v = getattr(self, name)
            if not isinstance(v, cls):
                setattr(self, name, _build(cls, v, name))
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")

    @property
    def profile(self) -> str:
        """``paper`` or ``release`` when every field of :data:`PROFILE_FIELDS` has that
        profile's value, else ``custom``."""
        for name in PROFILES:
            if all(_field_value(self, f.path) == getattr(f, name) for f in PROFILE_FIELDS):
                return name
        return "custom"

    @staticmethod
    def _apply_profile(base: dict, overrides: dict) -> tuple[dict, dict]:
        """(base with the profile named in ``overrides`` applied, the other overrides)."""
        overrides = dict(overrides)
        name = overrides.pop("profile", None)
        if name is None or name == "custom":
            return base, overrides
        return _merge(base, profile_overrides(name)), overrides

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict) -> HawkConfig:
        """Build from a (possibly partial) nested dict; a ConfigError names any unknown key.

        A ``preset`` key with the name of a preset starts from that preset and overrides it.
        """
        if not isinstance(d, dict):
            raise ConfigError(f"a config must be a mapping, got {type(d).__name__}")
        known = [f.name for f in fields(cls)] + ["profile"]
        unknown = [k for k in d if k not in known]
        if unknown:
            raise ConfigError(f"unknown config key {unknown[0]!r}; known: {', '.join(known)}")
        preset = d.get("preset")
        if preset in PRESETS:
            return cls.from_preset(preset, overrides={k: v for k, v in d.items() if k != "preset"})
        if "profile" in d:  # a saved config: its explicit values rule, the profile fills the rest
            base, rest = cls._apply_profile({}, d)
            d = _merge(base, rest)
        kwargs = {}
        for f in fields(cls):
            if f.name in d:
                kwargs[f.name] = _build(_SECTIONS[f.name], d[f.name], f.name) if f.name in _SECTIONS else d[f.name]
        return cls(**kwargs)

    @classmethod
    def from_preset(cls, name: str, overrides: dict | None = None) -> HawkConfig:
        """A preset (``tiny``, ``embedded``, ``paper``), optionally with nested overrides; a
        ``profile`` key in them applies that profile over the preset, under the others."""
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        base, rest = cls._apply_profile(PRESET_DICTS[name](), {k: v for k, v in (overrides or {}).items() if k != "preset"})
        merged = _merge(base, rest)
        cfg = cls.from_dict(merged)
        cfg.preset = name
        return cfg

    @classmethod
    def from_file(cls, path: str | Path) -> HawkConfig:
        """A JSON or YAML file (a full config, or ``preset: NAME`` plus overrides)."""
        from ..io import read_mapping_file

        return cls.from_dict(read_mapping_file(Path(path)))

    def with_overrides(self, overrides: dict | None = None, *, ablate: Sequence[str] | None = None) -> HawkConfig:
        """A copy with nested overrides applied (a ``profile`` key among them applies that
        profile first) and, when ``ablate`` is given, the loss ablations replaced by it."""
        base, rest = self._apply_profile({k: v for k, v in self.to_dict().items() if k not in ("preset", "profile")}, overrides or {})
        d = _merge(base, rest)
        if ablate is not None:
            bad = [a for a in ablate if a not in ABLATIONS]
            if bad:
                raise ConfigError(f"unknown ablation {bad[0]!r}; choose from {', '.join(ABLATIONS)}")
            d.setdefault("loss", {})["ablate"] = sorted(set(ablate))
        out = HawkConfig.from_dict(d)
        out.preset = self.preset
        return out

    def to_dict(self) -> dict:
        """Plain nested dict of every field, plus the (derived) ``profile`` it matches."""
        d = _to_plain(self)
        return {"preset": d.pop("preset"), "profile": self.profile, **d}

    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` into ``directory`` (atomically)."""
        from ..io import write_json

        path = Path(directory) / "config.json"
        write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, directory: str | Path) -> HawkConfig:
        path = Path(directory) / "config.json"
        if not path.is_file():
            raise ConfigError(f"no config.json in {directory}")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from None
        preset = d.pop("preset", None)
        cfg = cls.from_dict(d)
        cfg.preset = preset
        return cfg
