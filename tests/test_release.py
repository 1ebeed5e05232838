"""The authors' release checkpoint: `hawk convert` on a file of the release's exact format
(all 165 keys of a real `checkpoint_N.pth`, shapes scaled down to the tiny preset, saved as
its runner saves), the key map, the release computation of the visual tokens, the release
training prompt character for character, and the release profile end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.helpers import invoke, moving_square_frames, write_video

# The tiny preset's sizes, as the release's are: video Q-Former hidden H (release 768), its
# FFN I (3072), Qv video queries (32), P frame positions (32), the image Q-Former's width Hi
# (768) and queries Qi (32), the LLM width L (4096) and the tight width L // 16 (256).
H, I, QV, P, HI, QI, L = 32, 64, 8, 8, 32, 4, 64
LAYERS = 2  # video Q-Former layers (the release's 2)
LLM_LAYERS = 32  # LLaMA-2-7B: one rotary inv_freq buffer per layer
TIGHT = L // 16
TINY_RELEASE = {"projection": {"tight_dim": TIGHT}}  # the tiny preset with the release's tight width


def release_keys() -> dict[str, tuple[int, ...]]:
    """Every key of a release `checkpoint_N.pth` state dict with its (scaled) shape, derived
    from the release's model code: the runner drops frozen parameters and keeps buffers."""
    keys: dict[str, tuple[int, ...]] = {}
    for sfx in ("", "_motion"):
        qf = f"video_Qformer{sfx}.bert."
        keys[qf + "embeddings.position_ids"] = (1, 512)  # buffer (BERT max positions)
        keys[qf + "embeddings.LayerNorm.weight"] = (H,)
        keys[qf + "embeddings.LayerNorm.bias"] = (H,)
        for i in range(LAYERS):
            lay = f"{qf}encoder.layer.{i}."
            for att, ctx in (("attention", H), ("crossattention", HI)):
                keys[f"{lay}{att}.self.query.weight"], keys[f"{lay}{att}.self.query.bias"] = (H, H), (H,)
                keys[f"{lay}{att}.self.key.weight"], keys[f"{lay}{att}.self.key.bias"] = (H, ctx), (H,)
                keys[f"{lay}{att}.self.value.weight"], keys[f"{lay}{att}.self.value.bias"] = (H, ctx), (H,)
                keys[f"{lay}{att}.output.dense.weight"], keys[f"{lay}{att}.output.dense.bias"] = (H, H), (H,)
                keys[f"{lay}{att}.output.LayerNorm.weight"], keys[f"{lay}{att}.output.LayerNorm.bias"] = (H,), (H,)
            keys[f"{lay}intermediate_query.dense.weight"], keys[f"{lay}intermediate_query.dense.bias"] = (I, H), (I,)
            keys[f"{lay}output_query.dense.weight"], keys[f"{lay}output_query.dense.bias"] = (H, I), (H,)
            keys[f"{lay}output_query.LayerNorm.weight"], keys[f"{lay}output_query.LayerNorm.bias"] = (H,), (H,)
        keys[f"video_query_tokens{sfx}"] = (1, QV, H)
        keys[f"video_frame_position_embedding{sfx}.weight"] = (P, HI)
        keys[f"llama_proj{sfx}_0.weight"], keys[f"llama_proj{sfx}_0.bias"] = (L, HI), (L,)
        for part, out in (("encoder_0", L), ("encoder_1", TIGHT), ("decoder_2", L)):
            keys[f"llama_proj{sfx}_last.{part}.weight"], keys[f"llama_proj{sfx}_last.{part}.bias"] = (out, L), (out,)
    keys["query_tokens_motion"] = (1, QI, HI)  # trainable by the release's freezing mistake
    keys["Qformer.bert.embeddings.position_ids"] = (1, 512)
    keys["Qformer_motion.bert.embeddings.position_ids"] = (1, 512)
    for i in range(LLM_LAYERS):
        keys[f"llama_model.model.layers.{i}.self_attn.rotary_emb.inv_freq"] = (64,)
    return keys


def is_buffer(key: str) -> bool:
    return key.endswith("position_ids") or key.endswith("inv_freq")


def release_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Distinct random values per parameter (scaled so the math stays well conditioned);
    buffers as the release holds them."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in release_keys().items():
        if k.endswith("position_ids"):
            sd[k] = torch.arange(512).expand(1, -1).clone()
        elif k.endswith("inv_freq"):
            sd[k] = 1.0 / (10000 ** (torch.arange(0, 128, 2).float() / 128))
        elif k.endswith("LayerNorm.weight"):
            sd[k] = 1.0 + 0.1 * torch.randn(shape, generator=g)
        else:
            sd[k] = 0.1 * torch.randn(shape, generator=g)
    return sd


