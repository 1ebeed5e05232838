"""The class head on its own learnt encoder (``head.on: own_encoder``): trained end to end by
``hawk_core.training.heads.fit_encoder_head`` (``benchmarks/learned_probe.py --save``), installed
by ``recipes/fit_head.py --encoder-head``, read by the guide and `hawk detect --scorer head`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hawk_core.errors import ConfigError, DataError
from hawk_core.model.config import HawkConfig, HeadConfig
from hawk_core.model.hawk import HawkModel, trainable_shapes
from hawk_core.synth.events import EVENT_TYPES
from hawk_core.training.heads import encoder_head_logits, fit_encoder_head
from tests.helpers import invoke

FLOW = {"vision": {"motion_encoder": "flow_cnn", "flow_size": 32, "flow_width": 16}}
SCRIPT = str(Path(__file__).resolve().parents[1] / "recipes" / "fit_head.py")


def _toy(n: int = 32, seed: int = 0):
    """(n, 2, 16, 16, 5) inputs whose class is whether the red channel is bright, with noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(0, 0.3, (n, 2, 16, 16, 5)).astype(np.float16)
    x[..., 0] += np.where(y == 1, 1.0, -1.0)[:, None, None, None].astype(np.float16)
    return x, y


def test_fit_encoder_head_learns_is_seeded_and_checks_its_labels():
    x, y = _toy()
    state = torch.random.get_rng_state()
    seen = []
    enc, head = fit_encoder_head(x, y, 2, width=8, epochs=12, batch=8, lr=5e-3, on_epoch=lambda e, loss, *_: seen.append((e, loss)))
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random state is left alone
    assert [e for e, _ in seen] == list(range(1, 13)) and seen[-1][1] < seen[0][1]
    assert not enc.training
    with torch.no_grad():
        pred = encoder_head_logits(enc, head, torch.from_numpy(x.astype(np.float32))).argmax(-1).numpy()
    assert (pred == y).mean() == 1.0
    again, head2 = fit_encoder_head(x, y, 2, width=8, epochs=12, batch=8, lr=5e-3)
    assert all(torch.equal(a, b) for a, b in zip(enc.state_dict().values(), again.state_dict().values()))
    assert torch.equal(head.weight, head2.weight)
    with pytest.raises(DataError, match="class indices"):
        fit_encoder_head(x, y + 1, 2, width=8, epochs=1, batch=8)
    with pytest.raises(DataError, match="as many labels"):
        fit_encoder_head(x, y[:-1], 2, width=8, epochs=1, batch=8)


