"""`hawk serve` through the real `openai` client, against servers on 127.0.0.1 (tiny preset)."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

openai = pytest.importorskip("openai")
uvicorn = pytest.importorskip("uvicorn")

from hawk_core.errors import ConfigError  # noqa: E402
from hawk_core.inference.context import prompt_length  # noqa: E402
from hawk_core.inference.predictor import GenerationOptions, Predictor  # noqa: E402
from hawk_core.serving.app import create_app  # noqa: E402
from hawk_core.serving.config import ServeConfig, is_loopback  # noqa: E402
from hawk_core.serving.engine import Engine  # noqa: E402
from tests.helpers import drop_mid_response, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample.mp4"
MODEL = "hawk-tiny"
Q = "What happens in this video?"


class Running:
    """A uvicorn server in a thread of this process."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def predictor():
    return Predictor.load("tiny", device="cpu")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("media")
    shutil.copy(SAMPLE, d / "clip.mp4")
    (d / "notes.txt").write_text("not a video\n")
    (d / "broken.mp4").write_bytes(b"\x00\x01 this is not an mp4 " * 50)
    outside = tmp_path_factory.mktemp("outside")
    shutil.copy(SAMPLE, outside / "secret.mp4")
    (d / "link.mp4").symlink_to(outside / "secret.mp4")
    return d


@pytest.fixture(scope="module")
def server(predictor, media):
    engine = Engine(predictor, max_queue=4, cache_size=4)
    cfg = ServeConfig(allowed_media_paths=(media,), max_body_mb=1.0)
    srv = Running(create_app(engine, cfg))
    srv.engine = engine
    srv.media = media
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)


def video_part(url: str) -> dict:
    return {"type": "video_url", "video_url": {"url": url}}


def user(url: str, text: str = Q) -> dict:
    return {"role": "user", "content": [video_part(url), {"type": "text", "text": text}]}


def file_url(p: Path) -> str:
    return p.resolve().as_uri()


def expected(predictor, media, question=Q, history=None, **opts) -> str:
    video = predictor.prepare(media / "clip.mp4")
    return predictor.ask(video, question, GenerationOptions(**opts), history=history).text


# ---- the happy paths ----------------------------------------------------------------------


def test_models_lists_the_served_model(client, predictor):
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL]
    assert models.data[0].owned_by == "hawk"


def test_plain_completion_honours_sampling_and_counts_usage(client, predictor, media):
    url = file_url(media / "clip.mp4")
    r = client.chat.completions.create(model=MODEL, messages=[user(url)], max_tokens=12, temperature=1.0, top_p=0.9, seed=7)
    text = r.choices[0].message.content
    assert r.object == "chat.completion" and r.model == MODEL
    assert text == expected(predictor, media, max_new_tokens=12, temperature=1.0, top_p=0.9, seed=7)
    assert text  # sampled bytes of the random LLM: not empty
    other = client.chat.completions.create(model=MODEL, messages=[user(url)], max_tokens=12, temperature=1.0, top_p=0.9, seed=8)
    assert other.choices[0].message.content != text  # the seed is honoured
    u = r.usage
    assert u.prompt_tokens == prompt_length(predictor, Q) and 0 < u.completion_tokens <= 12
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    assert r.choices[0].finish_reason == ("length" if u.completion_tokens == 12 else "stop")


def test_greedy_is_the_default(client, predictor, media):
    r = client.chat.completions.create(model=MODEL, messages=[user(file_url(media / "clip.mp4"))], max_tokens=6)
    assert r.choices[0].message.content == expected(predictor, media, max_new_tokens=6)


def test_follow_up_question_reuses_the_cached_features(client, server, media, predictor):
    url = file_url(media / "clip.mp4")
    first = client.chat.completions.with_raw_response.create(model=MODEL, messages=[user(url, "First question?")], max_tokens=4)
    a1 = first.parse().choices[0].message.content
    msgs = [user(url, "First question?"), {"role": "assistant", "content": a1}, {"role": "user", "content": "And then?"}]
    hits = server.engine.cache.hits
    second = client.chat.completions.with_raw_response.create(model=MODEL, messages=msgs, max_tokens=8, temperature=1.0, seed=1)
    assert second.headers["x-hawk-video-cache"] == "hit"
    assert server.engine.cache.hits == hits + 1
    want = expected(predictor, media, "And then?", history=[("First question?", a1)], max_new_tokens=8, temperature=1.0, seed=1)
    assert second.parse().choices[0].message.content == want
    assert second.parse().usage.prompt_tokens == prompt_length(predictor, "And then?", [("First question?", a1)])


