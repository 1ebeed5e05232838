"""Checkpoint discovery: what ``--model`` names and which folder to load.

:func:`resolve_model` turns ``--model`` into something :meth:`HawkModel.from_pretrained`
loads: a checkpoint folder written by `hawk train` (``config.json`` + ``adapter.safetensors``),
a run folder (its final model, else its latest checkpoint: see
:class:`~hawk_core.model.run_layout.RunLayout`, the one owner of that layout; no other folder
layout is searched) or a preset name. With no ``--model`` the ``embedded`` preset is used,
with the project's trained adapter when the package ships one under
``hawk_core/assets/embedded/`` (else its adapter is untrained: the answers are not
meaningful, and :attr:`ModelSpec.note` says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, HawkError
from .presets import PRESETS
from .run_layout import CHECKPOINT_FILES, RunLayout, is_checkpoint_dir

DEFAULT_PRESET = "embedded"
#: Where the package ships the trained adapter of the embedded preset (a `hawk train` checkpoint).
DEFAULT_ADAPTER_DIR = Path(__file__).resolve().parents[1] / "assets" / "embedded"


@dataclass(frozen=True)
class ModelSpec:
    """What ``--model`` resolved to."""

    source: str  # a checkpoint folder or a preset name, as given to HawkModel.from_pretrained
    kind: str  # "checkpoint" | "preset"
    label: str  # short name for messages and --json
    trained: bool  # False for a bare preset: its adapter (Q-Formers, projections) is random
    note: str | None = None  # a one-line caveat to show the user

    def to_dict(self) -> dict:
        return {"source": self.source, "kind": self.kind, "label": self.label, "trained": self.trained}


def find_checkpoint(path: Path) -> Path:
    """``path`` itself when it is a checkpoint folder, else the checkpoint of the `hawk train`
    run folder ``path`` (:meth:`RunLayout.best_checkpoint`: its final model, else its latest
    checkpoint, so a stopped run loads). Nothing else is searched. Raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no such checkpoint folder: {path}")
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a checkpoint folder (expected a folder with {' + '.join(CHECKPOINT_FILES)})")
    if is_checkpoint_dir(path):
        return path
    run = RunLayout(path)
    found = run.best_checkpoint()
    if found is not None:
        return found
    present = [f for f in CHECKPOINT_FILES if (path / f).exists()]
    if present:
        missing = [f for f in CHECKPOINT_FILES if f not in present]
        raise CheckpointError(f"{path}: incomplete checkpoint, missing {', '.join(missing)}")
    if run.is_run():
        raise CheckpointError(f"{path}: a `hawk train` run folder with no checkpoint yet (none under {run.checkpoints.name}/, no {run.model.name}/)")
    parent = RunLayout(path.parent)
    if path == parent.checkpoints and parent.is_run():
        raise CheckpointError(f"{path}: the checkpoints of a run; pass the run folder ({path.parent}) or one step-* folder")
    raise CheckpointError(f"{path}: holds no checkpoint ({' + '.join(CHECKPOINT_FILES)}) and is not a `hawk train` run folder")


def resolve_model(model: str | Path | None = None) -> ModelSpec:
    """``--model`` -> :class:`ModelSpec`. ``None`` is the default (see module doc)."""
    if model is None or str(model).strip() == "":
        if is_checkpoint_dir(DEFAULT_ADAPTER_DIR):
            return ModelSpec(str(DEFAULT_ADAPTER_DIR), "checkpoint", "embedded (trained adapter)", True)
        return ModelSpec(
            DEFAULT_PRESET,
            "preset",
            "embedded (untrained adapter)",
            False,
            "the embedded model's adapter is not trained yet: descriptions are not meaningful "
            "(pass --model with a `hawk train` checkpoint)",
        )
    text = str(model)
    path = Path(text).expanduser()
    if text in PRESETS and not path.exists():
        note = None if text == "paper" else f"preset {text!r} has an untrained adapter: answers are not meaningful"
        return ModelSpec(text, "preset", text, False, note)
    if path.exists() or "/" in text or text.startswith("."):
        if not path.exists():
            raise CheckpointError(f"--model {text!r}: no such checkpoint or run folder (presets: {', '.join(PRESETS)})")
        ckpt = find_checkpoint(path)
        return ModelSpec(str(ckpt), "checkpoint", str(path), True)
    raise CheckpointError(f"--model {text!r} is neither a checkpoint folder nor a preset ({', '.join(PRESETS)})")


def peek_config(spec: ModelSpec) -> Any:
    """The config a spec will load, without loading weights (None if unreadable: loading
    itself then reports the problem)."""
    from .config import HawkConfig

    try:
        if spec.kind == "preset":
            return HawkConfig.from_preset(spec.source)
        return HawkConfig.load(Path(spec.source))
    except HawkError:
        return None


def needs_llm_conversion(config) -> bool:
    """True when loading ``config`` will first convert the embedded GGUF LLM (first run)."""
    from ..embedded import smollm2_is_cached

    llm = config.llm
    return llm.kind == "smollm2" and not llm.source and not smollm2_is_cached()
