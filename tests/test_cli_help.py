"""Every command's --help reads cleanly at 80 columns: no paragraph broken into ragged lines
(a short line followed by more of the same paragraph), as docstrings with hard line breaks
render under rich."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from hawk_cli.main import app

COMMANDS = ["flow", "parse", "annotate", "review", "split", "synth", "train", "describe", "ask", "chat", "predict", "score", "serve"]
BOX = re.compile(r"^[╭╰│]")


def _ragged(text: str, width: int = 80, *, boxes: bool = False) -> list[str]:
    bad = []
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        nxt = lines[i + 1]
        for a, b in ((line, nxt),) if not BOX.match(line) else ():
            if BOX.match(b) or not a.strip() or not b.strip():
                continue
            indent_a, indent_b = len(a) - len(a.lstrip()), len(b) - len(b.lstrip())
            if indent_a == indent_b == 1 and len(a.rstrip()) < width // 2 and not a.rstrip().endswith(":"):
                bad.append(a)
    for i, line in enumerate(lines[:-1] if boxes else []):  # the command list's descriptions
        m, n = BOX.match(line), BOX.match(lines[i + 1])
        if m and n and line.startswith("│") and lines[i + 1].startswith("│"):
            a, b = line.strip("│ ").rstrip(), lines[i + 1].strip("│ ")
            if a and b and len(line.rstrip(" │")) < width // 2 and not a.endswith(":") and lines[i + 1][2:12].strip() == "":
                bad.append(line)
    return bad


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_reads_cleanly_at_80_columns(command):
    args = ["--help"] if command is None else [command, "--help"]
    r = CliRunner().invoke(app, args, env={"COLUMNS": "80", "TERM": "dumb"}, terminal_width=80)
    assert r.exit_code == 0, r.output
    assert _ragged(r.output, boxes=command is None) == [], r.output