def test_an_edited_file_is_a_new_video(client, server, media):
    path = media / "edited.mp4"
    shutil.copy(SAMPLE, path)
    first = client.chat.completions.with_raw_response.create(model=MODEL, messages=[user(file_url(path))], max_tokens=2)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    again = client.chat.completions.with_raw_response.create(model=MODEL, messages=[user(file_url(path))], max_tokens=2)
    assert (first.headers["x-hawk-video-cache"], again.headers["x-hawk-video-cache"]) == ("miss", "miss")


def test_streaming_adds_up_to_the_plain_answer(client, media):
    url = file_url(media / "clip.mp4")
    kw = dict(model=MODEL, messages=[user(url)], max_tokens=16, temperature=1.0, seed=11)
    plain = client.chat.completions.create(**kw)
    chunks = list(client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) >= 2  # token by token, not one final blob
    assert "".join(pieces) == plain.choices[0].message.content
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == [plain.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


def test_stream_is_sse_ending_with_done(server, media):
    body = {"model": MODEL, "messages": [user(file_url(media / "clip.mp4"))], "max_tokens": 3, "stream": True}
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [ln for ln in r.iter_lines() if ln]
    assert all(ln.startswith("data: ") for ln in lines)
    assert lines[-1] == "data: [DONE]"
    assert json.loads(lines[0][6:])["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_data_url_video(client, server):
    data = "data:video/mp4;base64," + base64.b64encode(SAMPLE.read_bytes()).decode()
    first = client.chat.completions.with_raw_response.create(model=MODEL, messages=[user(data)], max_tokens=3)
    again = client.chat.completions.with_raw_response.create(model=MODEL, messages=[user(data)], max_tokens=3)
    assert first.parse().choices[0].message.content == again.parse().choices[0].message.content
    assert again.headers["x-hawk-video-cache"] == "hit"  # keyed by the content hash


def test_three_concurrent_requests(client, media, predictor):
    url = file_url(media / "clip.mp4")
    seeds = [21, 22, 23]
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def call(seed: int) -> None:
        try:
            r = client.chat.completions.create(model=MODEL, messages=[user(url)], max_tokens=8, temperature=1.0, seed=seed)
            results[seed] = r.choices[0].message.content
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=call, args=(s,)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for s in seeds:
        assert results[s] == expected(predictor, media, max_new_tokens=8, temperature=1.0, seed=s)


# ---- bad requests: 4xx with OpenAI's error object, never a 500 ------------------------------


def post(server, body, **kw) -> httpx.Response:
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(server.url + "/v1/chat/completions", content=content, headers={"content-type": "application/json"}, timeout=60, **kw)


def error_of(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    assert "Traceback" not in r.text
    return err


def test_malformed_json(server):
    assert error_of(post(server, b'{"model": "hawk-tiny", "messages": [}'), 400)["code"] == "invalid_json"
    assert error_of(post(server, b"[1, 2]"), 400)["code"] == "invalid_json"


@pytest.mark.parametrize(
    "url, status, code",
    [
        ("file:///etc/passwd", 403, "media_path_not_allowed"),
        ("file:///nonexistent/outside.mp4", 403, "media_path_not_allowed"),
        ("https://example.com/v.mp4", 403, "remote_media_disabled"),
        ("ftp://example.com/v.mp4", 400, "invalid_video_url"),
        ("data:text/plain;base64,aGVsbG8=", 400, "invalid_video"),
        ("data:video/mp4;base64,@@@", 400, "invalid_video_url"),
    ],
)
def test_refused_video_urls(server, url, status, code):
    err = error_of(post(server, {"model": MODEL, "messages": [user(url)]}), status)
    assert err["code"] == code


@pytest.mark.parametrize(
    "name, code",
    [("missing.mp4", "video_not_found"), ("notes.txt", "invalid_video"), ("broken.mp4", "invalid_video"), ("link.mp4", "media_path_not_allowed")],
)
def test_bad_local_videos(server, name, code):
    status = 403 if code == "media_path_not_allowed" else 400
    err = error_of(post(server, {"model": MODEL, "messages": [user(file_url(server.media / name))]}), status)
    assert err["code"] == code
    assert str(server.media.parent) not in err["message"] or code != "media_path_not_allowed"


def test_oversize_body(server):
    big = {"model": MODEL, "messages": [user("data:video/mp4;base64," + "A" * (2 * 1024 * 1024))]}
    assert error_of(post(server, big), 413)["code"] == "body_too_large"


@pytest.mark.parametrize(
    "change, status, param",
    [
        ({"model": "gpt-4o"}, 404, "model"),
        ({"messages": []}, 400, "messages"),
        ({"messages": [{"role": "user", "content": "no video here"}]}, 400, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, 400, "messages[0].content[0]"),
        ({"messages": [{"role": "tool", "content": "x"}]}, 400, "messages[0].role"),
        ({"n": 2}, 400, "n"),
        ({"temperature": 5}, 400, "temperature"),
        ({"top_p": 0}, 400, "top_p"),
        ({"max_tokens": 0}, 400, "max_tokens"),
        ({"seed": "one"}, 400, "seed"),
        ({"stream": "yes"}, 400, "stream"),
        ({"stop": ["\n"]}, 400, "stop"),
    ],
)
def test_invalid_requests(server, media, change, status, param):
    body = {"model": MODEL, "messages": [user(file_url(media / "clip.mp4"))], **change}
    assert error_of(post(server, body), status)["param"] == param


def test_openai_client_sees_typed_errors(client):
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model=MODEL, messages=[user("file:///etc/hostname")])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="other", messages=[user("file:///etc/hostname")])


def test_unknown_route_is_an_openai_error(server):
    assert error_of(httpx.get(server.url + "/v1/nothing"), 404)["type"] == "not_found_error"
    assert error_of(httpx.get(server.url + "/v1/chat/completions"), 405)["type"] == "invalid_request_error"


def test_queue_full_answers_429(server, media, client):
    gate = threading.Event()
    held = []
    try:
        while True:  # the running slot and every waiting one
            try:
                held.append(server.engine.submit(gate.wait, 30))
            except Exception:  # noqa: BLE001 - QueueFull
                break
        assert len(held) == server.engine.max_queue + 1
        r = post(server, {"model": MODEL, "messages": [user(file_url(media / "clip.mp4"))], "max_tokens": 2})
        assert error_of(r, 429)["type"] == "rate_limit_error" and r.headers["retry-after"]
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model=MODEL, messages=[user(file_url(media / "clip.mp4"))], max_tokens=2, stream=True)
    finally:
        gate.set()
    for f in held:
        f.result(10)
    r = client.chat.completions.create(model=MODEL, messages=[user(file_url(media / "clip.mp4"))], max_tokens=2)
    assert r.choices[0].message is not None


