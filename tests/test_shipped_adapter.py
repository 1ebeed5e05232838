"""The trained adapter shipped as the default model (hawk_core/assets/embedded/), and the
ablation benchmark's command line."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from hawk_core.model import checkpoints as inference
from tests.conftest import ROOT

SHIPPED = inference.DEFAULT_ADAPTER_DIR
# widths the embedded backbones feed the adapter: EfficientNet-Lite0 tokens, SmolLM2-135M hidden
VISION_DIM, LLM_DIM = 1280, 576


def _state():
    from safetensors.torch import load_file

    return load_file(str(SHIPPED / "adapter.safetensors"))


def test_shipped_adapter_is_the_default_and_fits_the_embedded_adapter():
    from hawk_core.model.config import HawkConfig
    from hawk_core.model.hawk import trainable_shapes
    from hawk_core.model.qformer import Branch

    assert inference.is_checkpoint_dir(SHIPPED), f"no shipped adapter under {SHIPPED}"
    spec = inference.resolve_model(None)
    assert spec.source == str(SHIPPED) and spec.kind == "checkpoint" and spec.trained and spec.note is None
    cfg = HawkConfig.load(SHIPPED)
    assert cfg.preset == "embedded" and cfg.vision.kind == "efficientnet_lite0" and cfg.llm.kind == "smollm2"
    assert cfg.loss.use_motion and cfg.loss.use_mv and cfg.loss.use_ml  # the full model, not an ablation
    # the guided default: a learnt motion encoder, LoRA on the LLM's attention, the class head on
    # its own learnt encoder named in the prompt, and the per-frame anomaly head (README, "The trained default model")
    assert cfg.vision.motion_encoder == "flow_cnn" and cfg.llm.lora.enabled
    assert cfg.head.guide and cfg.head.on == "own_encoder" and cfg.head.frames and "normal" in cfg.head.classes
    assert cfg.head.guide_start  # the guide also names the frame head's onset (README, "The guided head")
    # the head's own encoder is trained, not the seed's initialisation, and differs from the motion branch's
    from hawk_core.model.hawk import _head_encoder

    state, init = _state(), _head_encoder(cfg).state_dict()
    w = "stages.0.conv.0.weight"
    assert not torch.allclose(state[f"head_encoder.{w}"].float(), init[w], atol=1e-3)
    assert not torch.allclose(state[f"head_encoder.{w}"].float(), state[f"branches.motion.encoder.{w}"].float(), atol=1e-3)
    # its frame head: a GRU over the clip on the encoder, the appearance (PCA) and the flow statistics
    h = cfg.head
    assert (h.frames_model, h.frames_flow, h.frames_appearance, h.frames_span) == ("gru", True, 64, pytest.approx(12.053))
    # the same tensors, names and shapes, as the model this config builds (from configs alone)
    expected = trainable_shapes(cfg)
    state = _state()
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    video = Branch(cfg.video_qformer, cfg.projection, VISION_DIM, LLM_DIM)  # the appearance branch at the backbones' widths
    assert all(expected[f"branches.video.{k}"] == tuple(p.shape) for k, p in video.named_parameters())
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())  # stored compact
    assert all(torch.isfinite(v).all() for v in state.values())
    size = (SHIPPED / "adapter.safetensors").stat().st_size
    assert size < 20 * 2**20, f"the shipped adapter grew to {size / 2**20:.1f} MiB"


def test_shipped_adapter_is_trained_not_initial():
    """Its weights differ from the initialisation the config's seed gives (a real training run)."""
    from hawk_core.model.config import HawkConfig
    from hawk_core.model.qformer import Branch

    cfg = HawkConfig.load(SHIPPED)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        init = Branch(cfg.video_qformer, cfg.projection, VISION_DIM, LLM_DIM)
    state = _state()
    moved = [k for k, p in init.named_parameters() if not torch.allclose(state[f"branches.video.{k}"].float(), p, atol=1e-3)]
    assert len(moved) > len(list(init.parameters())) // 2


@pytest.mark.slow
def test_shipped_adapter_loads_into_the_embedded_model(fighting_video):
    from hawk_core.model.hawk import HawkModel

    model = HawkModel.from_pretrained(SHIPPED)  # strict: every key and shape checked
    assert model.vision.feature_dim == VISION_DIM and model.llm_dim == LLM_DIM
    p = dict(model.named_parameters())["branches.motion.projection.to_llm.weight"]
    assert p.dtype == torch.float32 and torch.equal(p.half(), _state()["branches.motion.projection.to_llm.weight"])
    assert model.config.data.num_frames == 16


def test_ablation_script_help():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ablation.py"), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "--variants" in r.stdout and "wo_motion" in r.stdout and "--real" in r.stdout


def test_ablation_script_rejects_unknown_variant():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ablation.py"), "--variants", "full,nope"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown nope" in r.stderr