def save_like_runner(path: Path, sd: dict[str, torch.Tensor], epoch: int = 9) -> Path:
    """As the release's runner `_save_checkpoint`: model, optimizer state, config (its
    `to_dict()`: plain containers), scaler state, epoch."""
    params = [torch.nn.Parameter(v.clone().float()) for k, v in sd.items() if not is_buffer(k)]
    opt = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.05)
    sum(p.sum() for p in params).backward()
    opt.step()
    config = {"model": {"arch": "hawk", "model_type": "pretrain_llama_v2", "max_frame_pos": 32, "num_query_token": 32,
                        "end_sym": "</s>", "frozen_video_Qformer": False},
              "run": {"task": "video_text_pretrain", "init_lr": 1e-05, "seed": 42, "amp": True},
              "datasets": {"webvid_instruct": {"vis_processor": {"train": {"name": "alpro_video_train", "n_frms": 32}}}}}
    scaler = {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000, "_growth_tracker": 7}
    torch.save({"model": sd, "optimizer": opt.state_dict(), "config": config, "scaler": scaler, "epoch": epoch}, path)
    return path


@pytest.fixture(scope="module")
def release_file(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    d = tmp_path_factory.mktemp("release")
    sd = release_state_dict()
    return save_like_runner(d / "checkpoint_9.pth", sd), sd


@pytest.fixture(scope="module")
def tiny_config_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cfg") / "tiny_release.json"
    p.write_text(json.dumps(TINY_RELEASE))
    return p


@pytest.fixture(scope="module")
def converted(release_file, tiny_config_file, tmp_path_factory) -> Path:
    """The release file converted through the CLI, as a user would."""
    out = tmp_path_factory.mktemp("conv") / "hawk_release"
    r = invoke("convert", release_file[0], "--out", out, "--preset", "tiny", "--config", tiny_config_file)
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("clip") / "square.mp4", moving_square_frames(20, size=64, step=2), fps=10.0)


def test_the_fake_file_has_the_real_file_s_key_count():
    keys = release_keys()
    assert len(keys) == 165 and sum(not is_buffer(k) for k in keys) == 129 and sum(is_buffer(k) for k in keys) == 36


# ---- hawk convert -------------------------------------------------------------------------


def test_convert_reports_loaded_and_skipped(converted, release_file):
    rep = json.loads((converted / "convert_report.json").read_text())
    assert rep["ok"] and rep["file"]["tensors"] == 165 and rep["file"]["parameters"] == 129 and rep["file"]["buffers"] == 36
    assert rep["file"]["epoch"] == 9 and rep["file"]["top_level"] == ["config", "epoch", "model", "optimizer", "scaler"]
    assert len(rep["loaded"]) == 129 and len(rep["skipped"]) == 36
    assert {e["key"] for e in rep["loaded"]} == {k for k in release_keys() if not is_buffer(k)}
    assert {e["key"] for e in rep["skipped"]} == {k for k in release_keys() if is_buffer(k)}
    reasons = {e["reason"] for e in rep["skipped"]}
    assert len(reasons) == 2 and all(r.startswith("derivable buffer") for r in reasons)
    assert {"key": "query_tokens_motion", "name": "branches.motion.image_queries", "shape": [1, QI, HI]} in rep["loaded"]
    assert rep["unexpected"] == [] and rep["mismatched"] == [] and rep["missing"] == []
    cfg = json.loads((converted / "config.json").read_text())
    assert cfg["profile"] == "release" and cfg["vision"]["motion_queries"] == "trainable" and cfg["llm"]["prompt_format"] == "release"


