"""The layout of a `hawk train` run folder, owned here for its writer (the trainer) and its
readers (checkpoint discovery, resume)::

    RUN/run.json                      model config, train config, data, stage, world size
    RUN/metrics.jsonl                 one line per optimiser step: step, loss, loss_vl, loss_mv, loss_ml, lr, ...
    RUN/eval.jsonl                    one line per evaluation on the held-out split
    RUN/checkpoints/step-00000100/    config.json + adapter.safetensors (trainable weights only)
                                      + trainer_state.pt (optimiser, scheduler, grad scaler, RNG,
                                      data order) + train_config.json
    RUN/latest.json                   the newest complete checkpoint (written last, atomically)
    RUN/model/                        the final trainable weights + config, written at the end

Every checkpoint folder is written to a temporary sibling and renamed, and ``latest.json`` is
replaced only after it, so a kill at any moment leaves the previous checkpoint usable.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..errors import CheckpointError
from ..io import write_json

CHECKPOINT_FILES = ("config.json", "adapter.safetensors")
STATE_FILE = "trainer_state.pt"


def is_checkpoint_dir(path: Path) -> bool:
    """A folder :meth:`HawkModel.from_pretrained` can load (config + trainable weights)."""
    path = Path(path)
    return path.is_dir() and all((path / f).is_file() for f in CHECKPOINT_FILES)


class RunLayout:
    """The paths of one run folder, and the few operations on them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def eval_log(self) -> Path:
        return self.root / "eval.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def latest_json(self) -> Path:
        return self.root / "latest.json"

    @property
    def model(self) -> Path:
        """The final weights (absent while the run is going, or after a kill)."""
        return self.root / "model"

    def is_run(self) -> bool:
        return self.run_json.is_file() or self.latest_json.is_file()

    def checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:08d}"

    def step_dirs(self) -> list[Path]:
        """Checkpoint folders, oldest first (names are zero-padded steps)."""
        if not self.checkpoints.is_dir():
            return []
        return sorted(p for p in self.checkpoints.glob("step-*") if p.is_dir() and not p.name.startswith("."))

    def mark_latest(self, step: int) -> None:
        """Point ``latest.json`` at the checkpoint of ``step`` (after it is complete)."""
        path = self.checkpoint(step)
        write_json(self.latest_json, {"step": step, "path": str(path.relative_to(self.root))})

    def latest(self) -> Path | None:
        """The checkpoint ``latest.json`` names (None when there is none yet)."""
        if not self.latest_json.is_file():
            return None
        try:
            rel = json.loads(self.latest_json.read_text(encoding="utf-8"))["path"]
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
            raise CheckpointError(f"{self.latest_json}: unreadable; delete it to fall back to the newest checkpoint") from None
        ckpt = self.root / rel
        if not ckpt.is_dir():
            raise CheckpointError(f"{self.latest_json} points to {ckpt}, which does not exist")
        return ckpt

    def prune(self, keep: int) -> None:
        """Delete all but the newest ``keep`` checkpoint folders."""
        for old in self.step_dirs()[:-keep]:
            shutil.rmtree(old, ignore_errors=True)

    def best_checkpoint(self) -> Path | None:
        """What inference loads from a run: the final model, else the latest checkpoint, else the
        newest complete step folder (None when the run holds no checkpoint)."""
        if is_checkpoint_dir(self.model):
            return self.model
        latest = self.latest() if self.latest_json.is_file() else None
        if latest is not None and is_checkpoint_dir(latest):
            return latest
        done = [p for p in self.step_dirs() if is_checkpoint_dir(p)]
        return done[-1] if done else None
