"""The guide's start (``head.guide_start``, `hawk train --guide-start`): a guided model's prompt
also says when the event starts, the record's own ``time_span`` start in training, the frame
head's onset on the clip's sampled frames at inference."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from hawk_core.errors import ConfigError, InputError
from hawk_core.model.config import HawkConfig, HeadConfig
from hawk_core.model.frame_head import onset_time
from hawk_core.model.hawk import HawkModel
from hawk_core.scoring.detection_gt import first_start
from tests.helpers import invoke

CLASSES = ("collision", "normal", "wrong_way")
FLOW = {"vision": {"motion_encoder": "flow_cnn", "flow_size": 32, "flow_width": 16}}
HEAD = {"classes": list(CLASSES), "on": "encoder", "guide": True, "guide_start": True, "frames": True}


@pytest.fixture(scope="module")
def model() -> HawkModel:
    return HawkModel.build(HawkConfig.from_preset("tiny").with_overrides({**FLOW, "head": HEAD}))


def test_onset_time_is_the_first_crossing_interpolated():
    times = [0.0, 1.0, 2.0, 3.0]
    assert onset_time([0.1, 0.3, 0.7, 0.9], times, 0.5) == pytest.approx(1.5)  # between 0.3 at 1 s and 0.7 at 2 s
    assert onset_time(torch.tensor([0.6, 0.9, 0.9, 0.2]), times, 0.5) == 0.0  # already anomalous at the first frame
    assert onset_time([0.1, 0.2, 0.4, 0.3], times, 0.5) == 2.0  # never reached: the most anomalous frame
    assert onset_time([0.1, 0.3, 0.7, 0.9], times, 0.8) == pytest.approx(2.5)
    with pytest.raises(InputError, match="one time per probability"):
        onset_time([0.1, 0.2], [0.0], 0.5)


def test_the_start_sentence_is_validated_and_follows_the_class():
    head = HeadConfig(classes=CLASSES, guide=True, frames=True, guide_start=True)
    assert head.guide_sentence("wrong_way", 1.26) == "Event: wrong way. It starts at about 1.3 seconds."
    assert head.guide_sentence("wrong_way") == "Event: wrong way."  # no start known: none said
    assert head.guide_sentence("normal", 2.0) == "Event: normal."  # nothing starts in a normal video
    assert HeadConfig(classes=CLASSES, guide=True).guide_sentence("wrong_way", 1.0) == "Event: wrong way."  # off
    with pytest.raises(ConfigError, match="needs head.guide and head.frames"):
        HeadConfig(classes=CLASSES, guide=True, guide_start=True)
    for bad in ({"guide_start_text": "no placeholder"}, {"guide_start_text": "{start} {x}"}):
        with pytest.raises(ConfigError, match="guide_start_text"):
            HeadConfig(**bad)
    for bad in (0, 1, 1.5, True, "0.5"):
        with pytest.raises(ConfigError, match="guide_start_threshold"):
            HeadConfig(guide_start_threshold=bad)


def test_training_prompts_name_the_records_own_start(model):
    from hawk_core.training.samples import BatchMaker

    maker = BatchMaker(model, None, None, seed=0, ram_items=0, device="cpu", feat_dtype=torch.float32, motion=True)
    rec = SimpleNamespace(video="v.mp4", extra={"time_span": {"start_s": 1.7, "end_s": 3.0}, "fps": 10.0})
    assert maker.guide_start(rec, "collision") == 1.7
    assert maker.guide_start(rec, "normal") is None and maker.guide_start(rec, None) is None
    frames = SimpleNamespace(video="v.mp4", extra={"time_span": {"start_frame": 22, "end_frame": 30}, "fps": 10.0})
    assert maker.guide_start(frames, "collision") == pytest.approx(2.2)
    assert maker.guide_start(SimpleNamespace(video="v.mp4", extra={}), "collision") is None  # no span: no start said
    # first_start reads every form hawk's detection ground truth reads, and gives None for what it cannot
    assert first_start({"time_span": [[4.0, 5.0], [1.0, 2.0]]}) == 1.0 and first_start({"time_span": None}) is None
    assert first_start({"time_span": {"start_frame": 3, "end_frame": 4}}) is None  # frames without fps
    assert first_start({"time_span": {"start_s": 3, "end_s": 1}}) is None


def test_inference_names_the_frame_heads_onset(model, monkeypatch):
    t = model.config.data.num_frames
    g = torch.Generator().manual_seed(0)
    fm = torch.rand(2, t, 32 * 32, 5, generator=g)
    s = model.config.vision.image_size
    fv = model.encode_visual(torch.rand(2, t, 3, s, s, generator=g), torch.rand(2, t, 3, s, s, generator=g))[0]
    times = [[0.5 * i for i in range(t)], [0.25 * i for i in range(t)]]
    with torch.no_grad():
        model.cluster_head.weight.zero_()
        model.cluster_head.bias.copy_(torch.tensor([5.0, 0.0, 0.0]))  # collision, whatever the video
    seen: list = []
    real = model.collate

    def spy(samples, **kw):
        seen.extend((s.event, s.start) for s in samples)
        return real(samples, **kw)

    monkeypatch.setattr(model, "collate", spy)
    model.generate(fv, fm, ["Describe the video."] * 2, frame_times=times, max_new_tokens=2)
    probs = model.frame_probabilities(fm, fv)
    want = [round(onset_time(p, ts, 0.5), 1) for p, ts in zip(probs, times)]
    assert seen == [("collision", want[0]), ("collision", want[1])]
    assert "It starts at about" in model.render_prompt("Describe the video.", event="collision", start=want[0])
    seen.clear()
    model.generate(fv, fm, ["Describe the video."] * 2, max_new_tokens=2)  # no frame times: no start
    assert seen == [("collision", None), ("collision", None)]
    seen.clear()
    with torch.no_grad():
        model.cluster_head.bias.copy_(torch.tensor([0.0, 5.0, 0.0]))  # normal: no start
    model.generate(fv, fm, ["Describe the video."] * 2, frame_times=times, max_new_tokens=2)
    assert seen == [("normal", None), ("normal", None)]


def test_train_guide_start_from_the_cli(tmp_path, monkeypatch):
    """--guide --guide-start on a model with a frame head: the training prompts name each
    anomalous record's own start, the saved config keeps head.guide_start, and the fitted heads
    stay as they were (no loss of hawk train reaches them); without a frame head it is refused."""
    from hawk_core.model import text as text_mod
    from tests.hawk_dataset import synth_test_split

    data = synth_test_split(tmp_path / "synth")
    recs = json.loads(data.read_text())
    init = HawkModel.build(HawkConfig.from_preset("tiny").with_overrides(
        {**FLOW, "head": {**HEAD, "classes": sorted({r["event_type"] for r in recs} | {"normal"})}}))
    with torch.no_grad():
        init.cluster_head.weight.fill_(0.1)  # a trained head, as far as the guide's check goes
    init.save_pretrained(tmp_path / "init")
    before = {k: v.clone() for k, v in init.adapter_tensors().items() if k.startswith(("frame_head.", "cluster_head."))}
    seen: list = []
    real = text_mod.render_prompt
    monkeypatch.setattr(text_mod, "render_prompt",
                        lambda m, q, h=None, t=None, e=None, s=None: seen.append((e, s)) or real(m, q, h, t, e, s))
    common = ["--data", data, "--cache-dir", tmp_path / "cache", "--device", "cpu", "--warmup", "0", "--test-fraction", "0",
              "--eval-every", "0", "--batch-size", "4"]
    r = invoke("train", "--out", tmp_path / "run", "--init", tmp_path / "init", *common, "--steps", "2", "--guide-start")
    assert r.exit_code == 0, r.output
    truth: dict = {}
    for rec in recs:
        if rec.get("time_span"):
            truth.setdefault(rec["event_type"], set()).add(rec["time_span"]["start_s"])
    said = {(e, s) for e, s in seen if e is not None}
    assert truth and any(e != "normal" for e, _ in said)
    assert all(s in truth[e] for e, s in said if e != "normal")
    assert all(s is None for e, s in said if e == "normal")
    out = HawkModel.from_pretrained(tmp_path / "run" / "model")
    assert out.config.head.guide_start
    after = out.adapter_tensors()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    r = invoke("train", "--out", tmp_path / "bad", "--preset", "tiny", *common, "--steps", "1", "--label-weight", "1",
               "--guide", "--guide-start")
    assert r.exit_code != 0 and "needs head.guide and head.frames" in r.output and "Traceback" not in r.output
