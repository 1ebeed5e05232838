"""benchmarks/encoder_probe.py: a linear event probe on a model's visual tokens, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hawk_core.model.config import HawkConfig
from hawk_core.model.hawk import HawkModel
from hawk_core.synth import SynthConfig, synthesize

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "encoder_probe.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args), "--threads", "1"], capture_output=True, text=True)


def test_probe_reads_the_tokens_fills_the_cache_and_reports(tmp_path):
    cfg = SynthConfig(frames=16, qa=1)
    synthesize(tmp_path / "train", 10, 1, "train", cfg)
    synthesize(tmp_path / "test", 4, 2, "test", cfg)
    model = tmp_path / "m"
    HawkModel.build(HawkConfig.from_preset("tiny")).save_pretrained(model)
    cache = tmp_path / "cache"
    r = _run("--model", model, "--train", tmp_path / "train" / "train.json", "--test", tmp_path / "test" / "test.json",
             "--cache-dir", cache, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    truth = [rec["event_type"] for rec in json.loads((tmp_path / "test" / "test.json").read_text())]
    assert out["train"] == 10 and out["test"] == 4
    assert 0.0 <= out["event_acc"] <= 1.0 and out["event_ci"][0] <= out["event_acc"] <= out["event_ci"][1]
    assert set(out["per_event"]) == set(truth)
    assert out["always_anomaly"] == sum(t != "normal" for t in truth) / 4
    assert len(list(cache.rglob("*.safetensors"))) == 14  # every video's features, stored for the next probe
    assert out["spread"] >= 0  # the tiny preset's random frozen encoder hands every clip nearly the same features


def test_relative_spread_is_zero_for_identical_rows_and_scale_free():
    import numpy as np

    sys.path.insert(0, str(SCRIPT.parents[1]))
    from benchmarks.encoder_probe import relative_spread

    rows = np.array([[3.0, 4.0]] * 5)
    assert relative_spread(rows) == 0.0
    x = np.array([[1.0, 0.0], [3.0, 0.0]])  # mean (2, 0), each row 1 away from it
    assert relative_spread(x) == 0.5 and relative_spread(10 * x) == 0.5
    assert relative_spread(np.array([[1.0], [-1.0]])) == float("inf")  # the mean is 0 but the rows differ


def test_probe_needs_event_types_and_a_model(tmp_path):
    data = tmp_path / "plain.json"
    video = Path(__file__).resolve().parents[1] / "examples" / "sample.mp4"
    data.write_text(json.dumps([{"video": str(video), "description": "A car drives the wrong way."}]))
    model = tmp_path / "m"
    HawkModel.build(HawkConfig.from_preset("tiny")).save_pretrained(model)
    r = _run("--model", model, "--train", data, "--test", data, "--cache-dir", tmp_path / "c")
    assert r.returncode != 0 and "no event_type" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = _run("--model", tmp_path / "absent", "--train", data, "--test", data, "--cache-dir", tmp_path / "c")
    assert r.returncode != 0 and r.stderr.startswith("error:") and "Traceback" not in r.stderr, r.stderr


def test_probe_reads_the_learnt_encoder_alone_and_refuses_a_model_without_one(tmp_path):
    cfg = SynthConfig(frames=16, qa=1)
    synthesize(tmp_path / "train", 6, 1, "train", cfg)
    synthesize(tmp_path / "test", 3, 2, "test", cfg)
    common = ["--train", tmp_path / "train" / "train.json", "--test", tmp_path / "test" / "test.json", "--cache-dir", tmp_path / "c"]
    flow = tmp_path / "flow"
    HawkModel.build(HawkConfig.from_preset("tiny", overrides={"vision": {"motion_encoder": "flow_cnn", "flow_size": 32,
                                                                         "flow_width": 16}})).save_pretrained(flow)
    r = _run("--model", flow, *common, "--read", "encoder", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["read"] == "encoder" and out["train"] == 6 and out["test"] == 3 and 0.0 <= out["event_acc"] <= 1.0
    assert out["spread"] > 0  # the learnt encoder reads each clip's own frames and flow
    plain = tmp_path / "plain"
    HawkModel.build(HawkConfig.from_preset("tiny")).save_pretrained(plain)
    r = _run("--model", plain, *common, "--read", "encoder")
    assert r.returncode != 0 and "no learnt motion encoder" in r.stderr and "Traceback" not in r.stderr, r.stderr