# ---- auth and the bind check ---------------------------------------------------------------


def test_non_loopback_binding_needs_an_api_key(tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.3.4.5")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10") and not is_loopback("myhost")
    with pytest.raises(ConfigError, match="--api-key"):
        ServeConfig(host="0.0.0.0")
    with pytest.raises(ConfigError, match="--api-key"):
        ServeConfig(host="::")
    cfg = ServeConfig(host="0.0.0.0", api_key="s3cr3t-key")  # only checked, never bound
    assert "s3cr3t-key" not in repr(cfg)
    with pytest.raises(ConfigError, match="--allowed-media-path"):
        ServeConfig(allowed_media_paths=(tmp_path / "absent",))


def test_cli_refuses_public_bind_without_key_before_loading(monkeypatch):
    from typer.testing import CliRunner

    from hawk_cli.main import app

    monkeypatch.delenv("HAWK_API_KEY", raising=False)
    loaded = []
    monkeypatch.setattr("hawk_cli._inference.load_predictor", lambda *a, **k: loaded.append(1))
    r = CliRunner().invoke(app, ["serve", "--model", "tiny", "--host", "0.0.0.0"])
    assert r.exit_code == 2 and "--api-key" in r.output and not loaded


def test_api_key_is_required_and_never_echoed(predictor, caplog):
    key = "sk-hawk-test-5f1e"
    srv = Running(create_app(Engine(predictor, max_queue=1, cache_size=1), ServeConfig(api_key=key)))
    try:
        with caplog.at_level(logging.DEBUG):
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": key}):
                r = httpx.get(srv.url + "/v1/models", headers=headers)
                assert error_of(r, 401)["code"] == "invalid_api_key"
                assert key not in r.text
            r = post(srv, {"model": MODEL, "messages": []})
            assert r.status_code == 401
            assert httpx.get(srv.url + "/health").status_code == 200  # liveness needs no key
            good = openai.OpenAI(base_url=srv.url + "/v1", api_key=key, max_retries=0)
            assert [m.id for m in good.models.list().data] == [MODEL]
            with pytest.raises(openai.AuthenticationError):
                openai.OpenAI(base_url=srv.url + "/v1", api_key="nope", max_retries=0).models.list()
        assert key not in caplog.text
    finally:
        srv.stop()


