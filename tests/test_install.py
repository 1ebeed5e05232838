"""requirements/constraints.txt: parses, pins every direct dependency within pyproject's bounds,
and is what scripts/install.sh installs with unless HAWK_UNPINNED is set."""

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==" and "+" not in spec.version, line  # PyPI has no local versions
        pins[canonicalize_name(req.name)] = spec.version
    return pins


def test_constraints_pin_every_dependency_within_pyproject_bounds():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    assert "hawk-vlm" not in pins
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    for text in reqs:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{name} is not pinned"
        assert req.specifier.contains(pins[name], prereleases=True), (text, pins[name])
    for line in (ROOT / "requirements" / "models.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert canonicalize_name(Requirement(line).name) in pins, line


def test_pyproject_caps_the_majors_hawk_uses():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    caps = {canonicalize_name(Requirement(r).name): Requirement(r).specifier for r in project["dependencies"]}
    assert not caps["torch"].contains("3.0") and caps["torch"].contains("2.13.0")
    assert not caps["transformers"].contains("6.0") and caps["transformers"].contains("5.24.0")
    assert not caps["spacy"].contains("3.9.0")
    assert not caps["typer"].contains("1.0") and caps["typer"].contains("0.29.2")


def test_install_script_uses_the_constraints_unless_unpinned():
    text = (ROOT / "scripts" / "install.sh").read_text()
    assert "-c requirements/constraints.txt" in text and "HAWK_UNPINNED" in text
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / "install.sh")], check=True)


def test_update_script_writes_the_same_format(tmp_path):
    out = tmp_path / "c.txt"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "update_constraints.py"), "--out", str(out)],
                   check=True, capture_output=True)
    text = out.read_text()
    assert "hawk-vlm" not in text and "torch==" in text and "+cpu" not in text
    assert "\n-e " not in text and " @ " not in text and "hawk" not in text.split("\n", 2)[2]
