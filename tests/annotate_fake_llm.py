"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests: POST /v1/chat/completions.

Replies are canned by what the request asks (a clip caption when images are attached, a
description, questions, an answer), with token usage. ``rules`` script misbehaviour: a list
of ``(substring, [behaviour, ...])``; a request whose text contains ``substring`` takes the
next behaviour of its list (the last one repeats). Behaviours: ``"ok"``, an HTTP status code
(int), ``"malformed"`` (an empty reply), ``"garbage"`` (a body that is not JSON), or a float
(seconds to sleep, then ok).
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CAPTION = "A man in a dark jacket shoves another man against a shop counter; both stumble while a woman steps back."
DESCRIPTION = (
    "In a small shop at night, two men stand near the counter. Suddenly one man in a dark jacket shoves "
    "the other against the counter and they start fighting, while a woman steps back in fear. "
    "The second man falls to the floor at the end of the video."
)
EXTRA_QUESTIONS = "1. Who starts the fight in the shop?\n2. What happens to the man who is shoved?\nThis line is not a question."


def answer_for(question: str) -> str:
    return f"Regarding '{question}': the man in the dark jacket attacks the other man, who falls."


class FakeOpenAI:
    def __init__(self, rules: list[tuple[str, list]] | None = None, delay: float = 0.0, echo_auth: bool = False) -> None:
        self.rules = [(s, list(b)) for s, b in (rules or [])]
        self.delay = delay
        self.echo_auth = echo_auth  # a leaky proxy: error messages quote the Authorization header
        self.log: list[dict] = []
        self._lock = threading.Lock()
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def kinds(self, kind: str) -> list[dict]:
        return [e for e in self.log if e["kind"] == kind]

    def _behaviour(self, text: str):
        with self._lock:
            for sub, seq in self.rules:
                if sub in text:
                    return seq.pop(0) if len(seq) > 1 else seq[0]
        return "ok"

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, b'{"error": {"message": "not found"}}')
                req = json.loads(raw)
                user = req["messages"][-1]["content"]
                images = 0
                if isinstance(user, list):
                    images = sum(1 for p in user if p.get("type") == "image_url")
                    text = " ".join(p.get("text", "") for p in user if p.get("type") == "text")
                else:
                    text = user
                if images:
                    kind, reply = "caption", CAPTION
                elif "anomaly-focused description" in text:
                    kind, reply = "description", DESCRIPTION
                elif "open questions" in text:
                    kind, reply = "questions", EXTRA_QUESTIONS
                elif "A user asks:" in text:
                    q = re.search(r"A user asks: (.*)", text).group(1).strip()
                    kind, reply = "answer", answer_for(q)
                else:
                    kind, reply = "other", "ok"
                entry = {"kind": kind, "model": req.get("model"), "text": text, "images": images}
                with server._lock:
                    server.log.append(entry)
                if server.delay:
                    time.sleep(server.delay)
                b = server._behaviour(text)
                entry["behaviour"] = b
                if isinstance(b, float):
                    time.sleep(b)
                    b = "ok"
                if isinstance(b, int):
                    echo = f" (received {self.headers.get('Authorization', '')})" if server.echo_auth else ""
                    return self._send(b, json.dumps({"error": {"message": f"scripted HTTP {b}{echo}"}}).encode())
                if b == "garbage":
                    return self._send(200, b"<html>not json</html>", "text/html")
                if b == "malformed":
                    reply = ""
                body = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": req.get("model"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 100 + 50 * images, "completion_tokens": 20, "total_tokens": 120 + 50 * images},
                }
                self._send(200, json.dumps(body).encode())

        return Handler
