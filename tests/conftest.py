"""Shared fixtures: the real clips and texts in ../shared/data (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HAWK_SHARED_DATA", ROOT.parent / "shared" / "data"))
VIDEOS = SHARED / "videos"
TEXT = SHARED / "text"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found: {path} (set HAWK_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def fighting_video() -> Path:
    return _need(VIDEOS / "fighting_ucf033.mp4")


@pytest.fixture(scope="session")
def accident_video() -> Path:
    return _need(VIDEOS / "road_accident_ucf133.mp4")


@pytest.fixture(scope="session")
def dog_video() -> Path:
    return _need(VIDEOS / "skateboarding_dog.mp4")


@pytest.fixture(scope="session")
def hivau_jsonl() -> Path:
    return _need(TEXT / "hivau70k_test_instructions.jsonl")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)
