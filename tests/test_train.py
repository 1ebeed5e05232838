"""hawk_core.training.trainer and `hawk train` on the tiny preset over the real shared clips."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hawk_core.errors import CheckpointError
from hawk_core.training.config import TrainConfig
from hawk_core.training.schedule import lr_lambda
from hawk_core.training.trainer import Trainer, TrainRequest
from tests.hawk_dataset import write_dataset
from tests.helpers import free_port, invoke

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory, fighting_video, hivau_jsonl) -> Path:
    d = tmp_path_factory.mktemp("data")
    return write_dataset(d / "hawk.json", fighting_video.parent, hivau_jsonl)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")  # shared: features are computed once for the module


def _args(data: Path, cache: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--preset", "tiny", "--data", data, "--out", out, "--cache-dir", cache, "--batch-size", "2",
            "--warmup", "2", "--lr", "1e-3", "--eval-every", "0", "--device", "cpu", *extra]


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_train_cli_end_to_end(data, cache, tmp_path):
    out = tmp_path / "run"
    r = invoke(*_args(data, cache, out, "--steps", "4", "--save-every", "2", "--eval-every", "2"))
    assert r.exit_code == 0, r.output
    assert "eval loss" in r.output and "step 4" in r.output
    metrics = _lines(out / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    for m in metrics:
        assert {"loss", "loss_vl", "loss_mv", "loss_ml", "lr"} <= set(m)
        assert m["loss"] > 0 and m["loss_vl"] > 0 and m["loss_mv"] > 0 and m["loss_ml"] > 0  # all three terms train
    assert metrics[0]["lr"] == pytest.approx(0.5e-3) and metrics[1]["lr"] == pytest.approx(1e-3)  # warm-up
    evals = _lines(out / "eval.jsonl")
    assert [e["step"] for e in evals] == [2, 4] and evals[0]["items"] == 3  # the held-out video's 3 items
    assert json.loads((out / "latest.json").read_text()) == {"step": 4, "path": "checkpoints/step-00000004"}
    ckpt = out / "checkpoints" / "step-00000004"
    assert {"config.json", "adapter.safetensors", "trainer_state.pt", "train_config.json"} <= {p.name for p in ckpt.iterdir()}
    run = json.loads((out / "run.json").read_text())
    assert run["stage"] == 2 and run["model"]["preset"] == "tiny" and run["train"]["steps"] == 4

    from hawk_core.model import HawkModel

    m = HawkModel.from_pretrained(out / "model")  # the final weights rebuild from their folder alone
    from safetensors.torch import load_file

    final = load_file(str(out / "model" / "adapter.safetensors"))
    for name, p in m.named_parameters():
        if name in final:
            assert p.detach().equal(final[name])


def _request(data, cache, out, steps=7, overrides=None, **kw) -> TrainRequest:
    base = {"steps": steps, "batch_size": 2, "lr": 1e-3, "warmup": 2, "eval_every": 0, "save_every": 3, "device": "cpu", "cache_dir": str(cache)}
    cfg = TrainConfig(**{**base, **kw})
    return TrainRequest(data=data, out=out, train=cfg, preset="tiny", model_overrides=overrides)


class _Interrupt(Exception):
    pass


def test_resume_equals_uninterrupted_run(data, cache, tmp_path):
    """Kill a run right after its step-3 checkpoint, resume it: steps 4..7 and the final
    weights match an uninterrupted run bitwise (same batches, prompts, dropout, Adam state)."""
    import torch
    from safetensors.torch import load_file

    drop = {"video_qformer": {"dropout": 0.1}}  # dropout makes the RNG state matter
    full = tmp_path / "full"
    Trainer(_request(data, cache, full, overrides=drop, eval_every=5)).run()

    def kill_after_first_save(kind, payload):
        if kind == "saved" and payload["step"] == 3:
            raise _Interrupt

    part = tmp_path / "part"
    with pytest.raises(_Interrupt):
        Trainer(_request(data, cache, part, overrides=drop, eval_every=5), events=kill_after_first_save).run()
    assert [m["step"] for m in _lines(part / "metrics.jsonl")] == [1, 2, 3]
    req = _request(data, cache, part, eval_every=5)
    req.resume = True
    summary = Trainer(req).run()
    assert summary["steps_run"] == 4 and summary["step"] == 7

    a, b = _lines(full / "metrics.jsonl"), _lines(part / "metrics.jsonl")
    keys = ("step", "loss", "loss_vl", "loss_mv", "loss_ml", "lr", "epoch")
    assert [[m[k] for k in keys] for m in a] == [[m[k] for k in keys] for m in b]
    wa, wb = load_file(str(full / "model" / "adapter.safetensors")), load_file(str(part / "model" / "adapter.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert _lines(full / "eval.jsonl") == _lines(part / "eval.jsonl")


def test_only_trainable_parameters_change(data, cache, tmp_path):
    import torch

    from hawk_core.model import HawkConfig, HawkModel

    t = Trainer(_request(data, cache, tmp_path / "run", steps=3))
    t.run()
    fresh = HawkModel.build(HawkConfig.from_preset("tiny"))
    trained = dict(t.model.named_parameters())
    changed_trainable = 0
    for name, p in fresh.named_parameters():
        q = trained[name]
        if q.requires_grad:
            changed_trainable += int(not torch.equal(p, q))
        else:
            assert torch.equal(p, q), f"frozen parameter {name} changed"
    assert changed_trainable > 0


def test_nan_loss_stops_and_keeps_last_good_checkpoint(data, cache, tmp_path, monkeypatch):
    import torch

    from hawk_core.model import HawkModel

    real = HawkModel.forward
    calls = {"n": 0}

    def poisoned(self, *a, **k):
        out = real(self, *a, **k)
        calls["n"] += 1
        if calls["n"] > 4 and self.training:  # step 5 onwards (batch of 2, no accumulation)
            out.loss = out.loss * torch.tensor(float("nan"))
        return out

    monkeypatch.setattr(HawkModel, "forward", poisoned)
    out = tmp_path / "run"
    r = invoke(*_args(data, cache, out, "--steps", "8", "--save-every", "3"))
    assert r.exit_code == 1, r.output
    assert "loss became nan at step 5" in r.output and "step-00000003" in r.output and "Traceback" not in r.output
    assert json.loads((out / "latest.json").read_text())["step"] == 3
    assert [m["step"] for m in _lines(out / "metrics.jsonl")] == [1, 2, 3, 4]  # no NaN line
    assert not (out / "model").exists()


def test_ablate_motion_and_terms(data, cache, tmp_path):
    r = invoke(*_args(data, cache, tmp_path / "nm", "--steps", "2", "--ablate", "motion"))
    assert r.exit_code == 0, r.output
    for m in _lines(tmp_path / "nm" / "metrics.jsonl"):
        assert m["loss_mv"] == 0 and m["loss_ml"] == 0 and m["loss"] == pytest.approx(m["loss_vl"])
    r = invoke(*_args(data, cache, tmp_path / "nmv", "--steps", "2", "--ablate", "mv", "--ablate", "ml"))
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "nmv" / "run.json").read_text())["model"]["loss"]["ablate"] == ["ml", "mv"]
    r = invoke(*_args(data, cache, tmp_path / "bad", "--steps", "2", "--ablate", "colour"))
    assert r.exit_code == 2 and "unknown ablation 'colour'" in r.output


def test_stage1_captions_then_stage2_init(data, cache, tmp_path, fighting_video, dog_video, accident_video):
    caps = tmp_path / "webvid.jsonl"
    caps.write_text("".join(json.dumps({"video": str(v), "caption": c}) + "\n" for v, c in [
        (fighting_video, "Two men fight on a street."), (dog_video, "A dog rides a skateboard."),
        (accident_video, "A car hits a motorcycle at a junction.")]))
    r = invoke(*_args(caps, cache, tmp_path / "s1", "--steps", "2", "--stage", "1"))
    assert r.exit_code == 0, r.output
    # stage-1 caption data given to stage 2 is refused, naming the record
    r = invoke(*_args(caps, cache, tmp_path / "x", "--steps", "2"))
    assert r.exit_code == 2 and "record 1" in r.output and "--stage 1" in r.output
    args = [a for a in _args(data, cache, tmp_path / "s2", "--steps", "2", "--init", tmp_path / "s1" / "model") if a not in ("--preset", "tiny")]
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    run = json.loads((tmp_path / "s2" / "run.json").read_text())
    assert run["init"].endswith("model") and run["stage"] == 2


def test_bad_input(data, cache, tmp_path, fighting_video):
    # unknown config keys, in each place, are named
    for cfg, needle in [({"trian": {}}, "unknown config key 'trian'"), ({"train": {"lr_max": 1}}, "unknown train config key 'lr_max'"),
                        ({"model": {"video_qformer": {"layers": 3}}}, "video_qformer.layers")]:
        (tmp_path / "c.json").write_text(json.dumps(cfg))
        r = invoke(*_args(data, cache, tmp_path / "c", "--steps", "1", "--config", tmp_path / "c.json"))
        assert r.exit_code == 2 and needle in r.output, r.output
        assert "Traceback" not in r.output
    # missing videos are skipped with a count, or fail with --fail-missing
    recs = json.loads(data.read_text()) + [{"video": str(tmp_path / "gone.mp4"), "description": "nothing"}]
    (tmp_path / "m.json").write_text(json.dumps(recs))
    r = invoke(*_args(tmp_path / "m.json", cache, tmp_path / "m", "--steps", "1"))
    assert r.exit_code == 0 and "skipped 1 records whose video is missing" in r.output and "1 videos skipped" in r.output
    r = invoke(*_args(tmp_path / "m.json", cache, tmp_path / "m2", "--steps", "1", "--fail-missing"))
    assert r.exit_code == 2 and "missing videos" in r.output and "gone.mp4" in r.output
    # an unreadable video is skipped too
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    recs = json.loads(data.read_text()) + [{"video": str(tmp_path / "junk.mp4"), "description": "junk"}]
    (tmp_path / "j.json").write_text(json.dumps(recs))
    r = invoke(*_args(tmp_path / "j.json", cache, tmp_path / "j", "--steps", "1"))
    assert r.exit_code == 0 and "skipped 1 unreadable videos" in r.output, r.output
    r = invoke(*_args(tmp_path / "j.json", cache, tmp_path / "j2", "--steps", "1", "--fail-missing"))
    assert r.exit_code == 2 and "1 videos cannot be read" in r.output and "junk.mp4" in r.output
    (tmp_path / "y.json").write_text(json.dumps({"train": {"weight_decay": "heavy"}}))
    r = invoke(*_args(data, cache, tmp_path / "y", "--steps", "1", "--config", tmp_path / "y.json"))
    assert r.exit_code == 2 and "weight_decay must be a number, got 'heavy'" in r.output
    # run folders: no silent overwrite, no resume of nothing, resume keeps its config
    r = invoke(*_args(data, cache, tmp_path / "j", "--steps", "1"))
    assert r.exit_code == 2 and "already holds a run" in r.output
    r = invoke("train", "--data", data, "--out", tmp_path / "none", "--resume", "--cache-dir", cache)
    assert r.exit_code == 2 and "no run to resume" in r.output
    r = invoke("train", "--data", data, "--out", tmp_path / "j", "--resume", "--cache-dir", cache, "--lr", "0.5", "--steps", "2")
    assert r.exit_code == 2 and "--lr 0.5 differs" in r.output
    # a batch larger than the data
    r = invoke(*_args(data, cache, tmp_path / "big", "--steps", "1", "--batch-size", "64"))
    assert r.exit_code == 2 and "fewer than one global batch" in r.output
    r = invoke(*_args(tmp_path / "nope.json", cache, tmp_path / "n", "--steps", "1"))
    assert r.exit_code == 2 and "no such file" in r.output


def test_init_from_another_architecture_names_the_keys(data, cache, tmp_path):
    from hawk_core.model import HawkConfig, HawkModel

    other = HawkModel.build(HawkConfig.from_preset("tiny", overrides={"video_qformer": {"num_layers": 1}}))
    other.save_pretrained(tmp_path / "other")
    req = _request(data, cache, tmp_path / "run", steps=1)
    req.preset = None
    req.init = tmp_path / "other"
    req.model_overrides = {"video_qformer": {"num_layers": 2}}  # asks for another architecture than the checkpoint's
    with pytest.raises(CheckpointError, match="does not fit"):
        Trainer(req).run()


def test_init_then_lora_keeps_the_adapter_and_trains_lora(data, cache, tmp_path):
    """A later stage may turn on LoRA over an --init checkpoint without it: the checkpoint's
    adapter weights are taken, the new LoRA tensors start fresh (B = 0) and train."""
    import torch

    from hawk_core.model import HawkConfig, HawkModel

    base = HawkModel.build(HawkConfig.from_preset("tiny"))
    base.save_pretrained(tmp_path / "stage_a")
    req = _request(data, cache, tmp_path / "run", steps=2)
    req.preset = None
    req.init = tmp_path / "stage_a"
    req.model_overrides = {"llm": {"lora": {"enabled": True}}}
    Trainer(req).run()
    tuned = HawkModel.from_pretrained(tmp_path / "run" / "model")
    assert tuned.config.llm.lora.enabled
    after, before = tuned.adapter_tensors(), base.adapter_tensors()
    lora_b = [n for n in after if "lora_B" in n]
    assert lora_b and all(n not in before for n in lora_b)
    assert any(float(after[n].detach().abs().max()) > 0 for n in lora_b)  # LoRA trained away from its zero start
    shared = [n for n in before if n in after and before[n].is_floating_point()]
    assert shared and len(shared) == len(before)  # every adapter tensor of the checkpoint is in the new model
    assert any(not torch.equal(before[n], after[n]) for n in shared)


def test_yaml_config_and_grad_accumulation(data, cache, tmp_path):
    (tmp_path / "c.yaml").write_text("model:\n  loss:\n    t1: 0.5\ntrain:\n  grad_accum: 2\n  weight_decay: 0.0\n  min_lr_ratio: 0.5\n")
    r = invoke(*_args(data, cache, tmp_path / "run", "--steps", "2", "--batch-size", "1", "--config", tmp_path / "c.yaml"))
    assert r.exit_code == 0, r.output
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["train"]["grad_accum"] == 2 and run["train"]["weight_decay"] == 0.0 and run["model"]["loss"]["t1"] == 0.5
    m = _lines(tmp_path / "run" / "metrics.jsonl")
    assert len(m) == 2 and m[1]["loss"] == pytest.approx(m[1]["loss_vl"] + 0.5 * m[1]["loss_mv"] + 0.1 * m[1]["loss_ml"], rel=1e-5)
    (tmp_path / "file").write_text("x")
    r = invoke(*_args(data, cache, tmp_path / "file", "--steps", "1"))
    assert r.exit_code == 2 and "is a file" in r.output


def test_training_reduces_the_loss(data, cache, tmp_path):
    """Not a no-op: 30 steps pull the two branches together in the tight space (L_MV) and
    lower L_VL and the total. (The tiny preset's frozen LLM is random, with near-uniform
    output, so L_VL can only move a little; L_MV is trainable on both sides.)"""
    summary = Trainer(_request(data, cache, tmp_path / "run", steps=30, lr=1e-2, warmup=5, save_every=0)).run()
    m = _lines(tmp_path / "run" / "metrics.jsonl")

    def avg(key, part):
        return sum(x[key] for x in part) / len(part)

    assert avg("loss_mv", m[-5:]) < 0.1 * avg("loss_mv", m[:2])
    assert avg("loss_vl", m[-5:]) < avg("loss_vl", m[:2])
    assert avg("loss", m[-5:]) < avg("loss", m[:2]) - 0.1
    assert summary["eval"]["items"] == 3


def test_frozen_features_are_cached_across_runs(data, tmp_path):
    cache = tmp_path / "cache"

    def encoded(out, overrides=None) -> int:
        seen = []
        Trainer(_request(data, cache, tmp_path / out, steps=1, overrides=overrides),
                events=lambda kind, p: seen.append(p["total"]) if kind == "phase" and p["name"] == "features" else None).run()
        return seen[0]

    assert encoded("a") == 3  # three videos encoded once
    assert encoded("b") == 0  # the next run reads them from the cache
    assert encoded("c", {"seed": 1}) == 3  # other frozen weights (tiny's are random from the seed): recomputed
    assert encoded("d", {"loss": {"t1": 0.5}}) == 0  # a loss weight does not change the features
    assert len(list(cache.glob("*/*.safetensors"))) == 6


def test_lr_schedule():
    f = lr_lambda(warmup=10, total=110, min_ratio=0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(60) == pytest.approx(0.55) and f(110) == pytest.approx(0.1)
    assert f(500) == pytest.approx(0.1)


@pytest.mark.slow  # ~25 s on 2 cores: two processes each import torch + transformers
def test_ddp_two_processes_gloo(data, cache, tmp_path):
    """torchrun with two CPU processes (gloo): the data is sharded, rank 0 alone writes."""
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    port = free_port()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(port), "-m", "hawk_cli",
           *[str(a) for a in _args(data, cache, out, "--steps", "3", "--batch-size", "1", "--save-every", "2", "--eval-every", "2")], "--json"]
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = p.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the workers too
        p.communicate()
        pytest.fail("torchrun did not finish in 180 s")
    assert p.returncode == 0, stderr[-3000:]
    summary = json.loads(stdout[stdout.index("{"):])
    assert summary["step"] == 3 and summary["eval"]["items"] == 3
    assert [m["step"] for m in _lines(out / "metrics.jsonl")] == [1, 2, 3]  # one line per step, not per rank
    assert [e["step"] for e in _lines(out / "eval.jsonl")] == [2, 3]
    assert json.loads((out / "run.json").read_text())["world_size"] == 2
    assert json.loads((out / "latest.json").read_text())["step"] == 3


def test_stopped_run_loads_with_model_run(data, cache, tmp_path, accident_video):
    """A real `hawk train` run killed right after its first checkpoint (RUN/checkpoints/step-*,
    RUN/latest.json, no RUN/model) describes with --model RUN: its latest checkpoint is used."""
    def kill_after_first_save(kind, payload):
        if kind == "saved":
            raise _Interrupt

    run = tmp_path / "stopped"
    with pytest.raises(_Interrupt):
        Trainer(_request(data, cache, run, steps=4, save_every=2), events=kill_after_first_save).run()
    assert (run / "latest.json").is_file() and not (run / "model").exists()
    r = invoke("describe", accident_video, "--model", run, "--max-new-tokens", "2", "--frames", "4", "--json")
    assert r.exit_code == 0, r.output
    source = Path(json.loads(r.stdout)["model"]["source"])
    assert source == run / "checkpoints" / "step-00000002"
    # a run whose first checkpoint is not written yet says so
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "run.json").write_text("{}")
    r = invoke("describe", accident_video, "--model", empty)
    assert r.exit_code == 2 and "no checkpoint yet" in r.output


def test_run_folder_resolves_to_latest_checkpoint_then_final_model(data, cache, tmp_path):
    """Checkpoint discovery on real `hawk train` run folders (RunLayout, the writer's own
    layout): a stopped run with two checkpoints resolves to the newer one, the same run once
    finished to RUN/model; a step folder is a plain checkpoint; nothing else is searched."""
    import shutil

    from hawk_core.model.checkpoints import resolve_model

    def kill_after_second_save(kind, payload):
        if kind == "saved" and payload["step"] == 4:
            raise _Interrupt

    run = tmp_path / "run"
    with pytest.raises(_Interrupt):
        Trainer(_request(data, cache, run, steps=6, save_every=2), events=kill_after_second_save).run()
    steps = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert steps == ["step-00000002", "step-00000004"] and not (run / "model").exists()
    assert Path(resolve_model(run).source) == run / "checkpoints" / "step-00000004"
    older = run / "checkpoints" / "step-00000002"
    assert Path(resolve_model(older).source) == older  # a checkpoint folder is loaded as it is
    with pytest.raises(CheckpointError, match="pass the run folder"):
        resolve_model(run / "checkpoints")
    req = _request(data, cache, run, steps=6, save_every=2)
    req.resume = True
    Trainer(req).run()
    assert Path(resolve_model(run).source) == run / "model"
    # checkpoints in child folders of some other folder (final/, best/, ...) are not a run: refused
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    shutil.copytree(run / "model", legacy / "final")
    with pytest.raises(CheckpointError, match="holds no checkpoint .* and is not a `hawk train` run folder"):
        resolve_model(legacy)


def test_reading_a_config_does_not_import_opencv():
    import subprocess
    import sys

    code = ("import sys; from hawk_core.model.config import HawkConfig; HawkConfig.from_preset('tiny'); "
            "from hawk_core.training.config import TrainConfig; TrainConfig(); "
            "sys.exit(1 if 'cv2' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_resume_accepts_the_original_command_line(data, cache, tmp_path):
    """A scheduler's restart: the run's own command line plus --resume (issue 16)."""
    out = tmp_path / "run"
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"model": {"video_qformer": {"dropout": 0.1}}}))
    original = _args(data, cache, out, "--save-every", "1", "--config", cfg, "--ablate", "ml")
    r = invoke(*original, "--steps", "2")
    assert r.exit_code == 0, r.output
    r = invoke(*original, "--steps", "2", "--resume")  # nothing left to do, but accepted
    assert r.exit_code == 0, r.output
    r = invoke(*original, "--steps", "3", "--resume")  # continues
    assert r.exit_code == 0, r.output
    assert [m["step"] for m in _lines(out / "metrics.jsonl")] == [1, 2, 3]
    # only what conflicts is refused, each field named with both values
    r = invoke(*[a if a != "tiny" else "embedded" for a in original], "--steps", "3", "--resume", "--lr", "5e-4")
    assert r.exit_code == 2, r.output
    assert "--lr 0.0005 differs from the run's saved 0.001" in r.output
    assert "--preset embedded differs from the run's saved tiny" in r.output
    assert "--batch-size" not in r.output and "model." not in r.output
    cfg.write_text(json.dumps({"model": {"video_qformer": {"dropout": 0.2}}}))
    r = invoke(*original, "--steps", "3", "--resume")
    assert r.exit_code == 2 and "model.video_qformer.dropout 0.2 (config) differs from the run's saved 0.1" in r.output


_SKEWED_RANK = r"""
import os, sys, time
from pathlib import Path
import torch
import hawk_core.training.samples as samples
from hawk_core.data.cache import FeatureCache
from hawk_core.training.distributed import init_distributed

