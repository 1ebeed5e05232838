"""hawk_core.model.run_layout and hawk_core.training.resume on a run folder written by the real
writer (the trainer, tiny preset, 4 steps, a checkpoint every step, 3 kept), copied and then
damaged the ways a kill or a user can damage one."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from hawk_core.errors import CheckpointError, ConfigError, InputError
from hawk_core.model.run_layout import RunLayout, is_checkpoint_dir
from hawk_core.training.config import RESUME_MUTABLE, TrainConfig
from hawk_core.training.resume import rebuild_with, resolve_start, resumed_train_config
from hawk_core.training.trainer import Trainer, TrainRequest
from tests.hawk_dataset import write_dataset

BASE = {"steps": 4, "batch_size": 2, "lr": 1e-3, "warmup": 2, "eval_every": 0, "save_every": 1, "keep_checkpoints": 3, "device": "cpu"}


@pytest.fixture(scope="module")
def data(tmp_path_factory, fighting_video, hivau_jsonl) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data") / "hawk.json", fighting_video.parent, hivau_jsonl)


def _request(data: Path, out: Path, cache: Path, **kw) -> TrainRequest:
    return TrainRequest(data=data, out=out, train=TrainConfig(**{**BASE, "cache_dir": str(cache), **kw}), preset="tiny")


@pytest.fixture(scope="module")
def written(tmp_path_factory, data) -> Path:
    root = tmp_path_factory.mktemp("runs")
    Trainer(_request(data, root / "run", root / "cache")).run()
    return root / "run"


@pytest.fixture
def run(written, tmp_path) -> RunLayout:
    copy = tmp_path / "run"
    shutil.copytree(written, copy)
    return RunLayout(copy)


def _steps(layout: RunLayout) -> list[str]:
    return [p.name for p in layout.step_dirs()]


# ---- the layout ---------------------------------------------------------------------------


def test_the_writer_and_the_layout_agree(run):
    root = run.root
    assert (run.run_json, run.metrics, run.eval_log, run.checkpoints, run.latest_json, run.model) == (
        root / "run.json", root / "metrics.jsonl", root / "eval.jsonl", root / "checkpoints", root / "latest.json", root / "model")
    assert run.run_json.is_file() and run.metrics.is_file() and run.is_run()
    assert run.checkpoint(4) == root / "checkpoints" / "step-00000004"
    assert _steps(run) == ["step-00000002", "step-00000003", "step-00000004"]  # 3 kept, oldest first
    assert run.latest() == run.checkpoint(4)
    assert is_checkpoint_dir(run.model) and is_checkpoint_dir(run.checkpoint(2))
    assert json.loads(run.latest_json.read_text()) == {"step": 4, "path": "checkpoints/step-00000004"}


def test_is_run_needs_run_json_or_latest(run, tmp_path):
    assert not RunLayout(tmp_path / "none").is_run() and RunLayout(tmp_path / "none").step_dirs() == []
    run.run_json.unlink()
    assert run.is_run()  # latest.json alone still marks a run
    run.latest_json.unlink()
    assert not run.is_run()


def test_step_dirs_skip_files_and_temporary_folders(run):
    (run.checkpoints / "step-00000010.txt").write_text("not a folder")
    (run.checkpoints / ".step-00000005.abc.tmp").mkdir()  # a checkpoint being written
    (run.checkpoints / "step-00000010").mkdir()
    assert _steps(run) == ["step-00000002", "step-00000003", "step-00000004", "step-00000010"]


def test_mark_latest_and_prune(run):
    run.mark_latest(3)
    assert json.loads(run.latest_json.read_text()) == {"step": 3, "path": "checkpoints/step-00000003"}
    assert run.latest() == run.checkpoint(3)
    run.prune(2)
    assert _steps(run) == ["step-00000003", "step-00000004"]
    run.prune(5)
    assert _steps(run) == ["step-00000003", "step-00000004"]
    run.prune(1)
    assert _steps(run) == ["step-00000004"]


@pytest.mark.parametrize("text", ["{not json", '{"step": 4}', "[1]", b"\xff\xfe"])
def test_unreadable_latest_is_a_checkpoint_error(run, text):
    if isinstance(text, bytes):
        run.latest_json.write_bytes(text)
    else:
        run.latest_json.write_text(text)
    with pytest.raises(CheckpointError, match=r"latest\.json: unreadable; delete it to fall back to the newest checkpoint$"):
        run.latest()


def test_latest_pointing_to_a_deleted_checkpoint(run):
    shutil.rmtree(run.checkpoint(4))
    with pytest.raises(CheckpointError, match=r"latest\.json points to .*step-00000004, which does not exist"):
        run.latest()
    run.latest_json.unlink()
    assert run.latest() is None


def test_best_checkpoint_prefers_final_then_latest_then_newest_complete(run):
    assert run.best_checkpoint() == run.model
    shutil.rmtree(run.model)  # a run stopped before its end
    assert run.best_checkpoint() == run.checkpoint(4)
    run.mark_latest(2)
    assert run.best_checkpoint() == run.checkpoint(2)  # latest.json rules, not the newest folder
    (run.checkpoint(2) / "adapter.safetensors").unlink()  # incomplete: fall back to the newest complete
    assert run.best_checkpoint() == run.checkpoint(4)
    run.latest_json.unlink()
    (run.checkpoint(4) / "config.json").unlink()
    assert run.best_checkpoint() == run.checkpoint(3)
    for p in run.step_dirs():
        shutil.rmtree(p)
    assert run.best_checkpoint() is None
    assert not is_checkpoint_dir(run.metrics)  # a file


# ---- starting and resuming ------------------------------------------------------------------


def _req(run: RunLayout, **kw) -> TrainRequest:
    base = dict(data=Path("unused.json"), out=run.root, train=TrainConfig(**{**BASE, "cache_dir": "/tmp/c"}), preset="tiny")
    return TrainRequest(**{**base, **kw})


def test_resume_takes_the_saved_configs_and_the_latest_checkpoint(run):
    saved = json.loads(run.run_json.read_text())
    req = _req(run, resume=True, preset=None)
    start = resolve_start(run, req, frozenset())
    assert start.checkpoint == run.checkpoint(4) and start.init_from is None
    assert start.model_config.to_dict() == saved["model"]
    given = req.train.to_dict()
    assert start.train_config.to_dict() == {**saved["train"], **{k: given[k] for k in RESUME_MUTABLE}}
    assert start.train_config.cache_dir == "/tmp/c" != saved["train"]["cache_dir"]
    # a run whose first checkpoint was never written, started from --init, starts from the init weights again
    saved["init"] = "/models/stage1"
    run.run_json.write_text(json.dumps(saved))
    start = resolve_start(run, _req(run, resume=True), frozenset())
    assert start.checkpoint == run.checkpoint(4) and start.init_from is None  # its own checkpoint wins
    run.latest_json.unlink()
    start = resolve_start(run, _req(run, resume=True), frozenset())
    assert start.checkpoint is None and start.init_from == Path("/models/stage1")


def test_start_errors_name_the_folder(run, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match=r"--out .*file is a file; give a folder for the run"):
        resolve_start(RunLayout(tmp_path / "file"), _req(run), frozenset())
    with pytest.raises(InputError, match=r"holds no run to resume \(no run.json\); drop --resume to start one"):
        resolve_start(RunLayout(tmp_path / "empty"), _req(run, resume=True), frozenset())
    with pytest.raises(InputError, match="already holds a run; pass --resume to continue it or choose another --out"):
        resolve_start(run, _req(run), frozenset())
    with pytest.raises(CheckpointError, match=r"--init .*metrics\.jsonl: not a checkpoint folder \(no config.json\)"):
        resolve_start(RunLayout(tmp_path / "new"), _req(run, init=run.metrics), frozenset())


def test_new_runs_from_a_preset_or_an_init_checkpoint(run, tmp_path):
    fresh = RunLayout(tmp_path / "new")
    start = resolve_start(fresh, _req(run, model_overrides={"loss": {"t1": 0.5}}), frozenset())
    assert start.model_config.preset == "tiny" and start.model_config.loss.t1 == 0.5
    assert start.checkpoint is None and start.init_from is None and start.train_config is not None
    start = resolve_start(fresh, _req(run, preset=None), frozenset())
    assert start.model_config.preset == "embedded"  # the default
    start = resolve_start(fresh, _req(run, ablate=("ml",)), frozenset())
    assert start.model_config.loss.ablate == ("ml",)
    req = _req(run, preset=None, init=run.model, ablate=("mv",), model_overrides={"loss": {"t2": 0.3}})
    start = resolve_start(fresh, req, frozenset())
    assert start.init_from == run.model and start.checkpoint is None and start.train_config is req.train  # --init: the request's train config
    assert start.model_config.preset == "tiny" and start.model_config.loss.ablate == ("mv",) and start.model_config.loss.t2 == 0.3


def test_a_resumed_run_keeps_its_config(run):
    saved = json.loads(run.run_json.read_text())
    req = _req(run, train=replace(TrainConfig(**{**BASE, "cache_dir": "/tmp/c"}), lr=0.5, steps=9))
    with pytest.raises(ConfigError, match=r"^--lr 0.5 differs from the run's saved 0.001; a resumed run keeps its config"):
        resumed_train_config(req, saved, frozenset({"lr"}))
    bs = _req(run, train=replace(TrainConfig(**{**BASE, "cache_dir": "/tmp/c"}), batch_size=4))
    with pytest.raises(ConfigError, match=r"^--batch-size 4 differs from the run's saved 2; a resumed run keeps its config"):
        resumed_train_config(bs, saved, frozenset({"steps", "batch_size"}))
    both = _req(run, train=replace(TrainConfig(**{**BASE, "cache_dir": "/tmp/c"}), lr=0.5, batch_size=4))
    with pytest.raises(ConfigError) as e:
        resumed_train_config(both, saved, frozenset({"lr", "batch_size"}))
    assert str(e.value) == ("--batch-size 4 differs from the run's saved 2; --lr 0.5 differs from the run's saved 0.001; "
                            "a resumed run keeps its config (drop or fix these, or start a new --out)")  # all of them, at once
    cfg = resumed_train_config(req, saved, frozenset({"steps"}))  # lr not given: the saved one
    assert cfg.lr == 1e-3 and cfg.steps == 9
    cfg = resumed_train_config(req, saved, frozenset())  # a library caller: the mutable ones may change
    assert cfg.lr == 1e-3 and cfg.steps == 9 and cfg.cache_dir == "/tmp/c"
    with pytest.raises(ConfigError, match=r"--ablate mv differs from the run's saved \(none\)"):
        resumed_train_config(_req(run, ablate=("mv",)), saved, frozenset())
    saved["model"]["loss"]["ablate"] = ["ml", "mv"]
    assert resumed_train_config(_req(run, ablate=("mv", "ml", "mv")), saved, frozenset()).lr == 1e-3  # same set


def test_rebuild_with_copies_the_trainable_weights_or_names_the_mismatch(tmp_path):
    import torch

    from hawk_core.model import HawkConfig, HawkModel

    cfg = HawkConfig.from_preset("tiny")
    src = HawkModel.build(cfg)
    with torch.no_grad():
        for p in src.parameters():
            if p.requires_grad:
                p.add_(1.0)
    new = rebuild_with(src, cfg.with_overrides(ablate=["mv"]), "cpu", torch.float32, tmp_path)
    assert new is not src
    trainable = {n: p for n, p in src.named_parameters() if p.requires_grad}
    copied = {n: p for n, p in new.named_parameters() if p.requires_grad}
    assert copied.keys() == trainable.keys() and all(torch.equal(copied[n], trainable[n]) for n in copied)
    other = cfg.with_overrides({"video_qformer": {"num_layers": 1}})
    extra = sorted(set(trainable) - {n for n, p in HawkModel.build(other).named_parameters() if p.requires_grad})
    assert len(extra) > 3
    with pytest.raises(CheckpointError) as e:
        rebuild_with(src, other, "cpu", torch.float32, tmp_path)
    assert str(e.value) == f"--init {tmp_path}: checkpoint does not fit the configured model (unexpected {', '.join(extra[:3])})"
    half = rebuild_with(src, cfg, "cpu", torch.bfloat16, tmp_path)
    frozen = [p for p in half.parameters() if not p.requires_grad]
    assert frozen and all(p.dtype == torch.bfloat16 for p in frozen)  # the frozen backbones in the asked dtype
    smaller = HawkModel.build(other)
    with pytest.raises(CheckpointError, match=r"checkpoint does not fit the configured model \(missing .*layers\.1"):
        rebuild_with(smaller, cfg, "cpu", torch.float32, tmp_path)  # the configured model has more
    wider = cfg.with_overrides({"projection": {"tight_dim": 8}})
    with pytest.raises(CheckpointError, match=r"shape mismatch .*to_tight"):
        rebuild_with(src, wider, "cpu", torch.float32, tmp_path)
    with pytest.raises(CheckpointError, match=r"does not fit the configured model \(missing [^;]+; shape mismatch [^;]*to_tight[^;]*\)$"):
        rebuild_with(smaller, wider, "cpu", torch.float32, tmp_path)  # every kind of misfit, named together


def _saved(**top) -> dict:
    """A run.json as the trainer writes it (train config, model config, preset, init)."""
    from hawk_core.model import HawkConfig

    model = HawkConfig.from_preset("tiny").with_overrides({"video_qformer": {"dropout": 0.1}}, ablate=["ml"]).to_dict()
    return {"train": TrainConfig(**{**BASE, "cache_dir": "/runs/cache"}).to_dict(), "model": model, "preset": "tiny", "init": None, **top}


def test_resume_conflicts_name_each_contradiction_with_both_values(tmp_path):
    from hawk_core.training.resume import resume_conflicts

    saved = _saved()
    train = replace(TrainConfig(**{**BASE, "cache_dir": "/tmp/c"}), lr=0.5, batch_size=4, seed=7, steps=9, device="cuda")
    req = TrainRequest(data=Path("d.json"), out=tmp_path, train=train, preset="embedded", init=tmp_path / "stage1",
                       model_overrides={"video_qformer": {"dropout": 0.2, "num_layers": 2}, "loss": {"t1": 0.5}, "llm": {"lora": {"rank": 3}},
                                        "profile": "fast"},
                       ablate=())
    explicit = frozenset({"lr", "batch_size", "steps", "device", "cache_dir"})  # seed differs but was not given
    tiny = saved["model"]
    assert resume_conflicts(req, saved, explicit) == [
        "--batch-size 4 differs from the run's saved 2",
        "--lr 0.5 differs from the run's saved 0.001",
        "--preset embedded differs from the run's saved tiny",
        f"--init {tmp_path / 'stage1'} differs from the run's saved None",
        "model.video_qformer.dropout 0.2 (config) differs from the run's saved 0.1",
        f"model.loss.t1 0.5 (config) differs from the run's saved {tiny['loss']['t1']}",
        "model.llm.lora.rank 3 (config) differs from the run's saved None",  # not in the saved config
        "--profile fast differs from the run's saved paper",
        "--ablate (none) differs from the run's saved ml",
    ]
    assert tiny["video_qformer"]["num_layers"] == 2 and tiny["loss"]["t1"] != 0.5 and tiny["profile"] == "paper"
    # the same values again: no conflict; the mutable ones (steps, device, cache_dir) may change
    same = TrainRequest(data=Path("d.json"), out=tmp_path, train=replace(TrainConfig(**{**BASE, "cache_dir": "/tmp/c"}), steps=9, device="cuda"),
                        preset="tiny", model_overrides={"video_qformer": {"dropout": 0.1}, "profile": "paper", "preset": "tiny"}, ablate=("ml", "ml"))
    assert resume_conflicts(same, saved, explicit | {"seed", "stage"}) == []
    assert resume_conflicts(replace(same, preset=None, model_overrides=None, ablate=None), saved, explicit) == []


def test_resume_conflicts_read_the_preset_and_init_the_way_the_run_saved_them(tmp_path, monkeypatch):
    from hawk_core.training.resume import resume_conflicts

    monkeypatch.chdir(tmp_path)
    (tmp_path / "stage1").mkdir()
    # a run started from --init saved no top-level preset: the model config's preset is the run's
    saved = _saved(preset=None, init=str(tmp_path / "stage1"))
    base = TrainRequest(data=Path("d.json"), out=tmp_path, train=TrainConfig(**{**BASE, "cache_dir": "/tmp/c"}))
    assert resume_conflicts(replace(base, preset="tiny", init=Path("stage1")), saved, frozenset()) == []  # relative, same folder
    assert resume_conflicts(replace(base, init=Path("./stage1/../stage1")), saved, frozenset()) == []
    assert resume_conflicts(replace(base, preset="embedded", model_overrides={"preset": "base"}), saved, frozenset()) == [
        "--preset embedded differs from the run's saved tiny", "model.preset base (config) differs from the run's saved tiny"]
    (tmp_path / "other").mkdir()
    assert resume_conflicts(replace(base, init=Path("other")), saved, frozenset()) == [f"--init other differs from the run's saved {tmp_path / 'stage1'}"]
    # a top-level preset, where saved, rules over the model config's
    saved = _saved(preset="embedded")
    assert resume_conflicts(replace(base, preset="embedded", model_overrides={"preset": "embedded"}), saved, frozenset()) == []
    assert resume_conflicts(replace(base, ablate=("mv",)), saved, frozenset()) == ["--ablate mv differs from the run's saved ml"]
    saved["model"]["loss"]["ablate"] = []
    assert resume_conflicts(replace(base, ablate=("mv", "ml", "mv")), saved, frozenset()) == ["--ablate ml,mv differs from the run's saved (none)"]
    del saved["model"]["loss"]
    assert resume_conflicts(replace(base, ablate=()), saved, frozenset()) == []
