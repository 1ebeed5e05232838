"""The per-frame anomaly head's parts (``head.frames``): the flow statistics it can read and its
two forms, one linear logit per frame or a small bidirectional GRU over the clip's frames.

What the head reads of each sampled frame is assembled by :meth:`HawkModel.encoder_frames`:
the learnt motion encoder's tokens of the frame (mean and maximum over its cells), optionally
the appearance branch's frozen features through a fixed projection (``head.frames_appearance``)
and the frame's flow statistics (``head.frames_flow``, :func:`flow_statistics`). The ``linear``
head reads that with its context (:func:`hawk_core.model.hawk.frame_context`); the ``gru`` head
(:class:`FrameSequenceHead`) reads the clip's sequence of them and gives every frame a logit
that depends on the whole clip, so a frame after an event began (a car stopped after a crash, a
person down after a fall) can be scored by what happened before it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import InputError

FRAME_HEADS = ("linear", "gru")

#: Directions and grid of :func:`flow_statistics`: 8 directions in each cell of a 3 x 3 grid.
FLOW_DIRECTIONS = 8
FLOW_GRID = 3
FLOW_QUANTILES = (0.5, 0.9, 0.99, 1.0)
FLOW_MOVING = 0.5  # pixels per frame (at vision.flow_size) above which a pixel counts as moving
FLOW_STATS = FLOW_GRID * FLOW_GRID * FLOW_DIRECTIONS + len(FLOW_QUANTILES) + 1


def flow_statistics(feats_m: torch.Tensor) -> torch.Tensor:
    """(T, S*S, 5) learnt-encoder motion input of one clip (RGB and the sign-kept log-scaled flow,
    :func:`hawk_core.model.motion_encoder.flow_encoder_input`) -> (T, FLOW_STATS) float32 per
    frame: a histogram of flow directions weighted by magnitude in each cell of a 3 x 3 grid
    (8 directions), the magnitude's 50th / 90th / 99th percentiles and maximum, and the share of
    moving pixels (in %), each as log(1 + x). The flow in pixels per frame at the input's size."""
    if feats_m.dim() != 3 or feats_m.size(-1) < 5:
        raise InputError(f"flow statistics need the learnt encoder's (T, S*S, 5) input, got {tuple(feats_m.shape)}")
    T, N = feats_m.shape[:2]
    side = int(round(math.sqrt(N)))
    if side * side != N:
        raise InputError(f"a motion input of {N} pixels per frame is not a square")
    f = feats_m[..., 3:5].float()
    f = torch.sign(f) * torch.expm1(f.abs())  # undo the log scale: pixels per frame
    mag = torch.hypot(f[..., 0], f[..., 1])  # (T, N)
    direction = ((torch.atan2(f[..., 1], f[..., 0]) + math.pi) / (2 * math.pi) * FLOW_DIRECTIONS).long().clamp(0, FLOW_DIRECTIONS - 1)
    rows = torch.arange(side, device=f.device) * FLOW_GRID // side
    cell = (rows[:, None] * FLOW_GRID + rows[None, :]).reshape(-1)  # (N,) the grid cell of each pixel
    hist = torch.zeros(T, FLOW_GRID * FLOW_GRID * FLOW_DIRECTIONS, device=f.device)
    hist.scatter_add_(1, cell[None] * FLOW_DIRECTIONS + direction, mag)
    q = torch.quantile(mag, torch.tensor(FLOW_QUANTILES, device=f.device), dim=1).T  # (T, 4)
    moving = (mag > FLOW_MOVING).float().mean(1, keepdim=True) * 100
    return torch.log1p(torch.cat([hist, q, moving], 1))


class FrameSequenceHead(nn.Module):
    """(B, T, F) per-frame features -> (B, T) logits: a linear layer with GELU to ``hidden``, a
    bidirectional GRU over the frames, and one logit per frame from the GRU's two directions
    beside the frame's own hidden features. The input standardisation of its fit is folded into
    the first layer (``recipes/fit_head.py --frames --head gru``)."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.inp = nn.Linear(width, hidden)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(3 * hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = nn.functional.gelu(self.inp(x))
        return self.out(torch.cat([self.rnn(z)[0], z], -1))[..., 0]


def build_frame_head(kind: str, width: int, hidden: int) -> nn.Module:
    """The frame head of ``kind`` (one of :data:`FRAME_HEADS`) on rows of ``width``, zero where it
    is linear (it starts at probability 0.5 everywhere until fitted)."""
    if kind == "linear":
        head = nn.Linear(width, 1)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        return head
    if kind == "gru":
        return FrameSequenceHead(width, hidden)
    raise ValueError(f"unknown frame head {kind!r}; choose one of {', '.join(FRAME_HEADS)}")


def frame_logits(head: nn.Module, rows: torch.Tensor) -> torch.Tensor:
    """(T, F) rows of one clip -> (T,) logits of ``head`` (linear per frame, or the sequence head)."""
    if isinstance(head, FrameSequenceHead):
        return head(rows[None])[0]
    return head(rows)[:, 0]


def onset_time(probs, times, threshold: float = 0.5) -> float:
    """When an event starts, read off a frame head's per-frame probabilities ``probs`` (T,) at
    the frames' seconds ``times`` (T,): the first time the probability reaches ``threshold``,
    linearly interpolated between that frame and the one before it (the first frame's time when
    it is already there); when no frame reaches it, the most anomalous frame's time. The guide's
    start (``head.guide_start``)."""
    p = [float(x) for x in (probs.tolist() if hasattr(probs, "tolist") else probs)]
    t = [float(x) for x in times]
    if not p or len(p) != len(t):
        raise InputError(f"onset_time needs one time per probability, got {len(p)} probabilities and {len(t)} times")
    for i, x in enumerate(p):
        if x >= threshold:
            if i == 0 or p[i] == p[i - 1]:
                return t[i]
            return t[i - 1] + (threshold - p[i - 1]) / (p[i] - p[i - 1]) * (t[i] - t[i - 1])
    return t[max(range(len(p)), key=p.__getitem__)]
