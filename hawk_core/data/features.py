"""The one path from a video file to the frozen features a HAWK model reads.

Training (:mod:`hawk_core.training.features`, which caches the result) and inference
(:class:`hawk_core.inference.predictor.Predictor`) both call these two functions, so a model is
evaluated on exactly the kind of features it was trained on:

1. :func:`sample_for_model`: sample ``T`` frames with the model's data settings (size, resize
   mode) and build the motion input from the same frames (:mod:`hawk_core.media.motion`);
2. :func:`encode_clips`: the model's own normalisation (:meth:`HawkModel.preprocess`) and its
   frozen encoders of both branches, batched: ``(B, T, N, D)`` per branch.

The model (an ``nn.Module``) never opens a file itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..media.motion import MotionResult
    from ..media.video import SampledClip


def sample_for_model(
    video: str | Path, data_cfg: Any, *, num_frames: int | None = None, with_motion: bool = True
) -> tuple[SampledClip, MotionResult | None]:
    """Sampled frames and (unless ``with_motion`` is False) their motion input, as
    ``data_cfg`` (a model's :class:`~hawk_core.model.config.DataConfig`) says."""
    from ..media.motion import extract_motion
    from ..media.video import sample_clip

    clip = sample_clip(video, int(num_frames or data_cfg.num_frames), data_cfg.size, resize=data_cfg.resize,
                       with_prev=with_motion, min_frames=2)
    return clip, (extract_motion(clip, data_cfg.motion) if with_motion else None)


def encode_clips(model: Any, clips: Sequence[tuple[SampledClip, MotionResult | None]], *, amp: Any = "auto") -> tuple[Any, Any]:
    """Frozen features of a batch of sampled clips: ``(B, T, N, D)`` appearance and motion
    (motion None when the model has no motion branch). ``amp``: an autocast dtype, None
    (fp32), or ``"auto"`` (:func:`hawk_core.runtime.autocast_dtype`: bfloat16 on GPUs and on
    CPUs with native bfloat16, fp32 elsewhere) - training and inference both use ``auto`` by
    default, so a model is evaluated on features of the precision it was trained on."""
    import torch

    if isinstance(amp, str):
        from ..runtime import autocast_dtype

        amp = autocast_dtype(amp, model.device)

    vid = torch.stack([model.preprocess(clip.frames) for clip, _ in clips])  # (B, T, 3, S, S)
    mot = None
    if model.use_motion:
        mot = torch.stack([model.preprocess(motion.motion) for _, motion in clips])  # (B, T, 3, S, S)
    device = model.device
    with torch.no_grad(), torch.autocast(device.type, dtype=amp, enabled=amp is not None):
        return model.encode_visual(vid.to(device), None if mot is None else mot.to(device))  # (B, T, N, D) each
