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


def test_serve_never_writes_its_keys(env):
    """A real `hawk serve --api-key KEY` (with HAWK_API_KEY and OPENAI_API_KEY also set, to other
    values) and its access log on: good requests, wrong keys, bad bodies; no key in any reply,
    in stdout, stderr or a file."""
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("uvicorn")
    from tests.helpers import ROOT, ServeProcess, subprocess_env

    served, other = "sk-served-2c7d9e1f4a6b8c0d", "sk-hawk-env-7a1b3c5d9e"
    sample = ROOT / "examples" / "sample.mp4"
    good = {"Authorization": f"Bearer {served}"}
    video = {"type": "video_url", "video_url": {"url": sample.resolve().as_uri()}}
    chat = {"model": "hawk-tiny", "max_tokens": 2, "messages": [{"role": "user", "content": [video, {"type": "text", "text": "What happens?"}]}]}
    elsewhere = {"role": "user", "content": [{"type": "video_url", "video_url": {"url": f"file:///etc/{served}.mp4"}}]}
    calls = [  # (method, path, headers, body, status; None: any error)
        ("get", "/v1/models", {}, None, 401), ("get", "/v1/models", {"Authorization": "Bearer wrong"}, None, 401),
        ("get", "/v1/models", {"Authorization": served}, None, 401),  # no 'Bearer'
        ("get", "/v1/models", {"Authorization": f"Bearer {other}"}, None, 401),  # the environment's key: --api-key rules
        ("get", "/v1/models", {"Authorization": f"Bearer {KEY}"}, None, 401),
        ("get", "/v1/models", good, None, 200),
        ("post", "/v1/chat/completions", good, b"{not json", 400),
        ("post", "/v1/chat/completions", good, json.dumps({"model": "hawk-tiny", "messages": served}).encode(), 400),
        ("post", "/v1/chat/completions", good, json.dumps({**chat, "model": served}).encode(), None),  # quoted back, masked
        ("post", "/v1/chat/completions", good, json.dumps({**chat, "messages": [elsewhere]}).encode(), None),
        ("post", "/v1/chat/completions", good, b"x" * 20_000, 413),
        ("post", "/v1/chat/completions", good, json.dumps(chat).encode(), 200),
    ]
    replies = []
    with ServeProcess("--model", "tiny", "--api-key", served, "--allowed-media-path", sample.parent, "--log-level", "debug",
                      "--max-body-mb", "0.01", env=subprocess_env(HAWK_API_KEY=other), cwd=env) as server:
        for method, path, headers, body, status in calls:
            r = httpx.request(method, server.url + path, headers={"Content-Type": "application/json", **headers}, content=body, timeout=120)
            assert status is None and r.status_code >= 400 or r.status_code == status, (path, headers, body, r.text)
            replies.append(r.text)
    out, err = server.stdout, server.stderr
    assert server.returncode == 0, err
    assert "Traceback" not in out + err and "GET /v1/models" in out + err  # the access log ran
    texts = {"stdout": out, "stderr": err, **{f"reply {k}": t for k, t in enumerate(replies)}}
    leaks = [f"{key[:12]}... in {where}" for key in (KEY, served, other) for where, text in texts.items() if key in text]
    leaks += [f"{key[:12]}... in {p}" for key in (KEY, served, other) for p in env.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
    assert leaks == []
