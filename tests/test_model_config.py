"""HawkConfig: presets, validation naming the field, unknown keys, round trips."""

from __future__ import annotations

import json

import pytest

from hawk_core.errors import ConfigError
from hawk_core.model.config import CLIP_MEAN, IMAGENET_MEAN, HawkConfig


@pytest.mark.parametrize("name", ["tiny", "embedded", "paper"])
def test_presets_round_trip(name, tmp_path):
    cfg = HawkConfig.from_preset(name)
    assert cfg.preset == name
    assert (cfg.loss.t0, cfg.loss.t1, cfg.loss.t2) == (1.0, 0.1, 0.1)
    cfg.save(tmp_path)
    again = HawkConfig.load(tmp_path)
    assert again.to_dict() == cfg.to_dict() and again.preset == name


def test_preset_contents():
    emb = HawkConfig.from_preset("embedded")
    assert emb.vision.kind == "efficientnet_lite0" and not emb.vision.image_qformer
    assert emb.vision.norm_mean == IMAGENET_MEAN and emb.llm.kind == "smollm2"
    assert emb.video_qformer.num_query_tokens == 32 and emb.data.num_frames == 32 and emb.projection.tight_dim == 256
    paper = HawkConfig.from_preset("paper")
    assert paper.vision.kind == "blip2" and paper.vision.image_qformer and paper.vision.norm_mean == CLIP_MEAN
    assert paper.llm.source == "meta-llama/Llama-2-7b-chat-hf"
    assert (paper.video_qformer.hidden_size, paper.video_qformer.num_layers) == (768, 2)
    assert paper.data.motion.mask == "soft"


def test_unknown_keys_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key llm\.temprature"):
        HawkConfig.from_preset("tiny", overrides={"llm": {"temprature": 1}})
    with pytest.raises(ConfigError, match=r"unknown config key data\.motion\.flow\.winsz"):
        HawkConfig.from_dict({"data": {"motion": {"flow": {"winsz": 3}}}})
    with pytest.raises(ConfigError, match="'visual'"):
        HawkConfig.from_dict({"visual": {}})
    p = tmp_path / "c.yaml"
    p.write_text("preset: tiny\nloss:\n  t3: 0.5\n")
    with pytest.raises(ConfigError, match=r"loss\.t3"):
        HawkConfig.from_file(p)


def test_bad_values_name_the_field():
    with pytest.raises(ConfigError, match=r"loss\.t1"):
        HawkConfig.from_preset("tiny", overrides={"loss": {"t1": -1}})
    with pytest.raises(ConfigError, match=r"loss\.ablate: unknown ablation 'va'"):
        HawkConfig.from_preset("tiny", overrides={"loss": {"ablate": ["va"]}})
    with pytest.raises(ConfigError, match=r"video_qformer\.num_heads"):
        HawkConfig.from_preset("tiny", overrides={"video_qformer": {"num_heads": 5}})
    with pytest.raises(ConfigError, match=r"vision\.kind: unknown value 'clip'"):
        HawkConfig.from_preset("tiny", overrides={"vision": {"kind": "clip"}})
    with pytest.raises(ConfigError, match=r"llm\.source is required"):
        HawkConfig.from_preset("paper", overrides={"llm": {"source": None}})
    with pytest.raises(ConfigError, match=r"data\.motion"):
        HawkConfig.from_preset("tiny", overrides={"data": {"motion": {"mask": "hard"}}})
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        HawkConfig.from_preset("huge")


def test_from_file_json_and_yaml(tmp_path):
    j = tmp_path / "c.json"
    j.write_text(json.dumps({"preset": "tiny", "loss": {"ablate": ["mv", "ml"], "mv_mode": "flattened"}}))
    cfg = HawkConfig.from_file(j)
    assert cfg.preset == "tiny" and cfg.loss.ablate == ("mv", "ml") and cfg.loss.mv_mode == "flattened"
    assert cfg.vision.image_size == 32  # the rest comes from the preset
    y = tmp_path / "c.yaml"
    y.write_text("preset: embedded\ndata:\n  num_frames: 64\nvideo_qformer:\n  max_frames: 64\n")
    cfg = HawkConfig.from_file(y)
    assert cfg.data.num_frames == 64 and cfg.video_qformer.max_frames == 64 and cfg.llm.kind == "smollm2"
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match="cannot parse"):
        HawkConfig.from_file(bad)
    with pytest.raises(ConfigError, match="not found"):
        HawkConfig.from_file(tmp_path / "missing.json")


def test_with_overrides_and_use_flags():
    cfg = HawkConfig.from_preset("tiny").with_overrides({"loss": {"ablate": "motion"}})
    assert cfg.preset == "tiny" and cfg.loss.ablate == ("motion",)
    assert not cfg.loss.use_motion and not cfg.loss.use_mv and not cfg.loss.use_ml
    cfg = cfg.with_overrides({"loss": {"ablate": ["ml"]}})
    assert cfg.loss.use_motion and cfg.loss.use_mv and not cfg.loss.use_ml
