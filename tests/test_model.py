"""HawkModel on the tiny preset (random weights, no files): shapes, gradients, checkpoints,
ablations, generation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hawk_core.errors import CheckpointError, ConfigError, InputError
from hawk_core.model.config import HawkConfig
from hawk_core.model.hawk import HawkModel, trainable_shapes
from hawk_core.model.losses import IGNORE_INDEX
from hawk_core.model.text import MOTION_SLOT, VIDEO_SLOT, TextSample

B, T, N, D = 2, 8, 4, 32  # tiny: 8 frames, 4 image-Q-Former tokens x 32 per frame
Q, K = 8, 16  # tiny: 8 video query tokens, 16-d tight space


def tiny(**overrides) -> HawkModel:
    return HawkModel.build(HawkConfig.from_preset("tiny", overrides=overrides))


def samples() -> list[TextSample]:
    return [
        TextSample("Can you describe the anomaly in the video?", "A man hits a car with a bat.", "man hits car"),
        TextSample("Who is causing the disturbance in the video?", "The man in black.", None),
    ]


def feats(seed: int = 0, t: int = T) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, t, N, D, generator=g), torch.randn(B, t, N, D, generator=g)


@pytest.fixture(scope="module")
def model() -> HawkModel:
    return tiny().eval()


def test_encode_visual_shapes_and_preprocess(model):
    frames = np.full((T, 40, 48, 3), 128, np.uint8)
    x = model.preprocess(frames)
    assert x.shape == (T, 3, 32, 32)  # resized to the encoder's 32 px
    mean = torch.tensor(model.config.vision.norm_mean).view(1, 3, 1, 1)
    std = torch.tensor(model.config.vision.norm_std).view(1, 3, 1, 1)
    torch.testing.assert_close(x, ((128 / 255) - mean) / std * torch.ones_like(x))
    video = torch.stack([x, x])
    fv, fm = model.encode_visual(video, video * 0)
    assert fv.shape == (B, T, N, D) and fm.shape == (B, T, N, D)
    assert not torch.equal(fv, fm)
    with pytest.raises(InputError, match="RGB"):
        model.preprocess(np.zeros((T, 8, 8), np.uint8))


def test_forward_shapes_and_terms(model):
    fv, fm = feats()
    batch = model.collate(samples())
    out = model(fv, fm, batch, full_logits=True)
    assert out.logits.shape == (B, batch.input_ids.size(1), len(model.tokenizer))
    assert out.tight_v.shape == (B, Q, K) and out.tight_m.shape == (B, Q, K)
    for term in (out.loss_vl, out.loss_mv, out.loss_ml):
        assert term.dim() == 0 and term.item() > 0
    expected = out.loss_vl + 0.1 * out.loss_mv + 0.1 * out.loss_ml
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_collate_layout(model):
    batch = model.collate(samples())
    ids, labels = batch.input_ids, batch.labels
    assert ((ids == VIDEO_SLOT).sum(1) == Q).all() and ((ids == MOTION_SLOT).sum(1) == Q).all()
    # video slots come before motion slots
    first_m = (ids[0] == MOTION_SLOT).nonzero()[0].item()
    last_v = (ids[0] == VIDEO_SLOT).nonzero()[-1].item()
    assert last_v < first_m
    # only the answer (+ eos) is labelled
    tok = model.tokenizer
    for i, s in enumerate(samples()):
        lab = labels[i][labels[i] != IGNORE_INDEX].tolist()
        assert lab[-1] == tok.eos_token_id
        assert tok.decode(lab[:-1]) == s.answer
    # motion phrases: one sample has them, conditioned on the motion tokens alone
    assert batch.motion_index.tolist() == [0]
    m = batch.motion_ids[0]
    assert (m == MOTION_SLOT).sum() == Q and (m == VIDEO_SLOT).sum() == 0
    mlab = batch.motion_labels[0][batch.motion_labels[0] != IGNORE_INDEX].tolist()
    assert tok.decode(mlab[:-1]) == "man hits car"
    # the prompt is the paper's template inside the chat template
    text = model.render_prompt("Can you describe the anomaly in the video?")
    assert "Here is the input video embedding: <VIDEO_EMBEDDING> and motion embedding <MOTION_EMBEDDING> in different frames" in text
    assert text.startswith("<|im_start|>user\n") and text.endswith("<|im_start|>assistant\n")


def test_ml_loss_depends_on_motion_tokens_only(model):
    fv, fm = feats()
    batch = model.collate(samples())
    a = model(fv, fm, batch)
    b = model(fv * 3 + 1, fm, batch)
    c = model(fv, fm * 3 + 1, batch)
    assert a.loss_ml.item() == pytest.approx(b.loss_ml.item(), abs=1e-6)
    assert a.loss_ml.item() != pytest.approx(c.loss_ml.item(), abs=1e-6)
    assert a.loss_vl.item() != pytest.approx(b.loss_vl.item(), abs=1e-6)


def test_gradients_reach_only_trainable_parameters():
    m = tiny().train()
    fv, fm = feats()
    m(fv, fm, m.collate(samples())).loss.backward()
    named = dict(m.named_parameters())
    trainable = {n for n, p in named.items() if p.requires_grad}
    assert trainable and all(n.startswith("branches.") for n in trainable)
    assert {n.split(".")[1] for n in trainable} == {"video", "motion"}
    for n, p in named.items():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), n
            assert p.grad.abs().sum() > 0, n
        else:
            assert p.grad is None, n
    assert len(m.trainable_parameters()) == len(trainable)


def test_frozen_parameters_unchanged_after_optimizer_steps():
    m = tiny().train()
    frozen = {n: p.detach().clone() for n, p in m.named_parameters() if not p.requires_grad}
    trainable = {n: p.detach().clone() for n, p in m.named_parameters() if p.requires_grad}
    opt = torch.optim.AdamW(m.trainable_parameters(), lr=1e-3, weight_decay=0.1)
    fv, fm = feats()
    batch = m.collate(samples())
    for _ in range(2):
        opt.zero_grad()
        m(fv, fm, batch).loss.backward()
        opt.step()
    named = dict(m.named_parameters())
    for n, before in frozen.items():
        assert torch.equal(named[n], before), n
    assert all(not torch.equal(named[n], before) for n, before in trainable.items())


def test_save_load_identical_logits(tmp_path):
    m = tiny().train()
    opt = torch.optim.AdamW(m.trainable_parameters(), lr=1e-2)
    fv, fm = feats()
    batch = m.collate(samples())
    m(fv, fm, batch).loss.backward()
    opt.step()  # weights now differ from a fresh init
    m.eval()
    ref = m(fv, fm, batch, full_logits=True)
    m.save_pretrained(tmp_path / "ckpt")
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert files == ["adapter.safetensors", "config.json"]
    from safetensors.torch import load_file

    keys = set(load_file(str(tmp_path / "ckpt" / "adapter.safetensors")))
    assert keys == {n for n, p in m.named_parameters() if p.requires_grad}  # trainable only
    loaded = HawkModel.from_pretrained(tmp_path / "ckpt").eval()
    out = loaded(fv, fm, batch, full_logits=True)
    assert torch.equal(out.logits, ref.logits)
    assert out.loss.item() == ref.loss.item()
    assert loaded.config.to_dict() == m.config.to_dict()


def test_from_pretrained_preset_name_and_missing_folder(tmp_path):
    assert HawkModel.from_pretrained("tiny").config.preset == "tiny"
    with pytest.raises(CheckpointError, match="no checkpoint folder"):
        HawkModel.from_pretrained(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="missing adapter.safetensors"):
        HawkModel.from_pretrained(tmp_path / "half")


def test_checkpoint_of_another_architecture_names_keys(tmp_path):
    tiny().save_pretrained(tmp_path / "a")
    other = tiny(video_qformer={"num_layers": 3})
    with pytest.raises(CheckpointError, match=r"missing keys: .*video_qformer\.layers\.2\."):
        other.load_adapter(tmp_path / "a" / "adapter.safetensors")
    # a config edited to another width: shapes named
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    cfg["projection"]["tight_dim"] = 8
    (tmp_path / "a" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"shape mismatch: .*to_tight\.weight \(16, 64\) vs \(8, 64\)"):
        HawkModel.from_pretrained(tmp_path / "a")
    # no motion branch in the model: the checkpoint's motion keys are unexpected
    with pytest.raises(CheckpointError, match=r"unexpected keys: branches\.motion\."):
        tiny(loss={"ablate": ["motion"]}).load_adapter(tmp_path / "a" / "adapter.safetensors")


def test_corrupt_checkpoint(tmp_path):
    tiny().save_pretrained(tmp_path / "c")
    (tmp_path / "c" / "adapter.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="cannot read weights"):
        HawkModel.from_pretrained(tmp_path / "c")
    (tmp_path / "c" / "config.json").write_text('{"llm": {"nope": 1}}')
    with pytest.raises(CheckpointError, match=r"llm\.nope"):
        HawkModel.from_pretrained(tmp_path / "c")


def test_ablation_motion_removes_branch_and_terms():
    m = tiny(loss={"ablate": ["motion"]}).eval()
    assert "motion" not in m.branches
    assert not any(n.startswith("branches.motion") for n, _ in m.named_parameters())
    batch = m.collate(samples())
    assert (batch.input_ids == MOTION_SLOT).sum() == 0 and batch.motion_ids is None
    assert "<MOTION_EMBEDDING>" not in m.render_prompt("Why?") and "motion embedding" not in m.render_prompt("Why?")
    fv, fm = feats()
    feats_v, feats_m = m.encode_visual(torch.zeros(1, T, 3, 32, 32), torch.zeros(1, T, 3, 32, 32))
    assert feats_m is None
    out = m(fv, None, batch)
    assert out.loss_mv.item() == 0 and out.loss_ml.item() == 0
    assert out.loss.item() == pytest.approx(out.loss_vl.item())


def test_ablation_mv_and_ml_remove_one_term():
    fv, fm = feats()
    m = tiny(loss={"ablate": ["mv"]}).eval()
    out = m(fv, fm, m.collate(samples()))
    assert out.loss_mv.item() == 0 and out.loss_ml.item() > 0
    assert out.loss.item() == pytest.approx(out.loss_vl.item() + 0.1 * out.loss_ml.item(), rel=1e-6)
    m = tiny(loss={"ablate": ["ml"]}).eval()
    batch = m.collate(samples())
    assert batch.motion_ids is None
    out = m(fv, fm, batch)
    assert out.loss_ml.item() == 0 and out.loss_mv.item() > 0
    assert out.loss.item() == pytest.approx(out.loss_vl.item() + 0.1 * out.loss_mv.item(), rel=1e-6)


def test_mv_mode_flattened_is_available():
    fv, fm = feats()
    a = tiny(loss={"mv_mode": "flattened"}).eval()
    out = a(fv, fm, a.collate(samples()))
    from hawk_core.model.losses import mv_loss

    assert out.loss_mv.item() == pytest.approx(mv_loss(out.tight_v, out.tight_m, "flattened").item(), rel=1e-6)


def test_more_frames_than_positions():
    m = tiny().eval()  # 8 frame positions
    fv, fm = feats(t=12)
    out = m(fv, fm, m.collate(samples()))
    assert torch.isfinite(out.loss)
    pos = m.branches["video"].video_qformer.positions(12)
    table = m.branches["video"].video_qformer.frame_position.weight
    assert pos.shape == (12, D)
    torch.testing.assert_close(pos[0], table[0])
    torch.testing.assert_close(pos[-1], table[-1])
    strict = tiny(video_qformer={"position_extend": "error"}).eval()
    with pytest.raises(InputError, match="12 frames but the video Q-Former has 8 frame positions"):
        strict(fv, fm, strict.collate(samples()))


def test_generate(model):
    fv, fm = feats()
    outs = model.generate(fv, fm, ["Can you describe the anomaly in the video?", "Why?"], max_new_tokens=5)
    assert len(outs) == 2 and all(isinstance(o, str) for o in outs)
    # one video, several questions; sampling repeatable with a seed
    a = model.generate(fv[:1], fm[:1], ["What?", "Who?"], max_new_tokens=6, temperature=1.0, seed=3)
    b = model.generate(fv[:1], fm[:1], ["What?", "Who?"], max_new_tokens=6, temperature=1.0, seed=3)
    assert a == b and len(a) == 2
    chat = model.generate(fv[:1], fm[:1], ["And then?"], history=[[("What happened?", "A fight.")]], max_new_tokens=3)
    assert len(chat) == 1
    with pytest.raises(InputError, match="features for 2 videos, 3 instructions"):
        model.generate(fv, fm, ["a", "b", "c"])
    with pytest.raises(InputError, match="no motion features"):
        model.generate(fv, None, ["a", "b"])


def test_generate_prompt_has_history_then_video_in_first_turn(model):
    text = model.render_prompt("And then?", [("What happened?", "A fight.")])
    assert text.index("<VIDEO_EMBEDDING>") < text.index("A fight.") < text.index("And then?")
    with pytest.raises(InputError, match="first turn"):
        model.render_prompt("<VIDEO_EMBEDDING> again", [("What happened?", "A fight.")])


def test_lora_and_gradient_checkpointing(tmp_path):
    m = tiny(llm={"lora": {"enabled": True, "r": 2, "alpha": 4}, "gradient_checkpointing": True},
             video_qformer={"gradient_checkpointing": True}).train()
    lora = [n for n, p in m.named_parameters() if p.requires_grad and "lora_" in n]
    assert lora
    # the adapter's tensors from configs alone (what the shipped-adapter test and the release mapping read)
    assert trainable_shapes(m.config) == {n: tuple(t.shape) for n, t in m.adapter_tensors().items()}
    fv, fm = feats()
    batch = m.collate(samples())
    m(fv, fm, batch).loss.backward()
    assert all(dict(m.named_parameters())[n].grad is not None for n in lora)
    assert dict(m.named_parameters())["branches.video.video_qformer.query_tokens"].grad is not None
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "lora_B" in n:
                p.add_(0.05)
    m.eval()
    ref = m(fv, fm, batch, full_logits=True).logits
    m.save_pretrained(tmp_path / "lora")
    again = HawkModel.from_pretrained(tmp_path / "lora").eval()
    torch.testing.assert_close(again(fv, fm, batch, full_logits=True).logits, ref, rtol=0, atol=0)
    with pytest.raises(ConfigError, match="no module named wq"):
        tiny(llm={"lora": {"enabled": True, "target_modules": ["wq"]}})


def test_input_errors(model):
    fv, fm = feats()
    batch = model.collate(samples())
    with pytest.raises(InputError, match=r"\(B, T, N, 32\)"):
        model(fv[..., :5], fm[..., :5], batch)
    with pytest.raises(InputError, match="features for 1 videos, text for 2"):
        model(fv[:1], fm[:1], batch)
    with pytest.raises(InputError, match="empty batch"):
        model.collate([])


def test_bfloat16_backbones_keep_float32_trainable_parts():
    m = HawkModel.build(HawkConfig.from_preset("tiny"), dtype=torch.bfloat16).train()
    assert next(m.llm.parameters()).dtype == torch.bfloat16 and next(m.vision.parameters()).dtype == torch.bfloat16
    assert {p.dtype for p in m.trainable_parameters()} == {torch.float32}
    x = m.preprocess(np.zeros((T, 32, 32, 3), np.uint8))[None]
    fv, fm = m.encode_visual(x, x)
    assert fv.dtype == torch.bfloat16
    out = m(fv, fm, m.collate(samples()[:1]))
    out.loss.backward()
    assert all(p.grad is not None for p in m.trainable_parameters())
    assert len(m.generate(fv, fm, ["Why?"], max_new_tokens=2)) == 1


def test_plain_prompt_format_without_chat_template():
    m = tiny(llm={"prompt_format": "plain", "system_prompt": "You watch surveillance video."}).eval()
    text = m.render_prompt("Why?", [("What happened?", "A fight.")])
    assert text.startswith("<|endoftext|>You watch surveillance video.\nUSER: Here is the input video embedding: <VIDEO_EMBEDDING>")
    assert text.endswith("USER: Why?\nASSISTANT:") and " A fight.<|im_end|>\n" in text
    fv, fm = feats()
    assert torch.isfinite(m(fv, fm, m.collate(samples())).loss)


def test_long_answers_are_truncated_to_max_length():
    m = tiny(llm={"max_length": 200}).eval()
    batch = m.collate([TextSample("Why?", "x" * 1000, "y" * 1000)])
    text_positions = int((batch.input_ids[0] >= 0).sum())
    assert text_positions == 200 and int((batch.labels[0] != IGNORE_INDEX).sum()) > 0
    assert batch.motion_ids.size(1) <= 200 + 1 + Q


def test_answer_only_head_gives_the_full_logits_losses(model):
    """The vocabulary head runs only where a token is labelled; the losses must equal those of
    the full (B, L, V) logits, on answers of different lengths (different label positions)."""
    fv, fm = feats()
    texts = [TextSample("Why?", "A man falls down on the walkway near the bench.", "man falls"),
             TextSample("Describe the video.", "Cars.", "car drives; car turns left at crossing")]
    batch = model.collate(texts)
    sparse = model(fv, fm, batch)
    full = model(fv, fm, batch, full_logits=True)
    assert sparse.logits is None and full.logits is not None
    for name in ("loss", "loss_vl", "loss_ml"):
        torch.testing.assert_close(getattr(sparse, name), getattr(full, name), rtol=1e-5, atol=1e-6)
    assert sparse.loss_vl.item() > 0 and sparse.loss_ml.item() > 0
