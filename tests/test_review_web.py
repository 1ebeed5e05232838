"""`hawk review --web` in headless Chromium, driven through the DevTools protocol: the page
loads a record, plays its video (served with byte ranges), and accept / edit / reject /
export go to the same review log as the terminal review."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import free_port, moving_square_frames, write_video

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)")


class Page:
    """Minimal DevTools client: evaluate JavaScript in the page, wait for conditions."""

    def __init__(self, url: str, profile: Path) -> None:
        websocket = pytest.importorskip("websocket")
        import httpx

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-extensions",
             "--no-first-run", "--mute-audio", "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}",
             "--remote-debugging-port=0", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.time() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.time() > deadline or self.proc.poll() is not None:
                self.close()
                pytest.fail("Chromium did not start")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        for _ in range(100):
            pages = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list").json() if t["type"] == "page"]
            if pages:
                break
            time.sleep(0.1)
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=30)
        self._id = 0

    def js(self, expr: str):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": "Runtime.evaluate", "params": {"expression": expr, "awaitPromise": True, "returnByValue": True}}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                res = msg["result"]
                if "exceptionDetails" in res:
                    raise AssertionError(f"{expr}: {res['exceptionDetails']}")
                return res["result"].get("value")

    def wait(self, expr: str, timeout: float = 20.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                v = self.js(expr)
            except AssertionError:  # the page is not there yet (document.body is null)
                v = None
            if v:
                return v
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expr}")

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass
        self.proc.kill()
        self.proc.wait()


@pytest.mark.slow
def test_web_review_in_headless_chromium(tmp_path: Path, fighting_video: Path):
    from hawk_core.review.log import ReviewLog
    from hawk_core.review.web import ReviewServer

    synthetic = write_video(tmp_path / "b.mp4", moving_square_frames(20, 64))
    recs = [
        {"video": str(fighting_video), "description": "Two men fight in a shop; one falls.", "QA": [{"q": "Who falls?", "a": "One man."}],
         "provenance": {"llm": "gpt-x", "clips": [{"start": 0.0, "end": 3.0, "caption": "a man shoves another man"}]}},
        {"video": str(synthetic), "description": "A white square moves right.", "QA": [{"q": "What moves?", "a": "A square."}],
         "provenance": {"llm": "embedded:SmolLM2", "low_quality": True}},
        {"video": "/nowhere/c.mp4", "description": "Nothing happens here at all.", "QA": []},
    ]
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps(recs))
    original = ds.read_bytes()
    out = tmp_path / "accepted.json"
    profile = tmp_path / "chrome"
    profile.mkdir()
    with ReviewLog(ds) as log, ReviewServer(log, export=out) as srv:
        page = Page(srv.url, profile)
        try:
            page.wait("document.body.dataset.record === '0'")
            assert page.js("document.getElementById('description').value") == recs[0]["description"]
            assert "a man shoves another man" in page.js("document.getElementById('clips').innerText")
            # the video really plays: Chromium fetched it (with a Range request) and decoded it
            duration = page.wait("(() => { const v = document.getElementById('video'); return v.readyState >= 2 && v.duration; })()")
            assert duration == pytest.approx(9.0, abs=0.3)
            assert page.wait("document.getElementById('frames').complete && document.getElementById('frames').naturalWidth") > 0
            page.js("document.getElementById('accept').click()")

            page.wait("document.body.dataset.record === '1'")
            assert "low quality" in page.js("document.getElementById('title').innerText")
            page.js("""(() => { const d = document.getElementById('description'); d.value = 'A white square slides to the right.';
                       d.dispatchEvent(new Event('input')); document.querySelector('.qa .a').value = 'A white square.';
                       document.getElementById('accept').click(); })()""")

            page.wait("document.body.dataset.record === '2'")
            assert page.js("document.getElementById('novideo').textContent") == "video file not found"
            page.js("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'r'}))")

            page.wait("document.body.dataset.record === 'done'")
            assert "1 accepted, 1 edited, 1 rejected" in page.js("document.getElementById('donecounts').textContent")
            page.js("document.getElementById('export').click()")
            page.wait("document.getElementById('exportmsg').textContent.startsWith('exported 2')")
        finally:
            page.close()
    assert ds.read_bytes() == original
    lines = [json.loads(ln) for ln in ds.with_name("ds.review.jsonl").read_text().splitlines()]
    assert [d["decision"] for d in lines] == ["accept", "edit", "reject"]
    assert lines[1]["record"]["description"] == "A white square slides to the right."
    assert lines[1]["record"]["QA"] == [{"q": "What moves?", "a": "A white square."}]
    exported = json.loads(out.read_text())
    assert [e["video"] for e in exported] == [str(fighting_video), str(synthetic)]


def test_web_api_guards(tmp_path: Path):
    """Without a browser: unknown records, cross-origin posts, byte ranges, bad decisions."""
    import httpx

    from hawk_core.review.log import ReviewLog
    from hawk_core.review.web import ReviewServer

    video = write_video(tmp_path / "a.mp4", moving_square_frames(12, 64))
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps([{"video": str(video), "description": "d" * 50, "QA": []}]))
    with ReviewLog(ds) as log, ReviewServer(log) as srv:
        base = srv.url.rstrip("/")
        assert httpx.get(base + "/").status_code == 200
        assert httpx.get(base + "/api/record/5").status_code == 404
        size = video.stat().st_size
        r = httpx.get(base + "/media/0", headers={"Range": "bytes=10-19"})
        assert r.status_code == 206 and r.content == video.read_bytes()[10:20] and r.headers["Content-Range"] == f"bytes 10-19/{size}"
        assert httpx.get(base + "/media/0").content == video.read_bytes()
        r = httpx.get(base + "/media/0", headers={"Range": "bytes=-5"})  # the last 5 bytes
        assert r.status_code == 206 and r.content == video.read_bytes()[-5:]
        r = httpx.get(base + "/media/0", headers={"Range": f"bytes={size + 10}-"})
        assert r.status_code == 416
        assert httpx.head(base + "/media/0").headers["content-length"] == str(size)
        assert httpx.get(base + "/media/3").status_code == 404
        assert httpx.post(base + "/api/decide/0", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
        r = httpx.post(base + "/api/decide/0", json={"decision": "accept"}, headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        r = httpx.post(base + "/api/decide/0", json={"decision": "maybe"})
        assert r.status_code == 422 and "unknown decision" in r.json()["error"]
        r = httpx.post(base + "/api/export", json={})
        assert r.status_code == 400
        r = httpx.post(base + "/api/decide/0", json={"decision": "accept"})
        assert r.status_code == 200 and r.json()["counts"]["accept"] == 1 and r.json()["next"] is None


def test_cli_web_serves_and_stops_on_sigterm(tmp_path: Path):
    import os
    import signal
    import sys

    import httpx

    root = Path(__file__).resolve().parents[1]
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps([{"video": "v.mp4", "description": "d" * 50, "QA": []}]))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hawk_cli", "review", str(ds), "--web", "--port", str(port), "--export", str(tmp_path / "e.json")],
                            cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(200):
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/api/decide/0", json={"decision": "accept"})
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "reviewing 1 record (" in out and "accepted 1" in out and "exported 1 record ->" in out
    assert json.loads((tmp_path / "e.json").read_text())[0]["provenance"]["review"]["decision"] == "accept"



CLIPS_HEADING_SHOWN = "[...document.querySelectorAll('h2')].some((h) => h.textContent === 'Clip captions' && h.offsetParent !== null)"
# every text box shows all of its text: no scrolling inside it, nothing cut off
BOXES_FIT = "[...document.querySelectorAll('textarea')].every((t) => t.scrollHeight <= t.clientHeight + 1)"


def test_web_review_layout_follows_the_record(tmp_path: Path):
    """Issue 18 (the review page): no "Clip captions" heading over a record without clip
    captions, and the description and answer boxes grow with their text (a long answer is
    not clipped in a fixed-height box), also while it is edited. Defect 2: an mp4v video is
    not shown as a black player; the page says the browser cannot play it."""
    from hawk_core.review.log import ReviewLog
    from hawk_core.review.web import ReviewServer

    write_video(tmp_path / "b.mp4", moving_square_frames(8, 64))  # mp4v

    long_answer = " ".join(f"Sentence {k} of a long answer about the man who falls in the shop." for k in range(30))
    recs = [
        {"video": "/nowhere/a.mp4", "description": "A long description. " * 40, "QA": [{"q": "What happens?", "a": long_answer}]},
        {"video": "b.mp4", "description": "Two men fight in a shop; one falls.", "QA": [{"q": "Who falls?", "a": "One man."}],
         "provenance": {"clips": [{"start": 0.0, "end": 3.0, "caption": "a man shoves another man"}]}},
    ]
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps(recs))
    profile = tmp_path / "chrome"
    profile.mkdir()
    with ReviewLog(ds) as log, ReviewServer(log) as srv:
        page = Page(srv.url, profile)
        try:
            page.wait("document.body.dataset.record === '0'")
            assert page.js(CLIPS_HEADING_SHOWN) is False
            assert page.js(BOXES_FIT), page.js("[...document.querySelectorAll('textarea')].map((t) => [t.scrollHeight, t.clientHeight])")
            short = page.js("document.querySelector('.qa .a').clientHeight")
            page.js("""(() => { const a = document.querySelector('.qa .a'); a.value += '\\nOne more line.'.repeat(10);
                       a.dispatchEvent(new Event('input', {bubbles: true})); })()""")
            assert page.js(BOXES_FIT) and page.js("document.querySelector('.qa .a').clientHeight") > short

            page.js("document.getElementById('next').click()")
            page.wait("document.body.dataset.record === '1'")
            assert page.js(CLIPS_HEADING_SHOWN) is True
            assert "a man shoves another man" in page.js("document.getElementById('clips').innerText")
            assert page.js(BOXES_FIT)
            assert page.js("document.getElementById('novideo').textContent").startswith("this browser cannot play the video (codec fmp4)")
            assert page.js("document.getElementById('video').offsetParent") is None
        finally:
            page.close()


def test_cli_web_quiet_when_the_browser_hangs_up_mid_video(tmp_path: Path):
    """Issue 18, defect 9: a browser that leaves while a video's byte range is still being
    sent (a seek, a closed tab) costs the server no traceback, and it answers the next
    request. The real `hawk review --web` process, its stderr read whole."""
    import os
    import signal
    import sys

    import httpx
    import numpy as np

    from tests.helpers import drop_mid_response

    rng = np.random.default_rng(0)  # noise: a video of ~1 MB, far more than the socket buffers
    video = write_video(tmp_path / "noise.mp4", [(rng.random((240, 320, 3)) * 255).astype(np.uint8) for _ in range(50)])
    size = video.stat().st_size
    assert size > 500_000
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps([{"video": "noise.mp4", "description": "d" * 50, "QA": []}]))
    port = free_port()
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "hawk_cli", "review", str(ds), "--web", "--port", str(port)],
                            cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/state")
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        request = f"GET /media/0 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nRange: bytes=100-\r\n\r\n".encode()
        for reset in (True, False):
            head = drop_mid_response(port, request, reset=reset)
            assert head.startswith(b"HTTP/1.1 206") and f"bytes 100-{size - 1}/{size}".encode() in head.lower()
            time.sleep(0.3)  # the server meets the closed socket
        r = httpx.get(f"http://127.0.0.1:{port}/media/0", headers={"Range": "bytes=0-9"})
        assert r.status_code == 206 and r.content == video.read_bytes()[:10]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err and "Error" not in err and "Exception" not in err, err
