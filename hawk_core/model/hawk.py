"""HAWK: the dual-branch (appearance + motion) video-language model (paper section 4).

Data flow, per branch b in {video (X_v), motion (X_m)}::

    frames (B,T,3,S,S) -> frozen image encoder [-> frozen image Q-Former]   encode_visual()
        -> (B,T,N,D) frame tokens                                          (cached by the trainer)
        -> video Q-Former_b (+ frame positions) -> (B,Q,H)                 trainable
        -> in_b -> shared_b  -> to_llm_b   -> (B,Q,llm)  LLM tokens (P_b)
                             -> to_tight_b -> (B,Q,256)  tight space (C_b) -> L_MV

The LLM reads the paper's instruction with the Q appearance tokens spliced at
``<VIDEO_EMBEDDING>`` and the Q motion tokens at ``<MOTION_EMBEDDING>``, inside the LLM's
chat template (or, with ``llm.prompt_format='release'``, the authors' training prompt). L_VL
is its loss on the answer; L_ML the loss of the motion phrases Y_m given the motion tokens
alone.

The frozen image encoder is one module used by both branches: both load the same
pretrained weights (the paper), so holding it once is equivalent and halves its memory. The
release's motion branch differs (``vision.motion_encoder`` / ``vision.motion_queries``): its
own frozen LayerNorm and random Q-Former live in that module too, and its own trainable image
queries in ``branches.motion.image_queries``, applied in :meth:`HawkModel.visual_tokens`.

Frozen features ("feats") are a (B, T, N, D) tensor, or a list of B (T_i, N, D) tensors when
the videos have different frame counts (``data.short_clips='all'``); the video Q-Former
reads either, one group of equal T at a time.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ConfigError, HawkError, InputError
from . import losses, text
from .backbones import build_llm, build_vision
from .config import HEAD_INPUTS, HawkConfig
from .losses import IGNORE_INDEX
from .motion_encoder import flow_encoder_dim, pool_tokens
from .presets import PRESETS
from .qformer import Branch
from .text import MOTION_SLOT, VIDEO_SLOT, TextBatch, TextSample, WordBatch

_NO_ENCODER = "the model has no learnt motion encoder (vision.motion_encoder flow_cnn)"

#: Seed offset of the motion branch's own image queries when drawn at random (``seed + 5``).
IMAGE_QUERIES_SEED_OFFSET = 5
HEAD_ENCODER_SEED_OFFSET = 7  # the class head's own encoder (head.on own_encoder)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "adapter.safetensors"


@dataclass
class HawkOutput:
    """forward()'s result: the total loss and each term (0-d tensors; a term that is ablated
    or has no targets is 0), the LLM logits (B, L, V) when asked for (``full_logits``) and
    the tight features (B, Q, K)."""

    loss: torch.Tensor
    loss_vl: torch.Tensor
    loss_mv: torch.Tensor
    loss_ml: torch.Tensor
    logits: torch.Tensor | None = None
    tight_v: torch.Tensor | None = None
    tight_m: torch.Tensor | None = None
    loss_words: torch.Tensor | None = None  # the alignment stage's bag-of-words loss (hawk's, not the paper's)
    head_logits: torch.Tensor | None = None  # (B, C) the class head (words_loss clusters / labels, or train.label_weight)
    loss_label: torch.Tensor | None = None  # the language stage's class-head loss (train.label_weight; hawk's, not the paper's)


class HawkModel(nn.Module):
    """The HAWK model. Build with :meth:`build` (a config) or :meth:`from_pretrained`."""

    def __init__(self, config: HawkConfig, vision: nn.Module, llm: nn.Module, tokenizer):
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.vision = vision
        self.llm = llm
        llm_dim = llm.get_input_embeddings().weight.size(1)
        self.llm_dim = llm_dim
        self.branches = build_branches(config, vision.feature_dim, llm_dim, (vision.num_query_tokens, vision.feature_dim))
        queries = self.image_queries
        if queries is not None:
            with torch.no_grad():
                if config.vision.motion_encoder == "pretrained":
                    queries.copy_(vision.query_tokens)  # start from BLIP-2's queries
                else:  # the release's: a fresh normal(0, 0.02) draw
                    with torch.random.fork_rng(devices=[]):
                        torch.manual_seed(config.seed + IMAGE_QUERIES_SEED_OFFSET)
                        nn.init.normal_(queries, std=0.02)
        self.chat_format = text.chat_format(tokenizer, config.llm)
        self.encoder_frozen = False
        # the class head: the alignment stage's scaffold (add_cluster_head; never in the adapter), or
        # the model's own (config.head.classes: built here, in the adapter, read by `hawk detect --scorer head`)
        self.cluster_head: nn.Linear | None = None
        self.head_on = "tokens"  # what the cluster head reads (HEAD_INPUTS)
        self.head_weight = 1.0  # its loss's weight in the language stage (train.label_weight)
        # head.on own_encoder: the class head's own learnt encoder over the motion input (in the adapter)
        self.head_encoder: nn.Module | None = None
        if config.head.classes:
            width = llm_dim
            if config.head.on == "encoder":
                width = 2 * self._learnt_encoder("head.on encoder").dim
            elif config.head.on == "own_encoder":
                self._learnt_encoder("head.on own_encoder")  # it reads the learnt motion branch's input
                self.head_encoder = _head_encoder(config)
                width = 2 * self.head_encoder.dim
            self.cluster_head = _zero_linear(width, len(config.head.classes))
            self.head_on = config.head.on
        elif config.head.guide:
            raise ConfigError("head.guide names the class head's class in the prompt: the model needs head.classes "
                              "(train its head with `hawk train --label-weight`)")
        # the per-frame anomaly head (config.head.frames; fitted by recipes/fit_head.py --frames)
        # (head.frames_appearance > 0: the fixed projection of the appearance features it also reads)
        self.frame_head: nn.Module | None = None
        self.frame_proj: nn.Linear | None = None
        if config.head.frames:
            self._build_frame_head()

    def _build_frame_head(self) -> None:
        from .frame_head import build_frame_head

        h = self.config.head
        width = frame_feature_width(self._learnt_encoder("head.frames").dim, h)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            self.frame_head = build_frame_head(h.frames_model, width, h.frames_hidden).to(self.device)
        self.frame_proj = _zero_linear(2 * self.vision.feature_dim, h.frames_appearance).to(self.device) if h.frames_appearance else None

    def new_frame_head(self, **head) -> None:
        """Replace the frame head (``head.frames``) by a new, unfitted one with the given
        ``head.frames_*`` settings (``context=5, appearance=64, flow=True, model="gru",
        hidden=64, span=12.0``; the others as they were): what ``recipes/fit_head.py --frames``
        then fits. The rest of the model is unchanged."""
        self.config = self.config.with_overrides({"head": {"frames": True, **{f"frames_{k}": v for k, v in head.items()}}})
        self._build_frame_head()

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(
        cls, config: HawkConfig, *, device="cpu", dtype: torch.dtype | None = None, llm_dtype: torch.dtype | None = None
    ) -> HawkModel:
        """Build from a config: load the frozen backbones, initialise the trainable parts.

        ``dtype`` applies to the frozen backbones (e.g. bf16 on a GPU), ``llm_dtype`` (default:
        ``dtype``) to the LLM alone; trainable parts stay float32 and their outputs are cast at
        the boundaries.
        """
        if not isinstance(config, HawkConfig):
            raise ConfigError(f"expected a HawkConfig, got {type(config).__name__}")
        vision = build_vision(config.vision, seed=config.seed)
        if dtype is not None:
            vision = vision.to(dtype)
        llm, tok = build_llm(config.llm, seed=config.seed, dtype=llm_dtype or dtype)
        if config.llm.gradient_checkpointing:
            if hasattr(llm, "activation_checkpointing_enable"):  # transformers >= 5.x
                llm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            else:
                llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if config.llm.lora.enabled:
            llm = _apply_lora(llm, config)
        model = cls(config, vision, llm, tok)
        return model.to(device).train(False)

    @classmethod
    def from_pretrained(
        cls, path_or_preset: str | Path, *, device="cpu", dtype: torch.dtype | None = None, llm_dtype: torch.dtype | None = None
    ) -> HawkModel:
        """A checkpoint folder written by :meth:`save_pretrained` (config.json +
        adapter.safetensors), or a preset name (untrained). Strict: a CheckpointError names
        missing, unexpected or mis-shaped keys. ``dtype`` / ``llm_dtype``: as :meth:`build`."""
        path = Path(path_or_preset)
        if str(path_or_preset) in PRESETS and not path.exists():
            return cls.build(HawkConfig.from_preset(str(path_or_preset)), device=device, dtype=dtype, llm_dtype=llm_dtype)
        if not path.is_dir():
            raise CheckpointError(f"no checkpoint folder at {path} (nor a preset: {', '.join(PRESETS)})")
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            if not (path / name).is_file():
                raise CheckpointError(f"{path}: missing {name} (not a hawk checkpoint folder)")
        try:
            config = HawkConfig.load(path)
        except ConfigError as e:
            raise CheckpointError(f"{path / CONFIG_FILE}: {e}") from None
        model = cls.build(config, device=device, dtype=dtype, llm_dtype=llm_dtype)
        model.load_adapter(path / WEIGHTS_FILE)
        return model

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``adapter.safetensors`` (the trainable weights only; the
        frozen backbones are referenced by the config): :func:`write_checkpoint`."""
        state = {n: t.detach().to("cpu", copy=True) for n, t in self.adapter_tensors().items()}
        return write_checkpoint(directory, self.config, state)

    def adapter_tensors(self) -> dict[str, torch.Tensor]:
        """What an adapter file holds: every trainable parameter, and the buffers of the
        trainable branches (the learnt motion encoder's BatchNorm statistics; none otherwise)."""
        out: dict[str, torch.Tensor] = {f"branches.{n}": p for n, p in self.branches.named_parameters()}
        out.update({n: p for n, p in self.named_parameters()
                    if p.requires_grad and not n.startswith(("branches.", "cluster_head."))})  # LoRA
        out.update({f"branches.{n}": b for n, b in self.branches.named_buffers()})
        if self.config.head.classes:  # the model's own class head (a scaffold head is not kept)
            out.update({f"cluster_head.{n}": p for n, p in self.cluster_head.named_parameters()})
        if self.head_encoder is not None:  # head.on own_encoder: its weights and BatchNorm statistics
            out.update({f"head_encoder.{n}": t for n, t in (*self.head_encoder.named_parameters(), *self.head_encoder.named_buffers())})
        for name in ("frame_head", "frame_proj"):
            if getattr(self, name) is not None:
                out.update({f"{name}.{n}": p for n, p in getattr(self, name).named_parameters()})
        return out

    def class_probabilities(self, feats_v: torch.Tensor, feats_m: torch.Tensor | None) -> torch.Tensor:
        """(B, C) float32 softmax of the model's class head (``config.head.classes``, in that
        order) on the mean of both branches' visual tokens of each video's frozen features."""
        if not self.config.head.classes:
            raise ConfigError("this model has no class head (train one with `hawk train --label-weight`)")
        was_training = self.training
        self.eval()
        try:
            tok_v, _, tok_m, _ = self.visual_tokens(feats_v, feats_m)
            return self._head_logits(feats_m, tok_v, tok_m).softmax(-1).float()
        finally:
            self.train(was_training)

    def _head_logits(self, feats_m, tok_v: torch.Tensor, tok_m: torch.Tensor | None) -> torch.Tensor:
        """(B, C) class-head logits where the head reads (:attr:`head_on`, the model's own head's
        ``head.on``): the visual tokens' mean, or the learnt motion encoder's pooled tokens (the
        branch's, or the head's own: ``own_encoder``)."""
        if self.head_on in ("encoder", "own_encoder"):
            return self.cluster_head(self.encoder_pooled(feats_m, own=self.head_on == "own_encoder"))
        return self._token_head_logits(tok_v, tok_m)

    def encoder_pooled(self, feats_m, *, own: bool = False) -> torch.Tensor:
        """(B, 2 D) float32: the learnt motion encoder's tokens of each video's motion input
        ((B, T, N, C) or a list of (T, N, C)), their mean and maximum over frames and cells;
        ``own``: the class head's own encoder's (``head.on: own_encoder``)."""
        return torch.cat([pool_tokens(h) for h in self._encoder_tokens(feats_m, own=own)])

    def _learnt_encoder(self, what: str = "") -> nn.Module:
        """The learnt motion encoder (``vision.motion_encoder: flow_cnn``); a ConfigError,
        prefixed with ``what`` needs it, when the model has none."""
        enc = self.branches["motion"].encoder if "motion" in self.branches else None
        if enc is None:
            raise ConfigError(f"{what}: {_NO_ENCODER}" if what else _NO_ENCODER)
        return enc

    def _encoder_tokens(self, feats_m, *, own: bool = False) -> list[torch.Tensor]:
        """The learnt motion encoder's float32 tokens (b, T, N, D) of the motion input, one
        tensor per same-length group: the whole batch, or each clip of a list; ``own``: the
        class head's own encoder's (``head.on: own_encoder``)."""
        if own and self.head_encoder is None:
            raise ConfigError("this model's class head has no encoder of its own (head.on own_encoder)")
        enc = self.head_encoder if own else self._learnt_encoder()
        if feats_m is None:
            raise InputError("a head on the motion encoder needs the motion input")
        items = [f.unsqueeze(0) for f in feats_m] if isinstance(feats_m, (list, tuple)) else [feats_m]
        return [enc(x.to(self.device)).float() for x in items]

    def encoder_frames(self, feats_m, feats_v=None) -> list[torch.Tensor]:
        """Per video, (T, F) float32: what the frame head reads of each sampled frame of the
        motion input ((B, T, N, C) or a list of (T, N, C)): the learnt motion encoder's tokens of
        the frame, their mean and maximum over its cells, beside (``head.frames_appearance`` > 0)
        the fixed projection of the frame's appearance features (``feats_v``, the same frames:
        :meth:`appearance_frames`); of that g_t, then g_t minus its mean over the clip's frames,
        then for j = 1..``head.frames_context`` the mean of g_(t-j) and g_(t+j) (the clip's
        ends repeated): :func:`frame_context`."""
        head = self.config.head
        g = [torch.cat([h.mean(2), h.amax(2)], -1) for h in self._encoder_tokens(feats_m)]  # (b, T, 2 D) per group
        g = [row for grp in g for row in grp.unbind(0)]  # per video (T, 2 D)
        if self.frame_proj is not None:
            if feats_v is None:
                raise InputError("this frame head (head.frames_appearance) also reads the appearance features")
            app = self.appearance_frames(feats_v)
            if len(app) != len(g) or any(a.size(0) != m.size(0) for a, m in zip(app, g)):
                raise InputError("the appearance and motion features must hold the same videos and frames")
            g = [torch.cat([m, self.frame_proj(a.to(self.frame_proj.weight.device)).float()], -1) for m, a in zip(g, app)]
        if head.frames_flow:
            from .frame_head import flow_statistics

            items = list(feats_m) if isinstance(feats_m, (list, tuple)) else list(feats_m.unbind(0))
            g = [torch.cat([x, flow_statistics(m.to(x.device))], -1) for x, m in zip(g, items)]
        if head.frames_model == "gru":
            return g
        return [frame_context(x[None], head.frames_context)[0] for x in g]

    @staticmethod
    def appearance_frames(feats_v) -> list[torch.Tensor]:
        """Per video, (T, 2 C) float32: the appearance branch's frozen features of each sampled
        frame ((B, T, N, C) or a list of (T, N, C)), their mean and maximum over its tokens."""
        items = list(feats_v.unbind(0)) if torch.is_tensor(feats_v) else list(feats_v)
        return [torch.cat([f.float().mean(1), f.float().amax(1)], -1) for f in items]

    def frame_probabilities(self, feats_m, feats_v=None) -> list[torch.Tensor]:
        """Per video, (T,) float32: the frame head's probability that each sampled frame of its
        motion input (and, for a head with ``head.frames_appearance``, of ``feats_v``) is
        anomalous (``config.head.frames``)."""
        if self.frame_head is None:
            raise ConfigError("this model has no frame head (fit one with `python recipes/fit_head.py MODEL --frames ...`)")
        was_training = self.training
        self.eval()
        try:
            from .frame_head import frame_logits

            return [torch.sigmoid(frame_logits(self.frame_head, f)).float() for f in self.encoder_frames(feats_m, feats_v)]
        finally:
            self.train(was_training)

    def _token_head_logits(self, tok_v: torch.Tensor, tok_m: torch.Tensor | None) -> torch.Tensor:
        """(B, C) class-head logits on the mean of both branches' visual tokens (B, Qv+Qm, llm)."""
        tokens = torch.cat([t for t in (tok_v, tok_m) if t is not None], 1)
        return self.cluster_head(tokens.float().mean(1))

    @property
    def guided(self) -> bool:
        """The prompt names the class head's class (``head.guide``)."""
        return bool(self.config.head.guide and self.config.head.classes)

    def guide_events(self, feats_m, tok_v: torch.Tensor, tok_m: torch.Tensor | None) -> list[str | None]:
        """Per video, the class a guided model names in its prompt: the head's most probable
        one (on these visual tokens, or the motion input's encoder tokens); all None for a
        model without the guide."""
        if not self.guided:
            return [None] * tok_v.size(0)
        classes = self.config.head.classes
        return [classes[i] for i in self._head_logits(feats_m, tok_v, tok_m).argmax(-1).tolist()]

    def guide_starts(self, feats_m, feats_v, frame_times: list[list[float] | None] | None,
                     events: list[str | None]) -> list[float | None]:
        """Per video, the start (s) a guided model's prompt names (``head.guide_start``): the
        frame head's onset on the sampled frames (:func:`~hawk_core.model.frame_head.onset_time`
        at ``head.guide_start_threshold``), for a video whose guide names an anomalous class and
        whose frames' seconds are known; None otherwise, and all None without ``guide_start``."""
        head = self.config.head
        if not (self.guided and head.guide_start) or frame_times is None:
            return [None] * len(events)
        from .frame_head import onset_time

        wanted = [i for i, (e, t) in enumerate(zip(events, frame_times)) if e is not None and e != head.normal and t]
        out: list[float | None] = [None] * len(events)
        if not wanted:
            return out
        probs = self.frame_probabilities(_some_videos(feats_m, wanted), _some_videos(feats_v, wanted))
        for i, p in zip(wanted, probs):
            if len(frame_times[i]) == p.numel():
                out[i] = round(onset_time(p, frame_times[i], head.guide_start_threshold), 1)
        return out

    def load_adapter(self, file: str | Path, *, strict: bool = True) -> None:
        """Load trainable weights from a safetensors file; CheckpointError names mismatches."""
        from safetensors.torch import load_file

        try:
            state = load_file(str(file))
        except Exception as e:  # noqa: BLE001 - corrupt/truncated file
            raise CheckpointError(f"{file}: cannot read weights ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
        self.load_trainable_state(state, source=str(file), strict=strict)

    def load_trainable_state(self, state: dict[str, torch.Tensor], *, source: str = "checkpoint", strict: bool = True) -> None:
        expected = self.adapter_tensors()
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in expected if k in state and state[k].shape != expected[k].shape]
        problems = []
        if shapes:
            problems.append(f"shape mismatch: {_few(shapes)}")
        if strict and missing:
            problems.append(f"missing keys: {_few(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {_few(unexpected)}")
        if problems:
            raise CheckpointError(f"{source} does not fit this model ({'; '.join(problems)})")
        with torch.no_grad():
            for k, p in expected.items():
                if k in state:
                    p.copy_(state[k].to(p.dtype))

    # ------------------------------------------------------------------ parameters, modes
    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def add_cluster_head(self, clusters: int, on: str = "tokens") -> nn.Linear:
        """A linear head to ``clusters`` text clusters (``train.words_loss: clusters``) or record
        classes (``labels``), read from the visual tokens' mean (``on="tokens"``: both
        branches, the LLM's input space) or from the learnt motion encoder's own tokens, their
        mean and maximum over frames and cells (``on="encoder"``, ``train.head_on``: the
        encoder learns the class before any Q-Former squeezes it; needs
        ``vision.motion_encoder: flow_cnn``). It is scaffolding of the alignment stage: trained
        with it (and kept in its run's checkpoints so a resume goes on with it) but never part
        of the adapter, which holds what the language stage uses (the language stage's own head
        is ``config.head``, built with the model)."""
        if on not in HEAD_INPUTS:
            raise ConfigError(f"head_on must be one of {', '.join(HEAD_INPUTS)}, got {on!r}")
        if on == "encoder":
            width = 2 * self._learnt_encoder("head_on encoder").dim
        else:
            width = self.llm_dim
        if self.config.head.classes:
            raise ConfigError("the model already has its own class head (head.classes)")
        head = _zero_linear(width, int(clusters)).to(self.device)
        self.cluster_head = head
        self.head_on = on
        return head

    def freeze_motion_encoder(self) -> None:
        """Keep the learnt motion encoder (``vision.motion_encoder: flow_cnn``) as it is: no
        gradient, BatchNorm in eval mode (``train.freeze_encoder``, the language stage on an
        encoder aligned before). Its weights stay in the adapter."""
        enc = self._learnt_encoder("freeze_encoder")
        enc.requires_grad_(False)
        enc.eval()
        self.encoder_frozen = True

    def train_motion_encoder_only(self) -> None:
        """Freeze every trainable part but the learnt motion encoder: the alignment stage with
        its class head on the encoder (``train.head_on: encoder``). There the Q-Formers and
        projections would learn from L_MV alone, and L_MV alone (1 - cos of the two branches'
        tight features, no negatives) is minimised by one constant output for every video: it
        collapsed them (benchmarks/feature_probe.md). They stay as initialised, in the
        adapter, for the language stage to train."""
        self._learnt_encoder("head_on encoder")
        for name, p in self.branches.named_parameters():
            if not name.startswith("motion.encoder."):
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> HawkModel:
        """Trainable parts follow ``mode``; the frozen image encoder stays in eval mode, the
        LLM too unless it carries LoRA adapters or gradient checkpointing, and a frozen motion
        encoder (:meth:`freeze_motion_encoder`)."""
        super().train(mode)
        self.vision.eval()
        if self.encoder_frozen:
            self.branches["motion"].encoder.eval()
        llm_cfg = self.config.llm
        self.llm.train(mode and (llm_cfg.lora.enabled or llm_cfg.gradient_checkpointing))
        return self

    @property
    def device(self) -> torch.device:
        return next(self.branches.parameters()).device

    @property
    def use_motion(self) -> bool:
        return self.config.loss.use_motion

    @property
    def num_query_tokens(self) -> int:
        return self.config.video_qformer.num_query_tokens

    @property
    def image_queries(self) -> nn.Parameter | None:
        """The motion branch's own image Q-Former queries (1, Q, H), or None (shared ones)."""
        b = self.branches["motion"] if "motion" in self.branches else None
        return None if b is None else b.image_queries

    # ------------------------------------------------------------------ visual side
    def preprocess(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(T, S, S, 3) uint8 RGB frames -> (T, 3, s, s) float, resized to the image encoder's
        size and normalised as its backbone expects (CLIP mean/std for BLIP-2, ImageNet for
        EfficientNet), or left in [0, 1] with ``vision.normalize`` off (the release)."""
        x = torch.as_tensor(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
        if x.dim() != 4 or x.size(-1) != 3:
            raise InputError(f"frames must be (T, H, W, 3) RGB, got {tuple(x.shape)}")
        x = x.permute(0, 3, 1, 2).float().div_(255.0)  # (T, 3, H, W)
        s = self.config.vision.image_size
        if x.shape[-2:] != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        if not self.config.vision.normalize:
            return x
        mean = torch.tensor(self.config.vision.norm_mean).view(1, 3, 1, 1)
        std = torch.tensor(self.config.vision.norm_std).view(1, 3, 1, 1)
        return (x - mean) / std

    @torch.no_grad()
    def encode_frames(self, pixels: torch.Tensor, chunk: int = 64, *, motion: bool = False) -> torch.Tensor:
        """(B, T, 3, s, s) -> (B, T, N, D) with the frozen image encoder (chunks of frames);
        ``motion``: the motion branch's frozen path (``vision.encode_motion``)."""
        if pixels.dim() != 5:
            raise InputError(f"expected (B, T, 3, S, S) pixels, got {tuple(pixels.shape)}")
        b, t = pixels.shape[:2]
        flat = pixels.reshape(b * t, *pixels.shape[2:])
        p = next(self.vision.parameters())
        encode = self.vision.encode_motion if motion else self.vision
        outs = [encode(flat[i : i + chunk].to(p.device, p.dtype)) for i in range(0, flat.size(0), chunk)]
        out = torch.cat(outs)  # (B*T, N, D)
        return out.reshape(b, t, *out.shape[1:])

    @torch.no_grad()
    def encode_visual(self, video: torch.Tensor, motion: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Frozen features of both branches: (B, T, N, D) each; motion is None when the motion
        branch is ablated (or no motion input is given). The motion features are the ViT's
        tokens when the motion branch has its own image queries (``vision.motion_queries``),
        and the motion input itself when it has its own learnt encoder (:meth:`motion_input`)."""
        feats_v = self.encode_frames(video)
        if motion is None or not self.use_motion:
            return feats_v, None
        if self.learnt_motion:  # the motion input itself (B, T, S*S, 5); the branch's own encoder trains on it
            return feats_v, motion
        return feats_v, self.encode_frames(motion, motion=True)

    @property
    def learnt_motion(self) -> bool:
        """The motion branch has its own trainable frame encoder (``vision.motion_encoder`` ``flow_cnn``)."""
        return self.config.vision.learnt_motion

    def motion_input(self, clip: Any, res: Any) -> torch.Tensor:
        """What the motion branch reads for one sampled clip and its motion result: the masked
        (or flow-image) frames preprocessed for the frozen encoder, (T, 3, s, s); or, with the
        learnt flow encoder, frames + flow at ``vision.flow_size``, flat (T, flow_size^2, 5)."""
        if not self.learnt_motion:
            return self.preprocess(res.motion)
        from .motion_encoder import flow_encoder_input

        s = self.config.vision.flow_size
        x = flow_encoder_input(clip.frames, res.flow, s)  # (T, s, s, 5) float16
        return torch.from_numpy(x).view(x.shape[0], s * s, x.shape[-1])

    def _branch(self, name: str, feats) -> tuple[torch.Tensor, torch.Tensor]:
        """One branch on (B, T, N, D) features or a list of (T_i, N, D): (B, Q, llm), (B, Q, tight)."""
        dev = self.device
        branch = self.branches[name]
        groups: dict[int, list[int]] = {}
        items = list(feats) if isinstance(feats, (list, tuple)) else None
        if items is None:
            groups[feats.size(1)] = list(range(feats.size(0)))
        else:
            for i, f in enumerate(items):
                if f.dim() != 3:
                    raise InputError(f"per-video features must be (T, N, D), got {tuple(f.shape)}")
                groups.setdefault(f.size(0), []).append(i)
        n = sum(len(v) for v in groups.values())
        tok: list = [None] * n
        tight: list = [None] * n
        for idx in groups.values():
            x = feats if items is None else torch.stack([items[i] for i in idx])  # (b, T, N, D)
            x = x.to(dev)
            if branch.image_queries is not None:  # the motion branch's own queries -> frozen image Q-Former
                b, t = x.shape[:2]
                p = next(self.vision.parameters())
                q = self.vision.motion_query_features(branch.image_queries.to(p.dtype), x.reshape(b * t, *x.shape[2:]).to(p.dtype))
                x = q.reshape(b, t, *q.shape[1:])  # (b, T, Q, H)
            a, c = branch(x)  # (b, Q, llm), (b, Q, tight)
            if items is None:
                return a, c
            for j, i in enumerate(idx):
                tok[i], tight[i] = a[j], c[j]
        return torch.stack(tok), torch.stack(tight)

    def visual_tokens(self, feats_v, feats_m):
        """Trainable part: (tokens_v, tight_v, tokens_m, tight_m); motion ones None when ablated."""
        tok_v, tight_v = self._branch("video", feats_v)
        tok_m = tight_m = None
        if self.use_motion:
            if feats_m is None:
                raise InputError("the model has a motion branch but no motion features were given")
            frames_v = [f.size(0) for f in feats_v] if isinstance(feats_v, (list, tuple)) else [feats_v.size(1)] * feats_v.size(0)
            frames_m = [f.size(0) for f in feats_m] if isinstance(feats_m, (list, tuple)) else [feats_m.size(1)] * feats_m.size(0)
            if frames_v != frames_m:
                raise InputError(f"motion features have {frames_m} frames, video features {frames_v}")
            tok_m, tight_m = self._branch("motion", feats_m)
        return tok_v, tight_v, tok_m, tight_m

    # ------------------------------------------------------------------ text side
    def render_prompt(self, instruction: str, history: list[tuple[str, str]] | None = None,
                      frame_times: list[float] | None = None, event: str | None = None, start: float | None = None) -> str:
        """The LLM's prompt text (placeholders still in), ending where the answer starts
        (:func:`hawk_core.model.text.render_prompt`; ``event``: the guided model's class,
        ``start``: with ``head.guide_start``, when it starts)."""
        return text.render_prompt(self, instruction, history, frame_times, event, start)

    def collate(self, samples: list[TextSample], *, for_generation: bool = False) -> TextBatch:
        """Tokenised prompts (+ answers) and motion phrases (:func:`hawk_core.model.text.collate`)."""
        return text.collate(self, samples, for_generation=for_generation)

    def embed(self, input_ids: torch.Tensor, tok_v: torch.Tensor | None, tok_m: torch.Tensor | None) -> torch.Tensor:
        """(B, L) ids with slots -> (B, L, llm) input embeddings with the visual tokens spliced in."""
        emb_layer = self.llm.get_input_embeddings()
        emb = emb_layer(input_ids.clamp(min=0))  # (B, L, llm)
        for slot, tokens, name in ((VIDEO_SLOT, tok_v, "video"), (MOTION_SLOT, tok_m, "motion")):
            mask = input_ids == slot  # (B, L)
            n = int(mask.sum())
            if n == 0:
                continue
            if tokens is None:
                raise InputError(f"the prompt has {name} slots but no {name} tokens were given")
            if n != tokens.size(0) * tokens.size(1) or not bool((mask.sum(1) == tokens.size(1)).all()):
                raise InputError(f"{name} slots per sample: {mask.sum(1).tolist()}, tokens: {tokens.size(1)} x {tokens.size(0)} samples")
            emb = emb.masked_scatter(mask.unsqueeze(-1), tokens.to(emb.dtype))
        return emb

    # ------------------------------------------------------------------ forward
    def forward(self, feats_v: torch.Tensor, feats_m: torch.Tensor | None, batch: TextBatch, *, full_logits: bool = False) -> HawkOutput:
        """Losses for a batch of frozen features (B, T, N, D) and its text.

        The LLM's vocabulary head runs only at the positions that predict a labelled token
        (the answers), not over the prompt and the visual tokens: the same losses at a
        fraction of the cost of (B, L, V) logits. ``full_logits`` also returns those (B, L, V)
        logits in :attr:`HawkOutput.logits` (None otherwise)."""
        cfg = self.config.loss
        if _num_videos(feats_v) != len(batch):
            raise InputError(f"features for {_num_videos(feats_v)} videos, text for {len(batch)} samples")
        batch = batch.to(self.device)
        if isinstance(batch, WordBatch):
            return self._align_forward(feats_v, feats_m, batch)
        tok_v, tight_v, tok_m, tight_m = self.visual_tokens(feats_v, feats_m)
        embeds = self.embed(batch.input_ids, tok_v, tok_m)
        logits = None
        if full_logits:
            logits = self.llm(inputs_embeds=embeds, attention_mask=batch.attention_mask, use_cache=False).logits  # (B, L, V)
            l_vl = losses.lm_loss(logits, batch.labels)
        else:
            l_vl = self._answer_loss(embeds, batch.attention_mask, batch.labels)
        zero = l_vl.new_zeros(())
        l_mv = losses.mv_loss(tight_v, tight_m, cfg.mv_mode) if cfg.use_mv else zero
        l_ml = zero
        if cfg.use_ml and batch.motion_ids is not None:
            m_emb = self.embed(batch.motion_ids, None, tok_m[batch.motion_index])
            l_ml = self._answer_loss(m_emb, batch.motion_attention_mask, batch.motion_labels)
        total = losses.total_loss(l_vl, l_mv, l_ml, cfg.t0, cfg.t1, cfg.t2)
        head_logits = l_label = None
        if self.cluster_head is not None and batch.classes is not None:  # train.label_weight
            if not self.config.head.classes and self.head_on != "tokens":  # a scaffold head on the encoder
                raise ConfigError("the language stage's class head reads the visual tokens (head_on tokens)")
            head_logits = self._head_logits(feats_m, tok_v, tok_m)
            l_label = losses.clusters_loss(head_logits, batch.classes)
            total = total + self.head_weight * l_label
        return HawkOutput(loss=total, loss_vl=l_vl, loss_mv=l_mv, loss_ml=l_ml, logits=logits, tight_v=tight_v, tight_m=tight_m,
                          head_logits=head_logits, loss_label=l_label)

    def word_tokens(self, feats_v, feats_m, word_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Both branches' visual tokens side by side (B, Qv+Qm, llm), the LLM's frozen input
        embeddings of ``word_ids`` (K, llm), and the tight features (B, Q, tight) of each branch
        (motion None when ablated)."""
        tok_v, tight_v, tok_m, tight_m = self.visual_tokens(feats_v, feats_m)
        tokens = tok_v if tok_m is None else torch.cat([tok_v, tok_m], dim=1)  # (B, Qv+Qm, llm)
        words = self.llm.get_input_embeddings().weight[word_ids.to(self.device)].detach()  # (K, llm)
        return tokens, words, tight_v, tight_m

    def word_logits(self, feats_v, feats_m, word_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(B, K) logits of the words ``word_ids`` (LLM token ids) from both branches' visual
        tokens (:func:`losses.word_logits` against the LLM's frozen input embeddings), and the
        tight features (B, Q, tight) of each branch (motion None when ablated)."""
        tokens, words, tight_v, tight_m = self.word_tokens(feats_v, feats_m, word_ids)
        return losses.word_logits(tokens, words), tight_v, tight_m

    def _align_forward(self, feats_v, feats_m, batch: WordBatch) -> HawkOutput:
        """The alignment stage's loss: L_words (as the batch's ``mode`` scores it) + t1 * L_MV
        (no LLM forward)."""
        cfg = self.config.loss
        seen: list[torch.Tensor] = []  # the learnt motion encoder's output, for a head on it
        hook = None
        if batch.mode in ("clusters", "labels") and self.head_on == "encoder" and self.cluster_head is not None:
            hook = self.branches["motion"].encoder.register_forward_hook(lambda _m, _i, out: seen.append(out))
        try:
            tokens, words, tight_v, tight_m = self.word_tokens(feats_v, feats_m, batch.word_ids)
        finally:
            if hook is not None:
                hook.remove()
        head_logits = None
        if batch.mode == "contrastive":
            l_words = losses.contrastive_loss(tokens, words, batch.targets)
        elif batch.mode in ("clusters", "labels"):
            if self.cluster_head is None:
                raise ConfigError(f"words_loss {batch.mode} needs the model's class head (HawkModel.add_cluster_head)")
            if self.head_on == "encoder":
                if len(seen) != 1:  # one call per batch of equal-length clips (a (B, T, N, D) tensor)
                    raise InputError("head_on encoder needs the batch's motion features as one (B, T, N, D) tensor")
                enc = seen[0].float()  # (B, T, N, D)
                head_logits = self.cluster_head(pool_tokens(enc))
            else:
                head_logits = self.cluster_head(tokens.float().mean(1))
            l_words = losses.clusters_loss(head_logits, batch.labels)
        elif batch.mode == "tags":
            l_words = losses.tags_loss(losses.word_logits(tokens, words), batch.targets, batch.log_odds, batch.active)
        else:
            l_words = losses.words_loss(losses.word_logits(tokens, words), batch.targets)
        zero = l_words.new_zeros(())
        l_mv = losses.mv_loss(tight_v, tight_m, cfg.mv_mode) if (cfg.use_mv and tight_m is not None) else zero
        return HawkOutput(loss=l_words + cfg.t1 * l_mv, loss_vl=zero, loss_mv=l_mv, loss_ml=zero, tight_v=tight_v, tight_m=tight_m,
                          loss_words=l_words, head_logits=head_logits)

    def _answer_loss(self, embeds: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """:func:`losses.lm_loss` with the LLM's head applied only at the positions whose next
        token is labelled in some row of the batch (transformers' ``logits_to_keep``)."""
        keep = torch.nonzero((labels[:, 1:] != IGNORE_INDEX).any(0)).flatten()  # (K,) logit positions
        if keep.numel() == 0:
            logits = self.llm(inputs_embeds=embeds, attention_mask=attention_mask, use_cache=False).logits
            return losses.lm_loss(logits, labels)
        logits = self.llm(inputs_embeds=embeds, attention_mask=attention_mask, use_cache=False, logits_to_keep=keep).logits  # (B, K, V)
        # logit k predicts token keep[k] + 1: pair each with that label, shifted into lm_loss's layout
        targets = labels[:, keep + 1]  # (B, K)
        return losses.lm_loss(torch.cat([logits, logits[:, :1]], 1), torch.cat([labels[:, :1].new_full((labels.size(0), 1), IGNORE_INDEX), targets], 1))

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(
        self,
        feats_v: torch.Tensor,
        feats_m: torch.Tensor | None,
        instructions: list[str],
        *,
        history: list[list[tuple[str, str]]] | None = None,
        frame_times: list[list[float] | None] | None = None,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int | None = None,
        repetition_penalty: float | None = None,
        seed: int | None = None,
        min_new_tokens: int = 0,
        streamer=None,
        with_truncation: bool = False,
        with_events: bool = False,
        with_starts: bool = False,
    ) -> list[str] | tuple:
        """Answers to ``instructions`` (one per video; features of one video are shared by
        all instructions). Greedy at temperature 0, else nucleus sampling (``seed`` makes it
        repeatable), one beam either way. ``top_k`` / ``repetition_penalty``: None leaves
        the LLM's generation config's. ``history``: per instruction, earlier (question,
        answer) turns. ``frame_times``: per instruction, the video's frame times (the
        release prompt format). ``min_new_tokens`` keeps the end-of-text token away that long
        (benchmarks). ``streamer``: a transformers streamer told each new token (one
        instruction only). ``with_truncation``: also return, per answer, whether it was cut at
        ``max_new_tokens`` (no end-of-text token generated). ``with_events``: also return, per answer, the
        class a guided model (``head.guide``) named in its prompt (:meth:`guide_events`; None
        without the guide). ``with_starts``: also return, per answer, the start (s) its prompt
        named (``head.guide_start``, :meth:`guide_starts`; None where none was named). The extra
        lists follow the texts in that order: (texts, truncated, events, starts), (texts,
        truncated), (texts, events) and so on."""
        if isinstance(instructions, str):
            instructions = [instructions]
        n = len(instructions)
        if history is not None and len(history) != n:
            raise InputError(f"history for {len(history)} chats, {n} instructions")
        if frame_times is not None and len(frame_times) != n:
            raise InputError(f"frame times for {len(frame_times)} videos, {n} instructions")
        if _num_videos(feats_v) == 1 and n > 1:
            if isinstance(feats_v, (list, tuple)):
                feats_v = list(feats_v) * n
                feats_m = None if feats_m is None else list(feats_m) * n
            else:
                feats_v = feats_v.expand(n, *feats_v.shape[1:])
                feats_m = None if feats_m is None else feats_m.expand(n, *feats_m.shape[1:])
        if _num_videos(feats_v) != n:
            raise InputError(f"features for {_num_videos(feats_v)} videos, {n} instructions")
        if max_new_tokens < 1:
            raise InputError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if temperature < 0 or not 0 < top_p <= 1:
            raise InputError(f"temperature must be >= 0 and top_p in (0, 1], got {temperature}, {top_p}")
        was_training = self.training
        self.eval()
        try:
            tok_v, _, tok_m, _ = self.visual_tokens(feats_v, feats_m)
            events = self.guide_events(feats_m, tok_v, tok_m)  # head.guide: the class the prompt names
            starts = self.guide_starts(feats_m, feats_v, frame_times, events)  # head.guide_start: and when it starts
            samples = [TextSample(q, history=list(history[i]) if history else [], frame_times=frame_times[i] if frame_times else None,
                                  event=events[i], start=starts[i]) for i, q in enumerate(instructions)]
            batch = self.collate(samples, for_generation=True).to(self.device)
            embeds = self.embed(batch.input_ids, tok_v, tok_m)
            kwargs = dict(max_new_tokens=max_new_tokens, pad_token_id=self.tokenizer.pad_token_id, num_beams=1,
                          eos_token_id=self.tokenizer.eos_token_id, min_new_tokens=min(min_new_tokens, max_new_tokens))
            if streamer is not None:
                kwargs["streamer"] = streamer
            if repetition_penalty is not None:
                kwargs["repetition_penalty"] = repetition_penalty
            if temperature > 0:
                kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
                if top_k is not None:
                    kwargs["top_k"] = top_k
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
            with rng:
                if seed is not None:
                    torch.manual_seed(seed)
                    if torch.cuda.is_available():
                        torch.cuda.manual_seed_all(seed)
                out = self.llm.generate(inputs_embeds=embeds, attention_mask=batch.attention_mask, **kwargs)
        finally:
            self.train(was_training)
        texts = [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]
        if not (with_truncation or with_events or with_starts):
            return texts
        result: tuple = (texts,)
        if with_truncation:
            eos = self.tokenizer.eos_token_id
            eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos])
            result += ([out.size(1) >= max_new_tokens and not (eos_ids & set(row.tolist())) for row in out],)  # out: (B, new tokens)
        return result + ((events,) if with_events else ()) + ((starts,) if with_starts else ())

    @torch.no_grad()
    def next_token_logits(
        self,
        feats_v: torch.Tensor,
        feats_m: torch.Tensor | None,
        instructions: list[str],
        *,
        answer_prefix: list[int] | tuple[int, ...] = (),
    ) -> torch.Tensor:
        """(B, V) float32 logits of the first answer token for each (video, instruction): one
        forward over the prompt :meth:`generate` starts from and training conditions the
        answer on (same template; left padding, positions counted over real tokens),
        followed by ``answer_prefix`` (token ids taken as already answered)."""
        n = len(instructions)
        if feats_v.size(0) != n:
            raise InputError(f"features for {feats_v.size(0)} videos, {n} instructions")
        was_training = self.training
        self.eval()
        try:
            tok_v, _, tok_m, _ = self.visual_tokens(feats_v, feats_m)
            events = self.guide_events(feats_m, tok_v, tok_m)  # head.guide: the class the prompt names
            batch = self.collate([TextSample(q, event=e) for q, e in zip(instructions, events)], for_generation=True)
            ids, mask = batch.input_ids, batch.attention_mask  # (B, L), left-padded
            if answer_prefix:
                extra = torch.tensor(list(answer_prefix), dtype=torch.long).expand(n, -1)  # (B, P)
                ids = torch.cat([ids, extra], dim=1)
                mask = torch.cat([mask, torch.ones_like(extra)], dim=1)
            ids, mask = ids.to(self.device), mask.to(self.device)
            embeds = self.embed(ids, tok_v, tok_m)  # (B, L, llm)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, L): as generate() counts them under left padding
            out = self.llm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=False)
        finally:
            self.train(was_training)
        return out.logits[:, -1, :].float()  # (B, V)


# ---------------------------------------------------------------------- helpers
def build_branches(config: HawkConfig, feature_dim: int, llm_dim: int, image_queries: tuple[int, int]) -> nn.ModuleDict:
    """The trainable branches of ``config`` (seeded): one per branch the config keeps; the
    motion one holds its own image queries of shape ``image_queries`` (Q, H) when
    ``vision.motion_queries`` is ``trainable``, and its learnt frame encoder when
    ``vision.motion_encoder`` is ``flow_cnn``."""
    own = config.vision.motion_queries == "trainable"

    def encoder(name: str) -> nn.Module | None:
        if name != "motion" or not config.vision.learnt_motion:
            return None
        from .motion_encoder import FlowEncoder

        return FlowEncoder(width=config.vision.flow_width)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        names = ["video", "motion"] if config.loss.use_motion else ["video"]
        return nn.ModuleDict({
            n: Branch(config.video_qformer, config.projection, feature_dim, llm_dim, image_queries if (own and n == "motion") else None,
                      encoder=encoder(n))
            for n in names
        })


def trainable_shapes(config: HawkConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor an adapter of ``config`` holds (trainable parameters and
    the branches' buffers), from the backbones' configs only (no weights are loaded; nothing
    is allocated)."""
    from .backbones import llm_width, vision_dims

    dims = vision_dims(config.vision)
    width = llm_width(config.llm)  # outside the meta context: the embedded LLM's width is read by loading it
    with torch.device("meta"):
        branches = build_branches(config, dims["feature_dim"], width, (dims["query_tokens"], dims["query_dim"]))
    shapes = {f"branches.{n}": tuple(p.shape) for n, p in branches.named_parameters()}
    shapes.update({f"branches.{n}": tuple(b.shape) for n, b in branches.named_buffers()})  # as HawkModel.adapter_tensors
    if config.llm.lora.enabled:
        shapes.update(_lora_shapes(config))
    if config.head.classes:
        head_width = 2 * flow_encoder_dim(config.vision.flow_width) if config.head.on != "tokens" else width
        shapes.update({"cluster_head.weight": (len(config.head.classes), head_width), "cluster_head.bias": (len(config.head.classes),)})
        if config.head.on == "own_encoder":
            with torch.device("meta"):
                enc = _head_encoder(config)
            shapes.update({f"head_encoder.{n}": tuple(t.shape) for n, t in (*enc.named_parameters(), *enc.named_buffers())})
    h = config.head
    if h.frames:
        from .frame_head import build_frame_head

        with torch.device("meta"):
            head = build_frame_head(h.frames_model, frame_feature_width(flow_encoder_dim(config.vision.flow_width), h), h.frames_hidden)
        shapes.update({f"frame_head.{n}": tuple(p.shape) for n, p in head.named_parameters()})
        if h.frames_appearance:
            shapes.update({"frame_proj.weight": (h.frames_appearance, 2 * dims["feature_dim"]), "frame_proj.bias": (h.frames_appearance,)})
    return shapes


def frame_feature_width(dim: int, head=None) -> int:
    """The width of :meth:`HawkModel.encoder_frames`' rows for an encoder of token width ``dim``
    and the ``head`` section's frame-head settings (:class:`HeadConfig`; None: the defaults)."""
    from .config import HeadConfig
    from .frame_head import FLOW_STATS

    head = head or HeadConfig()
    per_frame = 2 * dim + head.frames_appearance + (FLOW_STATS if head.frames_flow else 0)
    return per_frame if head.frames_model == "gru" else (2 + head.frames_context) * per_frame


def frame_context(g: torch.Tensor, context: int = 1) -> torch.Tensor:
    """(B, T, F) per-frame features -> (B, T, (2 + context) F): each frame's own, its deviation
    from the clip's mean, and for j = 1..``context`` the mean of frames t - j and t + j (indices
    clamped to the clip: the ends repeated)."""
    T = g.size(1)
    idx = torch.arange(T, device=g.device)
    parts = [g, g - g.mean(1, keepdim=True)]
    for j in range(1, context + 1):
        parts.append((g[:, (idx - j).clamp(0, T - 1)] + g[:, (idx + j).clamp(0, T - 1)]) / 2)
    return torch.cat(parts, -1)


def _head_encoder(config: HawkConfig) -> nn.Module:
    """The class head's own learnt encoder (``head.on: own_encoder``): a FlowEncoder of
    ``vision.flow_width`` over the motion input, seeded from ``config.seed`` (the caller's
    random state left alone)."""
    from .motion_encoder import FlowEncoder

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + HEAD_ENCODER_SEED_OFFSET)
        return FlowEncoder(width=config.vision.flow_width)


def _lora_shapes(config: HawkConfig) -> dict[str, tuple[int, ...]]:
    """The LoRA tensors an adapter of ``config`` holds, named as ``HawkModel.adapter_tensors``
    names them: peft applied to a weightless (meta-device) copy of the LLM built from its config."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from .backbones import _config_file, build_llm

    if config.llm.kind == "hf":
        try:
            llm_config = AutoConfig.from_pretrained(_config_file(config.llm.source).parent)
        except (OSError, ValueError) as e:
            raise CheckpointError(f"{config.llm.source}: not a transformers LLM config: {str(e).splitlines()[0]}") from None
    else:  # the embedded LLM (a local file) or the tiny random one: cheap to build
        llm_config = build_llm(config.llm, seed=config.seed)[0].config
    with torch.device("meta"):
        skeleton = _apply_lora(AutoModelForCausalLM.from_config(llm_config), config)
    return {f"llm.{n}": tuple(p.shape) for n, p in skeleton.named_parameters() if p.requires_grad}


def write_checkpoint(directory: str | Path, config: HawkConfig, state: dict[str, torch.Tensor]) -> Path:
    """A hawk checkpoint folder: ``config.json`` + ``adapter.safetensors`` (trainable weights,
    hawk's names). Each file is written atomically; other files in the folder are left alone."""
    from safetensors.torch import save_file

    from .. import __version__
    from ..io import atomic_path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {n: t.detach().to("cpu").contiguous() for n, t in state.items()}
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "hawk_version": __version__})
    config.save(directory)
    return directory


def _zero_linear(width: int, classes: int) -> nn.Linear:
    """A class head that starts uniform over its classes (zero weight and bias)."""
    head = nn.Linear(width, classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return head


def _num_videos(feats) -> int:
    return len(feats) if isinstance(feats, (list, tuple)) else int(feats.size(0))


def _some_videos(feats, idx: list[int]):
    """The videos ``idx`` of ``feats`` ((B, ...) or a list of per-video tensors), in that form; None stays None."""
    if feats is None:
        return None
    return [feats[i] for i in idx] if isinstance(feats, (list, tuple)) else feats[idx]


def _few(keys: list[str], n: int = 5) -> str:
    return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def _apply_lora(llm: nn.Module, config: HawkConfig) -> nn.Module:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as e:  # pragma: no cover - peft is a dependency
        raise HawkError(f"LoRA needs the `peft` package: {e}") from None
    lc = config.llm.lora
    names = {n.rsplit(".", 1)[-1] for n, _ in llm.named_modules()}
    absent = [m for m in lc.target_modules if m not in names]
    if absent:
        raise ConfigError(f"llm.lora.target_modules: the LLM has no module named {', '.join(absent)}")
    peft_cfg = LoraConfig(r=lc.r, lora_alpha=lc.alpha, lora_dropout=lc.dropout, target_modules=list(lc.target_modules), task_type="CAUSAL_LM")
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        # peft asks transformers a renamed question; the FutureWarning is theirs, not the user's
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        torch.manual_seed(config.seed + 3)
        return get_peft_model(llm, peft_cfg)