def test_fit_encoder_head_starts_from_a_saved_head_and_the_probe_stacks_files():
    """init: the fit starts from given encoder + head weights (lr 0 leaves them; a misfit is one
    DataError); learned_probe's Stacked reads several input arrays as one by index arrays."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from learned_probe import Stacked, _tag

    x, y = _toy()
    enc, head = fit_encoder_head(x, y, 2, width=8, epochs=2, batch=8, lr=5e-3)
    start = (enc.state_dict(), head.state_dict())
    enc2, head2 = fit_encoder_head(x, y, 2, width=8, epochs=1, batch=8, lr=0.0, init=start)
    assert torch.equal(head2.weight, head.weight) and torch.equal(enc2.state_dict()["stages.0.conv.0.weight"], start[0]["stages.0.conv.0.weight"])
    fresh, _ = fit_encoder_head(x, y, 2, width=8, epochs=1, batch=8, lr=0.0)
    assert not torch.equal(fresh.state_dict()["stages.0.conv.0.weight"], start[0]["stages.0.conv.0.weight"])
    with pytest.raises(DataError, match="do not fit width 16"):
        fit_encoder_head(x, y, 2, width=16, epochs=1, batch=8, init=start)
    with pytest.raises(DataError, match="3 classes"):
        fit_encoder_head(x, y, 3, width=8, epochs=1, batch=8, init=start)
    a, b = x[:5], x[5:12]
    both = Stacked([a, b])
    assert len(both) == 12 and np.array_equal(both[np.array([0, 4, 5, 11])], x[[0, 4, 5, 11]])
    assert np.array_equal(both[np.array([7, 2])], x[[7, 2]])
    recs = [{"video": "a.mp4"}, {"video": "b.mp4"}]
    assert _tag("train", recs, 16, 112) != _tag("train", recs[::-1], 16, 112)  # same size, other videos: another file


def test_the_class_head_reads_its_own_encoder():
    """head.on own_encoder: a second encoder in the adapter (shapes as trainable_shapes says), read
    by the class head (the guide's class), not the motion branch's encoder."""
    with pytest.raises(ConfigError, match="head.on must be one of tokens, encoder, own_encoder"):
        HeadConfig(classes=("a", "normal"), on="other")
    with pytest.raises(ConfigError, match="head.on own_encoder: the model has no learnt motion encoder"):
        HawkModel.build(HawkConfig.from_preset("tiny").with_overrides({"head": {"classes": ["a", "normal"], "on": "own_encoder"}}))
    m = HawkModel.build(HawkConfig.from_preset("tiny").with_overrides(
        {**FLOW, "head": {"classes": ["a", "normal"], "on": "own_encoder", "guide": True}}))
    tensors = m.adapter_tensors()
    assert trainable_shapes(m.config) == {n: tuple(t.shape) for n, t in tensors.items()}
    assert any(k.startswith("head_encoder.") and k.endswith("running_mean") for k in tensors)  # BatchNorm statistics kept
    t = m.config.data.num_frames
    fm = torch.rand(2, t, 32 * 32, 5, generator=torch.Generator().manual_seed(0))
    fv = torch.rand(2, t, 4, m.vision.feature_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        m.cluster_head.weight.normal_(generator=torch.Generator().manual_seed(2))
        own = m.encoder_pooled(fm, own=True)
        expected = m.cluster_head(own).softmax(-1)
        assert torch.allclose(m.class_probabilities(fv, fm), expected, atol=1e-6)
        m.branches["motion"].encoder.stages[0].conv[0].weight.mul_(3.0)  # the branch's encoder does not matter
        assert torch.allclose(m.class_probabilities(fv, fm), expected, atol=1e-6)
        m.head_encoder.stages[0].conv[0].weight.mul_(3.0)  # its own does
        assert not torch.allclose(m.class_probabilities(fv, fm), expected, atol=1e-4)
    plain = HawkModel.build(HawkConfig.from_preset("tiny").with_overrides({**FLOW, "head": {"classes": ["a", "normal"], "on": "encoder"}}))
    with pytest.raises(ConfigError, match="no encoder of its own"):
        plain.encoder_pooled(fm, own=True)


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    from tests.hawk_dataset import synth_test_split

    return synth_test_split(tmp_path_factory.mktemp("synth"))


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_fit_head_installs_an_encoder_head_that_detect_reads(tmp_path, split):
    src = tmp_path / "src"
    HawkModel.build(HawkConfig.from_preset("tiny").with_overrides(
        {**FLOW, "head": {"classes": ["a", "normal"], "on": "encoder", "guide": True}})).save_pretrained(src)
    x, _ = _toy(16)
    x = np.repeat(np.repeat(x, 2, axis=2), 2, axis=3)  # 32 x 32, the tiny model's flow size
    y = np.arange(16) % len(EVENT_TYPES)
    enc, head = fit_encoder_head(x, y, len(EVENT_TYPES), width=16, epochs=1, batch=8)
    saved = tmp_path / "enc.pt"
    torch.save({"encoder": enc.state_dict(), "head": head.state_dict(), "keep": [0, 1, 2, 3, 4], "width": 16,
                "classes": list(EVENT_TYPES)}, saved)
    out = tmp_path / "own"
    r = _run(src, "--encoder-head", saved, "--data", split, "--test", split, "--out", out, "--cache-dir", tmp_path / "cache", "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert "head.on own_encoder, 12 classes, guided" in r.stdout and f"on {split}: accuracy" in r.stdout
    m = HawkModel.from_pretrained(out)
    assert (m.config.head.on, m.config.head.classes, m.config.head.guide) == ("own_encoder", EVENT_TYPES, True)
    assert all(torch.equal(m.head_encoder.state_dict()[k].to(v.dtype), v) for k, v in enc.state_dict().items())
    assert torch.equal(m.cluster_head.weight.detach(), head.weight.detach())
    from safetensors.torch import load_file

    before, after = load_file(str(src / "adapter.safetensors")), load_file(str(out / "adapter.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("cluster_head."))  # the rest as it was
    clip = split.parent / json.loads(split.read_text())[0]["video"]
    r = invoke("detect", clip, "--model", out, "--scorer", "head", "--no-describe", "--window", "2", "--stride", "1", "--json")
    assert r.exit_code == 0, r.output
    assert all(0.0 <= w["score"] <= 1.0 for w in json.loads(r.stdout)["windows"])
    # a frame head fitted afterwards keeps the own encoder
    r = _run(out, "--frames", "--data", split, "--out", tmp_path / "framed", "--cache-dir", tmp_path / "cache", "--threads", "1",
             "--head", "linear", "--appearance", "0", "--no-flow")
    assert r.returncode == 0, r.stderr
    assert HawkModel.from_pretrained(tmp_path / "framed").config.head.on == "own_encoder"
    # bad input: one error line each
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    narrow = tmp_path / "narrow.pt"
    torch.save({**torch.load(saved, weights_only=True), "width": 8}, narrow)
    for args, says in (((junk,), "not an encoder head"), ((narrow,), "vision.flow_width 16"),
                       ((saved, "--frames"), "give one")):
        r = _run(src, "--encoder-head", *args, "--data", split, "--out", tmp_path / "bad", "--cache-dir", tmp_path / "cache")
        assert r.returncode != 0 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