def test_convert_prints_the_report(release_file, tiny_config_file, tmp_path):
    r = invoke("convert", release_file[0], "--out", tmp_path / "o", "--preset", "tiny", "--config", tiny_config_file)
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())
    assert "165 tensors: 129 parameters, 36 buffers" in text and "loaded 129 tensors" in text
    assert "skipped 32 x derivable buffer: LLaMA rotary" in text and "skipped 4 x derivable buffer: BERT position ids" in text
    assert "appearance branch 64, motion branch 64, motion image queries (query_tokens_motion) 1" in text and "profile release" in text
    # an existing checkpoint is not overwritten without --force
    r = invoke("convert", release_file[0], "--out", tmp_path / "o", "--preset", "tiny", "--config", tiny_config_file)
    assert r.exit_code == 2 and "--force" in r.output
    r = invoke("convert", release_file[0], "--out", tmp_path / "o", "--preset", "tiny", "--config", tiny_config_file, "--force", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["ok"] is True


def _expected_name(key: str) -> str:
    """Where each release tensor belongs in hawk's model, written from the two modules'
    structure (independently of hawk's key map)."""
    branch = "motion" if "_motion" in key.split(".")[0] else "video"
    if key == "query_tokens_motion":
        return "branches.motion.image_queries"
    b = f"branches.{branch}."
    head, _, rest = key.partition(".")
    if head.startswith("video_query_tokens"):
        return b + "video_qformer.query_tokens"
    if head.startswith("video_frame_position_embedding"):
        return b + "video_qformer.frame_position.weight"
    if head in ("llama_proj_0", "llama_proj_motion_0"):
        return b + "projection.proj_in." + rest
    if head in ("llama_proj_last", "llama_proj_motion_last"):
        part, _, wb = rest.partition(".")
        return b + "projection." + {"encoder_0": "shared.0", "decoder_2": "to_llm", "encoder_1": "to_tight"}[part] + "." + wb
    parts = rest.split(".")  # bert.embeddings.LayerNorm.w | bert.encoder.layer.i.<module...>.w
    if parts[1] == "embeddings":
        return b + "video_qformer.norm." + parts[-1]
    i, module, wb = parts[3], ".".join(parts[4:-1]), parts[-1]
    table = {
        "attention.self.query": "self_attn.query", "attention.self.key": "self_attn.key", "attention.self.value": "self_attn.value",
        "attention.output.dense": "self_attn.out", "attention.output.LayerNorm": "self_attn.norm",
        "crossattention.self.query": "cross_attn.query", "crossattention.self.key": "cross_attn.key",
        "crossattention.self.value": "cross_attn.value", "crossattention.output.dense": "cross_attn.out",
        "crossattention.output.LayerNorm": "cross_attn.norm", "intermediate_query.dense": "ffn.fc1",
        "output_query.dense": "ffn.fc2", "output_query.LayerNorm": "ffn.norm",
    }
    return f"{b}video_qformer.layers.{i}.{table[module]}.{wb}"


def test_every_release_tensor_lands_in_its_hawk_parameter(converted, release_file):
    from hawk_core.model import HawkModel

    _, sd = release_file
    model = HawkModel.from_pretrained(converted)
    params = dict(model.named_parameters())
    trainable = {n for n, p in params.items() if p.requires_grad}
    seen = set()
    for key, value in sd.items():
        if is_buffer(key):
            continue
        name = _expected_name(key)
        assert torch.equal(params[name].detach(), value), f"{key} -> {name}"
        seen.add(name)
    assert seen == trainable  # every trainable parameter comes from the file, each from one key


def test_a_pickle_that_needs_code_is_refused(tmp_path):
    torch.save({"model": release_state_dict(), "config": _OmegaConfLike({"arch": "hawk"})}, tmp_path / "c.pth")
    r = invoke("convert", tmp_path / "c.pth", "--out", tmp_path / "o", "--preset", "tiny")
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "needs code" in lines[0] and "_OmegaConfLike" in lines[0]
    assert "Traceback" not in r.output and not (tmp_path / "o").exists()


class _OmegaConfLike(dict):
    """Stands for an object only its own code can unpickle (as an OmegaConf DictConfig)."""


def test_unknown_and_misshaped_parameters_are_all_named(tmp_path, tiny_config_file):
    sd = release_state_dict()
    sd["Qformer.bert.encoder.layer.0.attention.self.query.weight"] = torch.zeros(HI, HI)  # a trained image Q-Former
    sd["ln_vision_motion.weight"] = torch.ones(8)
    sd["llama_proj_0.weight"] = torch.zeros(L, HI + 1)
    sd["video_query_tokens_motion"] = torch.zeros(1, QV + 2, H)
    save_like_runner(tmp_path / "bad.pth", sd)
    r = invoke("convert", tmp_path / "bad.pth", "--out", tmp_path / "o", "--preset", "tiny", "--config", tiny_config_file)
    assert r.exit_code == 2, r.output
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
    for name in ("Qformer.bert.encoder.layer.0.attention.self.query.weight", "ln_vision_motion.weight",
                 "llama_proj_0.weight (64, 33) for branches.video.projection.proj_in.weight (64, 32)",
                 "video_query_tokens_motion (1, 10, 32) for branches.motion.video_qformer.query_tokens (1, 8, 32)"):
        assert name in err[0], name
    rep = json.loads((tmp_path / "o" / "convert_report.json").read_text())  # the report is written on failure too
    assert not rep["ok"] and len(rep["unexpected"]) == 2 and len(rep["mismatched"]) == 2
    assert not (tmp_path / "o" / "adapter.safetensors").exists()
    # a missing key is named too
    sd = release_state_dict()
    del sd["llama_proj_motion_last.encoder_1.bias"]
    save_like_runner(tmp_path / "short.pth", sd)
    r = invoke("convert", tmp_path / "short.pth", "--out", tmp_path / "o2", "--preset", "tiny", "--config", tiny_config_file)
    assert r.exit_code == 2 and "branches.motion.projection.to_tight.bias" in r.stderr


def test_safetensors_input_and_the_paper_profile(tmp_path, tiny_config_file):
    from safetensors.torch import save_file

    sd = release_state_dict()
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "model.safetensors"))
    r = invoke("convert", tmp_path / "model.safetensors", "--out", tmp_path / "p", "--preset", "tiny",
               "--config", tiny_config_file, "--profile", "paper", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    # the paper profile keeps BLIP-2's queries in both branches: the file's motion queries are set aside, with the reason
    [q] = [e for e in rep["skipped"] if e["key"] == "query_tokens_motion"]
    assert "motion_queries is 'shared'" in q["reason"] and len(rep["loaded"]) == 128
    cfg = json.loads((tmp_path / "p" / "config.json").read_text())
    assert cfg["profile"] == "paper" and cfg["vision"]["normalize"] is True


def test_llm_and_vision_point_at_local_backbones(tmp_path, release_file):
    """--llm / --vision: the paper preset's code path with local folders (tiny ones here),
    read for their configs only; the converted model then loads them and runs."""
    from transformers import Blip2ForConditionalGeneration

    from hawk_core.model import HawkModel
    from hawk_core.model.backbones import build_llm, random_blip2_config
    from hawk_core.model.config import HawkConfig, LLMConfig

    tiny = HawkConfig.from_preset("tiny")
    Blip2ForConditionalGeneration(random_blip2_config(tiny.vision)).save_pretrained(tmp_path / "blip2")
    llm, tok = build_llm(LLMConfig(kind="random"), seed=5)
    llm.save_pretrained(tmp_path / "llm")
    tok.save_pretrained(tmp_path / "llm")
    over = tmp_path / "paper_small.json"
    over.write_text(json.dumps({"vision": {"image_size": 32}, "projection": {"tight_dim": TIGHT}, "data": {"size": 32},
                                "video_qformer": {"hidden_size": H, "num_heads": 2, "intermediate_size": I,
                                                  "num_query_tokens": QV, "max_frames": P}}))
    r = invoke("convert", release_file[0], "--out", tmp_path / "ck", "--llm", tmp_path / "llm", "--vision", tmp_path / "blip2",
               "--config", over)
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert cfg["preset"] == "paper" and cfg["llm"]["source"] == str(tmp_path / "llm") and cfg["vision"]["source"] == str(tmp_path / "blip2")
    m = HawkModel.from_pretrained(tmp_path / "ck")
    assert torch.equal(m.image_queries.detach(), release_file[1]["query_tokens_motion"])


# ---- the release's computation ------------------------------------------------------------


def _ln(x, w, b, eps):
    return F.layer_norm(x, (x.size(-1),), w, b, eps)


def _attention(x, ctx, sd, p, heads):
    """BERT attention (scaled dot product over heads) + output dense + residual LayerNorm."""
    q = x @ sd[p + "self.query.weight"].T + sd[p + "self.query.bias"]
    k = ctx @ sd[p + "self.key.weight"].T + sd[p + "self.key.bias"]
    v = ctx @ sd[p + "self.value.weight"].T + sd[p + "self.value.bias"]
    b, n, d = q.shape
    split = lambda t: t.view(b, t.size(1), heads, d // heads).transpose(1, 2)  # noqa: E731
    w = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(d // heads), dim=-1)
    a = (w @ split(v)).transpose(1, 2).reshape(b, n, d)
    out = a @ sd[p + "output.dense.weight"].T + sd[p + "output.dense.bias"]
    return _ln(out + x, sd[p + "output.LayerNorm.weight"], sd[p + "output.LayerNorm.bias"], 1e-12)


def release_visual_tokens(sd, frame_feats, sfx: str, heads: int = 2):
    """The release's encode_videoQformer_visual after the image Q-Former, from its math:
    frame positions added to each frame's tokens, the 2-layer BERT video Q-Former over the
    queries, then llama_proj_0 -> encoder_0 -> decoder_2 (LLM tokens) and encoder_1 (tight)."""
    b, t, q, d = frame_feats.shape
    pos = sd[f"video_frame_position_embedding{sfx}.weight"][:t]
    ctx = (frame_feats + pos[None, :, None, :]).reshape(b, t * q, d)
    qf = f"video_Qformer{sfx}.bert."
    x = sd[f"video_query_tokens{sfx}"].expand(b, -1, -1)
    x = _ln(x, sd[qf + "embeddings.LayerNorm.weight"], sd[qf + "embeddings.LayerNorm.bias"], 1e-12)
    for i in range(LAYERS):
        lay = f"{qf}encoder.layer.{i}."
        x = _attention(x, x, sd, lay + "attention.", heads)
        x = _attention(x, ctx, sd, lay + "crossattention.", heads)
        h = F.gelu(x @ sd[lay + "intermediate_query.dense.weight"].T + sd[lay + "intermediate_query.dense.bias"])
        h = h @ sd[lay + "output_query.dense.weight"].T + sd[lay + "output_query.dense.bias"]
        x = _ln(h + x, sd[lay + "output_query.LayerNorm.weight"], sd[lay + "output_query.LayerNorm.bias"], 1e-12)
    proj = f"llama_proj{sfx}"
    x = x @ sd[f"{proj}_0.weight"].T + sd[f"{proj}_0.bias"]
    full = x @ sd[f"{proj}_last.encoder_0.weight"].T + sd[f"{proj}_last.encoder_0.bias"]
    return full @ sd[f"{proj}_last.decoder_2.weight"].T + sd[f"{proj}_last.decoder_2.bias"], \
        full @ sd[f"{proj}_last.encoder_1.weight"].T + sd[f"{proj}_last.encoder_1.bias"]


def test_visual_tokens_match_the_release_computation(converted, release_file):
    from hawk_core.model import HawkModel

    _, sd = release_file
    model = HawkModel.from_pretrained(converted).eval()
    g = torch.Generator().manual_seed(3)
    t = 5  # fewer frames than positions (the release's short-clip case): the first t rows
    feats_v = torch.randn(2, t, QI, HI, generator=g)  # per-frame image Q-Former outputs
    vit_m = torch.randn(2, t, 17, 32, generator=g)  # per-frame ViT tokens of the motion input
    with torch.no_grad():
        tok_v, tight_v, tok_m, tight_m = model.visual_tokens(feats_v, model.vision.motion_norm(vit_m))
        ref_v, ref_tight_v = release_visual_tokens(sd, feats_v, "")
        # the motion branch: its random frozen image Q-Former with the file's query_tokens_motion
        qf = model.vision.motion_qformer
        img = model.vision.motion_norm(vit_m).reshape(2 * t, 17, 32)
        frame_m = qf(query_embeds=sd["query_tokens_motion"].expand(2 * t, -1, -1), encoder_hidden_states=img).last_hidden_state
        ref_m, ref_tight_m = release_visual_tokens(sd, frame_m.reshape(2, t, QI, HI), "_motion")
    torch.testing.assert_close(tok_v, ref_v, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(tight_v, ref_tight_v, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(tok_m, ref_m, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(tight_m, ref_tight_m, rtol=1e-4, atol=1e-5)
    assert tok_v.shape == (2, QV, L)


def test_release_motion_encoder_is_the_stated_construction():
    """The motion branch's frozen path: ViT -> fresh LayerNorm (weight 1, bias 0, eps 1e-5) ->
    a random Q-Former drawn from seed + 4, the same on every build; trainable queries."""
    from hawk_core.model import HawkModel
    from hawk_core.model.config import HawkConfig

    cfg = HawkConfig.from_preset("tiny", overrides={"profile": "release"})
    a, b = HawkModel.build(cfg), HawkModel.build(cfg)
    ln = a.vision.motion_norm
    assert torch.equal(ln.weight, torch.ones_like(ln.weight)) and torch.equal(ln.bias, torch.zeros_like(ln.bias)) and ln.eps == 1e-5
    for (n, p), (_, q) in zip(a.vision.motion_qformer.named_parameters(), b.vision.motion_qformer.named_parameters()):
        assert torch.equal(p, q), n
    w = a.vision.motion_qformer.encoder.layer[0].attention.attention.query.weight
    assert abs(float(w.std()) - 0.02) < 0.005 and not torch.equal(w, a.vision.qformer.encoder.layer[0].attention.attention.query.weight)
    other = HawkModel.build(cfg.with_overrides({"seed": 1}))
    assert not torch.equal(w, other.vision.motion_qformer.encoder.layer[0].attention.attention.query.weight)
    assert a.image_queries.requires_grad and not any(p.requires_grad for p in a.vision.parameters())
    # the ViT's own tokens go through the fresh LayerNorm, not BLIP-2's trained one
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        raw = a.vision.vit(x)
        torch.testing.assert_close(a.vision.vision_model.post_layernorm(raw), a.vision.vision_model(pixel_values=x).last_hidden_state)
        torch.testing.assert_close(a.vision.encode_motion(x), F.layer_norm(raw, (raw.size(-1),), eps=1e-5))


# ---- the release's training prompt ----------------------------------------------------------


def release_training_text(qa: list[tuple[str, str]], times: list[float], n_tokens: int = 32) -> str:
    """The release's stage-2 text, rebuilt from its recipe: preprocess_multimodal puts
    '<Video>' + 2n '<ImageHere>' + '</Video> ' + msg before the first question (msg from
    load_video: 'The video contains N frames sampled at ... seconds. '); the LLaMA-2
    conversation (system ' ', sep '<s>', sep2 '</s>') wraps it; the tokenizer adds <s>."""
    sec = ", ".join([str(round(t, 1)) for t in times])
    msg = f"The video contains {len(times)} frames sampled at {sec} seconds. "
    first_q = "<Video>" + "<ImageHere>" * (2 * n_tokens) + "</Video> " + msg + qa[0][0]
    ret = ""
    for i, (q, a) in enumerate([(first_q, qa[0][1])] + qa[1:]):
        if i == 0:
            q = "<<SYS>>\n \n<</SYS>>\n\n" + q
        ret += "<s>" + "[INST] " + q + " [/INST]"
        ret += " " + a + " " + "</s>"
    return "<s>" + ret.lstrip("<s>")


def test_release_prompt_is_the_training_prompt_character_for_character():
    from hawk_core.language.prompts import MOTION_PLACEHOLDER, VIDEO_PLACEHOLDER, render_release_prompt

    times = [i * 30 / 25.0 for i in range(32)]  # 32 frames of a 30 fps... indices 0, 30, ... at 25 fps
    q, a = "Can you describe the anomaly in the video?", "A man punches another man, who falls."
    ours = render_release_prompt([(q, a)], times)
    ours = ours.replace(VIDEO_PLACEHOLDER, "<ImageHere>" * 32).replace(MOTION_PLACEHOLDER, "<ImageHere>" * 32)
    assert ours == release_training_text([(q, a)], times)
    assert ours.startswith("<s>[INST] <<SYS>>\n \n<</SYS>>\n\n<Video><ImageHere>")
    assert "</Video> The video contains 32 frames sampled at 0.0, 1.2, 2.4, 3.6, 4.8, 6.0, 7.2," in ours
    assert ours.endswith("37.2 seconds. Can you describe the anomaly in the video? [/INST] A man punches another man, who falls. </s>")
    # several QA turns (the release trains a record's whole QA list as one conversation)
    qa = [(q, a), ("Who falls?", "The second man.")]
    ours = render_release_prompt(qa, times).replace(VIDEO_PLACEHOLDER, "<ImageHere>" * 32).replace(MOTION_PLACEHOLDER, "<ImageHere>" * 32)
    assert ours == release_training_text(qa, times)
    # the generation prompt stops where the answer starts
    gen = render_release_prompt([(q, None)], [0.0, 0.5])
    assert gen.endswith("sampled at 0.0, 0.5 seconds. Can you describe the anomaly in the video? [/INST]")


def test_the_model_renders_and_tokenises_the_release_prompt():
    from hawk_core.language.prompts import render_release_prompt
    from hawk_core.model import HawkModel, TextSample
    from hawk_core.model.config import HawkConfig
    from hawk_core.model.text import MOTION_SLOT, VIDEO_SLOT

    model = HawkModel.build(HawkConfig.from_preset("tiny", overrides={"profile": "release"}))
    tok = model.tokenizer
    times = [0.0, 0.4, 0.8, 1.2]
    text = model.render_prompt("What happened?", [("Describe it.", "A crash.")], times)
    assert text == render_release_prompt([("Describe it.", "A crash."), ("What happened?", None)], times, bos=tok.bos_token, eos=tok.eos_token)
    batch = model.collate([TextSample("What happened?", "A crash.", frame_times=times)])
    ids = batch.input_ids[0].tolist()
    start = ids.index(VIDEO_SLOT)
    assert ids[start : start + 2 * QV] == [VIDEO_SLOT] * QV + [MOTION_SLOT] * QV  # 32 appearance then 32 motion, together
    assert tok.decode(ids[:start]) == tok.bos_token + "[INST] <<SYS>>\n \n<</SYS>>\n\n<Video>"
    from hawk_core.errors import InputError

    with pytest.raises(InputError, match="sampled frames. times"):
        model.collate([TextSample("What happened?")])


# ---- the release profile end to end --------------------------------------------------------


def test_converted_checkpoint_describes_a_clip(converted, clip):
    r = invoke("describe", clip, "--model", converted, "--max-new-tokens", "4", "--json", "--device", "cpu")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["model"]["trained"] is True and d["num_frames"] == 8 and isinstance(d["text"], str)
    # release frame indices: floor(i * N / T) from frame 0
    assert [f["index"] for f in d["frames"]] == [i * 20 // 8 for i in range(8)]
    r = invoke("describe", clip, "--model", converted, "--sample", "release", "--seed", "1", "--max-new-tokens", "3")
    assert r.exit_code == 2 and "--sample release sets the decoding itself; drop --max-new-tokens" in r.output
    r = invoke("describe", clip, "--model", converted, "--sample", "release", "--seed", "1", "--json", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["generation"] == {"max_new_tokens": 300, "temperature": 1.0, "top_p": 0.9, "seed": 1,
                                                  "top_k": 50, "repetition_penalty": 1.0}


def test_short_clips_use_all_their_frames(converted, tmp_path):
    """The release's short-clip rule: a clip of N < T frames gives T = N frames; the video
    Q-Former uses its first N frame positions, and clips of other lengths batch together."""
    short = write_video(tmp_path / "short.mp4", moving_square_frames(5, size=64, step=3), fps=10.0)
    longer = write_video(tmp_path / "long.mp4", moving_square_frames(30, size=64, step=1), fps=10.0)
    r = invoke("describe", short, "--model", converted, "--max-new-tokens", "3", "--json", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert [f["index"] for f in json.loads(r.stdout)["frames"]] == [0, 1, 2, 3, 4]
    from hawk_core.inference.predictor import GenerationOptions, Predictor

    p = Predictor.load(str(converted), device="cpu")
    a, b = p.prepare_many([short, longer])
    assert a.feats_v.shape[1] == 5 and b.feats_v.shape[1] == 8 and a.frame_times == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert a.feats_m.shape[-1] == 32  # the motion ViT's tokens: the trainable queries run in the trainable path
    both = p.answer([(a, "What happened?", None), (b, "What happened?", None)], GenerationOptions(max_new_tokens=3))
    alone = p.answer([(a, "What happened?", None)], GenerationOptions(max_new_tokens=3))
    assert both[0].text == alone[0].text


def test_train_init_from_the_converted_checkpoint(converted, tmp_path, fighting_video, accident_video):
    """`hawk train --init` continues from the converted weights under the release profile:
    the motion branch's image queries (query_tokens_motion) train with the rest."""
    from safetensors.torch import load_file

    short = write_video(tmp_path / "short.mp4", moving_square_frames(6, size=64, step=3), fps=10.0)
    data = tmp_path / "d.json"
    data.write_text(json.dumps([
        {"video": str(fighting_video), "description": "Two men fight.", "QA": [{"q": "Who fights?", "a": "Two men."}]},
        {"video": str(accident_video), "description": "A car hits a motorcycle.", "QA": []},
        {"video": str(short), "description": "A white square moves right.", "QA": []},
    ]))
    out = tmp_path / "run"
    r = invoke("train", "--init", converted, "--data", data, "--out", out, "--steps", "2", "--batch-size", "3", "--lr", "1e-2",
               "--warmup", "0", "--eval-every", "0", "--test-fraction", "0", "--device", "cpu", "--cache-dir", tmp_path / "cache")
    assert r.exit_code == 0, r.output
    before, after = load_file(str(converted / "adapter.safetensors")), load_file(str(out / "model" / "adapter.safetensors"))
    assert set(before) == set(after) and not torch.equal(before["branches.motion.image_queries"], after["branches.motion.image_queries"])
    run = json.loads((out / "run.json").read_text())
    assert run["model"]["profile"] == "release"


def test_train_profile_flag(tmp_path, fighting_video):
    data = tmp_path / "d.json"
    data.write_text(json.dumps([{"video": str(fighting_video), "description": "Two men fight.", "QA": []}]))
    r = invoke("train", "--preset", "tiny", "--profile", "release", "--data", data, "--out", tmp_path / "run", "--steps", "1",
               "--batch-size", "1", "--eval-every", "0", "--test-fraction", "0", "--device", "cpu", "--cache-dir", tmp_path / "cache")
    assert r.exit_code == 0, r.output
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["model"]["profile"] == "release" and run["model"]["data"]["motion"]["mask"] == "threshold"


# ---- the profile's pieces, one field each -------------------------------------------------


def test_release_frame_indices_and_short_clip_rule():
    import numpy as np

    from hawk_core.media.video import uniform_indices

    for n in (32, 33, 100, 271, 1000, 7919):  # the release: np.arange(0, N, N / T) taken as int
        assert uniform_indices(n, 32, "start").tolist() == np.arange(0, n, n / 32).astype(int).tolist()
    assert uniform_indices(100, 32, "start")[:3].tolist() == [0, 3, 6]  # the centre rule gives 1, 4, 7
    assert uniform_indices(5, 32, "start", "all").tolist() == [0, 1, 2, 3, 4]  # T = N
    assert uniform_indices(5, 8, "centre", "all").tolist() == [0, 1, 2, 3, 4]
    assert len(uniform_indices(5, 8, "start", "repeat")) == 8


def test_first_frame_as_index_1_is_the_release_rule(tmp_path):
    """The release sets index 0 to 1 before its flow loop: the motion frame of native frame
    0 is that of index 1 (flow 0 -> 1 masking frame 1)."""
    import numpy as np

    from hawk_core.media.motion import extract_motion, farneback, flow_magnitude
    from hawk_core.media.motion_config import MotionConfig
    from hawk_core.media.video import sample_clip

    v = write_video(tmp_path / "v.mp4", moving_square_frames(6, size=64, step=3), fps=10.0)
    clip = sample_clip(v, 6, 64, index_rule="start", min_frames=2)
    assert clip.indices.tolist() == [0, 1, 2, 3, 4, 5]
    rel = extract_motion(clip, MotionConfig(mask="threshold", first_frame="as_index_1"))
    assert np.array_equal(rel.motion[0], rel.motion[1]) and rel.stats[0]["masked_index"] == 1
    mask = flow_magnitude(farneback(clip.frames[0], clip.frames[1])) > 0.2  # written from the release's loop
    assert np.array_equal(rel.motion[0], clip.frames[1] * mask[..., None].astype(np.uint8))
    ours = extract_motion(clip, MotionConfig(mask="threshold"))  # reverse_pair: frame 0 masked by flow 1 -> 0
    assert not np.array_equal(ours.motion[0], ours.motion[1]) and ours.stats[0]["masked_index"] == 0
    assert np.array_equal(ours.motion[1:], rel.motion[1:])


def test_no_pixel_normalisation_leaves_pixels_in_unit_range():
    from hawk_core.model import HawkModel
    from hawk_core.model.config import HawkConfig

    frames = torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8)
    rel = HawkModel.build(HawkConfig.from_preset("tiny", overrides={"vision": {"normalize": False}})).preprocess(frames)
    torch.testing.assert_close(rel, frames.permute(0, 3, 1, 2).float() / 255)
    paper = HawkModel.build(HawkConfig.from_preset("tiny")).preprocess(frames)
    assert float(paper.min()) < 0  # CLIP mean/std applied


def test_profiles_differ_in_the_listed_fields_only(tmp_path):
    from hawk_core.errors import ConfigError
    from hawk_core.model.config import HawkConfig
    from hawk_core.model.presets import PROFILE_FIELDS

    paper, release = HawkConfig.from_preset("paper"), HawkConfig.from_preset("paper", overrides={"profile": "release"})
    assert paper.profile == "paper" and release.profile == "release"

    def flat(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flat(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v

    a, b = dict(flat(paper.to_dict())), dict(flat(release.to_dict()))
    differ = {k for k in a if a[k] != b[k]} - {"profile"}
    assert differ == {f.path for f in PROFILE_FIELDS}
    assert all(a[f.path] == f.paper and b[f.path] == f.release for f in PROFILE_FIELDS)
    release.save(tmp_path)
    again = HawkConfig.load(tmp_path)
    assert again.to_dict() == release.to_dict() and again.profile == "release"
    mixed = release.with_overrides({"data": {"motion": {"mask": "soft"}}})
    assert mixed.profile == "custom" and mixed.data.frame_indices == "start"
    assert paper.with_overrides({"profile": "release"}).to_dict() == release.to_dict()
    with pytest.raises(ConfigError, match="unknown profile 'authors'"):
        HawkConfig.from_preset("tiny", overrides={"profile": "authors"})
    with pytest.raises(ConfigError, match=r"need kind 'blip2' with image_qformer"):
        HawkConfig.from_preset("embedded", overrides={"profile": "release"})


def test_readme_tables_every_profile_difference():
    from hawk_core.model.presets import PROFILE_FIELDS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    for f in PROFILE_FIELDS:
        row = next((r for r in rows if r.startswith(f"| `{f.path}`")), None)
        assert row is not None, f.path
        assert f"`{json.dumps(f.paper)}`" in row and f"`{json.dumps(f.release)}`" in row, row


def test_sampling_presets():
    from hawk_core.errors import ConfigError
    from hawk_core.inference.predictor import GenerationOptions

    rel = GenerationOptions.preset("release", seed=4)
    assert (rel.max_new_tokens, rel.temperature, rel.top_p, rel.top_k, rel.repetition_penalty, rel.seed) == (300, 1.0, 0.9, 50, 1.0, 4)
    assert GenerationOptions.preset("greedy") == GenerationOptions()
    with pytest.raises(ConfigError, match="unknown sampling preset"):
        GenerationOptions.preset("beam")
