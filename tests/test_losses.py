"""The three HAWK losses against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from hawk_core.errors import ConfigError, InputError
from hawk_core.model.losses import IGNORE_INDEX, lm_loss, ml_loss, mv_loss, total_loss


def test_lm_loss_only_labelled_tokens():
    # position i predicts token i+1; labels[0] is never predicted, labels[1]=1, labels[2]=0
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [100.0, -100.0]]])  # (1, 3, 2)
    labels = torch.tensor([[IGNORE_INDEX, 1, 0]])
    # CE(pos0 -> 1) = ln 2 ; CE(pos1 -> 0) = -ln(3/4)
    expected = (math.log(2.0) + math.log(4.0 / 3.0)) / 2
    assert lm_loss(logits, labels).item() == pytest.approx(expected, abs=1e-6)
    # masking the second target leaves ln 2 alone
    assert lm_loss(logits, torch.tensor([[IGNORE_INDEX, 1, IGNORE_INDEX]])).item() == pytest.approx(math.log(2.0), abs=1e-6)


def test_lm_loss_mean_over_tokens_of_the_whole_batch():
    logits = torch.zeros(2, 3, 4)  # uniform: every CE is ln 4
    labels = torch.tensor([[IGNORE_INDEX, 1, 2], [IGNORE_INDEX, IGNORE_INDEX, 3]])
    assert lm_loss(logits, labels).item() == pytest.approx(math.log(4.0), abs=1e-6)


def test_lm_loss_without_labels_is_zero_and_attached():
    logits = torch.randn(1, 4, 5, requires_grad=True)
    out = lm_loss(logits, torch.full((1, 4), IGNORE_INDEX))
    assert out.item() == 0.0 and out.requires_grad


def test_lm_loss_shape_mismatch_is_named():
    with pytest.raises(InputError, match=r"\(1, 3\)"):
        lm_loss(torch.zeros(1, 4, 2), torch.zeros(1, 3, dtype=torch.long))


def test_ml_loss_is_the_masked_lm_loss_of_the_motion_text():
    logits = torch.tensor([[[0.0, 0.0], [0.0, math.log(3.0)]]])
    labels = torch.tensor([[IGNORE_INDEX, 1]])
    assert ml_loss(logits, labels).item() == pytest.approx(math.log(2.0), abs=1e-6)


def test_mv_loss_per_sample():
    v = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]]])  # (B=2, Q=1, K=2)
    m = torch.tensor([[[0.0, 1.0]], [[2.0, 2.0]]])
    # sample 0 orthogonal: 1 - 0 ; sample 1 parallel: 1 - 1
    assert mv_loss(v, m, "per_sample").item() == pytest.approx(0.5, abs=1e-6)


def test_mv_loss_flattened_release():
    v = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]]])
    m = torch.tensor([[[0.0, 1.0]], [[2.0, 2.0]]])
    # flattened: v=(1,0,1,1), m=(0,1,2,2): cos = 4 / (sqrt(3) * 3)
    assert mv_loss(v, m, "flattened").item() == pytest.approx(1 - 4 / (3 * math.sqrt(3)), abs=1e-6)


def test_mv_loss_per_sample_flattens_tokens_of_one_video():
    v = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # (1, 2, 2)
    m = torch.tensor([[[1.0, 0.0], [0.0, -1.0]]])
    # flattened per video: (1,0,0,1) . (1,0,0,-1) = 0
    assert mv_loss(v, m).item() == pytest.approx(1.0, abs=1e-6)


def test_mv_loss_errors():
    with pytest.raises(InputError, match="disagree"):
        mv_loss(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4))
    with pytest.raises(ConfigError, match="unknown"):
        mv_loss(torch.ones(1, 2, 3), torch.ones(1, 2, 3), "cosine")


def test_total_loss_weights():
    t = total_loss(torch.tensor(2.0), torch.tensor(3.0), torch.tensor(4.0))
    assert t.item() == pytest.approx(2.0 + 0.3 + 0.4)
    assert total_loss(torch.tensor(2.0), torch.tensor(3.0), torch.tensor(4.0), 0.5, 0.0, 1.0).item() == pytest.approx(5.0)


# ---- inputs where the plausible wrong reductions give other numbers ----------------------


def _cos(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_mv_loss_is_one_cosine_per_flattened_video_on_random_features():
    g = torch.Generator().manual_seed(7)
    v = torch.randn(3, 4, 5, generator=g) * torch.tensor([0.5, 2.0, 3.0, 7.0]).view(1, 4, 1)  # tokens of unequal norm
    m = torch.randn(3, 4, 5, generator=g) + 0.3 * v
    per_video = [1 - _cos(v[b].flatten().tolist(), m[b].flatten().tolist()) for b in range(3)]
    expected = sum(per_video) / 3
    assert mv_loss(v, m).item() == pytest.approx(expected, rel=1e-5)
    # the wrong axes give other numbers here: per token, and one cosine over the batch
    per_token = (1 - torch.nn.functional.cosine_similarity(v, m, dim=-1)).mean().item()
    whole_batch = 1 - _cos(v.flatten().tolist(), m.flatten().tolist())
    assert abs(per_token - expected) > 1e-2 and abs(whole_batch - expected) > 1e-3
    assert mv_loss(v, m, "flattened").item() == pytest.approx(whole_batch, rel=1e-5)


def test_mv_loss_does_not_floor_small_features():
    # features of norm ~1e-2: cosine is scale-free, so the loss is that of the rescaled features
    g = torch.Generator().manual_seed(3)
    v, m = torch.randn(2, 3, 4, generator=g), torch.randn(2, 3, 4, generator=g)
    for mode in ("per_sample", "flattened"):
        assert mv_loss(v * 1e-2, m * 1e-2, mode).item() == pytest.approx(mv_loss(v, m, mode).item(), rel=1e-5)


def test_lm_loss_is_a_token_mean_over_the_batch_not_a_mean_of_sequence_means():
    # answers of different lengths (1 and 3 labelled tokens) and non-uniform logits
    g = torch.Generator().manual_seed(11)
    logits = torch.randn(2, 5, 6, generator=g) * 3
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 4],
                           [IGNORE_INDEX, 2, 5, 1, IGNORE_INDEX]])
    ce = {}
    for b in range(2):
        for i in range(1, 5):
            if labels[b, i] != IGNORE_INDEX:
                row = logits[b, i - 1].tolist()  # position i-1 predicts token i
                log_z = math.log(sum(math.exp(x) for x in row))
                ce[(b, i)] = log_z - row[int(labels[b, i])]
    token_mean = sum(ce.values()) / len(ce)
    seq_means = [sum(v for (b, _), v in ce.items() if b == s) / sum(1 for (b, _) in ce if b == s) for s in range(2)]
    assert abs(token_mean - sum(seq_means) / 2) > 0.05  # the two averagings disagree on this input
    assert lm_loss(logits, labels).item() == pytest.approx(token_mean, rel=1e-5)
    assert ml_loss(logits, labels).item() == pytest.approx(token_mean, rel=1e-5)


def test_lm_loss_with_labels_only_on_the_first_position_is_zero():
    # labels[:, 0] is never a target (nothing predicts it)
    logits = torch.randn(1, 3, 4)
    assert lm_loss(logits, torch.tensor([[2, IGNORE_INDEX, IGNORE_INDEX]])).item() == 0.0


@pytest.mark.parametrize("mode", ["per_sample", "flattened"])
def test_mv_loss_eps_floors_the_norms(mode):
    # parallel features of norm 0.03 per video: cosine 1 (loss 0) unless eps=1 floors the
    # norm product to 1: then cos = |v|^2 = 9e-4 for each video
    v = torch.zeros(2, 3, 2)
    v[:, 0, 0] = 0.03
    assert mv_loss(v, v.clone(), mode).item() == pytest.approx(0.0, abs=1e-6)
    want = 1 - 9e-4 if mode == "per_sample" else 1 - 2 * 9e-4  # flattened: |v|^2 of the whole batch
    assert mv_loss(v, v.clone(), mode, eps=1.0).item() == pytest.approx(want, abs=1e-6)
