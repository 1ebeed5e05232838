"""The guided head (``head.guide``, `hawk train --guide`): the class head's class named in the
prompt, the record's own in training, the head's most probable one at inference."""

from __future__ import annotations

import json

import pytest
import torch

from hawk_core.errors import ConfigError
from hawk_core.model import TextSample
from hawk_core.model.config import HawkConfig, HeadConfig
from hawk_core.model.hawk import HawkModel
from tests.helpers import invoke

CLASSES = ("collision", "normal", "wrong_way")


@pytest.fixture(scope="module")
def guided() -> HawkModel:
    cfg = HawkConfig.from_preset("tiny").with_overrides({"head": {"classes": list(CLASSES), "guide": True}})
    return HawkModel.build(cfg)


def _feats(model: HawkModel, n: int = 1):
    """Frozen features of ``n`` random clips, through the tiny preset's image encoder."""
    g = torch.Generator().manual_seed(0)
    s = model.config.vision.image_size
    x = torch.rand(n, model.config.data.num_frames, 3, s, s, generator=g)
    return model.encode_visual(x, x * 0.5)


def test_the_guide_sentence_is_validated_and_reads_classes_as_words():
    assert HeadConfig(guide_text="Seen: {event}.").guide_sentence("wrong_way") == "Seen: wrong way."
    for bad in ("no placeholder", "{event} and {other}", "{event"):
        with pytest.raises(ConfigError, match="guide_text"):
            HeadConfig(guide_text=bad)
    with pytest.raises(ConfigError, match="guide must be true or false"):
        HeadConfig(guide="yes")
    with pytest.raises(ConfigError, match="needs head.classes"):  # a guide with no head to read it from
        HawkModel.build(HawkConfig.from_preset("tiny").with_overrides({"head": {"guide": True}}))


def test_the_prompt_names_the_event_after_the_question_and_only_when_guided(guided):
    text = guided.render_prompt("Describe the video.", event="wrong_way")
    assert "Describe the video. Event: wrong way." in text
    assert text.index("<VIDEO_EMBEDDING>") < text.index("Event: wrong way.")
    assert "Event:" not in guided.render_prompt("Describe the video.")  # no class: no guide sentence
    plain = HawkModel.build(HawkConfig.from_preset("tiny").with_overrides({"head": {"classes": list(CLASSES)}}))
    assert "Event:" not in plain.render_prompt("Describe the video.", event="wrong_way")  # head without guide
    # in a chat the guide stays with the first turn, where the video is
    chat = guided.render_prompt("And then?", history=[("Describe the video.", "A car.")], event="collision")
    assert chat.index("Event: collision.") < chat.index("And then?")
    rows = guided.collate([TextSample("Describe the video.", event="collision"), TextSample("Describe the video.")], for_generation=True)
    assert int(rows.attention_mask[0].sum()) > int(rows.attention_mask[1].sum())


def test_inference_names_the_heads_most_probable_class(guided, monkeypatch):
    fv, fm = _feats(guided, 2)
    with torch.no_grad():
        guided.cluster_head.weight.zero_()
        guided.cluster_head.bias.copy_(torch.tensor([0.0, 0.0, 5.0]))  # wrong_way wins whatever the tokens
    seen: list = []
    real = guided.collate

    def spy(samples, **kw):
        seen.extend(s.event for s in samples)
        return real(samples, **kw)

    monkeypatch.setattr(guided, "collate", spy)
    out = guided.generate(fv, fm, ["Describe the video.", "Describe the video."], max_new_tokens=3)
    assert len(out) == 2 and seen == ["wrong_way", "wrong_way"]
    seen.clear()
    guided.next_token_logits(fv, fm, ["Is there an anomaly?", "Is there an anomaly?"])
    assert seen == ["wrong_way", "wrong_way"]
    with torch.no_grad():
        guided.cluster_head.bias.copy_(torch.tensor([5.0, 0.0, 0.0]))
    seen.clear()
    guided.generate(fv[:1], fm[:1], ["Describe the video."], max_new_tokens=2)
    assert seen == ["collision"]


