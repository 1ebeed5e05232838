"""A learnt motion encoder: frames and their direction-keeping optical flow -> frame tokens.

The paper's motion branch feeds the frozen image encoder the frames masked by the flow
magnitude. On small, distant actors that input loses what the event is: a magnitude mask
keeps how fast pixels move but not which way (a wrong-way car looks like any car), blanks an
actor that stands still (a loiterer, a fallen person), and a frozen ImageNet encoder pools a
20-pixel person into a fraction of one of its 49 cells (``benchmarks/feature_probe.md``).

:class:`FlowEncoder` is the optional replacement the ``embedded`` preset can train
(``vision.motion_encoder: flow_cnn``): a small CNN applied to every sampled frame, whose input
is the frame's RGB and its Farneback flow (dx, dy, sign-kept log scale) at ``size`` px, with
temporal convolutions between its stages so that a token sees its neighbours in time. Its
output has the frozen encoder's layout, ``(B, T, N, D)``, so the video Q-Former and the rest
of the motion branch are unchanged. It trains with the adapter (its weights and its
BatchNorm statistics are saved in the adapter file); its input (:func:`flow_encoder_input`)
is what the feature cache stores for it. BatchNorm, not GroupNorm: on the probe GroupNorm
barely learnt (train loss 2.42 after two epochs against 2.15 with BatchNorm).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

CHANNELS = 5  # R, G, B, flow dx, flow dy


def flow_encoder_input(frames: np.ndarray, flow: np.ndarray, size: int) -> np.ndarray:
    """(T, S, S, 3) uint8 frames and (T, S, S, 2) flow (pixels/frame at S) -> (T, size, size, 5)
    float16: RGB in [-0.5, 0.5] and the flow resized to ``size`` (vectors rescaled with it),
    compressed as sign(f) * log(1 + |f|) so that a walker and a car both stay in range."""
    import cv2

    T, S = frames.shape[0], frames.shape[1]
    out = np.empty((T, size, size, CHANNELS), dtype=np.float16)
    k = size / float(S)
    for t in range(T):
        rgb = frames[t] if S == size else cv2.resize(frames[t], (size, size), interpolation=cv2.INTER_AREA)
        f = flow[t] if S == size else cv2.resize(flow[t], (size, size), interpolation=cv2.INTER_AREA) * k
        out[t, ..., :3] = rgb.astype(np.float32) / 255.0 - 0.5
        out[t, ..., 3:] = np.sign(f) * np.log1p(np.abs(f))
    return out


class _Stage(nn.Module):
    def __init__(self, cin: int, cout: int, temporal: bool) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )
        self.temporal = nn.Conv1d(cout, cout, 3, padding=1, groups=cout // 8) if temporal else None

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:  # (B*T, C, H, W)
        x = self.conv(x)
        if self.temporal is not None:
            BT, C, H, W = x.shape
            y = x.view(BT // T, T, C, H * W).permute(0, 3, 2, 1).reshape(-1, C, T)  # (B*HW, C, T)
            y = self.temporal(y).view(BT // T, H * W, C, T).permute(0, 3, 2, 1).reshape(BT, C, H, W)
            x = x + torch.relu(y)
        return x


def pool_tokens(tokens: torch.Tensor) -> torch.Tensor:
    """(B, T, N, D) encoder tokens -> (B, 2 D): their mean and maximum over frames and cells,
    what a class head on a learnt encoder reads (``head.on: encoder`` / ``own_encoder``)."""
    return torch.cat([tokens.mean((1, 2)), tokens.amax((1, 2))], -1)


def flow_encoder_dim(width: int) -> int:
    """The token width D of a :class:`FlowEncoder` of ``width`` (``vision.flow_width``)."""
    return 2 * width


class FlowEncoder(nn.Module):
    """(B, T, S, S, C) float frames+flow -> (B, T, N, D) tokens, N = (S / 16)^2, D = ``dim`` = 2 x ``width``."""

    def __init__(self, in_channels: int = CHANNELS, width: int = 64) -> None:
        super().__init__()
        w = width
        self.stages = nn.ModuleList([_Stage(in_channels, w // 2, False), _Stage(w // 2, w, True), _Stage(w, 2 * w, True),
                                     _Stage(2 * w, 2 * w, True)])
        self.dim = flow_encoder_dim(w)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, S, S, C), or the cache's flat (B, T, S*S, C) -> (B, T, (S/16)^2, dim)."""
        if x.dim() == 4:  # the flat layout the feature cache stores
            side = int(round(x.size(2) ** 0.5))
            if side * side != x.size(2):
                raise ValueError(f"flow-encoder input of {x.size(2)} pixels per frame is not a square")
            x = x.view(x.size(0), x.size(1), side, side, x.size(3))
        if x.dim() != 5 or x.size(-1) != self.in_channels:
            raise ValueError(f"flow-encoder input must be (B, T, S, S, {self.in_channels}), got {tuple(x.shape)}")
        B, T, S, _, C = x.shape
        h = x.to(self.stages[0].conv[0].weight.dtype).permute(0, 1, 4, 2, 3).reshape(B * T, C, S, S)
        for stage in self.stages:
            h = stage(h, T)
        BT, D, H, W = h.shape
        return h.view(B, T, D, H * W).transpose(2, 3)
