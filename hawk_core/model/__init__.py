"""The HAWK model: config, backbones, the dual-branch model and its losses.

Import the submodules (they pull in torch): ``from hawk_core.model.hawk import HawkModel``,
``from hawk_core.model.config import HawkConfig``. The names below are re-exported lazily.
"""

from __future__ import annotations

_EXPORTS = {
    "HawkConfig": "config",
    "HawkModel": "hawk",
    "HawkOutput": "hawk",
    "TextSample": "text",
    "TextBatch": "text",
    "lm_loss": "losses",
    "mv_loss": "losses",
    "ml_loss": "losses",
    "total_loss": "losses",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(name)
