"""The trainable parts of one branch: the video Q-Former and the projection/compression head.

The video Q-Former follows the BERT layout of BLIP-2's Q-Former as the authors' release uses
it for video (2 layers, post-LN): per layer, self-attention over the learned queries,
cross-attention from the queries to every token of every frame, feed-forward. Each frame's
tokens get that frame's learned position embedding added first.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import InputError
from .config import ProjectionConfig, VideoQFormerConfig


class Attention(nn.Module):
    """Multi-head attention with a post-LN residual: norm(x + out(attn(x, ctx)))."""

    def __init__(self, dim: int, ctx_dim: int, heads: int, dropout: float, eps: float):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(ctx_dim, dim)
        self.value = nn.Linear(ctx_dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        b, q, d = x.shape
        h = self.heads

        def split(t: torch.Tensor) -> torch.Tensor:  # (B, N, D) -> (B, h, N, D/h)
            return t.view(b, t.size(1), h, d // h).transpose(1, 2)

        a = F.scaled_dot_product_attention(
            split(self.query(x)), split(self.key(ctx)), split(self.value(ctx)), dropout_p=self.dropout if self.training else 0.0
        )  # (B, h, Q, D/h)
        a = a.transpose(1, 2).reshape(b, q, d)
        return self.norm(x + F.dropout(self.out(a), self.dropout, self.training))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float, eps: float):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + F.dropout(self.fc2(F.gelu(self.fc1(x))), self.dropout, self.training))


class QFormerLayer(nn.Module):
    def __init__(self, cfg: VideoQFormerConfig, ctx_dim: int):
        super().__init__()
        d, eps = cfg.hidden_size, cfg.layer_norm_eps
        self.self_attn = Attention(d, d, cfg.num_heads, cfg.dropout, eps)
        self.cross_attn = Attention(d, ctx_dim, cfg.num_heads, cfg.dropout, eps)
        self.ffn = FeedForward(d, cfg.intermediate_size, cfg.dropout, eps)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        x = self.self_attn(x, x)
        x = self.cross_attn(x, ctx)
        return self.ffn(x)


class VideoQFormer(nn.Module):
    """(B, T, N, D) frame tokens -> (B, Q, H) video tokens."""

    def __init__(self, cfg: VideoQFormerConfig, feature_dim: int):
        super().__init__()
        self.cfg = cfg
        self.feature_dim = feature_dim
        self.query_tokens = nn.Parameter(torch.zeros(1, cfg.num_query_tokens, cfg.hidden_size))
        self.frame_position = nn.Embedding(cfg.max_frames, feature_dim)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)  # on the queries (BERT embeddings LN)
        self.layers = nn.ModuleList(QFormerLayer(cfg, feature_dim) for _ in range(cfg.num_layers))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.query_tokens, std=0.02)  # BERT initializer_range
        nn.init.normal_(self.frame_position.weight, std=0.02)
        for m in self.layers.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def positions(self, num_frames: int) -> torch.Tensor:
        """(T, D) frame-position embeddings; interpolated when T > max_frames (see config)."""
        table = self.frame_position.weight  # (P, D)
        p = table.size(0)
        if num_frames <= p:
            return table[:num_frames]
        if self.cfg.position_extend == "error":
            raise InputError(f"{num_frames} frames but the video Q-Former has {p} frame positions "
                             "(set video_qformer.position_extend='interpolate' or use fewer frames)")
        # (1, D, P) -> (1, D, T), linear, end rows kept
        return F.interpolate(table.t()[None], size=num_frames, mode="linear", align_corners=True)[0].t()

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if feats.dim() != 4 or feats.size(-1) != self.feature_dim:
            raise InputError(f"frame features must be (B, T, N, {self.feature_dim}), got {tuple(feats.shape)}")
        b, t, n, d = feats.shape
        dtype = self.query_tokens.dtype
        ctx = feats.to(dtype) + self.positions(t)[None, :, None, :]  # (B, T, N, D)
        ctx = ctx.reshape(b, t * n, d)  # (B, T*N, D)
        x = self.norm(self.query_tokens.expand(b, -1, -1))  # (B, Q, H)
        x = F.dropout(x, self.cfg.dropout, self.training)
        for layer in self.layers:
            if self.cfg.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(layer, x, ctx, use_reentrant=False)
            else:
                x = layer(x, ctx)
        return x  # (B, Q, H)


class Projection(nn.Module):
    """P and C sharing their first layers (no nonlinearities, as the release).

    x (B, Q, q) -> in -> shared... -> h; to_llm(h) (B, Q, llm) ; to_tight(h) (B, Q, tight).
    """

    def __init__(self, cfg: ProjectionConfig, in_dim: int, llm_dim: int):
        super().__init__()
        self.proj_in = nn.Linear(in_dim, llm_dim)
        self.shared = nn.ModuleList(nn.Linear(llm_dim, llm_dim) for _ in range(cfg.shared_layers))
        self.to_llm = nn.Linear(llm_dim, llm_dim)
        self.to_tight = nn.Linear(llm_dim, cfg.tight_dim)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj_in(x)
        for layer in self.shared:
            x = layer(x)
        return x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.to_llm(h), self.to_tight(h)


class Branch(nn.Module):
    """One branch's trainable part: video Q-Former + projection/compression head, and, with
    ``image_queries=(Q, H)``, its own image Q-Former queries (1, Q, H) (the release's
    ``query_tokens_motion``), which the model feeds to the frozen image Q-Former; with
    ``encoder``, a trainable frame encoder run first (its ``dim`` is the Q-Former's input)."""

    def __init__(self, qcfg: VideoQFormerConfig, pcfg: ProjectionConfig, feature_dim: int, llm_dim: int,
                 image_queries: tuple[int, int] | None = None, encoder: nn.Module | None = None):
        super().__init__()
        if encoder is not None:  # a trainable frame encoder before the video Q-Former (vision.motion_encoder flow_cnn)
            self.encoder = encoder
            feature_dim = encoder.dim
        else:
            self.register_module("encoder", None)
        self.video_qformer = VideoQFormer(qcfg, feature_dim)
        self.projection = Projection(pcfg, qcfg.hidden_size, llm_dim)
        if image_queries:
            self.image_queries = nn.Parameter(torch.zeros(1, *image_queries))
        else:
            self.register_parameter("image_queries", None)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, N, D) -> LLM tokens (B, Q, llm), tight features (B, Q, tight)."""
        if self.encoder is not None:
            feats = self.encoder(feats)
        return self.projection(self.video_qformer(feats))

