"""The install a user does: build the wheel, install it into a folder outside the repository
and run `hawk describe` on the sample from another folder (the prompts must ship inside the
package; HAWK_PROMPTS still overrides them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A target folder holding the wheel's files (dependencies come from this environment)."""
    base = tmp_path_factory.mktemp("wheel")
    wheels = base / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)],
                   check=True, capture_output=True, cwd=base)
    wheel = next(wheels.glob("hawk_vlm-*.whl"))
    target = base / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, cwd=base)
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # pip's in-tree build folder
    return target


def _hawk(target: Path, cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "HAWK_PROMPTS"}
    full.update(PYTHONPATH=str(target), **(env or {}))
    return subprocess.run([sys.executable, "-m", "hawk_cli", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=600)


def test_wheel_ships_prompts_and_describes(installed, tmp_path):
    where = subprocess.run([sys.executable, "-c", "import hawk_core.language.prompts as p; print(p.__file__); print(p.prompts_dir())"],
                           cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True, text=True, check=True)
    module, folder = where.stdout.split()
    assert Path(module).is_relative_to(installed) and Path(folder) == installed / "hawk_core" / "prompts_data"
    assert (Path(folder) / "annotate" / "system.txt").is_file() and (Path(folder) / "judge" / "qa.txt").is_file()
    sample = ROOT / "examples" / "sample.mp4"
    r = _hawk(installed, tmp_path, "describe", str(sample), "--model", "tiny", "--max-new-tokens", "3", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["question"]
    # HAWK_PROMPTS still overrides the shipped files
    custom = tmp_path / "prompts"
    shutil.copytree(Path(folder), custom)
    (custom / "describe_prompts.txt").write_text("Say what happens here.\n", encoding="utf-8")
    r = _hawk(installed, tmp_path, "describe", str(sample), "--model", "tiny", "--max-new-tokens", "3", "--json",
              env={"HAWK_PROMPTS": str(custom)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["question"] == "Say what happens here."


@pytest.mark.slow
def test_wheel_describes_with_the_default_model(installed, tmp_path):
    r = _hawk(installed, tmp_path, "describe", str(ROOT / "examples" / "sample.mp4"), "--max-new-tokens", "8")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
