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