class Clip:
    frame_times = [0.0, 0.5]

class Model:
    use_motion = False
    config = type("C", (), {"data": None})()
    def eval(self):
        return self

def slow_sample(v, data_cfg, with_motion=True):
    time.sleep(0.05)
    return Clip(), None

samples.sample_for_model = slow_sample
samples.encode_clips = lambda model, pairs, amp=None: (torch.zeros(1, 2, 3, 4), None)
d = init_distributed("cpu")
if d.rank == 1:
    time.sleep(1.5)  # this rank arrives late, as one waiting for the LLM's conversion does
videos = [Path(p) for p in sys.argv[2:]]
cache = FeatureCache(Path(sys.argv[1]), {"test": 1})
samples.prepare_features(Model(), cache, videos, d, None, lambda *a, **k: None)
missing = [v for v in videos if not cache.has(v)]
assert not missing, f"rank {d.rank}: {len(missing)} of {len(videos)} videos have no features"
"""


def test_feature_extraction_splits_the_same_list_when_a_rank_starts_late(tmp_path):
    """Two torchrun-style processes, the second late: every video is extracted (the ranks
    split one agreed list of uncached videos; before, the late rank's list was already
    shorter and half the videos were left to nobody, so training silently saw half the data)."""
    from tests.helpers import subprocess_env

    videos = []
    for i in range(40):
        v = tmp_path / f"v{i:02d}.mp4"
        v.write_bytes(b"x" * (i + 1))
        videos.append(str(v))
    port = str(free_port())
    procs = []
    for rank in (0, 1):
        env = subprocess_env(WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        procs.append(subprocess.Popen([sys.executable, "-c", _SKEWED_RANK, str(tmp_path / "cache"), *videos], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