def test_training_prompts_name_the_records_own_class(guided):
    from types import SimpleNamespace

    from hawk_core.training.samples import BatchMaker

    maker = BatchMaker(guided, None, None, seed=0, ram_items=0, device="cpu", feat_dtype=torch.float32, motion=True)
    rec = SimpleNamespace(extra={"event_type": "wrong_way"})
    assert maker.guide_event(rec) is None  # not guided until the trainer names the field
    maker.guide_field = "event_type"
    assert maker.guide_event(rec) == "wrong_way"
    assert maker.guide_event(SimpleNamespace(extra={"event_type": "skating"})) is None  # not a head class
    assert maker.guide_event(SimpleNamespace(extra={})) is None


def test_train_guide_from_the_cli(tmp_path, fighting_video, hivau_jsonl, monkeypatch):
    """--guide --label-weight: the model's config keeps head.guide and the adapter its head;
    the training prompts name each record's class; --guide without a head to train is refused."""
    from hawk_core.model import text as text_mod
    from tests.hawk_dataset import write_labelled_dataset

    data, recs = write_labelled_dataset(tmp_path / "hawk.json", fighting_video.parent, hivau_jsonl)
    events: list = []
    real = text_mod.render_prompt
    monkeypatch.setattr(text_mod, "render_prompt", lambda m, q, h=None, t=None, e=None, s=None: events.append(e) or real(m, q, h, t, e, s))
    common = ["--data", data, "--cache-dir", tmp_path / "cache", "--preset", "tiny", "--device", "cpu", "--warmup", "0",
              "--test-fraction", "0", "--eval-every", "0"]
    r = invoke("train", "--out", tmp_path / "run", *common, "--batch-size", "3", "--steps", "2", "--label-weight", "1", "--guide")
    assert r.exit_code == 0, r.output
    assert set(events) == {"fighting", "collision"}  # every training prompt named its record's class
    model = HawkModel.from_pretrained(tmp_path / "run" / "model")
    assert model.guided and model.config.head.classes == ("collision", "fighting")
    r = invoke("train", "--out", tmp_path / "bad", *common, "--steps", "1", "--guide")
    assert r.exit_code != 0 and "needs head.classes" in r.output and "Traceback" not in r.output


def test_a_head_on_the_motion_encoder_reads_its_pooled_tokens():
    """head.on encoder: the model's own head reads the learnt motion encoder's mean + max, which
    needs a flow_cnn encoder; class_probabilities and the guide read it."""
    flow = {"vision": {"motion_encoder": "flow_cnn", "flow_size": 32, "flow_width": 16}}
    with pytest.raises(ConfigError, match="head.on must be one of"):
        HeadConfig(on="frames")
    with pytest.raises(ConfigError, match="no learnt motion encoder"):
        HawkModel.build(HawkConfig.from_preset("tiny").with_overrides({"head": {"classes": list(CLASSES), "on": "encoder"}}))
    m = HawkModel.build(HawkConfig.from_preset("tiny").with_overrides({**flow, "head": {"classes": list(CLASSES), "on": "encoder", "guide": True}}))
    enc = m.branches["motion"].encoder
    assert m.cluster_head.in_features == 2 * enc.dim
    g = torch.Generator().manual_seed(0)
    t = m.config.data.num_frames
    fv = torch.randn(2, t, 4, 32, generator=g)
    fm = torch.rand(2, t, 32 * 32, 5, generator=g)
    pooled = m.encoder_pooled(fm)
    with torch.no_grad():
        h = enc(fm).float()
    assert torch.allclose(pooled, torch.cat([h.mean((1, 2)), h.amax((1, 2))], -1))
    assert torch.allclose(m.encoder_pooled([fm[0], fm[1]]), pooled, atol=1e-6)  # a list of clips reads the same
    with torch.no_grad():
        m.cluster_head.weight.zero_()
        m.cluster_head.weight[2] = pooled[1] - pooled[0]  # wrong_way's logit: > 0 for the second clip only, the others 0
        m.cluster_head.bias.copy_(torch.tensor([0.0, 0.0, -float((pooled[1] - pooled[0]) @ (pooled[0] + pooled[1]) / 2)]))
    probs = m.class_probabilities(fv, fm)
    assert probs.shape == (2, 3) and int(probs[1].argmax()) == 2 and int(probs[0].argmax()) != 2
    _, events = m.generate(fv, fm, ["Describe the video.", "Describe the video."], max_new_tokens=1, with_events=True)
    assert events[1] == "wrong_way"


