"""hawk_core.model.qformer (video Q-Former, projection head) against an independent
reference written with plain tensor algebra, on random non-degenerate weights (every weight,
bias and LayerNorm parameter drawn at random, so no term hides behind a zero or a one)."""

from __future__ import annotations

import math

import pytest
import torch

from hawk_core.errors import InputError
from hawk_core.model.config import ProjectionConfig, VideoQFormerConfig
from hawk_core.model.qformer import Branch, Projection, VideoQFormer

D_FEAT, HIDDEN, HEADS, FFN, QUERIES, POSITIONS = 6, 8, 2, 12, 3, 4
EPS = 1e-3  # not LayerNorm's default, so a lost eps shows


def _cfg(**kw) -> VideoQFormerConfig:
    base = dict(hidden_size=HIDDEN, num_layers=2, num_heads=HEADS, intermediate_size=FFN, num_query_tokens=QUERIES,
                max_frames=POSITIONS, dropout=0.5, layer_norm_eps=EPS)
    return VideoQFormerConfig(**{**base, **kw})


def _randomize(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return module


def _qformer(seed: int = 0, **kw) -> VideoQFormer:
    return _randomize(VideoQFormer(_cfg(**kw), D_FEAT), seed).eval()


def _feats(b: int = 2, t: int = 3, n: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(b, t, n, D_FEAT, generator=torch.Generator().manual_seed(seed))


# ---- the reference, in float64 ------------------------------------------------------------


def _lin(layer: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return x @ layer.weight.double().t() + layer.bias.double()


def _ln(norm: torch.nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + EPS) * norm.weight.double() + norm.bias.double()


def _attn(att, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
    b, q, d = x.shape
    h, dh = att.heads, d // att.heads
    qq = _lin(att.query, x).view(b, q, h, dh)
    kk = _lin(att.key, ctx).view(b, ctx.shape[1], h, dh)
    vv = _lin(att.value, ctx).view(b, ctx.shape[1], h, dh)
    w = torch.softmax(torch.einsum("bqhd,bnhd->bhqn", qq, kk) / math.sqrt(dh), dim=-1)
    out = torch.einsum("bhqn,bnhd->bqhd", w, vv).reshape(b, q, d)
    return _ln(att.norm, x + _lin(att.out, out))


def _ffn(ff, x: torch.Tensor) -> torch.Tensor:
    u = _lin(ff.fc1, x)
    gelu = 0.5 * u * (1 + torch.erf(u / math.sqrt(2)))
    return _ln(ff.norm, x + _lin(ff.fc2, gelu))


def _reference(qf: VideoQFormer, feats: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
    b, t, n, d = feats.shape
    table = qf.frame_position.weight[:t] if table is None else table
    ctx = torch.stack([feats[:, i].double() + table[i].double() for i in range(t)], dim=1).reshape(b, t * n, d)
    x = _ln(qf.norm, qf.query_tokens.double().expand(b, -1, -1))
    for layer in qf.layers:
        x = _attn(layer.self_attn, x, x)
        x = _attn(layer.cross_attn, x, ctx)
        x = _ffn(layer.ffn, x)
    return x


# ---- tests --------------------------------------------------------------------------------


def test_video_qformer_equals_the_reference():
    qf = _qformer()  # dropout 0.5, but eval mode: no dropout
    feats = _feats()
    with torch.no_grad():
        out = qf(feats)
        assert out.shape == (2, QUERIES, HIDDEN)
        torch.testing.assert_close(out.double(), _reference(qf, feats), atol=1e-4, rtol=1e-4)


def test_each_frame_gets_its_own_position_row():
    """Cross-attention does not see token order, so only the position table ties frame t to
    row t: permuting the frames changes the output, unless the rows are permuted with them."""
    qf = _qformer(seed=2)
    feats = _feats(t=4, seed=3)
    perm = [2, 0, 3, 1]
    with torch.no_grad():
        out = qf(feats)
        moved = qf(feats[:, perm])
        assert (moved - out).abs().max() > 1e-3
        table = qf.frame_position.weight.clone()
        qf.frame_position.weight.copy_(table[perm])  # frame i of the permuted clip keeps its row
        torch.testing.assert_close(qf(feats[:, perm]), out, atol=1e-5, rtol=1e-5)
        qf.frame_position.weight.copy_(table)
        torch.testing.assert_close(qf.positions(3), table[:3])  # fewer frames: the first rows


def test_positions_interpolate_past_the_table():
    qf = _qformer(seed=4)
    table = qf.frame_position.weight.detach()  # (4, D)
    with torch.no_grad():
        pos = qf.positions(7)  # row j sits at j * 3/6 = j/2 of the table
    assert pos.shape == (7, D_FEAT)
    for j in range(7):
        lo, frac = divmod(j, 2)
        want = table[lo] if frac == 0 else (table[lo] + table[lo + 1]) / 2
        torch.testing.assert_close(pos[j], want, atol=1e-6, rtol=1e-6)
    feats = _feats(t=7, seed=5)
    with torch.no_grad():
        torch.testing.assert_close(qf(feats).double(), _reference(qf, feats, pos), atol=1e-4, rtol=1e-4)
    strict = _qformer(position_extend="error")
    assert strict.positions(4).shape == (4, D_FEAT)
    with pytest.raises(InputError, match=r"^5 frames but the video Q-Former has 4 frame positions "
                                         r"\(set video_qformer.position_extend='interpolate' or use fewer frames\)$"):
        strict(_feats(t=5))


def test_bad_feature_shapes_are_named():
    qf = _qformer()
    with pytest.raises(InputError, match=r"\(B, T, N, 6\), got \(2, 3, 7\)"):
        qf(torch.zeros(2, 3, 7))
    with pytest.raises(InputError, match=r"got \(2, 3, 2, 5\)"):
        qf(torch.zeros(2, 3, 2, 5))


def test_dropout_only_while_training_and_checkpointing_changes_nothing():
    feats = _feats()
    qf = _qformer(seed=6)
    qf.train()
    torch.manual_seed(0)
    a = qf(feats)
    torch.manual_seed(1)
    b = qf(feats)
    assert (a - b).abs().max() > 1e-3  # dropout is active in training
    plain, ckpt = _qformer(seed=7, dropout=0.0).train(), _qformer(seed=7, dropout=0.0, gradient_checkpointing=True).train()
    x1, x2 = feats.clone().requires_grad_(), feats.clone().requires_grad_()
    y1, y2 = plain(x1), ckpt(x2)
    torch.testing.assert_close(y1, y2)
    (y1 ** 2).sum().backward()
    (y2 ** 2).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    for p1, p2 in zip(plain.parameters(), ckpt.parameters()):
        torch.testing.assert_close(p1.grad, p2.grad)


def test_dropout_sites_and_checkpointing_follow_the_mode(monkeypatch):
    """BERT's dropout sites: the query embeddings, each attention's output (and its weights),
    the feed-forward output; all off in eval. Checkpointing only when training with grad."""
    import hawk_core.model.qformer as qmod

    calls, sdpa, ckpt = [], [], []
    real_dropout, real_sdpa, real_ckpt = qmod.F.dropout, qmod.F.scaled_dot_product_attention, qmod.checkpoint
    monkeypatch.setattr(qmod.F, "dropout", lambda x, p, training: calls.append((p, training)) or real_dropout(x, p, training))
    monkeypatch.setattr(qmod.F, "scaled_dot_product_attention", lambda *a, **k: sdpa.append(k["dropout_p"]) or real_sdpa(*a, **k))
    monkeypatch.setattr(qmod, "checkpoint", lambda *a, **k: ckpt.append(k) or real_ckpt(*a, **k))
    qf = _qformer(dropout=0.25, gradient_checkpointing=True)
    feats = _feats()
    qf.train()
    qf(feats)
    assert calls == [(0.25, True)] * (1 + 2 * 3) and sdpa == [0.25] * 4  # queries + 2 layers x (2 attentions + ffn)
    assert ckpt == [{"use_reentrant": False}] * 2  # one per layer
    calls.clear(), sdpa.clear(), ckpt.clear()
    with torch.no_grad():
        qf(feats)  # training, but no graph: nothing to recompute
    assert ckpt == [] and sdpa == [0.25] * 4
    calls.clear(), sdpa.clear()
    qf.eval()
    qf(feats)
    assert calls == [(0.25, False)] * 7 and sdpa == [0.0] * 4 and ckpt == []
    _qformer(dropout=0.25).train()(feats)
    assert ckpt == []  # not configured


def test_initialisation_is_berts():
    torch.manual_seed(0)
    qf = VideoQFormer(VideoQFormerConfig(hidden_size=64, num_heads=4, intermediate_size=128, num_query_tokens=32, max_frames=32), 48)
    assert qf.query_tokens.std().item() == pytest.approx(0.02, rel=0.15)
    assert qf.frame_position.weight.std().item() == pytest.approx(0.02, rel=0.15)
    linears = [m for m in qf.layers.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 2 * 2 * 4 + 2 * 2  # 2 layers x (2 attentions x 4 + feed-forward 2)
    for m in linears:
        assert m.weight.std().item() == pytest.approx(0.02, rel=0.2)
        assert torch.count_nonzero(m.bias) == 0


@pytest.mark.parametrize("shared", [0, 1, 2])
def test_projection_shares_its_trunk_and_has_no_nonlinearity(shared):
    proj = _randomize(Projection(ProjectionConfig(shared_layers=shared, tight_dim=5), HIDDEN, 10), seed=8)
    assert len(proj.shared) == shared
    x = torch.randn(2, QUERIES, HIDDEN, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        llm, tight = proj(x)
    h = _lin(proj.proj_in, x.double())
    for layer in proj.shared:
        h = _lin(layer, h)
    assert llm.shape == (2, QUERIES, 10) and tight.shape == (2, QUERIES, 5)
    torch.testing.assert_close(llm.double(), _lin(proj.to_llm, h), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(tight.double(), _lin(proj.to_tight, h), atol=1e-4, rtol=1e-4)


def test_branch_is_projection_of_the_video_qformer():
    branch = Branch(_cfg(), ProjectionConfig(shared_layers=1, tight_dim=5), D_FEAT, 10)
    _randomize(branch, seed=10).eval()
    feats = _feats()
    with torch.no_grad():
        llm, tight = branch(feats)
        want_llm, want_tight = branch.projection(branch.video_qformer(feats))
    torch.testing.assert_close(llm, want_llm)
    torch.testing.assert_close(tight, want_tight)
    assert llm.shape == (2, QUERIES, 10) and tight.shape == (2, QUERIES, 5)
