"""The learnt motion encoder (``vision.motion_encoder: flow_cnn``): its input, its shapes, its
place in the model (trainable, saved with the adapter, fed by the one feature path), and
`hawk train` / `hawk describe` with it on the tiny preset over a real clip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hawk_core.errors import ConfigError
from hawk_core.model.config import HawkConfig
from hawk_core.model.hawk import HawkModel, trainable_shapes
from hawk_core.model.motion_encoder import CHANNELS, FlowEncoder, flow_encoder_input
from tests.helpers import invoke

FLOW = {"vision": {"motion_encoder": "flow_cnn", "flow_size": 32, "flow_width": 16}}


def test_input_keeps_direction_and_rescales_the_flow():
    frames = np.full((3, 64, 64, 3), 255, np.uint8)
    frames[1] = 0
    flow = np.zeros((3, 64, 64, 2), np.float32)
    flow[0, ..., 0] = 4.0  # 4 px/frame to the right at 64 px -> 2 px/frame at 32 px
    flow[1, ..., 1] = -4.0  # upwards
    x = flow_encoder_input(frames, flow, 32)
    assert x.shape == (3, 32, 32, CHANNELS) and x.dtype == np.float16
    assert np.allclose(x[0, ..., :3], 0.5) and np.allclose(x[1, ..., :3], -0.5)  # RGB in [-0.5, 0.5]
    assert np.allclose(x[0, ..., 3], np.log1p(2.0), atol=1e-3) and np.allclose(x[0, ..., 4], 0)
    assert np.allclose(x[1, ..., 4], -np.log1p(2.0), atol=1e-3)  # the sign (direction) is kept
    assert np.allclose(x[2, ..., 3:], 0)
    same = flow_encoder_input(frames, flow, 64)  # no resize: vectors unscaled
    assert np.allclose(same[0, ..., 3], np.log1p(4.0), atol=1e-3)


def test_encoder_shapes_and_flat_layout():
    enc = FlowEncoder(width=16).eval()
    x = torch.randn(2, 4, 32, 32, CHANNELS)
    tok = enc(x)
    assert tok.shape == (2, 4, 4, 32)  # (32 / 16)^2 cells, 2 x width channels
    torch.testing.assert_close(enc(x.reshape(2, 4, 32 * 32, CHANNELS)), tok)  # the cache's flat layout
    with pytest.raises(ValueError, match="not a square"):
        enc(torch.randn(1, 2, 30, CHANNELS))
    with pytest.raises(ValueError, match="must be"):
        enc(torch.randn(1, 2, 16, 16, 3))


def test_tokens_see_their_neighbours_in_time():
    enc = FlowEncoder(width=16).eval()
    x = torch.zeros(1, 6, 32, 32, CHANNELS)
    y = x.clone()
    y[0, 5] = 1.0  # only the last frame differs
    with torch.no_grad():
        a, b = enc(x), enc(y)
    assert not torch.allclose(a[0, 4], b[0, 4])  # frame 4's tokens see frame 5 (temporal convolutions)
    torch.testing.assert_close(a[0, :2], b[0, :2])  # receptive field is local in time (3 stages of 3)


@pytest.mark.parametrize("bad, needle", [
    ({"motion_encoder": "flow_cnn", "flow_size": 100}, "multiple of 16"),
    ({"motion_encoder": "flow_cnn", "flow_width": 20}, "multiple of 16"),
    ({"motion_encoder": "flow_cnn", "flow_width": 0}, "positive integer"),
    ({"motion_encoder": "flow_cnn", "motion_queries": "trainable"}, "must be 'shared'"),
    ({"motion_encoder": "flowcnn"}, "flow_cnn"),
])
def test_config_errors_name_the_field(bad, needle):
    with pytest.raises(ConfigError, match=needle):
        HawkConfig.from_preset("tiny", overrides={"vision": bad})


def test_embedded_preset_accepts_it_and_paper_default_is_unchanged():
    cfg = HawkConfig.from_preset("embedded", overrides={"vision": {"motion_encoder": "flow_cnn"}})
    assert cfg.vision.motion_encoder == "flow_cnn" and cfg.vision.kind == "efficientnet_lite0"
    for preset in ("embedded", "paper", "tiny"):
        assert HawkConfig.from_preset(preset).vision.motion_encoder == "pretrained"  # the paper's motion path by default


def test_model_trains_the_encoder_and_saves_it(tmp_path, fighting_video):
    from hawk_core.data.features import encode_clips, sample_for_model
    from hawk_core.model.text import TextSample

    model = HawkModel.build(HawkConfig.from_preset("tiny", overrides=FLOW))
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any(n.startswith("branches.motion.encoder.") for n in names)
    assert not any(n.startswith("branches.video.encoder.") for n in names)
    shapes = trainable_shapes(model.config)  # from configs alone, as the release mapping reads them
    assert shapes == {n: tuple(t.shape) for n, t in model.adapter_tensors().items()}
    assert "branches.motion.encoder.stages.0.conv.1.running_mean" in shapes  # BatchNorm statistics travel with the adapter

    pair = sample_for_model(fighting_video, model.config.data)
    fv, fm = encode_clips(model, [pair], amp=None)
    T = model.config.data.num_frames
    assert fm.shape == (1, T, 32 * 32, CHANNELS)  # the motion input itself, flat
    torch.testing.assert_close(fm[0], model.motion_input(*pair))  # float16, as the cache stores it
    model.train()
    batch = model.collate([TextSample("Describe the anomaly.", "A man hits a car.", "man hits car")])
    out = model(fv, fm, batch)
    out.loss.backward()
    grad = model.branches["motion"].encoder.stages[0].conv[0].weight.grad
    assert grad is not None and grad.abs().sum() > 0  # L_VL + L_MV + L_ML reach the encoder

    model.save_pretrained(tmp_path / "m")
    again = HawkModel.from_pretrained(tmp_path / "m")
    assert again.config.vision.motion_encoder == "flow_cnn"
    mine, theirs = model.adapter_tensors(), again.adapter_tensors()
    assert mine.keys() == theirs.keys()
    for n in mine:
        assert torch.equal(mine[n].detach(), theirs[n].detach()), n
    assert mine["branches.motion.encoder.stages.0.conv.1.num_batches_tracked"] == 1  # the training forward updated them
    model.eval()
    again.eval()
    with torch.no_grad():  # eval uses the saved statistics: the same tokens
        torch.testing.assert_close(model.branches["motion"](fm)[0], again.branches["motion"](fm)[0])


def test_train_and_describe_from_the_cli(tmp_path, fighting_video, hivau_jsonl):
    from tests.hawk_dataset import write_dataset

    data = write_dataset(tmp_path / "hawk.json", fighting_video.parent, hivau_jsonl)
    (tmp_path / "cfg.json").write_text(json.dumps({"model": FLOW}))
    out = tmp_path / "run"
    r = invoke("train", "--preset", "tiny", "--config", tmp_path / "cfg.json", "--data", data, "--out", out,
               "--cache-dir", tmp_path / "cache", "--steps", "2", "--batch-size", "2", "--eval-every", "0", "--device", "cpu")
    assert r.exit_code == 0, r.output
    run = json.loads((out / "run.json").read_text())
    assert run["model"]["vision"]["motion_encoder"] == "flow_cnn"
    r = invoke("describe", fighting_video, "--model", out, "--max-new-tokens", "4", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["task"] == "description" and d["model"]["frames"] == run["model"]["data"]["num_frames"]
