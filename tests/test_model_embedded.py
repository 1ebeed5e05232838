"""The embedded preset with its real weights (EfficientNet-Lite0 + SmolLM2-135M-Instruct)."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.slow


def test_embedded_build_forward_generate(dog_video):
    from hawk_core.model.config import HawkConfig
    from hawk_core.model.hawk import HawkModel
    from hawk_core.model.text import TextSample

    cfg = HawkConfig.from_preset("embedded", overrides={"data": {"num_frames": 4}})
    model = HawkModel.build(cfg).eval()
    assert model.vision.feature_dim == 1280 and model.llm_dim == 576
    assert model.config.vision.norm_mean == (0.485, 0.456, 0.406)
    from hawk_core.data.features import encode_clips, sample_for_model

    fv, fm = encode_clips(model, [sample_for_model(dog_video, model.config.data)])  # 4 frames + their motion, at 224 px
    assert fv.shape == (1, 4, 49, 1280) and fm.shape == (1, 4, 49, 1280)
    batch = model.collate([TextSample("Can you describe the anomaly in the video?", "A dog rides a skateboard.", "dog rides skateboard")])
    out = model(fv, fm, batch, full_logits=True)
    assert out.logits.shape[-1] == len(model.tokenizer) or out.logits.shape[-1] >= 49152
    for term in (out.loss_vl, out.loss_mv, out.loss_ml):
        assert torch.isfinite(term) and term.item() > 0
    text = model.generate(fv, fm, ["What is happening in the video?"], max_new_tokens=5)
    assert len(text) == 1 and text[0]
