"""Every command's --help reads cleanly at 80 columns: no paragraph broken into ragged lines
(a short line followed by more of the same paragraph), as docstrings with hard line breaks
render under rich."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from hawk_cli.main import app


def _command_names() -> list[str]:
    """Every command `hawk --help` lists, read from the app (a new command is covered as it is added)."""
    from typer.main import get_command

    return sorted(get_command(app).commands)


COMMANDS = _command_names()
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


def test_train_defaults_come_from_train_config():
    """Each `hawk train` option backed by a TrainConfig field starts from the dataclass's
    default, and the `[default: …]` its help shows is that value (never written by hand)."""
    import dataclasses

    from typer.main import get_command

    from hawk_cli.commands.train import TRAIN_FLAGS
    from hawk_core.training.config import TrainConfig

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    params = {p.name: p for p in get_command(app).commands["train"].params}
    r = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "300", "TERM": "dumb"}, terminal_width=300)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    checked = 0
    for name in TRAIN_FLAGS:
        param = params[name]
        assert name in defaults and "default" not in (param.help or "").lower().replace("[default: $hawk_cache", ""), name
        if name == "cache_dir":  # "" in TrainConfig: a computed folder, described in the help
            assert param.default is None and defaults[name] == ""
            continue
        assert param.default == defaults[name], name
        flag = param.opts[0]
        line = next(ln for ln in lines if re.match(rf"│\s+{flag}\s", ln))  # the option's row
        shown = re.search(r"\[default: ([^\]]+)\]", line).group(1)
        expected = (param.secondary_opts[0] if not defaults[name] else flag).lstrip("-") if param.is_bool_flag else str(defaults[name])
        assert shown == expected, (name, shown, expected)
        checked += 1
    assert checked == len(TRAIN_FLAGS) - 1


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_no_swallowed_brackets(command):
    """Issue 18, defect 9: a literal `[default: …]` in help text is rich markup unless
    escaped; swallowed, it left "in the split ." behind."""
    from typer.main import get_command

    for param in get_command(app).commands[command].params:
        text = param.help or ""
        assert not re.search(r"(?<!\\)\[default:", text), (command, param.name, text)
    r = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "300", "TERM": "dumb"}, terminal_width=300)
    assert not re.search(r"\w \.(\s|$)", r.output), r.output


def test_describe_help_names_the_models_frame_default():
    r = CliRunner().invoke(app, ["describe", "--help"], env={"COLUMNS": "300", "TERM": "dumb"}, terminal_width=300)
    assert "default 32" not in r.output and "16 for the embedded model" in r.output


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_usage_names_arguments_and_flags_have_no_type(command):
    """Issue 18, defect 9: `Usage: hawk describe [OPTIONS] VIDEO` (not `{video}`), and no
    `<bool>` beside an on/off flag."""
    args = ["--help"] if command is None else [command, "--help"]
    r = CliRunner().invoke(app, args, env={"COLUMNS": "80", "TERM": "dumb"}, terminal_width=80)
    assert r.exit_code == 0, r.output
    usage = next(line for line in r.output.splitlines() if "Usage:" in line)
    assert "{" not in usage and "<bool>" not in r.output, r.output
    if command in ("describe", "flow", "chat"):
        assert usage.rstrip().endswith("[OPTIONS] VIDEO")
    if command == "ask":
        assert usage.rstrip().endswith("[OPTIONS] VIDEO QUESTION")


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_fits_80_columns(command):
    """Issue 18, done-when: each help page at COLUMNS=80 has no line over 80 characters, no
    `<bool>`, no `{video}` in its usage and no stray space before a period."""
    args = ["--help"] if command is None else [command, "--help"]
    r = CliRunner().invoke(app, args, env={"COLUMNS": "80", "TERM": "dumb"}, terminal_width=80)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert [ln for ln in lines if len(ln) > 80] == [], r.output
    assert "<bool>" not in r.output and not re.search(r"\{\w+\}", next(ln for ln in lines if "Usage:" in ln)), r.output
    assert [ln for ln in lines if re.search(r"\w \.(\s|$)", ln)] == [], r.output


def test_every_command_is_covered():
    assert len(COMMANDS) >= 15 and {"flow", "review", "serve", "synth", "chat"} <= set(COMMANDS)