# ---- the command itself ----------------------------------------------------------------------


@pytest.mark.slow
def test_hawk_serve_subprocess_and_sigterm(tmp_path):
    from tests.helpers import ServeProcess, subprocess_env

    key = "sk-subprocess-9d2c"
    with ServeProcess("--model", "tiny", "--allowed-media-path", SAMPLE.parent, env=subprocess_env(HAWK_API_KEY=key), merge=True) as server:
        c = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=60)
        # a client that hangs up mid-stream (issue 18, defect 9): no traceback, and the next request is answered
        body = json.dumps({"model": MODEL, "messages": [user(file_url(SAMPLE))], "max_tokens": 64, "stream": True}).encode()
        request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {key}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        for reset in (True, False):
            assert drop_mid_response(server.port, request, reset=reset).startswith(b"HTTP/1.1 200")
        r = c.chat.completions.create(model=MODEL, messages=[user(file_url(SAMPLE))], max_tokens=4)
        assert r.usage.completion_tokens <= 4
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=server.url + "/v1", api_key="bad", max_retries=0).models.list()
    out = server.stdout
    assert server.returncode == 0, out
    assert "shutting down" in out and "stopped" in out and key not in out
    assert "Traceback" not in out


def test_cancel_stops_generation_midway(predictor, media):
    """What a client that goes away triggers: the streamer stops generate at the next token."""
    from hawk_core.serving.engine import Cancelled

    engine = Engine(predictor, max_queue=0, cache_size=1)
    try:
        video = predictor.prepare(media / "clip.mp4")
        cancel = threading.Event()
        pieces: list[str] = []

        def on_text(text: str) -> None:
            pieces.append(text)
            cancel.set()  # as the SSE body does when the connection closes

        opts = GenerationOptions(max_new_tokens=200, temperature=1.0, seed=5)
        full = engine.complete(video, Q, [], opts)
        assert full.completion_tokens > 20  # long enough for a stop midway to show
        with pytest.raises(Cancelled):
            engine.complete(video, Q, [], opts, on_text=on_text, cancel=cancel)
        assert 1 <= len(pieces) <= 3 and len("".join(pieces)) < len(full.text)
    finally:
        engine.close()


def test_remote_video_when_enabled(predictor, tmp_path):
    """--allow-remote-media: the video is downloaded (here from a file server on 127.0.0.1)."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    shutil.copy(SAMPLE, tmp_path / "clip.mp4")
    (tmp_path / "big.mp4").write_bytes(b"\0" * (2 * 1024 * 1024))
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    files = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    srv = Running(create_app(Engine(predictor, max_queue=1, cache_size=2), ServeConfig(allow_remote_media=True, max_body_mb=1.0)))
    try:
        base = f"http://127.0.0.1:{files.server_address[1]}"
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0, timeout=60)
        r = c.chat.completions.with_raw_response.create(model=MODEL, messages=[user(base + "/clip.mp4")], max_tokens=3)
        assert r.headers["x-hawk-video-cache"] == "miss" and r.parse().choices[0].message.content is not None
        assert error_of(post(srv, {"model": MODEL, "messages": [user(base + "/big.mp4")]}), 413)["code"] == "video_too_large"
        assert error_of(post(srv, {"model": MODEL, "messages": [user(base + "/absent.mp4")]}), 400)["code"] == "video_fetch_failed"
        assert error_of(post(srv, {"model": MODEL, "messages": [user("file:///etc/hostname")]}), 403)["code"] == "media_path_not_allowed"
    finally:
        srv.stop()
        files.shutdown()
