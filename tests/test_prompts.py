"""The paper's prompts (appendix D) and the instruction template (section 4.1)."""

from __future__ import annotations

import pytest

from hawk_core.language import prompts
from hawk_core.errors import ConfigError


def test_describe_prompts_are_the_papers_twenty():
    p = prompts.DESCRIBE_PROMPTS
    assert len(p) == 20 and len(set(p)) == 20
    assert p[0] == "Can you describe the anomaly in the video?"
    assert p[5] == "What's the anomaly depicted in the video?"
    assert p[-1] == "Can you clarify the aspects of the anomaly in the video?"


def test_open_questions_are_the_papers_hundred():
    q = prompts.OPEN_QUESTIONS
    assert len(q) == 100 and len(set(q)) == 100
    assert q[0] == "Who is causing the disturbance in the video?"
    assert q[35] == "Who can I collaborate with to better understand video anomalies?"
    assert q[-1] == "What are the most critical factors to consider when choosing a video anomaly detection system?"
    assert all(s.endswith("?") for s in q)


def test_render_instruction_is_the_paper_template():
    s = prompts.render_instruction("Can you describe the anomaly in the video?")
    assert s == ("Here is the input video embedding: <VIDEO_EMBEDDING> and motion embedding <MOTION_EMBEDDING> "
                 "in different frames, please help me to Can you describe the anomaly in the video?")
    no_motion = prompts.render_instruction("Why?", motion=False)
    assert "<MOTION_EMBEDDING>" not in no_motion and "<VIDEO_EMBEDDING>" in no_motion


def test_prompts_dir_override(tmp_path, monkeypatch):
    (tmp_path / "instruction.txt").write_text("no placeholders {question}")
    monkeypatch.setenv("HAWK_PROMPTS", str(tmp_path))
    assert prompts.prompts_dir() == tmp_path
    with pytest.raises(ConfigError, match="VIDEO_EMBEDDING"):
        prompts.render_instruction("x")
    with pytest.raises(ConfigError, match="describe_prompts.txt"):
        prompts.load_lines("describe_prompts.txt")