def test_fit_head_puts_a_closed_form_head_on_the_encoder(tmp_path, fighting_video, hivau_jsonl):
    """recipes/fit_head.py: the written model is the source with a fitted head.on-encoder head
    (its training records' classes, the guide as asked); bad input is a one-line error."""
    import subprocess
    import sys
    from pathlib import Path

    from tests.hawk_dataset import write_labelled_dataset

    data, recs = write_labelled_dataset(tmp_path / "hawk.json", fighting_video.parent, hivau_jsonl)
    src = tmp_path / "src"
    flow = {"vision": {"motion_encoder": "flow_cnn", "flow_size": 32, "flow_width": 16}}
    HawkModel.build(HawkConfig.from_preset("tiny").with_overrides(flow)).save_pretrained(src)
    script = str(Path(__file__).resolve().parents[1] / "recipes" / "fit_head.py")
    run = lambda *args: subprocess.run([sys.executable, script, *map(str, args)], capture_output=True, text=True, timeout=300)  # noqa: E731
    r = run(src, "--data", data, "--out", tmp_path / "out", "--cache-dir", tmp_path / "cache", "--test", data, "--guide", "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert "2-class head on 3 records' 'event_type'" in r.stdout and "accuracy" in r.stdout
    m = HawkModel.from_pretrained(tmp_path / "out")
    assert m.config.head.classes == ("collision", "fighting") and m.config.head.on == "encoder" and m.guided
    assert float(m.cluster_head.weight.detach().abs().sum()) > 0
    from safetensors.torch import load_file

    before, after = load_file(str(src / "adapter.safetensors")), load_file(str(tmp_path / "out" / "adapter.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before)  # the rest of the adapter is the source's
    for args, says in (((src, "--data", data, "--out", src, "--cache-dir", tmp_path / "cache"), "another folder"),
                       ((tmp_path / "nowhere", "--data", data, "--out", tmp_path / "o2", "--cache-dir", tmp_path / "cache"), "error"),
                       ((src, "--data", data, "--out", tmp_path / "o3", "--cache-dir", tmp_path / "cache", "--label-field", "nope"),
                        "no record")):
        r = run(*args)
        assert r.returncode != 0 and says in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_pooled_features_report_progress_for_either_read(tmp_path, fighting_video, hivau_jsonl, monkeypatch):
    """on_progress is called every 200 videos whichever features are read (the encoder read skipped it)."""
    from types import SimpleNamespace

    from hawk_core.training import heads

    monkeypatch.setattr(heads, "time", SimpleNamespace(time=lambda: 0.0))
    flow = {"vision": {"motion_encoder": "flow_cnn", "flow_size": 32, "flow_width": 16}}
    m = HawkModel.build(HawkConfig.from_preset("tiny").with_overrides(
        {**flow, "head": {"classes": ["a", "normal"], "on": "own_encoder"}}))  # every read has its encoder
    t = m.config.data.num_frames
    g = torch.Generator().manual_seed(0)
    fv, fm = torch.randn(t, 4, 32, generator=g), torch.rand(t, 32 * 32, 5, generator=g)
    cache = SimpleNamespace(has=lambda p: True, load=lambda p: (fv, fm))
    recs = [SimpleNamespace(path=f"v{i}.mp4") for i in range(400)]
    for read in heads.READS:
        seen: list = []
        x = heads.pooled_features(m, cache, recs, None, read=read, on_progress=lambda done, s: seen.append(done))
        assert x.shape[0] == 400 and seen == [200, 400], read
