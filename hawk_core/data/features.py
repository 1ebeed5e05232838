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
                       with_prev=with_motion, min_frames=2, index_rule=data_cfg.frame_indices, short_clips=data_cfg.short_clips)
    return clip, (extract_motion(clip, data_cfg.motion) if with_motion else None)


def encode_clips(model: Any, clips: Sequence[tuple[SampledClip, MotionResult | None]], *, amp: Any = "auto") -> tuple[Any, Any]:
    """Frozen features of a batch of sampled clips: ``(B, T, N, D)`` appearance and motion
    (motion None when the model has no motion branch). Clips of different frame counts (the
    release's short-clip rule) are encoded in groups of equal T and returned as lists of
    ``(T_i, N, D)``. ``amp``: an autocast dtype, None (fp32), or ``"auto"``
    (:func:`hawk_core.runtime.autocast_dtype`: bfloat16 on GPUs and on CPUs with native
    bfloat16, fp32 elsewhere) - training and inference both use ``auto`` by default, so a
    model is evaluated on features of the precision it was trained on."""
    import torch

    if isinstance(amp, str):
        from ..runtime import autocast_dtype

        amp = autocast_dtype(amp, model.device)
    device = model.device
    groups: dict[int, list[int]] = {}
    for i, (clip, _) in enumerate(clips):
        groups.setdefault(len(clip.frames), []).append(i)
    out_v: list = [None] * len(clips)
    out_m: list = [None] * len(clips)
    for idx in groups.values():
        vid = torch.stack([model.preprocess(clips[i][0].frames) for i in idx])  # (b, T, 3, S, S)
        mot = None
        if model.use_motion:
            mot = torch.stack([model.motion_input(*clips[i]) for i in idx])  # (b, T, 3, S, S), or (b, T, s*s, 5) for flow_cnn
        with torch.no_grad(), torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            fv, fm = model.encode_visual(vid.to(device), None if mot is None else mot.to(device))  # (b, T, N, D) each
        if len(groups) == 1:
            return fv, fm
        for j, i in enumerate(idx):
            out_v[i] = fv[j]
            out_m[i] = None if fm is None else fm[j]
    return out_v, (None if out_m[0] is None else out_m)


def per_video(feats: Any) -> list:
    """(B, T, N, D) features or a list of (T_i, N, D) -> a list of (T_i, N, D)."""
    return list(feats) if isinstance(feats, (list, tuple)) else [feats[b] for b in range(feats.size(0))]


def join_videos(feats: Sequence[Any]) -> Any:
    """A list of (T_i, N, D) -> one (B, T, N, D) tensor when every T is equal, else the list."""
    import torch

    if len({tuple(f.shape) for f in feats}) == 1:
        return torch.stack(list(feats))
    return list(feats)
