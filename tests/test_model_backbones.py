"""The paper preset's code path (BLIP-2 checkpoint folder + a transformers LLM folder) with
tiny random checkpoints written here, and the import of the authors' release key names."""

from __future__ import annotations

import pytest
import torch

from hawk_core.errors import CheckpointError
from hawk_core.model.backbones import build_llm, random_blip2_config
from hawk_core.model.config import HawkConfig, LLMConfig
from hawk_core.model.hawk import HawkModel
from hawk_core.model.text import TextSample
from hawk_core.model.release import import_release_state, rename_release_key


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tiny random BLIP-2 (vision + Q-Former + LM) and a tiny LLaMA with tokenizer, saved as
    transformers folders: the layout of Salesforce/blip2-* and meta-llama/Llama-2-7b-chat-hf."""
    from transformers import Blip2ForConditionalGeneration

    root = tmp_path_factory.mktemp("ckpts")
    tiny = HawkConfig.from_preset("tiny")
    torch.manual_seed(0)
    blip = Blip2ForConditionalGeneration(random_blip2_config(tiny.vision)).eval()
    blip.save_pretrained(root / "blip2")
    llm, tok = build_llm(LLMConfig(kind="random"), seed=5)
    llm.save_pretrained(root / "llm")
    tok.save_pretrained(root / "llm")
    return root, blip, llm


def paper_config(root, **extra) -> HawkConfig:
    over = {
        "vision": {"source": str(root / "blip2"), "image_size": 32},
        "video_qformer": {"hidden_size": 32, "num_heads": 2, "intermediate_size": 64, "num_query_tokens": 8},
        "projection": {"tight_dim": 16},
        "llm": {"source": str(root / "llm")},
        "data": {"num_frames": 4, "size": 32},
    }
    over.update(extra)
    return HawkConfig.from_preset("paper", overrides=over)


def test_paper_path_loads_blip2_parts_and_llm(checkpoints, tmp_path):
    root, blip, llm = checkpoints
    cfg = paper_config(root)
    model = HawkModel.build(cfg).eval()
    # the frozen BLIP-2 vision tower, Q-Former and queries are the checkpoint's
    for name, mod in (("vision_model", blip.vision_model), ("qformer", blip.qformer)):
        ours = getattr(model.vision, name).state_dict()
        for k, v in mod.state_dict().items():
            assert torch.equal(ours[k], v), f"{name}.{k}"
    assert torch.equal(model.vision.query_tokens, blip.query_tokens)
    assert not any(t.is_meta for t in model.vision.state_dict().values())
    for k, v in llm.state_dict().items():
        assert torch.equal(model.llm.state_dict()[k], v), k
    # same features as BLIP-2's own Q-Former path
    pixels = model.preprocess(torch.randint(0, 256, (4, 32, 32, 3), dtype=torch.uint8))[None]
    fv, fm = model.encode_visual(pixels, pixels * 0.5)
    with torch.no_grad():
        img = blip.vision_model(pixel_values=pixels[0]).last_hidden_state
        ref = blip.qformer(query_embeds=blip.query_tokens.expand(4, -1, -1), encoder_hidden_states=img).last_hidden_state
    torch.testing.assert_close(fv[0], ref)
    assert fv.shape == (1, 4, 4, 32)  # the checkpoint's 4 queries x 32
    # train step, generate, save -> load through the same folders
    batch = model.collate([TextSample("Can you describe the anomaly in the video?", "A fight.", "man hits man")])
    out = model(fv, fm, batch, full_logits=True)
    assert out.loss_ml.item() > 0 and out.loss_mv.item() > 0
    assert len(model.generate(fv, fm, ["Why?"], max_new_tokens=3)) == 1
    model.save_pretrained(tmp_path / "ck")
    again = HawkModel.from_pretrained(tmp_path / "ck").eval()
    assert torch.equal(again(fv, fm, batch, full_logits=True).logits, out.logits)


def test_paper_path_without_image_qformer(checkpoints):
    root, blip, _ = checkpoints
    model = HawkModel.build(paper_config(root, vision={"source": str(root / "blip2"), "image_size": 32, "image_qformer": False}))
    assert model.vision.feature_dim == 32 and model.vision.num_tokens == (32 // 8) ** 2 + 1
    fv, _ = model.encode_visual(torch.zeros(1, 4, 3, 32, 32), None)
    assert fv.shape == (1, 4, 17, 32)


def test_blip2_checkpoint_missing_keys_are_named(checkpoints, tmp_path):
    from safetensors.torch import load_file, save_file

    root, _, _ = checkpoints
    broken = tmp_path / "blip2"
    broken.mkdir()
    (broken / "config.json").write_text((root / "blip2" / "config.json").read_text())
    state = {k: v for k, v in load_file(str(root / "blip2" / "model.safetensors")).items() if not k.startswith("qformer.")}
    save_file(state, str(broken / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"lack \d+ key\(s\), e\.g\. qformer\."):
        HawkModel.build(paper_config(root, vision={"source": str(broken), "image_size": 32}))
    with pytest.raises(CheckpointError, match="no config.json"):
        HawkModel.build(paper_config(root, vision={"source": str(tmp_path), "image_size": 32}))


def test_release_key_names():
    r = rename_release_key
    assert r("video_Qformer.bert.embeddings.LayerNorm.weight") == "branches.video.video_qformer.norm.weight"
    assert r("video_Qformer.bert.encoder.layer.0.attention.self.query.weight") == "branches.video.video_qformer.layers.0.self_attn.query.weight"
    assert r("video_Qformer_motion.bert.encoder.layer.1.crossattention.output.LayerNorm.bias") == "branches.motion.video_qformer.layers.1.cross_attn.norm.bias"
    assert r("video_Qformer.bert.encoder.layer.1.output_query.dense.weight") == "branches.video.video_qformer.layers.1.ffn.fc2.weight"
    assert r("video_query_tokens_motion") == "branches.motion.video_qformer.query_tokens"
    assert r("video_frame_position_embedding.weight") == "branches.video.video_qformer.frame_position.weight"
    assert r("llama_proj_0.weight") == "branches.video.projection.proj_in.weight"
    assert r("llama_proj_last.encoder_0.bias") == "branches.video.projection.shared.0.bias"
    assert r("llama_proj_motion_last.decoder_2.weight") == "branches.motion.projection.to_llm.weight"
    assert r("llama_proj_motion_last.encoder_1.weight") == "branches.motion.projection.to_tight.weight"
    assert r("video_Qformer.bert.encoder.layer.0.intermediate.dense.weight") is None  # text-side FFN, unused
    assert r("query_tokens_motion") == "branches.motion.image_queries"
    assert r("Qformer.bert.encoder.layer.0.attention.self.query.weight") is None  # the frozen image Q-Former: no place


def release_state(model: HawkModel) -> dict[str, torch.Tensor]:
    """A release-style state dict (names as in DESIGN.md) with random values of this model's
    shapes (the full file format is in tests/test_release.py)."""
    shapes = {n: p.shape for n, p in model.named_parameters() if p.requires_grad}
    names = []
    for sfx in ("", "_motion"):
        qf = f"video_Qformer{sfx}.bert."
        names += [qf + "embeddings.LayerNorm.weight", qf + "embeddings.LayerNorm.bias"]
        for i in range(model.config.video_qformer.num_layers):
            for att in ("attention", "crossattention"):
                for lin in ("self.query", "self.key", "self.value", "output.dense", "output.LayerNorm"):
                    names += [f"{qf}encoder.layer.{i}.{att}.{lin}.{wb}" for wb in ("weight", "bias")]
            for lin in ("intermediate_query.dense", "output_query.dense", "output_query.LayerNorm"):
                names += [f"{qf}encoder.layer.{i}.{lin}.{wb}" for wb in ("weight", "bias")]
        names += [f"video_query_tokens{sfx}", f"video_frame_position_embedding{sfx}.weight"]
        names += [f"llama_proj{sfx}_0.{wb}" for wb in ("weight", "bias")]
        names += [f"llama_proj{sfx}_last.{m}.{wb}" for m in ("encoder_0", "encoder_1", "decoder_2") for wb in ("weight", "bias")]
    g = torch.Generator().manual_seed(1)
    state = {n: torch.randn(shapes[rename_release_key(n)], generator=g) for n in names}
    state["video_Qformer.bert.encoder.layer.0.intermediate.dense.weight"] = torch.zeros(3, 3)  # text side: skipped
    state["video_Qformer.bert.embeddings.position_ids"] = torch.arange(512)[None]  # buffer: skipped
    return state


def test_import_release_state_into_a_built_model(tmp_path):
    model = HawkModel.from_pretrained("tiny")  # the paper profile: no motion image queries
    state = release_state(model)
    report = import_release_state(model, state)
    params = dict(model.named_parameters())
    assert len(report.loaded) == len(model.trainable_parameters())
    assert {e["key"] for e in report.skipped} == {"video_Qformer.bert.encoder.layer.0.intermediate.dense.weight",
                                                  "video_Qformer.bert.embeddings.position_ids"}
    assert torch.equal(params["branches.motion.projection.to_tight.weight"], state["llama_proj_motion_last.encoder_1.weight"])
    # the same from the release's torch file ({"model": ...} pickle)
    from hawk_core.model.release import import_release_checkpoint

    torch.save({"model": state, "epoch": 3}, tmp_path / "release.pth")
    rep = import_release_checkpoint(HawkModel.from_pretrained("tiny"), tmp_path / "release.pth")
    assert rep.file["epoch"] == 3 and len(rep.loaded) == len(report.loaded)
    # motion branch absent from the file: error, or filled from the appearance branch
    appearance_only = {k: v for k, v in state.items() if "motion" not in k}
    with pytest.raises(CheckpointError, match=r"no key fills: branches\.motion\."):
        import_release_state(HawkModel.from_pretrained("tiny"), appearance_only)
    m2 = HawkModel.from_pretrained("tiny")
    rep = import_release_state(m2, appearance_only, motion_from_appearance=True)
    assert rep.filled_from_appearance
    p2 = dict(m2.named_parameters())
    assert torch.equal(p2["branches.motion.video_qformer.query_tokens"], state["video_query_tokens"])
    # a shape that does not fit is named, and so is a parameter with no place
    bad = dict(state)
    bad["llama_proj_0.weight"] = torch.zeros(5, 5)
    with pytest.raises(CheckpointError, match=r"llama_proj_0\.weight \(5, 5\) for branches\.video\.projection\.proj_in\.weight"):
        import_release_state(HawkModel.from_pretrained("tiny"), bad)
    with pytest.raises(CheckpointError, match="no place in hawk's model: mystery"):
        import_release_state(HawkModel.from_pretrained("tiny"), state | {"mystery": torch.zeros(1)})


def test_video_qformer_equals_blip2_qformer_under_the_release_names():
    """hawk's video Q-Former computes what BLIP-2's BERT-style Q-Former computes, once the
    weights go through the release key-rename map (HF names -> LAVIS/release names -> hawk)."""
    from transformers import Blip2QFormerConfig, Blip2QFormerModel

    from hawk_core.model.config import VideoQFormerConfig
    from hawk_core.model.qformer import VideoQFormer

    torch.manual_seed(0)
    ref = Blip2QFormerModel(Blip2QFormerConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                               intermediate_size=64, encoder_hidden_size=24, cross_attention_frequency=1)).eval()
    ours = VideoQFormer(VideoQFormerConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                                           num_query_tokens=8, max_frames=4, dropout=0.0), feature_dim=24).eval()
    prefix = "branches.video.video_qformer."
    state = {}
    for k, v in ref.state_dict().items():
        release = "video_Qformer.bert." + (k.replace("attention.attention.", "attention.self.")
                                            .replace("crossattention.attention.", "crossattention.self.")
                                            .replace("layernorm.", "embeddings.LayerNorm."))
        name = rename_release_key(release)
        assert name is not None and name.startswith(prefix), release
        state[name[len(prefix):]] = v
    queries, positions = torch.randn(1, 8, 32), torch.randn(4, 24)
    state["query_tokens"], state["frame_position.weight"] = queries, positions
    assert set(state) == set(ours.state_dict())
    ours.load_state_dict(state)
    feats = torch.randn(2, 4, 5, 24)  # (B, T, N, D)
    with torch.no_grad():
        ctx = (feats + positions[None, :, None, :]).reshape(2, 20, 24)
        expected = ref(query_embeds=queries.expand(2, -1, -1), encoder_hidden_states=ctx).last_hidden_state
        torch.testing.assert_close(ours(feats), expected, rtol=1e-5, atol=1e-5)
