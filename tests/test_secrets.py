"""The value of OPENAI_API_KEY never leaves hawk in text: not in stdout, stderr, caches, logs,
reports or error messages, even from a proxy that quotes the key back in its errors. Real
`hawk` processes against the fake OpenAI servers; every stream and every file is searched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hawk_core.secrets import redact, register
from tests.annotate_fake_llm import FakeOpenAI as FakeAnnotateLLM
from tests.fake_openai import FakeOpenAI as FakeJudge
from tests.helpers import hawk, moving_square_frames, write_video

KEY = "sk-hawk-test-9f3b1c7e5a2d4b6f8e0a"


def _leaks(tmp_path: Path, *results) -> list[str]:
    where = [f"{name} of run {k}" for k, r in enumerate(results) for name, text in (("stdout", r.stdout), ("stderr", r.stderr)) if KEY in text]
    where += [str(p) for p in tmp_path.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    return where


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("HAWK_CACHE", str(tmp_path / "cache"))  # default caches land where we look
    return tmp_path


def test_redact_masks_the_env_key_and_registered_ones(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert redact(f"HTTP 401: Incorrect API key provided: Bearer {KEY}.") == "HTTP 401: Incorrect API key provided: Bearer ***."
    register("served-key-123456")
    assert redact("--api-key served-key-123456") == "--api-key ***"
    assert redact("a b") == "a b"


def test_judge_never_writes_the_key(env, hivau_jsonl):
    from tests.scoring_data import build_pairs

    refs, preds = build_pairs(hivau_jsonl, limit=4)
    markers = ["good", "down", "err500", "bad"]
    rows = [dict(p, prediction=f"{p['prediction']} [{m}]") for p, m in zip(preds, markers, strict=False)]
    preds_path = env / "preds.jsonl"
    preds_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    refs_path = env / "refs.json"
    refs_path.write_text(json.dumps(refs))
    common = ["score", preds_path, "--refs", refs_path, "--no-semantic", "--judge", "--judge-retries", "1", "--judge-backoff", "0"]
    with FakeJudge(api_key=KEY, echo_auth=True) as server:
        ok = hawk(*common, "--judge-base-url", server.base_url, "--items", env / "items.jsonl", "--out", env / "report.json", "--json")
    assert ok.returncode == 0, ok.stderr
    assert (env / "cache" / "judge_cache.jsonl").is_file() and "***" in (env / "items.jsonl").read_text()
    with FakeJudge(api_key="another-key", echo_auth=True) as server:  # the key is rejected and quoted back
        rejected = hawk(*common, "--judge-base-url", server.base_url, "--judge-cache", env / "c2.jsonl")
    assert rejected.returncode == 1 and "rejected the API key" in rejected.stderr and "Traceback" not in rejected.stderr
    assert _leaks(env, ok, rejected) == []


def test_annotate_never_writes_the_key(env):
    videos = env / "videos"
    videos.mkdir()
    write_video(videos / "fight.mp4", moving_square_frames(40, 64))
    write_video(videos / "calm.mp4", moving_square_frames(25, 64, step=1))
    rules = [("anomaly-focused description", [500])]  # every description request fails (and is retried)
    with FakeAnnotateLLM(rules=rules, echo_auth=True) as server:
        failed = hawk("annotate", videos, "--out", env / "ds.json", "-c", "vision", "-m", "fake-gpt", "--base-url", server.base_url,
                      "--backoff", "0.01", "--retries", "1", "--json")
    with FakeAnnotateLLM(rules=[("", [401])], echo_auth=True) as server:
        fatal = hawk("annotate", videos, "--out", env / "ds2.json", "-c", "vision", "-m", "fake-gpt", "--base-url", server.base_url,
                     "--backoff", "0.01", "--retries", "0")
    assert fatal.returncode != 0 and "Traceback" not in fatal.stderr
    assert "***" in failed.stdout + failed.stderr + (env / "ds.work.jsonl").read_text()
    assert "***" in fatal.stderr
    assert _leaks(env, failed, fatal) == []
